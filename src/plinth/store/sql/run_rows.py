"""Run rows -> entities: bulk loaders (one query per child table per page) and converters.

Everything is read as driver tuples through prebuilt statements whose run ids are one
expanding bind parameter: building ORM objects for a page's thousands of params and tags,
and building a fresh statement per call, cost more than the queries themselves. The SQL of
each statement is rendered once per size of the id list and run on the driver's cursor:
through SQLAlchemy's ``execute`` (re-rendering the expanding list, wrapping every row) the
five child-table reads of a four-run search page took 212 us, on the cursor 55 us. (So
these reads do not show in SQLAlchemy's ``echo`` or cursor events.)
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Connection, Dialect, Select, Table, bindparam, select
from sqlalchemy.exc import DBAPIError

from plinth.entities import (
    Dataset,
    DatasetInput,
    LifecycleStage,
    LoggedModelInput,
    LoggedModelOutput,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
    RunStatus,
    RunTag,
)
from plinth.store.sql.models import (
    DatasetRow,
    LatestMetricRow,
    ParamRow,
    RunInputRow,
    RunModelLinkRow,
    TagRow,
)
from plinth.store.sql.run_search import RUN_INFO_COLUMNS

IN_CHUNK = 900
"""Values per ``IN`` list: SQLite limits bound parameters per statement."""

_PARAMS = cast(Table, ParamRow.__table__)
_TAGS = cast(Table, TagRow.__table__)
_LATEST = cast(Table, LatestMetricRow.__table__)
_INPUTS = cast(Table, RunInputRow.__table__)
_DATASETS = cast(Table, DatasetRow.__table__)
_LINKS = cast(Table, RunModelLinkRow.__table__)


def _of_runs(*columns: Any) -> Select[Any]:
    """``columns`` of the rows whose ``run_id`` (the first column) is in ``:run_ids``."""
    return select(*columns).where(columns[0].in_(bindparam("run_ids", expanding=True)))


_RUN_INFOS = _of_runs(*RUN_INFO_COLUMNS)
_PARAM_ROWS = _of_runs(_PARAMS.c.run_id, _PARAMS.c.key, _PARAMS.c.value)
_TAG_ROWS = _of_runs(_TAGS.c.run_id, _TAGS.c.key, _TAGS.c.value)
_METRIC_ROWS = _of_runs(
    _LATEST.c.run_id,
    _LATEST.c.key,
    _LATEST.c.value,
    _LATEST.c.is_nan,
    _LATEST.c.timestamp,
    _LATEST.c.step,
)
_DATASET_FIELDS = ("name", "digest", "source_type", "source", "schema", "profile")
_INPUT_ROWS = (
    _of_runs(_INPUTS.c.run_id, _INPUTS.c.tags_json, *(_DATASETS.c[f] for f in _DATASET_FIELDS))
    .join_from(_INPUTS, _DATASETS, _DATASETS.c.dataset_id == _INPUTS.c.dataset_id)
    .order_by(_DATASETS.c.name, _DATASETS.c.digest)  # one name may have several digests
)
_LINK_ROWS = _of_runs(
    _LINKS.c.run_id, _LINKS.c.model_id, _LINKS.c.direction, _LINKS.c.step
).order_by(_LINKS.c.id)  # the order they were logged in


def chunks(values: Sequence[Any]) -> Iterator[list[Any]]:
    """``values`` in lists of at most :data:`IN_CHUNK`."""
    for i in range(0, len(values), IN_CHUNK):
        yield list(values[i : i + IN_CHUNK])


def _rows(
    connection: Connection, statement: Select[Any], run_ids: Sequence[str]
) -> list[Sequence[Any]]:
    """The rows of ``statement`` (an ``_of_runs`` statement) for these run ids, as the
    driver's tuples. The columns read this way need no conversion the driver does not do
    (strings, numbers, and booleans used only for their truth: SQLite gives 0/1)."""
    if not connection.in_transaction():
        # The first read of a connection: begin as SQLAlchemy would (SQLite's BEGIN comes
        # from the engine's begin event), so on SQLite a load reads one snapshot; on
        # PostgreSQL each statement sees what was committed before it (READ COMMITTED), as
        # through SQLAlchemy.
        connection.begin()
    dialect = connection.dialect
    dbapi = dialect.loaded_dbapi
    found: list[Sequence[Any]] = []
    raw = connection.connection
    cursor = raw.cursor()
    try:
        for chunk in chunks(run_ids):
            # Padded to a power of two (repeating an id changes no IN result), so each
            # statement has a handful of renderings, not one per page size; never past
            # IN_CHUNK, SQLite's bound on parameters.
            size = min(1 << (len(chunk) - 1).bit_length(), IN_CHUNK)
            sql, names = _rendered(statement, size, dialect)
            values = [*chunk, *[chunk[-1]] * (size - len(chunk))]
            parameters: Sequence[Any] | Mapping[str, Any] = (
                values if names is None else dict(zip(names, values, strict=True))
            )
            try:
                cursor.execute(sql, parameters)
                found.extend(cursor.fetchall())  # SQLite reads (and can fail) here
            except dbapi.Error as exc:
                # Raised as SQLAlchemy's execute raises it, for the store's error
                # translation; a lost connection is invalidated, so closing it does not
                # try a rollback whose own error would replace this one.
                lost = dialect.is_disconnect(exc, raw.dbapi_connection, cursor)
                if lost:
                    connection.invalidate(exc)
                raise DBAPIError.instance(
                    sql, parameters, exc, dbapi.Error, connection_invalidated=lost, dialect=dialect
                ) from exc
    finally:
        with contextlib.suppress(dbapi.Error):  # never hide the error being raised
            cursor.close()
    return found


@functools.lru_cache(maxsize=256)
def _rendered(
    statement: Select[Any], size: int, dialect: Dialect
) -> tuple[str, tuple[str, ...] | None]:
    """``statement``'s SQL for ``size`` run ids, and the names its parameters take (None for
    a positional driver: the ids in order)."""
    state = statement.compile(dialect=dialect).construct_expanded_state({"run_ids": [""] * size})
    names = tuple(state.parameter_expansion["run_ids"])
    if state.positiontup is not None:
        # Positional: the ids go in the order the list was expanded, and nothing else binds.
        assert tuple(state.positiontup) == names, state.positiontup
        return state.statement, None
    return state.statement, names


def load_runs_by_id(connection: Connection, run_ids: Sequence[str]) -> list[Run]:
    """Whole runs for these ids, in this order; ids without a run are left out."""
    infos = {row[0]: row for row in _rows(connection, _RUN_INFOS, run_ids)}
    return load_runs(connection, [infos[i] for i in run_ids if i in infos])


def load_run_info(connection: Connection, run_id: str) -> RunInfo | None:
    """One run's info, without its params, metrics, tags and inputs."""
    rows = _rows(connection, _RUN_INFOS, [run_id])
    return _run_info(rows[0]) if rows else None


