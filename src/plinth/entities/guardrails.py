"""The rules that judge live traffic: canary guardrails (ramp, hold or roll back) and SLOs
(current value against objective, error-budget burn). Pure functions over ``WindowStats``.

A guardrail is breached "at once" only when the breach is already certain: when the errors
(or requests slower than the p99 limit) seen so far exceed what the limit allows even if
every remaining request of the step's ``min_requests`` succeeded fast. One early error out
of three requests does not roll back a canary; eleven errors with a 1% limit over 1,000
requests do, without waiting for the thousandth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from plinth.entities.route_stats import WindowStats, bucket_of
from plinth.entities.serving import CanaryPlan, Slo

P99 = 0.99
CERTAIN_Z = 3.09
"""One-sided z of a 0.1% chance: how far beyond the limit a difference of two sampled
shares must lie before it is taken as the canary's, not the sample's."""


class CanaryAction(StrEnum):
    WAIT = "wait"
    ADVANCE = "advance"
    COMPLETE = "complete"
    ROLLBACK = "rollback"


@dataclass(frozen=True, slots=True, kw_only=True)
class CanaryDecision:
    action: CanaryAction
    reason: str
    requests: int
    error_rate: float | None
    p99_ms: float | None
    next_weight: int | None = None


def slower_than(stats: WindowStats, limit_ms: float) -> int:
    """Requests certainly slower than ``limit_ms`` (in buckets entirely above it)."""
    first = bucket_of(limit_ms) + 1
    return sum(count for index, count in stats.buckets.items() if index >= first)


def decide_canary(
    plan: CanaryPlan, stats: WindowStats, *, now_ms: int, baseline: WindowStats | None = None
) -> CanaryDecision:
    """What the controller does next with a canary whose current step saw ``stats`` (and
    its baseline ``baseline``, over the same time)."""
    breach = _certain_breach(plan, stats)
    if breach:
        return _decision(CanaryAction.ROLLBACK, breach, stats)
    elapsed_s = (now_ms - plan.step_started_at) / 1000
    if elapsed_s >= plan.interval_s and stats.requests >= max(plan.min_requests, 1):
        # Judged on all the step's requests, before waiting for enough judged ones: a
        # canary refusing every request would otherwise wait forever.
        refused = _refuses_more(plan, stats, baseline)
        if refused:
            return _decision(CanaryAction.ROLLBACK, refused, stats)
    if stats.judged < plan.min_requests:
        reason = f"{stats.judged}/{plan.min_requests} requests in step {plan.current_weight}%"
        return _decision(CanaryAction.WAIT, reason, stats)
    if elapsed_s < plan.interval_s:
        reason = f"step {plan.current_weight}% runs {plan.interval_s - elapsed_s:.0f}s more"
        return _decision(CanaryAction.WAIT, reason, stats)
    breach = _breach(plan, stats)
    if breach:
        return _decision(CanaryAction.ROLLBACK, breach, stats)
    if plan.is_last_step:
        return _decision(CanaryAction.COMPLETE, "every step passed its guardrails", stats)
    weight = plan.steps[plan.step_index + 1]
    reason = f"step {plan.current_weight}% passed; ramping to {weight}%"
    return _decision(CanaryAction.ADVANCE, reason, stats, next_weight=weight)


def _decision(
    action: CanaryAction, reason: str, stats: WindowStats, *, next_weight: int | None = None
) -> CanaryDecision:
    return CanaryDecision(
        action=action,
        reason=reason,
        requests=stats.judged,
        error_rate=stats.error_rate,
        p99_ms=stats.quantile_ms(P99),
        next_weight=next_weight,
    )


def _certain_breach(plan: CanaryPlan, stats: WindowStats) -> str | None:
    horizon = max(plan.min_requests, stats.judged)
    if plan.max_error_rate is not None and stats.errors > plan.max_error_rate * horizon:
        return (
            f"{stats.errors} errors in {stats.judged} requests exceed the error-rate limit "
            f"{plan.max_error_rate:g} over the step's {horizon} requests"
        )
    if plan.max_p99_ms is not None:
        slow = slower_than(stats, plan.max_p99_ms)
        if slow > (1 - P99) * horizon:
            return (
                f"{slow} requests slower than {plan.max_p99_ms:g} ms put p99 over its limit "
                f"over the step's {horizon} requests"
            )
    return None


def _refuses_more(plan: CanaryPlan, stats: WindowStats, baseline: WindowStats | None) -> str | None:
    """The canary refused as invalid a larger share of its step's requests than the
    baseline failed (invalid or errors) of the same traffic, by more than the error-rate
    limit and beyond chance: it fails on input the baseline takes (a stricter signature,
    missing values it cannot score). Invalid requests are otherwise the callers' and never
    count as errors. Judged once the step's interval and requests are in, only while the
    baseline serves part of the step (not at 100%) and served at least as many requests."""
    if plan.max_error_rate is None or baseline is None:
        return None
    if baseline.requests < max(plan.min_requests, 1):
        return None
    mine = stats.invalid / stats.requests
    theirs = (baseline.invalid + baseline.errors) / baseline.requests
    if mine - theirs <= plan.max_error_rate:
        return None
    # Agresti-Caffo: one refused and one served request added to each side keep a few
    # requests (all refused on one side, none on the other) from looking certain.
    adjusted = (stats.invalid + 1) / (stats.requests + 2)
    base = (baseline.invalid + baseline.errors + 1) / (baseline.requests + 2)
    spread = math.sqrt(
        adjusted * (1 - adjusted) / (stats.requests + 2)
        + base * (1 - base) / (baseline.requests + 2)
    )
    if (adjusted - base - plan.max_error_rate) / spread < CERTAIN_Z:
        return None  # within what sampling alone could produce
    return (
        f"{stats.invalid} of the canary's {stats.requests} requests were refused as invalid "
        f"({mine:.2%}) against {theirs:.2%} of the baseline's failing: it fails on input the "
        f"baseline takes (limit {plan.max_error_rate:g} more)"
    )


def _breach(plan: CanaryPlan, stats: WindowStats) -> str | None:
    rate = stats.error_rate or 0.0
    if plan.max_error_rate is not None and rate > plan.max_error_rate:
        return f"error rate {rate:.4f} > limit {plan.max_error_rate:g}"
    measured = sum(stats.buckets.values())
    if plan.max_p99_ms is not None and measured:
        # Judged by the requests certainly slower than the limit, not by the bucket bound
        # that holds the p99 (which may lie above the limit while every request was below).
        slow = slower_than(stats, plan.max_p99_ms)
        if slow > (1 - P99) * measured:
            return f"{slow} of {measured} requests slower than {plan.max_p99_ms:g} ms (p99 over)"
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class SloStatus:
    """One objective of an endpoint now.

    Attributes:
        objective: ``p99_ms``, ``error_rate`` or ``availability``.
        target: The objective's value.
        current: The value over the window (None without traffic).
        ok: Whether the objective holds (None without traffic).
        budget_burn: How fast the error budget is being spent: 1.0 spends exactly the
            budget over the window, 2.0 twice as fast (None without traffic).
    """

    objective: str
    target: float
    current: float | None
    ok: bool | None
    budget_burn: float | None


def evaluate_slo(slo: Slo, stats: WindowStats) -> list[SloStatus]:
    """The endpoint's objectives against ``stats`` of its window (all live routes summed)."""
    out: list[SloStatus] = []
    if slo.p99_ms is not None:
        out.append(_p99_status(slo.p99_ms, stats))
    if slo.error_rate is not None:
        rate = stats.error_rate
        burn = None if rate is None else _burn(rate, slo.error_rate)
        ok = None if rate is None else rate <= slo.error_rate
        out.append(
            SloStatus(
                objective="error_rate", target=slo.error_rate, current=rate, ok=ok, budget_burn=burn
            )
        )
    if slo.availability is not None:
        avail = stats.availability
        burn = None if avail is None else _burn(1 - avail, 1 - slo.availability)
        ok = None if avail is None else avail >= slo.availability
        out.append(
            SloStatus(
                objective="availability",
                target=slo.availability,
                current=avail,
                ok=ok,
                budget_burn=burn,
            )
        )
    return out


def _p99_status(target_ms: float, stats: WindowStats) -> SloStatus:
    p99 = stats.quantile_ms(P99)
    measured = sum(stats.buckets.values())
    if p99 is None or not measured:
        return SloStatus(
            objective="p99_ms", target=target_ms, current=None, ok=None, budget_burn=None
        )
    slow_fraction = slower_than(stats, target_ms) / measured
    return SloStatus(
        objective="p99_ms",
        target=target_ms,
        current=p99,
        ok=slow_fraction <= 1 - P99,
        budget_burn=_burn(slow_fraction, 1 - P99),
    )


def _burn(observed_bad: float, allowed_bad: float) -> float:
    if allowed_bad <= 0:
        return 0.0 if observed_bad <= 0 else float("inf")
    return observed_bad / allowed_bad
