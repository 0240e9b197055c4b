"""The serving contract on PostgreSQL (a fresh schema per test)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.store.contract.serving import ServingStoreContract

from plinth.store.base import RegistryStore
from plinth.store.factory import Stores, open_sql_stores
from plinth.store.sql import SqlTrackingStore

pytestmark = pytest.mark.postgres


@pytest.fixture
def stores(postgres_uri: str) -> Iterator[Stores]:
    stores = open_sql_stores(postgres_uri)
    yield stores
    assert isinstance(stores.tracking, SqlTrackingStore)
    stores.tracking.engine.dispose()


@pytest.fixture
def admin_registry(stores: Stores) -> RegistryStore:
    return stores.registry


class TestPostgresServingStore(ServingStoreContract):
    __test__ = True
