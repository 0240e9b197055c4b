"""Tracking bench: Plinth vs MLflow (same version) on one machine, one after the other.

Runs one mlflow-client workload against ``plinth server`` and ``mlflow server`` (SQLite, one
worker each), the same workload embedded (``plinth.Client`` vs ``MlflowClient`` on
``sqlite:///``), then fills each store with many runs and times search over them. Prints
seconds per operation, the MLflow/Plinth ratio and a physical floor: the MLflow client's own
cost for server rows, raw sqlite3 or a file copy for embedded rows::

    .venv/bin/python bench/tracking.py            # full run (~20 min, most of it MLflow's fill)
    .venv/bin/python bench/tracking.py --quick    # smoke run, under a minute on an idle machine

The script re-runs itself as child processes: ``_workload``, ``_fill`` and ``_scale`` run
under Plinth's venv (embedded Plinth) or ``bench/.venvs/mlflow`` (full mlflow: the client used
against both servers, MLflow's server and embedded MLflow), which it creates when missing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from _common import (
    BENCH_DIR,
    REPO,
    WORK,
    ChildFailed,
    Server,
    best,
    clean_env,
    ensure_venv,
    format_table,
    free_port,
    log,
    run_child,
    sample,
    timed,
)

SCRIPT = Path(__file__).resolve()
DEFAULT_MLFLOW_VERSION = "3.17.2"  # the mlflow-skinny Plinth tests against


@dataclass(frozen=True)
class Shape:
    runs: int = 40
    params: int = 10
    metrics: int = 5
    points: int = 10_000
    batch: int = 1_000
    artifact_mb: int = 10
    scale_runs: int = 20_000
    scale_params: int = 20
    scale_metrics: int = 10
    repeats: int = 11  # reads: the median of 5 moved by 30-60% between runs on this VM
    artifact_repeats: int = 5


QUICK = Shape(runs=3, points=1_000, artifact_mb=1, scale_runs=200, repeats=3, artifact_repeats=3)


@dataclass(frozen=True)
class Filter:
    metric: str
    threshold: float
    param: str
    value: str
    order_metric: str

    @property
    def string(self) -> str:
        return f"metrics.{self.metric} > {self.threshold} and params.{self.param} = '{self.value}'"

    @property
    def order_by(self) -> list[str]:
        return [f"metrics.{self.order_metric} DESC"]


WORKLOAD_FILTER = Filter("m1", 0.3, "p1", "v3", "m2")
SCALE_FILTER = Filter("m1", 0.5, "p1", "v3", "m2")
RUNS_LIST_ORDER = ["attributes.start_time DESC"]  # what MLflow's UI asks for


# -- children: the workload itself, run under either venv ---------------------------------------
@dataclass(frozen=True)
class Kit:
    """A client and the entity classes it takes; Plinth's SDK mirrors MlflowClient's methods."""

    client: Any
    metric: Any
    param: Any
    artifact_location: str | None


def open_kit(target: str, location: str) -> Kit:
    if target == "plinth":
        import plinth

        client = plinth.Client(plinth.Settings(home=Path(location)))
        return Kit(client, plinth.Metric, plinth.Param, None)
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    if target == "http":
        return Kit(MlflowClient(tracking_uri=location), Metric, Param, None)
    home = Path(location)
    home.mkdir(parents=True, exist_ok=True)
    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    return Kit(client, Metric, Param, (home / "artifacts").as_uri())


def workload(kit: Kit, shape: Shape, scratch: Path) -> dict[str, Any]:
    c, f = kit.client, WORKLOAD_FILTER
    exp = c.create_experiment("workload", artifact_location=kit.artifact_location)
    ops: dict[str, Any] = {"single_calls": {"seconds": timed(lambda: _log_runs(kit, exp, shape))}}
    hist = c.create_run(exp, run_name="history").info.run_id
    batches = _point_batches(kit, shape)
    ops["log_batch"] = {"seconds": timed(lambda: [c.log_batch(hist, metrics=b) for b in batches])}
    found: list[Any] = []

    def search() -> None:
        found[:] = c.search_runs([exp], f.string, order_by=f.order_by, max_results=100)

    ops["search_runs"] = sample(search, shape.repeats)
    ops["metric_history"] = sample(lambda: _history(c, hist, shape.points), shape.repeats)
    ops.update(_artifact_ops(kit, hist, shape, scratch))
    names = [r.info.run_name for r in found]
    return {"ops": ops, "experiment_id": exp, "history_run_id": hist, "search_names": names}


def _log_runs(kit: Kit, exp: str, shape: Shape) -> None:
    c = kit.client
    for i in range(shape.runs):
        rng = random.Random(i)
        run_id = c.create_run(exp, run_name=f"run-{i}").info.run_id
        for j in range(shape.params):
            c.log_param(run_id, f"p{j}", f"v{(i + j) % 5}")
        for j in range(shape.metrics):
            c.log_metric(run_id, f"m{j}", rng.random(), step=0)


def _point_batches(kit: Kit, shape: Shape) -> list[list[Any]]:
    now = int(time.time() * 1000)
    points = [
        kit.metric(key="loss", value=1.0 / (s + 1), timestamp=now + s, step=s)
        for s in range(shape.points)
    ]
    return [points[i : i + shape.batch] for i in range(0, shape.points, shape.batch)]


def _history(client: Any, run_id: str, expected: int) -> None:
    got = len(client.get_metric_history(run_id, "loss"))
    if got != expected:
        raise AssertionError(f"get_metric_history returned {got} points, expected {expected}")


def _artifact_ops(kit: Kit, run_id: str, shape: Shape, scratch: Path) -> dict[str, Any]:
    size = shape.artifact_mb * 2**20
    blob = scratch / "blob.bin"
    blob.write_bytes(os.urandom(size))
    ups = [
        timed(lambda k=k: kit.client.log_artifact(run_id, str(blob), f"up{k}"))
        for k in range(shape.artifact_repeats)
    ]

    def down(k: int) -> None:
        dst = scratch / f"down{k}"
        dst.mkdir()
        got = Path(kit.client.download_artifacts(run_id, "up0/blob.bin", str(dst)))
        if got.stat().st_size != size:
            raise AssertionError(f"downloaded {got.stat().st_size} bytes, expected {size}")

    downs = [timed(lambda k=k: down(k)) for k in range(shape.artifact_repeats)]
    return {
        "artifact_up": {"seconds": statistics.median(ups), "samples": ups},
        "artifact_down": {"seconds": statistics.median(downs), "samples": downs},
    }


def fill(kit: Kit, shape: Shape) -> dict[str, Any]:
    """``scale_runs`` runs, each one ``create_run`` + one ``log_batch`` of all its data."""
    c = kit.client
    exp = c.create_experiment("scale", artifact_location=kit.artifact_location)
    base = int(time.time() * 1000) - shape.scale_runs * 1000
    step = max(shape.scale_runs // 20, 1)
    start = time.perf_counter()
    for i in range(shape.scale_runs):
        metrics, params = _scale_data(kit, i, shape, base)
        run_id = c.create_run(exp, start_time=base + i * 1000, run_name=f"run-{i}").info.run_id
        c.log_batch(run_id, metrics=metrics, params=params)
        if (i + 1) % step == 0:
            spent = time.perf_counter() - start
            eta = spent / (i + 1) * (shape.scale_runs - i - 1)
            log(f"  fill: {i + 1:,}/{shape.scale_runs:,} runs, {spent:.0f}s, ~{eta:.0f}s left")
    return {"ops": {"fill": {"seconds": time.perf_counter() - start}}, "experiment_id": exp}


def _scale_data(kit: Kit, i: int, shape: Shape, base: int) -> tuple[list[Any], list[Any]]:
    rng = random.Random(i)
    ts = base + i * 1000
    metrics = [
        kit.metric(key=f"m{j}", value=rng.random(), timestamp=ts, step=0)
        for j in range(shape.scale_metrics)
    ]
    params = [kit.param(f"p{j}", f"v{rng.randrange(10)}") for j in range(shape.scale_params)]
    return metrics, params


def scale_reads(kit: Kit, shape: Shape) -> dict[str, Any]:
    c, f = kit.client, SCALE_FILTER
    exp = c.get_experiment_by_name("scale").experiment_id
    got: dict[str, list[Any]] = {}

    def search() -> None:
        got["search"] = list(c.search_runs([exp], f.string, order_by=f.order_by, max_results=100))

    def runs_list() -> None:
        got["list"] = list(c.search_runs([exp], max_results=100, order_by=RUNS_LIST_ORDER))

    ops = {
        "scale_search": sample(search, shape.repeats),
        "runs_list": sample(runs_list, shape.repeats),
    }
    return {
        "ops": ops,
        "experiment_id": exp,
        "search_names": [r.info.run_name for r in got["search"]],
        "list_names": [r.info.run_name for r in got["list"]],
    }


# -- client floors: what the mlflow client alone spends on an operation (bench venv only) ------
class ClientFloor:
    """Any server's lower bound through MLflow's client for calls whose answer is empty: one
    round trip to ``/health`` per call plus the client's own work building the requests."""

    def __init__(self, url: str) -> None:
        from mlflow.utils.credentials import get_default_host_creds
        from mlflow.utils.rest_utils import http_request

        creds = get_default_host_creds(url)
        self.rtt = best(lambda: http_request(creds, "/health", "GET").raise_for_status(), 30)

    def log_batch(self, batches: list[list[Any]]) -> float:
        from mlflow.protos.service_pb2 import LogBatch
        from mlflow.utils.proto_json_utils import message_to_json

        def build() -> None:
            for batch in batches:
                message_to_json(LogBatch(run_id="0" * 32, metrics=[m.to_proto() for m in batch]))

        return len(batches) * self.rtt + best(build, 3)


