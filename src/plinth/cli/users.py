"""``plinth users``: create users (with a first token), list them, change roles, disable and
enable them."""

from __future__ import annotations

from collections.abc import Sequence

import typer
from rich.table import Table
from rich.text import Text

from plinth.cli import client_of
from plinth.cli.output import (
    OUTPUT_OPTION,
    OutputFormat,
    format_time,
    hint,
    make_table,
    print_json,
    print_table,
    success,
)
from plinth.entities import Role, User

app = typer.Typer(help="Manage users and their roles.", no_args_is_help=True)

USER_ARGUMENT = typer.Argument(..., metavar="NAME", help="The user's name.")


@app.command("create")
def create_user(
    ctx: typer.Context,
    name: str = USER_ARGUMENT,
    role: Role = typer.Option(Role.EDITOR, "--role", "-r", help="What the user may do."),
) -> None:
    """Create a user and a first API token; the token is the last line printed."""
    client = client_of(ctx)
    user = client.create_user(name, role)
    _token, secret = client.create_token(user.name, description="created with the user")
    success(f"Created user '{user.name}' with role {user.role.value}.")
    print_secret(secret)


def print_secret(secret: str) -> None:
    """The token, shown once, alone on the last line so scripts can ``tail -1``."""
    hint("API token (shown only once; pass it as PLINTH_TOKEN):")
    typer.echo(secret)


@app.command("list")
def list_users(ctx: typer.Context, output: OutputFormat = OUTPUT_OPTION) -> None:
    """List users and their roles."""
    users = client_of(ctx).list_users()
    if output is OutputFormat.JSON:
        print_json(users)
        return
    print_table(users_table(users), empty="No users yet (the first 'plinth server' creates admin).")


def users_table(users: Sequence[User]) -> Table:
    table = make_table("Name", "Role", "Active", "Created", whole=["Name"])
    for user in users:
        active = Text("yes", style="green") if user.is_active else Text("disabled", style="red")
        table.add_row(user.name, user.role.value, active, format_time(user.created_at))
    return table


@app.command("set-role")
def set_role(
    ctx: typer.Context,
    name: str = USER_ARGUMENT,
    role: Role = typer.Argument(..., metavar="ROLE", help="viewer, editor, approver or admin."),
) -> None:
    """Change a user's role."""
    user = client_of(ctx).update_user(name, role=role)
    success(f"User '{user.name}' now has role {user.role.value}.")


@app.command("disable")
def disable_user(ctx: typer.Context, name: str = USER_ARGUMENT) -> None:
    """Disable a user: their tokens stop working (the last active admin cannot be)."""
    user = client_of(ctx).update_user(name, active=False)
    success(f"Disabled user '{user.name}'; their tokens no longer authenticate.")


@app.command("enable")
def enable_user(ctx: typer.Context, name: str = USER_ARGUMENT) -> None:
    """Enable a disabled user again: their tokens that were not revoked work again."""
    user = client_of(ctx).update_user(name, active=True)
    success(f"Enabled user '{user.name}'.")
