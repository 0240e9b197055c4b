"""The prediction log: every scored request, shadow scores included, as Parquet segments.

Serving calls ``PredictionLogWriter.log`` on the request path, which only appends to an
in-memory buffer. A daemon thread turns the buffer into Parquet segments every
``flush_interval_s`` and writes each one with a single ``store.put_bytes`` (temp file, fsync,
rename on a local root; one PUT on S3), so a reader never sees half a segment and a crash
loses at most the records of the last interval. The layout is hive style, one segment per
endpoint, date and flush::

    <prefix>/endpoint=<name>/date=<YYYY-MM-DD>/<HH>-<epoch_ms>-<replica>-<seq>.parquet

``date`` is the records' own (request arrival) date in UTC; ``HH`` and ``epoch_ms`` are the
flush's wall-clock time, so names sort in write order and never repeat within a replica.
``plinth.serving.prediction_reader.read_predictions`` reads the segments back.
"""

from __future__ import annotations

import atexit
import datetime as dt
import itertools
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast
from urllib.parse import quote

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from plinth.artifacts import ArtifactStore, FsspecArtifactStore
from plinth.artifacts.base import normalize_path
from plinth.artifacts.durability import fsync_path
from plinth.errors import BackendUnavailableError, ConflictError, InvalidArgumentError, PlinthError

logger = logging.getLogger(__name__)

DEFAULT_PREFIX = "predictions"

SEGMENT_SCHEMA = pa.schema(
    [
        pa.field("request_id", pa.string()),
        pa.field("endpoint", pa.string()),
        pa.field("model_name", pa.string()),
        pa.field("model_version", pa.string()),
        pa.field("route", pa.string()),
        pa.field("timestamp", pa.timestamp("ms", tz="UTC")),
        pa.field("inputs", pa.string()),
        pa.field("outputs", pa.string()),
        pa.field("latency_ms", pa.float64()),
        pa.field("status", pa.string()),
        pa.field("error", pa.string()),
        pa.field("rows", pa.int32()),
    ]
)
"""The columns of every segment; ``inputs`` and ``outputs`` hold JSON text."""

_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_MS_PER_DAY = 86_400_000
_MS_PER_HOUR = 3_600_000
_UNIX_EPOCH = dt.date(1970, 1, 1)
_REPLICA_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_ENCODE_ERRORS = (pa.ArrowException, TypeError, ValueError)

