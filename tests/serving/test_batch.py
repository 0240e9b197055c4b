"""Batch inference (``plinth.serving.batch.batch_predict``) on real files, real models and a
real embedded store (one lineage test also against a live server).

Most jobs run with ``workers=1`` (in-process) to stay fast; the process pool runs in the CSV
test, in the executor test and, as a real ``plinth batch predict``, in the CLI's kill test.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import cloudpickle
import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import LogisticRegression

import plinth
from plinth.client import Client
from plinth.config import Settings
from plinth.entities import RunStatus
from plinth.errors import InvalidArgumentError, NotFoundError
from plinth.models import PythonModel, PythonModelContext, save_model
from plinth.serving.batch import BatchResult, batch_predict
from plinth.serving.batch_output import MANIFEST_FILE, SUCCESS_FILE
from plinth.serving.chunks import LocalProcessExecutor, find_input, input_digest
from plinth.tracking.inputs import describe_dataset

FEATURES = ["tenure", "calls"]
_T = TypeVar("_T")
_R = TypeVar("_R")


# -- builders ---------------------------------------------------------------------------------
def customers(rows: int, *, seed: int = 0, first_id: int = 0) -> pd.DataFrame:
    """Ids, two features the model takes (double, long) and a column it does not."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": np.arange(first_id, first_id + rows, dtype=np.int64),
            "tenure": rng.uniform(0, 72, rows).round(2),
            "calls": rng.integers(0, 9, rows),
            "region": rng.choice(["north", "south"], rows),
        }
    )