@contextmanager
def null_server(upstream: str, scratch: Path, blob: Path | None = None) -> Iterator[Any]:
    """An ``MlflowClient`` on ``_null_server.py``, which replays ``upstream``'s answers, discards
    uploads and sends ``blob`` for downloads: the client's whole cost on a call (every request
    it makes, both of its JSON parses of a reply, building the entities), no server work."""
    from mlflow import MlflowClient

    port = free_port()
    cmd = [sys.executable, str(BENCH_DIR / "_null_server.py"), str(port), upstream]
    cmd.append(str(blob or os.devnull))
    url = f"http://127.0.0.1:{port}"
    with Server(cmd, url=url, env=clean_env(), cwd=scratch, log_path=scratch / "null.log"):
        yield MlflowClient(tracking_uri=url)


def workload_client_floors(
    kit: Kit, url: str, shape: Shape, result: dict[str, Any], scratch: Path
) -> dict[str, float]:
    floor = ClientFloor(url)
    f, run_id = WORKLOAD_FILTER, result["history_run_id"]
    blob = scratch / "blob.bin"
    downloads = iter(range(10**6))

    def down() -> None:
        dst = scratch / f"floor-down{next(downloads)}"
        dst.mkdir()
        client.download_artifacts(run_id, "up0/blob.bin", str(dst))

    with null_server(url, scratch, blob) as client:
        exp = result["experiment_id"]
        return {
            "single_calls": shape.runs * (1 + shape.params + shape.metrics) * floor.rtt,
            "log_batch": floor.log_batch(_point_batches(kit, shape)),
            "search_runs": best(
                lambda: client.search_runs([exp], f.string, order_by=f.order_by, max_results=100)
            ),
            "metric_history": best(lambda: _history(client, run_id, shape.points)),
            "artifact_up": best(lambda: client.log_artifact(run_id, str(blob), "floor"), 5),
            "artifact_down": best(down, 5),
        }


