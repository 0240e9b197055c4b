"""Engines for the search statement tests: a SQLite file in ``tmp_path`` or a fresh
PostgreSQL schema (dropped afterwards), each holding Plinth's tables. PostgreSQL tests skip
when the server does not answer, and fail instead when ``CI=true``.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import OperationalError

from plinth.store.sql.engine import create_sql_engine
from plinth.store.sql.models import Base

POSTGRES_URI = os.environ.get(
    "PLINTH_TEST_POSTGRES_URI", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@functools.cache
def _postgres_error() -> str | None:
    """Why PostgreSQL cannot be used, or None when it answers."""
    probe = create_engine(POSTGRES_URI, connect_args={"connect_timeout": 3})
    try:
        with probe.connect():
            return None
    except OperationalError as exc:
        return str(exc).splitlines()[0]
    finally:
        probe.dispose()


@pytest.fixture
def sqlite_search_engine(tmp_path: Path) -> Iterator[Engine]:
    # The store's own engine: WAL, foreign keys on, and no fsync per DDL statement.
    engine = create_sql_engine(f"sqlite:///{tmp_path / 'search.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_search_engine() -> Iterator[Engine]:
    if (error := _postgres_error()) is not None:
        where = make_url(POSTGRES_URI).render_as_string(hide_password=True)
        message = f"PostgreSQL at {where} does not answer ({error})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}; CI=true requires the PostgreSQL tests to run")
        pytest.skip(message)
    schema = f"search_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URI)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine = create_engine(POSTGRES_URI, connect_args={"options": f"-csearch_path={schema}"})
    yield engine
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Engine:
    """An engine on an empty database holding Plinth's tables."""
    db: Engine = request.getfixturevalue(f"{request.param}_search_engine")
    Base.metadata.create_all(db, checkfirst=False)  # the database is empty
    return db
