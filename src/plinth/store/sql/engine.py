"""Engines for the SQL store: SQLite (embedded default) and PostgreSQL, with migrations.

SQLite runs in WAL mode so readers never block the writer, with foreign keys on and a
generous busy timeout so that several processes can log into one file at once. Write
transactions start with ``BEGIN IMMEDIATE``: a deferred transaction that reads first and
writes later can fail with "database is locked" when another process wrote in between,
whereas an immediate one simply waits its turn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from plinth.errors import InvalidArgumentError

WRITE_OPTION = "plinth_write"
SQLITE_BUSY_TIMEOUT_S = 60


def create_sql_engine(uri: str) -> Engine:
    """Create an engine for a ``sqlite:///`` or ``postgresql+psycopg://`` URI."""
    try:
        url = make_url(uri)
    except ArgumentError as exc:
        raise InvalidArgumentError(f"PLINTH_URI {uri!r} is not a valid database URL") from exc
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(uri, url.database)
    if url.get_backend_name() == "postgresql":
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        try:
            return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
        except (NoSuchModuleError, ModuleNotFoundError) as exc:
            raise InvalidArgumentError(
                "PostgreSQL needs the psycopg driver: pip install 'plinth[postgres]'"
            ) from exc
    raise InvalidArgumentError(
        f"Unsupported database {url.get_backend_name()!r}; use sqlite:/// or postgresql+psycopg://"
    )


def _sqlite_engine(uri: str, database: str | None) -> Engine:
    if database and database != ":memory:":
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        uri,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
        # Let SQLAlchemy emit BEGIN itself (see _begin) instead of pysqlite's implicit one.
        isolation_level=None,
    )
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _begin)
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # NORMAL in WAL mode survives a process crash (the WAL is fsync'd at checkpoints); only
    # an OS crash or power loss can lose the last transactions. It is several times faster
    # than FULL for the small write transactions tracking makes.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
    cursor.close()


def _begin(conn: Any) -> None:
    mode = "IMMEDIATE" if conn.get_execution_options().get(WRITE_OPTION) else "DEFERRED"
    conn.exec_driver_sql(f"BEGIN {mode}")
