"""The deployment SDK (``plinth.serving.create_endpoint``, ``start_canary``, ``start_ab`` ...).

Each function is a call on the process-wide client (``plinth.get_client()``, or the
``client`` passed), so it works the same embedded and against a server; the CLI's
``plinth endpoints`` commands are shells over these. Models are named as ``NAME/VERSION``,
``NAME@ALIAS`` or any ``models:/`` URI; an alias or stage is resolved to its version when
the route is set (routes pin versions).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace

from plinth.client import Client
from plinth.entities.guardrails import CanaryDecision
from plinth.entities.serving import Endpoint, EndpointEvent, Route, RouteRole, Slo
from plinth.errors import InvalidArgumentError
from plinth.registry.uris import resolve_model_version
from plinth.serving.controller import EndpointHealth, endpoint_health
from plinth.tracking.fluent import get_client

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def resolve_route(model: str, *, client: Client | None = None, weight: int = 100) -> Route:
    """A primary route to the version ``model`` names now (``churn/7``, ``churn@production``,
    ``models:/churn/Production``)."""
    client = client or get_client()
    uri = model if model.startswith("models:/") else f"models:/{model}"
    version = resolve_model_version(client, uri)
    return Route(model_name=version.name, version=version.version, weight=weight)


def parse_duration(value: str | float) -> float:
    """Seconds from ``30m``, ``2h``, ``45s``, ``1d``, ``500ms`` or a number of seconds."""
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(value)
    if not match:
        raise InvalidArgumentError(
            f"Invalid duration {value!r}: use a number with a unit, e.g. 30m, 2h, 45s, 1d."
        )
    return float(match.group(1)) * _SECONDS[match.group(2)]


def create_endpoint(
    name: str,
    model: str,
    *,
    description: str | None = None,
    slo: Slo | None = None,
    reason: str | None = None,
    client: Client | None = None,
) -> Endpoint:
    """Create endpoint ``name`` serving ``model`` (which must be in Production or hold a
    protected alias) with all its traffic."""
    client = client or get_client()
    route = resolve_route(model, client=client)
    return client.stores.serving.create_endpoint(
        name, [route], description=description, slo=slo, reason=reason
    )


def get_endpoint(name: str, *, client: Client | None = None) -> Endpoint:
    return (client or get_client()).stores.serving.get_endpoint(name)


def list_endpoints(*, client: Client | None = None) -> list[Endpoint]:
    return (client or get_client()).stores.serving.list_endpoints()


def delete_endpoint(name: str, *, reason: str | None = None, client: Client | None = None) -> None:
    (client or get_client()).stores.serving.delete_endpoint(name, reason=reason)


def set_traffic(
    name: str,
    split: Mapping[str, int] | Sequence[str],
    *,
    reason: str | None = None,
    client: Client | None = None,
) -> Endpoint:
    """A manual split: ``{"churn/6": 90, "churn/7": 10}`` or ``["churn/6=90", "churn/7=10"]``.
    Shadows stay; an A-B test ends (its variants become plain routes of this split)."""
    client = client or get_client()
    pairs = _pairs(split)
    routes = [resolve_route(model, client=client, weight=weight) for model, weight in pairs]
    current = client.stores.serving.get_endpoint(name)
    return client.stores.serving.set_routes(
        name,
        [*routes, *current.shadows],
        reason=reason,
        expected_revision=current.revision,
    )


def _pairs(split: Mapping[str, int] | Sequence[str]) -> list[tuple[str, int]]:
    if isinstance(split, Mapping):
        return [(model, int(weight)) for model, weight in split.items()]
    pairs = []
    for item in split:
        model, sep, weight = item.rpartition("=")
        if not sep or not weight.strip().isdigit():
            raise InvalidArgumentError(f"Expected MODEL=PERCENT (e.g. churn/7=10), got {item!r}.")
        pairs.append((model.strip(), int(weight)))
    return pairs


def start_ab(
    name: str,
    variants: Mapping[str, tuple[str, int]] | Sequence[str],
    *,
    sticky_key: str | None = None,
    reason: str | None = None,
    client: Client | None = None,
) -> Endpoint:
    """An A-B test: ``{"a": ("churn/6", 50), "b": ("churn/7", 50)}`` or
    ``["a=churn/6:50", "b=churn/7:50"]``. Requests whose record has ``sticky_key`` are
    assigned by its hash (one customer, one variant); others by their request id."""
    client = client or get_client()
    routes = [
        replace(
            resolve_route(model, client=client, weight=weight),
            role=RouteRole.VARIANT,
            variant=label,
        )
        for label, (model, weight) in _variants(variants).items()
    ]
    current = client.stores.serving.get_endpoint(name)
    return client.stores.serving.set_routes(
        name,
        [*routes, *current.shadows],
        sticky_key=sticky_key,
        reason=reason,
        expected_revision=current.revision,
    )


def _variants(
    variants: Mapping[str, tuple[str, int]] | Sequence[str],
) -> dict[str, tuple[str, int]]:
    if isinstance(variants, Mapping):
        return {label: (model, int(weight)) for label, (model, weight) in variants.items()}
    parsed: dict[str, tuple[str, int]] = {}
    for item in variants:
        label, eq, rest = item.partition("=")
        model, colon, weight = rest.rpartition(":")
        if not eq or not colon or not weight.strip().isdigit() or not label.strip():
            raise InvalidArgumentError(
                f"Expected VARIANT=MODEL:PERCENT (e.g. a=churn/6:50), got {item!r}."
            )
        parsed[label.strip()] = (model.strip(), int(weight))
    return parsed


def set_shadow(
    name: str, model: str, *, reason: str | None = None, client: Client | None = None
) -> Endpoint:
    """Also score every request with ``model`` (any registered version), off the response
    path; its predictions go to the prediction log with route ``shadow``."""
    client = client or get_client()
    shadow = replace(resolve_route(model, client=client, weight=0), role=RouteRole.SHADOW)
    current = client.stores.serving.get_endpoint(name)
    routes = [r for r in current.routes if r.model_version != shadow.model_version or r.is_live]
    return client.stores.serving.set_routes(
        name,
        [*routes, shadow],
        sticky_key=current.sticky_key,
        reason=reason,
        expected_revision=current.revision,
    )


def remove_shadow(
    name: str, model: str, *, reason: str | None = None, client: Client | None = None
) -> Endpoint:
    client = client or get_client()
    current = client.stores.serving.get_endpoint(name)
    gone = resolve_route(model, client=client).model_version
    routes = [r for r in current.routes if r.is_live or r.model_version != gone]
    if len(routes) == len(current.routes):
        raise InvalidArgumentError(f"{gone} is not a shadow of endpoint {name!r}.")
    return client.stores.serving.set_routes(
        name,
        routes,
        sticky_key=current.sticky_key,
        reason=reason,
        expected_revision=current.revision,
    )


def start_canary(
    name: str,
    model: str,
    *,
    steps: Sequence[int] = (5, 25, 100),
    interval: str | float = "30m",
    max_error_rate: float | None = None,
    max_p99_ms: float | None = None,
    min_requests: int = 500,
    reason: str | None = None,
    client: Client | None = None,
) -> Endpoint:
    """Ramp ``model`` (approved at least for Staging) through ``steps`` percent of traffic.

    Each step lasts at least ``interval`` and until the canary served ``min_requests``;
    then the controller ramps on if its error rate and p99 held, and rolls back at once
    when they did not. After the last step the canary is promoted to Production (through
    an approved promotion request) and the old version archived.
    """
    client = client or get_client()
    route = resolve_route(model, client=client)
    return client.stores.serving.start_canary(
        name,
        route,
        steps=steps,
        interval_s=parse_duration(interval),
        max_error_rate=max_error_rate,
        max_p99_ms=max_p99_ms,
        min_requests=min_requests,
        reason=reason,
    )


def advance_canary(name: str, *, client: Client | None = None) -> CanaryDecision:
    """Judge the running canary now (the serving processes also do it every few seconds)."""
    return (client or get_client()).stores.serving.advance_canary(name)


def promote(name: str, *, reason: str | None = None, client: Client | None = None) -> Endpoint:
    """Complete the running canary now: promote it and send it all traffic."""
    return (client or get_client()).stores.serving.promote(name, reason=reason)


def rollback(name: str, *, reason: str | None = None, client: Client | None = None) -> Endpoint:
    """Abort the running canary, or undo the last change of routes."""
    return (client or get_client()).stores.serving.rollback(name, reason=reason)


def set_slo(
    name: str,
    *,
    p99_ms: float | None = None,
    error_rate: float | None = None,
    availability: float | None = None,
    window: str | float = "1h",
    client: Client | None = None,
) -> Endpoint:
    slo = Slo(
        p99_ms=p99_ms,
        error_rate=error_rate,
        availability=availability,
        window_s=int(parse_duration(window)),
    )
    return (client or get_client()).stores.serving.set_slo(name, slo)


def health(name: str, *, client: Client | None = None) -> EndpointHealth:
    """The endpoint's SLOs now: current value, objective and error-budget burn."""
    store = (client or get_client()).stores.serving
    return endpoint_health(store, store.get_endpoint(name))


def endpoint_events(
    name: str, *, since_ms: int | None = None, client: Client | None = None
) -> list[EndpointEvent]:
    return (client or get_client()).stores.serving.list_endpoint_events(name, since_ms=since_ms)
