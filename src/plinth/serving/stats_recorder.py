"""A replica's running route stats, reported to the store every few seconds.

Observations happen on the event loop (a dict lookup and a few additions); ``snapshot``
copies what changed since the last report so the store write can run in a thread. Each
report sends the running totals of the minutes touched, which the store upserts, so a lost
or repeated report never double counts.
"""

from __future__ import annotations

import os
import socket
from dataclasses import replace

from plinth.entities.route_stats import MINUTE_MS, RouteStats, minute_of
from plinth.entities.serving import Route

_Key = tuple[str, str, str, str, int]


def default_replica_id() -> str:
    """``host-pid``: unique per worker process, readable in the stats table."""
    return f"{socket.gethostname()[:40]}-{os.getpid()}"


class StatsRecorder:
    def __init__(self, *, replica: str | None = None) -> None:
        self.replica = replica or default_replica_id()
        self._stats: dict[_Key, RouteStats] = {}
        self._dirty: set[_Key] = set()

    def observe(
        self, endpoint: str, route: Route, *, status: str, latency_ms: float, now_ms: int
    ) -> None:
        minute = minute_of(now_ms)
        key = (endpoint, route.label, route.model_name, route.version, minute)
        stats = self._stats.get(key)
        if stats is None:
            stats = self._stats[key] = RouteStats(
                endpoint=endpoint,
                route=route.label,
                model_name=route.model_name,
                version=route.version,
                minute=minute,
                replica=self.replica,
            )
        stats.observe(latency_ms, status=status)
        self._dirty.add(key)

    def snapshot(self, *, now_ms: int) -> list[RouteStats]:
        """Copies of the stats changed since the last snapshot; forgets minutes that are
        over and already reported."""
        changed = [
            replace(self._stats[k], buckets=dict(self._stats[k].buckets)) for k in self._dirty
        ]
        self._dirty.clear()
        horizon = minute_of(now_ms) - MINUTE_MS
        for key in [k for k in self._stats if k[4] < horizon]:
            del self._stats[key]
        return changed

    def requeue(self, stats: list[RouteStats]) -> None:
        """A report failed: send these minutes again next time."""
        for item in stats:
            key = (item.endpoint, item.route, item.model_name, item.version, item.minute)
            if key in self._stats:
                self._dirty.add(key)
