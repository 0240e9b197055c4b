"""``plinth consume`` against a real Redis: in-process through ``CliRunner``, and as a real
subprocess for the graceful stop on SIGINT / SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest
from redis import Redis
from tests.models.conftest import fit_logistic, make_frame
from tests.serving.conftest import register_models
from typer.testing import Result

from plinth import serving
from plinth.client import Client
from plinth.config import Settings
from plinth.models import log_model, save_model
from plinth.server.threaded import free_port
from plinth.serving.stream import connect

Cli = Callable[..., Result]
START_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("consume-model") / "model"
    save_model(fit_logistic(), path, input_example=make_frame(3))
    return path


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[Redis]:
    client = connect(redis_url)
    yield client
    client.close()


@pytest.fixture
def tag(redis_client: Redis) -> Iterator[str]:
    """A fresh prefix for this test's streams; every key under it is deleted afterwards."""
    value = f"test:{uuid.uuid4().hex[:12]}"
    yield value
    keys = list(redis_client.scan_iter(match=f"*{value}*", count=1000))
    if keys:
        redis_client.delete(*keys)


def xadd(client: Redis, stream: str, data: bytes) -> str:
    message_id: Any = client.xadd(stream, {"data": data})
    return str(message_id.decode())


def add(client: Redis, stream: str, count: int, *, seed: int = 1) -> list[str]:
    rows = make_frame(count, seed=seed).to_dict(orient="records")
    return [xadd(client, stream, orjson.dumps(row)) for row in rows]


def entries(client: Redis, stream: str) -> list[dict[str, str]]:
    reply: Any = client.xrange(stream)
    return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in reply]


def summary(stdout: str) -> dict[str, str]:
    """The rows of the final summary table, label -> value."""
    rows = (re.split(r"\s{2,}", line.strip()) for line in stdout.splitlines())
    return {row[0]: row[1] for row in rows if len(row) == 2}


def consume(cli: Cli, tag: str, *args: str) -> Result:
    return cli(
        "consume",
        "--stream",
        f"{tag}:requests",
        "--output-stream",
        f"{tag}:predictions",
        "--block-ms",
        "100",
        *args,
    )


def test_consume_scores_with_a_model_and_prints_a_summary(
    cli: Cli, redis_client: Redis, tag: str, model_dir: Path
) -> None:
    ids = add(redis_client, f"{tag}:requests", 5)

    result = consume(cli, tag, "--model", str(model_dir), "--max-messages", "5", "--consumer", "c1")

    assert result.exit_code == 0, result.output
    assert "Consumer c1 stopped" in result.stdout
    totals = summary(result.stdout)
    assert (totals["Processed"], totals["Dead-lettered"], totals["Duplicates skipped"]) == (
        "5",
        "0",
        "0",
    )
    assert float(totals["Messages/s"].replace(",", "")) > 0
    out = entries(redis_client, f"{tag}:predictions")
    assert [e["id"] for e in out] == ids
    assert {e["model_version"] for e in out} == {str(model_dir)}
    assert redis_client.xpending(f"{tag}:requests", "plinth")["pending"] == 0


def test_consume_names_the_registered_version_and_defaults_the_consumer_name(
    cli: Cli, client: Client, redis_client: Redis, tag: str
) -> None:
    run_id = client.create_run(client.create_experiment("churn")).info.run_id
    log_model(
        fit_logistic(),
        run_id=run_id,
        client=client,
        input_example=make_frame(3),
        registered_model_name="churn",
    )
    add(redis_client, f"{tag}:requests", 3)

    result = consume(cli, tag, "--model", "models:/churn/latest", "--max-messages", "3")

    assert result.exit_code == 0, result.output
    out = entries(redis_client, f"{tag}:predictions")
    assert {e["model_version"] for e in out} == {"churn/1"}
    assert {e["consumer"] for e in out} == {f"{socket.gethostname()}-{os.getpid()}"}


