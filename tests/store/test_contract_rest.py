"""The store contracts on the REST store, calling an in-process server over SQLite.

``TestClient`` is an ``httpx.Client``, so the REST store runs unchanged against the real app
(routing, auth, validation, error mapping, JSON encoding) without a socket. It authenticates
with the admin token the server bootstraps, so mutations are attributed to ``admin``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from tests.store.contract.auth import AuthStoreContract
from tests.store.contract.tracking import TrackingStoreContract

from plinth.auth.bootstrap import ADMIN_USER
from plinth.config import Settings
from plinth.entities import RunTag
from plinth.errors import BackendUnavailableError, NotFoundError, PlinthError
from plinth.server.app import create_app
from plinth.store.factory import Stores, open_sql_stores, open_stores
from plinth.store.rest import RestTrackingStore, RetryPolicy, rest_stores
from plinth.store.rest.client import new_http_client
from plinth.store.sql import SqlTrackingStore

# Starlette's TestClient warns on import that it prefers httpx2 over httpx; it works with both.
pytestmark = pytest.mark.filterwarnings("ignore::starlette.exceptions.StarletteDeprecationWarning")


@pytest.fixture
def stores(settings: Settings) -> Iterator[Stores]:
    # Imported here, under pytestmark's filters: the import itself warns.
    from fastapi.testclient import TestClient

    sql = open_sql_stores(settings.store_uri)
    app = create_app(settings, stores=sql, auth=True)
    token = settings.admin_token_path.read_text().strip()
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        yield rest_stores(client)
    assert isinstance(sql.tracking, SqlTrackingStore)
    sql.tracking.engine.dispose()


@pytest.fixture
def actor() -> str:
    return ADMIN_USER


class TestRestTrackingStore(TrackingStoreContract):
    __test__ = True
    impersonates = False


class TestRestAuthStore(AuthStoreContract):
    __test__ = True
    impersonates = False


# -- the REST store's own behaviour: transport failures, retries, foreign error bodies --------
def mock_store(
    handler: Callable[[httpx.Request], httpx.Response], pauses: list[float]
) -> RestTrackingStore:
    http = httpx.Client(transport=httpx.MockTransport(handler), base_url="http://plinth.test")
    return RestTrackingStore(http, retry=RetryPolicy(attempts=3, sleep=pauses.append))


def test_unreachable_server_is_backend_unavailable_naming_the_url() -> None:
    pauses: list[float] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(BackendUnavailableError, match=r"http://plinth\.test/api/v1/runs/r1"):
        mock_store(refuse, pauses).get_run("r1")
    assert pauses == [0.2, 0.4]


def test_failed_connects_are_retried_even_for_posts() -> None:
    calls: list[str] = []

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) == 1:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"experiment_id": "7"})

    assert mock_store(flaky, []).create_experiment("e") == "7"
    assert calls == ["POST", "POST"]


def test_a_post_that_may_have_reached_the_server_is_not_retried() -> None:
    calls: list[str] = []

    def drop(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        raise httpx.ReadError("connection reset", request=request)

    with pytest.raises(BackendUnavailableError):
        mock_store(drop, []).log_batch("r1", tags=[RunTag("k", "v")])
    assert calls == ["POST"]


@pytest.mark.parametrize(
    ("method", "calls"),
    [pytest.param("GET", 3, id="idempotent"), pytest.param("POST", 1, id="post")],
)
def test_503_is_retried_for_idempotent_requests_only(method: str, calls: int) -> None:
    seen: list[str] = []

    def busy(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        return httpx.Response(
            503, json={"error_code": "TEMPORARILY_UNAVAILABLE", "message": "busy"}
        )

    store = mock_store(busy, [])
    with pytest.raises(BackendUnavailableError, match="busy"):
        store.get_run("r1") if method == "GET" else store.restore_run("r1")
    assert seen == [method] * calls


@pytest.mark.parametrize(
    ("status", "error"),
    [
        pytest.param(404, NotFoundError, id="404"),
        pytest.param(502, BackendUnavailableError, id="502"),
        pytest.param(500, PlinthError, id="500"),
    ],
)
def test_error_pages_without_our_json_map_by_status(status: int, error: type[PlinthError]) -> None:
    def proxy(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, text="<html>Bad Gateway</html>")

    with pytest.raises(error, match=f"HTTP {status} from http://plinth.test"):
        mock_store(proxy, []).get_run("r1")


def test_open_stores_picks_the_rest_store_for_http_uris() -> None:
    stores = open_stores(Settings(uri="http://plinth.test:5000/", token="plt_secret"))
    assert isinstance(stores.tracking, RestTrackingStore)
    http = new_http_client("http://plinth.test:5000/", token="plt_secret")
    assert http.headers["Authorization"] == "Bearer plt_secret"
    assert str(http.base_url) == "http://plinth.test:5000"
