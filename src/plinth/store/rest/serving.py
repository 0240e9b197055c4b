"""``ServingStore`` over a Plinth server's /api/v1 (the SDK's remote transport).

The server runs the SQL store, so governance and the canary's compare-and-set happen there
and come back as the same ``PermissionDeniedError`` / ``ConflictError``.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from plinth.entities.guardrails import CanaryDecision
from plinth.entities.route_stats import RouteStats
from plinth.entities.serving import Endpoint, EndpointEvent, Feedback, Route, Slo
from plinth.errors import InvalidArgumentError, NotFoundError
from plinth.schemas.common import decode
from plinth.schemas.serving import (
    CanaryStart,
    EndpointCreate,
    EndpointEventCreate,
    FeedbackIn,
    FeedbackList,
    Reason,
    RouteStatsBatch,
    RoutesUpdate,
    SloUpdate,
)
from plinth.store.base.serving import ServingStore
from plinth.store.rest.client import RestClient, RetryPolicy, build, path_segment

_V1 = "/api/v1"


def _endpoint(name: str) -> str:
    if isinstance(name, str) and (not name or "/" in name):
        raise NotFoundError(f"Endpoint {name!r} does not exist.")
    return f"{_V1}/endpoints/{path_segment(name)}"


def _window(since_ms: int | None, until_ms: int | None) -> dict[str, int]:
    params = {"since_ms": since_ms, "until_ms": until_ms}
    return {k: v for k, v in params.items() if v is not None}


class RestServingStore(ServingStore):
    """The endpoints of a remote server; mutations are attributed to the token's user."""

    def __init__(self, http: httpx.Client, *, retry: RetryPolicy | None = None) -> None:
        self._api = RestClient(http, retry=retry)

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
        body = build(
            EndpointCreate,
            name=name,
            routes=list(routes),
            description=description,
            slo=slo,
            sticky_key=sticky_key,
            reason=reason,
        )
        return decode(Endpoint, self._api.call("POST", f"{_V1}/endpoints", body=body))

    def get_endpoint(self, name: str) -> Endpoint:
        return decode(Endpoint, self._api.call("GET", _endpoint(name)))

    def list_endpoints(self) -> list[Endpoint]:
        return decode(list[Endpoint], self._api.call("GET", f"{_V1}/endpoints"))

    def delete_endpoint(self, name: str, *, reason: str | None = None) -> None:
        params = {"reason": reason} if reason else None
        self._api.call("DELETE", _endpoint(name), params=params)

    def set_routes(
        self,
        name: str,
        routes: Sequence[Route],
        *,
        sticky_key: str | None = None,
        reason: str | None = None,
        expected_revision: int | None = None,
    ) -> Endpoint:
        body = build(
            RoutesUpdate,
            routes=list(routes),
            sticky_key=sticky_key,
            reason=reason,
            expected_revision=expected_revision,
        )
        return decode(Endpoint, self._api.call("PUT", f"{_endpoint(name)}/routes", body=body))

    def set_slo(self, name: str, slo: Slo) -> Endpoint:
        body = build(SloUpdate, **slo.to_json())
        return decode(Endpoint, self._api.call("PUT", f"{_endpoint(name)}/slo", body=body))

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
        body = build(
            CanaryStart,
            route=route,
            steps=list(steps),
            interval_s=interval_s,
            max_error_rate=max_error_rate,
            max_p99_ms=max_p99_ms,
            min_requests=min_requests,
            reason=reason,
        )
        return decode(Endpoint, self._api.call("POST", f"{_endpoint(name)}/canary", body=body))

    def advance_canary(self, name: str, *, now_ms: int | None = None) -> CanaryDecision:
        if now_ms is not None:
            raise InvalidArgumentError("A server judges canaries on its own clock (now_ms).")
        result = self._api.call("POST", f"{_endpoint(name)}/canary/advance")
        return decode(CanaryDecision, result)

    def promote(self, name: str, *, reason: str | None = None) -> Endpoint:
        body = build(Reason, reason=reason)
        return decode(Endpoint, self._api.call("POST", f"{_endpoint(name)}/promote", body=body))

    def rollback(self, name: str, *, reason: str | None = None) -> Endpoint:
        body = build(Reason, reason=reason)
        return decode(Endpoint, self._api.call("POST", f"{_endpoint(name)}/rollback", body=body))

    def list_endpoint_events(
        self, name: str, *, since_ms: int | None = None, limit: int = 1000
    ) -> list[EndpointEvent]:
        params = {"limit": limit, **_window(since_ms, None)}
        events = self._api.call("GET", f"{_endpoint(name)}/events", params=params)
        return decode(list[EndpointEvent], events)

    def record_endpoint_event(
        self,
        name: str,
        event_type: str,
        *,
        comment: str | None = None,
        details: dict[str, object] | None = None,
    ) -> None:
        body = build(
            EndpointEventCreate, event_type=event_type, comment=comment, details=details or {}
        )
        self._api.call("POST", f"{_endpoint(name)}/events", body=body)

    def record_route_stats(self, stats: Sequence[RouteStats]) -> None:
        if stats:
            body = build(RouteStatsBatch, items=list(stats))
            self._api.call("POST", f"{_V1}/route-stats", body=body)

    def list_route_stats(
        self, endpoint: str, *, since_ms: int, until_ms: int | None = None
    ) -> list[RouteStats]:
        params = _window(since_ms, until_ms)
        return decode(
            list[RouteStats], self._api.call("GET", f"{_endpoint(endpoint)}/stats", params=params)
        )

    def log_feedback(self, items: Sequence[Feedback]) -> int:
        logged = 0
        for name in dict.fromkeys(item.endpoint for item in items):
            batch = [
                build(
                    FeedbackIn,
                    request_id=item.request_id,
                    label=item.label,
                    outcomes=item.outcomes,
                    timestamp=item.timestamp or None,
                )
                for item in items
                if item.endpoint == name
            ]
            body = FeedbackList(batch)
            result = self._api.call("POST", f"{_endpoint(name)}/feedback", body=body)
            logged += int(result["logged"])
        return logged

    def list_feedback(
        self, endpoint: str, *, since_ms: int | None = None, until_ms: int | None = None
    ) -> list[Feedback]:
        params = _window(since_ms, until_ms)
        return decode(
            list[Feedback], self._api.call("GET", f"{_endpoint(endpoint)}/feedback", params=params)
        )

    def fetch_predictions(
        self, endpoint: str, *, since_ms: int | None = None, until_ms: int | None = None
    ) -> bytes:
        """The server's prediction log of ``endpoint`` in the window, as Parquet bytes."""
        params = _window(since_ms, until_ms)
        return self._api.call_bytes("GET", f"{_endpoint(endpoint)}/predictions", params=params)
