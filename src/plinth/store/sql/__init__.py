"""The SQL store: SQLAlchemy 2 over SQLite (embedded default) or PostgreSQL."""

from plinth.store.sql.auth import SqlAuthStore
from plinth.store.sql.engine import create_sql_engine
from plinth.store.sql.migrate import upgrade
from plinth.store.sql.tracking import SqlTrackingStore

__all__ = ["SqlAuthStore", "SqlTrackingStore", "create_sql_engine", "upgrade"]
