"""/api/v1/endpoints over HTTP with auth on: who may start, judge and finish a canary. An
editor alone never puts a version into Production: a canary takes all traffic and completes
only once an approver approved its version for Production, archiving a version withdraws
its trial approval, and route stats (the evidence canaries are judged on) need ``approver``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import pytest
from tests.server.test_v1_models import Server, assert_error, serve_with_roles

from plinth.config import Settings
from plinth.entities import now_ms
from plinth.entities.registry import Stage
from plinth.entities.route_stats import RouteStats, minute_of
from plinth.server.serving import ServingOptions
from plinth.store.factory import open_sql_stores
from plinth.store.sql.serving_registry import CANARY_CONTROLLER

pytestmark = pytest.mark.filterwarnings("ignore::starlette.exceptions.StarletteDeprecationWarning")

CANARY = {
    "route": {"model_name": "churn", "version": "2", "weight": 0, "role": "canary"},
    "steps": [50, 100],
    "interval_s": 0,
    "min_requests": 1,
}


@pytest.fixture
def server(settings: Settings) -> Iterator[Server]:
    """Auth on, one user per role; churn v1 in Production and v2 approved for Staging (set
    up as the embedded user ``local``). No controller runs: the tests judge canaries."""
    stores = open_sql_stores(settings.store_uri)
    for _ in range(2):
        stores.registry.create_model_version("churn", "s")
    for version, stage in (("1", Stage.PRODUCTION), ("2", Stage.STAGING)):
        request = stores.registry.request_promotion(
            "churn", version, stage=stage, archive_existing_versions=False
        )
        stores.registry.approve_promotion(request.request_id)
    with serve_with_roles(settings, stores, serving=ServingOptions(control=False)) as server:
        yield server


def canary_stats(requests: int) -> dict[str, Any]:
    """A replica's report: ``requests`` canary requests of churn/2 this minute, no errors."""
    stats = RouteStats(
        endpoint="churn",
        route="canary",
        model_name="churn",
        version="2",
        minute=minute_of(now_ms()),
        replica="r1",
    )
    for _ in range(requests):
        stats.observe(2.0, status="ok")
    return {"items": [asdict(stats)]}


def start_canary(server: Server) -> None:
    body = {"name": "churn", "routes": [{"model_name": "churn", "version": "1", "weight": 100}]}
    server.ok("editor", "POST", "/endpoints", json=body)
    server.ok("editor", "POST", "/endpoints/churn/canary", json=CANARY)


def stage(server: Server, version: str) -> str:
    found: str = server.ok("viewer", "GET", f"/models/churn/versions/{version}")["current_stage"]
    return found


def test_editors_cannot_report_route_stats(server: Server) -> None:
    start_canary(server)
    response = server.request("editor", "POST", "/route-stats", json=canary_stats(10_000))
    assert_error(response, 403, "PERMISSION_DENIED", "editor", "approver")
    assert server.ok("viewer", "GET", "/endpoints/churn/stats") == []
    server.ok("approver", "POST", "/route-stats", json=canary_stats(10))
    assert [s["requests"] for s in server.ok("viewer", "GET", "/endpoints/churn/stats")] == [10]


def test_an_editor_alone_cannot_put_a_canary_into_production(server: Server) -> None:
    start_canary(server)
    server.ok("approver", "POST", "/route-stats", json=canary_stats(100))
    held = server.ok("editor", "POST", "/endpoints/churn/canary/advance")
    assert held["action"] == "wait" and "approved for Production" in held["reason"]
    assert server.ok("viewer", "GET", "/endpoints/churn")["canary"]["step_index"] == 0
    response = server.request("editor", "POST", "/endpoints/churn/promote", json={})
    assert_error(response, 403, "PERMISSION_DENIED", "churn/2", "request-promotion churn 2")
    assert (stage(server, "1"), stage(server, "2")) == ("Production", "Staging")
    history = server.ok("viewer", "GET", "/models/churn/history")
    assert not [e for e in history if e["user_name"] == CANARY_CONTROLLER]


def test_the_canary_completes_once_an_approver_approved_production(server: Server) -> None:
    start_canary(server)
    body = {"name": "churn", "version": "2", "stage": "Production"}
    request = server.ok("editor", "POST", "/promotions", json=body | {"comment": "canary"})
    server.ok("approver", "POST", "/route-stats", json=canary_stats(100))
    held = server.ok("editor", "POST", "/endpoints/churn/canary/advance")
    assert held["action"] == "wait" and request["request_id"] in held["reason"]
    server.ok("approver", "POST", f"/promotions/{request['request_id']}/approve", json={})
    assert server.ok("editor", "POST", "/endpoints/churn/canary/advance")["action"] == "advance"
    promoted = server.ok("editor", "POST", "/endpoints/churn/promote", json={})
    assert [(r["version"], r["weight"]) for r in promoted["routes"]] == [("2", 100)]
    assert (stage(server, "1"), stage(server, "2")) == ("Archived", "Production")
    approvals = [
        e
        for e in server.ok("viewer", "GET", "/models/churn/history")
        if e["event_type"] == "promotion_approved" and e["version"] == "2"
    ]
    assert [e["user_name"] for e in approvals] == ["local", "approver"]


def test_an_archived_version_needs_a_new_approval_for_a_canary(server: Server) -> None:
    server.ok("editor", "POST", "/models/churn/versions/2/stage", json={"stage": "Archived"})
    body = {"name": "churn", "routes": [{"model_name": "churn", "version": "1", "weight": 100}]}
    server.ok("editor", "POST", "/endpoints", json=body)
    response = server.request("editor", "POST", "/endpoints/churn/canary", json=CANARY)
    assert_error(response, 403, "PERMISSION_DENIED", "churn/2", "request-promotion churn 2")
    # Moving it back needs no approval, so it does not bring the old approval back either.
    server.ok("editor", "POST", "/models/churn/versions/2/stage", json={"stage": "Staging"})
    response = server.request("editor", "POST", "/endpoints/churn/canary", json=CANARY)
    assert_error(response, 403, "PERMISSION_DENIED", "churn/2")
    staging = {"name": "churn", "version": "2", "stage": "Staging"}
    request = server.ok("editor", "POST", "/promotions", json=staging)
    server.ok("approver", "POST", f"/promotions/{request['request_id']}/approve", json={})
    server.ok("editor", "POST", "/endpoints/churn/canary", json=CANARY)
