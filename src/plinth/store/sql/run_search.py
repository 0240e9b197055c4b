"""Run searches as single SQL statements, with the page's ``runs`` rows as the result.

The store loads the page's params, metrics and tags in bulk afterwards. Filter clauses are
correlated ``EXISTS`` probes on the child table's ``(run_id, key)`` primary key, so a run never
appears twice and no ``DISTINCT`` is needed. The exception is the *driver*: on SQLite, when an
equality or ``IN`` filter on a param or tag matches fewer runs than the searched experiments
hold (:func:`choose_driver` counts both, capped, in one probe), that filter becomes an inner
join on ``(run_id, key)`` and the search starts from the ``(key, value, run_id)`` index instead
of visiting every run. SQLite's planner cannot make that choice itself: its statistics are
averages over all experiments and values. PostgreSQL's planner has per-value statistics and
turns the ``EXISTS`` probes into semi-joins in whichever order is cheaper, so it gets no driver.
Each ``order_by`` on a metric, param or tag is a ``LEFT OUTER JOIN`` of an aliased child table
on ``(run_id, key)``: at most one row per run, and runs without the key sort last.

Statements are built from the Core tables and cached per filter string, ``order_by``, view
type and driver, with the experiment ids and the page window as bind parameters: a repeated
search skips parsing, building and SQLAlchemy's cache-key walk.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Integer,
    Select,
    SQLColumnExpression,
    String,
    Table,
    and_,
    bindparam,
    case,
    func,
    literal,
    literal_column,
    or_,
    select,
)

from plinth.entities.tracking import ViewType
from plinth.store.sql.models import (
    VALUE_INDEX_PREFIX,
    DatasetRow,
    IndexedValue,
    LatestMetricRow,
    ParamRow,
    RunInputRow,
    RunRow,
    TagRow,
)
from plinth.store.sql.search import (
    _check_window,
    _CodePointOrder,
    _compare,
    _directed,
    _json_text,
    _stages,
)
from plinth.tracking.search_filter import (
    Comparison,
    Operator,
    OrderKey,
    Value,
    parse_order_by,
    parse_run_filter,
)

DATASET_CONTEXT_TAG = "mlflow.data.context"
"""The run-input tag MLflow stores a dataset's context (``training``, ``eval``) under."""

PROBE_CAP = 5000
"""Rows :func:`choose_driver` counts at most per side, bounding what the probe costs."""

# Run statements use the Core tables: building them through ORM attributes cost more than
# running them for small experiments.
_RUNS = cast(Table, RunRow.__table__)
_PARAMS = cast(Table, ParamRow.__table__)
_TAGS = cast(Table, TagRow.__table__)
_LATEST = cast(Table, LatestMetricRow.__table__)
_INPUTS = cast(Table, RunInputRow.__table__)
_DATASETS = cast(Table, DatasetRow.__table__)

RUN_INFO_COLUMNS = tuple(
    _RUNS.c[name]
    for name in (
        "run_id",
        "experiment_id",
        "run_name",
        "user_id",
        "status",
        "start_time",
        "end_time",
        "artifact_uri",
        "lifecycle_stage",
    )
)
"""The ``runs`` columns a run search selects, in this order: what a ``RunInfo`` holds."""

# --- Filters -----------------------------------------------------------------------------


def _is_indexed(c: Comparison) -> bool:
    """Whether the ``(key, value, run_id)`` index can find the runs ``c`` matches."""
    return c.entity in ("param", "tag") and c.op in ("=", "IN")


def _value_condition(
    value: SQLColumnExpression[str], op: Operator, expected: Value
) -> ColumnElement[bool]:
    """A param/tag value clause; ``=`` and ``IN`` compare what the index holds as well."""
    if op not in ("=", "IN"):
        return _compare(value, op, expected)
    values = expected if isinstance(expected, tuple) else (str(expected),)
    indexed = IndexedValue(value)
    prefixes = [IndexedValue(literal(v, String)) for v in values]
    prefix = indexed == prefixes[0] if op == "=" else indexed.in_(prefixes)
    # A value shorter than the indexed prefix matches exactly when its prefix does. Counting
    # bytes is conservative whether the database counts characters or bytes.
    if all(len(v.encode()) < VALUE_INDEX_PREFIX for v in values):
        return prefix
    return and_(prefix, _compare(value, op, expected))


def _child_condition(table: Table, c: Comparison) -> ColumnElement[bool]:
    """A param/tag clause: EXISTS the run's row for the key (with a matching value)."""
    match: Select[Any] = (
        select(literal_column("1"))
        .where(table.c.run_id == _RUNS.c.run_id, table.c.key == c.key)
        .correlate(_RUNS)
    )
    if c.op == "IS NULL":
        return ~match.exists()
    if c.op == "IS NOT NULL":
        return match.exists()
    return match.where(_value_condition(table.c.value, c.op, c.value)).exists()


