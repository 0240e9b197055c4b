"""What every search statement shares, the experiment search, and offset page tokens.

Filters use MLflow's grammar, parsed by ``plinth.tracking.search_filter``; key/value clauses
are correlated ``EXISTS`` probes on the child table's primary key, so an owner never appears
twice and no ``DISTINCT`` is needed. The run search is in ``run_search``; the registry's in
``registry_search``.

Two behaviours differ between SQLite and PostgreSQL out of the box and are made the same
here with small dialect-aware constructs (``@compiles``):

* ``LIKE``: case-insensitive for ASCII on SQLite, case-sensitive on PostgreSQL. MLflow's
  ``LIKE`` is case-sensitive, so SQLite gets the pattern translated to ``GLOB`` (always
  case-sensitive). Both dialects treat ``\\`` as the escape character (PostgreSQL's default).
* string ``ORDER BY``: PostgreSQL sorts by the database's collation (``en_US`` puts ``a``
  before ``B``), SQLite by code point. PostgreSQL sorts with ``COLLATE "C"`` so both agree
  and pages are identical whichever backend serves them.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Select,
    SQLColumnExpression,
    String,
    literal,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from plinth.entities.tracking import ViewType
from plinth.errors import InvalidArgumentError
from plinth.store.sql.models import ExperimentRow, ExperimentTagRow
from plinth.tracking.search_filter import (
    Comparison,
    Operator,
    OrderKey,
    parse_experiment_filter,
    parse_experiment_order_by,
)

# --- Dialect-aware constructs -------------------------------------------------------------


class _CaseSensitiveLike(FunctionElement[bool]):
    """``column LIKE pattern`` (escape ``\\``), case-sensitive on every backend.

    Carries the pattern twice, as LIKE and as GLOB, because statements are built before the
    dialect is known; the compiler renders the one its dialect needs.
    """

    type = Boolean()
    name = "plinth_like"
    inherit_cache = True


@compiles(_CaseSensitiveLike)
def _compile_like(element: _CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    column, like, _glob = element.clauses
    return compiler.process(column.like(like, escape="\\"), **kw)


@compiles(_CaseSensitiveLike, "sqlite")
def _compile_like_sqlite(element: _CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    column, _like, glob = element.clauses
    return f"({compiler.process(column, **kw)} GLOB {compiler.process(glob, **kw)})"


class _JsonText(FunctionElement[str]):
    """The text of one top-level key of a JSON object stored in a text column."""

    type = String()
    name = "plinth_json_text"
    inherit_cache = True


@compiles(_JsonText)
def _compile_json_text(element: _JsonText, compiler: SQLCompiler, **kw: Any) -> str:
    document, key, _path = (compiler.process(c, **kw) for c in element.clauses)
    return f"(CAST({document} AS JSON) ->> CAST({key} AS TEXT))"


@compiles(_JsonText, "sqlite")
def _compile_json_text_sqlite(element: _JsonText, compiler: SQLCompiler, **kw: Any) -> str:
    document, _key, path = (compiler.process(c, **kw) for c in element.clauses)
    return f"json_extract({document}, {path})"


class _CodePointOrder(FunctionElement[str]):
    """A string column sorted by code point (SQLite's default, ``COLLATE "C"`` elsewhere)."""

    type = String()
    name = "plinth_code_point_order"
    inherit_cache = True


@compiles(_CodePointOrder)
def _compile_code_point(element: _CodePointOrder, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = element.clauses
    return f'{compiler.process(column, **kw)} COLLATE "C"'


@compiles(_CodePointOrder, "sqlite")
def _compile_code_point_sqlite(element: _CodePointOrder, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = element.clauses
    return str(compiler.process(column, **kw))


def _like_patterns(pattern: str) -> tuple[str, str]:
    """The pattern normalised for ``LIKE ... ESCAPE '\\'``, and translated to GLOB.

    ``\\x`` is a literal x, as in PostgreSQL. A trailing lone backslash is taken literally
    (PostgreSQL would reject the pattern with an error).
    """
    parts: list[tuple[bool, str]] = []  # (is_wildcard, char)
    chars = iter(pattern)
    for ch in chars:
        parts.append((False, next(chars, "\\")) if ch == "\\" else (ch in "%_", ch))
    like = "".join(ch if wild or ch not in "%_\\" else "\\" + ch for wild, ch in parts)
    # GLOB: * and ? are the wildcards; a bracket class holds a literal *, ? or [.
    glob_literal = {"*": "[*]", "?": "[?]", "[": "[[]"}
    glob = "".join(
        ("*" if ch == "%" else "?") if wild else glob_literal.get(ch, ch) for wild, ch in parts
    )
    return like, glob


def _like(column: SQLColumnExpression[Any], pattern: str) -> ColumnElement[bool]:
    like, glob = _like_patterns(pattern)
    element = _CaseSensitiveLike(column, literal(like, String), literal(glob, String))
    # As a comparison, so SQLite does not render the boolean function as "(...) = 1".
    return element.as_comparison(1, 2)


def _json_text(column: SQLColumnExpression[Any], key: str) -> ColumnElement[str]:
    path = '$."' + key.replace('"', '\\"') + '"'
    return _JsonText(column, literal(key, String), literal(path, String))


# --- Comparisons ---------------------------------------------------------------------------

_Compare = Callable[[SQLColumnExpression[Any], Any], ColumnElement[bool]]
_NUMERIC_COMPARE: dict[str, _Compare] = {
    "=": lambda c, v: c == v,
    "!=": lambda c, v: c != v,
    "<": lambda c, v: c < v,
    "<=": lambda c, v: c <= v,
    ">": lambda c, v: c > v,
    ">=": lambda c, v: c >= v,
}


def _compare(column: SQLColumnExpression[Any], op: Operator, value: object) -> ColumnElement[bool]:
    """``column op value`` for every operator but ``IS [NOT] NULL`` (a key's absence)."""
    if op == "LIKE" and isinstance(value, str):
        return _like(column, value)
    if op == "ILIKE" and isinstance(value, str):
        # Renders ILIKE on PostgreSQL and lower(x) LIKE lower(y) on SQLite (ASCII-only folding).
        return column.ilike(_like_patterns(value)[0], escape="\\")
    if op in ("IN", "NOT IN") and isinstance(value, tuple):
        return column.in_(value) if op == "IN" else column.not_in(value)
    if op in _NUMERIC_COMPARE and isinstance(value, str | int | float):
        return _NUMERIC_COMPARE[op](column, value)
    raise InvalidArgumentError(f"Invalid comparison {op} {value!r}")


def _key_value(
    c: Comparison,
    link: ColumnElement[bool],
    key: InstrumentedAttribute[str],
    value: InstrumentedAttribute[str],
) -> ColumnElement[bool]:
    """A param/tag clause: EXISTS a row for the key (``link`` correlates it to its owner)."""
    match = select(literal(1)).where(link, key == c.key)
    if c.op == "IS NULL":
        return ~match.exists()
    if c.op == "IS NOT NULL":
        return match.exists()
    return match.where(_compare(value, c.op, c.value)).exists()


def _directed(column: SQLColumnExpression[Any], ascending: bool) -> ColumnElement[Any]:
    return column.asc() if ascending else column.desc()


def _check_window(offset: int, limit: int) -> None:
    if offset < 0:
        raise InvalidArgumentError(f"offset must be >= 0, got {offset}")
    if limit < 0:
        raise InvalidArgumentError(f"limit must be >= 0, got {limit}")


def _stages(view_type: ViewType) -> list[str]:
    return [stage.value for stage in ViewType.of(view_type).stages()]


# --- Experiments ---------------------------------------------------------------------------

_EXPERIMENT_COLUMNS: dict[str, InstrumentedAttribute[Any]] = {
    "experiment_id": ExperimentRow.experiment_id,
    "name": ExperimentRow.name,
    "creation_time": ExperimentRow.creation_time,
    "last_update_time": ExperimentRow.last_update_time,
}


def _experiment_condition(c: Comparison) -> ColumnElement[bool]:
    if c.entity == "tag":
        link = ExperimentTagRow.experiment_id == ExperimentRow.experiment_id
        return _key_value(c, link, ExperimentTagRow.key, ExperimentTagRow.value)
    value: object = c.value
    if c.key == "experiment_id":
        # The parser keeps ids as decimal strings; the column is an integer.
        value = tuple(int(v) for v in value) if isinstance(value, tuple) else int(str(value))
    return _compare(_EXPERIMENT_COLUMNS[c.key], c.op, value)


def _experiment_order(keys: list[OrderKey]) -> list[ColumnElement[Any]]:
    if not keys:
        return [ExperimentRow.creation_time.desc(), ExperimentRow.experiment_id.asc()]
    terms: list[ColumnElement[Any]] = []
    for key in keys:
        column: SQLColumnExpression[Any] = _EXPERIMENT_COLUMNS[key.key]
        if key.key == "name":
            column = _CodePointOrder(column)
        terms.append(_directed(column, key.ascending))
    if not any(k.key == "experiment_id" for k in keys):
        # MLflow's SQL store breaks ties by experiment_id descending (newest first).
        terms.append(ExperimentRow.experiment_id.desc())
    return terms


def experiment_search_statement(
    *,
    view_type: ViewType,
    filter_string: str | None,
    order_by: Sequence[str],
    offset: int,
    limit: int,
) -> Select[int]:
    """The ``experiment_id`` s of one page of ``search_experiments``, in order.

    The default order is MLflow's: ``creation_time DESC, experiment_id ASC``. With an explicit
    ``order_by`` that does not name ``experiment_id``, ties break by ``experiment_id DESC``.

    Raises:
        InvalidArgumentError: The filter or an order_by item is invalid, or offset/limit < 0.
    """
    _check_window(offset, limit)
    conditions = [_experiment_condition(c) for c in parse_experiment_filter(filter_string)]
    keys = parse_experiment_order_by(order_by)
    return (
        select(ExperimentRow.experiment_id)
        .where(ExperimentRow.lifecycle_stage.in_(_stages(view_type)), *conditions)
        .order_by(*_experiment_order(keys))
        .offset(offset)
        .limit(limit)
    )


# --- Page tokens ---------------------------------------------------------------------------


def encode_page_token(offset: int) -> str:
    """An opaque token for the page starting at ``offset``: urlsafe base64 of JSON."""
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode("ascii")


def decode_page_token(token: str | None) -> int:
    """The offset a page token stands for; ``None`` or ``""`` is the first page.

    Standard base64 (what MLflow's server issues) is accepted as well as urlsafe.

    Raises:
        InvalidArgumentError: The token was not made by :func:`encode_page_token`.
    """
    if not token:
        return 0
    if not isinstance(token, str):
        raise InvalidArgumentError(
            f"page_token must be the str a previous page returned, got {type(token).__name__}."
        )
    invalid = InvalidArgumentError(
        f"Invalid page token {token[:80]!r}: pass the next_page_token of the previous page"
    )
    try:
        raw = base64.b64decode(token.translate(str.maketrans("-_", "+/")), validate=True)
        offset = json.loads(raw)["offset"]
    # RecursionError: a forged token of deeply nested JSON.
    except (binascii.Error, ValueError, TypeError, KeyError, RecursionError) as exc:
        raise invalid from exc
    # A token is JSON anyone can forge: an offset the database cannot hold is refused here
    # rather than overflowing in its driver.
    if type(offset) is not int or not 0 <= offset < 2**63:
        raise invalid
    return offset
