"""The churn demo: a synthetic customer data set, a small model grid, every fit a tracked run.

Named steps, so later parts extend them (:mod:`plinth.demo.lifecycle` registers the best model):
:func:`make_dataset` (known logistic ground truth), :func:`train_one` (one run: params,
config, data inputs, per-iteration and final metrics, the ``MLmodel``), :func:`run_grid`
and :func:`report` (ranking through ``plinth.search_runs``, and where everything is).
It logs through the fluent API: wherever ``plinth.set_tracking_uri`` points, embedded or a server.
"""

from __future__ import annotations

import time
import uuid
import warnings
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

import plinth
from plinth.entities import Metric, now_ms
from plinth.errors import PlinthError

EXPERIMENT_NAME = "churn-demo"
TARGET = "churned"
NUMERIC = ["tenure_months", "monthly_charges", "total_charges", "support_calls", "num_products"]
CATEGORICAL = ["contract", "internet_service", "payment_method", "paperless_billing", "senior"]
PAYMENT_METHODS = ["electronic-check", "mailed-check", "bank-transfer", "credit-card"]
CONTRACT_MIX = [0.55, 0.25, 0.2]
CONTRACT_LOG_ODDS = {"month-to-month": 0.9, "one-year": -0.6, "two-year": -1.8}
VALIDATION_FRACTION = 0.2
BATCH_TAG = "demo_batch"
"""Tags the runs of one ``run_demo`` call, so the ranking ignores earlier demos."""
RANDOM_STATE = 0
"""Seed of the estimators (the data has its own)."""
METRIC_BATCH = 1000
"""MLflow's limit of metrics per ``log_batch``."""

Family = Literal["logistic_regression", "gradient_boosting", "random_forest"]
History = dict[str, list[tuple[int, float]]]
"""Per-iteration metrics: key -> ``(step, value)`` points."""


# -- 1. data ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class ChurnData:
    """Customers split into training and validation frames (features plus ``churned``)."""

    train: pd.DataFrame
    validation: pd.DataFrame
    seed: int

    @property
    def features(self) -> list[str]:
        return [*NUMERIC, *CATEGORICAL]

    @property
    def churn_rate(self) -> float:
        return float(pd.concat([self.train[TARGET], self.validation[TARGET]]).mean())


def make_dataset(n_customers: int = 5000, *, seed: int = 42) -> ChurnData:
    """Draw ``n_customers`` customers whose churn follows a known logistic model.

    Short tenure, month-to-month contracts, high charges, many support calls (a jump at
    four), electronic checks and new fiber customers raise the odds; the best possible
    validation AUC is about 0.82, so models have room to differ.
    """
    rng = np.random.default_rng(seed)
    customers = _draw_customers(rng, n_customers)
    probability = 1 / (1 + np.exp(-_churn_logit(customers)))
    customers[TARGET] = (rng.random(n_customers) < probability).astype(int)
    shuffled = customers.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    n_validation = max(1, round(n_customers * VALIDATION_FRACTION))
    return ChurnData(
        train=shuffled.iloc[n_validation:].reset_index(drop=True),
        validation=shuffled.iloc[:n_validation].reset_index(drop=True),
        seed=seed,
    )


def _draw_customers(rng: np.random.Generator, n: int) -> pd.DataFrame:
    tenure = np.clip(rng.exponential(26, n), 1, 72).astype(int)
    internet = rng.choice(["none", "dsl", "fiber"], n, p=[0.2, 0.4, 0.4])
    products = rng.integers(1, 6, n)
    internet_cost = np.select([internet == "dsl", internet == "fiber"], [15.0, 35.0], 0.0)
    monthly = np.clip(18 + 9 * products + internet_cost + rng.normal(0, 5, n), 18, None)
    return pd.DataFrame(
        {
            "tenure_months": tenure,
            "monthly_charges": monthly.round(2),
            "total_charges": (monthly * tenure * rng.normal(1, 0.05, n)).round(2),
            "support_calls": rng.poisson(1.0 + 0.8 * (internet == "fiber")),
            "num_products": products,
            "contract": rng.choice(["month-to-month", "one-year", "two-year"], n, p=CONTRACT_MIX),
            "internet_service": internet,
            "payment_method": rng.choice(PAYMENT_METHODS, n, p=[0.35, 0.2, 0.25, 0.2]),
            "paperless_billing": np.where(rng.random(n) < 0.6, "yes", "no"),
            "senior": np.where(rng.random(n) < 0.16, "yes", "no"),
        }
    )


