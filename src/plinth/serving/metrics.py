"""Prometheus metrics of the serving data plane, exposed on ``/metrics``.

Metric names follow the Prometheus naming rules (``plinth_`` prefix, base units, ``_total`` on
counters):

- ``plinth_requests_total{endpoint,model_version,route,status}``: counter of inference requests;
  ``status`` is ``ok``, ``invalid`` (the caller's fault, 4xx) or ``error`` (ours, 5xx).
- ``plinth_request_duration_seconds{endpoint,model_version,route,status}``: latency histogram. The
  buckets are OpenTelemetry's HTTP-server buckets with three sub-5 ms buckets in front, because a
  small model answers in about a millisecond and would otherwise land in one bucket.
- ``plinth_model_errors_total{endpoint,model_version,route}``: exceptions raised by the model.
- ``plinth_batch_size{endpoint,model_version}``: histogram of micro-batch sizes.
- ``plinth_prediction_log_lag_seconds``: how far the prediction log is behind, read from a callback
  when metrics are rendered.
- ``plinth_build_info{version,python}``: always 1; joins build metadata onto other series.

Each ``ServingMetrics`` owns a ``CollectorRegistry`` and never touches prometheus_client's global
one, so several apps in one process (tests, or a server hosting two planes) do not collide.

Several worker processes (``plinth serve --workers N``)
--------------------------------------------------------
Each worker is a process with its own counters, and a scrape reaches only one of them.
prometheus_client's multiprocess mode makes every process write its values into memory-mapped files
in one shared directory, and whichever worker answers ``/metrics`` merges all the files. For that,
``plinth serve`` must:

1. In the supervising process, before uvicorn starts any worker::

       directory = prepare_multiprocess_dir()
       os.environ[MULTIPROC_ENV] = str(directory)

   The directory must be new for every server start: files left by an earlier run would add that
   run's counts to this one. prometheus_client reads the variable once, when it is first imported,
   so it must be set before a worker imports it (uvicorn spawns fresh interpreters that inherit the
   environment; a forking server is also fine, prometheus_client notices the new pid).
2. In each worker: ``ServingMetrics.from_environ(os.environ)``.
3. When a worker exits: ``worker_exit(pid)`` (from the worker's lifespan shutdown with
   ``os.getpid()``, or from the supervisor for a worker it saw die). That deletes the worker's live
   gauges, so a dead worker's last lag no longer counts; its counters and histograms stay, since a
   counter must never go down.
4. After the server stops, delete the directory.

In that mode the lag gauge is the maximum over live workers (``livemax``). A worker writes its lag
when it renders a scrape or when ``refresh_lag()`` is called, so the owner of the prediction log
should call ``refresh_lag()`` from its periodic flush loop to keep every worker's value current.
"""

from __future__ import annotations

import os
import platform
import tempfile
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Final, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from plinth.errors import InvalidArgumentError

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS: Final = (
    *(0.0005, 0.001, 0.0025),
    *(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0),
)
BATCH_SIZE_BUCKETS: Final = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
REQUEST_LABELS: Final = ("endpoint", "model_version", "route", "status")

RequestStatus = Literal["ok", "invalid", "error"]
LagSource = Callable[[], float]


