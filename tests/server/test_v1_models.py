"""/api/v1/models, /model-versions, /logged-models and /promotions over HTTP: roles, the
approval rule on every route, four eyes, gates with overrides, history, and bad input
answered as 4xx naming the field (never a 500)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import yaml

from plinth.artifacts import ArtifactStore
from plinth.config import Settings
from plinth.entities import Metric, Role
from plinth.entities.model_uris import proxied_artifact_path
from plinth.server.app import create_app
from plinth.store.factory import Stores, open_sql_stores
from plinth.store.sql import SqlTrackingStore

# Starlette's TestClient warns on import that it prefers httpx2 over httpx; it works with both.
pytestmark = pytest.mark.filterwarnings("ignore::starlette.exceptions.StarletteDeprecationWarning")

V1 = "/api/v1"
ROLES = {
    "viewer": Role.VIEWER,
    "editor": Role.EDITOR,
    "approver": Role.APPROVER,
    "approver2": Role.APPROVER,
}


@dataclass(frozen=True, slots=True)
class Server:
    http: httpx.Client
    stores: Stores
    artifacts: ArtifactStore
    tokens: dict[str, str]

    def request(self, who: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        return self.http.request(method, V1 + path, headers=headers, **kwargs)

    def ok(self, who: str, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(who, method, path, **kwargs)
        assert response.is_success, response.text
        return response.json() if response.content else None


@pytest.fixture
def server(settings: Settings) -> Iterator[Server]:
    """An app with auth on, the bootstrapped admin and one user per role (two approvers)."""
    with serve_with_roles(settings, open_sql_stores(settings.store_uri)) as server:
        yield server


@contextmanager
def serve_with_roles(settings: Settings, stores: Stores, **app_options: Any) -> Iterator[Server]:
    """``stores`` served with auth on, a user (and token) per role of ``ROLES``."""
    from fastapi.testclient import TestClient

    app = create_app(settings, stores=stores, auth=True, **app_options)
    tokens = {"admin": settings.admin_token_path.read_text().strip()}
    for name, role in ROLES.items():
        stores.auth.create_user(name, role)
        tokens[name] = stores.auth.create_token(name)[1]
    with TestClient(app) as client:
        yield Server(client, stores, app.state.artifact_store, tokens)
    assert isinstance(stores.tracking, SqlTrackingStore)
    stores.tracking.engine.dispose()


def make_run(server: Server, *, auc: float = 0.85, mlmodel: dict[str, Any] | None = None) -> str:
    """A run with metric ``auc`` and, if given, an ``MLmodel`` under its ``model`` folder."""
    tracking = server.stores.tracking
    experiment = tracking.find_experiment_by_name("exp") or tracking.get_experiment(
        tracking.create_experiment("exp")
    )
    run = tracking.create_run(experiment.experiment_id, user_id="editor", start_time=1)
    tracking.log_batch(run.info.run_id, metrics=[Metric(key="auc", value=auc, timestamp=1)])
    if mlmodel is not None:
        root = proxied_artifact_path(run.info.artifact_uri)
        assert root is not None
        server.artifacts.put_bytes(yaml.safe_dump(mlmodel).encode(), f"{root}/model/MLmodel")
    return run.info.run_id


def register(server: Server, name: str = "churn", **run_options: Any) -> dict[str, Any]:
    """Register a new version of ``name`` (as ``editor``) from a fresh run."""
    run_id = make_run(server, **run_options)
    body = {"source": f"runs:/{run_id}/model", "run_id": run_id}
    version: dict[str, Any] = server.ok("editor", "POST", f"/models/{name}/versions", json=body)
    return version


def request_body(**body: Any) -> dict[str, Any]:
    return {"name": "churn", "version": "1", "stage": "Production", **body}


def request_promotion(server: Server, who: str = "editor", **body: Any) -> dict[str, Any]:
    payload = request_body(**body)
    response = server.request(who, "POST", "/promotions", json=payload)
    assert response.status_code == 201, response.text
    request: dict[str, Any] = response.json()
    return request


def assert_error(response: httpx.Response, status: int, code: str, *named: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code
    for word in named:
        assert word in body["message"]


# -- roles -------------------------------------------------------------------------------------
def test_viewer_reads_the_registry_but_cannot_change_it(server: Server) -> None:
    register(server)
    assert server.ok("viewer", "GET", "/models")["items"][0]["name"] == "churn"
    assert server.ok("viewer", "GET", "/models/churn/versions/1")["current_stage"] == "None"
    assert server.ok("viewer", "GET", "/promotions") == []
    response = server.request("viewer", "POST", "/models", json={"name": "mine"})
    assert_error(response, 403, "PERMISSION_DENIED", "viewer")
    response = server.request("viewer", "POST", "/promotions", json={"name": "churn"})
    assert_error(response, 403, "PERMISSION_DENIED", "viewer")


def test_editor_registers_versions_attributed_to_them(server: Server) -> None:
    first, second = register(server), register(server)
    assert (first["version"], second["version"]) == ("1", "2")
    assert first["user_id"] == "editor" and first["source"].startswith("runs:/")
    model = server.ok("viewer", "GET", "/models/churn")
    assert [v["version"] for v in model["latest_versions"]] == ["2"]


def test_editor_requests_a_promotion_with_evaluated_checks(server: Server) -> None:
    register(server, auc=0.85)
    request = request_promotion(server, checks=["metrics.auc >= 0.8"], comment="ship it")
    assert request["status"] == "PENDING" and request["requested_by"] == "editor"
    assert request["checks"] == [
        {"check": "metrics.auc >= 0.8", "passed": True, "detail": "auc = 0.85 (needs >= 0.8)"}
    ]
    assert server.ok("viewer", "GET", f"/promotions/{request['request_id']}") == request


def test_editor_cannot_approve_or_reject(server: Server) -> None:
    register(server)
    request_id = request_promotion(server, who="approver")["request_id"]
    for action in ("approve", "reject"):
        response = server.request("editor", "POST", f"/promotions/{request_id}/{action}", json={})
        assert_error(response, 403, "PERMISSION_DENIED", "editor", "approver")


def test_approver_approves_someone_elses_request_and_it_takes_effect(server: Server) -> None:
    register(server)
    request_id = request_promotion(server)["request_id"]
    approved = server.ok(
        "approver", "POST", f"/promotions/{request_id}/approve", json={"comment": "reviewed"}
    )
    assert (approved["status"], approved["decided_by"]) == ("APPROVED", "approver")
    assert approved["decision_comment"] == "reviewed"
    assert server.ok("viewer", "GET", "/models/churn/versions/1")["current_stage"] == "Production"


@pytest.mark.parametrize("who", ["approver", "admin"])
def test_requester_cannot_approve_their_own_request(server: Server, who: str) -> None:
    register(server)
    request_id = request_promotion(server, who=who)["request_id"]
    response = server.request(who, "POST", f"/promotions/{request_id}/approve", json={})
    assert_error(response, 403, "PERMISSION_DENIED", "four eyes")
    assert server.ok("viewer", "GET", f"/promotions/{request_id}")["status"] == "PENDING"


def test_approver_rejects_and_a_decided_request_cannot_be_decided_again(server: Server) -> None:
    register(server)
    request_id = request_promotion(server)["request_id"]
    rejected = server.ok(
        "approver", "POST", f"/promotions/{request_id}/reject", json={"comment": "no"}
    )
    assert (rejected["status"], rejected["decision_comment"]) == ("REJECTED", "no")
    response = server.request("approver2", "POST", f"/promotions/{request_id}/approve", json={})
    assert_error(response, 400, "INVALID_STATE", "rejected")
    assert server.ok("viewer", "GET", "/models/churn/versions/1")["current_stage"] == "None"


# -- the approval rule on the direct routes ----------------------------------------------------
@pytest.mark.parametrize("who", ["editor", "admin"])
def test_production_transition_without_approval_is_refused_with_how_to(
    server: Server, who: str
) -> None:
    register(server)
    response = server.request(
        who, "POST", "/models/churn/versions/1/stage", json={"stage": "production"}
    )
    assert_error(
        response, 403, "PERMISSION_DENIED", "approved promotion request", "request-promotion"
    )
    assert server.ok("viewer", "GET", "/models/churn/versions/1")["current_stage"] == "None"


def test_staging_transition_needs_no_approval(server: Server) -> None:
    register(server)
    moved = server.ok("editor", "POST", "/models/churn/versions/1/stage", json={"stage": "Staging"})
    assert moved["current_stage"] == "Staging"
    latest = server.ok(
        "viewer", "GET", "/models/churn/latest-versions", params={"stage": "Staging"}
    )
    assert [v["version"] for v in latest] == ["1"]


@pytest.mark.parametrize("stage", ["Archived", "None", "Staging"])
def test_leaving_production_needs_an_approved_request_too(server: Server, stage: str) -> None:
    register(server)
    request_id = request_promotion(server)["request_id"]
    server.ok("approver", "POST", f"/promotions/{request_id}/approve", json={})
    response = server.request(
        "editor", "POST", "/models/churn/versions/1/stage", json={"stage": stage}
    )
    assert_error(response, 403, "PERMISSION_DENIED", "in Production", f"--stage {stage}")
    assert server.ok("viewer", "GET", "/models/churn/versions/1")["current_stage"] == "Production"
    request_id = request_promotion(server, stage=stage)["request_id"]
    server.ok("approver", "POST", f"/promotions/{request_id}/approve", json={})
    assert server.ok("viewer", "GET", "/models/churn/versions/1")["current_stage"] == stage


def test_a_request_to_leave_production_is_for_production_versions_only(server: Server) -> None:
    register(server)
    response = server.request("editor", "POST", "/promotions", json=request_body(stage="Archived"))
    assert_error(response, 400, "INVALID_PARAMETER_VALUE", "transition_model_version_stage")


@pytest.mark.parametrize(
    ("body", "why"),
    [
        pytest.param({}, "is in Production", id="production"),
        pytest.param({"stage": None, "alias": "champion"}, "protected alias @champion", id="alias"),
    ],
)
def test_a_governed_model_cannot_be_renamed(server: Server, body: dict[str, Any], why: str) -> None:
    register(server)
    request_id = request_promotion(server, **body)["request_id"]
    server.ok("approver", "POST", f"/promotions/{request_id}/approve", json={})
    response = server.request("editor", "POST", "/models/churn/rename", json={"new_name": "x"})
    assert_error(response, 403, "PERMISSION_DENIED", why, "cannot be renamed", "new name")
    assert server.ok("viewer", "GET", "/models/churn")["name"] == "churn"
    assert_error(server.request("viewer", "GET", "/models/x"), 404, "RESOURCE_DOES_NOT_EXIST")


def test_an_ungoverned_model_is_renamed(server: Server) -> None:
    register(server)
    server.ok("editor", "POST", "/models/churn/versions/1/stage", json={"stage": "Staging"})
    renamed = server.ok("editor", "POST", "/models/churn/rename", json={"new_name": "churn-2"})
    assert renamed["name"] == "churn-2"


@pytest.mark.parametrize("alias", ["champion", "Production"])
def test_protected_alias_cannot_be_set_directly(server: Server, alias: str) -> None:
    register(server)
    response = server.request("admin", "PUT", f"/models/churn/aliases/{alias}", json={"version": 1})
    assert_error(response, 403, "PERMISSION_DENIED", "protected", "approved promotion request")
    response = server.request("viewer", "GET", f"/models/churn/aliases/{alias}")
    assert_error(response, 404, "RESOURCE_DOES_NOT_EXIST")


def test_unprotected_alias_is_set_read_and_deleted_by_an_editor(server: Server) -> None:
    register(server)
    path = "/models/churn/aliases/candidate"
    assert server.request("editor", "PUT", path, json={"version": "1"}).status_code == 204
    assert server.ok("viewer", "GET", path)["aliases"] == ["candidate"]
    assert server.request("editor", "DELETE", path).status_code == 204
    assert_error(server.request("viewer", "GET", path), 404, "RESOURCE_DOES_NOT_EXIST")


def test_protected_alias_moves_through_an_approved_request(server: Server) -> None:
    register(server)
    request = request_promotion(server, stage=None, alias="champion")
    server.ok("approver", "POST", f"/promotions/{request['request_id']}/approve", json={})
    assert server.ok("viewer", "GET", "/models/churn/aliases/champion")["version"] == "1"
    response = server.request("admin", "DELETE", "/models/churn/aliases/champion")
    assert_error(response, 403, "PERMISSION_DENIED", "protected")


# -- gates -------------------------------------------------------------------------------------
def test_approving_failed_checks_needs_override_and_comment(server: Server) -> None:
    register(server, auc=0.7)
    request = request_promotion(server, checks=["metrics.auc >= 0.8"])
    assert [c["passed"] for c in request["checks"]] == [False]
    approve = f"/promotions/{request['request_id']}/approve"
    for body in ({}, {"override": True}, {"comment": "fine"}, {"override": True, "comment": " "}):
        response = server.request("approver", "POST", approve, json=body)
        assert_error(response, 403, "PERMISSION_DENIED", "failed checks", "override")
    body = {"override": True, "comment": "accepted for the pilot"}
    approved = server.ok("approver", "POST", approve, json=body)
    assert (approved["status"], approved["override"]) == ("APPROVED", True)
    assert server.ok("viewer", "GET", "/models/churn/versions/1")["current_stage"] == "Production"


@pytest.mark.parametrize(
    ("mlmodel", "passed", "detail"),
    [
        pytest.param(
            {"flavors": {"sklearn": {}, "python_function": {}}, "signature": {"inputs": "[]x"}},
            True,
            "python_function, sklearn",
            id="signature",
        ),
        pytest.param({"flavors": {"sklearn": {}}}, False, "has no signature", id="no-signature"),
        pytest.param(None, False, "no MLmodel package", id="no-package"),
    ],
)
def test_signature_gate_reads_the_package_through_the_artifact_store(
    server: Server, mlmodel: dict[str, Any] | None, passed: bool, detail: str
) -> None:
    register(server, mlmodel=mlmodel)
    (check,) = request_promotion(server, checks=["signature"])["checks"]
    assert check["passed"] is passed
    assert detail in check["detail"]


# -- history and listings ----------------------------------------------------------------------
def test_history_lists_every_event_in_order_with_its_user(server: Server) -> None:
    register(server)
    server.request("editor", "PUT", "/models/churn/tags/team", json={"value": "risk"})
    request_id = request_promotion(server, comment="better auc")["request_id"]
    server.ok("approver", "POST", f"/promotions/{request_id}/approve", json={"comment": "ok"})
    events = server.ok("viewer", "GET", "/models/churn/history")
    assert [(e["event_type"], e["user_name"]) for e in events] == [
        ("registered_model_created", "editor"),
        ("model_version_created", "editor"),
        ("tag_set", "editor"),
        ("promotion_requested", "editor"),
        ("promotion_approved", "approver"),
        ("stage_transition", "approver"),
    ]
    assert [e["comment"] for e in events][3:5] == ["better auc", "ok"]
    timestamps = [e["timestamp"] for e in events]
    assert timestamps == sorted(timestamps)


def test_other_layers_append_history_events(server: Server) -> None:
    register(server)
    body = {"version": "1", "event_type": "deployed", "comment": "canary", "details": {"to": "x"}}
    assert server.request("editor", "POST", "/models/churn/history", json=body).status_code == 204
    last = server.ok("viewer", "GET", "/models/churn/history")[-1]
    assert (last["event_type"], last["version"], last["details"]) == ("deployed", "1", {"to": "x"})


@pytest.mark.parametrize(
    "event_type",
    [
        "PROMOTION_APPROVED",
        "promotion_approved ",
        "Stage_Transition",
        " promotion-approved",
        "deployment_changed",  # written by the serving store when routes change
    ],
)
def test_registry_event_types_cannot_be_forged_in_any_spelling(
    server: Server, event_type: str
) -> None:
    register(server)
    body = {"event_type": event_type, "comment": "approved by CISO"}
    response = server.request("editor", "POST", "/models/churn/history", json=body)
    assert_error(response, 400, "INVALID_PARAMETER_VALUE", "written by the registry")
    events = server.ok("viewer", "GET", "/models/churn/history")
    assert "approved by CISO" not in [e["comment"] for e in events]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"details": {"k": "\ud800"}}, id="detail-value"),
        pytest.param({"details": {"\udfff": "v"}}, id="detail-key"),
        pytest.param({"comment": "a\ud800b"}, id="comment"),
        pytest.param({"event_type": "deployed\udc00"}, id="event-type"),
    ],
)
def test_history_refuses_text_it_could_not_read_back(server: Server, body: dict[str, Any]) -> None:
    register(server)
    # Escaped as JSON does it (``\ud800``): the text a client sends for such a value.
    payload = json.dumps({"event_type": "deployed", **body})
    headers = {"Authorization": f"Bearer {server.tokens['editor']}"}
    headers["Content-Type"] = "application/json"
    path = f"{V1}/models/churn/history"
    response = server.http.post(path, content=payload, headers=headers)
    assert_error(response, 400, "INVALID_PARAMETER_VALUE", "surrogate")
    assert server.ok("viewer", "GET", "/models/churn/history")[-1]["event_type"] != "deployed"


def test_promotions_are_listed_newest_first_by_model_and_status(server: Server) -> None:
    register(server)
    register(server, name="fraud")
    first = request_promotion(server)["request_id"]
    second = request_promotion(server, name="fraud")["request_id"]
    server.ok("approver", "POST", f"/promotions/{first}/reject", json={})
    listed = server.ok("viewer", "GET", "/promotions")
    assert [r["request_id"] for r in listed] == [second, first]
    pending = server.ok("viewer", "GET", "/promotions", params={"status": "PENDING"})
    assert [r["request_id"] for r in pending] == [second]
    churn = server.ok("viewer", "GET", "/promotions", params={"name": "churn"})
    assert [r["request_id"] for r in churn] == [first]


def test_model_versions_are_searched_across_models(server: Server) -> None:
    register(server)
    register(server, name="fraud")
    page = server.ok("viewer", "GET", "/model-versions", params={"filter": "name = 'fraud'"})
    assert [(v["name"], v["version"]) for v in page["items"]] == [("fraud", "1")]


# -- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        pytest.param("POST", "/models", {}, "name", id="model-name-missing"),
        pytest.param("POST", "/models", {"name": "m", "tag": []}, "tag", id="unknown-field"),
        pytest.param("POST", "/models", {"name": "a/b"}, "name", id="model-name-slash"),
        pytest.param("POST", "/models/churn/versions", {}, "source", id="source-missing"),
        pytest.param("GET", "/models/churn/versions/one", None, "version", id="version-path"),
        pytest.param(
            "POST", "/models/churn/versions/1/stage", {"stage": "Live"}, "stage", id="stage"
        ),
        pytest.param("PUT", "/models/churn/aliases/v1", {"version": "1"}, "alias", id="alias"),
        pytest.param("PUT", "/models/churn/aliases/x", {"version": "x"}, "version", id="alias-v"),
        pytest.param("GET", "/models?max_results=many", None, "max_results", id="query-int"),
        pytest.param("GET", "/models/churn/latest-versions?stage=Gold", None, "stage", id="lv"),
        pytest.param("GET", "/promotions?status=DONE", None, "status", id="status"),
        pytest.param(
            "POST",
            "/promotions",
            {"name": "churn", "version": "1", "stage": "Prod"},
            "stage",
            id="promotion-stage",
        ),
        pytest.param(
            "POST",
            "/promotions",
            {"name": "churn", "version": "1", "stage": "Production", "alias": "champion"},
            "alias",
            id="promotion-two-targets",
        ),
        pytest.param(
            "POST",
            "/promotions",
            {"name": "churn", "version": "1", "stage": "Production", "checks": ["auc > 1"]},
            "auc > 1",
            id="promotion-check",
        ),
        pytest.param(
            "POST", "/promotions/x/approve", {"override": "maybe"}, "override", id="override"
        ),
        pytest.param("PATCH", "/logged-models/m-1", {"status": "DONE"}, "status", id="lm-status"),
        pytest.param(
            "POST",
            "/logged-models/search",
            {"experiment_ids": ["1"], "order_by": [{"field_name": "params.a"}]},
            "order_by[0]",
            id="lm-order",
        ),
        pytest.param(
            "POST",
            "/logged-models/search",
            {"experiment_ids": ["1"], "order_by": [{"ascending": False}]},
            "field_name",
            id="lm-order-field",
        ),
        pytest.param(
            "POST",
            "/logged-models/search",
            {"experiment_ids": ["1"], "order_by": [{"field_name": "name", "ascending": "no"}]},
            "ascending",
            id="lm-order-lax-bool",
        ),
    ],
)
def test_bad_input_is_a_400_naming_the_field(
    server: Server, method: str, path: str, body: object, field: str
) -> None:
    register(server)
    response = server.request("admin", method, path, json=body)
    assert_error(response, 400, "INVALID_PARAMETER_VALUE", field)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", "/models/nope", id="model"),
        pytest.param("GET", "/models/churn/versions/9", id="version"),
        pytest.param("GET", "/models/nope/history", id="history"),
        pytest.param("GET", "/promotions/nope", id="promotion"),
        pytest.param("POST", "/promotions/nope/reject", id="decide-unknown"),
        pytest.param("GET", "/logged-models/m-0123", id="logged-model"),
    ],
)
def test_unknown_objects_are_404s(server: Server, method: str, path: str) -> None:
    register(server)
    response = server.request("admin", method, path, json={} if method == "POST" else None)
    assert_error(response, 404, "RESOURCE_DOES_NOT_EXIST")


def test_viewers_search_logged_models_by_metric_and_see_non_finite_values(
    server: Server,
) -> None:
    run_id = make_run(server)
    tracking, registry = server.stores.tracking, server.stores.registry
    experiment_id = tracking.get_run(run_id).info.experiment_id
    model_id = registry.create_logged_model(experiment_id, name="m").model_id
    points = [("auc", 0.9), ("loss", float("nan")), ("gain", float("inf"))]
    metrics = [Metric(key=k, value=x, timestamp=2, model_id=model_id) for k, x in points]
    tracking.log_batch(run_id, metrics=metrics)
    body = {
        "experiment_ids": [experiment_id],
        "filter": "metrics.auc > 0.5",
        "order_by": [{"field_name": "metrics.auc", "ascending": False}],
    }

    found = server.ok("viewer", "POST", "/logged-models/search", json=body)

    assert [m["model_id"] for m in found["items"]] == [model_id]
    values = {m["key"]: m["value"] for m in found["items"][0]["metrics"]}
    assert values == {"auc": 0.9, "loss": "NaN", "gain": "Infinity"}
    anonymous = server.http.post(f"{V1}/logged-models/search", json=body)
    assert anonymous.status_code == 401


# -- auth off ----------------------------------------------------------------------------------
def test_without_auth_the_local_user_requests_and_approves(settings: Settings) -> None:
    from fastapi.testclient import TestClient

    stores = open_sql_stores(settings.store_uri)
    with TestClient(create_app(settings, stores=stores, auth=False)) as http:
        http.post(f"{V1}/models/churn/versions", json={"source": "/tmp/m"}).raise_for_status()
        body = {"name": "churn", "version": "1", "stage": "Production"}
        request = http.post(f"{V1}/promotions", json=body).json()
        approved = http.post(f"{V1}/promotions/{request['request_id']}/approve", json={}).json()
    assert (request["requested_by"], approved["decided_by"]) == ("local", "local")
    assert approved["status"] == "APPROVED"
    assert isinstance(stores.tracking, SqlTrackingStore)
    stores.tracking.engine.dispose()


# -- documentation -----------------------------------------------------------------------------
def test_openapi_lists_the_registry_routes(server: Server) -> None:
    paths = server.http.get("/openapi.json").json()["paths"]
    assert {
        "/api/v1/models",
        "/api/v1/models/{name}/versions/{version}/stage",
        "/api/v1/models/{name}/aliases/{alias}",
        "/api/v1/models/{name}/history",
        "/api/v1/model-versions",
        "/api/v1/logged-models/{model_id}",
        "/api/v1/promotions",
        "/api/v1/promotions/{request_id}/approve",
        "/api/v1/promotions/{request_id}/reject",
    } <= set(paths)
    assert set(paths["/api/v1/promotions/{request_id}/approve"]) == {"post"}
