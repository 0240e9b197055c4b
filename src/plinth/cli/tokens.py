"""``plinth tokens``: issue, list and revoke API tokens."""

from __future__ import annotations

from collections.abc import Sequence

import typer
from rich.table import Table

from plinth.cli import client_of
from plinth.cli.output import (
    OUTPUT_OPTION,
    OutputFormat,
    format_time,
    make_table,
    print_json,
    print_table,
    success,
)
from plinth.cli.users import print_secret
from plinth.entities import ApiToken

app = typer.Typer(help="Issue, list and revoke API tokens.", no_args_is_help=True)


@app.command("create")
def create_token(
    ctx: typer.Context,
    user: str = typer.Argument(..., metavar="NAME", help="The user the token acts as."),
    description: str | None = typer.Option(None, "--description", "-d", help="What it is for."),
) -> None:
    """Issue a token for a user; the token is the last line printed."""
    token, secret = client_of(ctx).create_token(user, description)
    success(f"Issued token {token.token_id} for user '{token.user_name}'.")
    print_secret(secret)


@app.command("list")
def list_tokens(
    ctx: typer.Context,
    user: str | None = typer.Option(None, "--user", "-u", help="Only this user's tokens."),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """List active tokens (never their secrets)."""
    tokens = client_of(ctx).list_tokens(user)
    if output is OutputFormat.JSON:
        print_json(tokens)
        return
    print_table(tokens_table(tokens), empty="No active tokens.")


def tokens_table(tokens: Sequence[ApiToken]) -> Table:
    table = make_table("Token ID", "User", "Created", "Description", whole=["Token ID"])
    for token in tokens:
        table.add_row(
            token.token_id, token.user_name, format_time(token.created_at), token.description or "-"
        )
    return table


@app.command("revoke")
def revoke_token(
    ctx: typer.Context,
    token_id: str = typer.Argument(..., metavar="TOKEN_ID", help="From 'plinth tokens list'."),
) -> None:
    """Revoke a token; it stops working within seconds."""
    client_of(ctx).revoke_token(token_id)
    success(f"Revoked token {token_id}.")
