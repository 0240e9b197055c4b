"""The serving contract on SQLite, the embedded default."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from tests.store.contract.serving import ServingStoreContract, approve, route

from plinth.entities.guardrails import CanaryAction
from plinth.entities.registry import Stage
from plinth.entities.serving import Route, RouteRole
from plinth.errors import ConflictError, NotFoundError
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


class TestAStoppedCompletion:
    """A canary completion claimed and then stopped half way (a crash, faked by making the
    registry step raise once), as the next judgement finds it."""

    @pytest.fixture
    def stopped(self, stores: Stores, monkeypatch: pytest.MonkeyPatch) -> Stores:
        registry = stores.registry
        for _ in range(2):
            registry.create_model_version("churn", "s")
        approve(registry, "churn", "1", Stage.PRODUCTION)
        approve(registry, "churn", "2", Stage.STAGING)
        stores.serving.create_endpoint("churn", [route("1")])
        stores.serving.start_canary("churn", route("2"), steps=(50, 100), interval_s=0)
        approve(registry, "churn", "2", Stage.PRODUCTION)
        serving = type(stores.serving)

        def crash(*_: object) -> None:
            monkeypatch.undo()
            raise RuntimeError("killed")

        monkeypatch.setattr(serving, "_promote_version", crash)
        with pytest.raises(RuntimeError, match="killed"):
            stores.serving.promote("churn")
        canary = stores.serving.get_endpoint("churn").canary
        assert canary is not None and canary.completing
        return stores

    def test_the_next_judgement_finishes_it(self, stopped: Stores) -> None:
        decision = stopped.serving.advance_canary("churn")
        assert decision.action is CanaryAction.COMPLETE
        assert stopped.serving.get_endpoint("churn").routes == (route("2"),)

    def test_a_user_cannot_roll_it_back_while_its_approval_stands(self, stopped: Stores) -> None:
        with pytest.raises(ConflictError, match="being promoted"):
            stopped.serving.rollback("churn")

    @pytest.mark.parametrize("by", ["controller", "user"])
    def test_it_rolls_back_once_the_approval_was_withdrawn(self, stopped: Stores, by: str) -> None:
        registry = stopped.registry
        approve(registry, "churn", "2", Stage.ARCHIVED)

        if by == "controller":
            decision = stopped.serving.advance_canary("churn")
            assert decision.action is CanaryAction.ROLLBACK
            assert "no longer approved for Production" in decision.reason
        else:
            stopped.serving.rollback("churn", reason="approval gone")

        endpoint = stopped.serving.get_endpoint("churn")
        assert endpoint.canary is None and endpoint.routes == (route("1"),)
        assert registry.get_model_version("churn", "1").current_stage is Stage.PRODUCTION


def test_a_version_registered_anew_after_the_check_is_not_routed(
    stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between a route change's governance check and its write, the shadowed model is
    deleted and registered again: its version 1 is another model now, and not routed."""
    registry = stores.registry
    registry.create_model_version("churn", "s")
    approve(registry, "churn", "1", Stage.PRODUCTION)
    registry.create_model_version("side", "first")
    stores.serving.create_endpoint("churn", [route("1")])
    serving = type(stores.serving)
    check = serving._check

    def check_then_replace(self: Any, routes: Sequence[Route]) -> Any:
        checked = check(self, routes)
        registry.delete_registered_model("side")
        registry.create_model_version("side", "second")  # version 1 again
        return checked

    monkeypatch.setattr(serving, "_check", check_then_replace)
    shadow = Route(model_name="side", version="1", weight=0, role=RouteRole.SHADOW)
    with pytest.raises(NotFoundError, match="side/1 is no longer the registered version"):
        stores.serving.set_routes("churn", [route("1"), shadow])

    assert stores.serving.get_endpoint("churn").routes == (route("1"),)
