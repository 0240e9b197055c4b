"""The churn demo, part two: the best run's model goes through the governed registry.

Named steps after :func:`plinth.demo.churn.run_demo`: :func:`register_best` (``churn``
version N from the best run), :func:`request_production` (a promotion request with metric
gates), :func:`decide` (approve when the gates pass, reject otherwise), then the model's
history, its lineage, and :func:`score` (``plinth.load_model("models:/churn/Production")``
on a few customers). Like part one it goes through the fluent API, embedded or remote.

Who approves: embedded, the single user ``local`` may approve their own request. Against a
server the four-eyes rule holds, so the demo approves only with a second user's token
(``PLINTH_APPROVER_TOKEN``); without one the request stays pending for a person to decide.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

import plinth
from plinth.client import Client
from plinth.config import Settings
from plinth.demo.churn import TARGET, DemoReport
from plinth.entities.registry import (
    ModelEvent,
    ModelVersion,
    PromotionRequest,
    PromotionStatus,
    Stage,
)
from plinth.lineage import Lineage, lineage
from plinth.models import load_model

MODEL_NAME = "churn"
GATES = ("metrics.val_auc >= 0.75", "beats_production:metrics.val_auc")
"""What a version must show to reach Production: a floor, and no regression."""
PRODUCTION_URI = f"models:/{MODEL_NAME}/{Stage.PRODUCTION.value}"
SCORED_ROWS = 5
SHOWN_FEATURES = ["tenure_months", "contract", "monthly_charges", "support_calls"]
PREDICTION = "predicted_churn"
PROBABILITY = "churn_probability"


@dataclass(frozen=True, slots=True, kw_only=True)
class LifecycleReport:
    """What the registry part of the demo did.

    ``history``, ``lineage``, ``production`` and ``scored`` are empty while the request is
    pending: the demo stops where a person has to decide.
    """

    version: ModelVersion
    request: PromotionRequest
    """The request as decided: approved, rejected, or still pending."""
    approver_is_local: bool = False
    """Approved or rejected by the embedded user ``local`` (who may decide their own request)."""
    history: list[ModelEvent] = field(default_factory=list)
    lineage: Lineage | None = None
    production: ModelVersion | None = None
    """The version ``models:/churn/Production`` loads, if any."""
    scored: pd.DataFrame | None = None

    @property
    def model_uri(self) -> str:
        return f"models:/{self.version.name}/{self.version.version}"

    @property
    def is_pending(self) -> bool:
        return self.request.status is PromotionStatus.PENDING


def approver_client(settings: Settings, approver_token: str | None) -> Client | None:
    """Who approves the demo's request: the fluent client itself when embedded (user
    ``local``), a client with the second user's token against a server, else nobody."""
    if not settings.is_remote:
        return plinth.get_client()
    if approver_token:
        return Client(settings.model_copy(update={"token": approver_token}))
    return None


def register_best(report: DemoReport) -> ModelVersion:
    """Register the best run's ``model/`` as the next version of ``churn``."""
    best = report.best
    return plinth.register_model(
        f"runs:/{best.run_id}/model",
        MODEL_NAME,
        tags={"model_family": best.family, "demo": "churn"},
        description=f"{best.name}: validation AUC {best.val_auc:.4f} (churn demo).",
    )


def request_production(version: ModelVersion, report: DemoReport) -> PromotionRequest:
    """Ask for Production, with the metric gates evaluated now and shown to the approver."""
    return plinth.request_promotion(
        version.name,
        version.version,
        stage=Stage.PRODUCTION,
        comment=f"Best of {len(report.ranked)} demo runs ({report.best.name}).",
        checks=GATES,
    )


def decide(request: PromotionRequest, approver: Client | None) -> PromotionRequest:
    """Approve when every gate passed, reject otherwise; leave it pending without approver."""
    if approver is None:
        return request
    if not request.checks_passed:
        failed = "; ".join(c.detail for c in request.checks if not c.passed)
        return approver.reject_promotion(request.request_id, comment=f"Gate failed: {failed}.")
    return approver.approve_promotion(
        request.request_id, comment="Gates passed; approved by the churn demo."
    )


def score(sample: pd.DataFrame) -> pd.DataFrame:
    """Predict raw customer rows with ``models:/churn/Production``.

    Returns the rows' shown features, their actual churn, the prediction (the package's
    ``predict``, signature enforced) and the churn probability of the underlying pipeline.
    """
    model = load_model(PRODUCTION_URI)
    features = sample.drop(columns=[TARGET], errors="ignore")
    scored = sample[[*SHOWN_FEATURES, TARGET]].reset_index(drop=True)
    scored[PREDICTION] = pd.Series(model.predict(features)).to_numpy().ravel()
    predict_proba = getattr(model.raw_model, "predict_proba", None)
    if predict_proba is not None:
        scored[PROBABILITY] = predict_proba(features)[:, 1].round(3)
    return scored


def run_lifecycle(
    report: DemoReport, sample: pd.DataFrame, *, approver: Client | None
) -> LifecycleReport:
    """Register, request, decide; then history, lineage and scoring unless still pending."""
    version = register_best(report)
    request = decide(request_production(version, report), approver)
    if request.status is PromotionStatus.PENDING:
        return LifecycleReport(version=version, request=request)
    # A rejected first request leaves no Production version to load.
    production = next(
        iter(plinth.get_client().get_latest_versions(MODEL_NAME, ["Production"])), None
    )
    return LifecycleReport(
        version=version,
        request=request,
        approver_is_local=approver is not None and not approver.settings.is_remote,
        history=plinth.model_history(MODEL_NAME),
        lineage=lineage(f"models:/{MODEL_NAME}/{version.version}"),
        production=production,
        scored=None if production is None else score(sample.head(SCORED_ROWS)),
    )
