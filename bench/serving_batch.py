"""Batch inference bench: ``batch_predict`` rows/s with 1 worker and with every core against a
raw single-process ``model.predict`` loop over the same Parquet file's batches.

    .venv/bin/python bench/serving_batch.py                  # 1,000,000 rows (~1-2 min)
    .venv/bin/python bench/serving_batch.py --rows 200000    # smoke run
      --json PATH   also write every figure
      --keep        keep the data, package and outputs under bench/.work/batch-<time>/

Input: ``rows`` rows of an id and 20 float features in one Parquet file, row groups of
``CHUNK_ROWS``. Models: a scikit-learn ``HistGradientBoostingClassifier`` (100 trees: predict
dominates, as for most tabular models) and a ``LogisticRegression`` (predict is nearly free,
so reading and writing dominate: the worst case for any batch runner), each saved with
``plinth.models.save_model``.

- **raw**: the library's own model object (unpickled from the package), one native thread,
  ``for batch in ParquetFile.iter_batches(CHUNK_ROWS): model.predict(batch.to_pandas())``:
  reading and predicting, nothing written. The floor for one core.
- **Plinth, 1 worker**: ``batch_predict(..., workers=1)``, one native thread:
  reading, signature checks, predicting, writing ids + predictions + model version, the
  input digest, the manifest and the tracking run.
- **Plinth, N workers**: ``workers=os.cpu_count()``, a process pool (one native thread each).

Each Plinth job runs in a fresh process and is timed from the call (imports excluded), so
every job pays its pool's start-up, as ``plinth batch predict`` does.

Per core, two ways. **cpu/core** (the target's measure): rows per CPU-second of the workers'
chunks (``BatchResult.cpu_seconds``: reading, predicting, writing; all threads) over raw's
rows per CPU-second; it holds on a machine other jobs share. **wall/core**: Plinth's
wall-clock rows/s per worker over raw's, start-up and the input digest included; on a busy
machine the N-worker rows wander with the neighbours (read the load average printed below
the table). **fixed**: wall seconds of the same job on a one-chunk input (pool start-up,
model load, tracking run).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import WORK, ChildFailed, format_table, log

SCRIPT = Path(__file__).resolve()
FEATURES = [f"f{i}" for i in range(20)]
CHUNK_ROWS = 100_000
TRAIN_ROWS = 20_000
TARGET = 0.8


def make_input(path: Path, rows: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    with pq.ParquetWriter(path, _schema()) as writer:
        for start in range(0, rows, CHUNK_ROWS):
            n = min(CHUNK_ROWS, rows - start)
            values = np.random.default_rng(start).normal(size=(n, len(FEATURES)))
            ids = pa.array(np.arange(start, start + n, dtype=np.int64))
            columns = [ids, *(pa.array(values[:, i]) for i in range(len(FEATURES)))]
            writer.write_table(pa.Table.from_arrays(columns, schema=_schema()))


def _schema() -> Any:
    import pyarrow as pa

    return pa.schema([("customer_id", pa.int64()), *((f, pa.float64()) for f in FEATURES)])


def save_models(root: Path) -> dict[str, Path]:
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    from plinth.models import save_model

    x = pd.DataFrame(np.random.default_rng(7).normal(size=(TRAIN_ROWS, 20)), columns=FEATURES)
    y = (x["f0"] + x["f1"] * x["f2"] > 0).astype(int)
    models = {
        "gradient boosting": HistGradientBoostingClassifier(max_iter=100, random_state=0),
        "logistic regression": LogisticRegression(max_iter=1000),
    }
    packages = {}
    for label, model in models.items():
        packages[label] = root / label.replace(" ", "-")
        save_model(model.fit(x, y), packages[label], input_example=x.head())
    return packages


def raw_loop(package: Path, source: Path) -> tuple[float, float]:
    """Wall and CPU seconds of the raw read + predict loop (the faster of two runs)."""
    import pyarrow.parquet as pq
    from threadpoolctl import threadpool_limits

    with (package / "model.pkl").open("rb") as fh:
        model = pickle.load(fh)

    def once() -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        with pq.ParquetFile(source) as parquet:
            for batch in parquet.iter_batches(batch_size=CHUNK_ROWS, columns=FEATURES):
                model.predict(batch.to_pandas())
        return time.perf_counter() - wall, time.process_time() - cpu

    with threadpool_limits(1):
        return min(once(), once())


def plinth_job(
    package: Path, source: Path, out: Path, workers: int, home: Path
) -> tuple[float, float]:
    """Wall seconds of one ``batch_predict`` call in a fresh process (as ``plinth batch
    predict`` runs: worker start-up is paid every time), and its workers' CPU seconds."""
    shutil.rmtree(out, ignore_errors=True)
    args = [str(package), str(source), str(out), str(workers), str(home)]
    child = subprocess.run(
        [sys.executable, str(SCRIPT), "job", *args], capture_output=True, text=True, check=False
    )
    if child.returncode != 0:
        raise ChildFailed(f"batch job exited {child.returncode}: {child.stderr[-2000:]}")
    wall, cpu = child.stdout.split()[-2:]
    return float(wall), float(cpu)


