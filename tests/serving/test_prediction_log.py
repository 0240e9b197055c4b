"""The prediction log on real files and on moto's S3: writer, crash safety, reader."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import boto3
import duckdb
import numpy as np
import orjson
import pandas as pd
import pyarrow.parquet as pq
import pytest
from tests.conftest import s3_options

from plinth.artifacts import ArtifactStore, artifact_store_from_uri
from plinth.errors import BackendUnavailableError, ConflictError, InvalidArgumentError
from plinth.serving.prediction_log import SEGMENT_SCHEMA, PredictionLogWriter, PredictionRecord
from plinth.serving.prediction_reader import read_predictions

DAY = 86_400_000
HOUR = 3_600_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
LOGGER = "plinth.serving.prediction_log"


def make_record(
    request_id: str | int,
    *,
    endpoint: str = "churn",
    timestamp_ms: int = T0,
    route: str = "primary",
    inputs: object = None,
    outputs: object = None,
    status: str = "ok",
    error: str | None = None,
    rows: int = 1,
) -> PredictionRecord:
    return PredictionRecord(
        request_id=str(request_id),
        endpoint=endpoint,
        model_name="churn-model",
        model_version="7",
        route=route,
        timestamp_ms=timestamp_ms,
        inputs=[[1.0, 2.0]] if inputs is None else inputs,
        outputs=outputs,
        latency_ms=2.5,
        status=status,
        error=error,
        rows=rows,
    )


def logged_ids(
    store: ArtifactStore, *, since_ms: int | None = None, until_ms: int | None = None
) -> list[str]:
    """The request ids logged for ``churn``, oldest first."""
    frame = read_predictions(
        store, "churn", since_ms=since_ms, until_ms=until_ms, columns=["request_id"]
    )
    return list(frame["request_id"])


def wait_until(condition: Callable[[], bool], *, timeout: float = 10.0) -> float:
    """Poll ``condition`` every 10 ms; return the seconds it took, fail after ``timeout``."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.01)
    return time.monotonic() - start


@pytest.fixture
def store(artifact_store: ArtifactStore) -> ArtifactStore:
    """An empty artifact store, local or on S3 (``artifact_store`` in tests/conftest.py)."""
    return artifact_store


@pytest.fixture
def local_store(tmp_path: Path) -> ArtifactStore:
    return artifact_store_from_uri(str(tmp_path / "artifacts"))


# --- round trip ----------------------------------------------------------------------------


def test_round_trip_keeps_every_field_and_encodes_outputs_as_json(store: ArtifactStore) -> None:
    frame = pd.DataFrame({"age": [31.0, np.nan], "plan": ["basic", "pro"]})
    writer = PredictionLogWriter(store)
    writer.log(make_record("r1", inputs=frame, outputs=np.array([0.25, np.nan]), rows=2))
    writer.log(make_record("r1", route="shadow", timestamp_ms=T0 + 1, outputs=frame))
    writer.log(make_record("r2", timestamp_ms=T0 + 2, outputs={"p": np.array([[1, 2], [3, 4]])}))
    writer.log(make_record("r3", timestamp_ms=T0 + 3, status="error", error="model raised"))

    assert writer.flush() == 4

    df = read_predictions(store, "churn")
    assert list(df.columns) == SEGMENT_SCHEMA.names
    assert list(zip(df["request_id"], df["route"], strict=True)) == [
        ("r1", "primary"),
        ("r1", "shadow"),
        ("r2", "primary"),
        ("r3", "primary"),
    ]
    assert [orjson.loads(text) for text in df["outputs"][:3]] == [
        [0.25, None],
        [{"age": 31.0, "plan": "basic"}, {"age": None, "plan": "pro"}],
        {"p": [[1, 2], [3, 4]]},
    ]
    assert orjson.loads(df["inputs"][0]) == [
        {"age": 31.0, "plan": "basic"},
        {"age": None, "plan": "pro"},
    ]
    assert (
        pd.isna(df["outputs"][3])
        and df["status"][3] == "error"
        and df["error"][3] == "model raised"
    )
    assert list(df["timestamp"]) == [pd.Timestamp(T0 + i, unit="ms", tz="UTC") for i in range(4)]
    assert str(df["timestamp"].dtype) == "datetime64[ms, UTC]"
    assert list(df["rows"]) == [2, 1, 1, 1] and df["rows"].dtype == np.int32
    assert (df["latency_ms"] == 2.5).all() and df["latency_ms"].dtype == np.float64
    assert set(df["model_name"]) == {"churn-model"} and set(df["model_version"]) == {"7"}


