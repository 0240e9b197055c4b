"""/api/v1 over HTTP: authentication, roles, the audit trail, and bad input answered as 4xx
with an ``error_code`` and a message naming the field (never a 500)."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from plinth.config import Settings
from plinth.entities import Role
from plinth.server.app import create_app
from plinth.store.factory import Stores, open_sql_stores
from plinth.store.sql import SqlTrackingStore
from plinth.store.sql.auth import SqlAuthStore

# Starlette's TestClient warns on import that it prefers httpx2 over httpx; it works with both.
pytestmark = pytest.mark.filterwarnings("ignore::starlette.exceptions.StarletteDeprecationWarning")

V1 = "/api/v1"


@dataclass(frozen=True, slots=True)
class Server:
    http: httpx.Client
    stores: Stores
    tokens: dict[str, str]

    def as_(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def request(
        self,
        who: str,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        headers = {**self.as_(who), **(headers or {})}
        return self.http.request(method, V1 + path, headers=headers, **kwargs)


@pytest.fixture
def server(settings: Settings) -> Iterator[Server]:
    """An app with auth on and one user per role, named after it."""
    from fastapi.testclient import TestClient

    stores = open_sql_stores(settings.store_uri)
    app = create_app(settings, stores=stores, auth=True)
    tokens = {"admin": settings.admin_token_path.read_text().strip()}
    for name, role in ((r.value, r) for r in (Role.VIEWER, Role.EDITOR, Role.APPROVER)):
        stores.auth.create_user(name, role)
        tokens[name] = stores.auth.create_token(name)[1]
    with TestClient(app) as client:
        yield Server(client, stores, tokens)
    assert isinstance(stores.tracking, SqlTrackingStore)
    stores.tracking.engine.dispose()


@pytest.fixture
def run_id(server: Server) -> str:
    experiment_id = server.stores.tracking.create_experiment("exp")
    return server.stores.tracking.create_run(experiment_id, user_id="x", start_time=1).info.run_id


def assert_error(response: httpx.Response, status: int, code: str, *named: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code
    for word in named:
        assert word in body["message"]


# -- authentication ----------------------------------------------------------------------------
def test_anonymous_request_is_unauthenticated(server: Server) -> None:
    response = server.http.get(f"{V1}/experiments")
    assert_error(response, 401, "UNAUTHENTICATED", "Bearer")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("Bearer plt_not-a-token", id="unknown-token"),
        pytest.param("Basic !!!", id="malformed-basic"),
        pytest.param("Token abc", id="unknown-scheme"),
    ],
)
def test_bad_credentials_are_unauthenticated(server: Server, header: str) -> None:
    response = server.http.get(f"{V1}/experiments", headers={"Authorization": header})
    assert_error(response, 401, "UNAUTHENTICATED")


def test_http_basic_with_the_token_as_password_works(server: Server) -> None:
    basic = base64.b64encode(f"viewer:{server.tokens['viewer']}".encode()).decode()
    response = server.http.get(f"{V1}/users/me", headers={"Authorization": f"Basic {basic}"})
    assert response.status_code == 200
    assert response.json()["name"] == "viewer"


def test_disabled_users_token_stops_working(server: Server) -> None:
    server.stores.auth.update_user("editor", active=False)
    assert_error(server.request("editor", "GET", "/users/me"), 401, "UNAUTHENTICATED")


# -- roles -------------------------------------------------------------------------------------
def test_viewer_reads_but_cannot_write(server: Server, run_id: str) -> None:
    assert server.request("viewer", "GET", f"/runs/{run_id}").status_code == 200
    assert server.request("viewer", "GET", "/experiments").status_code == 200
    response = server.request("viewer", "POST", "/experiments", json={"name": "mine"})
    assert_error(response, 403, "PERMISSION_DENIED", "viewer")
    response = server.request("viewer", "POST", f"/runs/{run_id}/log-batch", json={})
    assert_error(response, 403, "PERMISSION_DENIED")


def test_editor_writes(server: Server, run_id: str) -> None:
    response = server.request("editor", "POST", "/experiments", json={"name": "mine"})
    assert response.status_code == 201
    assert server.stores.tracking.get_experiment(response.json()["experiment_id"]).name == "mine"
    batch = {"metrics": [{"key": "acc", "value": 0.9, "timestamp": 1}]}
    assert (
        server.request("editor", "POST", f"/runs/{run_id}/log-batch", json=batch).status_code == 204
    )
    assert server.stores.tracking.get_run(run_id).data.metrics == {"acc": 0.9}


def test_created_run_defaults_to_the_caller_and_now(server: Server) -> None:
    experiment_id = server.stores.tracking.create_experiment("exp")
    response = server.request("editor", "POST", "/runs", json={"experiment_id": experiment_id})
    assert response.status_code == 201
    info = response.json()["info"]
    assert info["user_id"] == "editor" and info["start_time"] > 0


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        pytest.param("GET", "/users", None, id="list-users"),
        pytest.param("POST", "/users", {"name": "eve", "role": "admin"}, id="create-user"),
        pytest.param("GET", "/users/viewer", None, id="get-user"),
        pytest.param("PATCH", "/users/editor", {"role": "admin"}, id="promote-self"),
        pytest.param("POST", "/tokens", {"user_name": "viewer"}, id="create-token"),
        pytest.param("GET", "/tokens", None, id="list-all-tokens"),
        pytest.param("GET", "/tokens?user=viewer", None, id="list-others-tokens"),
        pytest.param("DELETE", "/tokens/abc", None, id="revoke-token"),
        pytest.param("GET", "/audit", None, id="audit"),
    ],
)
def test_admin_only_endpoints_refuse_an_editor(
    server: Server, method: str, path: str, body: dict[str, str] | None
) -> None:
    response = server.request("editor", method, path, json=body)
    assert_error(response, 403, "PERMISSION_DENIED", "editor")


def test_users_see_themselves_and_their_own_tokens(server: Server) -> None:
    assert server.request("viewer", "GET", "/users/me").json()["role"] == "viewer"
    tokens = server.request("viewer", "GET", "/tokens", params={"user": "viewer"}).json()
    assert [t["user_name"] for t in tokens] == ["viewer"]
    assert "secret" not in tokens[0] and server.tokens["viewer"] not in str(tokens)


def test_admin_manages_users_and_tokens(server: Server) -> None:
    created = server.request("admin", "POST", "/users", json={"name": "eve", "role": "editor"})
    assert created.status_code == 201
    issued = server.request("admin", "POST", "/tokens", json={"user_name": "eve"}).json()
    eve = {"Authorization": f"Bearer {issued['secret']}"}
    assert server.http.get(f"{V1}/users/me", headers=eve).json()["name"] == "eve"
    verified = server.request("admin", "POST", "/tokens/verify", json={"secret": issued["secret"]})
    assert verified.json()["name"] == "eve"
    revoke = server.request("admin", "DELETE", f"/tokens/{issued['token']['token_id']}")
    assert revoke.status_code == 204
    assert server.request("admin", "POST", "/tokens/verify", json={"secret": "nope"}).json() is None
    # Data-plane replicas verify their callers' tokens under a service user's token.
    verified = server.request(
        "viewer", "POST", "/tokens/verify", json={"secret": server.tokens["editor"]}
    )
    assert verified.json()["name"] == "editor"


@pytest.mark.parametrize("name", ["local", "Local", "plinth-canary"])
def test_names_the_platform_acts_under_are_reserved(server: Server, name: str) -> None:
    response = server.request("admin", "POST", "/users", json={"name": name, "role": "admin"})
    assert_error(response, 400, "INVALID_PARAMETER_VALUE", "reserved", "choose another name")
    assert name not in [u["name"] for u in server.request("admin", "GET", "/users").json()]


def test_an_account_with_a_reserved_name_from_before_cannot_act(server: Server) -> None:
    # Created before the names were reserved, straight in the database as an old Plinth did.
    from sqlalchemy.orm import Session

    from plinth.store.sql.models import UserRow

    assert isinstance(server.stores.auth, SqlAuthStore)
    with Session(server.stores.auth.engine) as session, session.begin():
        session.add(UserRow(name="local", role=Role.ADMIN, created_at=1, is_active=True))
    token = server.stores.auth.create_token("local")[1]

    response = server.http.get(f"{V1}/experiments", headers={"Authorization": f"Bearer {token}"})

    assert_error(response, 403, "PERMISSION_DENIED", "reserved", "plinth users disable local")


def test_http_basic_without_a_colon_says_what_is_expected(server: Server) -> None:
    credentials = base64.b64encode(server.tokens["editor"].encode()).decode()

    response = server.http.get(
        f"{V1}/experiments", headers={"Authorization": f"Basic {credentials}"}
    )

    assert_error(response, 401, "UNAUTHENTICATED", "user:token")


def test_audit_lists_who_did_what(server: Server) -> None:
    server.request("editor", "POST", "/experiments", json={"name": "audited"})
    server.request("admin", "POST", "/users", json={"name": "eve", "role": "viewer"})
    events = server.request("admin", "GET", "/audit", params={"limit": 2}).json()
    assert [(e["user_name"], e["action"]) for e in events] == [
        ("admin", "create_user"),
        ("editor", "create_experiment"),
    ]
    mine = server.request("admin", "GET", "/audit", params={"user": "editor"}).json()
    assert [e["object_id"] for e in mine] == [events[1]["object_id"]]
    later = server.request("admin", "GET", "/audit", params={"since": events[0]["timestamp"] + 1})
    assert later.json() == []


def test_only_an_admin_records_audit_events_and_as_themselves(server: Server) -> None:
    body = {"action": "delete_run", "object_type": "run", "object_id": "r1"}
    for role in ("viewer", "editor", "approver"):
        response = server.request(role, "POST", "/audit", json=body)
        assert_error(response, 403, "PERMISSION_DENIED", "admin")
    assert server.stores.auth.list_audit_events(user_name="editor") == []
    assert server.request("admin", "POST", "/audit", json=body).status_code == 204
    (event,) = [e for e in server.stores.auth.list_audit_events() if e.object_id == "r1"]
    assert (event.action, event.user_name) == ("delete_run", "admin")


# -- bad input ---------------------------------------------------------------------------------
def test_invalid_json_body_is_a_400(server: Server) -> None:
    json_type = {"Content-Type": "application/json"}
    response = server.request("editor", "POST", "/experiments", content=b"{not", headers=json_type)
    assert_error(response, 400, "INVALID_PARAMETER_VALUE", "JSON")
    response = server.request("editor", "POST", "/experiments", content=b"name=x")
    assert_error(response, 400, "INVALID_PARAMETER_VALUE", "body")


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        pytest.param("POST", "/experiments", {}, "name", id="missing-field"),
        pytest.param("POST", "/experiments", {"name": "x", "nme": 1}, "nme", id="unknown-field"),
        pytest.param(
            "POST", "/experiments", {"name": "x", "tags": {"a": 1}}, "tags", id="tags-shape"
        ),
        pytest.param(
            "POST", "/runs", {"experiment_id": "0", "start_time": "now"}, "start_time", id="int"
        ),
        pytest.param("PATCH", "/runs/{run}", {"status": "DONE"}, "status", id="enum"),
        pytest.param(
            "POST",
            "/runs/{run}/log-batch",
            {"metrics": [{"key": "m", "value": "high", "timestamp": 1}]},
            "metrics.0.value",
            id="metric-value",
        ),
        pytest.param(
            "POST",
            "/runs/{run}/log-batch",
            {"metrics": [{"key": "m", "value": 1, "timestamp": 1, "step": 1.5}]},
            "metrics.0.step",
            id="metric-step",
        ),
        pytest.param("POST", "/runs/{run}/log-batch", [], "body", id="not-an-object"),
        pytest.param(
            "POST",
            "/runs/{run}/log-batch",
            {"metrics": [{"key": "m", "value": 1, "timestamp": 1, "run_id": "0" * 32}]},
            "metrics[0].run_id",
            id="metric-other-run",
        ),
        pytest.param(
            "POST",
            "/runs/{run}/outputs",
            {"models": [{"model_id": "m-1", "step": "first"}]},
            "models.0.step",
            id="output-step",
        ),
        pytest.param("GET", "/experiments?max_results=many", None, "max_results", id="query-int"),
        pytest.param("GET", "/runs?view_type=SOME", None, "view_type", id="query-enum"),
        pytest.param("GET", "/runs?filer=x", None, "filer", id="query-misspelt"),
        pytest.param("GET", "/audit?since=yesterday", None, "since", id="audit-since"),
        pytest.param("POST", "/users", {"name": "eve", "role": "god"}, "role", id="role"),
    ],
)
def test_wrong_types_are_400s_naming_the_field(
    server: Server, run_id: str, method: str, path: str, body: object, field: str
) -> None:
    who = "admin" if path.startswith(("/users", "/audit")) else "editor"
    response = server.request(who, method, path.format(run=run_id), json=body)
    assert_error(response, 400, "INVALID_PARAMETER_VALUE", field)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", "/runs/" + "0" * 32, id="run"),
        pytest.param("GET", "/experiments/424242", id="experiment"),
        pytest.param("GET", "/experiments/by-name?name=nope", id="experiment-name"),
        pytest.param("GET", "/runs/{run}/comments/extra", id="no-route"),
        pytest.param("DELETE", "/runs/{run}/tags/never-set", id="tag"),
        pytest.param("GET", "/users/nobody", id="user"),
        pytest.param("DELETE", "/tokens/nope", id="token"),
    ],
)
def test_unknown_ids_are_404s(server: Server, run_id: str, method: str, path: str) -> None:
    response = server.request("admin", method, path.format(run=run_id))
    assert_error(response, 404, "RESOURCE_DOES_NOT_EXIST")


def test_no_v1_route_answers_garbage_with_a_500(server: Server) -> None:
    spec = server.http.get("/openapi.json").json()
    routes = [(m.upper(), p) for p, ops in spec["paths"].items() if p.startswith(V1) for m in ops]
    assert len(routes) > 25
    for method, path in routes:
        url = re.sub(r"\{[^}]+\}", "x", path)
        for body in (None, {"junk": 1}, [1], "text"):
            response = server.http.request(method, url, headers=server.as_("admin"), json=body)
            assert response.status_code < 500, (method, url, body, response.text)
            assert response.is_success or response.json()["error_code"]


def test_malformed_ids_are_400s(server: Server) -> None:
    response = server.request("viewer", "GET", "/runs/bad%20id")
    assert_error(response, 400, "INVALID_PARAMETER_VALUE", "run ID")


def test_non_finite_metrics_travel_as_strings(server: Server, run_id: str) -> None:
    metrics = [{"key": k, "value": k, "timestamp": 1} for k in ("NaN", "Infinity", "-Infinity")]
    response = server.request(
        "editor", "POST", f"/runs/{run_id}/log-batch", json={"metrics": metrics}
    )
    assert response.status_code == 204, response.text
    run = server.request("viewer", "GET", f"/runs/{run_id}").json()
    assert run["data"]["metrics"] == {
        "NaN": "NaN",
        "Infinity": "Infinity",
        "-Infinity": "-Infinity",
    }
    history = server.request("viewer", "GET", f"/runs/{run_id}/metrics/NaN").json()
    assert history == {
        "items": [{"key": "NaN", "value": "NaN", "timestamp": 1, "step": 0}],
        "next_page_token": None,
    }


# -- documentation -----------------------------------------------------------------------------
def test_openapi_and_docs_are_served(server: Server) -> None:
    spec = server.http.get("/openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    assert {"/api/v1/runs/{run_id}/log-batch", "/api/v1/audit", "/api/v1/tokens"} <= set(paths)
    docs = server.http.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