def write_parquet(frame: pd.DataFrame, path: Path, *, row_group_size: int = 1_000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


def fit_churn(frame: pd.DataFrame) -> LogisticRegression:
    labels = ((frame["tenure"] < 24) | (frame["calls"] > 5)).astype(int)
    return LogisticRegression(max_iter=1000).fit(frame[FEATURES], labels)


def save_churn(path: Path, frame: pd.DataFrame) -> tuple[Path, LogisticRegression]:
    model = fit_churn(frame)
    save_model(model, path, input_example=frame[FEATURES].head())
    return path, model


def read_output(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out).sort_values("customer_id").reset_index(drop=True)


def assert_scored(out: Path, frame: pd.DataFrame, model: LogisticRegression) -> None:
    """Every input id exactly once, with the model's own prediction for its row."""
    scored = read_output(out)
    assert scored["customer_id"].tolist() == sorted(frame["customer_id"])
    expected = model.predict(frame.sort_values("customer_id")[FEATURES])
    np.testing.assert_array_equal(scored["prediction"].to_numpy(), expected)


class PerBatch(PythonModel):
    """Predicts the size of the batch it was called with, and the row's tenure doubled."""

    def predict(self, context: PythonModelContext, model_input: Any) -> Any:
        return pd.DataFrame(
            {
                "batch_rows": np.full(len(model_input), len(model_input)),
                "double": model_input["tenure"] * 2,
            }
        )


class TwoColumns(PythonModel):
    def predict(self, context: PythonModelContext, model_input: Any) -> Any:
        tenure = model_input["tenure"].to_numpy()
        return np.column_stack([tenure, -tenure])


class TwoOutputs(PythonModel):
    def predict(self, context: PythonModelContext, model_input: Any) -> Any:
        return {
            "label": (model_input["tenure"] > 10).to_numpy(),
            "score": model_input["tenure"].to_numpy(),
        }


class WrongLength(PythonModel):
    def predict(self, context: PythonModelContext, model_input: Any) -> Any:
        return np.zeros(len(model_input) + 1)


def save_python_model(model: PythonModel, path: Path, example: Any) -> Path:
    """Save a model class of this module by value, so worker processes and the ``plinth``
    command load it without importing the tests."""
    module = sys.modules[type(model).__module__]
    cloudpickle.register_pickle_by_value(module)
    try:
        save_model(model, path, input_example=example)
    finally:
        cloudpickle.unregister_pickle_by_value(module)
    return path


# -- fixtures -----------------------------------------------------------------------------------
@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    """The fluent API and this client on a fresh embedded store."""
    plinth.set_tracking_uri(settings=Settings(home=tmp_path / "home"))
    yield plinth.get_client()
    while plinth.active_run() is not None:
        plinth.end_run()


@pytest.fixture
def frame() -> pd.DataFrame:
    return customers(5_000)


@pytest.fixture
def churn(tmp_path: Path, frame: pd.DataFrame) -> tuple[Path, LogisticRegression]:
    return save_churn(tmp_path / "churn-model", frame)


def register_churn(frame: pd.DataFrame, name: str = "churn") -> LogisticRegression:
    model = fit_churn(frame)
    with plinth.start_run(log_environment=False):
        plinth.log_model(model, input_example=frame[FEATURES].head(), registered_model_name=name)
    return model


def run(model_uri: str | Path, source: Path | str, out: Path, **options: Any) -> BatchResult:
    options = {"id_cols": ["customer_id"], "chunk_rows": 1_000, "workers": 1, **options}
    return batch_predict(model_uri, source, out, **options)


# -- scoring ------------------------------------------------------------------------------------
def test_scores_a_parquet_file_into_ids_predictions_and_model_version(
    client: Client, tmp_path: Path, frame: pd.DataFrame, churn: tuple[Path, LogisticRegression]
) -> None:
    package, model = churn
    source = write_parquet(frame, tmp_path / "in.parquet", row_group_size=700)

    result = run(package, source, tmp_path / "out")

    assert_scored(tmp_path / "out", frame, model)
    scored = pd.read_parquet(tmp_path / "out")
    assert list(scored.columns) == ["customer_id", "prediction", "model_version"]
    assert set(scored["model_version"]) == {str(package)}
    assert (result.rows, result.rows_scored, result.chunks_skipped) == (5_000, 5_000, 0)
    assert result.cpu_seconds > 0 and result.rows_per_second > 0
    # Row groups of 700 rows packed up to 1,000: one per chunk, but the last 100 rows join
    # the group before them.
    assert result.chunks == len(list((tmp_path / "out").glob("part-*.parquet"))) == 7
    assert (tmp_path / "out" / SUCCESS_FILE).exists()


def test_duckdb_reads_the_output_as_one_table(
    client: Client, tmp_path: Path, frame: pd.DataFrame, churn: tuple[Path, LogisticRegression]
) -> None:
    source = write_parquet(frame, tmp_path / "in.parquet")
    run(churn[0], source, tmp_path / "out")

    query = f"SELECT count(*), count(DISTINCT customer_id) FROM '{tmp_path / 'out'}/*.parquet'"
    counts = duckdb.connect().execute(query).fetchone()

    assert counts == (len(frame), len(frame))


def test_a_directory_of_parquet_files_is_one_input(
    client: Client, tmp_path: Path, frame: pd.DataFrame, churn: tuple[Path, LogisticRegression]
) -> None:
    package, model = churn
    write_parquet(frame[:3_000], tmp_path / "in" / "a.parquet")
    write_parquet(frame[3_000:], tmp_path / "in" / "b.parquet")
    (tmp_path / "in" / "_SUCCESS").write_text("")

    result = run(package, tmp_path / "in", tmp_path / "out")

    assert_scored(tmp_path / "out", frame, model)
    assert result.chunks == 5


def test_a_row_group_larger_than_chunk_rows_is_predicted_in_chunk_sized_batches(
    client: Client, tmp_path: Path, frame: pd.DataFrame
) -> None:
    package = save_python_model(PerBatch(), tmp_path / "model", frame[FEATURES].head())
    source = write_parquet(frame, tmp_path / "in.parquet", row_group_size=5_000)

    result = run(package, source, tmp_path / "out", chunk_rows=1_200)

    scored = read_output(tmp_path / "out")
    assert result.chunks == 1
    assert scored["batch_rows"].max() == 1_200
    np.testing.assert_allclose(scored["double"], frame["tenure"] * 2)


def test_csv_input_scored_by_a_process_pool_matches_parquet(
    client: Client, tmp_path: Path, frame: pd.DataFrame, churn: tuple[Path, LogisticRegression]
) -> None:
    package, model = churn
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)

    result = run(package, source, tmp_path / "out", chunk_rows=1_500, workers=2)

    assert_scored(tmp_path / "out", frame, model)
    assert (result.chunks, result.rows) == (4, 5_000)


