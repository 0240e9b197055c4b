"""FastAPI dependencies: stores bound to the calling user, the artifact store.

They are ``async`` because they only pick objects off ``app.state``: a plain ``def``
dependency costs a thread-pool round trip per request, which the logging hot path
(one HTTP call per ``log_param``) feels.
"""

from __future__ import annotations

from fastapi import Depends, Request

from plinth.artifacts import ArtifactStore
from plinth.entities import User
from plinth.server.auth import current_user
from plinth.store.base import AuthStore, RegistryStore, TrackingStore
from plinth.store.base.serving import ServingStore
from plinth.store.factory import Stores


async def get_stores(request: Request, user: User = Depends(current_user)) -> Stores:
    stores: Stores = request.app.state.stores
    return stores.with_actor(user.name)


async def get_tracking_store(stores: Stores = Depends(get_stores)) -> TrackingStore:
    return stores.tracking


async def get_auth_store(stores: Stores = Depends(get_stores)) -> AuthStore:
    return stores.auth


async def get_registry_store(stores: Stores = Depends(get_stores)) -> RegistryStore:
    return stores.registry


async def get_artifact_store(request: Request) -> ArtifactStore:
    store: ArtifactStore = request.app.state.artifact_store
    return store


async def get_serving_store(stores: Stores = Depends(get_stores)) -> ServingStore:
    return stores.serving
