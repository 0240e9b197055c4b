"""Pick the store implementation from the URI scheme (SQL for databases, REST for servers)."""

from __future__ import annotations

from dataclasses import dataclass

from plinth.config import Settings
from plinth.store.base import AuthStore, TrackingStore


@dataclass(frozen=True, slots=True, kw_only=True)
class Stores:
    """Every store area over one backend, acting as one user."""

    tracking: TrackingStore
    auth: AuthStore

    def with_actor(self, actor: str) -> Stores:
        """The same stores attributing mutations to ``actor``."""
        return Stores(tracking=self.tracking.with_actor(actor), auth=self.auth.with_actor(actor))


def open_sql_stores(uri: str) -> Stores:
    """SQL stores on ``uri``, migrated to the newest schema."""
    from plinth.store.sql import SqlAuthStore, SqlTrackingStore, create_sql_engine, upgrade

    engine = create_sql_engine(uri)
    upgrade(engine)
    return Stores(tracking=SqlTrackingStore(engine), auth=SqlAuthStore(engine))


def open_stores(settings: Settings) -> Stores:
    """Stores for ``settings.store_uri``: SQL for sqlite/postgresql, REST for http(s)."""
    if settings.is_remote:
        from plinth.store.rest import open_rest_stores

        return open_rest_stores(settings.store_uri, token=settings.token)
    return open_sql_stores(settings.store_uri)
