"""Which route answers a request: weighted, deterministic assignment by hashing a key.

The key is the value of the endpoint's sticky field in the request's record (A-B tests:
one customer always gets one variant) or, without one, the request id (canaries and
manual splits: a fair random split). A key is hashed to one of 10,000 slots and the live
routes own consecutive slot ranges in proportion to their weights, so assignment is
stable across replicas and restarts and the observed split converges to the weights.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from plinth.entities.serving import Endpoint, Route

SLOTS = 10_000


def slot_of(key: str) -> int:
    """A key's slot in ``[0, SLOTS)``: the first 8 bytes of its BLAKE2b digest, mod SLOTS."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % SLOTS


@dataclass(frozen=True, slots=True)
class RouteTable:
    """The live routes of one endpoint revision with their slot boundaries."""

    routes: tuple[Route, ...]
    bounds: tuple[int, ...]
    """``bounds[i]`` is the first slot after ``routes[i]``'s range."""

    @classmethod
    def of(cls, endpoint: Endpoint) -> RouteTable:
        # Ordered by label so every replica (and every restart) cuts the same ranges.
        live = sorted(endpoint.live_routes, key=lambda r: (r.label, r.model_version))
        bounds: list[int] = []
        edge = 0
        for route in live:
            edge += route.weight * SLOTS // 100
            bounds.append(edge)
        if bounds:
            bounds[-1] = SLOTS  # integer division never leaves the last slots unowned
        return cls(tuple(live), tuple(bounds))

    def route_for(self, key: str) -> Route:
        slot = slot_of(key)
        for route, bound in zip(self.routes, self.bounds, strict=True):
            if slot < bound:
                return route
        return self.routes[-1]

    def assign(self, keys: Sequence[str]) -> dict[Route, list[int]]:
        """Row indices per route, for a request whose rows carry different sticky keys."""
        groups: dict[Route, list[int]] = {}
        for index, key in enumerate(keys):
            groups.setdefault(self.route_for(key), []).append(index)
        return groups
