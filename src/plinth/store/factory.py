"""Pick the store implementation from the URI scheme (SQL for databases, REST for servers)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from plinth.config import Settings
from plinth.entities.registry import DEFAULT_PROTECTED_ALIASES, PackageInspector
from plinth.store.base import AuthStore, RegistryStore, TrackingStore
from plinth.store.base.serving import ServingStore


@dataclass(frozen=True, slots=True, kw_only=True)
class Stores:
    """Every store area over one backend, acting as one user."""

    tracking: TrackingStore
    auth: AuthStore
    registry: RegistryStore
    serving: ServingStore

    def with_actor(self, actor: str) -> Stores:
        """The same stores attributing mutations to ``actor``."""
        return Stores(
            tracking=self.tracking.with_actor(actor),
            auth=self.auth.with_actor(actor),
            registry=self.registry.with_actor(actor),
            serving=self.serving.with_actor(actor),
        )


def open_sql_stores(
    uri: str,
    *,
    protected_aliases: Sequence[str] = DEFAULT_PROTECTED_ALIASES,
    package_inspector: PackageInspector | None = None,
) -> Stores:
    """SQL stores on ``uri``, migrated to the newest schema.

    Args:
        uri: A ``sqlite:///`` or ``postgresql+psycopg://`` URI.
        protected_aliases: Aliases that move only through an approved promotion.
        package_inspector: Reads a version's model package for the ``signature`` gate;
            without one that gate fails with "cannot inspect the package".
    """
    from plinth.store.sql import SqlAuthStore, SqlTrackingStore, create_sql_engine, upgrade
    from plinth.store.sql.registry import SqlRegistryStore
    from plinth.store.sql.serving import SqlServingStore

    engine = create_sql_engine(uri)
    upgrade(engine)
    registry = SqlRegistryStore(
        engine, protected_aliases=protected_aliases, package_inspector=package_inspector
    )
    return Stores(
        tracking=SqlTrackingStore(engine),
        auth=SqlAuthStore(engine),
        registry=registry,
        serving=SqlServingStore(engine, registry=registry),
    )


def open_stores(settings: Settings, *, package_inspector: PackageInspector | None = None) -> Stores:
    """Stores for ``settings.store_uri``: SQL for sqlite/postgresql, REST for http(s).

    ``package_inspector`` serves the SQL registry's ``signature`` gate; a server evaluates
    gates itself, so the REST stores need none.
    """
    if settings.is_remote:
        from plinth.store.rest import open_rest_stores

        return open_rest_stores(settings.store_uri, token=settings.token)
    return open_sql_stores(
        settings.store_uri,
        protected_aliases=settings.protected_aliases,
        package_inspector=package_inspector,
    )
