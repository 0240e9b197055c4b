"""``plinth batch predict``: the summary, errors that name the flag, and a real ``plinth``
process killed half way and resumed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from tests.cli.conftest import CLEAN_ENV
from tests.serving.test_batch import (
    FEATURES,
    customers,
    fit_churn,
    save_churn,
    save_python_model,
    write_parquet,
)
from typer.testing import Result

import plinth
from plinth.client import Client
from plinth.config import Settings
from plinth.entities import RunStatus
from plinth.models import PythonModel, PythonModelContext
from plinth.serving.batch_output import SUCCESS_FILE

Cli = Callable[..., Result]
PLINTH = Path(sys.executable).with_name("plinth")


class Slow(PythonModel):
    """Takes 50 ms per chunk, so a job of many chunks can be killed half way."""

    def predict(self, context: PythonModelContext, model_input: Any) -> Any:
        time.sleep(0.05)
        return model_input["tenure"].to_numpy()


def predict_args(model: str | Path, source: Path, out: Path, *extra: str) -> list[str]:
    return [
        "batch",
        "predict",
        "--model",
        str(model),
        "--input",
        str(source),
        "--output",
        str(out),
        "--id-cols",
        "customer_id",
        *extra,
    ]


def test_predict_prints_a_summary_of_the_job(cli: Cli, home: Path, tmp_path: Path) -> None:
    frame = customers(3_000)
    plinth.set_tracking_uri(settings=Settings(home=home))
    with plinth.start_run(log_environment=False):
        plinth.log_model(
            fit_churn(frame), input_example=frame[FEATURES].head(), registered_model_name="churn"
        )
    source = write_parquet(frame, tmp_path / "in.parquet")

    result = cli(*predict_args("models:/churn/1", source, tmp_path / "out", "--workers", "1"))

    assert result.exit_code == 0, result.output
    for expected in ("rows", "3,000", "rows/s", "churn/1", str(tmp_path / "out"), "run id"):
        assert expected in result.stdout
    assert len(pd.read_parquet(tmp_path / "out")) == 3_000


def test_id_columns_may_be_comma_separated_or_repeated(cli: Cli, tmp_path: Path) -> None:
    frame = customers(1_000).assign(account=lambda f: f["customer_id"] * 10)
    package, _ = save_churn(tmp_path / "model", frame)
    source = write_parquet(frame, tmp_path / "in.parquet")

    result = cli(
        *predict_args(package, source, tmp_path / "out", "--id-cols", "account,region", "-w", "1")
    )

    assert result.exit_code == 0, result.output
    columns = list(pd.read_parquet(tmp_path / "out").columns)
    assert columns == ["customer_id", "account", "region", "prediction", "model_version"]


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        pytest.param({"source": "missing.parquet"}, 3, "--input", id="missing input"),
        pytest.param({"source": "in.txt"}, 2, "neither Parquet", id="unsupported extension"),
        pytest.param({"id_col": "client_id"}, 2, "--id-cols: column 'client_id'", id="unknown id"),
        pytest.param({"chunk_rows": "0"}, 2, "--chunk-rows", id="chunk rows"),
    ],
)
def test_bad_input_names_the_flag_or_column(
    cli: Cli, tmp_path: Path, change: dict[str, str], code: int, message: str
) -> None:
    frame = customers(500)
    package, _ = save_churn(tmp_path / "model", frame)
    write_parquet(frame, tmp_path / "in.parquet")
    (tmp_path / "in.txt").write_text("a,b\n")
    source = tmp_path / change.get("source", "in.parquet")
    extra = ["--id-cols", change.get("id_col", "customer_id")]
    extra += ["--chunk-rows", change.get("chunk_rows", "100"), "--workers", "1"]

    result = cli(*predict_args(package, source, tmp_path / "out", *extra))

    assert result.exit_code == code, result.output
    assert message in " ".join(result.output.split())


@pytest.mark.slow
def test_a_killed_job_resumes_without_duplicated_or_missing_rows(
    cli: Cli, client: Client, home: Path, tmp_path: Path
) -> None:
    frame = customers(24_000)
    source = write_parquet(frame, tmp_path / "in.parquet", row_group_size=500)
    package = save_python_model(Slow(), tmp_path / "model", frame[FEATURES].head())
    out = tmp_path / "out"
    args = predict_args(package, source, out, "--chunk-rows", "500", "--workers", "2")
    env = {k: v for k, v in {**os.environ, **CLEAN_ENV}.items() if v is not None}
    job = subprocess.Popen(
        [str(PLINTH), *args],
        env={**env, "PLINTH_HOME": str(home)},
        start_new_session=True,  # its own process group: the kill takes its workers too
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while len(list(out.glob("part-*.parquet"))) < 4:
        assert job.poll() is None, job.stderr.read().decode() if job.stderr else ""
        assert time.monotonic() < deadline, "no part file within 120 s"
        time.sleep(0.02)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    written = len(list(out.glob("part-*.parquet")))
    assert written < 48 and not (out / SUCCESS_FILE).exists()
    experiment = client.get_experiment_by_name("batch-predictions")
    assert experiment is not None
    (killed_run,) = client.search_runs([experiment.experiment_id]).items
    assert killed_run.info.status is RunStatus.RUNNING

    result = cli(*predict_args(package, source, out, "--chunk-rows", "500", "--workers", "1"))

    assert result.exit_code == 0, result.output
    assert "already written" in result.stdout
    scored = pd.read_parquet(out)
    assert sorted(scored["customer_id"]) == frame["customer_id"].tolist()
    np.testing.assert_allclose(
        scored.sort_values("customer_id")["prediction"], frame["tenure"].to_numpy()
    )
    assert client.get_run(killed_run.info.run_id).info.status is RunStatus.FINISHED