def test_frame_cells_of_any_dtype_become_plain_json(local_store: ArtifactStore) -> None:
    frame = pd.DataFrame(
        {
            "seen": [pd.Timestamp("2026-01-01T10:00:00", tz="UTC"), pd.NaT],
            "count": pd.array([3, None], dtype="Int64"),
            "plan": pd.Categorical(["pro", "basic"]),
            7: [True, False],
        }
    )
    writer = PredictionLogWriter(local_store)
    writer.log(make_record("r1", inputs=frame, outputs=np.float32(0.5)))
    writer.flush()

    df = read_predictions(local_store, "churn", columns=["inputs", "outputs"])

    assert orjson.loads(df["inputs"][0]) == [
        {"seen": "2026-01-01T10:00:00+00:00", "count": 3, "plan": "pro", "7": True},
        {"seen": None, "count": None, "plan": "basic", "7": False},
    ]
    assert orjson.loads(df["outputs"][0]) == 0.5


def test_segments_follow_the_hive_layout_one_per_endpoint_and_date(
    local_store: ArtifactStore,
) -> None:
    writer = PredictionLogWriter(local_store, replica_id="serve-0")
    for endpoint in ("churn", "fraud"):
        for timestamp_ms in (T0, T0 + 5, T0 + DAY):
            writer.log(make_record(1, endpoint=endpoint, timestamp_ms=timestamp_ms))

    writer.flush()

    root = Path(local_store.root)
    names = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.parquet"))
    pattern = (
        r"predictions/endpoint=(churn|fraud)/date=2026-01-0[12]/\d\d-\d{13}-serve-0-\d{6}\.parquet"
    )
    assert len(names) == 4 == writer.segments_written
    assert all(re.fullmatch(pattern, name) for name in names), names
    assert [pq.read_table(root / name).num_rows for name in names] == [2, 1, 2, 1]


def test_a_record_that_cannot_be_encoded_is_dropped_and_the_others_written(
    local_store: ArtifactStore,
) -> None:
    writer = PredictionLogWriter(local_store)
    writer.log(make_record("good-1"))
    writer.log(make_record("bad", rows=2**40))  # overflows the int32 column
    writer.log(make_record("good-2", timestamp_ms=T0 + 1))

    assert writer.flush() == 2

    assert writer.records_dropped == 1
    assert logged_ids(local_store) == ["good-1", "good-2"]
    assert writer.flush() == 0  # the bad record is not retried forever


# --- buffering, flushing, closing ---------------------------------------------------------


