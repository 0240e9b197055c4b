"""Model bench: load time and predict latency of ``plinth.models.load_model`` against the raw
in-process model (the limit) and ``mlflow.pyfunc.load_model``, on the same MLmodel packages.

    .venv/bin/python bench/models.py            # full run (~3 min)
    .venv/bin/python bench/models.py --quick    # smoke run (< 1 min)
      --mlflow-python PATH   interpreter for the MLflow side (see below)
      --json PATH            also write every figure
      --keep                 keep the packages under bench/.work/models-<time>/

The orchestrator fits one model per flavor (a scikit-learn Pipeline, XGBoost, LightGBM, ONNX
from skl2onnx, a ``plinth.models.PythonModel``) on 20 float features and saves each with
``plinth.models.save_model`` and an input example, so every package carries the signature
Plinth then enforces. Two child processes load every package and time predict on a 1-row and
a 1,000-row input (a DataFrame; a float32 ndarray for ONNX): the Plinth child
``plinth.models.load_model(path).predict``, the MLflow child
``mlflow.pyfunc.load_model(path).predict``. Both also time "raw": the library's own object,
loaded straight from the package's model file and called directly. Raw and system calls are
interleaved, batch by batch, so machine drift hits both; overhead is the median per call of
the system minus the median of raw in the same process.

The MLflow side runs, by default, under Plinth's own ``.venv``: its mlflow-skinny 3.17.2 ships
the same ``mlflow.pyfunc`` loader and flavor modules as full mlflow and has every flavor
library. ``--mlflow-python bench/.venvs/mlflow/bin/python`` runs it under full mlflow 3.17.2
instead, which has scikit-learn only (the other flavors show n/a there).
"""

from __future__ import annotations

import argparse
import functools
import json
import pickle
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from _common import REPO, WORK, clean_env, format_table, log, run_child, timed

SCRIPT = Path(__file__).resolve()
FLAVORS = ("sklearn", "xgboost", "lightgbm", "onnx", "pyfunc")
FEATURES = 20
TARGET_OVERHEAD_US = 50.0


@dataclass(frozen=True)
class Shape:
    rounds: int = 30
    """Interleaved batches per system and input."""
    calls: int = 40
    """Predict calls per batch (the per-call time is the batch mean)."""
    loads: int = 5
    trees: int = 100


QUICK = Shape(rounds=6, calls=10, loads=2, trees=20)


# -- data and models (orchestrator, Plinth's venv) ------------------------------------------------
def make_input(flavor: str, rows: int) -> Any:
    """The predict input: the same values in every process (seeded by the row count)."""
    import numpy as np
    import pandas as pd

    data = np.random.default_rng(rows).normal(size=(rows, FEATURES))
    if flavor == "onnx":
        return data.astype(np.float32)
    return pd.DataFrame(data, columns=[f"f{i}" for i in range(FEATURES)])


def fit_models(shape: Shape) -> dict[str, Any]:
    import numpy as np
    from lightgbm import LGBMClassifier
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from xgboost import XGBClassifier

    x = make_input("sklearn", 5_000)
    y = (x["f0"] + x["f1"] * x["f2"] > 0).astype(int).to_numpy()
    x32 = x.to_numpy(dtype=np.float32)
    return {
        "sklearn": make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y),
        # One thread each: on a small machine the scheduling noise of a thread pool would
        # swamp the microseconds this bench is after.
        "xgboost": XGBClassifier(n_estimators=shape.trees, max_depth=6, n_jobs=1).fit(x, y),
        "lightgbm": LGBMClassifier(n_estimators=shape.trees, n_jobs=1, verbose=-1).fit(x, y),
        "onnx": to_onnx(LogisticRegression(max_iter=1000).fit(x32, y), x32[:1]),
        "pyfunc": _scorer(np.linspace(-1, 1, FEATURES)),
    }


def _scorer(weights: Any) -> Any:
    # Defined here, not at module level: the MLflow child may lack plinth, and cloudpickle
    # stores a class defined in __main__ by value.
    from plinth.models import PythonModel

    class LinearScorer(PythonModel):
        def __init__(self, w: Any) -> None:
            self.w = w

        def predict(self, context: Any, model_input: Any) -> Any:
            return model_input.to_numpy() @ self.w

    return LinearScorer(weights)


def build_packages(root: Path, shape: Shape) -> None:
    from plinth.models import save_model

    for flavor, model in fit_models(shape).items():
        save_model(model, root / flavor, input_example=make_input(flavor, 5))