def _churn_logit(c: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.float64]]:
    contract = c.contract.map(CONTRACT_LOG_ODDS).to_numpy(dtype=np.float64)
    calls = c.support_calls.to_numpy()
    new_fiber = (c.internet_service == "fiber") & (c.tenure_months < 12)
    logit = (
        -0.7
        + contract
        - 0.55 * np.log1p(c.tenure_months.to_numpy())
        + 0.025 * (c.monthly_charges.to_numpy() - 70)
        + 0.35 * calls
        + 0.9 * (calls >= 4)
        + 0.5 * (c.payment_method == "electronic-check").to_numpy()
        + 0.3 * (c.senior == "yes").to_numpy()
        + 0.2 * (c.paperless_billing == "yes").to_numpy()
        + 0.8 * new_fiber.to_numpy()
    )
    return np.asarray(logit, dtype=np.float64)


# -- 2. one grid point -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class GridPoint:
    """One model configuration of the grid: ``params`` go to the estimator as they are."""

    family: Family
    params: Mapping[str, float | int | None] = field(default_factory=dict)
    max_steps: int = 50
    """Warm-start slices at most (logistic regression: two L-BFGS iterations each)."""

    @property
    def name(self) -> str:
        """A short run name: ``gbm-n200-d3``, ``logreg-C0.1``, ``rf-n200-dfull-leaf5``."""
        parts = [
            f"{_SHORT_KEYS.get(key, key)}{'full' if value is None else value}"
            for key, value in self.params.items()
        ]
        return "-".join([_SHORT[self.family], *parts])


_SHORT = {"logistic_regression": "logreg", "gradient_boosting": "gbm", "random_forest": "rf"}
_SHORT_KEYS = {"n_estimators": "n", "max_depth": "d", "min_samples_leaf": "leaf"}


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    run_id: str
    name: str
    family: Family
    val_auc: float
    seconds: float


def train_one(point: GridPoint, data: ChurnData, *, experiment_id: str, batch: str) -> RunResult:
    """Train ``point`` in a new run and log everything a reviewer needs to trust it."""
    started = time.perf_counter()
    tags = {BATCH_TAG: batch, "model_family": point.family}
    description = f"Churn demo: {point.family} on {len(data.train)} customers."
    with plinth.start_run(
        run_name=point.name, experiment_id=experiment_id, tags=tags, description=description
    ) as run:
        _log_setup(point, data)
        features = encode(data)
        estimator, history = FITTERS[point.family](point, features)
        final = {k: v for k, v in evaluate(estimator, features).items() if k not in history}
        final_step = max((step for points in history.values() for step, _ in points), default=0)
        log_history(run.run_id, history)
        plinth.log_metrics(final, step=final_step)
        log_model(features, estimator, data.validation[data.features].head(5), step=final_step)
    val_auc = history["val_auc"][-1][1] if "val_auc" in history else final["val_auc"]
    return RunResult(
        run_id=run.run_id,
        name=point.name,
        family=point.family,
        val_auc=val_auc,
        seconds=time.perf_counter() - started,
    )


def _log_setup(point: GridPoint, data: ChurnData) -> None:
    plinth.log_params(point.params)
    n_customers = len(data.train) + len(data.validation)
    split = {"n_customers": n_customers, "validation_fraction": VALIDATION_FRACTION}
    model = {"family": point.family, "params": dict(point.params)}
    plinth.log_config({"model": model, "data": {**split, "seed": data.seed}})
    plinth.log_input(data.train, name="churn-train", context="training")
    plinth.log_input(data.validation, name="churn-validation", context="validation")


def log_history(run_id: str, history: History) -> None:
    """Log per-iteration metrics in batches (one request each, not one per point)."""
    timestamp = now_ms()
    metrics = [
        Metric(key=key, value=value, timestamp=timestamp, step=step)
        for key, points in history.items()
        for step, value in points
    ]
    client = plinth.get_client()
    for start in range(0, len(metrics), METRIC_BATCH):
        client.log_batch(run_id, metrics=metrics[start : start + METRIC_BATCH])


def log_model(features: Features, estimator: Any, example: pd.DataFrame, *, step: int) -> None:
    """Log the fitted preprocessor and estimator as one model that takes raw customer rows:
    an MLmodel package under the run's ``model/``, its signature inferred from ``example``.
    Logged at the last training step, the model carries that step's metrics (val_auc...)."""
    from sklearn.pipeline import Pipeline

    model = Pipeline([("features", features.preprocessor), ("model", estimator)])
    plinth.log_model(model, "model", input_example=example, step=step)


# -- models ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class Features:
    """The data as the estimators see it: encoded once per run, not once per warm-start slice."""

    preprocessor: Any
    x_train: Any
    y_train: np.ndarray[Any, np.dtype[np.int64]]
    x_val: Any
    y_val: np.ndarray[Any, np.dtype[np.int64]]