class ServingMetrics:
    """The data plane's metrics; ``observe`` is the per-request hot path.

    Args:
        multiprocess_dir: the shared directory of multiprocess mode (see the module docstring);
            ``None`` keeps values in this process only.

    Raises:
        InvalidArgumentError: ``multiprocess_dir`` is given but this process cannot write there.
    """

    def __init__(self, *, multiprocess_dir: Path | None = None) -> None:
        if multiprocess_dir is not None:
            _check_multiprocess_dir(multiprocess_dir)
        self._multiprocess_dir = multiprocess_dir
        self._registry = CollectorRegistry()
        registry = self._registry
        self._requests, self._duration, self._model_errors = _request_metrics(registry)
        self._batch_size = Histogram(
            "plinth_batch_size",
            "Requests per micro-batch sent to the model.",
            ("endpoint", "model_version"),
            registry=registry,
            buckets=BATCH_SIZE_BUCKETS,
        )
        self._lag = Gauge(
            "plinth_prediction_log_lag_seconds",
            "Age of the oldest prediction not yet durable in the prediction log.",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self._lag_source: LagSource | None = None
        self._set_build_info()
        self._request_children: dict[tuple[str, str, str, str], tuple[Counter, Histogram]] = {}
        self._error_children: dict[tuple[str, str, str], Counter] = {}
        self._batch_children: dict[tuple[str, str], Histogram] = {}

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> ServingMetrics:
        """Multiprocess mode exactly when ``PROMETHEUS_MULTIPROC_DIR`` is set in ``environ``."""
        directory = environ.get(MULTIPROC_ENV)
        return cls(multiprocess_dir=Path(directory) if directory else None)

    @property
    def is_multiprocess(self) -> bool:
        return self._multiprocess_dir is not None

    def observe(
        self,
        endpoint: str,
        model_version: str,
        route: str,
        status: RequestStatus,
        seconds: float,
    ) -> None:
        """Count one request and its latency.

        The labelled children are cached by label tuple: ``labels()`` validates and locks on
        every call, which more than doubles the cost (about 1.7 µs cached, 3.8 µs not).
        """
        key = (endpoint, model_version, route, status)
        children = self._request_children.get(key) or self._new_request_children(key)
        children[0].inc()
        children[1].observe(seconds)

    def count_model_error(self, endpoint: str, model_version: str, route: str) -> None:
        """Count one exception raised by the model (the request itself is ``observe``d too)."""
        key = (endpoint, model_version, route)
        child = self._error_children.get(key)
        if child is None:
            child = self._error_children[key] = self._model_errors.labels(*key)
        child.inc()

    def observe_batch(self, endpoint: str, model_version: str, size: int) -> None:
        """Record the size of one micro-batch handed to the model."""
        key = (endpoint, model_version)
        child = self._batch_children.get(key)
        if child is None:
            child = self._batch_children[key] = self._batch_size.labels(*key)
        child.observe(size)

    def set_lag_source(self, source: LagSource | None) -> None:
        """Read the prediction-log lag (seconds) from ``source`` whenever metrics are rendered.

        ``None`` detaches the source; the gauge then keeps its last value. The source runs on
        the scrape path, so it must be cheap and must not raise.
        """
        self._lag_source = source

    def refresh_lag(self) -> None:
        """Store the lag source's current value; ``render`` calls it, so does a flush loop."""
        if self._lag_source is not None:
            self._lag.set(self._lag_source())

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type; in multiprocess mode, merged over workers."""
        self.refresh_lag()
        if self._multiprocess_dir is not None:
            return render_multiprocess(self._multiprocess_dir)
        return generate_latest(self._registry), CONTENT_TYPE_PLAIN_0_0_4

    def _new_request_children(self, key: tuple[str, str, str, str]) -> tuple[Counter, Histogram]:
        children = (self._requests.labels(*key), self._duration.labels(*key))
        self._request_children[key] = children
        return children

    def _set_build_info(self) -> None:
        info = Gauge(
            "plinth_build_info",
            "Always 1; labelled with the Plinth and Python versions of this server.",
            ("version", "python"),
            registry=self._registry,
            multiprocess_mode="livemax",
        )
        info.labels(metadata.version("plinth"), platform.python_version()).set(1)


def _request_metrics(registry: CollectorRegistry) -> tuple[Counter, Histogram, Counter]:
    requests = Counter(
        "plinth_requests_total", "Inference requests.", REQUEST_LABELS, registry=registry
    )
    duration = Histogram(
        "plinth_request_duration_seconds",
        "Inference request latency in seconds.",
        REQUEST_LABELS,
        registry=registry,
        buckets=LATENCY_BUCKETS,
    )
    model_errors = Counter(
        "plinth_model_errors_total",
        "Exceptions raised by the model while predicting.",
        REQUEST_LABELS[:3],
        registry=registry,
    )
    return requests, duration, model_errors


def render_multiprocess(directory: Path) -> tuple[bytes, str]:
    """Merge the metric files every worker wrote into ``directory`` and render them.

    Counters and histograms are summed over all processes, dead ones included; live gauges take
    the maximum over the processes not yet passed to ``worker_exit``. Any process may call this,
    including one that records nothing itself (e.g. a supervisor exposing its own port).
    """
    registry = CollectorRegistry()
    # prometheus_client's multiprocess module has no annotations.
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_PLAIN_0_0_4


def prepare_multiprocess_dir(*, parent: Path | None = None) -> Path:
    """Create a new, empty directory for one server start's metric files.

    Args:
        parent: where to create it; default the system temporary directory.

    Returns:
        The directory; set ``PROMETHEUS_MULTIPROC_DIR`` to it before any worker starts.
    """
    return Path(tempfile.mkdtemp(prefix="plinth-metrics-", dir=parent))


def worker_exit(pid: int, *, directory: Path | None = None) -> None:
    """Drop the live gauges of the exited worker ``pid`` from the merged metrics.

    Args:
        pid: the worker's process id.
        directory: the multiprocess directory; default ``PROMETHEUS_MULTIPROC_DIR``, the one the
            exiting worker wrote to.
    """
    path = str(directory) if directory is not None else None
    mark_process_dead(pid, path)  # type: ignore[no-untyped-call]


def _check_multiprocess_dir(directory: Path) -> None:
    if not directory.is_dir():
        raise InvalidArgumentError(
            f"{MULTIPROC_ENV} {str(directory)!r} is not a directory; create it with "
            "prepare_multiprocess_dir() before the workers start"
        )
    # prometheus_client picks in-memory or file-backed values once, at import, and writes to the
    # directory named by the environment then; a mismatch would drop this process's metrics.
    written_to = os.environ.get(MULTIPROC_ENV)
    if not getattr(values.ValueClass, "_multiprocess", False) or written_to is None:
        raise InvalidArgumentError(
            f"{MULTIPROC_ENV} was not set when prometheus_client was imported, so this process "
            "keeps its metrics in memory; set it before the worker process starts"
        )
    if Path(written_to).resolve() != directory.resolve():
        raise InvalidArgumentError(
            f"multiprocess_dir {str(directory)!r} differs from {MULTIPROC_ENV}={written_to!r}, "
            "where this process writes its metrics; pass the same directory"
        )
