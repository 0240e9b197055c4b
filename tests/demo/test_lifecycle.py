"""The churn demo's registry part: register the best run's model, promote it through a gated
request, decide, then history, lineage and scoring with ``models:/churn/Production``."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import pytest

import plinth
from plinth.client import Client
from plinth.config import Settings
from plinth.demo.churn import TARGET, DemoReport, make_dataset, run_demo
from plinth.demo.lifecycle import (
    GATES,
    MODEL_NAME,
    PREDICTION,
    PROBABILITY,
    SCORED_ROWS,
    LifecycleReport,
    approver_client,
    run_lifecycle,
)
from plinth.entities.registry import PromotionStatus, Stage

N_CUSTOMERS = 600


@dataclass(frozen=True, slots=True)
class Demo:
    report: DemoReport
    lifecycle: LifecycleReport
    settings: Settings
    client: Client


def _demo(settings: Settings, *, approve: bool = True) -> tuple[DemoReport, LifecycleReport]:
    plinth.set_tracking_uri(settings=settings)
    report = run_demo(n_customers=N_CUSTOMERS, quick=True)
    sample = make_dataset(N_CUSTOMERS).validation
    approver = approver_client(settings, None) if approve else None
    return report, run_lifecycle(report, sample, approver=approver)


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """One quick demo on a fresh store, shared by the read-only tests of this module."""
    settings = Settings(home=tmp_path_factory.mktemp("lifecycle") / "home")
    report, lifecycle = _demo(settings)
    return Demo(report, lifecycle, settings, Client(settings))


def test_the_best_run_becomes_churn_version_1(first: Demo) -> None:
    version = first.lifecycle.version

    assert (version.name, version.version) == (MODEL_NAME, "1")
    assert version.run_id == first.report.best.run_id
    assert first.client.get_model_version(MODEL_NAME, 1).current_stage is Stage.PRODUCTION


def test_the_request_passed_its_gates_and_local_approved_it(first: Demo) -> None:
    request = first.lifecycle.request

    assert [c.check for c in request.checks] == list(GATES)
    assert request.checks_passed
    assert request.status is PromotionStatus.APPROVED
    assert request.requested_by == request.decided_by == "local"
    assert first.lifecycle.approver_is_local


def test_history_and_lineage_come_with_the_report(first: Demo) -> None:
    lifecycle = first.lifecycle

    types = [e.event_type for e in lifecycle.history]
    assert {"model_version_created", "promotion_requested", "promotion_approved"} <= set(types)
    assert lifecycle.lineage is not None
    assert lifecycle.lineage.run is not None
    assert lifecycle.lineage.run.run_id == first.report.best.run_id
    assert {i.name for i in lifecycle.lineage.inputs} == {"churn-train", "churn-validation"}


def test_production_scores_a_few_customers_like_the_trained_pipeline(
    first: Demo, tmp_path: Path
) -> None:
    scored = first.lifecycle.scored
    best = first.report.best.run_id
    local = first.client.download_artifacts(best, "model", tmp_path / "dl")
    pipeline = pickle.loads((local / "model.pkl").read_bytes())
    rows = make_dataset(N_CUSTOMERS).validation.head(SCORED_ROWS)

    assert scored is not None
    assert first.lifecycle.production is not None
    assert first.lifecycle.production.version == "1"
    assert len(scored) == SCORED_ROWS
    assert list(scored[TARGET]) == list(rows[TARGET])
    features = rows.drop(columns=[TARGET])
    assert list(scored[PREDICTION]) == list(pipeline.predict(features))
    expected = pipeline.predict_proba(features)[:, 1]
    assert list(scored[PROBABILITY]) == pytest.approx(list(expected), abs=1e-3)


def test_a_rerun_that_does_not_beat_production_is_rejected(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    _demo(settings)

    _report, again = _demo(settings)

    assert again.version.version == "2"
    assert again.request.status is PromotionStatus.REJECTED
    assert not again.request.checks_passed
    assert "does not beat" in (again.request.decision_comment or "")
    assert again.production is not None
    assert again.production.version == "1"
    assert again.scored is not None


def test_without_an_approver_the_request_waits(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")

    _report, pending = _demo(settings, approve=False)

    assert pending.is_pending
    assert (pending.history, pending.lineage, pending.scored) == ([], None, None)
    stage = Client(settings).get_model_version(MODEL_NAME, 1).current_stage
    assert stage is Stage.NONE


@pytest.mark.parametrize(
    ("uri", "token", "expected"),
    [
        pytest.param(None, None, "local", id="embedded-local"),
        pytest.param("http://127.0.0.1:9", None, None, id="server-without-approver"),
        pytest.param("http://127.0.0.1:9", "plt_second", "plt_second", id="server-approver"),
    ],
)
def test_who_approves_depends_on_the_mode(
    tmp_path: Path, uri: str | None, token: str | None, expected: str | None
) -> None:
    settings = Settings(home=tmp_path / "home", uri=uri, token="plt_requester")
    plinth.set_tracking_uri(settings=settings)

    approver = approver_client(settings, token)

    if expected is None:
        assert approver is None
    elif expected == "local":
        assert approver is plinth.get_client()
    else:
        assert approver is not None
        assert approver.settings.token == expected
