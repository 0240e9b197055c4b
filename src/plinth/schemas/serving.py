"""Wire models of /api/v1/endpoints and /api/v1/route-stats.

Responses are the serving entities themselves; these are request bodies and query strings.
"""

from __future__ import annotations

from pydantic import Field, RootModel

from plinth.entities.route_stats import RouteStats
from plinth.entities.serving import Route, Slo
from plinth.schemas.common import EpochMs, Wire


class EndpointCreate(Wire):
    name: str
    routes: list[Route]
    description: str | None = None
    slo: Slo | None = None
    sticky_key: str | None = None
    reason: str | None = None


class RoutesUpdate(Wire):
    routes: list[Route]
    sticky_key: str | None = Field(
        default=None, description="The request field whose hash picks an A-B variant."
    )
    reason: str | None = None
    expected_revision: int | None = Field(
        default=None, description="Refuse (409) if the endpoint changed since this revision."
    )


class CanaryStart(Wire):
    route: Route
    steps: list[int] = Field(default_factory=lambda: [5, 25, 100])
    interval_s: float = 1800.0
    max_error_rate: float | None = None
    max_p99_ms: float | None = None
    min_requests: int = 500
    reason: str | None = None


class Reason(Wire):
    reason: str | None = None


class EndpointEventCreate(Wire):
    event_type: str
    comment: str | None = None
    details: dict[str, object] = Field(default_factory=dict)


class EventQuery(Wire):
    since_ms: EpochMs | None = None
    limit: int = Field(default=1000, ge=1, le=10_000)


class TimeWindow(Wire):
    """``[since_ms, until_ms)`` in epoch milliseconds; either end optional."""

    since_ms: EpochMs | None = None
    until_ms: EpochMs | None = None


class RouteStatsBatch(Wire):
    items: list[RouteStats]


class FeedbackIn(Wire):
    """One piece of feedback for a request the endpoint served (the endpoint is in the path)."""

    request_id: str
    label: float | int | str | bool | None = Field(
        default=None, description="The ground-truth label (a number or a class name)."
    )
    outcomes: dict[str, float] = Field(
        default_factory=dict, description='Named numeric outcomes, e.g. {"converted": 1}.'
    )
    timestamp: EpochMs | None = Field(default=None, description="Epoch ms; default: now.")


class FeedbackList(RootModel[list[FeedbackIn]]):
    """A batch of feedback in one request."""


class SloUpdate(Wire):
    p99_ms: float | None = None
    error_rate: float | None = None
    availability: float | None = None
    window_s: int = 3600

    def to_entity(self) -> Slo:
        return Slo(
            p99_ms=self.p99_ms,
            error_rate=self.error_rate,
            availability=self.availability,
            window_s=self.window_s,
        )
