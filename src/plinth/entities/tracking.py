"""Experiments, runs and what is logged into them, in MLflow's shape.

Code written against ``mlflow`` entities reads these unchanged: ``run.info.run_id``,
``run.info.status``, ``run.data.params``, ``run.data.metrics`` (latest value per key),
``run.data.tags``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from plinth.errors import InvalidArgumentError

DEFAULT_EXPERIMENT_ID = "0"
"""The experiment ``Default``, created with the store: runs go there when none is named."""


class LifecycleStage(StrEnum):
    ACTIVE = "active"
    DELETED = "deleted"


class ViewType(StrEnum):
    """Which lifecycle stages a search returns (MLflow's ``ViewType``)."""

    ACTIVE_ONLY = "ACTIVE_ONLY"
    DELETED_ONLY = "DELETED_ONLY"
    ALL = "ALL"

    @classmethod
    def of(cls, value: object) -> ViewType:
        """``value`` as a ViewType: one, its name, or MLflow's number for it (1, 2, 3).

        Raises:
            InvalidArgumentError: None of these.
        """
        if isinstance(value, ViewType):
            return value
        by_number = {1: cls.ACTIVE_ONLY, 2: cls.DELETED_ONLY, 3: cls.ALL}
        if isinstance(value, int) and not isinstance(value, bool) and value in by_number:
            return by_number[value]
        if isinstance(value, str) and value.upper() in cls.__members__:
            return cls[value.upper()]
        raise InvalidArgumentError(
            f"view_type must be ACTIVE_ONLY, DELETED_ONLY or ALL, got {value!r}."
        )

    def stages(self) -> tuple[LifecycleStage, ...]:
        if self is ViewType.ACTIVE_ONLY:
            return (LifecycleStage.ACTIVE,)
        if self is ViewType.DELETED_ONLY:
            return (LifecycleStage.DELETED,)
        return (LifecycleStage.ACTIVE, LifecycleStage.DELETED)


class RunStatus(StrEnum):
    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def is_terminal(self) -> bool:
        return self in (RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED)


@dataclass(frozen=True, slots=True, kw_only=True)
class Experiment:
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: LifecycleStage = LifecycleStage.ACTIVE
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: int | None = None
    last_update_time: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Metric:
    """One metric point. ``model_id`` also records it on that MLflow 3 logged model (as
    ``mlflow.log_metric(..., model_id=)`` does), optionally measured on one dataset
    (``dataset_name``/``dataset_digest``); ``run_id`` names the run a logged model's metric
    came from."""

    key: str
    value: float
    timestamp: int
    step: int = 0
    model_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None
    run_id: str | None = None


@dataclass(frozen=True, slots=True)
class Param:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class RunTag:
    key: str
    value: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Dataset:
    """A data version a run consumed: what ``log_input`` records (MLflow's ``Dataset``)."""

    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None = None
    profile: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DatasetInput:
    dataset: Dataset
    tags: list[RunTag] = field(default_factory=list)

    @property
    def context(self) -> str | None:
        return next((t.value for t in self.tags if t.key == "mlflow.data.context"), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggedModelInput:
    """A logged model a run consumed (MLflow's ``LoggedModelInput``)."""

    model_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggedModelOutput:
    """A logged model a run produced, at a step (MLflow's ``LoggedModelOutput``). Metrics
    MLflow's fluent API logs at that step are linked to the model."""

    model_id: str
    step: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class RunInputs:
    dataset_inputs: list[DatasetInput] = field(default_factory=list)
    model_inputs: list[LoggedModelInput] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOutputs:
    model_outputs: list[LoggedModelOutput] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunInfo:
    run_id: str
    experiment_id: str
    run_name: str
    user_id: str
    status: RunStatus
    start_time: int
    end_time: int | None
    artifact_uri: str
    lifecycle_stage: LifecycleStage = LifecycleStage.ACTIVE

    @property
    def run_uuid(self) -> str:
        return self.run_id


@dataclass(frozen=True, slots=True, kw_only=True)
class RunData:
    """A run's params, tags and the latest value of each metric, as MLflow's ``run.data``.

    ``metric_timestamps`` and ``metric_steps`` tell when, and at which step, each of those
    latest values was logged (MLflow's client reads them from its metric objects).
    """

    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metric_timestamps: dict[str, int] = field(default_factory=dict)
    metric_steps: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    info: RunInfo
    data: RunData = field(default_factory=RunData)
    inputs: RunInputs = field(default_factory=RunInputs)
    outputs: RunOutputs = field(default_factory=RunOutputs)

    def with_info(self, **changes: object) -> Run:
        return replace(self, info=replace(self.info, **changes))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True, kw_only=True)
class Comment:
    comment_id: str
    run_id: str
    user_id: str
    text: str
    created_at: int
