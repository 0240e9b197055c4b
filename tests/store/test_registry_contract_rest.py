"""The registry contract on the REST store, calling an in-process server over SQLite.

As in ``test_contract_rest``, ``TestClient`` is the ``httpx.Client`` under the REST store, so
routing, auth, validation, error mapping and JSON run unchanged. The store authenticates
with the bootstrapped admin token; ``as_user`` gives the other identities the governance
tests need (approvers) their own user, token and client, so four eyes is checked for real.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from tests.store.contract.registry import AsUser, RegistryStoreContract

from plinth.auth.bootstrap import ADMIN_USER
from plinth.config import Settings
from plinth.entities import Role
from plinth.entities.registry import PackageInspector, Stage
from plinth.errors import InvalidArgumentError, NotFoundError
from plinth.server.app import create_app
from plinth.store.base import RegistryStore
from plinth.store.factory import Stores, open_sql_stores, open_stores
from plinth.store.rest import RestRegistryStore, rest_stores
from plinth.store.sql import SqlTrackingStore
from plinth.store.sql.registry import SqlRegistryStore

# Starlette's TestClient warns on import that it prefers httpx2 over httpx; it works with both.
pytestmark = pytest.mark.filterwarnings("ignore::starlette.exceptions.StarletteDeprecationWarning")

Connect = Callable[[str], httpx.Client]


@pytest.fixture
def sql(settings: Settings) -> Iterator[Stores]:
    """The stores the server runs on."""
    stores = open_sql_stores(settings.store_uri)
    yield stores
    assert isinstance(stores.tracking, SqlTrackingStore)
    stores.tracking.engine.dispose()


@pytest.fixture
def connect(settings: Settings, sql: Stores) -> Iterator[Connect]:
    """Opens clients of one in-process server, each authenticated by its token."""
    # Imported here, under pytestmark's filters: the import itself warns.
    from fastapi.testclient import TestClient

    app = create_app(settings, stores=sql, auth=True)
    clients: list[TestClient] = []

    def open_client(token: str) -> httpx.Client:
        clients.append(TestClient(app, headers={"Authorization": f"Bearer {token}"}))
        return clients[-1]

    yield open_client
    for client in clients:
        client.close()


@pytest.fixture
def stores(settings: Settings, connect: Connect) -> Stores:
    return rest_stores(connect(settings.admin_token_path.read_text().strip()))


@pytest.fixture
def actor() -> str:
    return ADMIN_USER


class TestRestRegistryStore(RegistryStoreContract):
    __test__ = True

    @pytest.fixture
    def as_user(self, sql: Stores, connect: Connect) -> AsUser:
        """The registry over REST as ``name``, an approver created on first use."""
        registries: dict[str, RegistryStore] = {}

        def as_user(name: str) -> RegistryStore:
            if name not in registries:
                sql.auth.create_user(name, Role.APPROVER)
                registries[name] = RestRegistryStore(connect(sql.auth.create_token(name)[1]))
            return registries[name]

        return as_user

    @pytest.fixture
    def registry_with_inspector(
        self, sql: Stores, stores: Stores
    ) -> Callable[[PackageInspector | None], RegistryStore]:
        """The REST store of a server whose registry uses ``inspector``."""

        def with_inspector(inspector: PackageInspector | None) -> RegistryStore:
            assert isinstance(sql.registry, SqlRegistryStore)
            sql.registry.package_inspector = inspector
            return stores.registry

        return with_inspector

    def test_signature_check_without_an_inspector_fails(self, stores: Stores) -> None:
        """Replaces the contract's test: a server always inspects packages through its
        artifact store, so the gate reports what it found at the source, never a missing
        inspector."""
        stores.registry.create_model_version("churn", "s1")
        request = stores.registry.request_promotion(
            "churn", "1", stage=Stage.PRODUCTION, checks=["signature"]
        )
        assert not request.checks[0].passed
        assert "no MLmodel package at s1" in request.checks[0].detail


# -- the REST store's own behaviour: names and ids that cannot travel as a path segment --------
@pytest.mark.parametrize(
    "lookup",
    [
        pytest.param(lambda r: r.get_registered_model("churn/versions/1"), id="model"),
        pytest.param(lambda r: r.get_registered_model(""), id="empty-model"),
        pytest.param(lambda r: r.get_model_version("churn/versions", "1"), id="version"),
        pytest.param(lambda r: r.get_model_version_by_alias("churn", "a/../b"), id="alias"),
        pytest.param(lambda r: r.get_promotion_request("x/approve"), id="promotion"),
        pytest.param(lambda r: r.get_logged_model(""), id="logged-model"),
    ],
)
def test_names_with_slashes_are_not_found_rather_than_routed_elsewhere(
    stores: Stores, lookup: Callable[[RegistryStore], object]
) -> None:
    stores.registry.create_model_version("churn", "s1")
    with pytest.raises(NotFoundError):
        lookup(stores.registry)


def test_names_that_cannot_exist_are_refused_before_they_travel(stores: Stores) -> None:
    with pytest.raises(InvalidArgumentError, match="cannot contain '/'"):
        stores.registry.create_model_version("team/churn", "s1")
    with pytest.raises(InvalidArgumentError, match="alias"):
        stores.registry.set_registered_model_alias("churn", "a/b", "1")
    with pytest.raises(InvalidArgumentError, match="version"):
        stores.registry.get_model_version("churn", "1/stage")


def test_open_stores_picks_the_rest_registry_for_http_uris() -> None:
    stores = open_stores(Settings(uri="http://plinth.test:5000/", token="plt_secret"))
    assert isinstance(stores.registry, RestRegistryStore)
