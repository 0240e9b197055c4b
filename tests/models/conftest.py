"""Builders for the model tests: a small churn-like table, fitted models of every flavor
(with the raw library call each one predicts with), and MLflow's own packages.

Every flavor library is real; nothing is mocked.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest

from plinth.models import PythonModel, PythonModelContext

# mlflow-skinny would otherwise start a telemetry thread posting usage data to the internet;
# set before any test imports mlflow, which reads it at import time.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

FEATURES = ["tenure", "calls"]


def make_frame(rows: int = 80, *, seed: int = 0) -> pd.DataFrame:
    """``tenure`` (double) and ``calls`` (long), as a client would send them."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"tenure": rng.uniform(0, 72, rows).round(2), "calls": rng.integers(0, 9, rows)}
    )


def make_labels(frame: pd.DataFrame) -> np.ndarray[Any, Any]:
    churned = (frame["tenure"] < 24) | (frame["calls"] > 5)
    return churned.astype("int64").to_numpy()


def fit_logistic(rows: int = 80) -> Any:
    """A logistic regression on ``make_frame``'s columns: a small real model to serve."""
    from sklearn.linear_model import LogisticRegression

    frame = make_frame(rows)
    return LogisticRegression(max_iter=1000).fit(frame, make_labels(frame))


class LinearScorer(PythonModel):
    """A custom model reading its weights from an artifact, as real ones read vocabularies."""

    def load_context(self, context: PythonModelContext) -> None:
        self.weights = json.loads(Path(context.artifacts["weights"]).read_text())

    def predict(self, context: PythonModelContext, model_input: Any) -> Any:
        return model_input["tenure"] * self.weights["tenure"] + model_input["calls"] * 0.5


class Echo(PythonModel):
    """Returns its input as the model saw it: shows what signature enforcement did."""

    def predict(self, context: PythonModelContext, model_input: Any) -> Any:
        return model_input


@dataclass(frozen=True, slots=True)
class Fitted:
    """A model of one flavor, what to predict on, and the library's own predict."""

    model: Any
    inputs: Any
    raw_predict: Callable[[Any], Any]
    artifacts: dict[str, str] | None = None


def fit(kind: str, tmp_path: Path) -> Fitted:
    """A fitted model of ``kind`` (the ids of ``FLAVOR_KINDS``)."""
    frame = make_frame()
    labels = make_labels(frame)
    return _BUILDERS[kind](frame, labels, tmp_path)


def _sklearn(frame: pd.DataFrame, labels: Any, _tmp: Path) -> Fitted:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=1000).fit(frame, labels)
    return Fitted(model, frame, model.predict)


def _sklearn_pipeline(frame: pd.DataFrame, labels: Any, _tmp: Path) -> Fitted:
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), GradientBoostingClassifier(n_estimators=10))
    model.fit(frame, labels)
    return Fitted(model, frame, model.predict)


def _xgboost(frame: pd.DataFrame, labels: Any, _tmp: Path) -> Fitted:
    from xgboost import XGBClassifier

    model = XGBClassifier(n_estimators=5, max_depth=2).fit(frame, labels)
    return Fitted(model, frame, model.predict)


def _xgboost_booster(frame: pd.DataFrame, labels: Any, _tmp: Path) -> Fitted:
    import xgboost as xgb

    booster = xgb.train({"max_depth": 2}, xgb.DMatrix(frame, label=labels), num_boost_round=5)
    return Fitted(booster, frame, lambda x: booster.predict(xgb.DMatrix(x)))


def _lightgbm(frame: pd.DataFrame, labels: Any, _tmp: Path) -> Fitted:
    from lightgbm import LGBMClassifier

    model = LGBMClassifier(n_estimators=5, min_child_samples=5, verbose=-1).fit(frame, labels)
    return Fitted(model, frame, model.predict)


def _lightgbm_booster(frame: pd.DataFrame, labels: Any, _tmp: Path) -> Fitted:
    import lightgbm as lgb

    params = {"objective": "binary", "min_data_in_leaf": 5, "verbose": -1}
    booster = lgb.train(params, lgb.Dataset(frame, label=labels), num_boost_round=5)
    return Fitted(booster, frame, booster.predict)


def _onnx(frame: pd.DataFrame, labels: Any, _tmp: Path) -> Fitted:
    import onnxruntime as ort  # type: ignore[import-untyped]
    from skl2onnx import to_onnx  # type: ignore[import-untyped]
    from sklearn.linear_model import LogisticRegression

    x = frame.to_numpy(dtype=np.float32)
    proto = to_onnx(LogisticRegression(max_iter=1000).fit(x, labels), x[:1])
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]

    def raw(data: Any) -> dict[str, Any]:
        outputs = session.run(names, {session.get_inputs()[0].name: data})
        return dict(zip(names, outputs, strict=True))

    return Fitted(proto, x, raw)


def _pyfunc(frame: pd.DataFrame, _labels: Any, tmp: Path) -> Fitted:
    weights = tmp / "weights.json"
    weights.write_text(json.dumps({"tenure": 0.25}))
    context = PythonModelContext(artifacts={"weights": str(weights)})
    model = LinearScorer()
    model.load_context(context)
    return Fitted(model, frame, lambda x: model.predict(context, x), {"weights": str(weights)})


_BUILDERS: dict[str, Callable[[pd.DataFrame, Any, Path], Fitted]] = {
    "sklearn": _sklearn,
    "sklearn_pipeline": _sklearn_pipeline,
    "xgboost": _xgboost,
    "xgboost_booster": _xgboost_booster,
    "lightgbm": _lightgbm,
    "lightgbm_booster": _lightgbm_booster,
    "onnx": _onnx,
    "pyfunc": _pyfunc,
}

FLAVOR_KINDS = [pytest.param(kind, id=kind) for kind in _BUILDERS]


def example_of(fitted: Fitted) -> Any:
    return fitted.inputs[:3]


def assert_same_predictions(actual: Any, expected: Any) -> None:
    """Equal predictions, whatever container the flavor returns them in."""
    if isinstance(expected, dict):
        assert sorted(actual) == sorted(expected)
        for name, value in expected.items():
            assert_same_predictions(actual[name], value)
    elif isinstance(expected, pd.DataFrame):
        pd.testing.assert_frame_equal(actual, expected)
    elif isinstance(expected, pd.Series):
        pd.testing.assert_series_equal(pd.Series(actual, name=expected.name), expected)
    elif isinstance(expected, list):
        assert actual == expected
    else:
        np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=1e-6)


@pytest.fixture
def mlflow(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The real ``mlflow`` (skinny): imported with its import-time warnings silenced, and
    allowed to unpickle models (it refuses unless told to; Plinth checks digests instead)."""
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mlflow
        import mlflow.lightgbm
        import mlflow.models
        import mlflow.onnx
        import mlflow.pyfunc
        import mlflow.sklearn
        import mlflow.xgboost
    return mlflow


def quietly(fn: Callable[[], object]) -> None:
    """Run an MLflow save: it warns about pickle and integer columns, which is noise here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn()
