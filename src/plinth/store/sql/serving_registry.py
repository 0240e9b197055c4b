"""How the serving store reaches the registry: governance checks, the promotions a canary's
completion (or its rollback) makes, and the deployment history of each model version."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from plinth.entities.auth import CANARY_USER
from plinth.entities.registry import ModelVersion, Stage
from plinth.entities.serving import CanaryPlan, Endpoint, Route
from plinth.errors import NotFoundError, PermissionDeniedError
from plinth.serving.governance import (
    ProductionVerdict,
    check_routes,
    is_live_approved,
    production_verdict,
)
from plinth.store.sql.models import ModelVersionRow, RegisteredModelRow
from plinth.store.sql.registry import SqlRegistryStore
from plinth.store.sql.serving_records import ServingRecords

Checked = dict[tuple[str, int], int]
"""The versions a governance check passed, by (model, number): their creation times."""

CANARY_CONTROLLER = CANARY_USER
"""The user that judges canaries and approves the registry moves that follow from a human
approval: archiving the version a completed canary replaced, undoing a completion."""


class RegistryLinks(ServingRecords):
    """The registry side of ``SqlServingStore``; ``registry`` is set by its constructor."""

    registry: SqlRegistryStore

    def _registry(self) -> SqlRegistryStore:
        return self.registry.with_actor(self.actor)

    def _check(self, routes: Sequence[Route]) -> Checked:
        """Governance of ``routes``; what it checked, for the write to hold (``_hold_versions``)."""
        registry = self._registry()
        return _identities(check_routes(routes, registry, registry.protected_aliases))

    def _check_registered(
        self, endpoint: str, routes: Sequence[Route], *, before_ms: int
    ) -> Checked:
        """The versions of ``routes``, for the write to hold. Raises ``NotFoundError`` naming
        one deleted since, or registered anew after ``before_ms`` (the number is back, but
        it is another version, never reviewed for this endpoint)."""
        registry = self._registry()
        versions = []
        for route in routes:
            try:
                version = registry.get_model_version(route.model_name, route.version)
            except NotFoundError:
                version = None
            if version is None or version.creation_timestamp > before_ms:
                raise NotFoundError(
                    f"Endpoint {endpoint!r} cannot roll back to {route.model_version}: it no "
                    "longer exists (deleted, perhaps registered anew, or its model renamed). "
                    "Set its routes instead (`plinth endpoints traffic`)."
                )
            versions.append(version)
        return _identities(versions)

    def _hold_versions(
        self, session: Session, routes: Sequence[Route], checked: Checked | None = None
    ) -> None:
        """Inside a route write: lock the routed models' rows (shared) and check that every
        routed version still exists, and is the one ``checked`` (by its creation time:
        numbers start again when a model is deleted and registered anew). The governance
        checks ran before the write opened; a version deleted (or its model renamed) since
        is refused here, and one deleted after waits for this write's commit, then sees the
        route and is refused (PostgreSQL's ``FOR SHARE`` against the registry's ``FOR
        UPDATE``; SQLite serialises writers)."""
        wanted = {(route.model_name, int(route.version)) for route in routes}
        if not wanted:
            return
        names = sorted({name for name, _ in wanted})
        models = select(RegisteredModelRow.name).where(RegisteredModelRow.name.in_(names))
        session.execute(models.order_by(RegisteredModelRow.name).with_for_update(read=True))
        v = ModelVersionRow
        rows = select(v.name, v.version, v.creation_time).where(
            tuple_(v.name, v.version).in_(sorted(wanted))
        )
        held = {(name, number): created for name, number, created in session.execute(rows)}
        for route in routes:
            key = (route.model_name, int(route.version))
            expected = (checked or {}).get(key)
            if key not in held or (expected is not None and held[key] != expected):
                raise NotFoundError(
                    f"{route.model_version} is no longer the registered version this change "
                    "was made for: it was deleted (perhaps registered anew), or its model "
                    "renamed, meanwhile. Nothing changed; check the model's versions (`plinth "
                    f"models versions {route.model_name}`) and try again."
                )

    def _full_traffic_denied(self, route: Route) -> str | None:
        """Why the route's version may not take all traffic yet; None once it is approved
        for Production (or holds a protected alias) through a human approval."""
        return self._production_verdict(route).denied

    def _production_verdict(self, route: Route, since_ms: int | None = None) -> ProductionVerdict:
        """Whether the route's version may take all traffic, and (with ``since_ms``, when
        its canary started) whether an approver's rejection since then ends the canary."""
        registry = self._registry()
        version = registry.get_model_version(route.model_name, route.version)
        return production_verdict(version, registry, registry.protected_aliases, since_ms)

    def _promote_version(self, endpoint: str, plan: CanaryPlan, reason: str) -> None:
        """The canary's version is already approved for Production (checked before the
        completion was claimed: the controller never approves a promotion itself); what
        is left is archiving the version it replaced, a consequence of that approval."""
        name, version = plan.route.model_name, plan.route.version
        denied = self._full_traffic_denied(plan.route)
        if denied:
            raise PermissionDeniedError(denied)
        base = plan.baseline
        if base.model_name == name and base.version == version:
            return
        baseline = self.registry.get_model_version(base.model_name, base.version)
        if baseline.current_stage is Stage.PRODUCTION:
            self._archive_replaced(
                baseline.name,
                baseline.version,
                requested_by=plan.started_by,
                why=f"Replaced by {name}/{version} through the canary on endpoint {endpoint!r} "
                f"({reason}).",
            )

    def _archive_replaced(self, name: str, version: str, *, requested_by: str, why: str) -> None:
        """Take a replaced version out of Production through a request approved by the
        controller (leaving Production needs an approved request, like entering it)."""
        request = self.registry.with_actor(requested_by).request_promotion(
            name, version, stage=Stage.ARCHIVED, archive_existing_versions=False, comment=why
        )
        self.registry.with_actor(CANARY_CONTROLLER).approve_promotion(
            request.request_id, comment=why
        )

    def _undo_canary_promotion(self, current: Endpoint, reason: str | None) -> None:
        """Rolling back a completed canary restores the version it replaced, which the
        completion archived, and archives the canary's version."""
        replaced = [r for r in current.live_routes if r not in current.previous_routes]
        why = f"Rollback of endpoint {current.name!r}'s completed canary ({reason or 'rollback'})."
        self._registry_follows_rollback(current.previous_routes, replaced, why, self.actor)

    def _undo_canary_approval(self, endpoint: str, plan: CanaryPlan, reason: str) -> None:
        """A canary rolled back before completing, whose version was approved for
        Production while it ran (its approval archived the baseline, by default): the
        registry goes back to what the endpoint serves again."""
        why = f"Rollback of the canary of {plan.route.model_version} on {endpoint!r} ({reason})."
        # The controller rolls back in the name of who started the canary: it approves the
        # registry's moves, and no one approves their own request.
        by = plan.started_by if self.actor == CANARY_CONTROLLER else self.actor
        self._registry_follows_rollback([plan.baseline.with_weight(100)], [plan.route], why, by)

    def _registry_follows_rollback(
        self, restored: Sequence[Route], dropped: Sequence[Route], why: str, requested_by: str
    ) -> None:
        """After a rollback, ``restored`` live routes' versions that lost Production get it
        back, and ``dropped`` routes' versions in Production leave it: through requests in
        the name of ``requested_by``, approved by the controller (the registry follows what
        the endpoint serves; no version gains traffic it did not have)."""
        registry = self.registry.with_actor(requested_by)
        for route in restored:
            version = registry.get_model_version(route.model_name, route.version)
            if not route.is_live or is_live_approved(version, registry.protected_aliases):
                continue
            request = registry.request_promotion(
                route.model_name,
                route.version,
                stage=Stage.PRODUCTION,
                archive_existing_versions=False,
                comment=why,
            )
            registry.with_actor(CANARY_CONTROLLER).approve_promotion(
                request.request_id, comment=f"Restores the version the endpoint serves. {why}"
            )
        for route in dropped:
            stage = registry.get_model_version(route.model_name, route.version).current_stage
            if stage is Stage.PRODUCTION:
                self._archive_replaced(
                    route.model_name, route.version, requested_by=requested_by, why=why
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
            registry.record_deployment(
                route.model_name, route.version, comment=reason, details=details
            )


def _identities(versions: Sequence[ModelVersion]) -> Checked:
    return {(v.name, int(v.version)): v.creation_timestamp for v in versions}
