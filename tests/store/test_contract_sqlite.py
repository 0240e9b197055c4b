"""The store contracts on SQLite, the embedded default."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.store.contract.auth import AuthStoreContract
from tests.store.contract.tracking import TrackingStoreContract

from plinth.entities import LOCAL_USER
from plinth.store.factory import Stores, open_sql_stores
from plinth.store.sql import SqlTrackingStore


@pytest.fixture
def stores(sqlite_uri: str) -> Iterator[Stores]:
    stores = open_sql_stores(sqlite_uri)
    yield stores
    assert isinstance(stores.tracking, SqlTrackingStore)
    stores.tracking.engine.dispose()


@pytest.fixture
def actor() -> str:
    return LOCAL_USER


class TestSqliteTrackingStore(TrackingStoreContract):
    __test__ = True


class TestSqliteAuthStore(AuthStoreContract):
    __test__ = True