def job_main(args: list[str]) -> None:
    """The child of ``plinth_job``: imports first, then times the call alone."""
    # Loaded before the limit below: threadpoolctl caps only the thread pools (OpenMP,
    # OpenBLAS) of libraries already loaded, and raw's process has them loaded too.
    import sklearn.ensemble
    import sklearn.linear_model  # noqa: F401
    from threadpoolctl import threadpool_limits

    from plinth.client import Client
    from plinth.config import Settings
    from plinth.serving.batch import batch_predict

    package, source, out, workers, home = args
    client = Client(Settings(home=Path(home)))
    with threadpool_limits(1 if workers == "1" else None):
        start = time.perf_counter()
        result = batch_predict(
            package,
            source,
            out,
            id_cols=["customer_id"],
            chunk_rows=CHUNK_ROWS,
            workers=int(workers),
            client=client,
            progress=False,
        )
        print(time.perf_counter() - start, result.cpu_seconds)


def bench_model(
    label: str, package: Path, source: Path, tiny: Path, rows: int, work: Path
) -> list[dict[str, Any]]:
    raw_wall, raw_cpu = raw_loop(package, source)
    results = []
    for workers in sorted({1, os.cpu_count() or 1}):
        seconds, cpu = plinth_job(package, source, work / "out", workers, work / "home")
        fixed, _ = plinth_job(package, tiny, work / "out-tiny", workers, work / "home")
        name = "1 worker" if workers == 1 else f"{workers} workers (all cores)"
        results.append(
            {
                "label": f"{label}, {name}",
                "model": label,
                "workers": workers,
                "rows": rows,
                "seconds": seconds,
                "cpu_seconds": cpu,
                "fixed_seconds": fixed,
                "plinth": rows / seconds,
                "raw": rows / raw_wall,
                "raw_cpu_seconds": raw_cpu,
                "per_core_ratio": raw_cpu / cpu,
                "wall_per_core_ratio": raw_wall / seconds / workers,
            }
        )
        log(f"  {results[-1]['label']}: {rows / seconds:,.0f} rows/s ({seconds:.2f} s)")
    return results


def bench_batch(rows: int, *, keep: bool = False) -> list[dict[str, Any]]:
    """Plinth batch predict vs the raw predict loop, per model and worker count."""
    work = WORK / f"batch-{time.strftime('%Y%m%d-%H%M%S')}"
    work.mkdir(parents=True)
    try:
        source, tiny = work / "input.parquet", work / "tiny.parquet"
        log(f"batch: writing {rows:,} rows and fitting the models ...")
        make_input(source, rows)
        make_input(tiny, 1_000)
        results = []
        for label, package in save_models(work / "models").items():
            results += bench_model(label, package, source, tiny, rows, work)
        return results
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def report(results: list[dict[str, Any]]) -> str:
    headers = [
        "batch predict",
        "raw rows/s",
        "plinth rows/s",
        "fixed s",
        "wall/core",
        "cpu/core",
        f"cpu/core >= {TARGET:.0%}",
    ]
    rows = [
        [
            r["label"],
            f"{r['raw']:,.0f}",
            f"{r['plinth']:,.0f}",
            f"{r['fixed_seconds']:.2f}",
            f"{r['wall_per_core_ratio']:.0%}",
            f"{r['per_core_ratio']:.0%}",
            "PASS" if r["per_core_ratio"] >= TARGET else "FAIL",
        ]
        for r in results
    ]
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    notes = [
        "(wall/core: Plinth's wall-clock rows/s per worker over raw's, start-up included;"
        " cpu/core: rows per CPU-second of the workers' chunks over raw's rows per CPU-second;"
        " fixed: wall seconds of the same job on one chunk)",
        f"load average at the end: {load} on {os.cpu_count()} cores",
    ]
    return "\n".join([format_table(headers, rows), *notes])


def main() -> None:
    if sys.argv[1:2] == ["job"]:
        job_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    results = bench_batch(args.rows, keep=args.keep)
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