# (time.monotonic() when logged, record): the arrival time is what lag_seconds measures.
_Entry = tuple[float, "PredictionRecord"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PredictionRecord:
    """One scored request, as the prediction log stores it.

    Attributes:
        request_id: The request's id; a shadow score repeats the id of the request it copied.
        endpoint: The endpoint's name.
        model_name: The registered model that scored the request.
        model_version: Its registry version number as a string, e.g. ``"7"``.
        route: ``"primary"``, ``"canary"``, ``"shadow"`` or an A-B variant's name.
        timestamp_ms: When the request arrived, epoch milliseconds UTC; picks the date partition.
        inputs: The request rows: a pandas DataFrame, a numpy array or a JSON-able value.
        outputs: What the model returned (array, list, DataFrame, dict of arrays) or ``None``.
        latency_ms: Time spent scoring, in milliseconds.
        status: ``"ok"``, ``"invalid"`` (client error) or ``"error"`` (the model raised).
        error: The error message when ``status`` is not ``"ok"``.
        rows: Number of rows scored.
    """

    request_id: str
    endpoint: str
    model_name: str
    model_version: str
    route: str
    timestamp_ms: int
    inputs: object
    outputs: object
    latency_ms: float
    status: str
    error: str | None = None
    rows: int = 1


class PredictionLogWriter:
    """Buffers prediction records and writes them as Parquet segments off the request path.

    ``log()`` is all the request path pays: a lock, an append and, with a full buffer,
    dropping the oldest record. Serialisation and IO happen in ``flush()``, which the thread
    of ``start()`` calls every ``flush_interval_s``. A failed flush keeps its records for the
    next one; records being written are never dropped (with the whole budget mid-write, the
    newest record is). ``start()`` registers ``close()`` with ``atexit`` so a normal exit
    flushes everything; the writer stays referenced until ``close()``.

    Args:
        store: Where segments go; any ``ArtifactStore``. On a local ``FsspecArtifactStore``
            the directories are fsync'd too, so a segment's name survives a power cut.
        prefix: Relative folder of the log inside the store.
        flush_interval_s: Seconds between background flushes; the most a crash can lose.
        max_buffered_records: Records kept in memory while the store is slow or down;
            beyond it the oldest are dropped and counted in ``records_dropped``.
        replica_id: Names this writer in segment file names; it must be unique among writers
            sharing the store. Default: ``<hostname>.<pid>.<random>``.

    Raises:
        InvalidArgumentError: A setting is out of range or ``replica_id``/``prefix`` cannot
            be part of a file path.
    """

    def __init__(
        self,
        store: ArtifactStore,
        *,
        prefix: str = DEFAULT_PREFIX,
        flush_interval_s: float = 1.0,
        max_buffered_records: int = 100_000,
        replica_id: str | None = None,
    ) -> None:
        _check_settings(flush_interval_s, max_buffered_records)
        self._store = store
        self._prefix = normalize_path(prefix, allow_root=False)
        self._interval = flush_interval_s
        self._max = max_buffered_records
        self._replica = _replica_id(replica_id)
        self._local = _local_store(store)
        self._lock = threading.Lock()  # guards the buffer fields below; never held during IO
        self._pending: deque[_Entry] = deque()
        self._inflight = 0
        self._inflight_since: float | None = None
        self._closed = False
        self._records_dropped = 0
        self._flush_lock = threading.Lock()  # one flush at a time: thread, flush(), close()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seq = itertools.count()
        self._synced_dirs: set[str] = set()
        self._drops_seen = 0
        self._in_drop_burst = False
        self._records_written = 0
        self._segments_written = 0
        self._flush_failures = 0

    @property
    def records_written(self) -> int:
        """Records durably written so far."""
        return self._records_written

    @property
    def segments_written(self) -> int:
        """Segment files written so far."""
        return self._segments_written

    @property
    def records_dropped(self) -> int:
        """Records lost on purpose: buffer overflow, logged after close, or unencodable."""
        return self._records_dropped

    @property
    def flush_failures(self) -> int:
        """Flushes that failed to write to the store (their records were kept)."""
        return self._flush_failures

    def start(self) -> None:
        """Start the background flush thread (a daemon); calling it again does nothing.

        Raises:
            ConflictError: The writer is closed.
        """
        with self._lock:
            if self._closed:
                raise ConflictError("the prediction log writer is closed; create a new one")
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._run, name="plinth-prediction-log", daemon=True
            )
            self._thread.start()
        atexit.register(self.close)

    def log(self, record: PredictionRecord) -> None:
        """Buffer ``record`` for the next flush: O(1), no IO, never raises."""
        entry = (time.monotonic(), record)
        with self._lock:
            if self._closed:
                self._records_dropped += 1
                return
            self._pending.append(entry)
            if len(self._pending) + self._inflight > self._max:
                self._pending.popleft()
                self._records_dropped += 1

    def flush(self) -> int:
        """Write everything buffered now, one segment per endpoint and date.

        Returns:
            The number of records written.

        Raises:
            BackendUnavailableError: The store refused a segment; every record not yet
                written is kept for the next flush.
        """
        with self._flush_lock:
            self._report_drops()
            batch = self._take_pending()
            done: set[tuple[str, int]] = set()
            try:
                return self._write_groups(_group_by_segment(batch), done)
            finally:
                self._put_back([e for e in batch if _segment_key(e[1]) not in done])

    def close(self) -> None:
        """Stop the thread and flush everything; idempotent and never raises, so it is safe
        in an asyncio shutdown hook and in ``atexit``. Records logged afterwards are dropped."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        atexit.unregister(self.close)
        try:
            self.flush()
        except Exception:  # error boundary: a shutdown hook must not raise
            # Closed and flushed: nothing touches the buffer any more, so no lock needed.
            logger.exception("prediction log: %d records not written at close", len(self._pending))

    def lag_seconds(self) -> float:
        """Age in seconds of the oldest record not yet durably written; 0.0 when none."""
        with self._lock:
            oldest = self._inflight_since
            if oldest is None and self._pending:
                oldest = self._pending[0][0]
        return 0.0 if oldest is None else max(0.0, time.monotonic() - oldest)

    def _run(self) -> None:
        failures = 0
        while not self._stop.wait(self._interval):
            try:
                self.flush()
            except Exception as exc:  # error boundary: the thread must outlive a failing store
                failures += 1
                if failures == 1:
                    logger.warning(
                        "prediction log flush failed; retrying every %ss: %s",
                        self._interval,
                        exc,
                        exc_info=not isinstance(exc, PlinthError),
                    )
                continue
            if failures:
                logger.info("prediction log flushes again after %d failed attempts", failures)
                failures = 0

    def _take_pending(self) -> deque[_Entry]:
        with self._lock:
            batch = self._pending
            self._pending = deque()
            self._inflight = len(batch)
            self._inflight_since = batch[0][0] if batch else None
        return batch

    def _put_back(self, unwritten: list[_Entry]) -> None:
        # Older than anything logged meanwhile, so they go back in front. log() kept
        # pending + in-flight within the budget, so this never overflows it.
        with self._lock:
            self._pending.extendleft(reversed(unwritten))
            self._inflight = 0
            self._inflight_since = None

    def _write_groups(
        self, groups: dict[tuple[str, int], list[PredictionRecord]], done: set[tuple[str, int]]
    ) -> int:
        written = 0
        for key, records in groups.items():
            data, count = self._encode(records)
            if count:
                self._put_segment(*key, data)
                written += count
                self._records_written += count
            done.add(key)
        return written

    def _encode(self, records: list[PredictionRecord]) -> tuple[bytes, int]:
        # A record that cannot be encoded (a field of the wrong type) would fail its
        # segment on every retry and block the log for good, so it alone is dropped.
        try:
            return encode_segment(records), len(records)
        except _ENCODE_ERRORS:
            good = [record for record in records if _is_encodable(record)]
        logger.error("prediction log: dropping %d unencodable records", len(records) - len(good))
        with self._lock:
            self._records_dropped += len(records) - len(good)
        return (encode_segment(good) if good else b""), len(good)

    def _put_segment(self, endpoint: str, day: int, data: bytes) -> None:
        now_ms = time.time_ns() // 1_000_000
        hour = now_ms // _MS_PER_HOUR % 24
        folder = f"{endpoint_dir(self._prefix, endpoint)}/date={iso_date(day)}"
        path = f"{folder}/{hour:02d}-{now_ms}-{self._replica}-{next(self._seq):06d}.parquet"
        try:
            self._store.put_bytes(data, path)
            self._sync_dirs(folder)
        except (OSError, PlinthError) as exc:
            self._flush_failures += 1
            raise BackendUnavailableError(
                f"prediction log: writing {path!r} to {self._store.root!r} failed ({exc}); "
                "the records not written are kept for the next flush"
            ) from exc
        self._segments_written += 1

    def _sync_dirs(self, folder: str) -> None:
        # The data was fsync'd before its rename; the rename (and any folder makedirs
        # created) lives in the directories, which need their own fsync to survive a
        # power cut. New folders get their whole ancestry synced once.
        if self._local is None:
            return
        chain = [folder] if folder in self._synced_dirs else _ancestry(folder)
        for rel in chain:
            fsync_path(self._local.full_path(rel))
        self._synced_dirs.add(folder)

    def _report_drops(self) -> None:
        # Called once per flush: warn when a period of continuous dropping starts, not for
        # every record or every flush within it.
        dropped = self._records_dropped
        new = dropped - self._drops_seen
        self._drops_seen = dropped
        if new and not self._in_drop_burst:
            logger.warning(
                "prediction log buffer is full (max_buffered_records=%d): dropped %d of the "
                "oldest records; the store is down or slower than the traffic",
                self._max,
                new,
            )
        self._in_drop_burst = bool(new)


def endpoint_dir(prefix: str, endpoint: str) -> str:
    """The relative folder of ``endpoint``'s segments; the name is percent-encoded so any
    string stays one safe path component (valid endpoint names are left as they are)."""
    return f"{prefix}/endpoint={quote(endpoint, safe='')}"


def iso_date(day: int) -> str:
    """``YYYY-MM-DD`` of ``day`` days after 1970-01-01; its folder is ``date=YYYY-MM-DD``."""
    return (_UNIX_EPOCH + dt.timedelta(days=day)).isoformat()


def day_of(timestamp_ms: int) -> int:
    """Days since 1970-01-01 (UTC) of an epoch-millisecond timestamp."""
    return timestamp_ms // _MS_PER_DAY


def encode_segment(records: Sequence[PredictionRecord]) -> bytes:
    """``records`` as the bytes of a zstd-compressed Parquet file with ``SEGMENT_SCHEMA``.

    Raises:
        pyarrow.ArrowException, TypeError, ValueError: A field does not fit its column type.
    """
    columns = {
        "request_id": [r.request_id for r in records],
        "endpoint": [r.endpoint for r in records],
        "model_name": [r.model_name for r in records],
        "model_version": [r.model_version for r in records],
        "route": [r.route for r in records],
        "timestamp": [r.timestamp_ms for r in records],
        "inputs": [to_json_text(r.inputs) for r in records],
        "outputs": [to_json_text(r.outputs) for r in records],
        "latency_ms": [r.latency_ms for r in records],
        "status": [r.status for r in records],
        "error": [r.error for r in records],
        "rows": [r.rows for r in records],
    }
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table(columns, schema=SEGMENT_SCHEMA), sink, compression="zstd")
    return cast(bytes, sink.getvalue().to_pybytes())


def to_json_text(value: object) -> str | None:
    """``value`` as JSON text: a DataFrame as a list of row objects, numpy arrays as lists,
    NaN and missing values as ``null``; ``None`` stays ``None`` (no value, not ``"null"``).

    A value orjson cannot encode at all (an integer beyond 64 bits, a cycle) is stored as
    the JSON string of its ``repr`` rather than losing the whole record.
    """
    if value is None:
        return None
    if isinstance(value, pd.DataFrame):
        value = _frame_records(value)
    try:
        return orjson.dumps(value, default=_json_default, option=_JSON_OPTIONS).decode()
    except orjson.JSONEncodeError:
        return orjson.dumps(repr(value)[:10_000]).decode()


def _json_default(value: object) -> object:
    # orjson calls this for what it cannot encode natively: pandas scalars, datetime
    # subclasses, arrays it refuses (object dtype, non-contiguous), Series, Decimal...
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, pd.DataFrame):
        return _frame_records(value)
    if isinstance(value, np.ndarray | np.generic | pd.Series | pd.Index):
        return value.tolist()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _frame_records(frame: pd.DataFrame) -> list[dict[object, object]]:
    # 5-40x faster than to_dict(orient="records") on small frames, which boxes every cell
    # through pandas; the rows of an object array hold plain Python values already.
    names = frame.columns.tolist()
    return [dict(zip(names, row, strict=True)) for row in frame.to_numpy(dtype=object).tolist()]


def _is_encodable(record: PredictionRecord) -> bool:
    try:
        encode_segment([record])
    except _ENCODE_ERRORS:
        return False
    return True


def _group_by_segment(batch: Sequence[_Entry]) -> dict[tuple[str, int], list[PredictionRecord]]:
    groups: dict[tuple[str, int], list[PredictionRecord]] = {}
    for _, record in batch:
        groups.setdefault(_segment_key(record), []).append(record)
    return groups


def _segment_key(record: PredictionRecord) -> tuple[str, int]:
    return record.endpoint, day_of(record.timestamp_ms)


def _ancestry(folder: str) -> list[str]:
    parts = folder.split("/")
    return ["/".join(parts[:i]) for i in range(len(parts), -1, -1)]


def _local_store(store: ArtifactStore) -> FsspecArtifactStore | None:
    if isinstance(store, FsspecArtifactStore) and isinstance(store.filesystem, LocalFileSystem):
        return store
    return None


def _check_settings(flush_interval_s: float, max_buffered_records: int) -> None:
    if not flush_interval_s > 0:
        raise InvalidArgumentError(f"flush_interval_s must be > 0 seconds, got {flush_interval_s}")
    if max_buffered_records < 1:
        raise InvalidArgumentError(f"max_buffered_records must be >= 1, got {max_buffered_records}")


def _replica_id(replica_id: str | None) -> str:
    if replica_id is None:
        host = re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname())[:60] or "host"
        return f"{host}.{os.getpid()}.{uuid.uuid4().hex[:6]}"
    if not _REPLICA_RE.match(replica_id):
        raise InvalidArgumentError(
            f"replica_id {replica_id!r} must be 1-100 letters, digits, '_', '.' or '-' "
            "(it becomes part of segment file names), e.g. 'serve-0'"
        )
    return replica_id
