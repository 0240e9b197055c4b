"""The root command: version, settings resolution and the error boundary."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from plinth import __version__
from plinth.cli.main import exit_code_for
from plinth.client import Client
from plinth.errors import (
    AlreadyExistsError,
    BackendUnavailableError,
    ConflictError,
    ExperimentNotFoundError,
    InvalidArgumentError,
    PayloadTooLargeError,
    PermissionDeniedError,
    PlinthError,
    RunNotFoundError,
    UnauthenticatedError,
)

Cli = Callable[..., Result]


def test_version_prints_the_package_version(cli: Cli) -> None:
    result = cli("--version")

    assert result.exit_code == 0
    assert result.stdout.strip() == f"plinth {__version__}"


def test_no_arguments_prints_help(cli: Cli) -> None:
    result = cli()

    assert "Usage" in result.output
    assert "experiments" in result.output


@pytest.mark.parametrize(
    ("error", "code"),
    [
        pytest.param(InvalidArgumentError("x"), 2, id="invalid-argument"),
        pytest.param(RunNotFoundError("x"), 3, id="not-found-subclass"),
        pytest.param(ExperimentNotFoundError("x"), 3, id="experiment-not-found"),
        pytest.param(AlreadyExistsError("x"), 4, id="already-exists"),
        pytest.param(PermissionDeniedError("x"), 5, id="permission-denied"),
        pytest.param(UnauthenticatedError("x"), 5, id="unauthenticated"),
        pytest.param(ConflictError("x"), 6, id="conflict"),
        pytest.param(BackendUnavailableError("x"), 7, id="backend-unavailable"),
        pytest.param(PayloadTooLargeError("x"), 1, id="other-family"),
        pytest.param(PlinthError("x"), 1, id="root"),
    ],
)
def test_exit_code_follows_the_error_family(error: PlinthError, code: int) -> None:
    assert exit_code_for(error) == code


def test_unsupported_uri_scheme_is_an_invalid_argument(cli: Cli) -> None:
    result = cli("experiments", "list", env={"PLINTH_URI": "mysql://db/plinth"})

    assert result.exit_code == 2
    assert result.stderr.startswith("Error: PLINTH_URI 'mysql://db/plinth' has an unsupported")
    assert "Traceback" not in result.output


def test_unreachable_server_is_backend_unavailable(cli: Cli) -> None:
    # Port 9 (discard) is closed on test machines: the connection is refused at once.
    result = cli("experiments", "list", env={"PLINTH_URI": "http://127.0.0.1:9"})

    assert result.exit_code == 7
    assert result.stderr.startswith("Error: ")


def test_plinth_toml_in_the_working_directory_is_read(cli: Cli, tmp_path: Path) -> None:
    other = tmp_path / "from-toml"
    (tmp_path / "plinth.toml").write_text(f'[plinth]\nhome = "{other}"\n')

    result = cli("experiments", "create", "toml-exp", env={"PLINTH_HOME": None})

    assert result.exit_code == 0, result.output
    assert (other / "plinth.db").exists()


def test_environment_beats_plinth_toml(cli: Cli, tmp_path: Path, home: Path) -> None:
    (tmp_path / "plinth.toml").write_text(f'[plinth]\nhome = "{tmp_path / "from-toml"}"\n')

    result = cli("experiments", "create", "env-exp")

    assert result.exit_code == 0, result.output
    assert (home / "plinth.db").exists()
    assert not (tmp_path / "from-toml").exists()


def test_bad_plinth_toml_is_a_clear_error(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "plinth.toml").write_text('[plinth]\nhomee = "typo"\n')

    result = cli("experiments", "list")

    assert result.exit_code == 2
    assert result.stderr.startswith("Error: Bad settings")


def test_stored_text_prints_as_written_in_every_listing(cli: Cli, client: Client) -> None:
    # Names, tags and comments anyone may have written: neither rich markup ("[/]" used to
    # crash every listing that showed it) nor terminal escape sequences take effect.
    experiment_id = client.create_experiment("[/]")
    run_id = client.create_run(experiment_id, run_name="[bold red]x[/]").info.run_id
    client.set_tag(run_id, "note", "\x1b[31mred\x1b[0m :smile:")
    client.add_comment(run_id, "[link=http://evil]click[/link]")
    client.create_registered_model("m")
    client.create_model_version(
        "m", f"runs:/{run_id}/model", run_id=run_id, description="\x1b]0;pwned\x07\x1b[2J"
    )

    outputs = [
        cli("experiments", "list"),
        cli("runs", "list", "--experiment", experiment_id),
        cli("runs", "show", run_id),
        cli("runs", "comments", run_id),
        cli("models", "show", "m", "1"),
    ]

    for result in outputs:
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.output
    assert "[/]" in outputs[0].output
    assert "[bold red]x[/]" in outputs[1].output
    assert "\\x1b[31mred\\x1b[0m :smile:" in outputs[2].output
    assert "[link=http://evil]click[/link]" in outputs[3].output
