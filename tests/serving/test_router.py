"""Route assignment: deterministic, sticky, and splitting traffic as the weights say."""

from __future__ import annotations

from collections import Counter

import pytest

from plinth.entities.serving import Endpoint, Route, RouteRole
from plinth.serving.router import RouteTable


def endpoint(*routes: Route, sticky_key: str | None = None) -> Endpoint:
    return Endpoint(
        name="churn",
        routes=routes,
        revision=1,
        created_by="t",
        creation_timestamp=0,
        last_updated_timestamp=0,
        sticky_key=sticky_key,
    )


def variant(label: str, version: str, weight: int) -> Route:
    return Route(
        model_name="churn", version=version, weight=weight, role=RouteRole.VARIANT, variant=label
    )


@pytest.mark.parametrize("weights", [(50, 50), (90, 10), (5, 95), (33, 33, 34)])
def test_observed_split_matches_weights_within_one_point(weights: tuple[int, ...]) -> None:
    routes = [variant(chr(97 + i), str(i + 1), w) for i, w in enumerate(weights)]
    table = RouteTable.of(endpoint(*routes))
    # Fixed keys, so the test is deterministic; 40,000 of them put one point at over four
    # standard deviations of a fair split (10,000 random ones failed one run in twenty).
    counts = Counter(table.route_for(f"request-{i}").label for i in range(40_000))
    for route in routes:
        assert abs(counts[route.label] / 400 - route.weight) <= 1.0, counts


def test_one_customer_always_gets_one_variant() -> None:
    table = RouteTable.of(endpoint(variant("a", "1", 50), variant("b", "2", 50)))
    for customer in range(200):
        labels = {table.route_for(f"cust-{customer}").label for _ in range(5)}
        assert len(labels) == 1
    # The same table built again (another replica, a restart) assigns the same way.
    again = RouteTable.of(endpoint(variant("b", "2", 50), variant("a", "1", 50)))
    assert all(table.route_for(f"c{i}") == again.route_for(f"c{i}") for i in range(1000))


def test_assign_groups_rows_by_route() -> None:
    table = RouteTable.of(endpoint(variant("a", "1", 50), variant("b", "2", 50)))
    keys = [f"c{i}" for i in range(100)]
    groups = table.assign(keys)
    assert sorted(i for rows in groups.values() for i in rows) == list(range(100))
    for route, rows in groups.items():
        assert all(table.route_for(keys[i]) == route for i in rows)


def test_shadows_and_zero_weights_take_no_traffic() -> None:
    primary = Route(model_name="churn", version="1", weight=100)
    shadow = Route(model_name="churn", version="3", weight=0, role=RouteRole.SHADOW)
    table = RouteTable.of(endpoint(primary, shadow))
    assert {table.route_for(str(i)) for i in range(500)} == {primary}
