"""``plinth server``: refuses a server URI; serves the store in real subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from typer.testing import Result

from plinth.cli.server import worker_environment
from plinth.client import Client
from plinth.config import Settings
from plinth.server.threaded import free_port

Cli = Callable[..., Result]
START_TIMEOUT_S = 60


def test_a_server_uri_is_refused_with_a_clear_error(cli: Cli) -> None:
    result = cli("server", env={"PLINTH_URI": "http://127.0.0.1:5000"})

    assert result.exit_code == 2
    assert result.stderr.startswith("Error: PLINTH_URI is the server http://127.0.0.1:5000")


def test_worker_environment_rebuilds_the_same_settings(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, artifacts=str(tmp_path / "elsewhere"))

    rebuilt = Settings.from_env(worker_environment(settings, auth=True))

    assert rebuilt.store_uri == settings.store_uri
    assert rebuilt.artifact_root == settings.artifact_root
    assert rebuilt.admin_token_path == settings.admin_token_path
    assert worker_environment(settings, auth=False)["PLINTH_SERVER_AUTH"] == "0"


@contextmanager
def serving(home: Path, *args: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``plinth server`` in a subprocess on a free port, stopped (SIGINT) on exit."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLINTH_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "plinth.cli.main", "server", "--port", str(port), *args],
        env={**env, "PLINTH_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_health(url, process)
        yield url, process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_health(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"plinth server exited early:\n{process.stdout.read() if process.stdout else ''}"
            )
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"plinth server did not answer on {url} within {START_TIMEOUT_S}s")


def _output(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    return process.stdout.read()


@pytest.mark.e2e
def test_server_prints_where_the_new_admin_token_is_and_serves_with_auth(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with serving(home) as (url, process):
        token = (home / "admin.token").read_text().strip()
        remote = Client(Settings(home=tmp_path / "client", uri=url, token=token))
        users = [u.name for u in remote.list_users()]
        anonymous = httpx.get(f"{url}/api/2.0/mlflow/experiments/search", timeout=5)
    output = _output(process)

    assert users == ["admin"]
    assert anonymous.status_code == 401
    assert f"Its token is in {home / 'admin.token'}" in output
    assert output.count("Created user 'admin'") == 1
    assert url in output
    assert f"{url}/docs" in output


@pytest.mark.e2e
def test_no_auth_server_creates_no_admin(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with serving(home, "--no-auth") as (url, process):
        remote = Client(Settings(home=tmp_path / "client", uri=url))
        experiment_id = remote.create_experiment("open")
    output = _output(process)

    assert experiment_id
    assert not (home / "admin.token").exists()
    assert "Created user 'admin'" not in output


@pytest.mark.e2e
@pytest.mark.slow
def test_several_workers_serve_the_same_store(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with serving(home, "--workers", "2") as (url, process):
        token = (home / "admin.token").read_text().strip()
        remote = Client(Settings(home=tmp_path / "client", uri=url, token=token))
        ids = [remote.create_experiment(f"exp-{i}") for i in range(4)]
        names = {e.name for e in remote.search_experiments().items}
    output = _output(process)

    assert len(set(ids)) == 4
    assert {f"exp-{i}" for i in range(4)} <= names
    # The parent bootstraps the admin once, before the workers start.
    assert output.count("Its token is in") == 1
