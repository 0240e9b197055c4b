"""What every SQL store area shares: the engine, transactions, the actor and the audit log."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Self, cast

from sqlalchemy import Connection, Engine, Table, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, InterfaceError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from plinth.entities import LOCAL_USER, now_ms
from plinth.entities.validation import UNPAIRED_SURROGATE, json_text
from plinth.errors import BackendUnavailableError, InvalidArgumentError
from plinth.store.sql.engine import WRITE_OPTION
from plinth.store.sql.models import AuditEventRow

_AUDIT_TABLE = cast(Table, AuditEventRow.__table__)
_INSERT_AUDIT = insert(_AUDIT_TABLE)  # built once: every mutation writes one


class SqlStoreBase:
    """Shared plumbing. ``actor`` is the user every mutation is attributed to."""

    def __init__(self, engine: Engine, *, actor: str = LOCAL_USER) -> None:
        self.engine = engine
        self.actor = actor

    def with_actor(self, actor: str) -> Self:
        """A view of the same store acting as another user (shares the engine and pool)."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.actor = actor
        return clone

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with self._translate_errors(), Session(self.engine) as session:
            yield session

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """One write transaction: committed on success, rolled back on any error."""
        with self._translate_errors(), self.engine.connect() as raw:
            conn = raw.execution_options(**{WRITE_OPTION: True})
            with Session(bind=conn) as session, session.begin():
                yield session

    @contextmanager
    def _write_connection(self) -> Iterator[Connection]:
        """One write transaction on a Core connection, for hot paths that need no ORM
        object (``log_batch``): a Session's set-up and flush machinery cost more than the
        statements of a single logging call."""
        with self._translate_errors(), self.engine.connect() as raw:
            conn = raw.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                yield conn

    @contextmanager
    def _translate_errors(self) -> Iterator[None]:
        try:
            yield
        except DataError as exc:
            # A safety net: validation should have caught any value that does not fit.
            raise InvalidArgumentError(f"A value does not fit the database: {exc.orig}") from exc
        except UnicodeEncodeError as exc:
            # Raised by the driver, before the statement runs, for a string holding an
            # unpaired surrogate (JSON's "\ud800" escape decodes to one).
            raise InvalidArgumentError(
                f"Invalid value {exc.object[exc.start : exc.end]!a}: {UNPAIRED_SURROGATE}."
            ) from exc
        except OverflowError as exc:
            # The driver's, for an integer past 64 bits that validation did not reach.
            raise InvalidArgumentError(f"A number does not fit the database: {exc}") from exc
        except (OperationalError, ProgrammingError, InterfaceError) as exc:
            if _unbindable(exc):
                # A safety net: a list or dict passed where a name or key belongs.
                raise InvalidArgumentError(
                    f"A value has a type the database cannot store ({exc.orig}): pass text "
                    "or a number"
                ) from exc
            if _schema_mismatch(exc):
                # The database answered, but its tables are not the ones this version's
                # migrations build (written by another, e.g. unreleased, Plinth).
                raise BackendUnavailableError(
                    f"The metadata database's schema does not match this Plinth ({exc.orig}): "
                    "it was written by another version. Use the Plinth that created it, or "
                    "point PLINTH_HOME / PLINTH_URI at another database."
                ) from exc
            if isinstance(exc, ProgrammingError | InterfaceError):
                raise  # a bug in a statement, not the database's state
            raise BackendUnavailableError(
                f"The metadata database did not answer: {exc.orig}"
            ) from exc

    def _audit(
        self,
        session: Session | Connection,
        action: str,
        object_type: str,
        object_id: str,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Record a mutation in the same transaction as the mutation itself (a Core insert:
        an ORM object would cost a unit-of-work flush on every single logging call)."""
        _connection(session).execute(
            _INSERT_AUDIT,
            {
                "timestamp": now_ms(),
                "user_name": self.actor,
                "action": action,
                "object_type": object_type,
                "object_id": object_id,
                "details": json_text(dict(details), "details") if details else None,
            },
        )

    def _upsert(
        self,
        session: Session | Connection,
        table: Table,
        rows: Sequence[Mapping[str, Any]],
        *,
        keys: Sequence[str],
        update: Sequence[str],
    ) -> None:
        """INSERT ... ON CONFLICT (keys) DO UPDATE SET update-columns, in one statement;
        with no ``update`` columns, DO NOTHING (the first row written stays)."""
        if not rows:
            return
        shape = (self.dialect, table.name, tuple(keys), tuple(update))
        stmt = _UPSERTS.get(shape)
        if stmt is None:  # built once per shape, like the hot path's other statements
            dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
            fresh = dialect_insert(table)
            if update:
                stmt = fresh.on_conflict_do_update(
                    index_elements=list(keys), set_={col: fresh.excluded[col] for col in update}
                )
            else:
                stmt = fresh.on_conflict_do_nothing(index_elements=list(keys))
            _UPSERTS[shape] = stmt
        _connection(session).execute(stmt, list(rows))


_UPSERTS: dict[tuple[str, str, tuple[str, ...], tuple[str, ...]], Any] = {}


def insert_rows(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    skip_existing: Sequence[str] = (),
) -> None:
    """INSERT many rows (all with the keys of the first) through the driver's executemany.

    SQLAlchemy's executemany builds and checks a parameter set per row in Python, which cost
    more than SQLite's own insert for a 1,000-point ``log_batch``; the driver takes the row
    dicts as they are. Values must already have the column types. ``skip_existing`` names
    the columns of a unique index: a row equal on them to a stored row (or an earlier row
    of ``rows``) is skipped, on SQLite and PostgreSQL alike (``ON CONFLICT ... DO NOTHING``).
    """
    if not rows:
        return
    columns = list(rows[0])
    quote = conn.dialect.identifier_preparer.quote
    pyformat = conn.dialect.paramstyle in ("pyformat", "format")
    marks = [f"%({c})s" if pyformat else f":{c}" for c in columns]
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join(marks)})"
    )
    if skip_existing:
        sql += f" ON CONFLICT ({', '.join(quote(c) for c in skip_existing)}) DO NOTHING"
    conn.exec_driver_sql(sql, list(rows))


def _connection(target: Session | Connection) -> Connection:
    return target.connection() if isinstance(target, Session) else target


_UNDEFINED_TABLE_OR_COLUMN = {"42P01", "42703"}
"""PostgreSQL's SQLSTATEs for a missing table and a missing column."""


def _unbindable(exc: OperationalError | ProgrammingError | InterfaceError) -> bool:
    """A parameter of a type the driver cannot send: SQLite says so; psycopg cannot adapt
    it, or sends a list as an array no operator compares with text (SQLSTATE 42883)."""
    message = str(exc.orig)
    return (
        "Error binding parameter" in message
        or "cannot adapt type" in message
        or getattr(exc.orig, "sqlstate", None) == "42883"
    )


def _schema_mismatch(exc: OperationalError | ProgrammingError | InterfaceError) -> bool:
    """A missing table or column: SQLite says so in words, PostgreSQL by SQLSTATE."""
    if getattr(exc.orig, "sqlstate", None) in _UNDEFINED_TABLE_OR_COLUMN:
        return True
    message = str(exc.orig)
    return "no such table" in message or "no such column" in message
