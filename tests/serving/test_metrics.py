"""Serving metrics, read back through prometheus_client's own exposition parser."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

from plinth.errors import InvalidArgumentError
from plinth.serving.metrics import (
    LATENCY_BUCKETS,
    MULTIPROC_ENV,
    ServingMetrics,
    prepare_multiprocess_dir,
    render_multiprocess,
    worker_exit,
)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
CHURN = {"endpoint": "churn", "model_version": "3", "route": "primary"}


def parse(body: bytes) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def family_types(body: bytes) -> dict[str, str]:
    return {family.name: family.type for family in text_string_to_metric_families(body.decode())}


def test_requests_are_counted_per_label_set() -> None:
    metrics = ServingMetrics()
    for _ in range(3):
        metrics.observe("churn", "3", "primary", "ok", 0.001)
    metrics.observe("churn", "4", "canary", "error", 0.2)

    samples = parse(metrics.render()[0])

    assert value(samples, "plinth_requests_total", **CHURN, status="ok") == 3
    canary = {"endpoint": "churn", "model_version": "4", "route": "canary", "status": "error"}
    assert value(samples, "plinth_requests_total", **canary) == 1
    assert ("plinth_requests_total", frozenset({**CHURN, "status": "error"}.items())) not in samples


def test_latency_histogram_has_cumulative_buckets_sum_and_count() -> None:
    metrics = ServingMetrics()
    for seconds in (0.0004, 0.0008, 0.003, 0.3, 12.0):
        metrics.observe("churn", "3", "primary", "ok", seconds)

    samples = parse(metrics.render()[0])

    labels = {**CHURN, "status": "ok"}
    name = "plinth_request_duration_seconds"
    buckets = {le: value(samples, f"{name}_bucket", **labels, le=le) for le in ("0.0005", "0.001")}
    assert buckets == {"0.0005": 1, "0.001": 2}
    assert value(samples, f"{name}_bucket", **labels, le="0.005") == 3
    assert value(samples, f"{name}_bucket", **labels, le="10.0") == 4
    assert value(samples, f"{name}_bucket", **labels, le="+Inf") == 5
    assert value(samples, f"{name}_count", **labels) == 5
    assert value(samples, f"{name}_sum", **labels) == pytest.approx(12.3042)


def test_latency_buckets_add_sub_five_millisecond_buckets_to_opentelemetry_ones() -> None:
    metrics = ServingMetrics()
    metrics.observe("churn", "3", "primary", "ok", 0.001)

    bounds = [
        float(dict(labels)["le"])
        for name, labels in parse(metrics.render()[0])
        if name == "plinth_request_duration_seconds_bucket"
    ]

    opentelemetry = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]
    assert sorted(bounds) == [0.0005, 0.001, 0.0025, *opentelemetry, float("inf")]
    assert list(LATENCY_BUCKETS) == sorted(bounds)[:-1]


def test_model_errors_and_batch_sizes() -> None:
    metrics = ServingMetrics()
    metrics.count_model_error("churn", "3", "primary")
    metrics.count_model_error("churn", "3", "primary")
    for size in (1, 7, 64):
        metrics.observe_batch("churn", "3", size)

    body = metrics.render()[0]
    samples = parse(body)

    assert value(samples, "plinth_model_errors_total", **CHURN) == 2
    version = {"endpoint": "churn", "model_version": "3"}
    assert value(samples, "plinth_batch_size_bucket", **version, le="1.0") == 1
    assert value(samples, "plinth_batch_size_bucket", **version, le="8.0") == 2
    assert value(samples, "plinth_batch_size_bucket", **version, le="32.0") == 2
    assert value(samples, "plinth_batch_size_sum", **version) == 72
    assert family_types(body)["plinth_batch_size"] == "histogram"
    assert family_types(body)["plinth_model_errors"] == "counter"


def test_lag_gauge_is_read_from_its_source_at_every_render() -> None:
    metrics = ServingMetrics()
    lags = iter([0.25, 4.0])
    metrics.set_lag_source(lambda: next(lags))

    first = parse(metrics.render()[0])
    second = parse(metrics.render()[0])

    assert value(first, "plinth_prediction_log_lag_seconds") == 0.25
    assert value(second, "plinth_prediction_log_lag_seconds") == 4.0


def test_lag_gauge_is_zero_without_a_source() -> None:
    samples = parse(ServingMetrics().render()[0])

    assert value(samples, "plinth_prediction_log_lag_seconds") == 0


def test_build_info_names_the_plinth_version() -> None:
    samples = parse(ServingMetrics().render()[0])

    (labels,) = [dict(labels) for name, labels in samples if name == "plinth_build_info"]
    assert labels["version"] == metadata.version("plinth")
    assert value(samples, "plinth_build_info", **labels) == 1


def test_instances_keep_their_own_registry_not_the_global_one() -> None:
    first, second = ServingMetrics(), ServingMetrics()
    first.observe("churn", "3", "primary", "ok", 0.01)

    labels = {**CHURN, "status": "ok"}
    assert value(parse(first.render()[0]), "plinth_requests_total", **labels) == 1
    assert ("plinth_requests_total", frozenset(labels.items())) not in parse(second.render()[0])
    assert b"plinth_" not in prometheus_client.generate_latest(prometheus_client.REGISTRY)


def test_render_returns_the_text_exposition_content_type() -> None:
    body, content_type = ServingMetrics().render()

    assert content_type.startswith("text/plain; version=0.0.4")
    assert body.startswith(b"# HELP")


def test_from_environ_without_the_variable_is_single_process() -> None:
    assert not ServingMetrics.from_environ({}).is_multiprocess


def test_prepare_multiprocess_dir_makes_a_new_empty_directory_each_time(tmp_path: Path) -> None:
    first = prepare_multiprocess_dir(parent=tmp_path)
    second = prepare_multiprocess_dir(parent=tmp_path)

    assert first != second
    assert first.parent == second.parent == tmp_path
    assert list(first.iterdir()) == list(second.iterdir()) == []


@pytest.mark.skipif(MULTIPROC_ENV in os.environ, reason="this test process is multiprocess")
def test_multiprocess_mode_refuses_a_process_that_keeps_metrics_in_memory(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="was not set when prometheus_client"):
        ServingMetrics.from_environ({MULTIPROC_ENV: str(tmp_path)})
    with pytest.raises(InvalidArgumentError, match="is not a directory"):
        ServingMetrics(multiprocess_dir=tmp_path / "missing")


WORKER = """
import os, sys
from plinth.serving.metrics import ServingMetrics

