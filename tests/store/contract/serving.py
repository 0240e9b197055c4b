"""The ``ServingStore`` contract, run against every backend (SQLite, PostgreSQL, REST).

Backend modules subclass ``ServingStoreContract`` with ``__test__ = True`` and provide:

* ``stores``: ``Stores`` on a fresh backend (the store under test);
* ``admin_registry``: the same backend's registry acting as the embedded user ``local`` (the
  four-eyes exemption), used to put versions in Production or Staging for the tests.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from plinth.entities import now_ms
from plinth.entities.guardrails import CanaryAction
from plinth.entities.registry import Stage
from plinth.entities.route_stats import RouteStats, minute_of
from plinth.entities.serving import EndpointEventType, Feedback, Route, RouteRole, Slo
from plinth.errors import (
    AlreadyExistsError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
)
from plinth.store.base import RegistryStore
from plinth.store.factory import Stores
from plinth.store.sql.serving_registry import CANARY_CONTROLLER


def approve(registry: RegistryStore, name: str, version: str, stage: Stage) -> None:
    request = registry.request_promotion(
        name, version, stage=stage, archive_existing_versions=False
    )
    registry.approve_promotion(request.request_id)


def route(version: str, weight: int = 100, **kwargs: object) -> Route:
    return Route(model_name="churn", version=version, weight=weight, **kwargs)  # type: ignore[arg-type]


def stats(
    version: str,
    *,
    requests: int,
    errors: int = 0,
    invalid: int = 0,
    latency_ms: float = 2.0,
    route_label: str = "canary",
    replica: str = "r1",
) -> RouteStats:
    item = RouteStats(
        endpoint="churn",
        route=route_label,
        model_name="churn",
        version=version,
        minute=minute_of(now_ms()),
        replica=replica,
    )
    for i in range(requests):
        status = "error" if i < errors else "invalid" if i < errors + invalid else "ok"
        item.observe(latency_ms, status=status)
    return item


class ServingStoreContract:
    __test__ = False

    @pytest.fixture(autouse=True)
    def versions(self, admin_registry: RegistryStore) -> None:
        """churn v1 in Production, v2 approved for Staging, v3 only registered."""
        for _ in range(3):
            admin_registry.create_model_version("churn", "s")
        approve(admin_registry, "churn", "1", Stage.PRODUCTION)
        approve(admin_registry, "churn", "2", Stage.STAGING)

    # -- endpoints -------------------------------------------------------------------------
    def test_create_get_list_delete(self, stores: Stores) -> None:
        created = stores.serving.create_endpoint("churn", [route("1")], reason="launch")
        assert created.routes == (route("1"),) and created.revision == 1
        assert stores.serving.get_endpoint("churn") == created
        assert [e.name for e in stores.serving.list_endpoints()] == ["churn"]
        with pytest.raises(AlreadyExistsError):
            stores.serving.create_endpoint("churn", [route("1")])
        stores.serving.delete_endpoint("churn", reason="done")
        with pytest.raises(NotFoundError, match="plinth endpoints create"):
            stores.serving.get_endpoint("churn")
        kinds = [e.event_type for e in stores.serving.list_endpoint_events("churn")]
        assert kinds == [EndpointEventType.CREATED, EndpointEventType.DELETED]

    @pytest.mark.parametrize("name", ["Churn", "-x", "a b", "", "x" * 64])
    def test_bad_names_are_refused(self, stores: Stores, name: str) -> None:
        with pytest.raises(InvalidArgumentError, match=r"(?i)endpoint name"):
            stores.serving.create_endpoint(name, [route("1")])

    def test_route_shapes_are_checked(self, stores: Stores) -> None:
        with pytest.raises(InvalidArgumentError, match="add up to 100"):
            stores.serving.create_endpoint("churn", [route("1", 60)])
        with pytest.raises(InvalidArgumentError, match="at least one route"):
            stores.serving.create_endpoint("churn", [route("3", 0, role=RouteRole.SHADOW)])
        with pytest.raises(InvalidArgumentError, match="cannot take traffic"):
            stores.serving.create_endpoint(
                "churn", [route("1"), route("3", 10, role=RouteRole.SHADOW)]
            )
        with pytest.raises(NotFoundError):
            stores.serving.create_endpoint("churn", [route("9")])

    # -- governance ------------------------------------------------------------------------
    def test_live_traffic_needs_production_or_a_protected_alias(
        self, stores: Stores, admin_registry: RegistryStore
    ) -> None:
        with pytest.raises(PermissionDeniedError, match="request-promotion churn 2 --stage"):
            stores.serving.create_endpoint("churn", [route("2")])
        request = admin_registry.request_promotion("churn", "3", alias="champion")
        admin_registry.approve_promotion(request.request_id)
        assert stores.serving.create_endpoint("churn", [route("3")]).routes[0].version == "3"

    def test_variants_need_an_approved_promotion_shadows_do_not(self, stores: Stores) -> None:
        stores.serving.create_endpoint("churn", [route("1")])
        a = route("1", 50, role=RouteRole.VARIANT, variant="a")
        with pytest.raises(PermissionDeniedError, match="approved promotion request"):
            stores.serving.set_routes(
                "churn", [a, route("3", 50, role=RouteRole.VARIANT, variant="b")]
            )
        b = route("2", 50, role=RouteRole.VARIANT, variant="b")
        shadow = route("3", 0, role=RouteRole.SHADOW)
        updated = stores.serving.set_routes("churn", [a, b, shadow], sticky_key="customer_id")
        assert updated.sticky_key == "customer_id" and updated.shadows == (shadow,)
        assert updated.state.value == "ab-test"

    def test_route_changes_are_recorded_in_model_history_and_audit(
        self, stores: Stores, admin_registry: RegistryStore
    ) -> None:
        stores.serving.create_endpoint("churn", [route("1")], reason="launch")
        stores.serving.set_routes(
            "churn",
            [
                route("1", 90, role=RouteRole.VARIANT, variant="a"),
                route("2", 10, role=RouteRole.VARIANT, variant="b"),
            ],
            reason="try v2",
        )
        deployed = [
            e
            for e in admin_registry.list_model_events("churn")
            if e.event_type == "deployment_changed"
        ]
        assert [(e.version, e.details["weight"]) for e in deployed] == [
            ("1", "100"),
            ("1", "90"),
            ("2", "10"),
        ]
        assert deployed[-1].comment == "try v2" and deployed[-1].details["endpoint"] == "churn"
        actions = [e.action for e in stores.auth.list_audit_events(limit=50)]
        assert "create_endpoint" in actions and "routes_changed" in actions

    def test_staging_versions_never_take_all_live_traffic(self, stores: Stores) -> None:
        stores.serving.create_endpoint("churn", [route("1")])
        lone = route("2", 100, role=RouteRole.VARIANT, variant="b")
        with pytest.raises(InvalidArgumentError, match="at least two variants"):
            stores.serving.set_routes("churn", [lone])
        mixed = [route("1", 50), route("2", 50, role=RouteRole.VARIANT, variant="b")]
        with pytest.raises(InvalidArgumentError, match="variants only"):
            stores.serving.set_routes("churn", mixed)
        with pytest.raises(InvalidArgumentError, match="Canary routes"):
            stores.serving.create_endpoint("other", [route("2", 100, role=RouteRole.CANARY)])
        with pytest.raises(InvalidArgumentError, match="two or more"):
            stores.serving.start_canary("churn", route("2"), steps=(100,))

    def test_route_change_events_cannot_be_forged(self, stores: Stores) -> None:
        stores.serving.create_endpoint("churn", [route("1")])
        with pytest.raises(InvalidArgumentError, match="written by the store"):
            stores.serving.record_endpoint_event("churn", "canary_completed")
        stores.serving.record_endpoint_event("churn", "slo_breached", comment="p99")

    def test_stale_revision_is_a_conflict(self, stores: Stores) -> None:
        stores.serving.create_endpoint("churn", [route("1")])
        stores.serving.set_routes("churn", [route("1")], expected_revision=1)
        with pytest.raises(ConflictError, match="stale"):
            stores.serving.set_routes("churn", [route("1")], expected_revision=1)

    # -- canary ----------------------------------------------------------------------------
    def start(self, stores: Stores, **kwargs: object) -> None:
        stores.serving.create_endpoint("churn", [route("1")])
        options: dict[str, object] = {
            "steps": (5, 25, 100),
            "interval_s": 0,
            "max_error_rate": 0.01,
            "max_p99_ms": 100.0,
            "min_requests": 100,
        }
        stores.serving.start_canary("churn", route("2"), **{**options, **kwargs})  # type: ignore[arg-type]

    def test_canary_ramps_step_by_step(self, stores: Stores) -> None:
        self.start(stores)
        endpoint = stores.serving.get_endpoint("churn")
        assert {r.label: r.weight for r in endpoint.routes} == {"primary": 95, "canary": 5}
        assert stores.serving.advance_canary("churn").action is CanaryAction.WAIT
        stores.serving.record_route_stats([stats("2", requests=150)])
        decision = stores.serving.advance_canary("churn")
        assert decision.action is CanaryAction.ADVANCE and decision.next_weight == 25
        endpoint = stores.serving.get_endpoint("churn")
        assert endpoint.canary is not None and endpoint.canary.step_index == 1
        assert {r.label: r.weight for r in endpoint.routes} == {"primary": 75, "canary": 25}

    def test_a_breached_guardrail_rolls_back_at_once(self, stores: Stores) -> None:
        self.start(stores)
        # 2 errors in 20 requests: certain to exceed 1% of the step's 100 requests.
        stores.serving.record_route_stats([stats("2", requests=20, errors=2)])
        decision = stores.serving.advance_canary("churn")
        assert decision.action is CanaryAction.ROLLBACK and "error" in decision.reason
        endpoint = stores.serving.get_endpoint("churn")
        assert endpoint.canary is None and endpoint.routes == (route("1"),)
        kinds = [e.event_type for e in stores.serving.list_endpoint_events("churn")]
        assert kinds[-1] == EndpointEventType.CANARY_ROLLED_BACK

    def test_a_canary_refusing_input_its_baseline_takes_rolls_back(self, stores: Stores) -> None:
        # Invalid requests are the callers' and never errors, but a canary refusing far more
        # of the same traffic than its baseline (a stricter signature, missing values it
        # cannot score) fails on input that works today.
        self.start(stores)
        baseline = stats("1", requests=1_900, invalid=19, route_label="primary")
        stores.serving.record_route_stats([baseline, stats("2", requests=101, invalid=1)])
        assert stores.serving.advance_canary("churn").action is CanaryAction.ADVANCE

        step = [
            stats("1", requests=300, invalid=3, route_label="primary", replica="r2"),
            stats("2", requests=100, invalid=40, replica="r2"),
        ]
        stores.serving.record_route_stats(step)
        decision = stores.serving.advance_canary("churn")

        assert decision.action is CanaryAction.ROLLBACK
        assert "refused as invalid" in decision.reason, decision.reason
        assert stores.serving.get_endpoint("churn").routes == (route("1"),)

    def test_slow_canary_rolls_back(self, stores: Stores) -> None:
        self.start(stores)
        stores.serving.record_route_stats([stats("2", requests=150, latency_ms=400)])
        decision = stores.serving.advance_canary("churn")
        assert decision.action is CanaryAction.ROLLBACK and "p99" in decision.reason

    def test_canary_takes_all_traffic_only_once_approved_for_production(
        self, stores: Stores, admin_registry: RegistryStore
    ) -> None:
        self.start(stores, steps=(50, 100))
        stores.serving.record_route_stats([stats("2", requests=150)])
        held = stores.serving.advance_canary("churn")
        assert held.action is CanaryAction.WAIT and "approved for Production" in held.reason
        canary = stores.serving.get_endpoint("churn").canary
        assert canary is not None and canary.current_weight == 50
        with pytest.raises(PermissionDeniedError, match="request-promotion churn 2"):
            stores.serving.promote("churn")
        assert admin_registry.get_model_version("churn", "2").current_stage is Stage.STAGING
        approve(admin_registry, "churn", "2", Stage.PRODUCTION)
        assert stores.serving.advance_canary("churn").action is CanaryAction.ADVANCE
        stores.serving.record_route_stats([stats("2", requests=300)])
        assert stores.serving.advance_canary("churn").action is CanaryAction.COMPLETE
        endpoint = stores.serving.get_endpoint("churn")
        assert endpoint.canary is None and endpoint.routes == (route("2"),)
        assert admin_registry.get_model_version("churn", "2").current_stage is Stage.PRODUCTION
        assert admin_registry.get_model_version("churn", "1").current_stage is Stage.ARCHIVED
        archival, promotion = admin_registry.list_promotion_requests(name="churn")[:2]
        assert (promotion.version, promotion.target_stage) == ("2", Stage.PRODUCTION)
        assert promotion.decided_by != CANARY_CONTROLLER
        assert (archival.version, archival.target_stage) == ("1", Stage.ARCHIVED)
        assert archival.decided_by == CANARY_CONTROLLER

    @pytest.mark.parametrize("by", ["guardrails", "user"])
    def test_a_rolled_back_canary_undoes_the_production_approval_it_was_given(
        self, stores: Stores, admin_registry: RegistryStore, by: str
    ) -> None:
        # Approved while it ran, as the held canary asks, with the default of archiving the
        # other Production versions: the baseline it still served was archived.
        self.start(stores, steps=(50, 100))
        request = admin_registry.request_promotion("churn", "2", stage=Stage.PRODUCTION)
        admin_registry.approve_promotion(request.request_id)
        assert admin_registry.get_model_version("churn", "1").current_stage is Stage.ARCHIVED

        if by == "guardrails":  # as the server's controller judges: under its own name
            stores.serving.record_route_stats([stats("2", requests=20, errors=5)])
            controller = stores.serving.with_actor(CANARY_CONTROLLER)
            assert controller.advance_canary("churn").action is CanaryAction.ROLLBACK
        else:
            stores.serving.rollback("churn", reason="not today")

        # The registry follows what the endpoint serves again.
        assert stores.serving.get_endpoint("churn").routes == (route("1"),)
        assert admin_registry.get_model_version("churn", "1").current_stage is Stage.PRODUCTION
        assert admin_registry.get_model_version("churn", "2").current_stage is Stage.ARCHIVED
        stores.serving.set_routes("churn", [route("1")], reason="still allowed")

    def test_a_pending_production_request_is_named_while_the_canary_waits(
        self, stores: Stores, admin_registry: RegistryStore
    ) -> None:
        self.start(stores, steps=(50, 100))
        request = admin_registry.request_promotion("churn", "2", stage=Stage.PRODUCTION)
        stores.serving.record_route_stats([stats("2", requests=150)])
        held = stores.serving.advance_canary("churn")
        assert held.action is CanaryAction.WAIT and request.request_id in held.reason

    def test_a_rejected_production_request_rolls_the_canary_back(
        self, stores: Stores, admin_registry: RegistryStore
    ) -> None:
        # Rejected before the canary started: the canary may still ask again.
        earlier = admin_registry.request_promotion("churn", "2", stage=Stage.PRODUCTION)
        admin_registry.reject_promotion(earlier.request_id, comment="not yet")
        self.start(stores, steps=(5, 50, 100))
        assert stores.serving.advance_canary("churn").action is CanaryAction.WAIT
        # A request rejected and followed by a new one leaves the canary running.
        request = admin_registry.request_promotion("churn", "2", stage=Stage.PRODUCTION)
        admin_registry.reject_promotion(request.request_id, comment="AUC down on segment B")
        again = admin_registry.request_promotion("churn", "2", stage=Stage.PRODUCTION)
        assert stores.serving.advance_canary("churn").action is CanaryAction.WAIT
        admin_registry.reject_promotion(again.request_id, comment="still down")

        controller = stores.serving.with_actor(CANARY_CONTROLLER)
        decision = controller.advance_canary("churn")

        assert decision.action is CanaryAction.ROLLBACK
        assert again.request_id in decision.reason and "still down" in decision.reason
        endpoint = stores.serving.get_endpoint("churn")
        assert endpoint.canary is None and endpoint.routes == (route("1"),)
        rolled_back = stores.serving.list_endpoint_events("churn")[-1]
        assert rolled_back.event_type == EndpointEventType.CANARY_ROLLED_BACK
        assert "rejected" in str(rolled_back.comment)
        assert admin_registry.get_model_version("churn", "1").current_stage is Stage.PRODUCTION
        assert admin_registry.get_model_version("churn", "2").current_stage is Stage.STAGING

    def test_a_rejection_ends_nothing_once_the_version_is_approved_or_another_request_waits(
        self, stores: Stores, admin_registry: RegistryStore
    ) -> None:
        self.start(stores, steps=(5, 50, 100))
        waiting = admin_registry.request_promotion("churn", "2", stage=Stage.PRODUCTION)
        duplicate = admin_registry.request_promotion("churn", "2", stage=Stage.PRODUCTION)
        admin_registry.reject_promotion(duplicate.request_id, comment="duplicate")
        assert stores.serving.advance_canary("churn").action is CanaryAction.WAIT
        admin_registry.approve_promotion(waiting.request_id)
        late = admin_registry.request_promotion("churn", "2", stage=Stage.PRODUCTION)
        admin_registry.reject_promotion(late.request_id, comment="already approved")

        stores.serving.record_route_stats([stats("2", requests=150)])
        decision = stores.serving.with_actor(CANARY_CONTROLLER).advance_canary("churn")

        assert decision.action is CanaryAction.ADVANCE, decision.reason
        assert admin_registry.get_model_version("churn", "2").current_stage is Stage.PRODUCTION

    def test_routes_and_shadows_change_only_through_a_running_canary(self, stores: Stores) -> None:
        self.start(stores)
        running = stores.serving.get_endpoint("churn")
        shadow = route("3", 0, role=RouteRole.SHADOW)
        # What adding a shadow sends: the current routes (the canary's among them) and it.
        for routes in ([*running.routes, shadow], [route("1")]):
            with pytest.raises(ConflictError, match="canary of churn/2 is running"):
                stores.serving.set_routes("churn", routes)
        assert stores.serving.get_endpoint("churn").routes == running.routes

    def test_a_routed_version_cannot_be_deleted_or_its_model_renamed(
        self, stores: Stores, admin_registry: RegistryStore
    ) -> None:
        # Its replicas could no longer load it, and its canary neither be judged nor rolled
        # back (both read the version).
        self.start(stores)
        with pytest.raises(PermissionDeniedError, match="endpoint 'churn' \\(canary\\)"):
            admin_registry.delete_model_version("churn", "2")
        with pytest.raises(PermissionDeniedError, match="cannot be renamed"):
            admin_registry.rename_registered_model("churn", "churn-renamed")

        # At the 100% step the routes no longer name the baseline, which a rollback restores.
        request = admin_registry.request_promotion("churn", "2", stage=Stage.PRODUCTION)
        admin_registry.approve_promotion(request.request_id)  # archives v1 (MLflow's rule)
        stores.serving.record_route_stats([stats("2", requests=150)])
        assert stores.serving.advance_canary("churn").next_weight == 25
        stores.serving.record_route_stats([stats("2", requests=150, replica="r2")])
        assert stores.serving.advance_canary("churn").next_weight == 100
        with pytest.raises(PermissionDeniedError, match="endpoint 'churn' \\(baseline\\)"):
            admin_registry.delete_model_version("churn", "1")

        stores.serving.rollback("churn")
        admin_registry.delete_model_version("churn", "2")
        stores.serving.set_routes("churn", [route("1"), route("3", 0, role=RouteRole.SHADOW)])
        with pytest.raises(PermissionDeniedError, match="endpoint 'churn' \\(shadow\\)"):
            admin_registry.delete_model_version("churn", "3")
        found = admin_registry.search_model_versions(filter_string="name = 'churn'").items
        assert sorted(v.version for v in found) == ["1", "3"]

    def test_each_step_is_judged_on_its_own_requests(
        self, stores: Stores, admin_registry: RegistryStore
    ) -> None:
        approve(admin_registry, "churn", "2", Stage.PRODUCTION)
        self.start(stores, steps=(5, 50, 100))
        stores.serving.record_route_stats([stats("2", requests=150)])
        assert stores.serving.advance_canary("churn").action is CanaryAction.ADVANCE
        # The first step's requests (same minute, same running total) do not count again.
        assert stores.serving.advance_canary("churn").action is CanaryAction.WAIT
        stores.serving.record_route_stats([stats("2", requests=260)])
        assert stores.serving.advance_canary("churn").action is CanaryAction.ADVANCE

    def test_rolling_back_a_completed_canary_restores_the_replaced_version(
        self, stores: Stores, admin_registry: RegistryStore
    ) -> None:
        self.start(stores)
        approve(admin_registry, "churn", "2", Stage.PRODUCTION)
        stores.serving.promote("churn", reason="ship it")
        assert admin_registry.get_model_version("churn", "1").current_stage is Stage.ARCHIVED
        restored = stores.serving.rollback("churn", reason="complaints")
        assert restored.routes == (route("1"),) and restored.canary is None
        assert admin_registry.get_model_version("churn", "1").current_stage is Stage.PRODUCTION
        assert admin_registry.get_model_version("churn", "2").current_stage is Stage.ARCHIVED

    def test_a_completed_canary_is_not_rolled_back_to_a_deleted_version(
        self, stores: Stores, admin_registry: RegistryStore
    ) -> None:
        self.start(stores)
        approve(admin_registry, "churn", "2", Stage.PRODUCTION)
        stores.serving.promote("churn")
        admin_registry.delete_model_version("churn", "1")  # archived, off every endpoint

        with pytest.raises(NotFoundError, match="cannot roll back to churn/1"):
            stores.serving.rollback("churn")

        assert stores.serving.get_endpoint("churn").routes == (route("2"),)
        assert admin_registry.get_model_version("churn", "2").current_stage is Stage.PRODUCTION

    def test_a_completed_canary_is_not_rolled_back_to_a_version_registered_anew(
        self, stores: Stores, admin_registry: RegistryStore
    ) -> None:
        # The canary is another model's; its completion archives churn/1, which then routes
        # nowhere. churn deleted and registered again has a version 1 no one reviewed.
        admin_registry.create_model_version("side", "s")
        approve(admin_registry, "side", "1", Stage.PRODUCTION)
        stores.serving.create_endpoint("churn", [route("1")])
        side = Route(model_name="side", version="1", weight=5)
        stores.serving.start_canary("churn", side, steps=(5, 100), interval_s=0)
        stores.serving.promote("churn")
        admin_registry.delete_registered_model("churn")
        admin_registry.create_model_version("churn", "unreviewed")

        with pytest.raises(NotFoundError, match="cannot roll back to churn/1"):
            stores.serving.rollback("churn")

        assert stores.serving.get_endpoint("churn").routes == (side.with_weight(100),)
        assert admin_registry.get_model_version("churn", "1").current_stage is Stage.NONE

    def test_promote_and_rollback_act_immediately(
        self, stores: Stores, admin_registry: RegistryStore
    ) -> None:
        self.start(stores)
        with pytest.raises(ConflictError, match="already running"):
            stores.serving.start_canary("churn", route("2"))
        with pytest.raises(ConflictError, match="canary"):
            stores.serving.set_routes("churn", [route("1")])
        assert stores.serving.rollback("churn", reason="bad").routes == (route("1"),)
        stores.serving.start_canary("churn", route("2"), min_requests=10)
        approve(admin_registry, "churn", "2", Stage.PRODUCTION)
        assert stores.serving.promote("churn", reason="ship").routes == (route("2"),)
        with pytest.raises(ConflictError, match="No canary"):
            stores.serving.promote("churn")

    def test_rollback_without_a_canary_restores_the_previous_routes(self, stores: Stores) -> None:
        stores.serving.create_endpoint("churn", [route("1")])
        split = [
            route("1", 80, role=RouteRole.VARIANT, variant="a"),
            route("2", 20, role=RouteRole.VARIANT, variant="b"),
        ]
        stores.serving.set_routes("churn", split)
        assert stores.serving.rollback("churn").routes == (route("1"),)

    @pytest.mark.parametrize(
        "options, match",
        [
            ({"steps": (50, 25, 100)}, "increasing"),
            ({"steps": (5, 50)}, "ending at 100"),
            ({"max_error_rate": 2.0}, "fraction"),
            ({"max_p99_ms": 0.0}, "> 0"),
        ],
    )
    def test_bad_canary_options(
        self, stores: Stores, options: dict[str, object], match: str
    ) -> None:
        stores.serving.create_endpoint("churn", [route("1")])
        with pytest.raises(InvalidArgumentError, match=match):
            stores.serving.start_canary("churn", route("2"), **options)  # type: ignore[arg-type]

    def test_canary_needs_an_approved_version(self, stores: Stores) -> None:
        stores.serving.create_endpoint("churn", [route("1")])
        with pytest.raises(PermissionDeniedError, match="canary"):
            stores.serving.start_canary("churn", route("3"))

    def test_archiving_a_version_withdraws_its_approval(
        self, stores: Stores, admin_registry: RegistryStore
    ) -> None:
        stores.serving.create_endpoint("churn", [route("1")])
        admin_registry.transition_model_version_stage("churn", "2", Stage.ARCHIVED)
        with pytest.raises(PermissionDeniedError, match="canary"):
            stores.serving.start_canary("churn", route("2"))
        admin_registry.transition_model_version_stage("churn", "2", Stage.STAGING)
        with pytest.raises(PermissionDeniedError, match="canary"):
            stores.serving.start_canary("churn", route("2"))
        approve(admin_registry, "churn", "2", Stage.STAGING)
        assert stores.serving.start_canary("churn", route("2")).canary is not None

    def test_an_approved_exit_from_production_is_no_approval_for_traffic(
        self, stores: Stores, admin_registry: RegistryStore
    ) -> None:
        approve(admin_registry, "churn", "3", Stage.PRODUCTION)
        stores.serving.create_endpoint("churn", [route("3")])
        approve(admin_registry, "churn", "1", Stage.NONE)
        with pytest.raises(PermissionDeniedError, match="canary"):
            stores.serving.start_canary("churn", route("1"))

    # -- stats, feedback, SLOs -------------------------------------------------------------
    def test_route_stats_are_running_totals_per_replica(self, stores: Stores) -> None:
        stores.serving.create_endpoint("churn", [route("1")])
        first = stats("1", requests=10, route_label="primary")
        stores.serving.record_route_stats([first])
        stores.serving.record_route_stats([replace(first, requests=15)])
        stores.serving.record_route_stats(
            [stats("1", requests=5, route_label="primary", replica="r2")]
        )
        rows = stores.serving.list_route_stats("churn", since_ms=first.minute)
        assert sorted(r.requests for r in rows) == [5, 15]
        assert sum(rows[0].buckets.values()) in (5, 10)

    def test_feedback(self, stores: Stores) -> None:
        stores.serving.create_endpoint("churn", [route("1")])
        logged = stores.serving.log_feedback(
            [
                Feedback(endpoint="churn", request_id="r1", label=1),
                Feedback(endpoint="churn", request_id="r2", outcomes={"converted": 0.0}),
                Feedback(endpoint="churn", request_id="r3", label="yes"),
            ]
        )
        assert logged == 3
        items = stores.serving.list_feedback("churn")
        assert [(f.request_id, f.label, f.outcomes) for f in items] == [
            ("r1", 1, {}),
            ("r2", None, {"converted": 0.0}),
            ("r3", "yes", {}),
        ]
        with pytest.raises(InvalidArgumentError, match="neither a label nor outcomes"):
            stores.serving.log_feedback([Feedback(endpoint="churn", request_id="r4")])
        with pytest.raises(NotFoundError):
            stores.serving.log_feedback([Feedback(endpoint="nope", request_id="r", label=1)])

    def test_text_that_is_not_unicode_is_refused_and_what_was_written_stays_readable(
        self, stores: Stores
    ) -> None:
        stores.serving.create_endpoint("churn", [route("1")])
        stores.serving.log_feedback([Feedback(endpoint="churn", request_id="r1", label=1)])
        bad = "x\ud800"
        with pytest.raises(InvalidArgumentError, match="unpaired surrogate"):
            stores.serving.record_endpoint_event("churn", "note", details={"k": bad})
        for item in (
            Feedback(endpoint="churn", request_id="r2", label=bad),
            Feedback(endpoint="churn", request_id="r3", outcomes={bad: 1.0}),
        ):
            with pytest.raises(InvalidArgumentError, match="unpaired surrogate"):
                stores.serving.log_feedback([item])

        assert [f.request_id for f in stores.serving.list_feedback("churn")] == ["r1"]
        assert "note" not in [e.event_type for e in stores.serving.list_endpoint_events("churn")]

    def test_an_event_for_an_endpoint_that_does_not_exist_is_refused(self, stores: Stores) -> None:
        with pytest.raises(NotFoundError, match="nope"):
            stores.serving.record_endpoint_event("nope", "note", comment="lost")
        assert stores.serving.list_endpoint_events("nope") == []

    def test_times_beyond_epoch_milliseconds_are_refused(self, stores: Stores) -> None:
        stores.serving.create_endpoint("churn", [route("1")])
        huge = 2**63
        with pytest.raises(InvalidArgumentError, match="since_ms"):
            stores.serving.list_feedback("churn", since_ms=huge)
        with pytest.raises(InvalidArgumentError, match="until_ms"):
            stores.serving.list_route_stats("churn", since_ms=0, until_ms=huge)
        with pytest.raises(InvalidArgumentError, match="since_ms"):
            stores.serving.list_endpoint_events("churn", since_ms=-1)
        with pytest.raises(InvalidArgumentError, match="timestamp"):
            stores.serving.log_feedback(
                [Feedback(endpoint="churn", request_id="r", label=1, timestamp=2**70)]
            )
        assert stores.serving.list_feedback("churn") == []

    def test_slo(self, stores: Stores) -> None:
        stores.serving.create_endpoint("churn", [route("1")], slo=Slo(p99_ms=50))
        updated = stores.serving.set_slo("churn", Slo(error_rate=0.01, availability=0.999))
        assert updated.slo.error_rate == 0.01 and updated.slo.p99_ms is None
        with pytest.raises(InvalidArgumentError, match="slo_error_rate"):
            stores.serving.set_slo("churn", Slo(error_rate=5))
        # A window reaching back before 1970 made the endpoint's health unreadable.
        for window_s in (59, 2**70):
            with pytest.raises(InvalidArgumentError, match="window"):
                stores.serving.set_slo("churn", Slo(p99_ms=10, window_s=window_s))
        assert stores.serving.get_endpoint("churn").slo.error_rate == 0.01