def scale_client_floors(url: str, exp: str, scratch: Path) -> dict[str, float]:
    f = SCALE_FILTER
    with null_server(url, scratch) as client:
        return {
            "scale_search": best(
                lambda: client.search_runs([exp], f.string, order_by=f.order_by, max_results=100)
            ),
            "runs_list": best(
                lambda: client.search_runs([exp], max_results=100, order_by=RUNS_LIST_ORDER)
            ),
        }


def child_main(args: argparse.Namespace) -> int:
    shape = Shape(**json.loads(args.shape))
    kit = open_kit(args.target, args.location)
    out = Path(args.json_out)
    scratch = out.parent / f"scratch-{out.stem}"
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        if args.command == "_workload":
            result = workload(kit, shape, scratch)
            if args.floors:
                floors = workload_client_floors(kit, args.location, shape, result, scratch)
                result["floors"] = floors
        elif args.command == "_fill":
            result = fill(kit, shape)
        else:
            result = scale_reads(kit, shape)
            if args.floors:
                result["floors"] = scale_client_floors(
                    args.location, result["experiment_id"], scratch
                )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    out.write_text(json.dumps(result, indent=1))
    return 0


# -- physical floors: raw sqlite3 on Plinth's files, plain file copies --------------------------
# The same search driven from each table in turn (CROSS JOIN fixes SQLite's join order); the
# floor is the fastest, so it does not hinge on one planner choice.
_SEARCH_FROM = {
    "runs": "runs r CROSS JOIN params p CROSS JOIN latest_metrics f",
    "params": "params p CROSS JOIN runs r CROSS JOIN latest_metrics f",
    "metrics": "latest_metrics f CROSS JOIN runs r CROSS JOIN params p",
}
_SEARCH_SQL = """
SELECT r.run_id FROM {tables}
LEFT JOIN latest_metrics o ON o.run_id = r.run_id AND o.key = :order
WHERE p.run_id = r.run_id AND p.key = :param AND p.value = :value
  AND f.run_id = r.run_id AND f.key = :metric AND f.value > :threshold
  AND r.experiment_id = :exp AND r.lifecycle_stage = 'active'
ORDER BY o.value IS NULL, o.value DESC, r.start_time DESC, r.run_id LIMIT 100
"""
_LIST_SQL = """
SELECT run_id FROM runs WHERE experiment_id = :exp AND lifecycle_stage = 'active'
ORDER BY start_time DESC, run_id LIMIT 100
"""
_HISTORY_SQL = """
SELECT key, value, is_nan, timestamp, step FROM metrics WHERE run_id = ? AND key = 'loss'
ORDER BY step, timestamp, id
"""


