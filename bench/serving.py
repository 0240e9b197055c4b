"""Plinth's data plane vs ``mlflow models serve`` vs the raw model, single-row requests.

The same scikit-learn pipeline (scaler + logistic regression on 8 features, trained on the
same rows with the same parameters in each venv) behind:

* ``plinth serve --no-auth --workers 1`` (prediction log on: what users run), requests in
  MLflow's scoring protocol (``/endpoints/bench/invocations``) and in the Open Inference
  Protocol (``/v2/models/bench/infer``);
* ``mlflow models serve --env-manager local --workers 1`` from ``bench/.venvs/mlflow-serve``;
* the raw in-process ``model.predict`` on a one-row DataFrame: the floor.

Load comes from a separate process (``bench/_loadgen.py``, keep-alive connections): p50 / p99
at 1 client, throughput at 8 and 32 concurrent clients. Then batch inference
(``bench/serving_batch.py``) against a raw ``predict`` loop over the same Parquet file.

    .venv/bin/python bench/serving.py            # full run (~3 min after the venv exists)
    .venv/bin/python bench/serving.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BENCH_DIR,
    WORK,
    Server,
    clean_env,
    ensure_venv,
    format_table,
    free_port,
    log,
)

MLFLOW_VERSION = "3.17.2"
FEATURES = [f"f{i}" for i in range(8)]
TRAIN_ROWS = 5000
MODEL_SCRIPT = BENCH_DIR / "_serving_model.py"
LOADGEN = BENCH_DIR / "_loadgen.py"


def train_rows() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(TRAIN_ROWS, len(FEATURES))), columns=FEATURES)
    frame["label"] = (frame["f0"] + 0.5 * frame["f1"] - frame["f2"] > 0).astype(int)
    return frame


def row_payloads(frame: pd.DataFrame) -> dict[str, bytes]:
    row = frame[FEATURES].iloc[[7]]
    split = {"dataframe_split": {"columns": FEATURES, "data": row.to_numpy().tolist()}}
    oip = {
        "inputs": [
            {"name": c, "shape": [1], "datatype": "FP64", "data": [float(row[c].iloc[0])]}
            for c in FEATURES
        ]
    }
    return {"mlflow": json.dumps(split).encode(), "oip": json.dumps(oip).encode()}


def raw_limits(model: Any, frame: pd.DataFrame, calls: int) -> dict[str, float]:
    """In-process ``predict`` of one row: the latency floor and one core's throughput."""
    row = frame[FEATURES].iloc[[7]]
    for _ in range(100):
        model.predict(row)
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        model.predict(row)
        samples.append(time.perf_counter() - start)
    samples.sort()
    p50 = statistics.median(samples)
    return {"p50": p50, "p99": samples[int(0.99 * len(samples))], "throughput": 1 / p50}


def load(
    url: str, body: bytes, *, work: Path, concurrency: int, requests: int = 0, duration: float = 0.0
) -> dict[str, Any]:
    import subprocess

    body_file = work / f"body-{abs(hash(body))}.json"
    body_file.write_bytes(body)
    out = work / f"load-{time.time_ns()}.json"
    cmd = [
        sys.executable,
        str(LOADGEN),
        "--url",
        url,
        "--body-file",
        str(body_file),
        "--concurrency",
        str(concurrency),
        "--json-out",
        str(out),
    ]
    cmd += ["--requests", str(requests)] if requests else ["--duration", str(duration)]
    subprocess.run(cmd, check=True, env=clean_env())
    result: dict[str, Any] = json.loads(out.read_text())
    if result["errors"]:
        raise RuntimeError(f"{result['errors']} failed requests against {url}")
    return result


def scenarios(url: str, body: bytes, work: Path, quick: bool) -> dict[str, dict[str, Any]]:
    n, seconds = (300, 2.0) if quick else (3000, 8.0)
    return {
        "c1": load(url, body, work=work, concurrency=1, requests=n),
        "c8": load(url, body, work=work, concurrency=8, duration=seconds),
        "c32": load(url, body, work=work, concurrency=32, duration=seconds),
    }


def plinth_model(frame: pd.DataFrame, home: Path) -> Any:
    """Train, log, register and approve the pipeline; create endpoint ``bench``."""
    from _serving_model import fit

    import plinth
    from plinth import serving
    from plinth.config import Settings
    from plinth.entities.registry import Stage

    model = fit(frame, FEATURES)
    plinth.set_tracking_uri(settings=Settings(home=home))
    with plinth.start_run():
        plinth.log_model(
            model, "model", input_example=frame[FEATURES].head(3), registered_model_name="bench"
        )
    request = plinth.request_promotion("bench", "1", stage=Stage.PRODUCTION)
    plinth.approve(request.request_id)
    serving.create_endpoint("bench", "bench/1")
    return model


def bench_plinth(
    frame: pd.DataFrame, work: Path, bodies: dict[str, bytes], quick: bool
) -> tuple[Any, dict[str, dict[str, Any]]]:
    home = work / "plinth-home"
    model = plinth_model(frame, home)
    port = free_port()
    plinth_bin = Path(sys.executable).parent / "plinth"
    cmd = [str(plinth_bin), "serve", "--no-auth", "--workers", "1", "--port", str(port)]
    env = clean_env(PLINTH_HOME=str(home))
    url = f"http://127.0.0.1:{port}"
    with Server(cmd, url=url, env=env, cwd=work, log_path=work / "plinth-serve.log"):
        wait_ready(f"{url}/v2/models/bench/ready")
        log("Plinth: MLflow scoring protocol ...")
        results = {
            f"mlflow-{k}": v
            for k, v in scenarios(
                f"{url}/endpoints/bench/invocations", bodies["mlflow"], work, quick
            ).items()
        }
        log("Plinth: Open Inference Protocol ...")
        results.update(
            {
                f"oip-{k}": v
                for k, v in scenarios(
                    f"{url}/v2/models/bench/infer", bodies["oip"], work, quick
                ).items()
            }
        )
    return model, results


