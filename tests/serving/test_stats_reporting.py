"""A data-plane replica reporting route stats to a server: only an approver's token may
(the stats are the evidence canaries are judged on); any other gets one clear error in the
log, not a traceback every few seconds, and the replica keeps serving."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from tests.conftest import LiveServer

from plinth.client import Client
from plinth.config import Settings
from plinth.entities import Role, now_ms
from plinth.entities.serving import Route, RouteRole
from plinth.serving.dataplane import DataPlane
from plinth.serving.metrics import ServingMetrics

ROUTE = Route(model_name="churn", version="1", weight=100, role=RouteRole.PRIMARY)


def replica(live_server: LiveServer, tmp_path: Path, role: Role) -> DataPlane:
    """A data plane whose store is the server, with the token of a user of ``role``."""
    admin = Client(
        Settings(home=tmp_path / "admin", uri=live_server.url, token=live_server.admin_token)
    )
    admin.create_user(f"replica-{role.value}", role)
    _, token = admin.create_token(f"replica-{role.value}")
    client = Client(Settings(home=tmp_path / role.value, uri=live_server.url, token=token))
    return DataPlane(client, prediction_log=None, metrics=ServingMetrics())


def report(plane: DataPlane, requests: int) -> None:
    for _ in range(requests):
        plane.stats.observe("churn", ROUTE, status="ok", latency_ms=2.0, now_ms=now_ms())
    asyncio.run(plane.report_stats())


def test_a_replica_without_the_approver_role_says_so_once(
    live_server: LiveServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    plane = replica(live_server, tmp_path, Role.EDITOR)

    with caplog.at_level(logging.ERROR, logger="plinth.serving"):
        for _ in range(3):
            report(plane, requests=5)

    assert plane.stats_denied
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, errors
    assert "approver" in errors[0] and "plinth users create" in errors[0]


def test_an_approvers_replica_reports(live_server: LiveServer, tmp_path: Path) -> None:
    plane = replica(live_server, tmp_path, Role.APPROVER)

    report(plane, requests=5)

    assert not plane.stats_denied
    admin = Client(
        Settings(home=tmp_path / "check", uri=live_server.url, token=live_server.admin_token)
    )
    stored = admin.stores.serving.list_route_stats("churn", since_ms=0)
    assert sum(s.requests for s in stored) == 5
