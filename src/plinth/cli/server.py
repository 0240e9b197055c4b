"""``plinth server``: serve the store named by the settings over HTTP (uvicorn)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.text import Text

from plinth.cli import state_of
from plinth.cli.output import key_value_table, stdout
from plinth.config import Settings
from plinth.errors import InvalidArgumentError

if TYPE_CHECKING:
    from fastapi import FastAPI

APP_FACTORY = "plinth.server.app:app_from_env"
WORKER_STARTUP_S = 60
"""How long uvicorn waits for a worker to answer its health check: importing the stack and
opening the store take more than uvicorn's 5 s default on a small, busy machine, and a
worker past the limit is killed and restarted over and over."""

_TokenStamp = tuple[int, int] | None


def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind; 0.0.0.0 for all."),
    port: int = typer.Option(5000, "--port", "-p", min=1, max=65_535),
    workers: int = typer.Option(1, "--workers", "-w", min=1, help="Worker processes."),
    no_auth: bool = typer.Option(
        False, "--no-auth", help="No tokens: everyone acts as user 'local' (an admin)."
    ),
) -> None:
    """Run the Plinth server (REST API, MLflow API, artifacts) on this machine's store."""
    from plinth.server.app import create_app

    settings = state_of(ctx).settings
    refuse_remote_store(settings)
    before = _token_stamp(settings.admin_token_path)
    # Built in this process even for several workers: migrations and the admin bootstrap
    # then run once, before the workers race for them.
    app = create_app(settings, auth=not no_auth)
    new_token = _token_stamp(settings.admin_token_path) != before
    print_banner(settings, host, port, auth=not no_auth, new_token=new_token)
    run_uvicorn(app, settings, host=host, port=port, workers=workers, auth=not no_auth)


def run_uvicorn(
    app: FastAPI, settings: Settings, *, host: str, port: int, workers: int, auth: bool
) -> None:
    """Serve ``app`` in this process, or ``workers`` processes that each rebuild it."""
    import uvicorn

    if workers == 1:
        from plinth.server.app import tune_gc_for_serving

        tune_gc_for_serving()
        uvicorn.run(app, host=host, port=port)
        return
    # The edge where settings travel through the environment: uvicorn's workers are
    # separate processes that build their app from an import string.
    os.environ.update(worker_environment(settings, auth=auth))
    # Each worker counts its own requests; Prometheus sees their sum through files here.
    from plinth.serving.metrics import MULTIPROC_ENV, prepare_multiprocess_dir

    os.environ[MULTIPROC_ENV] = str(prepare_multiprocess_dir())
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        timeout_worker_healthcheck=WORKER_STARTUP_S,
    )


def refuse_remote_store(settings: Settings) -> None:
    if settings.is_remote:
        raise InvalidArgumentError(
            f"PLINTH_URI is the server {settings.store_uri}; 'plinth server' serves a database. "
            "Set PLINTH_URI to sqlite:///... or postgresql+psycopg://..., or unset it to serve "
            "the embedded store in PLINTH_HOME."
        )


def worker_environment(settings: Settings, *, auth: bool) -> dict[str, str]:
    """What ``app_from_env`` in each worker reads to rebuild these exact settings."""
    return {
        "PLINTH_HOME": str(settings.home),
        "PLINTH_URI": settings.store_uri,
        "PLINTH_ARTIFACTS": settings.artifact_root,
        "PLINTH_SERVER_AUTH": "1" if auth else "0",
    }


def _token_stamp(path: Path) -> _TokenStamp:
    # The bootstrap replaces the file atomically, so a new token means a new inode or mtime.
    if not path.exists():
        return None
    stat = path.stat()
    return (stat.st_ino, stat.st_mtime_ns)


def print_banner(settings: Settings, host: str, port: int, *, auth: bool, new_token: bool) -> None:
    url = f"http://{'localhost' if host in ('0.0.0.0', '::') else host}:{port}"
    console = stdout()
    if new_token:
        console.print(
            Text.assemble(
                ("Created user 'admin'. ", "bold green"),
                f"Its token is in {settings.admin_token_path} (readable only by you): "
                f"export PLINTH_TOKEN=$(cat {settings.admin_token_path})",
            ),
            soft_wrap=True,
        )
    auth_text = "tokens required" if auth else "off (everyone is 'local', an admin)"
    console.print(
        key_value_table(
            [
                ("Plinth server", url),
                ("API docs", f"{url}/docs"),
                ("Metadata", settings.store_uri),
                ("Artifacts", settings.artifact_root),
                ("Auth", auth_text),
            ]
        )
    )
