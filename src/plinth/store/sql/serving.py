"""``SqlServingStore``: endpoints and their routes, canaries and rollbacks, over SQL.

Route changes are compare-and-set on the endpoint's ``revision``, so a canary step decided
by two replicas at once is applied once. Governance reads the registry before the write
transaction opens (Production versions only leave through another approval; a Staging
approval withdrawn by archiving the version in that instant is the one race accepted);
the write itself holds the routed models against a concurrent delete or rename.
A canary takes all traffic, and completes, only once a human approved its version for
Production; the controller judges guardrails and never approves a promotion itself.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from plinth.entities import LOCAL_USER, now_ms
from plinth.entities.guardrails import CanaryAction, CanaryDecision, decide_canary
from plinth.entities.route_stats import WindowStats, by_route, minute_of
from plinth.entities.serving import (
    CanaryPlan,
    Endpoint,
    EndpointEventType,
    Route,
    RouteRole,
    Slo,
    canary_baseline,
    canary_routes,
    validate_endpoint_name,
    validate_fraction,
    validate_non_negative,
    validate_positive,
    validate_routes,
    validate_steps,
)
from plinth.errors import (
    AlreadyExistsError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
)
from plinth.store.base.serving import ServingStore
from plinth.store.sql.models import EndpointEventRow, EndpointRow
from plinth.store.sql.registry import SqlRegistryStore
from plinth.store.sql.serving_registry import Checked, RegistryLinks

_STORE_EVENTS = frozenset(
    {EndpointEventType.DELETED, EndpointEventType.SLO_CHANGED, EndpointEventType.CANARY_COMPLETING}
)
ROUTE_EVENTS = frozenset(
    {
        EndpointEventType.CREATED,
        EndpointEventType.ROUTES_CHANGED,
        EndpointEventType.CANARY_STARTED,
        EndpointEventType.CANARY_STEP,
        EndpointEventType.CANARY_ROLLED_BACK,
        EndpointEventType.CANARY_COMPLETED,
        EndpointEventType.ROLLED_BACK,
    }
)


class SqlServingStore(RegistryLinks, ServingStore):
    """See ``ServingStore``. ``registry`` answers the governance questions and records the
    deployment history of each model."""

    def __init__(
        self, engine: Engine, *, registry: SqlRegistryStore, actor: str = LOCAL_USER
    ) -> None:
        super().__init__(engine, actor=actor)
        self.registry = registry

    # -- endpoints -------------------------------------------------------------------------
    def create_endpoint(
        self,
        name: str,
        routes: Sequence[Route],
        *,
        description: str | None = None,
        slo: Slo | None = None,
        sticky_key: str | None = None,
        reason: str | None = None,
    ) -> Endpoint:
        validate_endpoint_name(name)
        checked = validate_routes(routes)
        slo = (slo or Slo()).validated()
        held = self._check(checked)
        now = now_ms()
        row = EndpointRow(
            name=name,
            description=description,
            routes_json=_routes_json(checked),
            sticky_key=sticky_key,
            slo_json=json.dumps(slo.to_json()),
            revision=1,
            created_by=self.actor,
            creation_time=now,
            last_updated_time=now,
        )
        try:
            with self._write() as session:
                self._hold_versions(session, checked, held)
                session.add(row)
                session.flush()
                details: dict[str, object] = {"routes": [r.to_json() for r in checked]}
                self._event(
                    session, name, EndpointEventType.CREATED, comment=reason, details=details
                )
                self._audit(session, "create_endpoint", "endpoint", name, details)
                endpoint = _entity(row)
        except IntegrityError as exc:
            raise AlreadyExistsError(f"Endpoint {name!r} already exists.") from exc
        self._record_models(name, (), checked, reason)
        return endpoint

    def get_endpoint(self, name: str) -> Endpoint:
        with self._read() as session:
            return _entity(_load(session, name))

    def list_endpoints(self) -> list[Endpoint]:
        with self._read() as session:
            rows = session.scalars(select(EndpointRow).order_by(EndpointRow.name))
            return [_entity(row) for row in rows]

    def delete_endpoint(self, name: str, *, reason: str | None = None) -> None:
        with self._write() as session:
            endpoint = _entity(_load(session, name))
            session.delete(_load(session, name))
            self._event(session, name, EndpointEventType.DELETED, comment=reason)
            self._audit(session, "delete_endpoint", "endpoint", name, {"reason": reason})
        self._record_models(name, endpoint.routes, (), reason)

    def set_routes(
        self,
        name: str,
        routes: Sequence[Route],
        *,
        sticky_key: str | None = None,
        reason: str | None = None,
        expected_revision: int | None = None,
    ) -> Endpoint:
        current = self.get_endpoint(name)
        if current.canary is not None:
            # Checked first: the routes given back with a shadow added hold the canary's
            # route, which validation would refuse with a message about something else.
            raise ConflictError(
                f"A canary of {current.canary.route.model_version} is running on {name!r}: "
                "its routes, shadows included, change only through it. Promote it (`plinth "
                "endpoints promote`) or roll it back first."
            )
        checked = validate_routes(routes)
        held = self._check(checked)
        revision = current.revision if expected_revision is None else expected_revision
        return self._apply(
            current,
            checked,
            revision=revision,
            event=EndpointEventType.ROUTES_CHANGED,
            reason=reason,
            sticky_key=sticky_key,
            set_sticky=True,
            checked=held,
        )

    def set_slo(self, name: str, slo: Slo) -> Endpoint:
        slo = slo.validated()
        with self._write() as session:
            row = _load(session, name)
            row.slo_json = json.dumps(slo.to_json())
            row.last_updated_time = now_ms()
            self._event(session, name, EndpointEventType.SLO_CHANGED, details=slo.to_json())
            self._audit(session, "set_slo", "endpoint", name, slo.to_json())
            return _entity(row)

    # -- canary ----------------------------------------------------------------------------
    def start_canary(
        self,
        name: str,
        route: Route,
        *,
        steps: Sequence[int] = (5, 25, 100),
        interval_s: float = 1800.0,
        max_error_rate: float | None = None,
        max_p99_ms: float | None = None,
        min_requests: int = 500,
        reason: str | None = None,
    ) -> Endpoint:
        current = self.get_endpoint(name)
        baseline = canary_baseline(current, route)
        started = now_ms()
        plan = CanaryPlan(
            route=replace(
                route, role=RouteRole.CANARY, variant=None, weight=steps[0] if steps else 0
            ),
            baseline=baseline,
            steps=validate_steps(steps),
            step_index=0,
            step_started_at=started,
            started_at=started,
            interval_s=validate_non_negative("interval", interval_s),
            max_error_rate=validate_fraction("max_error_rate", max_error_rate),
            max_p99_ms=validate_positive("max_p99_ms", max_p99_ms),
            min_requests=int(validate_non_negative("min_requests", min_requests)),
            started_by=self.actor,
            reason=reason,
        )
        plan = self._step_offsets(name, plan, started)
        routes = canary_routes(current, plan)
        held = self._check([plan.route])
        return self._apply(
            current,
            routes,
            revision=current.revision,
            event=EndpointEventType.CANARY_STARTED,
            reason=reason,
            canary=plan,
            checked=held,
        )

    def advance_canary(self, name: str, *, now_ms: int | None = None) -> CanaryDecision:
        now = now_ms or _now()
        current = self.get_endpoint(name)
        plan = _running(current)
        if plan.completing:  # a completion that stopped half way (a crash): finish it
            withdrawn = self._full_traffic_denied(plan.route)
            if withdrawn is not None:
                # The approval went since the completion was claimed: finishing would give
                # an unapproved version all traffic, and waiting would hold forever.
                reason = (
                    f"completion stopped: {plan.route.model_version} is no longer approved "
                    "for Production, so the canary was rolled back"
                )
                self._abort_canary(current, plan, reason)
                return _unjudged(CanaryAction.ROLLBACK, reason)
            self._complete_canary(current, plan, "resuming the completion")
            return _unjudged(CanaryAction.COMPLETE, "completion resumed")
        rows = self.list_route_stats(name, since_ms=minute_of(plan.step_started_at))
        stats = by_route(rows, RouteRole.CANARY.value, plan.route.version)
        stats = stats.minus(WindowStats.from_json(plan.step_offset))
        # The baseline over the same step, for the share of requests each refuses; at the
        # 100% step it serves nothing to compare with.
        baseline = None
        if plan.current_weight < 100:
            baseline = by_route(rows, RouteRole.PRIMARY.value, plan.baseline.version)
            baseline = baseline.minus(WindowStats.from_json(plan.baseline_offset))
        decided = decide_canary(plan, stats, now_ms=now, baseline=baseline)
        decision = self._governed(plan, decided)
        if decision.action is CanaryAction.ADVANCE:
            assert decision.next_weight is not None
            step = replace(
                plan,
                step_index=plan.step_index + 1,
                step_started_at=now,
                route=plan.route.with_weight(decision.next_weight),
            )
            step = self._step_offsets(name, step, now)
            self._apply(
                current,
                canary_routes(current, step),
                revision=current.revision,
                event=EndpointEventType.CANARY_STEP,
                reason=decision.reason,
                canary=step,
                keep_previous=True,
            )
        elif decision.action is CanaryAction.ROLLBACK:
            self._abort_canary(current, plan, decision.reason)
        elif decision.action is CanaryAction.COMPLETE:
            self._complete_canary(current, plan, decision.reason)
        return decision

    def _governed(self, plan: CanaryPlan, decision: CanaryDecision) -> CanaryDecision:
        """The guardrails' decision, overruled by the approvers' while the version is not
        approved for Production: a rejection of its Production request since the canary
        started rolls it back, and a step that would give it all traffic (its last step,
        or completing) waits. The guardrails are evidence for an approver, not an
        approval."""
        if decision.action is CanaryAction.ROLLBACK:
            return replace(decision, reason=f"guardrail breached: {decision.reason}")
        verdict = self._production_verdict(plan.route, plan.started_at)
        if verdict.denied is None:  # approved: a later rejected duplicate request changes nothing
            return decision
        if verdict.rejected is not None:
            return replace(
                decision, action=CanaryAction.ROLLBACK, reason=verdict.rejected, next_weight=None
            )
        takes_all = decision.action is CanaryAction.COMPLETE or (
            decision.action is CanaryAction.ADVANCE and decision.next_weight == 100
        )
        if not takes_all:
            return decision
        return replace(decision, action=CanaryAction.WAIT, reason=verdict.denied, next_weight=None)

    def _step_offsets(self, name: str, plan: CanaryPlan, now: int) -> CanaryPlan:
        """``plan`` with the canary's and the baseline's running totals of the minute its
        step starts in: counted before the step began, they are taken off its stats."""
        rows = self.list_route_stats(name, since_ms=minute_of(now))
        canary = by_route(rows, RouteRole.CANARY.value, plan.route.version)
        baseline = by_route(rows, RouteRole.PRIMARY.value, plan.baseline.version)
        return replace(plan, step_offset=canary.to_json(), baseline_offset=baseline.to_json())

    def promote(self, name: str, *, reason: str | None = None) -> Endpoint:
        current = self.get_endpoint(name)
        plan = _running(current)
        denied = None if plan.completing else self._full_traffic_denied(plan.route)
        if denied:
            raise PermissionDeniedError(f"The canary on {name!r} cannot be promoted: {denied}")
        return self._complete_canary(current, plan, reason or f"promoted by {self.actor}")

    def rollback(self, name: str, *, reason: str | None = None) -> Endpoint:
        current = self.get_endpoint(name)
        if current.canary is not None:
            plan = current.canary
            if plan.completing and self._full_traffic_denied(plan.route) is None:
                raise ConflictError(
                    f"The canary on {name!r} is being promoted right now; roll back once it "
                    "completed (that restores the version it replaced)."
                )
            return self._abort_canary(current, current.canary, reason or "rolled back by user")
        if not current.previous_routes:
            raise ConflictError(f"Endpoint {name!r} has no earlier routes to roll back to.")
        last_type, last_time = self._last_route_event(name)
        undo = last_type == EndpointEventType.CANARY_COMPLETED
        if undo:  # the registry follows below; every version it restores must be the one
            # the canary replaced (no approval is asked again: it served until then)
            held = self._check_registered(name, current.previous_routes, before_ms=last_time)
        else:
            held = self._check(current.previous_routes)
        # Routes first (compare-and-set: a concurrent change wins and nothing else happens),
        # then the registry catches up before any replica's next refresh.
        restored = self._apply(
            current,
            current.previous_routes,
            revision=current.revision,
            event=EndpointEventType.ROLLED_BACK,
            reason=reason,
            checked=held,
        )
        if undo:
            self._undo_canary_promotion(current, reason)
        return restored

    def _last_route_event(self, name: str) -> tuple[str | None, int]:
        """The type and time of the newest event that changed the endpoint's routes (only
        the store writes those: ``record_endpoint_event`` refuses their types)."""
        stmt = (
            select(EndpointEventRow.event_type, EndpointEventRow.timestamp)
            .where(EndpointEventRow.endpoint == name)
            .where(EndpointEventRow.event_type.in_([e.value for e in ROUTE_EVENTS]))
            .order_by(EndpointEventRow.event_id.desc())
            .limit(1)
        )
        with self._read() as session:
            row = session.execute(stmt).first()
        return (None, 0) if row is None else (row[0], row[1])

    def record_endpoint_event(
        self,
        name: str,
        event_type: str,
        *,
        comment: str | None = None,
        details: dict[str, object] | None = None,
    ) -> None:
        if event_type in {e.value for e in ROUTE_EVENTS} | {e.value for e in _STORE_EVENTS}:
            raise InvalidArgumentError(
                f"Event type {event_type!r} is written by the store itself when routes "
                "change; record another type (e.g. slo_breached)."
            )
        super().record_endpoint_event(name, event_type, comment=comment, details=details)

    def _abort_canary(self, current: Endpoint, plan: CanaryPlan, reason: str) -> Endpoint:
        routes = (plan.baseline.with_weight(100), *current.shadows)
        restored = self._apply(
            current,
            routes,
            revision=current.revision,
            event=EndpointEventType.CANARY_ROLLED_BACK,
            reason=reason,
            keep_previous=True,
        )
        self._undo_canary_approval(current.name, plan, reason)
        return restored

    def _complete_canary(self, current: Endpoint, plan: CanaryPlan, reason: str) -> Endpoint:
        """Claim the completion (compare-and-set: of two deciders, one goes on), archive the
        baseline (the canary's version is already approved for Production: the callers
        checked), then route everything to the canary."""
        if not plan.completing:
            plan = replace(plan, completing=True)
            current = self._apply(
                current,
                current.routes,
                revision=current.revision,
                event=EndpointEventType.CANARY_COMPLETING,
                reason=reason,
                canary=plan,
                keep_previous=True,
            )
        self._promote_version(current.name, plan, reason)
        winner = replace(plan.route, role=RouteRole.PRIMARY, weight=100)
        return self._apply(
            current,
            (winner, *current.shadows),
            revision=current.revision,
            event=EndpointEventType.CANARY_COMPLETED,
            reason=reason,
            keep_previous=True,
        )

    # -- the one write path for routes -----------------------------------------------------
    def _apply(
        self,
        current: Endpoint,
        routes: Sequence[Route],
        *,
        revision: int,
        event: EndpointEventType,
        reason: str | None,
        canary: CanaryPlan | None = None,
        sticky_key: str | None = None,
        set_sticky: bool = False,
        keep_previous: bool = False,
        checked: Checked | None = None,
    ) -> Endpoint:
        """Compare-and-set the routes; write the history and the audit record with them.
        ``checked``: the versions governance passed, which the write holds to."""
        name = current.name
        previous = current.previous_routes if keep_previous else current.routes
        values = {
            "routes_json": _routes_json(routes),
            "previous_routes_json": _routes_json(previous),
            "canary_json": None if canary is None else json.dumps(canary.to_json()),
            "sticky_key": _sticky(routes, sticky_key if set_sticky else current.sticky_key),
            "revision": revision + 1,
            "last_updated_time": now_ms(),
        }
        details: dict[str, object] = {
            "before": [r.to_json() for r in current.routes],
            "after": [r.to_json() for r in routes],
        }
        routed = [*routes, *([canary.baseline] if canary is not None else [])]
        with self._write() as session:
            self._hold_versions(session, routed, checked)
            stmt = update(EndpointRow).where(
                EndpointRow.name == name, EndpointRow.revision == revision
            )
            if session.execute(stmt.values(**values)).rowcount != 1:  # type: ignore[attr-defined]
                _load(session, name)
                raise ConflictError(
                    f"Endpoint {name!r} changed while this change was prepared (revision "
                    f"{revision} is stale); read it again and retry."
                )
            self._event(session, name, event, comment=reason, details=details)
            self._audit(session, event.value, "endpoint", name, {**details, "reason": reason})
            endpoint = _entity(_load(session, name))
        self._record_models(name, current.routes, routes, reason)
        return endpoint


def _now() -> int:
    return now_ms()


def _sticky(routes: Sequence[Route], key: str | None) -> str | None:
    """The sticky key only means something while variants route traffic."""
    return key if any(r.role is RouteRole.VARIANT for r in routes) else None


def _load(session: Session, name: str) -> EndpointRow:
    row = session.get(EndpointRow, name)
    if row is None:
        raise NotFoundError(
            f"Endpoint {name!r} does not exist (see `plinth endpoints list`; create it with "
            f"`plinth endpoints create {name} --model NAME@production`)."
        )
    return row


def _unjudged(action: CanaryAction, reason: str) -> CanaryDecision:
    """A decision about a completion under way, taken without judging any stats."""
    return CanaryDecision(action=action, reason=reason, requests=0, error_rate=None, p99_ms=None)


def _running(endpoint: Endpoint) -> CanaryPlan:
    if endpoint.canary is None:
        raise ConflictError(f"No canary is running on endpoint {endpoint.name!r}.")
    return endpoint.canary


def _routes_json(routes: Sequence[Route]) -> str:
    return json.dumps([r.to_json() for r in routes])


def _routes(text: str | None) -> tuple[Route, ...]:
    return tuple(Route.from_json(item) for item in json.loads(text or "[]"))


def _entity(row: EndpointRow) -> Endpoint:
    return Endpoint(
        name=row.name,
        routes=_routes(row.routes_json),
        revision=row.revision,
        created_by=row.created_by,
        creation_timestamp=row.creation_time,
        last_updated_timestamp=row.last_updated_time,
        description=row.description,
        sticky_key=row.sticky_key,
        slo=Slo.from_json(json.loads(row.slo_json or "{}")),
        canary=None
        if row.canary_json is None
        else CanaryPlan.from_json(json.loads(row.canary_json)),
        previous_routes=_routes(row.previous_routes_json),
    )