def test_consume_dead_letters_to_the_stream_it_is_given(
    cli: Cli, redis_client: Redis, tag: str, model_dir: Path
) -> None:
    bad = xadd(redis_client, f"{tag}:requests", b"{oops")
    add(redis_client, f"{tag}:requests", 2)

    result = consume(
        cli,
        tag,
        "--model",
        str(model_dir),
        "--dead-letter-stream",
        f"{tag}:rejects",
        "--group",
        "scorers",
        "--batch-size",
        "2",
        "--max-messages",
        "3",
    )

    assert result.exit_code == 0, result.output
    assert (summary(result.stdout)["Processed"], summary(result.stdout)["Dead-lettered"]) == (
        "2",
        "1",
    )
    (dead,) = entries(redis_client, f"{tag}:rejects")
    assert (dead["id"], dead["reason"], dead["payload"]) == (bad, "malformed", "{oops")
    assert redis_client.xpending(f"{tag}:requests", "scorers")["pending"] == 0


@pytest.mark.parametrize(
    "sources",
    [
        pytest.param((), id="neither"),
        pytest.param(("--endpoint", "churn", "--model", "models:/churn/1"), id="both"),
    ],
)
def test_consume_needs_exactly_one_of_endpoint_and_model(
    cli: Cli, sources: tuple[str, ...]
) -> None:
    result = consume(cli, "never-read", *sources)

    assert result.exit_code == 2
    assert result.stderr.startswith("Error: Pass exactly one of --endpoint NAME")


def test_consume_scores_through_an_endpoint_and_dead_letters_bad_records(
    cli: Cli, home: Path, client: Client, redis_client: Redis, tag: str
) -> None:
    models = register_models(Settings(home=home))
    serving.create_endpoint("churn", "churn/1", reason="launch", client=client)
    rows = make_frame(5, seed=2).to_dict(orient="records")
    rows[1] = {"tenure": 3.0, "calls": "many"}
    ids = [xadd(redis_client, f"{tag}:requests", orjson.dumps(row)) for row in rows]

    result = consume(cli, tag, "--endpoint", "churn", "--max-messages", "5")

    assert result.exit_code == 0, result.output
    out = entries(redis_client, f"{tag}:predictions")
    good = rows[:1] + rows[2:]
    assert [e["id"] for e in out] == ids[:1] + ids[2:]
    expected = models.v1.predict(pd.DataFrame(good)).tolist()
    assert [orjson.loads(e["prediction"]) for e in out] == expected
    assert {e["model_version"] for e in out} == {"churn/1"}
    (dead,) = entries(redis_client, f"{tag}:requests:dead")
    assert (dead["id"], dead["reason"]) == (ids[1], "invalid_record")


def test_consume_with_an_unknown_endpoint_exits_3(cli: Cli) -> None:
    result = consume(cli, "never-read", "--endpoint", "nope")

    assert result.exit_code == 3
    assert "nope" in result.stderr


def test_consume_with_redis_down_exits_7_naming_the_url(cli: Cli, model_dir: Path) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"

    result = cli(
        "consume",
        "--model",
        str(model_dir),
        "--redis",
        url,
        "--stream",
        "s",
        "--output-stream",
        "o",
    )

    assert result.exit_code == 7
    assert result.stderr.startswith(f"Error: Redis at {url} does not answer")


@pytest.mark.e2e
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_consume_stops_gracefully_on_a_signal(
    redis_url: str, redis_client: Redis, tag: str, model_dir: Path, tmp_path: Path, stop: int
) -> None:
    requests, predictions = f"{tag}:requests", f"{tag}:predictions"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLINTH_")}
    args = ["--model", str(model_dir), "--redis", redis_url, "--stream", requests]
    args += ["--output-stream", predictions, "--block-ms", "100", "--consumer", "worker"]
    process = subprocess.Popen(
        [sys.executable, "-m", "plinth.cli.main", "consume", *args],
        env={**env, "PLINTH_HOME": str(tmp_path / "home")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ids = add(redis_client, requests, 20)
        _wait_for(lambda: redis_client.xlen(predictions) == 20, process)
        process.send_signal(stop)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 0, stderr
    assert "Consumer worker stopped" in stdout
    assert summary(stdout)["Processed"] == "20"
    assert [e["id"] for e in entries(redis_client, predictions)] == ids
    assert redis_client.xpending(requests, "plinth")["pending"] == 0


def _wait_for(condition: Callable[[], bool], process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not condition():
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"plinth consume exited early:\n{out}\n{err}")
        if time.monotonic() > deadline:
            raise AssertionError(f"plinth consume did not score within {START_TIMEOUT_S}s")
        time.sleep(0.1)