@pytest.mark.parametrize(
    ("model", "columns"),
    [
        pytest.param(TwoColumns(), ["prediction_0", "prediction_1"], id="2-D array"),
        pytest.param(TwoOutputs(), ["label", "score"], id="dict of outputs"),
        pytest.param(PerBatch(), ["batch_rows", "double"], id="DataFrame"),
    ],
)
def test_multi_output_models_get_one_column_per_output(
    client: Client, tmp_path: Path, frame: pd.DataFrame, model: PythonModel, columns: list[str]
) -> None:
    package = save_python_model(model, tmp_path / "model", frame[FEATURES].head())
    source = write_parquet(frame, tmp_path / "in.parquet")

    run(package, source, tmp_path / "out")

    scored = pd.read_parquet(tmp_path / "out")
    assert list(scored.columns) == ["customer_id", *columns, "model_version"]


# -- the registry and lineage ---------------------------------------------------------------------
def test_an_alias_is_pinned_to_its_version_and_the_job_recorded(
    tracking: Settings, tmp_path: Path, frame: pd.DataFrame
) -> None:
    register_churn(frame[:500])
    model = register_churn(frame)
    plinth.set_registered_model_alias("churn", "nightly", 2)
    source = write_parquet(frame, tmp_path / "in.parquet")

    result = run("models:/churn@nightly", source, tmp_path / "out")

    assert (result.model_name, result.model_version) == ("churn", "2")
    assert_scored(tmp_path / "out", frame, model)
    assert set(pd.read_parquet(tmp_path / "out")["model_version"]) == {"churn/2"}
    manifest = json.loads((tmp_path / "out" / MANIFEST_FILE).read_text())
    assert (manifest["model_uri"], manifest["model_label"]) == ("models:/churn@nightly", "churn/2")
    event = plinth.model_history("churn")[-1]
    assert (event.event_type, event.version) == ("batch_prediction", "2")
    assert event.details["run_id"] == result.run_id
    assert event.details["rows"] == "5000"


def test_the_run_records_tags_the_inference_input_and_metrics(
    client: Client, tmp_path: Path, frame: pd.DataFrame
) -> None:
    register_churn(frame)
    source = write_parquet(frame, tmp_path / "in.parquet")

    result = run("models:/churn/1", source, tmp_path / "out")

    recorded = plinth.get_run(result.run_id)
    experiment = client.get_experiment(recorded.info.experiment_id)
    assert experiment.name == "batch-predictions"
    assert recorded.info.status.value == "FINISHED"
    assert recorded.data.tags["plinth.batch.model_version"] == "churn/1"
    assert recorded.data.tags["plinth.batch.model_uri"] == "models:/churn/1"
    assert recorded.data.tags["plinth.batch.input_digest"] == result.input_digest
    assert recorded.data.tags["plinth.batch.output"] == str(tmp_path / "out")
    assert recorded.data.metrics["rows"] == 5_000
    assert recorded.data.metrics["rows_per_second"] > 0
    (logged,) = recorded.inputs.dataset_inputs
    assert logged.context == "inference"
    # The same digest plinth.log_input gives the file, so training and scoring runs match.
    assert logged.dataset.digest == describe_dataset(source).digest


def test_the_input_digest_streams_the_bytes_the_way_log_input_hashes_them(
    tmp_path: Path, frame: pd.DataFrame
) -> None:
    write_parquet(frame[:100], tmp_path / "in" / "a.parquet")
    write_parquet(frame[100:200], tmp_path / "in" / "sub" / "b.parquet")
    (tmp_path / "in" / "a-c.parquet").write_bytes((tmp_path / "in" / "a.parquet").read_bytes())

    digest = input_digest(find_input(str(tmp_path / "in")))

    assert digest[:16] == describe_dataset(tmp_path / "in").digest
    assert len(digest) == 64


