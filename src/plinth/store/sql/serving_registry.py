"""How the serving store reaches the registry: governance checks, the promotions a canary's
completion (or its rollback) makes, and the deployment history of each model version."""

from __future__ import annotations

from collections.abc import Sequence

from plinth.entities.registry import Stage
from plinth.entities.serving import CanaryPlan, Endpoint, Route
from plinth.serving.governance import check_routes, is_live_approved
from plinth.store.sql.registry import SqlRegistryStore
from plinth.store.sql.serving_records import ServingRecords

CANARY_CONTROLLER = "plinth-canary"
"""The user that approves a canary's promotion once its guardrails held at every step."""
MODEL_EVENT = "deployment_changed"


class RegistryLinks(ServingRecords):
    """The registry side of ``SqlServingStore``; ``registry`` is set by its constructor."""

    registry: SqlRegistryStore

    def _registry(self) -> SqlRegistryStore:
        return self.registry.with_actor(self.actor)

    def _check(self, routes: Sequence[Route]) -> None:
        registry = self._registry()
        check_routes(routes, registry, registry.protected_aliases)

    def _promote_version(self, endpoint: str, plan: CanaryPlan, reason: str) -> None:
        registry = self.registry
        name, version = plan.route.model_name, plan.route.version
        if registry.get_model_version(name, version).current_stage is not Stage.PRODUCTION:
            request = registry.with_actor(plan.started_by).request_promotion(
                name,
                version,
                stage=Stage.PRODUCTION,
                archive_existing_versions=False,
                comment=f"Canary on endpoint {endpoint!r} started by {plan.started_by}.",
            )
            registry.with_actor(CANARY_CONTROLLER).approve_promotion(
                request.request_id,
                comment=f"Canary on endpoint {endpoint!r} completed ({reason}); "
                f"completed by {self.actor}.",
            )
        base = plan.baseline
        if base.model_name == name and base.version == version:
            return
        baseline = registry.get_model_version(base.model_name, base.version)
        if baseline.current_stage is Stage.PRODUCTION:
            registry.with_actor(self.actor).transition_model_version_stage(
                base.model_name, base.version, Stage.ARCHIVED, archive_existing_versions=False
            )

    def _undo_canary_promotion(self, current: Endpoint, reason: str | None) -> None:
        """Rolling back a completed canary restores the version it replaced, which the
        completion archived: it goes back to Production through a request in the name of
        the user rolling back, approved by the controller (the version held Production
        until the canary replaced it), and the canary's version is archived."""
        registry = self._registry()
        why = reason or "rollback"
        for route in current.previous_routes:
            version = registry.get_model_version(route.model_name, route.version)
            if not route.is_live or is_live_approved(version, registry.protected_aliases):
                continue
            request = registry.request_promotion(
                route.model_name,
                route.version,
                stage=Stage.PRODUCTION,
                archive_existing_versions=False,
                comment=f"Rollback of endpoint {current.name!r}'s completed canary ({why}).",
            )
            registry.with_actor(CANARY_CONTROLLER).approve_promotion(
                request.request_id,
                comment=f"Restores the version the canary on {current.name!r} replaced.",
            )
        for route in current.live_routes:
            if route not in current.previous_routes:
                stage = registry.get_model_version(route.model_name, route.version).current_stage
                if stage is Stage.PRODUCTION:
                    registry.transition_model_version_stage(
                        route.model_name,
                        route.version,
                        Stage.ARCHIVED,
                        archive_existing_versions=False,
                    )

    def _record_models(
        self, endpoint: str, before: Sequence[Route], after: Sequence[Route], reason: str | None
    ) -> None:
        """An entry in the history of every model version whose route changed."""
        old = {r.model_version: r for r in before}
        new = {r.model_version: r for r in after}
        registry = self._registry()
        for key in sorted(old.keys() | new.keys()):
            was, now = old.get(key), new.get(key)
            if was == now:
                continue
            route = now or was
            assert route is not None
            details = {
                "endpoint": endpoint,
                "role": route.label if now else "removed",
                "weight": str(now.weight if now else 0),
                "previous_weight": str(was.weight if was else 0),
            }
            registry.record_model_event(
                route.model_name, route.version, MODEL_EVENT, comment=reason, details=details
            )
