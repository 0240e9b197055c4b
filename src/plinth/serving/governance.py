"""Which model versions may take which traffic, checked on every change of routes.

- live (primary) traffic: the version is in Production or holds a protected alias; both
  are reachable only through an approved promotion request;
- canary and A-B variant traffic: the version has an approved promotion request of any
  target (at least Staging) that still stands (archiving the version withdraws it), or
  qualifies for live traffic;
- all of an endpoint's traffic, the last step of a canary included: only live traffic's
  rule, so a canary completes only once a human approver approved its version for
  Production (the controller judges the guardrails; it does not approve);
- shadow scoring: any registered version (a shadow never answers a request).

An approver rejecting a canary's version's Production request ends the canary: the
controller rolls it back at its next judgement.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from plinth.entities.registry import (
    ModelEvent,
    ModelEventType,
    ModelVersion,
    PromotionRequest,
    PromotionStatus,
    Stage,
    is_protected_alias,
)
from plinth.entities.serving import Route, RouteRole
from plinth.errors import PermissionDeniedError
from plinth.store.base import RegistryStore


def check_routes(
    routes: Sequence[Route], registry: RegistryStore, protected_aliases: Iterable[str]
) -> list[ModelVersion]:
    """The routed versions, as checked. Raises ``NotFoundError`` for an unregistered version
    and ``PermissionDeniedError`` for a version not approved for its route's role."""
    protected = tuple(protected_aliases)
    checked = []
    for route in routes:
        version = registry.get_model_version(route.model_name, route.version)
        checked.append(version)
        if route.role is RouteRole.SHADOW or is_live_approved(version, protected):
            continue
        if route.role is RouteRole.PRIMARY:
            raise _live_denied(version)
        if not has_standing_approval(version, registry):
            raise _trial_denied(version, route)
    return checked


def is_live_approved(version: ModelVersion, protected_aliases: Iterable[str]) -> bool:
    """In Production, or holding a protected alias."""
    if version.current_stage is Stage.PRODUCTION:
        return True
    return any(is_protected_alias(alias, protected_aliases) for alias in version.aliases)


def has_standing_approval(version: ModelVersion, registry: RegistryStore) -> bool:
    """An approved promotion request of the version that it has not been archived since.

    Read from the model's history, in order: an approval stands until the version is
    archived (directly, by an approved request, or replaced), deleted, or its model deleted.
    Moving an archived version back to Staging or None, which needs no approval, does not
    bring an old approval back."""
    standing = False
    for event in registry.list_model_events(version.name):
        if event.event_type == ModelEventType.MODEL_DELETED:
            standing = False
        elif event.version == version.version:
            if event.event_type == ModelEventType.PROMOTION_APPROVED:
                # An approved exit from Production (to None or Archived) is not an approval
                # for traffic.
                standing = event.details.get("target") not in _EXIT_TARGETS
            elif _withdraws_approval(event):
                standing = False
    return standing


_EXIT_TARGETS = frozenset(f"stage {stage.value}" for stage in (Stage.NONE, Stage.ARCHIVED))


def _withdraws_approval(event: ModelEvent) -> bool:
    if event.event_type in (ModelEventType.ARCHIVED, ModelEventType.VERSION_DELETED):
        return True
    return (
        event.event_type == ModelEventType.STAGE_TRANSITION
        and event.details.get("to") == Stage.ARCHIVED.value
    )


@dataclass(frozen=True, slots=True)
class ProductionVerdict:
    """Where a canary's version stands with the approvers, from one read of its requests."""

    denied: str | None
    """Why it may not take all of an endpoint's traffic yet (a canary's last step or its
    completion), naming the pending request if there is one; None once approved for
    Production."""
    rejected: str | None
    """Why its canary ends: the approvers' last word on its Production requests is a
    rejection made after the canary started; None otherwise (and always once approved)."""


def production_verdict(
    version: ModelVersion,
    registry: RegistryStore,
    protected_aliases: Iterable[str],
    since_ms: int | None = None,
) -> ProductionVerdict:
    """The verdict on ``version``; a rejection counts only when made after ``since_ms``."""
    if is_live_approved(version, protected_aliases):
        return ProductionVerdict(None, None)
    name, number = version.name, version.version
    requests = [
        request
        for request in registry.list_promotion_requests(name=name)
        if request.version == number and request.target_stage is Stage.PRODUCTION
    ]
    pending = [r.request_id for r in requests if r.status is PromotionStatus.PENDING]
    head = (
        f"{name}/{number} takes all traffic only once approved for Production (the canary "
        "holds its step until then): "
    )
    if pending:
        denied = head + f"an approver runs `plinth models approve {pending[0]}`."
    else:
        denied = head + (
            f"run `plinth models request-promotion {name} {number} --stage Production` and "
            "have an approver run `plinth models approve REQUEST_ID`; or roll the canary back."
        )
    rejected = None if pending or since_ms is None else _rejected_since(requests, since_ms)
    return ProductionVerdict(denied, rejected)


def _rejected_since(requests: Sequence[PromotionRequest], since_ms: int) -> str | None:
    """The last decision on ``requests`` (none pending), if a rejection after ``since_ms``;
    a rejected duplicate of an approved request ends nothing."""
    decided = [r for r in requests if r.decided_at is not None and r.status in _DECISIONS]
    if not decided:
        return None
    last = max(decided, key=lambda r: (r.decided_at or 0, r.status is PromotionStatus.APPROVED))
    if last.status is not PromotionStatus.REJECTED or (last.decided_at or 0) <= since_ms:
        return None
    why = f": {last.decision_comment}" if last.decision_comment else ""
    return (
        f"{last.name}/{last.version}'s promotion to Production was rejected by "
        f"{last.decided_by} (request {last.request_id}){why}"
    )


_DECISIONS = frozenset((PromotionStatus.APPROVED, PromotionStatus.REJECTED))


def _live_denied(version: ModelVersion) -> PermissionDeniedError:
    name, number = version.name, version.version
    return PermissionDeniedError(
        f"{name}/{number} is not approved for live traffic (stage {version.current_stage}, "
        "no protected alias). Get it promoted first: `plinth models request-promotion "
        f"{name} {number} --stage Production`, then an approver runs `plinth models approve "
        "REQUEST_ID`; or try it as a canary or A-B variant after an approved Staging promotion."
    )


def _trial_denied(version: ModelVersion, route: Route) -> PermissionDeniedError:
    name, number = version.name, version.version
    what = "a canary" if route.role is RouteRole.CANARY else f"A-B variant {route.variant!r}"
    return PermissionDeniedError(
        f"{name}/{number} cannot serve as {what}: it needs an approved promotion request "
        f"(at least Staging). Run `plinth models request-promotion {name} {number} --stage "
        "Staging` and have an approver run `plinth models approve REQUEST_ID`; or deploy it "
        "as a shadow, which any registered version may be."
    )
