"""The serving contract on the REST store, calling an in-process server over SQLite (auth on,
as the bootstrapped admin). Registry set-up goes straight to the server's SQL stores as the
embedded user ``local``, which the four-eyes rule exempts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.store.contract.serving import ServingStoreContract

from plinth.config import Settings
from plinth.server.app import create_app
from plinth.server.serving import ServingOptions
from plinth.store.base import RegistryStore
from plinth.store.factory import Stores, open_sql_stores
from plinth.store.rest import rest_stores
from plinth.store.sql import SqlTrackingStore

pytestmark = pytest.mark.filterwarnings("ignore::starlette.exceptions.StarletteDeprecationWarning")


@pytest.fixture
def sql(settings: Settings) -> Iterator[Stores]:
    stores = open_sql_stores(settings.store_uri)
    yield stores
    assert isinstance(stores.tracking, SqlTrackingStore)
    stores.tracking.engine.dispose()


@pytest.fixture
def stores(settings: Settings, sql: Stores) -> Iterator[Stores]:
    from fastapi.testclient import TestClient

    app = create_app(settings, stores=sql, auth=True, serving=ServingOptions(control=False))
    token = settings.admin_token_path.read_text().strip()
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        yield rest_stores(client)


@pytest.fixture
def admin_registry(sql: Stores) -> RegistryStore:
    return sql.registry


class TestRestServingStore(ServingStoreContract):
    __test__ = True
