"""Fixtures: one live ``plinth server`` per test module, and the real ``mlflow`` client on it.

The server is module-scoped because starting one costs more than most tests here; tests
share it safely by creating experiments with unique names (``unique``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest
from tests.conftest import LiveServer, serve

from plinth.config import Settings
from plinth.entities import Role
from plinth.store.factory import open_sql_stores

if TYPE_CHECKING:
    from mlflow import MlflowClient

# mlflow-skinny would otherwise start a telemetry thread that posts usage data to the
# internet; set before the test modules import mlflow, which reads it at import time.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real server (auth on) shared by one test module."""
    with serve(Settings(home=tmp_path_factory.mktemp("mlflow-server") / "home")) as live:
        yield live


@pytest.fixture(scope="module")
def server_url(server: LiveServer) -> str:
    return server.url


@pytest.fixture(scope="module")
def store_uri(server: LiveServer) -> str:
    """The server's metadata store, for checks the API does not expose."""
    return server.settings.store_uri


@pytest.fixture
def mlflow_env(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point mlflow (client and fluent API) at the server as admin; yields the URL."""
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", server.admin_token)
    # Fail fast: the client's default retry policy waits minutes on 5xx answers.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    yield server.url
    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.fixture
def client(mlflow_env: str) -> MlflowClient:
    """``mlflow.MlflowClient`` on the server, as admin."""
    import mlflow

    return mlflow.MlflowClient(tracking_uri=mlflow_env)


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    """A raw HTTP client on the server, as admin."""
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def viewer_token(server: LiveServer) -> str:
    """The token of a user with role viewer, created directly in the server's store."""
    stores = open_sql_stores(server.settings.store_uri)
    stores.auth.create_user("viewer", Role.VIEWER)
    _token, secret = stores.auth.create_token("viewer", description="tests")
    return secret


@pytest.fixture
def unique() -> str:
    """A fresh suffix for names in a shared server."""
    return uuid.uuid4().hex[:10]