def encode(data: ChurnData) -> Features:
    """Fit the scaler and one-hot encoder on the training split and encode both splits."""
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    preprocessor = ColumnTransformer(
        [
            ("numeric", StandardScaler(), NUMERIC),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
        ]
    )
    return Features(
        preprocessor=preprocessor,
        x_train=preprocessor.fit_transform(data.train[data.features]),
        y_train=data.train[TARGET].to_numpy(dtype=np.int64),
        x_val=preprocessor.transform(data.validation[data.features]),
        y_val=data.validation[TARGET].to_numpy(dtype=np.int64),
    )


def roc_auc(y: np.ndarray[Any, Any], score: np.ndarray[Any, Any]) -> float:
    """Area under the ROC curve: the Mann-Whitney U statistic, tied scores sharing ranks.

    Computed here because sklearn's input validation costs more than the metric itself
    when it runs after every boosting stage.
    """
    positive = np.asarray(y) == 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    rank_sum = float(_average_ranks(np.asarray(score))[positive].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def _average_ranks(values: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.float64]]:
    order = np.argsort(values, kind="mergesort")
    _unique, first, counts = np.unique(values[order], return_index=True, return_counts=True)
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat(first + (counts + 1) / 2, counts)
    return ranks


def binary_log_loss(y: np.ndarray[Any, Any], probability: np.ndarray[Any, Any]) -> float:
    eps = np.finfo(np.float64).eps
    p = np.clip(probability, eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _scores(y: np.ndarray[Any, Any], probability: np.ndarray[Any, Any]) -> dict[str, float]:
    return {"val_auc": roc_auc(y, probability), "val_log_loss": binary_log_loss(y, probability)}


def evaluate(estimator: Any, features: Features) -> dict[str, float]:
    """Final metrics: validation AUC, accuracy and log-loss, and training AUC."""
    probability = estimator.predict_proba(features.x_val)[:, 1]
    return {
        **_scores(features.y_val, probability),
        "val_accuracy": float(np.mean((probability >= 0.5) == features.y_val)),
        "train_auc": roc_auc(features.y_train, estimator.predict_proba(features.x_train)[:, 1]),
    }


def fit_logistic_regression(point: GridPoint, features: Features) -> tuple[Any, History]:
    """L-BFGS two iterations at a time (warm start), scoring after each slice."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    estimator = LogisticRegression(**point.params, max_iter=2, warm_start=True)
    history, iterations = _empty_history(), 0
    for _ in range(point.max_steps):
        with warnings.catch_warnings():
            # Each slice stops at max_iter on purpose; that is not a convergence problem.
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator.fit(features.x_train, features.y_train)
        iterations += int(estimator.n_iter_[0])
        _score_into(history, iterations, features, estimator.predict_proba(features.x_val))
        if estimator.n_iter_[0] < estimator.max_iter:
            break
    return estimator, history


def fit_gradient_boosting(point: GridPoint, features: Features) -> tuple[Any, History]:
    """Fit once; score every boosting stage with ``staged_predict_proba`` (step = stage)."""
    from sklearn.ensemble import GradientBoostingClassifier

    estimator = GradientBoostingClassifier(**point.params, random_state=RANDOM_STATE)
    estimator.fit(features.x_train, features.y_train)
    history = _empty_history()
    for stage, probability in enumerate(estimator.staged_predict_proba(features.x_val), start=1):
        _score_into(history, stage, features, probability)
    history["train_loss"] = [(i, float(v)) for i, v in enumerate(estimator.train_score_, start=1)]
    return estimator, history


def fit_random_forest(point: GridPoint, features: Features) -> tuple[Any, History]:
    """Grow the forest in ten slices (warm start), scoring as trees are added (step = trees)."""
    from sklearn.ensemble import RandomForestClassifier

    n_trees = int(point.params.get("n_estimators") or 100)
    estimator = RandomForestClassifier(**point.params, warm_start=True, random_state=RANDOM_STATE)
    history = _empty_history()
    slice_size = max(1, n_trees // 10)
    for trees in sorted({*range(slice_size, n_trees, slice_size), n_trees}):
        estimator.set_params(n_estimators=trees)
        estimator.fit(features.x_train, features.y_train)
        _score_into(history, trees, features, estimator.predict_proba(features.x_val))
    return estimator, history


def _empty_history() -> History:
    return {"val_auc": [], "val_log_loss": []}


def _score_into(history: History, step: int, features: Features, proba: Any) -> None:
    for key, value in _scores(features.y_val, proba[:, 1]).items():
        history[key].append((step, value))


FITTERS: dict[Family, Callable[[GridPoint, Features], tuple[Any, History]]] = {
    "logistic_regression": fit_logistic_regression,
    "gradient_boosting": fit_gradient_boosting,
    "random_forest": fit_random_forest,
}


# -- 3. the grid -----------------------------------------------------------------------------
def default_grid(*, quick: bool = False) -> list[GridPoint]:
    """Eight runs (about ten seconds on two cores), or three tiny ones with ``quick``."""
    if quick:
        return [
            GridPoint(family="logistic_regression", params={"C": 1.0}, max_steps=3),
            GridPoint(family="gradient_boosting", params={"n_estimators": 15, "max_depth": 2}),
            GridPoint(family="random_forest", params={"n_estimators": 10, "max_depth": 4}),
        ]
    boosting = [{"n_estimators": n, "max_depth": d} for n in (100, 200) for d in (2, 3)]
    forest = {"n_estimators": 100, "min_samples_leaf": 5}
    return [
        *(GridPoint(family="logistic_regression", params={"C": c}) for c in (0.1, 1.0)),
        *(GridPoint(family="gradient_boosting", params=params) for params in boosting),
        *(GridPoint(family="random_forest", params={**forest, "max_depth": d}) for d in (6, None)),
    ]


class GridProgress:
    """What ``run_grid`` reports while it trains; silent here, a progress bar in the CLI."""

    def started(self, point: GridPoint) -> None:
        """``point`` is about to train."""

    def finished(self, result: RunResult) -> None:
        """A run finished."""


def run_grid(
    points: Sequence[GridPoint],
    data: ChurnData,
    *,
    experiment_id: str,
    batch: str,
    progress: GridProgress | None = None,
) -> list[RunResult]:
    """Train every grid point, each in its own run, in order."""
    progress = progress or GridProgress()
    results = []
    for point in points:
        progress.started(point)
        results.append(train_one(point, data, experiment_id=experiment_id, batch=batch))
        progress.finished(results[-1])
    return results


# -- 4. the report ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class RankedRun:
    run_id: str
    name: str
    family: str
    val_auc: float
    val_accuracy: float
    val_log_loss: float


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoReport:
    """What the demo did and where it left everything."""

    experiment_id: str
    experiment_name: str
    ranked: list[RankedRun]
    store_uri: str
    artifact_root: str
    best_model_uri: str
    best_model_location: str | None
    churn_rate: float
    n_customers: int
    seconds: float

    @property
    def best(self) -> RankedRun:
        return self.ranked[0]


def report(experiment_id: str, data: ChurnData, *, batch: str, seconds: float) -> DemoReport:
    """Rank this batch's runs by validation AUC, as ``plinth.search_runs`` returns them."""
    frame = plinth.search_runs(
        experiment_ids=[experiment_id],
        filter_string=f"tags.{BATCH_TAG} = '{batch}'",
        order_by=["metrics.val_auc DESC"],
    )
    if frame.empty:
        raise PlinthError(f"search_runs found none of the demo's runs (batch {batch}).")
    ranked = [_ranked_run(row) for row in frame.to_dict("records")]
    client = plinth.get_client()
    best_uri = f"{frame['artifact_uri'].iloc[0].rstrip('/')}/model"
    return DemoReport(
        experiment_id=experiment_id,
        experiment_name=client.get_experiment(experiment_id).name,
        ranked=ranked,
        store_uri=client.tracking_uri,
        artifact_root=client.settings.artifact_root,
        best_model_uri=best_uri,
        best_model_location=None if client.settings.is_remote else _local_location(best_uri),
        churn_rate=data.churn_rate,
        n_customers=len(data.train) + len(data.validation),
        seconds=seconds,
    )


def _ranked_run(row: Mapping[Hashable, Any]) -> RankedRun:
    return RankedRun(
        run_id=str(row["run_id"]),
        name=str(row.get("tags.mlflow.runName") or row["run_id"]),
        family=str(row.get("tags.model_family", "")),
        val_auc=float(row["metrics.val_auc"]),
        val_accuracy=float(row["metrics.val_accuracy"]),
        val_log_loss=float(row["metrics.val_log_loss"]),
    )


def _local_location(uri: str) -> str:
    store, path = plinth.get_client().artifact_store_for(uri)
    return f"{store.root.rstrip('/')}/{path}" if path else store.root


# -- all together ----------------------------------------------------------------------------
def run_demo(
    *,
    n_customers: int = 5000,
    seed: int = 42,
    quick: bool = False,
    grid: Sequence[GridPoint] | None = None,
    progress: GridProgress | None = None,
) -> DemoReport:
    """Make the data, train the grid into experiment ``churn-demo`` and rank the runs.

    Logs wherever the fluent API points (``plinth.set_tracking_uri``).
    """
    started = time.perf_counter()
    data = make_dataset(n_customers, seed=seed)
    experiment = plinth.set_experiment(EXPERIMENT_NAME)
    batch = uuid.uuid4().hex[:12]
    points = list(grid) if grid is not None else default_grid(quick=quick)
    run_grid(points, data, experiment_id=experiment.experiment_id, batch=batch, progress=progress)
    seconds = time.perf_counter() - started
    return report(experiment.experiment_id, data, batch=batch, seconds=seconds)
