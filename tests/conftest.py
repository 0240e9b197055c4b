"""Shared fixtures: fresh SQLite and PostgreSQL stores, settings, a live server, and
``tracking``, which points the fluent SDK at an embedded store or at a live server.

PostgreSQL and Redis tests skip with a reason on a laptop without them, and fail under
``CI=true``.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from plinth.config import Settings
from plinth.server.threaded import serve_in_thread

if TYPE_CHECKING:
    from plinth.artifacts import ArtifactStore
    from plinth.server.serving import ServingOptions

POSTGRES_URI = os.environ.get(
    "PLINTH_TEST_POSTGRES_URI", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"


def _postgres_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def require_postgres() -> None:
    """Skip (or, in CI, fail) when PostgreSQL does not answer."""
    if _postgres_answers():
        return
    message = "PostgreSQL does not answer on 127.0.0.1:5432 (set PLINTH_TEST_POSTGRES_URI)"
    if IN_CI:
        pytest.fail(f"{message}; CI must run the PostgreSQL tests")
    pytest.skip(message)


@pytest.fixture
def postgres_uri() -> Iterator[str]:
    """A PostgreSQL URI whose connections see a fresh, empty schema (dropped afterwards)."""
    require_postgres()
    from sqlalchemy import create_engine, text

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URI)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in POSTGRES_URI else "?"
    yield f"{POSTGRES_URI}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


REDIS_URL = os.environ.get("PLINTH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_answers() -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(REDIS_URL)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 1):
            return True
    except OSError:
        return False


def require_redis() -> None:
    """Skip (or, in CI, fail) when Redis does not answer."""
    if _redis_answers():
        return
    message = f"Redis does not answer at {REDIS_URL} (set PLINTH_TEST_REDIS_URL)"
    if IN_CI:
        pytest.fail(f"{message}; CI must run the Redis tests")
    pytest.skip(message)


@pytest.fixture
def redis_url() -> str:
    """The test Redis; tests share its database, so each names its keys with a uuid."""
    require_redis()
    return REDIS_URL


@pytest.fixture
def sqlite_uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'plinth.db'}"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Embedded settings rooted in a temporary PLINTH_HOME."""
    return Settings(home=tmp_path / "home")


@dataclass(frozen=True, slots=True)
class LiveServer:
    url: str
    admin_token: str
    settings: Settings


@contextmanager
def serve(
    settings: Settings, *, auth: bool = True, serving: ServingOptions | None = None
) -> Iterator[LiveServer]:
    """Run a real ``plinth server`` (uvicorn in a thread) over ``settings`` until exit.

    Without ``serving`` the app's lifespan (the inference data plane) does not run, which
    keeps the many API tests light; with it, endpoints are served with those options."""
    from plinth.server.app import create_app

    app = create_app(settings, auth=auth, serving=serving)
    with serve_in_thread(app, lifespan="on" if serving else "off"):
        token = settings.admin_token_path.read_text().strip() if auth else ""
        yield LiveServer(url=app.state.url, admin_token=token, settings=settings)


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A real ``plinth server`` (auth on) over a fresh SQLite home, for one test."""
    with serve(Settings(home=tmp_path / "server-home")) as server:
        yield server


@pytest.fixture(params=["embedded", "server"])
def tracking(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Point the fluent API at a fresh embedded store, or at a live ``plinth server`` as its
    admin: SDK tests (tracking, registry) run twice, so local and remote cannot diverge."""
    import plinth

    if request.param == "embedded":
        settings = Settings(home=tmp_path / "home")
    else:
        server = request.getfixturevalue("live_server")
        settings = Settings(home=tmp_path / "client-home", uri=server.url, token=server.admin_token)
    plinth.set_tracking_uri(settings=settings)
    yield settings
    while plinth.active_run() is not None:
        plinth.end_run()


BUCKET = "plinth-test"
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on a free loopback port, with the bucket ``BUCKET`` created."""
    import boto3
    from moto.server import ThreadedMotoServer

    with pytest.MonkeyPatch.context() as mp:
        # Dummies, so neither boto3 nor s3fs can ever pick up real credentials.
        for name, value in DUMMY_CREDENTIALS.items():
            mp.setenv(name, value)
        mp.delenv("AWS_PROFILE", raising=False)
        # werkzeug logs every request moto serves; that would bury a failing test's output.
        mp.setattr(logging.getLogger("werkzeug"), "level", logging.WARNING)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
        yield endpoint
        server.stop()


def s3_options(endpoint: str) -> dict[str, object]:
    """storage_options for s3fs against the moto server, with dummy credentials."""
    return {"endpoint_url": endpoint, "key": "testing", "secret": "testing"}


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def artifact_store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    """An empty artifact store: a folder in ``tmp_path``, or a fresh prefix in the bucket."""
    from plinth.artifacts import artifact_store_from_uri

    if request.param == "local":
        return artifact_store_from_uri(str(tmp_path / "artifacts"))
    # Looked up here, not requested by signature, so `-m "not s3"` never starts moto.
    endpoint: str = request.getfixturevalue("s3_endpoint")
    return artifact_store_from_uri(
        f"s3://{BUCKET}/{uuid.uuid4().hex}", storage_options=s3_options(endpoint)
    )