# -- resuming -------------------------------------------------------------------------------------
def test_a_finished_job_run_again_skips_every_chunk(
    client: Client, tmp_path: Path, frame: pd.DataFrame, churn: tuple[Path, LogisticRegression]
) -> None:
    source = write_parquet(frame, tmp_path / "in.parquet")
    first = run(churn[0], source, tmp_path / "out")

    again = run(churn[0], source, tmp_path / "out")

    assert (again.rows, again.rows_scored) == (5_000, 0)
    assert again.chunks_skipped == again.chunks == first.chunks
    assert again.run_id == first.run_id


def test_a_job_missing_parts_scores_only_those_and_continues_its_run(
    client: Client, tmp_path: Path, frame: pd.DataFrame, churn: tuple[Path, LogisticRegression]
) -> None:
    package, model = churn
    source = write_parquet(frame, tmp_path / "in.parquet")
    out = tmp_path / "out"
    first = run(package, source, out)
    for name in ("part-00001.parquet", "part-00003.parquet", SUCCESS_FILE):
        (out / name).unlink()
    (out / ".part-00001.parquet.0123abcd.tmp").write_bytes(b"half written")

    again = run(package, source, out)

    assert (again.chunks_skipped, again.rows_scored) == (3, 2_000)
    assert again.run_id == first.run_id
    assert_scored(out, frame, model)
    assert not list(out.glob(".*.tmp"))
    assert (out / SUCCESS_FILE).exists()


def test_a_rerun_with_another_model_version_is_refused_until_overwrite(
    client: Client, tmp_path: Path, frame: pd.DataFrame
) -> None:
    register_churn(frame)
    source = write_parquet(frame, tmp_path / "in.parquet")
    run("models:/churn/latest", source, tmp_path / "out")
    register_churn(frame[:1_000])

    with pytest.raises(InvalidArgumentError, match=r"churn/1.*churn/2.*--overwrite"):
        run("models:/churn/latest", source, tmp_path / "out")
    result = run("models:/churn/latest", source, tmp_path / "out", overwrite=True)

    assert result.chunks_skipped == 0
    assert set(pd.read_parquet(tmp_path / "out")["model_version"]) == {"churn/2"}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        pytest.param({"chunk_rows": 2_000}, "--chunk-rows", id="chunk rows"),
        pytest.param({"id_cols": []}, "--id-cols", id="id columns"),
        pytest.param({"input": "changed"}, "input digest", id="input bytes"),
    ],
)
def test_a_rerun_that_would_cut_other_chunks_is_refused(
    client: Client,
    tmp_path: Path,
    frame: pd.DataFrame,
    churn: tuple[Path, LogisticRegression],
    change: dict[str, Any],
    named: str,
) -> None:
    source = write_parquet(frame, tmp_path / "in.parquet")
    run(churn[0], source, tmp_path / "out")
    if change.pop("input", None):
        write_parquet(customers(5_000, seed=1), source)

    with pytest.raises(InvalidArgumentError, match=rf"{named}.*--overwrite"):
        run(churn[0], source, tmp_path / "out", **change)


def test_an_output_directory_of_other_files_is_never_written(
    client: Client, tmp_path: Path, frame: pd.DataFrame, churn: tuple[Path, LogisticRegression]
) -> None:
    source = write_parquet(frame, tmp_path / "in.parquet")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")

    with pytest.raises(InvalidArgumentError, match=r"notes\.txt.*new or empty directory"):
        run(churn[0], source, tmp_path / "out", overwrite=True)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["notes.txt"]


# -- bad input ------------------------------------------------------------------------------------
def test_a_missing_input_names_the_flag(
    client: Client, tmp_path: Path, churn: tuple[Path, LogisticRegression]
) -> None:
    with pytest.raises(NotFoundError, match=r"--input .*nope\.parquet"):
        run(churn[0], tmp_path / "nope.parquet", tmp_path / "out")


def test_an_unsupported_file_type_names_the_formats(
    client: Client, tmp_path: Path, churn: tuple[Path, LogisticRegression]
) -> None:
    (tmp_path / "in.json").write_text("{}")

    with pytest.raises(InvalidArgumentError, match=r"--input .*in\.json.*Parquet.*CSV"):
        run(churn[0], tmp_path / "in.json", tmp_path / "out")