def _metric_condition(c: Comparison) -> ColumnElement[bool]:
    m = _LATEST.c
    compared = _compare(m.value, c.op, c.value)
    # NaN is stored as 0 + is_nan. Like IEEE NaN (and MLflow) it satisfies only "!=", so the
    # placeholder 0 must never match anything else.
    if c.op == "!=":
        compared = or_(compared, m.is_nan.is_(True))
    else:
        compared = and_(compared, m.is_nan.is_(False))
    match: Select[Any] = select(literal_column("1")).where(m.run_id == _RUNS.c.run_id)
    return match.where(m.key == c.key, compared).correlate(_RUNS).exists()


def _dataset_condition(c: Comparison) -> ColumnElement[bool]:
    column: SQLColumnExpression[Any]
    if c.key == "context":
        column = _json_text(_INPUTS.c.tags_json, DATASET_CONTEXT_TAG)
    else:
        column = _DATASETS.c.name if c.key == "name" else _DATASETS.c.digest
    return (
        select(literal_column("1"))
        .select_from(_INPUTS.join(_DATASETS, _DATASETS.c.dataset_id == _INPUTS.c.dataset_id))
        .where(_INPUTS.c.run_id == _RUNS.c.run_id, _compare(column, c.op, c.value))
        .correlate(_RUNS)
        .exists()
    )


def _run_condition(c: Comparison) -> ColumnElement[bool]:
    if c.entity == "attribute":
        return _compare(_RUNS.c[c.key], c.op, c.value)
    if c.entity == "metric":
        return _metric_condition(c)
    if c.entity == "dataset":
        return _dataset_condition(c)
    return _child_condition(_PARAMS if c.entity == "param" else _TAGS, c)


def _driver_join(stmt: Select[Any], c: Comparison, index: int) -> Select[Any]:
    """Join the filter's matching rows, so the search can start from their index."""
    child = (_PARAMS if c.entity == "param" else _TAGS).alias(f"filter_{index}")
    on = and_(
        child.c.run_id == _RUNS.c.run_id,
        child.c.key == c.key,
        _value_condition(child.c.value, c.op, c.value),
    )
    return stmt.join(child, on)


# --- Ordering ------------------------------------------------------------------------------


def _attribute_order(key: OrderKey) -> list[ColumnElement[Any]]:
    column: SQLColumnExpression[Any] = _RUNS.c[key.key]
    if key.key not in ("start_time", "end_time"):
        column = _CodePointOrder(column)
    term = _directed(column, key.ascending)
    # Only end_time can be NULL; leaving the others bare keeps start_time index-friendly.
    return [term.nulls_last() if key.key == "end_time" else term]


def _child_order(
    stmt: Select[Any], key: OrderKey, index: int
) -> tuple[Select[Any], list[ColumnElement[Any]]]:
    """Join the ordering metric/param/tag under an alias; runs without the key sort last."""
    if key.entity == "metric":
        metric = _LATEST.alias(f"order_{index}")
        on = and_(metric.c.run_id == _RUNS.c.run_id, metric.c.key == key.key)
        # MLflow's rank: real values, then NaN, then runs that never logged the metric.
        rank = case((metric.c.is_nan.is_(True), 1), (metric.c.value.is_(None), 2), else_=0)
        return stmt.outerjoin(metric, on), [rank, _directed(metric.c.value, key.ascending)]
    child = (_PARAMS if key.entity == "param" else _TAGS).alias(f"order_{index}")
    stmt = stmt.outerjoin(child, and_(child.c.run_id == _RUNS.c.run_id, child.c.key == key.key))
    return stmt, [_directed(_CodePointOrder(child.c.value), key.ascending).nulls_last()]


def _run_order(stmt: Select[Any], keys: list[OrderKey]) -> Select[Any]:
    terms: list[ColumnElement[Any]] = []
    for index, key in enumerate(keys):
        if key.entity == "attribute":
            terms += _attribute_order(key)
        else:
            stmt, more = _child_order(stmt, key, index)
            terms += more
    ordered = {k.key for k in keys if k.entity == "attribute"}
    # MLflow's natural order, then run_id so equal keys page deterministically.
    if "start_time" not in ordered:
        terms.append(_RUNS.c.start_time.desc())
    if "run_id" not in ordered:
        terms.append(_RUNS.c.run_id.asc())
    return stmt.order_by(*terms)


# --- Run search ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunSearch:
    """A statement with the values of its bind parameters:
    ``connection.execute(search.statement, search.parameters)``."""

    statement: Select[Any]
    parameters: dict[str, object]


@functools.lru_cache(maxsize=256)
def _parsed_filter(filter_string: str | None) -> tuple[Comparison, ...]:
    return tuple(parse_run_filter(filter_string))


