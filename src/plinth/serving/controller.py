"""The control loop of serving: ramps or rolls back canaries and watches SLOs.

It runs inside every ``plinth server`` and ``plinth serve`` process (``--no-control``
turns it off). Several copies are safe: a canary step is a compare-and-set on the
endpoint's revision, so only one replica applies it; the others see a conflict and skip.
SLO breaches and recoveries are endpoint events (``slo_breached`` / ``slo_recovered``)
that the monitoring layer alerts on; a replica writes one only when the state it last saw
in the endpoint's history differs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from plinth.entities import now_ms
from plinth.entities.guardrails import CanaryAction, CanaryDecision, SloStatus, evaluate_slo
from plinth.entities.route_stats import WindowStats, summed
from plinth.entities.serving import Endpoint, EndpointEventType
from plinth.errors import ConflictError, NotFoundError
from plinth.store.base.serving import ServingStore

log = logging.getLogger("plinth.serving")

SLO_EVENTS = (EndpointEventType.SLO_BREACHED.value, EndpointEventType.SLO_RECOVERED.value)


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointHealth:
    """An endpoint's SLOs now (``plinth endpoints show``)."""

    endpoint: str
    window_s: int
    stats: WindowStats
    slo: list[SloStatus]

    @property
    def breached(self) -> list[SloStatus]:
        return [s for s in self.slo if s.ok is False]


def endpoint_health(
    store: ServingStore, endpoint: Endpoint, *, now: int | None = None
) -> EndpointHealth:
    """Evaluate ``endpoint``'s SLOs over its window from the recorded route stats (every
    replica's, every live route; shadows excluded: they answer nobody)."""
    now = now or now_ms()
    window = endpoint.slo.window_s
    rows = store.list_route_stats(endpoint.name, since_ms=now - window * 1000)
    stats = summed(r for r in rows if r.route != "shadow")
    return EndpointHealth(
        endpoint=endpoint.name, window_s=window, stats=stats, slo=evaluate_slo(endpoint.slo, stats)
    )


class Controller:
    """Args:
    store: The serving store, acting as the controller's user.
    endpoints: Only these endpoints (None: all).
    """

    def __init__(self, store: ServingStore, *, endpoints: Sequence[str] | None = None) -> None:
        self.store = store
        self.endpoints = None if endpoints is None else set(endpoints)

    async def run(self, *, canary_every_s: float = 5.0, slo_every_s: float = 30.0) -> None:
        """Forever: canary steps every ``canary_every_s``, SLOs every ``slo_every_s``."""
        ticks = 0
        per_slo = max(1, round(slo_every_s / canary_every_s))
        while True:
            await asyncio.sleep(canary_every_s)
            try:
                await asyncio.to_thread(self.step_canaries)
                if ticks % per_slo == 0:
                    await asyncio.to_thread(self.check_slos)
            except Exception:  # the loop must outlive a bad round (store briefly down)
                log.exception("Serving controller round failed")
            ticks += 1

    def _endpoints(self) -> list[Endpoint]:
        return [
            e
            for e in self.store.list_endpoints()
            if self.endpoints is None or e.name in self.endpoints
        ]

    def step_canaries(self) -> list[tuple[str, CanaryDecision]]:
        """One judgement of every running canary; returns what was decided."""
        decided = []
        for endpoint in self._endpoints():
            if endpoint.canary is None:
                continue
            try:
                decision = self.store.advance_canary(endpoint.name)
            except (ConflictError, NotFoundError):
                continue  # another replica acted first, or the endpoint went away
            except Exception:  # one endpoint's trouble must not stop the others' rollbacks
                log.exception("Judging the canary on %s failed", endpoint.name)
                continue
            if decision.action is not CanaryAction.WAIT:
                log.info("Canary on %s: %s (%s)", endpoint.name, decision.action, decision.reason)
            decided.append((endpoint.name, decision))
        return decided

    def check_slos(self) -> list[EndpointHealth]:
        """Evaluate every endpoint's SLOs; record breaches and recoveries as events."""
        checked = []
        for endpoint in self._endpoints():
            if endpoint.slo.is_empty:
                continue
            try:
                health = endpoint_health(self.store, endpoint)
                self._record_transition(endpoint.name, health)
            except Exception:
                log.exception("Checking the SLOs of %s failed", endpoint.name)
                continue
            checked.append(health)
        return checked

    def _record_transition(self, name: str, health: EndpointHealth) -> None:
        """Write a breach or recovery event when the state differs from the last one in the
        endpoint's history (read each time, so replicas do not repeat each other)."""
        breached = bool(health.breached)
        if self._last_state(name) == breached:
            return
        event = EndpointEventType.SLO_BREACHED if breached else EndpointEventType.SLO_RECOVERED
        details: dict[str, object] = {
            s.objective: {"target": s.target, "current": s.current, "budget_burn": s.budget_burn}
            for s in health.slo
        }
        comment = ", ".join(
            f"{s.objective} {s.current:.4g} vs {s.target:g}"
            for s in (health.breached or health.slo)
            if s.current is not None
        )
        self.store.record_endpoint_event(name, event, comment=comment, details=details)

    def _last_state(self, name: str) -> bool:
        events = self.store.list_endpoint_events(name, limit=200)
        for event in reversed(events):
            if event.event_type in SLO_EVENTS:
                return event.event_type == EndpointEventType.SLO_BREACHED.value
        return False
