"""The serving contract on PostgreSQL (a fresh schema per test)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from tests.store.contract.serving import ServingStoreContract, approve, route

from plinth.entities.registry import Stage
from plinth.entities.serving import RouteRole
from plinth.errors import NotFoundError
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


def test_a_route_write_racing_a_version_delete_never_routes_to_the_deleted_version(
    stores: Stores,
) -> None:
    """The route change passed its registry checks, then a delete that had already locked the
    model (and checked no endpoint routes to the version) commits: the write must see that."""
    for _ in range(2):
        stores.registry.create_model_version("churn", "s")
    approve(stores.registry, "churn", "1", Stage.PRODUCTION)
    stores.serving.create_endpoint("churn", [route("1")])
    assert isinstance(stores.tracking, SqlTrackingStore)
    engine = stores.tracking.engine
    outcome: list[BaseException | object] = []

    def add_shadow() -> None:
        try:
            shadow = route("2", 0, role=RouteRole.SHADOW)
            outcome.append(stores.serving.set_routes("churn", [route("1"), shadow]))
        except BaseException as exc:  # reported below; a thread cannot raise into the test
            outcome.append(exc)

    with engine.connect() as deleter:
        # What delete_model_version does first: lock the model row.
        deleter.execute(text("SELECT name FROM registered_models WHERE name = 'churn' FOR UPDATE"))
        deleter_pid = deleter.execute(text("SELECT pg_backend_pid()")).scalar_one()
        writer = threading.Thread(target=add_shadow)
        writer.start()
        deadline = time.monotonic() + 30
        while not _blocked_by(engine, deleter_pid) and writer.is_alive():
            assert time.monotonic() < deadline, "the route write never waited for the lock"
            time.sleep(0.05)
        deleter.execute(text("DELETE FROM model_versions WHERE name = 'churn' AND version = 2"))
        deleter.commit()
    writer.join(timeout=30)

    assert len(outcome) == 1 and isinstance(outcome[0], NotFoundError), outcome
    assert "churn/2 is no longer the registered version" in str(outcome[0])
    assert stores.serving.get_endpoint("churn").routes == (route("1"),)


def _blocked_by(engine: Engine, pid: int) -> bool:
    """Whether some session waits on a lock that backend ``pid`` holds (other tests' locks,
    in parallel on the same database, do not count)."""
    with engine.connect() as conn:
        waiting = text(
            "SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))"
        )
        return bool(conn.execute(waiting, {"pid": pid}).scalar())
