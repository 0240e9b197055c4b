"""The tracking tests run twice: on the embedded store and through a live server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import plinth
from plinth.config import Settings


@pytest.fixture(params=["embedded", "server"])
def tracking(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Point the fluent API at a fresh embedded store, or at a live ``plinth server``."""
    if request.param == "embedded":
        settings = Settings(home=tmp_path / "home")
    else:
        server = request.getfixturevalue("live_server")
        settings = Settings(home=tmp_path / "client-home", uri=server.url, token=server.admin_token)
    plinth.set_tracking_uri(settings=settings)
    yield settings
    while plinth.active_run() is not None:
        plinth.end_run()