def test_an_unknown_id_column_names_it_and_the_flag(
    client: Client, tmp_path: Path, frame: pd.DataFrame, churn: tuple[Path, LogisticRegression]
) -> None:
    source = write_parquet(frame, tmp_path / "in.parquet")

    with pytest.raises(InvalidArgumentError, match=r"--id-cols: column 'client_id'"):
        run(churn[0], source, tmp_path / "out", id_cols=["client_id"])


def test_a_column_the_signature_needs_is_named_before_any_work(
    client: Client, tmp_path: Path, frame: pd.DataFrame, churn: tuple[Path, LogisticRegression]
) -> None:
    source = write_parquet(frame.drop(columns=["calls"]), tmp_path / "in.parquet")

    with pytest.raises(InvalidArgumentError, match=r"lacks the column\(s\) calls \(long\)"):
        run(churn[0], source, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_column_of_the_wrong_type_fails_naming_it(
    client: Client, tmp_path: Path, frame: pd.DataFrame, churn: tuple[Path, LogisticRegression]
) -> None:
    source = write_parquet(
        frame.assign(tenure=frame["tenure"].astype(str)), tmp_path / "in.parquet"
    )

    with pytest.raises(InvalidArgumentError, match="tenure"):
        run(churn[0], source, tmp_path / "out")

    assert not list((tmp_path / "out").glob("part-*"))
    manifest = json.loads((tmp_path / "out" / MANIFEST_FILE).read_text())
    assert client.get_run(manifest["run_id"]).info.status is RunStatus.FAILED


def test_predictions_that_do_not_fit_the_rows_are_refused(
    client: Client, tmp_path: Path, frame: pd.DataFrame
) -> None:
    package = save_python_model(WrongLength(), tmp_path / "model", frame[FEATURES].head())
    source = write_parquet(frame, tmp_path / "in.parquet")

    with pytest.raises(InvalidArgumentError, match=r"1001 values for 1000 input rows"):
        run(package, source, tmp_path / "out")


# -- executors, progress, memory ----------------------------------------------------------------
class PicklingExecutor:
    """An executor that ships every task as bytes, as a remote one (Ray) must."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    @property
    def workers(self) -> int:
        return 1

    def map_unordered(self, fn: Callable[[_T], _R], tasks: Iterable[_T]) -> Iterator[_R]:
        for task in tasks:
            payload = pickle.dumps(task)
            self.sizes.append(len(payload))
            yield pickle.loads(pickle.dumps(fn))(pickle.loads(payload))


def test_any_executor_can_run_the_chunks_from_small_picklable_tasks(
    client: Client, tmp_path: Path, frame: pd.DataFrame, churn: tuple[Path, LogisticRegression]
) -> None:
    package, model = churn
    source = write_parquet(frame, tmp_path / "in.parquet")
    executor = PicklingExecutor()

    run(package, source, tmp_path / "out", executor=executor)

    assert_scored(tmp_path / "out", frame, model)
    assert len(executor.sizes) == 5
    assert max(executor.sizes) < 2_000  # a description of the chunk, not its rows


def test_the_process_pool_yields_every_result_with_few_tasks_in_flight() -> None:
    submitted: list[int] = []

    def tasks() -> Iterator[int]:
        for n in range(12):
            submitted.append(n)
            yield n

    with LocalProcessExecutor(2, max_in_flight=3) as executor:
        results = executor.map_unordered(abs, tasks())
        first = next(results)
        in_flight_at_first_result = len(submitted)
        rest = list(results)

    assert sorted([first, *rest]) == list(range(12))
    assert in_flight_at_first_result <= 3


KILLED_JOB = """
import os, sys, time
from plinth.serving.chunks import LocalProcessExecutor

def pid_then_sleep(_: int) -> int:
    pid = os.getpid()
    print(pid, flush=True)
    time.sleep(60)
    return pid

if __name__ == "__main__":
    with LocalProcessExecutor(2) as executor:
        list(executor.map_unordered(pid_then_sleep, range(2)))
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie nobody reaped has ended too


@pytest.mark.skipif(sys.platform != "linux", reason="workers follow their parent on Linux")
def test_workers_of_a_killed_job_end_with_it(tmp_path: Path) -> None:
    # SIGKILL runs no clean-up in the job: its workers must not score on for nobody.
    script = tmp_path / "job.py"
    script.write_text(KILLED_JOB)
    job = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=tmp_path
    )
    assert job.stdout is not None
    workers = [int(job.stdout.readline()) for _ in range(2)]
    assert all(_alive(pid) for pid in workers)

    job.kill()
    job.wait()

    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers)


