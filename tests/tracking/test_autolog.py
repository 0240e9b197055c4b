"""scikit-learn autologging."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import plinth
from plinth.config import Settings


@pytest.fixture
def autologged(tmp_path: Path) -> Iterator[None]:
    plinth.set_tracking_uri(settings=Settings(home=tmp_path / "home"))
    plinth.autolog()
    yield
    plinth.autolog(disable=True)


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = (x[:, 0] + rng.normal(scale=0.5, size=200) > 0).astype(int)
    return x, y


def test_fit_logs_params_training_metrics_and_the_model(autologged: None) -> None:
    x, y = _data()
    with plinth.start_run() as run:
        LogisticRegression(C=0.5).fit(x, y)
    got = plinth.get_run(run.run_id)
    assert got.data.params["C"] == "0.5"
    assert 0.5 < got.data.metrics["training_roc_auc"] <= 1.0
    assert "training_accuracy_score" in got.data.metrics
    assert got.data.tags["estimator_name"] == "LogisticRegression"
    files = [f.path for f in plinth.list_artifacts(run.run_id, "model")]
    assert "model/MLmodel" in files and "model/model.pkl" in files
    # As MLflow 3's autolog: a logged model, the run's output, carrying the training metrics.
    (output,) = got.outputs.model_outputs
    logged = plinth.get_client().get_logged_model(output.model_id)
    assert logged.source_run_id == run.run_id
    assert {m.key for m in logged.metrics} == set(got.data.metrics)
    assert plinth.load_model(f"models:/{output.model_id}").predict(x[:3]) is not None


def test_two_fits_in_one_run_are_two_models_each_with_its_own_metrics(
    autologged: None,
) -> None:
    x, y = _data()
    with plinth.start_run() as run:
        first = LogisticRegression().fit(x, y)
        second = LogisticRegression().fit(x[:60], y[:60])

    client = plinth.get_client()
    outputs = client.get_run(run.run_id).outputs.model_outputs
    assert len(outputs) == 2
    for output, fitted, uri in zip(outputs, (first, second), ("model", "model-2"), strict=True):
        logged = client.get_logged_model(output.model_id)
        assert logged.tags["plinth.model_uri"] == f"runs:/{run.run_id}/{uri}"
        loaded = plinth.load_model(f"models:/{output.model_id}")
        np.testing.assert_array_equal(loaded.predict(x), fitted.predict(x))
        keys = [m.key for m in logged.metrics]
        assert len(keys) == len(set(keys))  # this fit's training metrics, once each
        score = next(m.value for m in logged.metrics if m.key == "training_score")
        assert score == pytest.approx(
            fitted.score(*((x, y) if uri == "model" else (x[:60], y[:60])))
        )


def test_a_pipeline_is_one_run_and_fit_without_a_run_starts_one(autologged: None) -> None:
    x, y = _data()
    pipeline = make_pipeline(StandardScaler(), LogisticRegression())
    pipeline.fit(x, y)
    assert plinth.active_run() is None
    frame = plinth.search_runs()
    assert len(frame) == 1
    assert frame.iloc[0]["tags.estimator_name"] == "Pipeline"
    assert frame.iloc[0]["status"] == "FINISHED"


def test_disable_restores_plain_fit(autologged: None) -> None:
    plinth.autolog(disable=True)
    x, y = _data()
    LogisticRegression().fit(x, y)
    assert len(plinth.search_runs()) == 0


def test_a_grid_search_is_one_run_of_the_search(autologged: None) -> None:
    # GridSearchCV and RandomForestClassifier inherit fit from a base class.
    x, y = _data()
    GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=2).fit(x, y)
    RandomForestClassifier(n_estimators=5, random_state=0).fit(x, y)
    frame = plinth.search_runs(order_by=["attributes.start_time ASC"])
    assert list(frame["tags.estimator_name"]) == ["GridSearchCV", "RandomForestClassifier"]
    assert set(frame["status"]) == {"FINISHED"}
    assert frame.iloc[0]["params.estimator__C"] == "1.0"  # the search's own params, deep


def test_a_search_on_joblibs_threading_backend_is_one_run(autologged: None) -> None:
    # The inner fits run on worker threads, outside the outer fit's thread.
    x, y = _data()
    with joblib.parallel_backend("threading", n_jobs=2):
        GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=2, n_jobs=2).fit(x, y)
    frame = plinth.search_runs()
    assert list(frame["tags.estimator_name"]) == ["GridSearchCV"]


def test_a_failure_to_log_warns_and_the_fit_still_succeeds(autologged: None) -> None:
    x, y = _data()
    with plinth.start_run() as run:
        LogisticRegression(C=1.0).fit(x, y)
        with pytest.warns(UserWarning, match="could not log this fit of LogisticRegression"):
            second = LogisticRegression(C=2.0).fit(x, y)  # C is already logged as 1.0
    assert second.coef_.shape == (1, 3)
    got = plinth.get_run(run.run_id)
    assert got.data.params["C"] == "1.0"
    assert got.info.status.value == "FINISHED"


def test_disable_restores_inherited_fits_too(autologged: None) -> None:
    plinth.autolog(disable=True)
    x, y = _data()
    GridSearchCV(LogisticRegression(), {"C": [1.0]}, cv=2).fit(x, y)
    RandomForestClassifier(n_estimators=2).fit(x, y)
    assert len(plinth.search_runs()) == 0