# -- children: one system each ----------------------------------------------------------------
def load_raw(flavor: str, package: Path) -> Callable[[Any], Any]:
    """The library's own model from the package's model file: the limit predict can reach."""
    if flavor in ("sklearn", "lightgbm"):
        with (package / "model.pkl").open("rb") as fh:
            return pickle.load(fh).predict  # type: ignore[no-any-return]
    if flavor == "xgboost":
        from xgboost import XGBClassifier

        model = XGBClassifier()
        model.load_model(str(package / "model.ubj"))
        return model.predict
    if flavor == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(
            str(package / "model.onnx"), providers=["CPUExecutionProvider"]
        )
        name = session.get_inputs()[0].name
        return lambda x: session.run(None, {name: x})
    with (package / "python_model.pkl").open("rb") as fh:
        return functools.partial(pickle.load(fh).predict, None)


def load_system(system: str, package: Path) -> Callable[[Any], Any]:
    if system == "plinth":
        from plinth.models import load_model

        return load_model(package).predict
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(str(package)).predict  # type: ignore[no-any-return]


def latency(
    raw: Callable[[], object], system: Callable[[], object], shape: Shape
) -> dict[str, Any]:
    """Seconds per call of raw and of the system (medians of batch means), and the system's
    overhead: the median of the per-round differences, each round timing a raw batch and a
    system batch back to back, so slow phases of the machine hit both."""
    raw(), system()
    raw_s: list[float] = []
    system_s: list[float] = []
    for _ in range(shape.rounds):
        for fn, samples in ((raw, raw_s), (system, system_s)):
            start = time.perf_counter()
            for _ in range(shape.calls):
                fn()
            samples.append((time.perf_counter() - start) / shape.calls)
    return {
        "raw": statistics.median(raw_s),
        "system": statistics.median(system_s),
        "overhead": statistics.median(s - r for s, r in zip(system_s, raw_s, strict=True)),
    }


def same_predictions(raw: Any, system: Any) -> bool:
    import numpy as np

    first = raw[0] if isinstance(raw, list) else raw
    if isinstance(system, dict):
        system = next(iter(system.values()))
    return bool(np.allclose(np.asarray(first, dtype=float), np.asarray(system, dtype=float)))


def input_makers(flavor: str) -> dict[str, Callable[[], Any]]:
    """One fixed row, 1,000 fixed rows and, for DataFrame flavors, a frame built anew for
    every call as a server does per request (its construction is timed for both sides)."""
    fixed = {n: make_input(flavor, n) for n in (1, 1_000)}
    makers: dict[str, Callable[[], Any]] = {
        "1 row": lambda: fixed[1],
        "1,000 rows": lambda: fixed[1_000],
    }
    if flavor != "onnx":
        import pandas as pd

        values, names = fixed[1].to_numpy(), list(fixed[1].columns)
        makers["1 row, new frame"] = lambda: pd.DataFrame(values, columns=list(names))
    return makers


def measure_flavor(system: str, flavor: str, package: Path, shape: Shape) -> dict[str, Any]:
    load_system(system, package)  # imports and caches warm before anything is timed
    load_raw(flavor, package)
    result: dict[str, Any] = {
        "load_system": statistics.median(
            timed(lambda: load_system(system, package)) for _ in range(shape.loads)
        ),
        "load_raw": statistics.median(
            timed(lambda: load_raw(flavor, package)) for _ in range(shape.loads)
        ),
        "predict": {},
    }
    raw, model = load_raw(flavor, package), load_system(system, package)
    for label, make in input_makers(flavor).items():
        times = latency(lambda m=make: raw(m()), lambda m=make: model(m()), shape)
        same = same_predictions(raw(make()), model(make()))
        result["predict"][label] = {**times, "same": same}
    return result


def child_main(args: argparse.Namespace) -> int:
    shape = QUICK if args.quick else Shape()
    results: dict[str, Any] = {}
    for flavor in FLAVORS:
        package = Path(args.packages) / flavor
        try:
            results[flavor] = measure_flavor(args.system, flavor, package, shape)
        except ImportError as exc:  # a flavor library missing from this interpreter
            log(f"{args.system}: {flavor} skipped ({exc})")
            results[flavor] = None
    Path(args.json_out).write_text(json.dumps(results))
    return 0


# -- orchestrator ---------------------------------------------------------------------------
def run_system(system: str, python: Path, packages: Path, quick: bool) -> dict[str, Any]:
    log(f"timing {system} under {python} ...")
    args = ["child", "--system", system, "--packages", str(packages)]
    env = clean_env(MLFLOW_ALLOW_PICKLE_DESERIALIZATION="true")
    out = packages.parent / f"{system}.json"
    return run_child(
        python, SCRIPT, [*args, *(["--quick"] if quick else [])], json_out=out, env=env
    )


