"""The store contracts on PostgreSQL (a fresh schema per test; ``-m postgres``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.store.contract.auth import AuthStoreContract
from tests.store.contract.tracking import TrackingStoreContract

from plinth.entities import LOCAL_USER
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
def actor() -> str:
    return LOCAL_USER


class TestPostgresTrackingStore(TrackingStoreContract):
    __test__ = True


class TestPostgresAuthStore(AuthStoreContract):
    __test__ = True