def wait_ready(url: str, timeout: float = 60) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout}s")


def bench_mlflow(
    frame: pd.DataFrame, work: Path, body: bytes, quick: bool
) -> dict[str, dict[str, Any]]:
    import subprocess

    python = ensure_venv(
        "mlflow-serve", [f"mlflow=={MLFLOW_VERSION}", f"scikit-learn=={_sklearn()}"]
    )
    data = work / "train.parquet"
    frame.to_parquet(data, index=False)
    model_dir = work / "mlflow-model"
    subprocess.run(
        [str(python), str(MODEL_SCRIPT), str(data), str(model_dir)],
        check=True,
        env=clean_env(MLFLOW_DISABLE_TELEMETRY="true"),
    )
    port = free_port()
    cmd = [
        str(python.parent / "mlflow"),
        "models",
        "serve",
        "-m",
        str(model_dir),
        "-p",
        str(port),
        "-h",
        "127.0.0.1",
        "--env-manager",
        "local",
        "-w",
        "1",
    ]
    url = f"http://127.0.0.1:{port}"
    # mlflow starts uvicorn through a shell: the venv's bin must come first on PATH.
    path = f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = clean_env(MLFLOW_DISABLE_TELEMETRY="true", PATH=path)
    with Server(cmd, url=url, env=env, cwd=work, log_path=work / "mlflow-serve.log"):
        log("MLflow: scoring protocol ...")
        return scenarios(f"{url}/invocations", body, work, quick)


def _sklearn() -> str:
    import sklearn

    return str(sklearn.__version__)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def report(
    raw: dict[str, float],
    plinth: dict[str, dict[str, Any]],
    mlflow: dict[str, dict[str, Any]],
    batch: list[dict[str, Any]],
) -> str:
    rows: list[list[str]] = [
        ["Online, single-row requests (1 worker each; load from another process)"]
    ]
    for key, label in (("mlflow", "scoring protocol"), ("oip", "Open Inference Protocol")):
        p, m = plinth[f"{key}-c1"], mlflow["c1"]
        budget = raw["p99"] + 0.002
        rows.append(
            [
                f"  p50 latency, 1 client ({label})",
                ms(p["p50"]),
                ms(m["p50"]),
                f"{m['p50'] / p['p50']:.1f}x faster",
                ms(raw["p50"]),
                "-",
                "-",
            ]
        )
        rows.append(
            [
                f"  p99 latency, 1 client ({label})",
                ms(p["p99"]),
                ms(m["p99"]),
                f"{m['p99'] / p['p99']:.1f}x faster",
                ms(raw["p99"]),
                f"<= {ms(budget)}",
                "PASS" if p["p99"] <= budget else "FAIL",
            ]
        )
        for c in ("c8", "c32"):
            p, m = plinth[f"{key}-{c}"], mlflow[c]
            ratio = p["throughput"] / m["throughput"]
            rows.append(
                [
                    f"  throughput, {c[1:]} clients ({label})",
                    f"{p['throughput']:,.0f}/s",
                    f"{m['throughput']:,.0f}/s",
                    f"{ratio:.1f}x",
                    f"{raw['throughput']:,.0f}/s",
                    ">= 3x",
                    "PASS" if ratio >= 3 else "FAIL",
                ]
            )
    if batch:
        rows.append(["Batch inference (rows/s over the same Parquet file)"])
        for item in batch:
            rows.append(
                [
                    f"  {item['label']}",
                    f"{item['plinth']:,.0f}/s",
                    "-",
                    f"{item['per_core_ratio']:.0%} of raw/core",
                    f"{item['raw']:,.0f}/s",
                    ">= 80%",
                    "PASS" if item["per_core_ratio"] >= 0.8 else "FAIL",
                ]
            )
    headers = [
        "measurement",
        "plinth",
        "mlflow",
        "plinth vs mlflow",
        "raw predict",
        "target",
        "result",
    ]
    return format_table(headers, rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="Few requests; a smoke run.")
    parser.add_argument("--json", type=Path, help="Also write every figure here.")
    parser.add_argument("--batch-rows", type=int, default=None)
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    work = WORK / f"serving-{time.strftime('%Y%m%d-%H%M%S')}"
    work.mkdir(parents=True)
    frame = train_rows()
    bodies = row_payloads(frame)
    log("Plinth ...")
    model, plinth = bench_plinth(frame, work, bodies, args.quick)
    raw = raw_limits(model, frame, 500 if args.quick else 5000)
    log("MLflow ...")
    mlflow = bench_mlflow(frame, work, bodies["mlflow"], args.quick)
    batch: list[dict[str, Any]] = []
    try:
        from serving_batch import bench_batch
    except ImportError:
        log("bench/serving_batch.py not found: no batch figures")
    else:
        log("Batch ...")
        batch = bench_batch(args.batch_rows or (200_000 if args.quick else 2_000_000))
    print(report(raw, plinth, mlflow, batch))
    if args.json:
        args.json.write_text(
            json.dumps(
                {"raw": raw, "plinth": plinth, "mlflow": mlflow, "batch": batch},
                indent=2,
                default=str,
            )
        )


if __name__ == "__main__":
    main()
