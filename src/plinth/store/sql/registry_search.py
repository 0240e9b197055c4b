"""Registered-model, model-version and logged-model searches as single SQL statements.

Like ``search.py`` for runs, the statements select keys only (names, ``(name, version)``,
model ids) for one page; the store loads that page's rows, tags and aliases in bulk. Filters
use MLflow's registry grammar, parsed by ``plinth.tracking.search_filter``; tag and param
clauses are correlated ``EXISTS`` probes on the child table's primary key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, SQLColumnExpression, and_, case, literal, or_, select
from sqlalchemy.orm import InstrumentedAttribute

from plinth.entities.registry import DatasetFilter, LoggedModelOrder, Stage
from plinth.errors import InvalidArgumentError
from plinth.store.sql.models import (
    LoggedModelMetricRow,
    LoggedModelParamRow,
    LoggedModelRow,
    LoggedModelTagRow,
    ModelVersionRow,
    ModelVersionTagRow,
    RegisteredModelRow,
    RegisteredModelTagRow,
)
from plinth.store.sql.search import (
    _check_window,
    _CodePointOrder,
    _compare,
    _directed,
    _key_value,
)
from plinth.tracking.search_filter import (
    Comparison,
    OrderKey,
    parse_attribute_filter,
    parse_attribute_order_by,
)

# -- registered models ----------------------------------------------------------------------
_MODEL_ORDER: dict[str, InstrumentedAttribute[Any]] = {
    "name": RegisteredModelRow.name,
    "creation_timestamp": RegisteredModelRow.creation_time,
    "last_updated_timestamp": RegisteredModelRow.last_updated_time,
    # MLflow's alias for last_updated_timestamp.
    "timestamp": RegisteredModelRow.last_updated_time,
}


def _model_condition(c: Comparison) -> ColumnElement[bool]:
    if c.entity == "tag":
        link = RegisteredModelTagRow.name == RegisteredModelRow.name
        return _key_value(c, link, RegisteredModelTagRow.key, RegisteredModelTagRow.value)
    return _compare(RegisteredModelRow.name, c.op, c.value)


def model_search_statement(
    *, filter_string: str | None, order_by: Sequence[str], offset: int, limit: int
) -> Select[str]:
    """The names of one page of ``search_registered_models``, in order.

    Filters: ``name`` (``=``, ``!=``, ``LIKE``, ``ILIKE``, ``IN``) and ``tags.<key>``. Order:
    ``name``, ``creation_timestamp``, ``last_updated_timestamp`` (alias ``timestamp``);
    MLflow's default and tie-break is ``name ASC``.

    Raises:
        InvalidArgumentError: The filter or an order_by item is invalid.
    """
    _check_window(offset, limit)
    comparisons = parse_attribute_filter(filter_string, strings=frozenset({"name"}))
    keys = parse_attribute_order_by(order_by, frozenset(_MODEL_ORDER))
    terms = _order_terms(keys, _MODEL_ORDER)
    if not any(_MODEL_ORDER[k.key] is RegisteredModelRow.name for k in keys):
        terms.append(_CodePointOrder(RegisteredModelRow.name).asc())
    return (
        select(RegisteredModelRow.name)
        .where(*(_model_condition(c) for c in comparisons))
        .order_by(*terms)
        .offset(offset)
        .limit(limit)
    )


# -- model versions -------------------------------------------------------------------------
_VERSION_STRINGS: dict[str, InstrumentedAttribute[Any]] = {
    "name": ModelVersionRow.name,
    "run_id": ModelVersionRow.run_id,
    "source_path": ModelVersionRow.source,
    "current_stage": ModelVersionRow.current_stage,
    "user_id": ModelVersionRow.user_id,
}
_VERSION_NUMBERS: dict[str, InstrumentedAttribute[Any]] = {
    "version_number": ModelVersionRow.version,
    "creation_timestamp": ModelVersionRow.creation_time,
    "last_updated_timestamp": ModelVersionRow.last_updated_time,
}
_VERSION_ORDER: dict[str, InstrumentedAttribute[Any]] = {
    "name": ModelVersionRow.name,
    "version_number": ModelVersionRow.version,
    "creation_timestamp": ModelVersionRow.creation_time,
    "last_updated_timestamp": ModelVersionRow.last_updated_time,
    "timestamp": ModelVersionRow.last_updated_time,
}
_DEFAULT_VERSION_ORDER = ("last_updated_timestamp DESC", "name ASC", "version_number DESC")


def _canonical_stage(value: object) -> object:
    """``current_stage = 'production'`` matches ``Production``, as MLflow's stage parser does."""
    if isinstance(value, tuple):
        return tuple(_canonical_stage(v) for v in value)
    try:
        return Stage.parse(str(value)).value
    except ValueError:
        return value