def _raw_runs(conn: sqlite3.Connection, sql: str, args: dict[str, Any]) -> None:
    """The ids query, then the same four per-table loads a store needs to return whole runs."""
    ids = [r[0] for r in conn.execute(sql, args)]
    marks = ",".join("?" * len(ids))
    for table in ("runs", "params", "tags", "latest_metrics"):
        conn.execute(f"SELECT * FROM {table} WHERE run_id IN ({marks})", ids).fetchall()


def _search_floor(db: Path, exp: str, f: Filter, repeats: int) -> float:
    args = {"exp": int(exp), "metric": f.metric, "threshold": f.threshold, "param": f.param}
    args |= {"value": f.value, "order": f.order_metric}
    with sqlite3.connect(db) as conn:
        return min(
            best(lambda sql=_SEARCH_SQL.format(tables=t): _raw_runs(conn, sql, args), repeats)
            for t in _SEARCH_FROM.values()
        )


def _list_floor(db: Path, exp: str, repeats: int) -> float:
    with sqlite3.connect(db) as conn:
        run = lambda: _raw_runs(conn, _LIST_SQL, {"exp": int(exp)})  # noqa: E731
        return best(run, repeats)


def _history_floor(db: Path, run_id: str, repeats: int) -> float:
    with sqlite3.connect(db) as conn:
        run = lambda: conn.execute(_HISTORY_SQL, (run_id,)).fetchall()  # noqa: E731
        return best(run, repeats)