def test_progress_shows_rows_and_rows_per_second(
    client: Client,
    tmp_path: Path,
    frame: pd.DataFrame,
    churn: tuple[Path, LogisticRegression],
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = write_parquet(frame, tmp_path / "in.parquet")

    run(churn[0], source, tmp_path / "out", progress=True)

    shown = capsys.readouterr().err
    assert "5,000/5,000 rows" in shown
    assert "rows/s" in shown


MEMORY_PROBE = textwrap.dedent(
    """
    import sys
    from plinth.client import Client
    from plinth.config import Settings
    from plinth.serving.batch import batch_predict

    def status_mib(key):
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) // 1024 for line in fh if line.startswith(key))

    model, small, large, out, home = sys.argv[1:]
    client = Client(Settings(home=home))
    options = dict(chunk_rows=50_000, workers=1, client=client)
    batch_predict(model, small, out + "-small", **options)  # imports, pools, caches warm up
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # resets the peak (VmHWM) to the current RSS
    before = status_mib("VmRSS")
    batch_predict(model, large, out + "-large", **options)
    print(status_mib("VmHWM") - before)
    """
)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_peak_memory_does_not_grow_with_the_input(tmp_path: Path, fmt: str) -> None:
    """Scoring 4 million rows after 1 million raises the peak RSS by less than 32 MiB,
    though the 3 million more rows alone take 72 MiB as float64 (reading whole files
    adds some 380 MiB). CSV needs the margin: pyarrow's reader reads ahead up to a fixed
    number of blocks, which 1 million rows do not fill yet."""
    rng = np.random.default_rng(0)
    rows = 4_000_000
    frame = pd.DataFrame(
        {
            "tenure": rng.uniform(0, 72, rows).round(2),
            "calls": rng.integers(0, 9, rows),
            "months": rng.integers(0, 9, rows),
        }
    )
    package = save_python_model(TwoColumns(), tmp_path / "model", frame.head())
    small, large = tmp_path / f"small.{fmt}", tmp_path / f"large.{fmt}"
    for part, path in ((frame[: rows // 4], small), (frame, large)):
        if fmt == "csv":
            pacsv.write_csv(pa.Table.from_pandas(part, preserve_index=False), path)
        else:
            write_parquet(part, path, row_group_size=50_000)
    args = [str(p) for p in (package, small, large, tmp_path / "out", tmp_path / "home")]

    probe = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, *args], capture_output=True, text=True, check=True
    )

    assert len(pd.read_parquet(tmp_path / "out-large")) == rows
    assert int(probe.stdout) < 32, f"peak RSS grew by {probe.stdout.strip()} MiB"


@pytest.mark.s3
def test_an_s3_input_is_read_through_fsspec(
    client: Client,
    tmp_path: Path,
    frame: pd.DataFrame,
    churn: tuple[Path, LogisticRegression],
    s3_endpoint: str,
) -> None:
    import s3fs
    from tests.conftest import BUCKET, s3_options

    package, model = churn
    options = s3_options(s3_endpoint)
    local = write_parquet(frame, tmp_path / "in.parquet")
    s3fs.S3FileSystem(**options).put(str(local), f"{BUCKET}/batch/in.parquet")

    result = run(
        package, f"s3://{BUCKET}/batch/in.parquet", tmp_path / "out", storage_options=options
    )

    assert_scored(tmp_path / "out", frame, model)
    assert result.input_digest[:16] == describe_dataset(local).digest