def _version_condition(c: Comparison) -> ColumnElement[bool]:
    if c.entity == "tag":
        link = (ModelVersionTagRow.name == ModelVersionRow.name) & (
            ModelVersionTagRow.version == ModelVersionRow.version
        )
        return _key_value(c, link, ModelVersionTagRow.key, ModelVersionTagRow.value)
    if c.key in _VERSION_NUMBERS:
        return _compare(_VERSION_NUMBERS[c.key], c.op, c.value)
    value = _canonical_stage(c.value) if c.key == "current_stage" else c.value
    return _compare(_VERSION_STRINGS[c.key], c.op, value)


def version_search_statement(
    *, filter_string: str | None, order_by: Sequence[str], offset: int, limit: int
) -> Select[str, int]:
    """The ``(name, version)`` keys of one page of ``search_model_versions``, in order.

    Filters: ``name``, ``run_id``, ``source_path``, ``current_stage``, ``user_id`` (string
    operators), ``version_number``, ``creation_timestamp``, ``last_updated_timestamp``
    (numeric) and ``tags.<key>``. MLflow's default order is ``last_updated_timestamp DESC,
    name ASC, version_number DESC``; ties always break by name, then version descending.

    Raises:
        InvalidArgumentError: The filter or an order_by item is invalid.
    """
    _check_window(offset, limit)
    comparisons = parse_attribute_filter(
        filter_string, strings=frozenset(_VERSION_STRINGS), numbers=frozenset(_VERSION_NUMBERS)
    )
    keys = parse_attribute_order_by(order_by or _DEFAULT_VERSION_ORDER, frozenset(_VERSION_ORDER))
    return (
        select(ModelVersionRow.name, ModelVersionRow.version)
        .where(*(_version_condition(c) for c in comparisons))
        .order_by(*_version_order(keys))
        .offset(offset)
        .limit(limit)
    )


def _version_order(keys: Sequence[OrderKey]) -> list[ColumnElement[Any]]:
    terms = _order_terms(keys, _VERSION_ORDER)
    ordered = {_VERSION_ORDER[k.key].key for k in keys}
    if "name" not in ordered:
        terms.append(_CodePointOrder(ModelVersionRow.name).asc())
    if "version" not in ordered:
        terms.append(ModelVersionRow.version.desc())
    return terms


# -- logged models --------------------------------------------------------------------------
_LOGGED_STRINGS: dict[str, InstrumentedAttribute[Any]] = {
    "name": LoggedModelRow.name,
    "model_id": LoggedModelRow.model_id,
    "model_type": LoggedModelRow.model_type,
    "status": LoggedModelRow.status,
    "source_run_id": LoggedModelRow.source_run_id,
}
_LOGGED_NUMBERS: dict[str, InstrumentedAttribute[Any]] = {
    "creation_timestamp": LoggedModelRow.creation_time,
    "last_updated_timestamp": LoggedModelRow.last_updated_time,
}