def _scratch_db(path: Path) -> sqlite3.Connection:
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # what Plinth's engine sets
    conn.execute("CREATE TABLE runs (run_id TEXT PRIMARY KEY, name TEXT, start_time INT)")
    conn.execute(
        "CREATE TABLE params (run_id TEXT, key TEXT, value TEXT, PRIMARY KEY(run_id, key))"
    )
    conn.execute(
        "CREATE TABLE metrics (id INTEGER PRIMARY KEY, run_id TEXT, key TEXT, value REAL,"
        " timestamp INT, step INT)"
    )
    return conn


def _write_floors(shape: Shape, scratch: Path) -> dict[str, float]:
    """One committed transaction per single call; one per 1,000-point batch."""
    conn = _scratch_db(scratch / "floor.db")
    now = int(time.time() * 1000)

    def single_calls() -> None:
        for i in range(shape.runs):
            with conn:
                conn.execute("INSERT INTO runs VALUES (?, ?, ?)", (f"r{i}", f"run-{i}", now))
            for j in range(shape.params):
                with conn:
                    conn.execute("INSERT INTO params VALUES (?, ?, ?)", (f"r{i}", f"p{j}", "v"))
            for j in range(shape.metrics):
                with conn:
                    conn.execute(
                        "INSERT INTO metrics (run_id, key, value, timestamp, step)"
                        " VALUES (?, ?, ?, ?, 0)",
                        (f"r{i}", f"m{j}", 0.5, now),
                    )

    rows = [("h", "loss", 1.0, now + s, s) for s in range(shape.points)]

    def log_batch() -> None:
        for i in range(0, shape.points, shape.batch):
            with conn:
                conn.executemany(
                    "INSERT INTO metrics (run_id, key, value, timestamp, step)"
                    " VALUES (?, ?, ?, ?, ?)",
                    rows[i : i + shape.batch],
                )

    floors = {"single_calls": timed(single_calls), "log_batch": timed(log_batch)}
    conn.close()
    return floors


def _copy_floor(shape: Shape, scratch: Path) -> float:
    blob = scratch / "blob.bin"
    blob.write_bytes(os.urandom(shape.artifact_mb * 2**20))
    return best(lambda: shutil.copyfile(blob, scratch / "copy.bin"), 5)


def floors(work: Path, shape: Shape, plinth: dict[str, Any]) -> dict[str, float]:
    """Floors measured on this machine; query floors need Plinth's databases from this run."""
    scratch = work / "floors"
    scratch.mkdir(parents=True, exist_ok=True)
    out = _write_floors(shape, scratch)
    out["artifact_up"] = out["artifact_down"] = _copy_floor(shape, scratch)
    db = work / "plinth" / "server" / "plinth.db"
    wl, sc = plinth.get("server", {}), plinth.get("fill", {})
    measures: dict[str, Callable[[], float]] = {}
    if "experiment_id" in wl:
        exp, hist = wl["experiment_id"], wl["history_run_id"]
        measures["search_runs"] = lambda: _search_floor(db, exp, WORKLOAD_FILTER, 10)
        measures["metric_history"] = lambda: _history_floor(db, hist, 10)
    if "experiment_id" in sc:
        scale_exp = sc["experiment_id"]
        measures["scale_search"] = lambda: _search_floor(db, scale_exp, SCALE_FILTER, 10)
        measures["runs_list"] = lambda: _list_floor(db, scale_exp, 10)
    for name, measure in measures.items():
        try:
            out[name] = measure()
        except sqlite3.Error as exc:  # Plinth's schema moved on: report, don't guess
            log(f"floor {name}: {exc}")
    return out


# -- orchestration ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Context:
    work: Path
    shape: Shape
    plinth_python: Path
    mlflow_python: Path


