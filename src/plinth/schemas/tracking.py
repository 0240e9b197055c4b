"""Wire models of /api/v1/experiments and /api/v1/runs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pydantic import Field, StrictStr

from plinth.entities import (
    DatasetInput,
    LoggedModelInput,
    LoggedModelOutput,
    Metric,
    Param,
    RunInfo,
    RunInputs,
    RunOutputs,
    RunStatus,
    RunTag,
    ViewType,
)
from plinth.errors import InvalidArgumentError
from plinth.schemas.common import Wire, WireFloat, encode_float
from plinth.store.base import SEARCH_MAX_RESULTS_DEFAULT, MetricPoint


class MetricWire(Wire):
    """``Metric`` with a JSON-safe value."""

    key: str
    value: WireFloat
    timestamp: int
    step: int = 0
    # Ids and names are strings, never numbers turned into one (as the embedded store has it).
    model_id: StrictStr | None = Field(default=None, description="Also log to this logged model.")
    dataset_name: StrictStr | None = None
    dataset_digest: StrictStr | None = None
    run_id: StrictStr | None = Field(default=None, description="On a logged model's metrics only.")

    def to_entity(self) -> Metric:
        return Metric(
            key=self.key,
            value=self.value,
            timestamp=self.timestamp,
            step=self.step,
            model_id=self.model_id,
            dataset_name=self.dataset_name,
            dataset_digest=self.dataset_digest,
            run_id=self.run_id,
        )


def metric_points_json(key: str, points: Sequence[MetricPoint]) -> list[dict[str, Any]]:
    """One metric's history as JSON-ready ``MetricWire`` dicts, built straight from the
    store's points: validating 10,000 ``MetricWire`` models cost twice the database read.
    MLflow's JSON of a metric is the same shape, so its API writes histories with this too."""
    finite = math.isfinite
    return [
        {
            "key": key,
            "value": value if finite(value) else encode_float(value),
            "timestamp": timestamp,
            "step": step,
        }
        for value, timestamp, step in points
    ]


class RunDataWire(Wire):
    """``RunData`` with JSON-safe metric values."""

    metrics: dict[str, WireFloat] = Field(default_factory=dict)
    params: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    metric_timestamps: dict[str, int] = Field(default_factory=dict)
    metric_steps: dict[str, int] = Field(default_factory=dict)


class RunWire(Wire):
    """``Run`` as JSON; the REST store decodes it straight into ``Run``."""

    info: RunInfo
    data: RunDataWire
    inputs: RunInputs
    outputs: RunOutputs


class ExperimentCreate(Wire):
    name: str
    artifact_location: str | None = None
    tags: list[RunTag] = Field(default_factory=list)


class ExperimentCreated(Wire):
    experiment_id: str


class ExperimentUpdate(Wire):
    """Rename: the only mutable attribute of an experiment (tags have their own resource)."""

    name: str


class TagValue(Wire):
    value: str


class RunCreate(Wire):
    experiment_id: str
    user_id: str | None = Field(
        default=None, description="Ignored with auth on: a run belongs to its caller."
    )
    start_time: int | None = Field(default=None, description="Epoch ms; defaults to now.")
    tags: list[RunTag] = Field(default_factory=list)
    run_name: str | None = None


class RunUpdate(Wire):
    status: RunStatus | None = None
    end_time: int | None = None
    run_name: str | None = None


class LogBatch(Wire):
    metrics: list[MetricWire] = Field(default_factory=list)
    params: list[Param] = Field(default_factory=list)
    tags: list[RunTag] = Field(default_factory=list)

    def metric_entities(self, run_id: str) -> list[Metric]:
        """The metrics, for run ``run_id``; one naming another run is refused, not moved."""
        for i, m in enumerate(self.metrics):
            if m.run_id is not None and m.run_id != run_id:
                raise InvalidArgumentError(
                    f"metrics[{i}].run_id is {m.run_id!r}, but the URL names run {run_id!r}; "
                    "leave it out.",
                    details={"field": f"metrics[{i}].run_id"},
                )
        return [m.to_entity() for m in self.metrics]


class LogInputs(Wire):
    datasets: list[DatasetInput] = Field(default_factory=list)
    models: list[LoggedModelInput] = Field(default_factory=list)


class LogOutputs(Wire):
    models: list[LoggedModelOutput]


class CommentCreate(Wire):
    text: StrictStr


class ExperimentSearch(Wire):
    """Query of ``GET /api/v1/experiments``."""

    view_type: ViewType = ViewType.ACTIVE_ONLY
    max_results: int = SEARCH_MAX_RESULTS_DEFAULT
    filter: str | None = Field(default=None, description="e.g. name LIKE 'churn%'")
    order_by: list[str] = Field(default_factory=list, description="e.g. name ASC; repeatable.")
    page_token: str | None = Field(default=None, description="next_page_token of a page.")


class RunSearch(ExperimentSearch):
    """Query of ``GET /api/v1/runs``."""

    experiment_id: list[str] = Field(default_factory=list, description="Repeatable.")
    filter: str | None = Field(default=None, description="e.g. metrics.acc > 0.9")
    order_by: list[str] = Field(default_factory=list, description="e.g. metrics.acc DESC")


class MetricHistoryQuery(Wire):
    """Query of ``GET /api/v1/runs/{run_id}/metrics/{key}``."""

    max_results: int | None = None
    page_token: str | None = None
