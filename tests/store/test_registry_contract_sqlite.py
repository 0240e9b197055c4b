"""The registry contract on SQLite, the embedded default, plus SQLite-only behaviour:
registrations racing from two processes, and configured protected aliases."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.store.contract.registry import RegistryStoreContract, register_in_processes

from plinth.entities import LOCAL_USER
from plinth.entities.registry import PackageInspector
from plinth.errors import PermissionDeniedError
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
def actor() -> str:
    return LOCAL_USER


class TestSqliteRegistryStore(RegistryStoreContract):
    __test__ = True

    @pytest.fixture
    def registry_with_inspector(
        self, sqlite_uri: str, stores: Stores
    ) -> Callable[[PackageInspector | None], RegistryStore]:
        return lambda inspector: open_sql_stores(sqlite_uri, package_inspector=inspector).registry


@pytest.mark.slow
def test_two_processes_registering_at_once_get_distinct_versions(tmp_path: Path) -> None:
    register_in_processes(f"sqlite:///{tmp_path / 'shared.db'}")


def test_protected_aliases_are_configurable(sqlite_uri: str) -> None:
    registry = open_sql_stores(sqlite_uri, protected_aliases=("Gold",)).registry
    registry.create_model_version("churn", "s1")
    registry.set_registered_model_alias("churn", "champion", "1")
    with pytest.raises(PermissionDeniedError, match="@gold"):
        registry.set_registered_model_alias("churn", "gold", "1")
