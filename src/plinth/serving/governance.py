"""Which model versions may take which traffic, checked on every change of routes.

- live (primary) traffic: the version is in Production or holds a protected alias; both
  are reachable only through an approved promotion request;
- canary and A-B variant traffic: the version has an approved promotion request of any
  target (at least Staging), or qualifies for live traffic;
- shadow scoring: any registered version (a shadow never answers a request).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from plinth.entities.registry import (
    ModelVersion,
    PromotionStatus,
    Stage,
    is_protected_alias,
)
from plinth.entities.serving import Route, RouteRole
from plinth.errors import PermissionDeniedError
from plinth.store.base import RegistryStore


def check_routes(
    routes: Sequence[Route], registry: RegistryStore, protected_aliases: Iterable[str]
) -> None:
    """Raises ``NotFoundError`` for an unregistered version and ``PermissionDeniedError``
    for a version not approved for its route's role."""
    protected = tuple(protected_aliases)
    for route in routes:
        version = registry.get_model_version(route.model_name, route.version)
        if route.role is RouteRole.SHADOW or is_live_approved(version, protected):
            continue
        if route.role is RouteRole.PRIMARY:
            raise _live_denied(version)
        if not _has_approved_request(route, registry):
            raise _trial_denied(version, route)


def is_live_approved(version: ModelVersion, protected_aliases: Iterable[str]) -> bool:
    """In Production, or holding a protected alias."""
    if version.current_stage is Stage.PRODUCTION:
        return True
    return any(is_protected_alias(alias, protected_aliases) for alias in version.aliases)


def _has_approved_request(route: Route, registry: RegistryStore) -> bool:
    approved = registry.list_promotion_requests(
        name=route.model_name, status=PromotionStatus.APPROVED
    )
    return any(request.version == route.version for request in approved)


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