def _in_scope(view_type: ViewType) -> list[ColumnElement[bool]]:
    """The runs of the searched experiments (bound later) in the view's lifecycle stages."""
    experiments: BindParameter[int] = bindparam("experiment_ids", expanding=True)
    return [
        _RUNS.c.experiment_id.in_(experiments),
        _RUNS.c.lifecycle_stage.in_(_stages(view_type)),
    ]


@functools.lru_cache(maxsize=256)
def _run_statement(
    filter_string: str | None, order_by: tuple[str, ...], view_type: ViewType, driver: int | None
) -> Select[Any]:
    comparisons = _parsed_filter(filter_string)
    keys = parse_order_by(order_by)
    conditions = [_run_condition(c) for i, c in enumerate(comparisons) if i != driver]
    stmt = select(*RUN_INFO_COLUMNS).where(*_in_scope(view_type), *conditions)
    if driver is not None:
        if not 0 <= driver < len(comparisons) or not _is_indexed(comparisons[driver]):
            raise ValueError(f"driver {driver} is not an indexed filter of {filter_string!r}")
        stmt = _driver_join(stmt, comparisons[driver], driver)
    window = bindparam("page_offset", type_=Integer), bindparam("page_limit", type_=Integer)
    return _run_order(stmt, keys).offset(window[0]).limit(window[1])


def run_search_statement(
    *,
    experiment_ids: Sequence[int],
    filter_string: str | None,
    view_type: ViewType,
    order_by: Sequence[str],
    offset: int,
    limit: int,
    driver: int | None = None,
) -> RunSearch:
    """One page of ``search_runs``: the :data:`RUN_INFO_COLUMNS` of its runs, in order.

    Args:
        experiment_ids: Experiments to search; empty matches nothing.
        filter_string: MLflow filter syntax (see ``plinth.tracking.search_filter``).
        view_type: Which lifecycle stages to include.
        order_by: MLflow ``order_by`` items (default ``start_time DESC``); ties break by run_id.
        offset: Rows to skip (from :func:`decode_page_token`).
        limit: Rows to return; pass ``max_results + 1`` to learn whether a next page exists.
        driver: The position of the filter clause to start from (see :func:`choose_driver`),
            or None to start from the runs. The results are the same either way.

    Raises:
        InvalidArgumentError: The filter or an order_by item is invalid, or offset/limit < 0.
    """
    _check_window(offset, limit)
    statement = _run_statement(filter_string, tuple(order_by), view_type, driver)
    window = {"page_offset": offset, "page_limit": limit}
    return RunSearch(statement, {"experiment_ids": list(experiment_ids), **window})


@functools.lru_cache(maxsize=256)
def _probe_statement(filter_string: str | None, view_type: ViewType) -> Select[Any] | None:
    """Runs in scope (at most ``probe_cap``), then each indexed filter's matches (at most as
    many as the runs): every count stops where it could no longer change the choice."""
    indexed = [c for c in _parsed_filter(filter_string) if _is_indexed(c)]
    if not indexed:
        return None
    runs: Select[Any] = select(literal_column("1")).where(*_in_scope(view_type))
    capped = runs.limit(bindparam("probe_cap", type_=Integer)).subquery()
    scope = select(func.count().label("runs")).select_from(capped).cte("scope")
    counts: list[ColumnElement[Any]] = [scope.c.runs]
    for c in indexed:
        table = _PARAMS if c.entity == "param" else _TAGS
        rows: Select[Any] = select(literal_column("1")).where(
            table.c.key == c.key, _value_condition(table.c.value, c.op, c.value)
        )
        matches = rows.limit(select(scope.c.runs).scalar_subquery()).subquery()
        counts.append(select(func.count()).select_from(matches).scalar_subquery())
    return select(*counts).select_from(scope)


def choose_driver(
    connection: Connection,
    *,
    experiment_ids: Sequence[int],
    filter_string: str | None,
    view_type: ViewType,
) -> int | None:
    """The filter clause a SQLite run search should start from, or None for the runs.

    Counts, in one statement, the runs in scope and the rows each equality or ``IN`` filter
    on a param or tag matches (both capped at :data:`PROBE_CAP`), and picks the filter that
    matches fewest if that is fewer than the runs. Ties and caps keep the runs, whose cost
    is known. Pass the result to :func:`run_search_statement` on the same connection.

    Raises:
        InvalidArgumentError: The filter is invalid.
    """
    probe = _probe_statement(filter_string, view_type)
    if probe is None:
        return None
    parameters = {"experiment_ids": list(experiment_ids), "probe_cap": PROBE_CAP}
    runs, *matches = connection.execute(probe, parameters).one()
    comparisons = _parsed_filter(filter_string)
    indexed = [i for i, c in enumerate(comparisons) if _is_indexed(c)]
    fewest, position = min(zip(matches, indexed, strict=True))
    return position if fewest < runs else None
