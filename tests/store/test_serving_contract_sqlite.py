"""The serving contract on SQLite, the embedded default."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.store.contract.serving import ServingStoreContract

from plinth.store.base import RegistryStore
from plinth.store.factory import Stores, open_sql_stores
from plinth.store.sql import SqlTrackingStore


@pytest.fixture
def stores(sqlite_uri: str) -> Iterator[Stores]:
    stores = open_sql_stores(sqlite_uri)
    yield stores
    assert isinstance(stores.tracking, SqlTrackingStore)
    stores.tracking.engine.dispose()


@pytest.fixture
def admin_registry(stores: Stores) -> RegistryStore:
    return stores.registry


class TestSqliteServingStore(ServingStoreContract):
    __test__ = True