def test_concurrent_logging_loses_and_duplicates_nothing(local_store: ArtifactStore) -> None:
    writer = PredictionLogWriter(local_store, flush_interval_s=0.01)
    writer.start()
    barrier = threading.Barrier(8)

    def produce(thread: int) -> None:
        barrier.wait()
        for i in range(500):
            writer.log(make_record(f"{thread}-{i}", timestamp_ms=T0 + i))
            if i % 25 == 0:
                time.sleep(0.002)  # let the flush thread run in between

    threads = [threading.Thread(target=produce, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()

    expected = sorted(f"{t}-{i}" for t in range(8) for i in range(500))
    assert sorted(logged_ids(local_store)) == expected
    assert writer.records_written == 4000 and writer.records_dropped == 0
    assert writer.segments_written > 1  # flushes ran while the threads were logging


def test_records_become_readable_within_the_flush_interval(local_store: ArtifactStore) -> None:
    writer = PredictionLogWriter(local_store, flush_interval_s=0.3)
    writer.start()
    try:
        writer.log(make_record("r1"))
        elapsed = wait_until(lambda: logged_ids(local_store) == ["r1"])
    finally:
        writer.close()

    assert elapsed < 0.3 + 1.0  # one interval, plus slack for a loaded machine


def test_close_flushes_everything_and_is_idempotent(local_store: ArtifactStore) -> None:
    writer = PredictionLogWriter(local_store, flush_interval_s=60)
    writer.start()
    for i in range(100):
        writer.log(make_record(i, timestamp_ms=T0 + i))

    writer.close()
    writer.close()

    assert logged_ids(local_store) == [str(i) for i in range(100)]
    writer.log(make_record("late"))
    assert writer.records_dropped == 1
    with pytest.raises(ConflictError, match="closed"):
        writer.start()


def test_lag_seconds_is_the_age_of_the_oldest_unwritten_record(local_store: ArtifactStore) -> None:
    writer = PredictionLogWriter(local_store)
    assert writer.lag_seconds() == 0.0

    writer.log(make_record(1))
    time.sleep(0.1)
    writer.log(make_record(2))

    assert writer.lag_seconds() >= 0.1
    writer.flush()
    assert writer.lag_seconds() == 0.0


def test_full_buffer_drops_the_oldest_and_warns_once_per_burst(
    local_store: ArtifactStore, caplog: pytest.LogCaptureFixture
) -> None:
    writer = PredictionLogWriter(local_store, max_buffered_records=10)
    caplog.set_level(logging.WARNING, logger=LOGGER)

    for i in range(25):
        writer.log(make_record(i, timestamp_ms=T0 + i))
    writer.flush()
    for i in range(25, 40):
        writer.log(make_record(i, timestamp_ms=T0 + i))
    writer.flush()

    assert writer.records_dropped == 20
    assert logged_ids(local_store) == [str(i) for i in [*range(15, 25), *range(30, 40)]]
    warnings = [r for r in caplog.records if "buffer is full" in r.getMessage()]
    assert len(warnings) == 1  # two flushes, one continuous burst of drops

    writer.flush()  # a flush without new drops ends the burst
    for i in range(40, 51):
        writer.log(make_record(i, timestamp_ms=T0 + i))
    writer.flush()
    assert len([r for r in caplog.records if "buffer is full" in r.getMessage()]) == 2


def block_endpoint_folder(store: ArtifactStore) -> Path:
    """A real fault, even for root: a plain file where the endpoint's folder must go."""
    blocker = Path(store.root, "predictions", "endpoint=churn")
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_bytes(b"")
    return blocker


def test_a_failed_flush_keeps_its_records_within_the_budget(local_store: ArtifactStore) -> None:
    writer = PredictionLogWriter(local_store, max_buffered_records=10)
    blocker = block_endpoint_folder(local_store)
    for i in range(8):
        writer.log(make_record(i, timestamp_ms=T0 + i))

    with pytest.raises(BackendUnavailableError, match="kept for the next flush"):
        writer.flush()
    for i in range(8, 15):
        writer.log(make_record(i, timestamp_ms=T0 + i))
    with pytest.raises(BackendUnavailableError):
        writer.flush()

    assert (writer.flush_failures, writer.records_dropped, writer.records_written) == (2, 5, 0)
    assert writer.lag_seconds() > 0.0
    blocker.unlink()
    assert writer.flush() == 10
    assert logged_ids(local_store) == [str(i) for i in range(5, 15)]
    assert writer.lag_seconds() == 0.0


def test_the_flush_thread_retries_a_failing_store_until_it_recovers(
    local_store: ArtifactStore,
) -> None:
    writer = PredictionLogWriter(local_store, flush_interval_s=0.05)
    blocker = block_endpoint_folder(local_store)
    writer.start()
    try:
        for i in range(20):
            writer.log(make_record(i, timestamp_ms=T0 + i))
        wait_until(lambda: writer.flush_failures >= 2)
        assert writer.records_written == 0 and writer.lag_seconds() >= 0.04

        blocker.unlink()
        wait_until(lambda: writer.records_written == 20)
    finally:
        writer.close()

    assert logged_ids(local_store) == [str(i) for i in range(20)]
    assert writer.records_dropped == 0


@pytest.mark.s3
def test_a_missing_bucket_fails_the_flush_until_it_exists(s3_endpoint: str) -> None:
    bucket = f"plinth-late-{uuid.uuid4().hex[:12]}"
    store = artifact_store_from_uri(f"s3://{bucket}/log", storage_options=s3_options(s3_endpoint))
    writer = PredictionLogWriter(store)
    writer.log(make_record("r1"))

    with pytest.raises(BackendUnavailableError, match=bucket):
        writer.flush()
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)

    assert writer.flush() == 1
    assert logged_ids(store) == ["r1"]


# --- process death --------------------------------------------------------------------------

CHILD_PRELUDE = """
import sys, time
from plinth.artifacts import artifact_store_from_uri
from plinth.serving.prediction_log import PredictionLogWriter, PredictionRecord

def record(i):
    return PredictionRecord(
        request_id=str(i), endpoint="churn", model_name="m", model_version="1",
        route="primary", timestamp_ms=time.time_ns() // 1_000_000, inputs=[[i, i]],
        outputs=[i], latency_ms=1.0, status="ok")

writer = PredictionLogWriter(artifact_store_from_uri(sys.argv[1]), flush_interval_s=1.0)
writer.start()
"""


def run_child(body: str, root: Path) -> subprocess.Popen[str]:
    script = CHILD_PRELUDE + textwrap.dedent(body)
    return subprocess.Popen(
        [sys.executable, "-c", script, str(root)], stdout=subprocess.PIPE, text=True
    )


def test_normal_exit_flushes_through_atexit(tmp_path: Path) -> None:
    child = run_child("for i in range(50):\n    writer.log(record(i))\n", tmp_path / "log")
    assert child.wait(timeout=60) == 0

    store = artifact_store_from_uri(str(tmp_path / "log"))
    assert sorted(logged_ids(store), key=int) == [str(i) for i in range(50)]


@pytest.mark.slow
def test_sigkill_leaves_readable_segments_and_loses_at_most_one_interval(tmp_path: Path) -> None:
    body = """
    i = 0
    while True:
        writer.log(record(i))
        if i % 20 == 0:
            print(i, time.time_ns() // 1_000_000, flush=True)
        i += 1
        time.sleep(0.001)
    """
    child = run_child(body, tmp_path / "log")
    assert child.stdout is not None
    progress: list[tuple[int, int]] = []
    deadline = time.monotonic() + 3.5
    while time.monotonic() < deadline:
        i, at_ms = child.stdout.readline().split()
        progress.append((int(i), int(at_ms)))
    os.kill(child.pid, signal.SIGKILL)
    killed_ms = time.time_ns() // 1_000_000
    child.wait(timeout=30)

    segments = sorted(Path(tmp_path / "log").rglob("*.parquet"))
    assert segments and all(pq.read_table(path).num_rows > 0 for path in segments)
    ids = sorted(int(i) for i in logged_ids(artifact_store_from_uri(str(tmp_path / "log"))))
    assert ids == list(range(len(ids)))  # a gap-free prefix: nothing lost before, no duplicates
    # Everything logged more than an interval (plus slack for the write) before the kill
    # must be on disk.
    must_have = max(i for i, at_ms in progress if at_ms <= killed_ms - 1_000 - 700)
    assert len(ids) > must_have


# --- reading ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("since_ms", "until_ms", "expected"),
    [
        pytest.param(None, None, ["day0", "day1-0h", "day1-1h", "day2"], id="unbounded"),
        pytest.param(T0, None, ["day1-0h", "day1-1h", "day2"], id="since-inclusive"),
        pytest.param(None, T0, ["day0"], id="until-exclusive"),
        pytest.param(T0, T0 + DAY, ["day1-0h", "day1-1h"], id="one-day"),
        pytest.param(T0 + 1, T0 + HOUR + 1, ["day1-1h"], id="within-a-day"),
        pytest.param(T0, T0, [], id="empty-window"),
    ],
)
def test_since_and_until_select_a_half_open_window(
    store: ArtifactStore, since_ms: int | None, until_ms: int | None, expected: list[str]
) -> None:
    writer = PredictionLogWriter(store)
    for name, timestamp_ms in [
        ("day1-1h", T0 + HOUR),
        ("day0", T0 - DAY + HOUR),
        ("day2", T0 + DAY),
        ("day1-0h", T0),
    ]:
        writer.log(make_record(name, timestamp_ms=timestamp_ms))
    writer.flush()

    assert logged_ids(store, since_ms=since_ms, until_ms=until_ms) == expected


