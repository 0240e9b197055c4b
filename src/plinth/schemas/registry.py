"""Wire models of /api/v1/models, /api/v1/model-versions, /api/v1/logged-models and
/api/v1/promotions.

Responses are the registry entities themselves (their JSON is plain) except logged models,
whose metric values need ``MetricWire``; the rest are request bodies and query strings.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field, StrictBool

from plinth.entities import Param, RunTag
from plinth.entities.registry import (
    DatasetFilter,
    LoggedModelOrder,
    LoggedModelStatus,
    PromotionStatus,
    Stage,
)
from plinth.schemas.common import Wire
from plinth.schemas.tracking import MetricWire

_STAGES = ", ".join(s.value for s in Stage)


def _parse_stage(value: object) -> object:
    """Stage names case-insensitively, as MLflow accepts ``production``."""
    if not isinstance(value, str):
        return value
    try:
        return Stage.parse(value)
    except ValueError:
        raise ValueError(f"unknown stage {value!r}; expected one of {_STAGES}") from None


StageName = Annotated[Stage, BeforeValidator(_parse_stage)]
"""A ``Stage`` read case-insensitively."""


class RegisteredModelCreate(Wire):
    name: str
    tags: list[RunTag] = Field(default_factory=list)
    description: str | None = None


class RegisteredModelRename(Wire):
    new_name: str


class DescriptionUpdate(Wire):
    """The only mutable attribute of a registered model or version (tags are resources)."""

    description: str


class RegisteredModelSearch(Wire):
    """Query of ``GET /api/v1/models``."""

    filter: str | None = Field(default=None, description="e.g. name LIKE 'churn%'")
    max_results: int = 100
    order_by: list[str] = Field(default_factory=list, description="e.g. name ASC; repeatable.")
    page_token: str | None = Field(default=None, description="next_page_token of a page.")


class ModelVersionSearch(RegisteredModelSearch):
    """Query of ``GET /api/v1/model-versions``."""

    filter: str | None = Field(default=None, description="e.g. name = 'churn' AND tags.k = 'v'")
    max_results: int = 10_000


class LatestVersionsQuery(Wire):
    """Query of ``GET /api/v1/models/{name}/latest-versions``."""

    stage: list[StageName] = Field(default_factory=list, description="Repeatable; default all.")


class ModelVersionCreate(Wire):
    source: str = Field(description="e.g. runs:/<run_id>/model or models:/<model_id>")
    run_id: str | None = None
    tags: list[RunTag] = Field(default_factory=list)
    run_link: str | None = None
    description: str | None = None


class StageTransition(Wire):
    stage: StageName
    archive_existing_versions: bool = Field(
        default=True, description="Archive the previous Production version(s) on promotion."
    )


class AliasTarget(Wire):
    version: str


class ModelEventCreate(Wire):
    """An event another layer (a deployment) appends to a model's history."""

    version: str | None = None
    event_type: str
    comment: str | None = None
    details: dict[str, str] = Field(default_factory=dict)


class PromotionCreate(Wire):
    """A request to move ``version`` of ``name`` to ``stage`` or to ``alias`` (exactly one)."""

    name: str
    version: str
    stage: StageName | None = None
    alias: str | None = None
    comment: str | None = None
    checks: list[str] = Field(
        default_factory=list,
        description="Gates: 'metrics.auc >= 0.8', 'beats_production:metrics.auc', "
        "'signature', 'tag:KEY'.",
    )
    archive_existing_versions: bool = True


class PromotionApproval(Wire):
    comment: str | None = None
    override: bool = Field(
        default=False, description="Approve although checks failed (needs a comment)."
    )


class PromotionRejection(Wire):
    comment: str | None = None


class PromotionQuery(Wire):
    """Query of ``GET /api/v1/promotions``."""

    name: str | None = Field(default=None, description="Only this model's requests.")
    status: PromotionStatus | None = None


class LoggedModelCreate(Wire):
    experiment_id: str
    name: str
    source_run_id: str | None = None
    model_type: str | None = None
    tags: list[RunTag] = Field(default_factory=list)
    params: list[Param] = Field(default_factory=list)


class LoggedModelFinalize(Wire):
    status: LoggedModelStatus


class LoggedModelTags(Wire):
    tags: list[RunTag]


class LoggedModelParams(Wire):
    params: list[Param]


class LoggedModelSearch(Wire):
    """Query of ``GET /api/v1/logged-models``."""

    experiment_id: list[str] = Field(default_factory=list, description="Repeatable.")
    filter: str | None = Field(default=None, description="e.g. metrics.acc > 0.9")
    max_results: int = 100
    page_token: str | None = None


class LoggedModelOrderWire(Wire):
    """One ``order_by`` entry of a logged-model search (``LoggedModelOrder``'s fields); a
    direction must be a JSON boolean, as the SDK insists, not ``"no"``."""

    field_name: str
    ascending: StrictBool = True
    dataset_name: str | None = None
    dataset_digest: str | None = None

    def entity(self) -> LoggedModelOrder:
        return LoggedModelOrder(**self.model_dump())


class LoggedModelSearchBody(Wire):
    """Body of ``POST /api/v1/logged-models/search``: the query plus MLflow's structured
    ``datasets`` (scoping metric filters) and ``order_by``."""

    experiment_ids: list[str]
    filter: str | None = Field(default=None, description="e.g. metrics.acc > 0.9")
    datasets: list[DatasetFilter] = Field(default_factory=list)
    order_by: list[LoggedModelOrderWire] = Field(default_factory=list)
    max_results: int = 100
    page_token: str | None = None


class LoggedModelWire(Wire):
    """``LoggedModel`` with JSON-safe metric values; the REST store decodes it into one."""

    model_id: str
    experiment_id: str
    name: str
    artifact_location: str
    creation_timestamp: int
    last_updated_timestamp: int
    status: LoggedModelStatus
    source_run_id: str | None = None
    model_type: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    params: dict[str, str] = Field(default_factory=dict)
    metrics: list[MetricWire] = Field(default_factory=list)
