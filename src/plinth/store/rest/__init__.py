"""The REST store: the store ABCs over a Plinth server's /api/v1 (``PLINTH_URI=http(s)://``)."""

from __future__ import annotations

import httpx

from plinth.store.factory import Stores
from plinth.store.rest.auth import RestAuthStore
from plinth.store.rest.client import RetryPolicy, new_http_client
from plinth.store.rest.registry import RestRegistryStore
from plinth.store.rest.serving import RestServingStore
from plinth.store.rest.tracking import RestTrackingStore


def rest_stores(http: httpx.Client, *, retry: RetryPolicy | None = None) -> Stores:
    """Every store area over one ``httpx.Client`` (one connection pool, one identity)."""
    return Stores(
        tracking=RestTrackingStore(http, retry=retry),
        auth=RestAuthStore(http, retry=retry),
        registry=RestRegistryStore(http, retry=retry),
        serving=RestServingStore(http, retry=retry),
    )


def open_rest_stores(uri: str, *, token: str | None) -> Stores:
    """Stores for the server at ``uri``, authenticated by ``token`` when given."""
    return rest_stores(new_http_client(uri, token=token))


__all__ = [
    "RestAuthStore",
    "RestRegistryStore",
    "RestServingStore",
    "RestTrackingStore",
    "RetryPolicy",
    "open_rest_stores",
    "rest_stores",
]