def load_runs(connection: Connection, infos: Sequence[Sequence[Any]]) -> list[Run]:
    """Whole runs for these :data:`RUN_INFO_COLUMNS` rows, in their order."""
    run_ids = [row[0] for row in infos]
    params: dict[str, dict[str, str]] = defaultdict(dict)
    for run_id, key, value in _rows(connection, _PARAM_ROWS, run_ids):
        params[run_id][key] = value
    tags: dict[str, dict[str, str]] = defaultdict(dict)
    for run_id, key, value in _rows(connection, _TAG_ROWS, run_ids):
        tags[run_id][key] = value
    metrics: dict[str, dict[str, float]] = defaultdict(dict)
    timestamps: dict[str, dict[str, int]] = defaultdict(dict)
    steps: dict[str, dict[str, int]] = defaultdict(dict)
    for run_id, key, value, is_nan, timestamp, step in _rows(connection, _METRIC_ROWS, run_ids):
        metrics[run_id][key] = math.nan if is_nan else value
        timestamps[run_id][key] = timestamp
        steps[run_id][key] = step
    inputs = _load_inputs(connection, run_ids)
    model_inputs: dict[str, list[LoggedModelInput]] = defaultdict(list)
    model_outputs: dict[str, list[LoggedModelOutput]] = defaultdict(list)
    for run_id, model_id, direction, step in _rows(connection, _LINK_ROWS, run_ids):
        if direction == "input":
            model_inputs[run_id].append(LoggedModelInput(model_id=model_id))
        else:
            model_outputs[run_id].append(LoggedModelOutput(model_id=model_id, step=step))
    return [
        Run(
            info=_run_info(row),
            data=RunData(
                metrics=metrics[row[0]],
                params=params[row[0]],
                tags=tags[row[0]],
                metric_timestamps=timestamps[row[0]],
                metric_steps=steps[row[0]],
            ),
            inputs=RunInputs(
                dataset_inputs=inputs.get(row[0], []), model_inputs=model_inputs[row[0]]
            ),
            outputs=RunOutputs(model_outputs=model_outputs[row[0]]),
        )
        for row in infos
    ]


def _load_inputs(connection: Connection, run_ids: Sequence[str]) -> dict[str, list[DatasetInput]]:
    found: dict[str, list[DatasetInput]] = defaultdict(list)
    for run_id, tags_json, name, digest, source_type, source, schema, profile in _rows(
        connection, _INPUT_ROWS, run_ids
    ):
        dataset = Dataset(
            name=name,
            digest=digest,
            source_type=source_type,
            source=source,
            schema=schema,
            profile=profile,
        )
        tags = [RunTag(k, x) for k, x in json.loads(tags_json).items()]
        found[run_id].append(DatasetInput(dataset=dataset, tags=tags))
    return found


_STATUSES = {status.value: status for status in RunStatus}
_STAGES = {stage.value: stage for stage in LifecycleStage}


def _run_info(row: Sequence[Any]) -> RunInfo:
    run_id, experiment_id, run_name, user_id, status, start, end, artifact_uri, stage = row
    return RunInfo(
        run_id=run_id,
        experiment_id=str(experiment_id),
        run_name=run_name,
        user_id=user_id,
        status=_STATUSES[status],
        start_time=start,
        end_time=end,
        artifact_uri=artifact_uri,
        lifecycle_stage=_STAGES[stage],
    )