_LOGGED_ORDER: dict[str, InstrumentedAttribute[Any]] = {
    **_LOGGED_STRINGS,
    **_LOGGED_NUMBERS,
    # MLflow's spellings of the same columns.
    "creation_time": LoggedModelRow.creation_time,
    "last_updated_time": LoggedModelRow.last_updated_time,
}
_MODEL_METRICS = LoggedModelMetricRow
MAX_SEARCH_TERMS = 100
"""Most ``datasets`` or ``order_by`` entries in one logged-model search (SQLite refuses a
statement of about a thousand terms)."""


def _in_datasets(datasets: Sequence[DatasetFilter]) -> ColumnElement[bool] | None:
    """Metric points measured on any of ``datasets`` (a digest narrows its name)."""
    if not datasets:
        return None
    scopes = []
    for d in datasets:
        scope = _MODEL_METRICS.dataset_name == d.dataset_name
        if d.dataset_digest:
            scope = and_(scope, _MODEL_METRICS.dataset_digest == d.dataset_digest)
        scopes.append(scope)
    return or_(*scopes)


def _model_points(*conditions: ColumnElement[bool] | None) -> Select[Any]:
    """The metric points of the logged model the outer query is on, under ``conditions``."""
    return select(literal(1)).where(
        _MODEL_METRICS.model_id == LoggedModelRow.model_id,
        *(c for c in conditions if c is not None),
    )


def _logged_condition(
    c: Comparison, in_datasets: ColumnElement[bool] | None
) -> ColumnElement[bool]:
    if c.entity == "tag":
        link = LoggedModelTagRow.model_id == LoggedModelRow.model_id
        return _key_value(c, link, LoggedModelTagRow.key, LoggedModelTagRow.value)
    if c.entity == "param":
        link = LoggedModelParamRow.model_id == LoggedModelRow.model_id
        return _key_value(c, link, LoggedModelParamRow.key, LoggedModelParamRow.value)
    if c.entity == "metric":
        # As MLflow: any point of the metric (on the searched datasets) may match.
        value = _compare(_MODEL_METRICS.value, c.op, c.value)
        not_nan = _MODEL_METRICS.is_nan.is_(False)
        return _model_points(_MODEL_METRICS.key == c.key, value, not_nan, in_datasets).exists()
    columns = _LOGGED_NUMBERS if c.key in _LOGGED_NUMBERS else _LOGGED_STRINGS
    return _compare(columns[c.key], c.op, c.value)


def _latest_metric(order: LoggedModelOrder, key: str) -> ColumnElement[Any]:
    """The model's latest point of metric ``key`` (on the order's dataset), NULL if none."""
    value = case((_MODEL_METRICS.is_nan.is_(True), None), else_=_MODEL_METRICS.value)
    latest = (
        select(value)
        .where(_MODEL_METRICS.model_id == LoggedModelRow.model_id, _MODEL_METRICS.key == key)
        # MLflow's "latest": by time, then step; equal ones by run id.
        .order_by(
            _MODEL_METRICS.timestamp.desc(),
            _MODEL_METRICS.step.desc(),
            _MODEL_METRICS.run_id.asc(),
            _MODEL_METRICS.id.desc(),
        )
        .limit(1)
    )
    # Each of the order's dataset name and digest narrows the points on its own.
    if order.dataset_name:
        latest = latest.where(_MODEL_METRICS.dataset_name == order.dataset_name)
    if order.dataset_digest:
        latest = latest.where(_MODEL_METRICS.dataset_digest == order.dataset_digest)
    return latest.scalar_subquery()


