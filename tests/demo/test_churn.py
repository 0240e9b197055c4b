"""The churn demo's steps, on a small data set and the quick grid."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import log_loss, roc_auc_score

import plinth
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


@pytest.fixture
def demo_settings(tmp_path: Path) -> Settings:
    settings = Settings(home=tmp_path / "home")
    plinth.set_tracking_uri(settings=settings)
    return settings


@pytest.fixture
def quick_report(demo_settings: Settings) -> DemoReport:
    return run_demo(n_customers=N_CUSTOMERS, quick=True)


# -- data ------------------------------------------------------------------------------------
def test_dataset_has_the_requested_customers_split_for_validation() -> None:
    data = make_dataset(1000, seed=1)

    assert len(data.train) + len(data.validation) == 1000
    assert len(data.validation) == 200
    assert set(data.features) | {TARGET} == set(data.train.columns)
    assert 0.15 < data.churn_rate < 0.40


def test_dataset_is_reproducible_from_its_seed() -> None:
    first, again, other = make_dataset(300, seed=3), make_dataset(300, seed=3), make_dataset(300, seed=4)

    assert first.train.equals(again.train)
    assert not first.train.equals(other.train)


def test_churn_follows_the_ground_truth_drivers() -> None:
    frame = make_dataset(5000, seed=0).train

    by_contract = frame.groupby("contract")[TARGET].mean()
    assert by_contract["month-to-month"] > by_contract["one-year"] > by_contract["two-year"]
    assert frame[frame.tenure_months < 6][TARGET].mean() > frame[frame.tenure_months > 36][TARGET].mean()


@pytest.mark.parametrize(
    "scores",
    [
        pytest.param(np.linspace(0.01, 0.99, 50), id="distinct"),
        pytest.param(np.round(np.linspace(0.0, 1.0, 50), 1), id="ties-and-extremes"),
    ],
)
def test_metrics_match_scikit_learn(scores: np.ndarray) -> None:  # type: ignore[type-arg]
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
def test_report_ranks_the_runs_by_validation_auc(quick_report: DemoReport) -> None:
    aucs = [run.val_auc for run in quick_report.ranked]

    assert len(quick_report.ranked) == len(default_grid(quick=True))
    assert aucs == sorted(aucs, reverse=True)
    assert quick_report.experiment_name == EXPERIMENT_NAME
    assert all(0.5 < auc <= 1.0 for auc in aucs)


def test_every_run_has_params_inputs_and_final_metrics(quick_report: DemoReport) -> None:
    for ranked in quick_report.ranked:
        run = plinth.get_run(ranked.run_id)

        assert run.info.status == "FINISHED"
        assert run.data.params["model.family"] == ranked.family
        assert run.data.params["data.n_customers"] == str(N_CUSTOMERS)
        assert {"val_auc", "val_accuracy", "val_log_loss", "train_auc"} <= set(run.data.metrics)
        contexts = {i.context for i in run.inputs.dataset_inputs}
        assert contexts == {"training", "validation"}


@pytest.mark.parametrize(
    ("family", "steps"),
    [
        pytest.param("gradient_boosting", list(range(1, 16)), id="gbm-every-stage"),
        pytest.param("random_forest", list(range(1, 11)), id="rf-as-trees-grow"),
    ],
)
def test_metric_histories_follow_training(
    quick_report: DemoReport, family: str, steps: list[int]
) -> None:
    run_id = next(r.run_id for r in quick_report.ranked if r.family == family)

    history = plinth.get_metric_history(run_id, "val_auc")

    assert [m.step for m in history] == steps
    assert history[-1].value == pytest.approx(plinth.get_run(run_id).data.metrics["val_auc"])


def test_logistic_regression_history_has_several_iterations(quick_report: DemoReport) -> None:
    run_id = next(r.run_id for r in quick_report.ranked if r.family == "logistic_regression")

    steps = [m.step for m in plinth.get_metric_history(run_id, "val_log_loss")]

    assert len(steps) > 1
    assert steps == sorted(steps)


def test_gbm_also_logs_its_training_loss(quick_report: DemoReport) -> None:
    run_id = next(r.run_id for r in quick_report.ranked if r.family == "gradient_boosting")

    assert len(plinth.get_metric_history(run_id, "train_loss")) == 15


def test_the_logged_model_predicts_on_raw_customer_rows(
    quick_report: DemoReport, tmp_path: Path
) -> None:
    local = Path(plinth.download_artifacts(quick_report.best.run_id, "model", tmp_path / "dl"))
    model = pickle.loads((local / "model.pkl").read_bytes())  # noqa: S301 - our own artifact
    rows = make_dataset(N_CUSTOMERS).validation

    probability = model.predict_proba(rows.drop(columns=[TARGET]))[:, 1]

    assert (local / "MLmodel").is_file()
    assert roc_auc(rows[TARGET].to_numpy(), probability) == pytest.approx(quick_report.best.val_auc)


def test_report_says_where_everything_is(quick_report: DemoReport, demo_settings: Settings) -> None:
    assert quick_report.store_uri == demo_settings.store_uri
    assert quick_report.artifact_root == demo_settings.artifact_root
    assert quick_report.best_model_uri.endswith(f"{quick_report.best.run_id}/artifacts/model")
    assert quick_report.best_model_location is not None
    assert (Path(quick_report.best_model_location) / "MLmodel").is_file()


def test_a_second_demo_ranks_only_its_own_runs(quick_report: DemoReport) -> None:
    again = run_demo(n_customers=N_CUSTOMERS, quick=True)

    assert len(again.ranked) == len(quick_report.ranked)
    assert not {r.run_id for r in again.ranked} & {r.run_id for r in quick_report.ranked}
    assert again.experiment_id == quick_report.experiment_id
