"""Serving endpoints: a stable name with routes to model versions, and the rules a set of
routes must follow (live weights add up to 100, variants are named, shadows take no traffic).

A route's *label* is what the prediction log, the metrics and the response headers call it:
``primary``, ``canary``, ``shadow`` or the A-B variant's name.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from plinth.entities.registry import parse_version, validate_model_name
from plinth.errors import ConflictError, InvalidArgumentError

MAX_ENDPOINT_NAME_LENGTH = 63
MAX_SLO_WINDOW_S = 366 * 24 * 3600
_ENDPOINT_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9_-]*[a-z0-9])?$")
_VARIANT_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
RESERVED_LABELS = ("primary", "canary", "shadow")


class RouteRole(StrEnum):
    PRIMARY = "primary"
    CANARY = "canary"
    VARIANT = "variant"
    SHADOW = "shadow"


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """One model version behind an endpoint.

    Attributes:
        model_name: The registered model.
        version: Its version number, as a string like everywhere in the registry.
        weight: Percent of live traffic (0-100); shadows always 0.
        role: What the route is for; decides which promotion it needs.
        variant: The A-B variant's name (``a``, ``b``...) for ``VARIANT`` routes.
    """

    model_name: str
    version: str
    weight: int
    role: RouteRole = RouteRole.PRIMARY
    variant: str | None = None

    @property
    def model_version(self) -> str:
        """``NAME/VERSION``, as in the ``x-plinth-model-version`` header."""
        return f"{self.model_name}/{self.version}"

    @property
    def label(self) -> str:
        return self.variant if self.role is RouteRole.VARIANT and self.variant else self.role.value

    @property
    def is_live(self) -> bool:
        """Live routes answer requests; shadows only score copies of them."""
        return self.role is not RouteRole.SHADOW

    def with_weight(self, weight: int) -> Route:
        return replace(self, weight=weight)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "model_name": self.model_name,
            "version": self.version,
            "weight": self.weight,
            "role": self.role.value,
        }
        if self.variant:
            out["variant"] = self.variant
        return out

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Route:
        variant = data.get("variant")
        return cls(
            model_name=str(data["model_name"]),
            version=str(data["version"]),
            weight=int(str(data.get("weight", 0))),
            role=RouteRole(str(data.get("role", "primary"))),
            variant=str(variant) if variant else None,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Slo:
    """Service-level objectives of an endpoint, evaluated over a rolling window.

    Attributes:
        p99_ms: Latency objective: 99% of requests faster than this.
        error_rate: At most this fraction of requests may fail (model errors, 5xx).
        availability: At least this fraction of requests must succeed (e.g. 0.999).
        window_s: The rolling window the objectives are evaluated over.
    """

    p99_ms: float | None = None
    error_rate: float | None = None
    availability: float | None = None
    window_s: int = 3600

    @property
    def is_empty(self) -> bool:
        return self.p99_ms is None and self.error_rate is None and self.availability is None

    def to_json(self) -> dict[str, object]:
        return {
            "p99_ms": self.p99_ms,
            "error_rate": self.error_rate,
            "availability": self.availability,
            "window_s": self.window_s,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Slo:
        def number(key: str) -> float | None:
            value = data.get(key)
            return None if value is None else float(str(value))

        return cls(
            p99_ms=number("p99_ms"),
            error_rate=number("error_rate"),
            availability=number("availability"),
            window_s=int(str(data.get("window_s") or 3600)),
        )

    def validated(self) -> Slo:
        """Raises ``InvalidArgumentError`` naming the objective that is out of range."""
        if self.p99_ms is not None and not self.p99_ms > 0:
            raise InvalidArgumentError(f"slo_p99_ms must be > 0 milliseconds, got {self.p99_ms}.")
        for name, value in (
            ("slo_error_rate", self.error_rate),
            ("slo_availability", self.availability),
        ):
            if value is not None and not 0 <= value <= 1:
                raise InvalidArgumentError(
                    f"{name} is a fraction between 0 and 1 (e.g. 0.01 for 1%), got {value}."
                )
        if not 60 <= self.window_s <= MAX_SLO_WINDOW_S:
            # Past a year the window reaches back before any record (and, far enough, before
            # 1970, which no time query takes).
            raise InvalidArgumentError(
                f"The SLO window must be between 60 seconds and {MAX_SLO_WINDOW_S} (a year), "
                f"got {self.window_s}."
            )
        return self


@dataclass(frozen=True, slots=True, kw_only=True)
class CanaryPlan:
    """A canary being ramped by the controller.

    Attributes:
        route: The canary's route (role ``CANARY``); its weight is the current step's.
        baseline: The primary it replaces, as it was when the canary started.
        steps: Traffic percentages to go through, ending at 100.
        step_index: Index into ``steps`` of the current step.
        step_started_at: Epoch ms when the current step began (its stats count from here).
        interval_s: The least time each step lasts.
        max_error_rate: Guardrail: the canary's error rate in a step must stay at or below.
        max_p99_ms: Guardrail: the canary's p99 latency in a step must stay at or below.
        min_requests: A step is judged only once the canary has served this many requests.
        started_by: Who started it; the promotion at the end is requested in their name.
        reason: Why, as given at the start.
        step_offset: The canary's stats of the step's first minute already counted when
            the step began (stats are per-minute running totals), subtracted when judging
            the step, so a step is judged on its own requests only.
        baseline_offset: The same for the baseline route, whose share of refused requests
            the canary's is compared with.
        started_at: Epoch ms when the canary started (a rejection of its version's
            Production request after this rolls it back).
        completing: Set (compare-and-set) by whoever completes the canary, before the
            registry promotion, so of two deciders one goes on; a completion that stopped
            half way is resumed by the next judgement.
    """

    route: Route
    baseline: Route
    steps: tuple[int, ...]
    step_index: int
    step_started_at: int
    interval_s: float
    max_error_rate: float | None
    max_p99_ms: float | None
    min_requests: int
    started_by: str
    reason: str | None = None
    step_offset: dict[str, object] = field(default_factory=dict)
    baseline_offset: dict[str, object] = field(default_factory=dict)
    started_at: int = 0
    completing: bool = False

    @property
    def current_weight(self) -> int:
        return self.steps[self.step_index]

    @property
    def is_last_step(self) -> bool:
        return self.step_index == len(self.steps) - 1

    def to_json(self) -> dict[str, object]:
        return {
            "route": self.route.to_json(),
            "baseline": self.baseline.to_json(),
            "steps": list(self.steps),
            "step_index": self.step_index,
            "step_started_at": self.step_started_at,
            "interval_s": self.interval_s,
            "max_error_rate": self.max_error_rate,
            "max_p99_ms": self.max_p99_ms,
            "min_requests": self.min_requests,
            "started_by": self.started_by,
            "reason": self.reason,
            "step_offset": self.step_offset,
            "baseline_offset": self.baseline_offset,
            "started_at": self.started_at,
            "completing": self.completing,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> CanaryPlan:
        steps = data["steps"]
        assert isinstance(steps, list)
        error_rate, p99 = data.get("max_error_rate"), data.get("max_p99_ms")
        return cls(
            route=Route.from_json(_mapping(data["route"])),
            baseline=Route.from_json(_mapping(data["baseline"])),
            steps=tuple(int(s) for s in steps),
            step_index=int(str(data["step_index"])),
            step_started_at=int(str(data["step_started_at"])),
            interval_s=float(str(data["interval_s"])),
            max_error_rate=None if error_rate is None else float(str(error_rate)),
            max_p99_ms=None if p99 is None else float(str(p99)),
            min_requests=int(str(data["min_requests"])),
            started_by=str(data["started_by"]),
            reason=None if data.get("reason") is None else str(data["reason"]),
            step_offset=_mapping(data.get("step_offset") or {}),
            baseline_offset=_mapping(data.get("baseline_offset") or {}),
            # Plans written before started_at existed: their current step's start.
            started_at=int(str(data.get("started_at", data["step_started_at"]))),
            completing=bool(data.get("completing", False)),
        )


def _mapping(value: object) -> dict[str, object]:
    assert isinstance(value, dict)
    return value


class EndpointState(StrEnum):
    """What an endpoint's routes amount to, for ``plinth endpoints list``."""

    SERVING = "serving"
    CANARY = "canary"
    AB_TEST = "ab-test"
    SPLIT = "split"


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    name: str
    routes: tuple[Route, ...]
    revision: int
    created_by: str
    creation_timestamp: int
    last_updated_timestamp: int
    description: str | None = None
    sticky_key: str | None = None
    slo: Slo = field(default_factory=Slo)
    canary: CanaryPlan | None = None
    previous_routes: tuple[Route, ...] = ()

    @property
    def live_routes(self) -> tuple[Route, ...]:
        return tuple(r for r in self.routes if r.is_live and r.weight > 0)

    @property
    def shadows(self) -> tuple[Route, ...]:
        return tuple(r for r in self.routes if not r.is_live)

    @property
    def state(self) -> EndpointState:
        if self.canary is not None:
            return EndpointState.CANARY
        if any(r.role is RouteRole.VARIANT for r in self.routes):
            return EndpointState.AB_TEST
        return EndpointState.SPLIT if len(self.live_routes) > 1 else EndpointState.SERVING

    def route_for_version(self, version: str) -> Route | None:
        """The live route serving ``version`` (pinned-version requests go only there)."""
        return next((r for r in self.live_routes if r.version == version), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointEvent:
    """One entry of an endpoint's history."""

    event_id: int
    endpoint: str
    event_type: str
    user_name: str
    timestamp: int
    comment: str | None = None
    details: dict[str, object] = field(default_factory=dict)


class EndpointEventType(StrEnum):
    CREATED = "endpoint_created"
    DELETED = "endpoint_deleted"
    ROUTES_CHANGED = "routes_changed"
    CANARY_STARTED = "canary_started"
    CANARY_STEP = "canary_step"
    CANARY_ROLLED_BACK = "canary_rolled_back"
    CANARY_COMPLETING = "canary_completing"
    CANARY_COMPLETED = "canary_completed"
    ROLLED_BACK = "rolled_back"
    SLO_CHANGED = "slo_changed"
    SLO_BREACHED = "slo_breached"
    SLO_RECOVERED = "slo_recovered"


@dataclass(frozen=True, slots=True, kw_only=True)
class Feedback:
    """Ground truth (``label``) and/or named business outcomes for one served request.

    Attributes:
        endpoint: The endpoint that served it.
        request_id: The ``x-request-id`` of the response.
        label: The true label (a number or a class name), if known.
        outcomes: Named numeric outcomes (``{"converted": 1}``).
        timestamp: Epoch ms when the feedback was recorded.
        user_name: Who sent it.
    """

    endpoint: str
    request_id: str
    label: float | int | str | bool | None = None
    outcomes: dict[str, float] = field(default_factory=dict)
    timestamp: int = 0
    user_name: str = ""


# -- validation ------------------------------------------------------------------------------
def validate_endpoint_name(name: object) -> str:
    """Endpoint names go into URLs and metric labels: lowercase, digits, ``-`` and ``_``."""
    if not isinstance(name, str) or not _ENDPOINT_NAME_RE.match(name):
        raise InvalidArgumentError(
            f"Invalid endpoint name {name!r}: use lowercase letters, digits, '-' and '_' "
            "(starting and ending with a letter or digit), e.g. 'churn' or 'churn-eu'."
        )
    if len(name) > MAX_ENDPOINT_NAME_LENGTH:
        raise InvalidArgumentError(
            f"Endpoint name {name!r} is {len(name)} characters; the limit is "
            f"{MAX_ENDPOINT_NAME_LENGTH}."
        )
    return name


def validate_routes(routes: Sequence[Route]) -> tuple[Route, ...]:
    """The shape rules of a route set (governance is checked by the store).

    Raises:
        InvalidArgumentError: no live route, weights outside 0-100 or not adding up to 100,
            a version routed twice, unnamed or duplicate variants, a weighted shadow.
    """
    live = [r for r in routes if r.is_live]
    if not live:
        raise InvalidArgumentError("An endpoint needs at least one route that takes traffic.")
    for route in routes:
        _check_route(route)
    total = sum(r.weight for r in live)
    if total != 100:
        listed = ", ".join(f"{r.model_version}={r.weight}" for r in live)
        raise InvalidArgumentError(
            f"Live route weights must add up to 100, got {total} ({listed})."
        )
    _check_unique([r.model_version for r in live], "model version", "live routes")
    _check_unique([r.model_version for r in routes if not r.is_live], "model version", "shadows")
    variants = [r.variant or "" for r in live if r.role is RouteRole.VARIANT]
    _check_unique(variants, "variant name", "the A-B test")
    if variants:
        _check_ab_test(live)
    if any(r.role is RouteRole.CANARY for r in routes):
        raise InvalidArgumentError(
            "Canary routes are set by `plinth endpoints canary`, which ramps them under "
            "guardrails; use a manual split (plain routes) or start a canary."
        )
    return tuple(routes)


def _check_ab_test(live: Sequence[Route]) -> None:
    """An A-B test is two or more variants, each taking some traffic: a lone "variant"
    would put a version approved only for Staging on all live traffic."""
    if any(r.role is not RouteRole.VARIANT for r in live):
        raise InvalidArgumentError(
            "An A-B test routes live traffic to variants only; do not mix variants with "
            "other live routes (shadows are fine)."
        )
    if len(live) < 2 or any(r.weight <= 0 for r in live):
        raise InvalidArgumentError(
            "An A-B test needs at least two variants, each with a weight above 0 "
            "(e.g. --variant a=churn/6:50 --variant b=churn/7:50)."
        )


def _check_route(route: Route) -> None:
    validate_model_name(route.model_name)
    parse_version(route.version)
    if not 0 <= route.weight <= 100:
        raise InvalidArgumentError(
            f"Route {route.model_version} has weight {route.weight}; weights are 0-100 percent."
        )
    if route.role is RouteRole.SHADOW and route.weight:
        raise InvalidArgumentError(
            f"Shadow {route.model_version} cannot take traffic (weight {route.weight}); shadows "
            "score copies of requests and never answer them."
        )
    if route.role is RouteRole.VARIANT and not (route.variant and _VARIANT_RE.match(route.variant)):
        raise InvalidArgumentError(
            f"A-B variant name {route.variant!r} is invalid: use 1-32 letters, digits, '-' or '_'."
        )
    if route.role is RouteRole.VARIANT and route.variant in RESERVED_LABELS:
        raise InvalidArgumentError(
            f"A-B variant name {route.variant!r} is reserved; pick another (e.g. 'a', 'b')."
        )


def _check_unique(values: Iterable[str], what: str, where: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise InvalidArgumentError(f"{what.capitalize()} {value!r} appears twice in {where}.")
        seen.add(value)


def parse_model_version(text: str) -> tuple[str, str]:
    """``churn/7`` -> (``churn``, ``7``): the ``NAME/VERSION`` form the CLI takes."""
    name, sep, version = text.strip().rpartition("/")
    if not sep or not name:
        raise InvalidArgumentError(
            f"Expected NAME/VERSION (e.g. churn/7), got {text!r}; aliases (churn@production) "
            "are resolved by the caller."
        )
    return validate_model_name(name), str(parse_version(version))


# -- canary rules ------------------------------------------------------------------------------
def canary_baseline(current: Endpoint, route: Route) -> Route:
    if current.canary is not None:
        raise ConflictError(
            f"A canary of {current.canary.route.model_version} is already running on "
            f"{current.name!r}; promote or roll it back first."
        )
    live = current.live_routes
    if len(live) != 1 or live[0].role is not RouteRole.PRIMARY:
        raise ConflictError(
            f"Endpoint {current.name!r} splits traffic over {len(live)} routes; a canary "
            "replaces one primary. Set a single primary first (`plinth endpoints traffic`)."
        )
    if live[0].model_version == route.model_version:
        raise InvalidArgumentError(f"{route.model_version} already serves {current.name!r}.")
    return live[0]


def canary_routes(current: Endpoint, plan: CanaryPlan) -> tuple[Route, ...]:
    weight = plan.current_weight
    routes = [plan.route.with_weight(weight)]
    if weight < 100:
        routes.insert(0, plan.baseline.with_weight(100 - weight))
    shadows = [s for s in current.shadows if s.model_version != plan.route.model_version]
    return tuple(routes + shadows)


def validate_steps(steps: Sequence[int]) -> tuple[int, ...]:
    values = tuple(int(s) for s in steps)
    increasing = all(a < b for a, b in itertools.pairwise(values))
    if len(values) < 2 or values[-1] != 100 or values[0] < 1 or not increasing:
        raise InvalidArgumentError(
            f"Canary steps must be two or more increasing percentages ending at 100 "
            f"(e.g. 5,25,100), "
            f"got {','.join(map(str, values)) or 'none'}."
        )
    return values


def validate_fraction(name: str, value: float | None) -> float | None:
    if value is not None and not 0 <= value <= 1:
        raise InvalidArgumentError(f"{name} is a fraction between 0 and 1, got {value}.")
    return value


def validate_positive(name: str, value: float | None) -> float | None:
    if value is not None and not value > 0:
        raise InvalidArgumentError(f"{name} must be > 0, got {value}.")
    return value


def validate_non_negative(name: str, value: float) -> float:
    if value < 0:
        raise InvalidArgumentError(f"{name} must be >= 0, got {value}.")
    return value
