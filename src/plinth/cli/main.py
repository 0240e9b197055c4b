"""``plinth``: the root command. It resolves Settings once and is the CLI's error boundary.

Every ``PlinthError`` becomes ``Error: <message>`` on stderr and an exit code per family, so
scripts can tell "no such run" from "not allowed" without parsing text::

    0 ok              2 invalid argument (and usage errors)   3 not found
    4 already exists  5 unauthenticated / permission denied  6 conflict
    7 backend unavailable                                     1 any other error
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from rich.text import Text
from typer.core import TyperGroup

from plinth import __version__
from plinth.cli import (
    CliState,
    audit,
    batch,
    consume,
    demo,
    endpoints,
    experiments,
    models,
    runs,
    serve,
    server,
    tokens,
    users,
)
from plinth.cli.output import printable, stderr
from plinth.config import Settings
from plinth.errors import (
    AlreadyExistsError,
    BackendUnavailableError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    PlinthError,
    UnauthenticatedError,
)

EXIT_CODES: tuple[tuple[type[PlinthError], int], ...] = (
    (InvalidArgumentError, 2),
    (NotFoundError, 3),
    (AlreadyExistsError, 4),
    (PermissionDeniedError, 5),
    (UnauthenticatedError, 5),
    (ConflictError, 6),
    (BackendUnavailableError, 7),
)
CONFIG_FILE = Path("plinth.toml")


def exit_code_for(error: PlinthError) -> int:
    """The process exit code for an error's family; 1 for anything else."""
    return next((code for family, code in EXIT_CODES if isinstance(error, family)), 1)


class PlinthGroup(TyperGroup):
    """The root group: subcommands run inside its ``invoke``, so this is the one place
    where expected errors turn into a message and an exit code (CliRunner included)."""

    # ``Any``: typer hands over the Context class of its vendored click, which it does not export.
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except PlinthError as exc:
            message = printable(exc.message)
            stderr().print(Text.assemble(("Error: ", "bold red"), message), soft_wrap=True)
            raise typer.Exit(exit_code_for(exc)) from None


app = typer.Typer(
    cls=PlinthGroup,
    name="plinth",
    help="Plinth: experiment tracking, registry and serving on your own machines.",
    no_args_is_help=True,
    # Locals in tracebacks would print tokens and settings; never show them.
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(experiments.app, name="experiments")
app.add_typer(runs.app, name="runs")
app.add_typer(models.app, name="models")
app.add_typer(users.app, name="users")
app.add_typer(tokens.app, name="tokens")
app.add_typer(endpoints.app, name="endpoints")
app.add_typer(batch.app, name="batch")
app.command("audit")(audit.audit)
app.command("server")(server.serve)
app.command("serve")(serve.serve)
app.command("demo")(demo.demo)
app.command("consume")(consume.consume)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"plinth {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Settings come from PLINTH_HOME / PLINTH_URI / PLINTH_ARTIFACTS / PLINTH_TOKEN, then
    ./plinth.toml, then defaults (an embedded store in ~/.plinth)."""
    try:
        settings = Settings.from_env(os.environ, config_file=CONFIG_FILE)
    except ValidationError as exc:
        raise InvalidArgumentError(
            f"Bad settings in the environment or {CONFIG_FILE}: {exc}"
        ) from exc
    ctx.obj = CliState(settings)


def main() -> None:
    """Console-script entry point (``plinth = "plinth.cli.main:main"``)."""
    app(prog_name="plinth")


if __name__ == "__main__":
    main()
