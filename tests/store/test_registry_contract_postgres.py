"""The registry contract on PostgreSQL (a fresh schema per test; ``-m postgres``), plus
registrations racing from two processes (row locks, not SQLite's file lock, keep order)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from tests.store.contract.registry import RegistryStoreContract, register_in_processes

from plinth.entities import LOCAL_USER
from plinth.entities.registry import PackageInspector
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
def actor() -> str:
    return LOCAL_USER


class TestPostgresRegistryStore(RegistryStoreContract):
    __test__ = True

    @pytest.fixture
    def registry_with_inspector(
        self, postgres_uri: str, stores: Stores
    ) -> Callable[[PackageInspector | None], RegistryStore]:
        return lambda inspector: open_sql_stores(postgres_uri, package_inspector=inspector).registry


@pytest.mark.slow
def test_two_processes_registering_at_once_get_distinct_versions(postgres_uri: str) -> None:
    register_in_processes(postgres_uri)
