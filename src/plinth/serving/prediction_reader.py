"""Reading the prediction log back: DuckDB over one endpoint's Parquet segments.

Pruning happens twice, so segments of other dates are never opened: only the
``date=`` folders overlapping the window are listed, and DuckDB pushes the date and
timestamp predicates into the pyarrow dataset scan (partition pruning, then Parquet
row-group statistics). Works on a local root and on S3 through the store's own fsspec
filesystem.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re
from collections.abc import Sequence

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from plinth.artifacts import ArtifactStore, FsspecArtifactStore
from plinth.artifacts.base import normalize_path
from plinth.entities.validation import validate_time_window
from plinth.errors import InvalidArgumentError
from plinth.serving.prediction_log import (
    DEFAULT_PREFIX,
    SEGMENT_SCHEMA,
    day_of,
    endpoint_dir,
    iso_date,
)

_DATE_DIR = re.compile(r"^date=\d{4}-\d{2}-\d{2}$")
_DATE_PARTITIONING = ds.partitioning(pa.schema([pa.field("date", pa.string())]), flavor="hive")
_DATASET_SCHEMA = SEGMENT_SCHEMA.append(pa.field("date", pa.string()))


def read_predictions(
    store: ArtifactStore,
    endpoint: str,
    *,
    since_ms: int | None = None,
    until_ms: int | None = None,
    prefix: str = DEFAULT_PREFIX,
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Return ``endpoint``'s logged predictions with ``since_ms <= timestamp < until_ms``.

    Only ``timestamp`` is converted (to tz-aware UTC datetimes); ``inputs`` and
    ``outputs`` stay the JSON text they were logged as (a DataFrame as a list of row
    objects), so a query that needs neither pays nothing for them. Parse the ones you
    need, e.g. ``df["outputs"].map(orjson.loads)``.

    Args:
        store: The artifact store the ``PredictionLogWriter`` wrote to (local or S3).
        endpoint: The endpoint's name.
        since_ms: Inclusive lower bound, epoch milliseconds UTC; ``None`` for no bound.
        until_ms: Exclusive upper bound, epoch milliseconds UTC; ``None`` for no bound.
        prefix: The writer's ``prefix``.
        columns: The columns to return, in order; default all of ``SEGMENT_SCHEMA``.

    Returns:
        One row per logged record, oldest first; an empty frame with the same columns
        when nothing was logged in the window.

    Raises:
        InvalidArgumentError: An unknown column, ``since_ms`` after ``until_ms``, an empty
            endpoint name, or a store that is neither local nor S3.
    """
    selected = _selected_columns(columns)
    validate_time_window(since_ms, until_ms)
    if not endpoint:
        raise InvalidArgumentError("endpoint must be an endpoint name, e.g. 'churn'")
    fsspec_store = _fsspec_store(store)
    folder = endpoint_dir(normalize_path(prefix, allow_root=False), endpoint)
    files = [fsspec_store.full_path(p) for p in _segment_paths(store, folder, since_ms, until_ms)]
    schema = pa.schema([SEGMENT_SCHEMA.field(name) for name in selected])
    if not files:
        return _to_frame(schema.empty_table())
    dataset = ds.dataset(
        files,
        schema=_DATASET_SCHEMA,
        format="parquet",
        filesystem=fsspec_store.filesystem,
        partitioning=_DATE_PARTITIONING,
        partition_base_dir=fsspec_store.full_path(folder),
    )
    # DuckDB returns timestamps in its session time zone; the cast puts them back in UTC.
    return _to_frame(_query(dataset, selected, since_ms, until_ms).cast(schema))


def _segment_paths(
    store: ArtifactStore, folder: str, since_ms: int | None, until_ms: int | None
) -> list[str]:
    # Date folders compare as strings: date=YYYY-MM-DD sorts like the dates themselves.
    first = f"date={iso_date(day_of(since_ms))}" if since_ms is not None else None
    last = f"date={iso_date(day_of(until_ms - 1))}" if until_ms is not None else None
    paths = []
    for entry in store.list(folder):
        name = posixpath.basename(entry.path)
        if not entry.is_dir or not _DATE_DIR.match(name):
            continue
        if (first is not None and name < first) or (last is not None and name > last):
            continue
        paths += [f.path for f in store.list(entry.path) if _is_segment(f.path, f.is_dir)]
    return paths


def _is_segment(path: str, is_dir: bool) -> bool:
    # Hidden and underscore names are temp files and markers (Spark's _SUCCESS), not data.
    name = posixpath.basename(path)
    return not is_dir and name.endswith(".parquet") and not name.startswith((".", "_"))


def _query(
    dataset: ds.Dataset, selected: list[str], since_ms: int | None, until_ms: int | None
) -> pa.Table:
    conditions: list[str] = []
    params: dict[str, object] = {}
    if since_ms is not None:
        conditions += ["date >= $first", '"timestamp" >= $since']
        params |= {"first": iso_date(day_of(since_ms)), "since": _utc(since_ms)}
    if until_ms is not None:
        conditions += ["date <= $last", '"timestamp" < $until']
        params |= {"last": iso_date(day_of(until_ms - 1)), "until": _utc(until_ms)}
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    projection = ", ".join(f'"{name}"' for name in selected)
    sql = f'SELECT {projection} FROM segments{where} ORDER BY "timestamp", request_id, route'
    with duckdb.connect() as con:
        con.register("segments", dataset)
        table: pa.Table = con.sql(sql, params=params).to_arrow_table()
    return table


def _to_frame(table: pa.Table) -> pd.DataFrame:
    frame: pd.DataFrame = table.to_pandas()
    return frame


def _utc(timestamp_ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp_ms / 1000, tz=dt.UTC)


def _selected_columns(columns: Sequence[str] | None) -> list[str]:
    if columns is None:
        return list(SEGMENT_SCHEMA.names)
    if isinstance(columns, str):
        raise InvalidArgumentError(f"columns must be a list of names, e.g. [{columns!r}]")
    unknown = [name for name in columns if name not in SEGMENT_SCHEMA.names]
    if unknown:
        raise InvalidArgumentError(
            f"unknown prediction log column(s) {unknown}; choose from {SEGMENT_SCHEMA.names}"
        )
    return list(dict.fromkeys(columns))


def _fsspec_store(store: ArtifactStore) -> FsspecArtifactStore:
    if isinstance(store, FsspecArtifactStore):
        return store
    raise InvalidArgumentError(
        f"reading the prediction log needs a local or s3:// artifact store, got {store.root!r}; "
        "read it where the server runs, or point the artifact root at the bucket"
    )