def test_dates_outside_the_window_are_never_opened(store: ArtifactStore) -> None:
    writer = PredictionLogWriter(store)
    writer.log(make_record("jan1", timestamp_ms=T0 + HOUR))
    writer.log(make_record("jan3", timestamp_ms=T0 + 2 * DAY + HOUR))
    writer.flush()
    store.put_bytes(
        b"PAR1 not a parquet file", "predictions/endpoint=churn/date=2026-01-02/x.parquet"
    )

    assert logged_ids(store, since_ms=T0 + 2 * DAY) == ["jan3"]
    assert logged_ids(store, until_ms=T0 + DAY) == ["jan1"]
    assert logged_ids(store, since_ms=T0 + HOUR, until_ms=T0 + HOUR + 1) == ["jan1"]
    with pytest.raises(duckdb.Error, match=r"x\.parquet"):  # the window is what keeps it out
        read_predictions(store, "churn")


def test_other_endpoints_and_leftover_temp_files_are_not_read(local_store: ArtifactStore) -> None:
    writer = PredictionLogWriter(local_store)
    writer.log(make_record("mine"))
    writer.log(make_record("theirs", endpoint="churn-eu"))
    writer.flush()
    folder = Path(local_store.root, "predictions", "endpoint=churn", "date=2026-01-01")
    (folder / f".00-1-r-000001.parquet.tmp-{uuid.uuid4().hex}").write_bytes(b"half a segm")

    assert logged_ids(local_store) == ["mine"]


