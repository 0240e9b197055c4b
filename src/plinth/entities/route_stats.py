"""Request counts and latency histograms per route and minute: what the canary guardrails
and the SLOs are judged on.

Every data-plane replica keeps one ``RouteStats`` per (route, minute) and writes it to the
store every few seconds; readers add them up over replicas and minutes. Latencies go into
fixed log-spaced buckets (about 10% wide), so quantiles of sums are exact to the bucket and
stats from any number of replicas merge by adding counts, as Prometheus histograms do.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

_GROWTH = 1.1
LATENCY_BOUNDS_MS: tuple[float, ...] = tuple(
    round(0.05 * _GROWTH**i, 6) for i in range(int(math.log(120_000 / 0.05, _GROWTH)) + 1)
)
"""Upper bounds (ms) of the latency buckets, 0.05 ms to ~2 min; one overflow bucket beyond."""

MINUTE_MS = 60_000


def bucket_of(latency_ms: float) -> int:
    """Index of the bucket that holds ``latency_ms`` (the last one for anything slower)."""
    return bisect.bisect_left(LATENCY_BOUNDS_MS, latency_ms)


def minute_of(timestamp_ms: int) -> int:
    return timestamp_ms - timestamp_ms % MINUTE_MS


@dataclass(slots=True, kw_only=True)
class RouteStats:
    """Counts of one route in one minute, as one replica saw them (mutable: the replica
    adds to it until the minute is over).

    ``errors`` are failures of the model or the server (5xx); ``invalid`` are requests
    refused for bad input (4xx), which count against neither guardrails nor SLOs.
    """

    endpoint: str
    route: str
    model_name: str
    version: str
    minute: int
    replica: str
    requests: int = 0
    errors: int = 0
    invalid: int = 0
    latency_sum_ms: float = 0.0
    buckets: dict[int, int] = field(default_factory=dict)
    """Bucket index -> count; sparse, most requests land in a handful of buckets."""

    def observe(self, latency_ms: float, *, status: str) -> None:
        self.requests += 1
        if status == "invalid":
            self.invalid += 1
            return
        if status == "error":
            self.errors += 1
        self.latency_sum_ms += latency_ms
        index = bucket_of(latency_ms)
        self.buckets[index] = self.buckets.get(index, 0) + 1


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowStats:
    """A route's stats summed over a window (replicas and minutes)."""

    requests: int = 0
    errors: int = 0
    invalid: int = 0
    latency_sum_ms: float = 0.0
    buckets: dict[int, int] = field(default_factory=dict)

    @property
    def judged(self) -> int:
        """Requests that count for guardrails and SLOs (not refused as bad input)."""
        return self.requests - self.invalid

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.judged if self.judged else None

    @property
    def availability(self) -> float | None:
        rate = self.error_rate
        return None if rate is None else 1.0 - rate

    def quantile_ms(self, q: float) -> float | None:
        """The ``q`` quantile of latency: the upper bound of the bucket that holds it."""
        total = sum(self.buckets.values())
        if not total:
            return None
        rank = math.ceil(q * total)
        seen = 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                return _upper_bound(index)
        return _upper_bound(max(self.buckets))

    def minus(self, earlier: WindowStats) -> WindowStats:
        """What was added since ``earlier``, a snapshot of the same running totals."""
        buckets = {
            index: count - earlier.buckets.get(index, 0)
            for index, count in self.buckets.items()
            if count > earlier.buckets.get(index, 0)
        }
        return WindowStats(
            requests=max(0, self.requests - earlier.requests),
            errors=max(0, self.errors - earlier.errors),
            invalid=max(0, self.invalid - earlier.invalid),
            latency_sum_ms=max(0.0, self.latency_sum_ms - earlier.latency_sum_ms),
            buckets=buckets,
        )

    def to_json(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "invalid": self.invalid,
            "latency_sum_ms": self.latency_sum_ms,
            "buckets": sorted(self.buckets.items()),
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> WindowStats:
        buckets = data.get("buckets") or []
        assert isinstance(buckets, list)
        return cls(
            requests=int(str(data.get("requests", 0))),
            errors=int(str(data.get("errors", 0))),
            invalid=int(str(data.get("invalid", 0))),
            latency_sum_ms=float(str(data.get("latency_sum_ms", 0.0))),
            buckets={int(i): int(c) for i, c in buckets},
        )

    @property
    def mean_ms(self) -> float | None:
        measured = sum(self.buckets.values())
        return self.latency_sum_ms / measured if measured else None


def _upper_bound(index: int) -> float:
    if index < len(LATENCY_BOUNDS_MS):
        return LATENCY_BOUNDS_MS[index]
    return math.inf


def summed(stats: Iterable[RouteStats | WindowStats]) -> WindowStats:
    """Add up stats of any replicas and minutes."""
    requests = errors = invalid = 0
    latency = 0.0
    buckets: dict[int, int] = {}
    for item in stats:
        requests += item.requests
        errors += item.errors
        invalid += item.invalid
        latency += item.latency_sum_ms
        for index, count in item.buckets.items():
            buckets[index] = buckets.get(index, 0) + count
    return WindowStats(
        requests=requests, errors=errors, invalid=invalid, latency_sum_ms=latency, buckets=buckets
    )


def by_route(stats: Sequence[RouteStats], route: str, version: str | None = None) -> WindowStats:
    """The sum of the rows of one route label (and version, if given)."""
    return summed(
        s for s in stats if s.route == route and (version is None or s.version == version)
    )
