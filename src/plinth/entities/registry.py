"""The model registry: registered models, versions, stages and aliases, governed promotion,
history events and MLflow 3 logged models, in MLflow's shape where MLflow has one.

``ModelVersion.name``, ``.version``, ``.run_id``, ``.source``, ``.current_stage``,
``.aliases`` and ``.tags`` read as they do on ``mlflow.entities.model_registry.ModelVersion``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from plinth.entities.tracking import Metric
from plinth.errors import InvalidArgumentError


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


ARCHIVING_STAGES = (Stage.STAGING, Stage.PRODUCTION)
"""The stages a version moving in archives the others in (``archive_existing_versions``)."""


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
    metrics: list[Metric] = field(default_factory=list)
    """Every point logged to the model (``log_metric(..., model_id=)``), by key, step and time;
    each names the run it came from and, if given, the dataset it was measured on."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DatasetFilter:
    """Scopes a logged-model search's metrics to one dataset (MLflow's ``datasets`` entries):
    by name, and by digest too when one is given."""

    dataset_name: str
    dataset_digest: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggedModelOrder:
    """One ``order_by`` key of a logged-model search, in MLflow's shape: an attribute
    (``creation_timestamp``, ``name``, ...) or ``metrics.<key>`` (the latest point, optionally
    on one dataset). Missing values sort last either way."""

    field_name: str
    ascending: bool = True
    dataset_name: str | None = None
    dataset_digest: str | None = None


class ModelEventType(StrEnum):
    """The history events the stores write themselves (``deployment_changed`` on behalf of
    the serving store, when an endpoint's routes to a version change). Other layers (batch
    scoring, monitoring) record their own types through ``record_model_event``; these names
    are reserved."""

    REGISTERED_MODEL_CREATED = "registered_model_created"
    MODEL_VERSION_CREATED = "model_version_created"
    DESCRIPTION_UPDATED = "description_updated"
    TAG_SET = "tag_set"
    TAG_DELETED = "tag_deleted"
    PROMOTION_REQUESTED = "promotion_requested"
    PROMOTION_APPROVED = "promotion_approved"
    PROMOTION_REJECTED = "promotion_rejected"
    PROMOTION_CANCELLED = "promotion_cancelled"
    STAGE_TRANSITION = "stage_transition"
    ARCHIVED = "archived"
    ALIAS_SET = "alias_set"
    ALIAS_DELETED = "alias_deleted"
    RENAMED = "renamed"
    VERSION_DELETED = "version_deleted"
    MODEL_DELETED = "model_deleted"
    DEPLOYMENT_CHANGED = "deployment_changed"


@dataclass(frozen=True, slots=True, kw_only=True)
class PackageInfo:
    """What the ``signature`` gate needs to know about the model package at a version's source."""

    has_signature: bool
    flavors: tuple[str, ...] = ()


class PackageInspector(Protocol):
    """Reads the ``MLmodel`` file at a model version's ``source`` (through the artifact store);
    ``None`` when there is no model package there."""

    def __call__(self, source: str, /) -> PackageInfo | None: ...


# -- names -----------------------------------------------------------------------------------
MAX_MODEL_NAME_LENGTH = 256
MAX_ALIAS_LENGTH = 250
LATEST_ALIAS = "latest"
"""Reserved, as in MLflow: ``models:/NAME@latest`` is the newest version."""

_ALIAS_RE = re.compile(r"^[\w\-]+$")
_VERSION_ALIAS_RE = re.compile(r"^[vV]\d+$")


def validate_model_name(name: object) -> str:
    """A registered model name: non-empty, at most 256 characters, without ``/`` or ``:`` so
    that ``models:/NAME/VERSION`` and ``models:/NAME@ALIAS`` URIs parse."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgumentError("Registered model name must be a non-empty string.")
    if len(name) > MAX_MODEL_NAME_LENGTH:
        raise InvalidArgumentError(
            f"Registered model name is {len(name)} characters long; "
            f"the limit is {MAX_MODEL_NAME_LENGTH}."
        )
    if "/" in name or ":" in name or "\x00" in name:
        raise InvalidArgumentError(
            f"Invalid registered model name {name!r}: names cannot contain '/' or ':' "
            "(they separate the parts of models:/NAME/VERSION URIs)."
        )
    return name


def validate_alias(alias: object) -> str:
    """An alias: letters, digits, ``_`` and ``-``; not ``latest`` nor a version (``v3``)."""
    if not isinstance(alias, str) or not alias:
        raise InvalidArgumentError("Registered model alias name cannot be empty.")
    if len(alias) > MAX_ALIAS_LENGTH or not _ALIAS_RE.match(alias):
        raise InvalidArgumentError(
            f"Invalid alias name: {alias!r}. Names may only contain alphanumerics, "
            f"underscores (_), and dashes (-), at most {MAX_ALIAS_LENGTH} characters."
        )
    if alias.lower() == LATEST_ALIAS:
        raise InvalidArgumentError("'latest' alias name (case insensitive) is reserved.")
    if _VERSION_ALIAS_RE.match(alias):
        raise InvalidArgumentError(f"Version alias name {alias!r} is reserved.")
    return alias


def parse_version(version: object) -> int:
    """A model version number (``"3"`` or ``3``); versions count from 1."""
    try:
        number = int(str(version).strip())
    except ValueError:
        raise InvalidArgumentError(
            f"Invalid model version {version!r}: versions are integers such as '1'."
        ) from None
    if not 0 < number < 2**31:
        raise InvalidArgumentError(f"Invalid model version {version!r}: versions count from 1.")
    return number


def is_protected_alias(alias: str, protected: Iterable[str]) -> bool:
    """Protection ignores case, so ``Champion`` cannot sidestep ``champion``."""
    return alias.lower() in {p.lower() for p in protected}
