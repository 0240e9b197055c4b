"""The model registry: registered models, versions, stages and aliases, governed promotion,
history events and MLflow 3 logged models, in MLflow's shape where MLflow has one.

``ModelVersion.name``, ``.version``, ``.run_id``, ``.source``, ``.current_stage``,
``.aliases`` and ``.tags`` read as they do on ``mlflow.entities.model_registry.ModelVersion``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Stage(StrEnum):
    """MLflow's (deprecated but widely used) model version stages."""

    NONE = "None"
    STAGING = "Staging"
    PRODUCTION = "Production"
    ARCHIVED = "Archived"

    @classmethod
    def parse(cls, value: str) -> Stage:
        """Case-insensitive, as MLflow accepts ``production`` for ``Production``."""
        for stage in cls:
            if stage.value.lower() == value.strip().lower():
                return stage
        raise ValueError(value)


class ModelVersionStatus(StrEnum):
    PENDING_REGISTRATION = "PENDING_REGISTRATION"
    FAILED_REGISTRATION = "FAILED_REGISTRATION"
    READY = "READY"


class PromotionStatus(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"


DEFAULT_PROTECTED_ALIASES = ("production", "champion")
"""Aliases that, like the Production stage, move only through an approved promotion."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelVersion:
    name: str
    version: str
    creation_timestamp: int
    last_updated_timestamp: int
    current_stage: Stage = Stage.NONE
    source: str = ""
    run_id: str | None = None
    run_link: str | None = None
    description: str | None = None
    user_id: str | None = None
    status: ModelVersionStatus = ModelVersionStatus.READY
    status_message: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisteredModel:
    name: str
    creation_timestamp: int
    last_updated_timestamp: int
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    """alias -> version"""
    latest_versions: list[ModelVersion] = field(default_factory=list)
    """The newest version in each stage, as MLflow returns them."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckResult:
    """One validation gate evaluated on a promotion request."""

    check: str
    passed: bool
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PromotionRequest:
    request_id: str
    name: str
    version: str
    target_stage: Stage | None
    target_alias: str | None
    archive_existing_versions: bool
    status: PromotionStatus
    requested_by: str
    requested_at: int
    comment: str | None = None
    checks: list[CheckResult] = field(default_factory=list)
    decided_by: str | None = None
    decided_at: int | None = None
    decision_comment: str | None = None
    override: bool = False

    @property
    def checks_passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def target(self) -> str:
        return f"stage {self.target_stage}" if self.target_stage else f"alias @{self.target_alias}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelEvent:
    """One entry in a registered model's history (registration, edits, requests, decisions,
    stage and alias moves, archival, deployments)."""

    event_id: int
    name: str
    version: str | None
    event_type: str
    user_name: str
    timestamp: int
    comment: str | None = None
    details: dict[str, str] = field(default_factory=dict)


class LoggedModelStatus(StrEnum):
    PENDING = "LOGGED_MODEL_PENDING"
    READY = "LOGGED_MODEL_READY"
    FAILED = "LOGGED_MODEL_UPLOAD_FAILED"


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggedModel:
    """MLflow 3's logged model: a model package tied to an experiment (and usually a run),
    addressed as ``models:/<model_id>``."""

    model_id: str
    experiment_id: str
    name: str
    artifact_location: str
    creation_timestamp: int
    last_updated_timestamp: int
    status: LoggedModelStatus = LoggedModelStatus.PENDING
    source_run_id: str | None = None
    model_type: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