def _plinth_server(ctx: Context, home: Path) -> Server:
    port = free_port()
    plinth_bin = ctx.plinth_python.parent / "plinth"
    env = clean_env(PLINTH_HOME=str(home))
    if _has_server_cli(plinth_bin):
        cmd = [str(plinth_bin), "server", "--host", "127.0.0.1", "--port", str(port)]
        cmd += ["--workers", "1", "--no-auth"]
    else:  # until `plinth server` lands: the same app under uvicorn, one process
        code = (
            "import uvicorn; from plinth.config import Settings; "
            "from plinth.server.app import create_app; "
            f"uvicorn.run(create_app(Settings(home={str(home)!r}), auth=False), "
            f"host='127.0.0.1', port={port}, log_level='warning')"
        )
        cmd = [str(ctx.plinth_python), "-c", code]
    url = f"http://127.0.0.1:{port}"
    return Server(cmd, url=url, env=env, cwd=home, log_path=home / "server.log")


def _has_server_cli(plinth_bin: Path) -> bool:
    if not plinth_bin.exists():
        return False
    probe = subprocess.run(
        [str(plinth_bin), "server", "--help"], capture_output=True, text=True, check=False
    )
    return probe.returncode == 0 and "--no-auth" in probe.stdout


def _mlflow_server(ctx: Context, home: Path) -> Server:
    port = free_port()
    cmd = [str(ctx.mlflow_python.parent / "mlflow"), "server"]
    cmd += ["--backend-store-uri", f"sqlite:///{home / 'mlflow.db'}", "--serve-artifacts"]
    cmd += ["--artifacts-destination", str(home / "artifacts")]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    url = f"http://127.0.0.1:{port}"
    return Server(cmd, url=url, env=clean_env(), cwd=home, log_path=home / "server.log")


def _child(
    ctx: Context,
    step: str,
    python: Path,
    command: str,
    target: str,
    location: str,
    *,
    floors: bool = False,
) -> dict[str, Any]:
    out = ctx.work / f"{step}.json"
    args = [command, "--target", target, "--location", location]
    args += ["--floors"] if floors else []
    args += ["--shape", json.dumps(asdict(ctx.shape))]
    env = clean_env(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_HTTP_REQUEST_TIMEOUT="600")
    return run_child(python, SCRIPT, args, json_out=out, env=env)


def bench_system(ctx: Context, name: str) -> dict[str, Any]:
    """One system. Under one server: the workload, the fill (embedded, into the database
    being served) and the scale reads; then the scale reads and the workload embedded."""
    root = ctx.work / name
    python = ctx.plinth_python if name == "plinth" else ctx.mlflow_python
    server = _plinth_server if name == "plinth" else _mlflow_server
    client = ctx.mlflow_python  # the same mlflow client against both servers
    served = root / "server"
    results: dict[str, Any] = {}

    def step(
        key: str, python: Path, command: str, target: str, location: str, floors: bool = False
    ) -> None:
        log(f"[{name}] {key} ...")
        start = time.perf_counter()
        try:
            results[key] = _child(
                ctx, f"{name}-{key}", python, command, target, location, floors=floors
            )
        except ChildFailed as exc:
            log(f"[{name}] {key} FAILED: {exc}")
            results[key] = {"error": str(exc)}
        log(f"[{name}] {key} took {time.perf_counter() - start:.1f}s")

    try:
        with server(ctx, served) as srv:
            # The client's floors are measured on Plinth's answers only: the report's one
            # floor column sits beside Plinth's figures.
            step("server", client, "_workload", "http", srv.url, name == "plinth")
            step("fill", python, "_fill", name, str(served))
            step("scale_server", client, "_scale", "http", srv.url, name == "plinth")
    except ChildFailed as exc:  # the server itself failed
        log(f"[{name}] server FAILED: {exc}")
        for key in ("server", "fill", "scale_server"):
            results.setdefault(key, {"error": str(exc)})
    step("scale_embedded", python, "_scale", name, str(served))
    step("embedded", python, "_workload", name, str(root / "embedded"))
    return results


# -- report -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    step: str
    op: str
    label: str
    ratio: float | None  # at least this many times faster than MLflow
    max_seconds: float | None = None

    @property
    def target(self) -> str:
        if self.ratio is None:
            return "-"
        limit = f", <{self.max_seconds}s" if self.max_seconds else ""
        return f">={self.ratio:g}x{limit}"