def test_an_empty_log_reads_as_an_empty_frame_with_the_columns(store: ArtifactStore) -> None:
    df = read_predictions(store, "churn", since_ms=T0)

    assert df.empty and list(df.columns) == SEGMENT_SCHEMA.names
    assert str(df["timestamp"].dtype) == "datetime64[ms, UTC]"
    subset = read_predictions(store, "churn", columns=["timestamp", "latency_ms"])
    assert list(subset.columns) == ["timestamp", "latency_ms"]


def test_columns_are_returned_in_the_order_asked(local_store: ArtifactStore) -> None:
    writer = PredictionLogWriter(local_store)
    writer.log(make_record("r1", outputs=[1]))
    writer.flush()

    df = read_predictions(local_store, "churn", columns=["outputs", "request_id"])

    assert df.to_dict(orient="records") == [{"outputs": "[1]", "request_id": "r1"}]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"columns": ["request_id", "score"]}, "score", id="unknown-column"),
        pytest.param({"columns": "inputs"}, "list of names", id="columns-as-string"),
        pytest.param({"since_ms": T0 + 1, "until_ms": T0}, "since_ms", id="since-after-until"),
        pytest.param({"endpoint": ""}, "endpoint", id="empty-endpoint"),
        pytest.param({"prefix": "../up"}, "'..'", id="unsafe-prefix"),
    ],
)
def test_read_rejects_bad_arguments(
    local_store: ArtifactStore, kwargs: dict[str, object], message: str
) -> None:
    arguments: dict[str, object] = {"endpoint": "churn", **kwargs}
    with pytest.raises(InvalidArgumentError, match=message):
        read_predictions(local_store, **arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"flush_interval_s": 0}, "flush_interval_s", id="zero-interval"),
        pytest.param({"max_buffered_records": 0}, "max_buffered_records", id="no-buffer"),
        pytest.param({"replica_id": "a/b"}, "replica_id", id="replica-with-slash"),
        pytest.param({"prefix": ""}, "store root", id="empty-prefix"),
    ],
)
def test_writer_rejects_bad_settings(
    local_store: ArtifactStore, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        PredictionLogWriter(local_store, **kwargs)  # type: ignore[arg-type]