requests, lag, action = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
metrics = ServingMetrics.from_environ(os.environ)
for _ in range(requests):
    metrics.observe("churn", "3", "primary", "ok", 0.002)
metrics.count_model_error("churn", "3", "primary")
metrics.set_lag_source(lambda: lag)
metrics.refresh_lag()
if action == "render":
    sys.stdout.buffer.write(metrics.render()[0])
"""


def run_worker(directory: Path, requests: int, lag: float, action: str) -> tuple[int, bytes]:
    env = {**os.environ, MULTIPROC_ENV: str(directory)}
    process = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(requests), str(lag), action],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr.decode()
    return process.pid, stdout


def test_workers_write_one_directory_and_any_of_them_renders_the_sum(tmp_path: Path) -> None:
    directory = prepare_multiprocess_dir(parent=tmp_path)
    first_pid, _ = run_worker(directory, 3, 5.0, "none")
    _, body = run_worker(directory, 4, 2.0, "render")

    samples = parse(body)

    labels = {**CHURN, "status": "ok"}
    assert value(samples, "plinth_requests_total", **labels) == 7
    assert value(samples, "plinth_model_errors_total", **CHURN) == 2
    assert value(samples, "plinth_request_duration_seconds_count", **labels) == 7
    assert value(samples, "plinth_request_duration_seconds_sum", **labels) == pytest.approx(0.014)
    assert value(samples, "plinth_request_duration_seconds_bucket", **labels, le="0.0025") == 7
    assert value(samples, "plinth_request_duration_seconds_bucket", **labels, le="0.001") == 0
    assert value(samples, "plinth_prediction_log_lag_seconds") == 5.0  # max over live workers
    assert first_pid != os.getpid()


def test_an_exited_worker_keeps_its_counts_but_not_its_lag(tmp_path: Path) -> None:
    directory = prepare_multiprocess_dir(parent=tmp_path)
    first_pid, _ = run_worker(directory, 3, 5.0, "none")
    run_worker(directory, 4, 2.0, "none")

    worker_exit(first_pid, directory=directory)
    body, content_type = render_multiprocess(directory)

    samples = parse(body)
    assert value(samples, "plinth_requests_total", **CHURN, status="ok") == 7
    assert value(samples, "plinth_prediction_log_lag_seconds") == 2.0
    assert content_type.startswith("text/plain")