def report_rows(shape: Shape) -> list[tuple[str, list[Row]]]:
    n = f"{shape.scale_runs:,}"

    def workload(step: str) -> list[Row]:
        return [
            Row(
                step,
                "single_calls",
                f"{shape.runs} runs x ({shape.params} log_param + {shape.metrics} log_metric)",
                3,
            ),
            Row(step, "log_batch", f"log_batch {shape.points:,} points / {shape.batch:,}", 3),
            Row(step, "search_runs", "search_runs filter + order_by", 5),
            Row(step, "metric_history", f"get_metric_history {shape.points:,} points", 5),
            Row(step, "artifact_up", f"{shape.artifact_mb} MB artifact upload", 3),
            Row(step, "artifact_down", f"{shape.artifact_mb} MB artifact download", 3),
        ]

    def reads(step: str, where: str) -> list[Row]:
        return [
            Row(step, "scale_search", f"search_runs filter+order, 100 of {n} ({where})", 10, 0.5),
            Row(step, "runs_list", f"runs list, 100 newest of {n} ({where})", 10, 0.5),
        ]

    fill_label = f"fill: create_run + log_batch x {n} (embedded)"
    return [
        ("Workload through the server (mlflow client; 1 worker each)", workload("server")),
        ("Workload embedded (plinth.Client vs MlflowClient on sqlite)", workload("embedded")),
        (
            f"Scale: {n} runs x {shape.scale_params} params x {shape.scale_metrics} metrics",
            [
                Row("fill", "fill", fill_label, None),
                *reads("scale_server", "server"),
                *reads("scale_embedded", "embedded"),
            ],
        ),
    ]


def _seconds(results: dict[str, Any], row: Row) -> float | None:
    value = results.get(row.step, {}).get("ops", {}).get(row.op, {}).get("seconds")
    return None if value is None else float(value)


def _verdict(row: Row, plinth: float | None, mlflow: float | None) -> str:
    if plinth is None or mlflow is None:
        return "ERROR"
    if row.ratio is None:
        return "-"
    fast_enough = row.max_seconds is None or plinth < row.max_seconds
    return "PASS" if mlflow / plinth >= row.ratio and fast_enough else "FAIL"


def render(shape: Shape, results: dict[str, dict[str, Any]], floor: dict[str, float]) -> str:
    fmt = lambda s: "error" if s is None else _fmt_seconds(s)  # noqa: E731
    table: list[list[str]] = []
    verdicts: list[str] = []
    for title, rows in report_rows(shape):
        table.append([title])
        for row in rows:
            p, m = _seconds(results["plinth"], row), _seconds(results["mlflow"], row)
            ratio = f"{m / p:.1f}x" if p and m else "-"
            verdicts.append(_verdict(row, p, m))
            fl = _floor(row, results["plinth"], floor)
            # What a server (or store) doing nothing at all would score: a target above it
            # is out of reach whatever Plinth does.
            best_possible = f"{m / fl:.1f}x" if m and fl else "-"
            cells = [fmt(p), fmt(m), ratio, "-" if fl is None else _fmt_seconds(fl)]
            cells += [best_possible, row.target]
            table.append(["  " + row.label, *cells, verdicts[-1]])
    headers = ["operation", "plinth s", "mlflow s", "mlflow/plinth", "floor s"]
    headers += ["mlflow/floor", "target", "result"]
    passed = verdicts.count("PASS")
    judged = passed + verdicts.count("FAIL") + verdicts.count("ERROR")
    lines = [format_table(headers, table), "", f"targets met: {passed}/{judged}"]
    return "\n".join(lines + _agreement(results))


def _floor(row: Row, plinth: dict[str, Any], storage: dict[str, float]) -> float | None:
    """Server rows: the mlflow client's own floor; embedded rows: the storage floor."""
    if row.step in ("server", "scale_server"):
        value = plinth.get(row.step, {}).get("floors", {}).get(row.op)
        return None if value is None else float(value)
    return storage.get(row.op) if row.step != "fill" else None


