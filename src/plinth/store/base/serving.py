"""The serving store contract: endpoints, routes, canaries, route stats, feedback."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Self

from plinth.entities.guardrails import CanaryDecision
from plinth.entities.route_stats import RouteStats
from plinth.entities.serving import Endpoint, EndpointEvent, Feedback, Route, Slo


class ServingStore(ABC):
    """Endpoints and everything that decides where their traffic goes.

    The governance rule lives here, so no path can skip it: every change of routes checks
    each route against the registry. A primary route needs a version in Production or
    holding a protected alias; canaries and A-B variants need an approved promotion request
    (any target: Staging, Production or a protected alias); a shadow needs a registered
    version. Refusals raise ``PermissionDeniedError`` saying how to get the version approved.
    Every change of routes is written to the endpoint's history, to the history of every
    model it touches and to the audit log, with the user and the reason.
    """

    def with_actor(self, actor: str) -> Self:
        return self

    # -- endpoints -------------------------------------------------------------------------
    @abstractmethod
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
        """Raises ``InvalidArgumentError`` (bad name or routes), ``AlreadyExistsError``,
        ``NotFoundError`` (unknown model version) or ``PermissionDeniedError``."""

    @abstractmethod
    def get_endpoint(self, name: str) -> Endpoint:
        """Raises ``NotFoundError``."""

    @abstractmethod
    def list_endpoints(self) -> list[Endpoint]:
        """All endpoints by name."""

    @abstractmethod
    def delete_endpoint(self, name: str, *, reason: str | None = None) -> None:
        """Raises ``NotFoundError``."""

    @abstractmethod
    def set_routes(
        self,
        name: str,
        routes: Sequence[Route],
        *,
        sticky_key: str | None = None,
        reason: str | None = None,
        expected_revision: int | None = None,
    ) -> Endpoint:
        """Replace the routes (manual split, A-B test, shadows); ``sticky_key`` is the
        request field that A-B assignment hashes (kept only while variants route traffic;
        ``None`` assigns by request id).

        Raises:
            ConflictError: a canary is running (promote or roll it back first), or the
                endpoint changed since ``expected_revision``.
            InvalidArgumentError, NotFoundError, PermissionDeniedError: as for create.
        """

    @abstractmethod
    def set_slo(self, name: str, slo: Slo) -> Endpoint:
        """Raises ``InvalidArgumentError`` (objective out of range) or ``NotFoundError``."""

    # -- canary ----------------------------------------------------------------------------
    @abstractmethod
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
        """Route ``steps[0]`` percent to ``route``'s version and let the controller ramp it.

        Raises:
            ConflictError: a canary is already running, or the endpoint has more than
                one live route (a canary replaces one primary).
            InvalidArgumentError: steps not increasing percentages ending at 100, a
                guardrail out of range, the canary is the primary's version.
            NotFoundError, PermissionDeniedError: as for create.
        """

    @abstractmethod
    def advance_canary(self, name: str, *, now_ms: int | None = None) -> CanaryDecision:
        """Judge the current step on its route stats and act: wait, ramp to the next step,
        complete (archive the baseline, route 100% to the canary) or roll back (100% to the
        baseline). A ramp to 100% or a completion waits (``WAIT``, the reason naming the
        request to approve) until the canary's version is approved for Production by an
        approver. Safe to call from several replicas at once: a step is applied once.
        Raises ``NotFoundError`` or ``ConflictError`` (no canary running)."""

    @abstractmethod
    def promote(self, name: str, *, reason: str | None = None) -> Endpoint:
        """Complete the running canary now, whatever its stats. Raises ``ConflictError``
        (no canary), ``PermissionDeniedError`` (its version is not approved for Production
        yet) or ``NotFoundError``."""

    @abstractmethod
    def rollback(self, name: str, *, reason: str | None = None) -> Endpoint:
        """Abort the running canary (all traffic back to the baseline) or, with none
        running, restore the routes before the last change. Raises ``ConflictError``
        (nothing to roll back to), ``PermissionDeniedError`` (the previous version is no
        longer approved for traffic) or ``NotFoundError``."""

    @abstractmethod
    def list_endpoint_events(
        self, name: str, *, since_ms: int | None = None, limit: int = 1000
    ) -> list[EndpointEvent]:
        """The endpoint's history, oldest first (also after it was deleted)."""

    @abstractmethod
    def record_endpoint_event(
        self,
        name: str,
        event_type: str,
        *,
        comment: str | None = None,
        details: dict[str, object] | None = None,
    ) -> None:
        """Append an event written by another part of the platform (SLO breaches)."""

    # -- route stats -----------------------------------------------------------------------
    @abstractmethod
    def record_route_stats(self, stats: Sequence[RouteStats]) -> None:
        """Store each replica's stats of a (route, minute), replacing what the same replica
        wrote for it before (the replica sends running totals)."""

    @abstractmethod
    def list_route_stats(
        self, endpoint: str, *, since_ms: int, until_ms: int | None = None
    ) -> list[RouteStats]:
        """Rows of minutes in ``[since_ms, until_ms)`` (by minute start), all replicas."""

    # -- feedback --------------------------------------------------------------------------
    @abstractmethod
    def log_feedback(self, items: Sequence[Feedback]) -> int:
        """Store ground truth / outcomes; returns how many. Raises ``NotFoundError``
        (unknown endpoint) or ``InvalidArgumentError`` (no label and no outcomes, a
        non-numeric outcome)."""

    @abstractmethod
    def list_feedback(
        self, endpoint: str, *, since_ms: int | None = None, until_ms: int | None = None
    ) -> list[Feedback]:
        """Feedback in time order."""
