"""The churn demo's steps, on a small data set and the quick grid."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import log_loss, roc_auc_score

import plinth
from plinth.client import Client
from plinth.config import Settings
from plinth.demo.churn import (
    EXPERIMENT_NAME,
    TARGET,
    DemoReport,
    GridPoint,
    binary_log_loss,
    default_grid,
    make_dataset,
    roc_auc,
    run_demo,
)

N_CUSTOMERS = 800


@dataclass(frozen=True, slots=True)
class QuickDemo:
    report: DemoReport
    settings: Settings
    client: Client


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> QuickDemo:
    """One quick demo shared by the read-only tests of this module (it takes seconds)."""
    settings = Settings(home=tmp_path_factory.mktemp("demo") / "home")
    plinth.set_tracking_uri(settings=settings)
    report = run_demo(n_customers=N_CUSTOMERS, quick=True)
    return QuickDemo(report=report, settings=settings, client=Client(settings))


# -- data ------------------------------------------------------------------------------------
def test_dataset_has_the_requested_customers_split_for_validation() -> None:
    data = make_dataset(1000, seed=1)

    assert len(data.train) + len(data.validation) == 1000
    assert len(data.validation) == 200
    assert set(data.features) | {TARGET} == set(data.train.columns)
    assert 0.15 < data.churn_rate < 0.40


def test_dataset_is_reproducible_from_its_seed() -> None:
    first, again, other = (
        make_dataset(300, seed=3),
        make_dataset(300, seed=3),
        make_dataset(300, seed=4),
    )

    assert first.train.equals(again.train)
    assert not first.train.equals(other.train)


def test_churn_follows_the_ground_truth_drivers() -> None:
    frame = make_dataset(5000, seed=0).train

    by_contract = frame.groupby("contract")[TARGET].mean()
    assert by_contract["month-to-month"] > by_contract["one-year"] > by_contract["two-year"]
    assert (
        frame[frame.tenure_months < 6][TARGET].mean()
        > frame[frame.tenure_months > 36][TARGET].mean()
    )


@pytest.mark.parametrize(
    "scores",
    [
        pytest.param(np.linspace(0.01, 0.99, 50), id="distinct"),
        pytest.param(np.round(np.linspace(0.0, 1.0, 50), 1), id="ties-and-extremes"),
    ],
)
def test_metrics_match_scikit_learn(scores: np.ndarray[Any, Any]) -> None:
    labels = (np.arange(50) % 3 == 0).astype(int)

    assert roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores))
    assert binary_log_loss(labels, scores) == pytest.approx(log_loss(labels, scores))


# -- grid ------------------------------------------------------------------------------------
def test_default_grid_covers_three_families_in_six_to_eight_runs() -> None:
    grid = default_grid()

    assert 6 <= len(grid) <= 8
    assert {p.family for p in grid} == {"logistic_regression", "gradient_boosting", "random_forest"}
    assert len({p.name for p in grid}) == len(grid)


def test_grid_point_names_are_short_and_readable() -> None:
    point = GridPoint(family="random_forest", params={"n_estimators": 100, "max_depth": None})

    assert point.name == "rf-n100-dfull"


# -- a whole quick demo ----------------------------------------------------------------------
def test_report_ranks_the_runs_by_validation_auc(quick: QuickDemo) -> None:
    aucs = [run.val_auc for run in quick.report.ranked]

    assert len(quick.report.ranked) == len(default_grid(quick=True))
    assert aucs == sorted(aucs, reverse=True)
    assert quick.report.experiment_name == EXPERIMENT_NAME
    assert all(0.5 < auc <= 1.0 for auc in aucs)


def test_every_run_has_params_inputs_and_final_metrics(quick: QuickDemo) -> None:
    for ranked in quick.report.ranked:
        run = quick.client.get_run(ranked.run_id)

        assert run.info.status == "FINISHED"
        assert run.data.params["model.family"] == ranked.family
        assert run.data.params["data.n_customers"] == str(N_CUSTOMERS)
        assert {"val_auc", "val_accuracy", "val_log_loss", "train_auc"} <= set(run.data.metrics)
        contexts = {i.context for i in run.inputs.dataset_inputs}
        assert contexts == {"training", "validation"}


def _run_of(quick: QuickDemo, family: str) -> str:
    return next(r.run_id for r in quick.report.ranked if r.family == family)


@pytest.mark.parametrize(
    ("family", "steps"),
    [
        pytest.param("gradient_boosting", list(range(1, 16)), id="gbm-every-stage"),
        pytest.param("random_forest", list(range(1, 11)), id="rf-as-trees-grow"),
    ],
)
def test_metric_histories_follow_training(quick: QuickDemo, family: str, steps: list[int]) -> None:
    run_id = _run_of(quick, family)

    history = quick.client.get_metric_history(run_id, "val_auc")

    assert [m.step for m in history] == steps
    assert history[-1].value == pytest.approx(quick.client.get_run(run_id).data.metrics["val_auc"])


def test_logistic_regression_history_has_several_iterations(quick: QuickDemo) -> None:
    run_id = _run_of(quick, "logistic_regression")

    steps = [m.step for m in quick.client.get_metric_history(run_id, "val_log_loss")]

    assert len(steps) > 1
    assert steps == sorted(steps)


def test_gbm_also_logs_its_training_loss(quick: QuickDemo) -> None:
    run_id = _run_of(quick, "gradient_boosting")

    assert len(quick.client.get_metric_history(run_id, "train_loss")) == 15


def test_the_logged_model_predicts_on_raw_customer_rows(quick: QuickDemo, tmp_path: Path) -> None:
    best = quick.report.best
    local = quick.client.download_artifacts(best.run_id, "model", tmp_path / "dl")
    model = pickle.loads((local / "model.pkl").read_bytes())
    rows = make_dataset(N_CUSTOMERS).validation

    probability = model.predict_proba(rows.drop(columns=[TARGET]))[:, 1]

    assert (local / "MLmodel").is_file()
    assert roc_auc(rows[TARGET].to_numpy(), probability) == pytest.approx(best.val_auc)


def test_each_runs_logged_model_carries_its_final_metrics(quick: QuickDemo) -> None:
    for ranked in quick.report.ranked:
        run = quick.client.get_run(ranked.run_id)
        (output,) = run.outputs.model_outputs
        metrics = quick.client.get_logged_model(output.model_id).metrics

        # Logged at the last training step: that step's points are the model's too.
        assert {m.step for m in metrics} == {output.step}
        by_key = {m.key: m.value for m in metrics}
        assert by_key["val_auc"] == pytest.approx(run.data.metrics["val_auc"])
        assert by_key["val_auc"] == pytest.approx(ranked.val_auc)


def test_report_says_where_everything_is(quick: QuickDemo) -> None:
    report = quick.report

    assert report.store_uri == quick.settings.store_uri
    assert report.artifact_root == quick.settings.artifact_root
    assert report.best_model_uri.endswith(f"{report.best.run_id}/artifacts/model")
    assert report.best_model_location is not None
    assert (Path(report.best_model_location) / "MLmodel").is_file()


def test_a_second_demo_ranks_only_its_own_runs(tmp_path: Path) -> None:
    plinth.set_tracking_uri(settings=Settings(home=tmp_path / "home"))
    first = run_demo(n_customers=300, quick=True)

    again = run_demo(n_customers=300, quick=True)

    assert len(again.ranked) == len(first.ranked)
    assert not {r.run_id for r in again.ranked} & {r.run_id for r in first.ranked}
    assert again.experiment_id == first.experiment_id