def _us(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1e6:,.1f}"


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1e3:,.1f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "n/a" if a is None or b is None or b == 0 else f"{a / b:,.1f}x"


@dataclass(frozen=True)
class Row:
    label: str
    raw: float
    plinth: float
    plinth_overhead: float
    mlflow: float | None
    mlflow_overhead: float | None
    same: bool


def predict_rows(plinth: dict[str, Any], mlflow: dict[str, Any]) -> list[Row]:
    rows = []
    for flavor in FLAVORS:
        for label, p in plinth[flavor]["predict"].items():
            m = (mlflow.get(flavor) or {}).get("predict", {}).get(label)
            rows.append(
                Row(
                    label=f"{flavor}, {label}",
                    raw=p["raw"],
                    plinth=p["system"],
                    plinth_overhead=p["overhead"],
                    mlflow=m["system"] if m else None,
                    mlflow_overhead=m["overhead"] if m else None,
                    same=p["same"] and (m is None or m["same"]),
                )
            )
    return rows


def predict_table(plinth: dict[str, Any], mlflow: dict[str, Any]) -> tuple[str, list[Row]]:
    rows = predict_rows(plinth, mlflow)
    headers = [
        "predict (us/call)",
        "raw",
        "Plinth",
        "+Plinth",
        "MLflow",
        "+MLflow",
        "MLflow/Plinth",
    ]
    table = [
        [
            r.label + ("" if r.same else " MISMATCH"),
            _us(r.raw),
            _us(r.plinth),
            _us(r.plinth_overhead),
            _us(r.mlflow),
            _us(r.mlflow_overhead),
            _ratio(r.mlflow, r.plinth),
        ]
        for r in rows
    ]
    return format_table(headers, table), rows


def load_table(plinth: dict[str, Any], mlflow: dict[str, Any]) -> str:
    headers = ["load (ms)", "raw", "Plinth", "MLflow", "Plinth/raw", "MLflow/Plinth"]
    table = []
    for flavor in FLAVORS:
        raw, ours = plinth[flavor]["load_raw"], plinth[flavor]["load_system"]
        theirs = (mlflow.get(flavor) or {}).get("load_system")
        table.append(
            [flavor, _ms(raw), _ms(ours), _ms(theirs), _ratio(ours, raw), _ratio(theirs, ours)]
        )
    return format_table(headers, table)


def report(plinth: dict[str, Any], mlflow: dict[str, Any]) -> str:
    predict, rows = predict_table(plinth, mlflow)
    met = sum(r.plinth_overhead * 1e6 < TARGET_OVERHEAD_US for r in rows)
    return "\n".join(
        [
            predict,
            "(+X: median over rounds of X's per-call time minus raw's in the same process;"
            " raw: the library's model object called directly)",
            "",
            load_table(plinth, mlflow),
            "(Plinth's load includes the sha256 check of every package file)",
            "",
            f"target, Plinth predict overhead < {TARGET_OVERHEAD_US:.0f} us: met {met}/{len(rows)}",
        ]
    )


def orchestrate(args: argparse.Namespace) -> int:
    shape = QUICK if args.quick else Shape()
    root = WORK / f"models-{time.strftime('%Y%m%d-%H%M%S')}"
    packages = root / "packages"
    try:
        log(f"fitting and saving {len(FLAVORS)} models into {packages} ...")
        build_packages(packages, shape)
        plinth = run_system("plinth", Path(args.plinth_python).absolute(), packages, args.quick)
        mlflow = run_system("mlflow", Path(args.mlflow_python).absolute(), packages, args.quick)
        print(report(plinth, mlflow))
        if args.json:
            figures = {"shape": asdict(shape), "plinth": plinth, "mlflow": mlflow}
            Path(args.json).write_text(json.dumps(figures, indent=2))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    venv_python = str(REPO / ".venv" / "bin" / "python")
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (< 1 minute)")
    parser.add_argument("--json", metavar="PATH", help="also write every figure here")
    parser.add_argument("--keep", action="store_true", help="keep the packages under bench/.work")
    parser.add_argument("--plinth-python", default=venv_python)
    parser.add_argument("--mlflow-python", default=venv_python)
    sub = parser.add_subparsers(dest="command")
    child = sub.add_parser("child")
    child.add_argument("--system", choices=("plinth", "mlflow"), required=True)
    child.add_argument("--packages", required=True)
    child.add_argument("--quick", action="store_true")
    child.add_argument("--json-out", required=True)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return child_main(args) if args.command else orchestrate(args)


if __name__ == "__main__":
    sys.exit(main())