def _fmt_seconds(seconds: float) -> str:
    return f"{seconds:.4f}" if seconds >= 0.0001 else f"{seconds:.1e}"


def _agreement(results: dict[str, dict[str, Any]]) -> list[str]:
    """Both systems hold the same data, so every read must return the same runs in order."""
    notes = []
    for step in ("server", "embedded", "scale_server", "scale_embedded"):
        for key in ("search_names", "list_names"):
            p = results["plinth"].get(step, {}).get(key)
            m = results["mlflow"].get(step, {}).get(key)
            if p is not None and m is not None and p != m:
                notes.append(f"MISMATCH {step}.{key}: plinth {p[:5]}... vs mlflow {m[:5]}...")
    return notes


def orchestrate(args: argparse.Namespace) -> int:
    shape = QUICK if args.quick else Shape()
    if args.scale_runs:
        shape = replace(shape, scale_runs=args.scale_runs)
    plinth_python = Path(args.plinth_python)
    version = _mlflow_version(plinth_python)
    mlflow_python = ensure_venv("mlflow", [f"mlflow=={version}"])
    work = WORK / time.strftime("tracking-%Y%m%d-%H%M%S")
    work.mkdir(parents=True)
    ctx = Context(work, shape, plinth_python, mlflow_python)
    load_before = os.getloadavg()[0]
    results = {name: bench_system(ctx, name) for name in ("plinth", "mlflow")}
    load_after = os.getloadavg()[0]
    floor = floors(work, shape, results["plinth"])
    print(
        f"\nPlinth vs MLflow {version}, {os.cpu_count()} CPUs; servers on 127.0.0.1 one after the "
        "other: plinth (uvicorn, 1 process) and `mlflow server --workers 1`, SQLite backends.\n"
        f"1-minute load average {load_before:.1f} at the start, {load_after:.1f} at the end "
        "(anything above ~0.5 means other work shared the 2 cores)."
    )
    print(
        "Reads: median of repeats after a warm-up. floor, server rows: the mlflow client's own\n"
        "cost: reads and artifacts, the same client calls against a server that replays Plinth's"
        "\nanswers and does no other work (_null_server.py); writes, a /health round trip per"
        "\ncall + building the requests. Embedded rows: raw sqlite3 on Plinth's database, or a"
        "\nplain file copy.\n"
    )
    print(render(shape, results, floor))
    if args.json:
        data = {"shape": asdict(shape), "mlflow_version": version, "floors": floor}
        data["load_average"] = [load_before, load_after]
        Path(args.json).write_text(json.dumps(data | {"results": results}, indent=1))
    if not args.keep:
        shutil.rmtree(work)
    return 0


def _mlflow_version(plinth_python: Path) -> str:
    probe = subprocess.run(
        [
            str(plinth_python),
            "-c",
            "import importlib.metadata as m; print(m.version('mlflow-skinny'))",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return probe.stdout.strip() if probe.returncode == 0 else DEFAULT_MLFLOW_VERSION


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (< 1 minute)")
    parser.add_argument("--scale-runs", type=int, help="runs in the scale fill (default 20000)")
    parser.add_argument("--json", metavar="PATH", help="also write all results here")
    parser.add_argument("--keep", action="store_true", help="keep the stores under bench/.work")
    parser.add_argument("--plinth-python", default=str(REPO / ".venv" / "bin" / "python"))
    sub = parser.add_subparsers(dest="command")
    for name in ("_workload", "_fill", "_scale"):  # internal: the parent runs these
        child = sub.add_parser(name)
        child.add_argument("--target", choices=("plinth", "mlflow", "http"), required=True)
        child.add_argument("--location", required=True)
        child.add_argument("--shape", required=True)
        child.add_argument("--json-out", required=True)
        child.add_argument("--floors", action="store_true", help="also measure client floors")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return child_main(args) if args.command else orchestrate(args)


if __name__ == "__main__":
    sys.exit(main())