def _logged_order(order_by: Sequence[LoggedModelOrder]) -> list[ColumnElement[Any]]:
    """MLflow's ordering: each key with missing values last, then newest first, then by id."""
    terms: list[ColumnElement[Any]] = []
    named: set[str] = set()
    for i, order in enumerate(order_by):
        field = order.field_name
        if not isinstance(field, str) or not isinstance(order.ascending, bool):
            raise InvalidArgumentError(
                f"order_by[{i}] needs a field_name (text) and ascending (true or false).",
                details={"field": f"order_by[{i}]"},
            )
        entity, _, key = field.partition(".")
        expression: SQLColumnExpression[Any]
        if entity in ("metric", "metrics") and key:
            expression = _latest_metric(order, key)
        elif field in _LOGGED_ORDER:
            expression = _LOGGED_ORDER[field]
            named.add(_LOGGED_ORDER[field].key)
        else:
            valid = ", ".join(sorted(_LOGGED_ORDER))
            raise InvalidArgumentError(
                f"Invalid order_by[{i}] field_name {field!r}: use one of {valid}, or "
                "metrics.<key>.",
                details={"field": f"order_by[{i}]"},
            )
        terms += [
            case((expression.is_(None), 1), else_=0).asc(),
            _directed(expression, order.ascending),
        ]
    if "creation_time" not in named:
        terms.append(LoggedModelRow.creation_time.desc())
    if "model_id" not in named:
        terms.append(LoggedModelRow.model_id.asc())
    return terms


def logged_model_search_statement(
    *,
    experiment_ids: Sequence[int],
    filter_string: str | None,
    datasets: Sequence[DatasetFilter] = (),
    order_by: Sequence[LoggedModelOrder] = (),
    offset: int,
    limit: int,
) -> Select[str]:
    """The ids of one page of active logged models of these experiments, in order (newest
    first by default).

    Filters: ``name``, ``model_id``, ``model_type``, ``status``, ``source_run_id``,
    ``creation_timestamp``, ``last_updated_timestamp``, ``tags.<key>``, ``params.<key>`` and
    ``metrics.<key>`` (any point of the metric; only points on ``datasets`` when given, and
    then only models with a point on them are found).

    Raises:
        InvalidArgumentError: The filter, a dataset or an ordering is invalid.
    """
    _check_window(offset, limit)
    for name, items in (("datasets", datasets), ("order_by", order_by)):
        if len(items) > MAX_SEARCH_TERMS:
            raise InvalidArgumentError(
                f"{name} has {len(items)} entries; a search takes at most {MAX_SEARCH_TERMS}.",
                details={"field": name},
            )
    for i, d in enumerate(datasets):
        if not isinstance(d.dataset_name, str) or not d.dataset_name:
            raise InvalidArgumentError(
                f"datasets[{i}] needs a dataset_name.", details={"field": f"datasets[{i}]"}
            )
    comparisons = parse_attribute_filter(
        filter_string,
        strings=frozenset(_LOGGED_STRINGS),
        numbers=frozenset(_LOGGED_NUMBERS),
        children=frozenset({"tag", "param", "metric"}),
    )
    in_datasets = _in_datasets(datasets)
    conditions = [_logged_condition(c, in_datasets) for c in comparisons]
    if in_datasets is not None and not any(c.entity == "metric" for c in comparisons):
        conditions.append(_model_points(in_datasets).exists())
    return (
        select(LoggedModelRow.model_id)
        .where(
            LoggedModelRow.experiment_id.in_(experiment_ids),
            LoggedModelRow.lifecycle_stage == "active",
            *conditions,
        )
        .order_by(*_logged_order(order_by))
        .offset(offset)
        .limit(limit)
    )


# -- ordering -------------------------------------------------------------------------------
def _order_terms(
    keys: Sequence[OrderKey], columns: dict[str, InstrumentedAttribute[Any]]
) -> list[ColumnElement[Any]]:
    terms: list[ColumnElement[Any]] = []
    seen: set[str] = set()
    for key in keys:
        column = columns[key.key]
        if column.key in seen:
            raise InvalidArgumentError(f"`order_by` names {key.key!r} twice (or via an alias).")
        seen.add(column.key)
        expression: SQLColumnExpression[Any] = (
            _CodePointOrder(column) if column.key == "name" else column
        )
        terms.append(expression.asc() if key.ascending else expression.desc())
    return terms
