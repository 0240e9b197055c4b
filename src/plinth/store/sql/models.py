"""SQLAlchemy 2 table models. ORM rows never leave ``store/sql``: converters make entities.

Schema changes only through Alembic (``store/sql/migrations``). Column sizes follow MLflow's
limits (keys 250 characters, param values 6000, tag values 8000) so anything the official
client accepts fits.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    column,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

KEY_LENGTH = 250
PARAM_VALUE_LENGTH = 6000
TAG_VALUE_LENGTH = 8000
NAME_LENGTH = 256

DATASET_NAME_LENGTH = 500
DATASET_DIGEST_LENGTH = 64

VALUE_INDEX_PREFIX = 200
"""Characters of a param or tag value that PostgreSQL's ``(key, value)`` indexes hold."""

_STAGES = "lifecycle_stage IN ('active', 'deleted')"
_STATUSES = "status IN ('RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED')"


class Base(DeclarativeBase):
    pass


class IndexedValue(FunctionElement[str]):
    """A param or tag value as the ``(key, value, run_id)`` index holds it.

    SQLite indexes the whole value. PostgreSQL cannot (a btree entry must stay under about
    2.7 kB and values reach 8,000 characters), so it indexes ``left(value, 200)``; a query
    only uses that index when it compares the same expression, so searches build their
    equality and ``IN`` clauses from this construct too.
    """

    type = String()
    name = "plinth_indexed_value"
    inherit_cache = True


@compiles(IndexedValue)
def _compile_indexed_value(element: IndexedValue, compiler: SQLCompiler, **kw: object) -> str:
    (value,) = element.clauses
    return f"left({compiler.process(value, **kw)}, {VALUE_INDEX_PREFIX})"


@compiles(IndexedValue, "sqlite")
def _compile_indexed_value_sqlite(
    element: IndexedValue, compiler: SQLCompiler, **kw: object
) -> str:
    (value,) = element.clauses
    return str(compiler.process(value, **kw))


class ExperimentRow(Base):
    __tablename__ = "experiments"
    __table_args__ = (CheckConstraint(_STAGES, name="experiments_lifecycle_stage"),)

    # Integer ids because MLflow clients assume the default experiment is "0".
    experiment_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    artifact_location: Mapped[str] = mapped_column(String(1000))
    lifecycle_stage: Mapped[str] = mapped_column(String(32), default="active")
    creation_time: Mapped[int] = mapped_column(BigInteger)
    last_update_time: Mapped[int] = mapped_column(BigInteger)


class ExperimentTagRow(Base):
    __tablename__ = "experiment_tags"

    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.experiment_id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    value: Mapped[str] = mapped_column(String(TAG_VALUE_LENGTH))


class RunRow(Base):
    __tablename__ = "runs"
    __table_args__ = (
        CheckConstraint(_STAGES, name="runs_lifecycle_stage"),
        CheckConstraint(_STATUSES, name="runs_status"),
        Index("ix_runs_experiment_stage_start", "experiment_id", "lifecycle_stage", "start_time"),
    )

    run_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.experiment_id", ondelete="CASCADE")
    )
    run_name: Mapped[str] = mapped_column(String(KEY_LENGTH))
    user_id: Mapped[str] = mapped_column(String(NAME_LENGTH))
    status: Mapped[str] = mapped_column(String(20))
    start_time: Mapped[int] = mapped_column(BigInteger)
    end_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    artifact_uri: Mapped[str] = mapped_column(String(1000))
    lifecycle_stage: Mapped[str] = mapped_column(String(32), default="active")
    deleted_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class ParamRow(Base):
    __tablename__ = "params"
    # Equality and IN filters start from this index when they match fewer runs than the
    # searched experiments hold; run_id makes it covering on SQLite.
    __table_args__ = (Index("ix_params_key_value", "key", IndexedValue(column("value")), "run_id"),)

    run_id: Mapped[str] = mapped_column(
        ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    value: Mapped[str] = mapped_column(String(PARAM_VALUE_LENGTH))


class TagRow(Base):
    __tablename__ = "tags"
    # Equality and IN filters start from this index when they match fewer runs than the
    # searched experiments hold; run_id makes it covering on SQLite.
    __table_args__ = (Index("ix_tags_key_value", "key", IndexedValue(column("value")), "run_id"),)

    run_id: Mapped[str] = mapped_column(
        ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    value: Mapped[str] = mapped_column(String(TAG_VALUE_LENGTH))


METRIC_POINT = ("run_id", "key", "step", "timestamp", "value", "is_nan")
"""The columns of the metrics table's unique index: a run's point is stored once."""


class MetricRow(Base):
    """Every logged metric point; metrics append and are never overwritten. A point logged
    again (a retried batch) is stored once, as MLflow's server stores it."""

    __tablename__ = "metrics"
    __table_args__ = (Index("ux_metrics_point", *METRIC_POINT, unique=True),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(KEY_LENGTH))
    # NaN is stored as value 0 + is_nan because SQLite turns NaN into NULL.
    value: Mapped[float] = mapped_column(Float(precision=53))
    is_nan: Mapped[bool] = mapped_column(Boolean, default=False)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    step: Mapped[int] = mapped_column(BigInteger, default=0)


class LatestMetricRow(Base):
    """The latest point per (run, key), maintained on write so search never scans history."""

    __tablename__ = "latest_metrics"
    __table_args__ = (Index("ix_latest_metrics_key_value", "key", "value"),)

    run_id: Mapped[str] = mapped_column(
        ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    value: Mapped[float] = mapped_column(Float(precision=53))
    is_nan: Mapped[bool] = mapped_column(Boolean, default=False)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    step: Mapped[int] = mapped_column(BigInteger)


class DatasetRow(Base):
    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("experiment_id", "name", "digest"),)

    dataset_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.experiment_id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(DATASET_NAME_LENGTH))
    digest: Mapped[str] = mapped_column(String(DATASET_DIGEST_LENGTH))
    source_type: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text)
    schema: Mapped[str | None] = mapped_column(Text, nullable=True)
    profile: Mapped[str | None] = mapped_column(Text, nullable=True)


class RunInputRow(Base):
    __tablename__ = "run_inputs"

    run_id: Mapped[str] = mapped_column(
        ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True
    )
    dataset_id: Mapped[str] = mapped_column(
        ForeignKey("datasets.dataset_id", ondelete="CASCADE"), primary_key=True
    )
    tags_json: Mapped[str] = mapped_column(Text, default="{}")


class CommentRow(Base):
    __tablename__ = "comments"
    __table_args__ = (Index("ix_comments_run", "run_id", "created_at"),)

    comment_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(NAME_LENGTH))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger)


class UserRow(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('viewer', 'editor', 'approver', 'admin')", name="users_role"),
    )

    name: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[int] = mapped_column(BigInteger)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class ApiTokenRow(Base):
    __tablename__ = "api_tokens"

    token_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_name: Mapped[str] = mapped_column(ForeignKey("users.name", ondelete="CASCADE"))
    # sha256 of a 256-bit random secret: brute force is hopeless, so no slow KDF is needed and
    # every request can be authenticated with one indexed lookup.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class AuditEventRow(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_timestamp", "timestamp"),)

    event_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    timestamp: Mapped[int] = mapped_column(BigInteger)
    user_name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    action: Mapped[str] = mapped_column(String(100))
    object_type: Mapped[str] = mapped_column(String(50))
    object_id: Mapped[str] = mapped_column(String(500))
    details: Mapped[str | None] = mapped_column(Text, nullable=True)


# -- model registry ---------------------------------------------------------------------------
_STAGE_CHECK = "current_stage IN ('None', 'Staging', 'Production', 'Archived')"


def _model_fk() -> ForeignKey:
    """Versions, tags and aliases follow a registered model through renames and deletion."""
    return ForeignKey("registered_models.name", ondelete="CASCADE", onupdate="CASCADE")


class RegisteredModelRow(Base):
    __tablename__ = "registered_models"

    name: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)
    creation_time: Mapped[int] = mapped_column(BigInteger)
    last_updated_time: Mapped[int] = mapped_column(BigInteger)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The highest version number ever issued. Numbers come from this counter, not from
    # max(version), so a deleted version's number is never reused: promotion requests and
    # history refer to (name, version) and must never come to mean another package.
    last_version: Mapped[int] = mapped_column(Integer, default=0)


class RegisteredModelTagRow(Base):
    __tablename__ = "registered_model_tags"

    name: Mapped[str] = mapped_column(_model_fk(), primary_key=True)
    key: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    value: Mapped[str] = mapped_column(String(TAG_VALUE_LENGTH))


class ModelVersionRow(Base):
    __tablename__ = "model_versions"
    __table_args__ = (
        CheckConstraint(_STAGE_CHECK, name="model_versions_stage"),
        Index("ix_model_versions_run", "run_id"),
    )

    name: Mapped[str] = mapped_column(_model_fk(), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    creation_time: Mapped[int] = mapped_column(BigInteger)
    last_updated_time: Mapped[int] = mapped_column(BigInteger)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    user_id: Mapped[str | None] = mapped_column(String(NAME_LENGTH), nullable=True)
    current_stage: Mapped[str] = mapped_column(String(20), default="None")
    source: Mapped[str] = mapped_column(Text)
    run_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    run_link: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(32), default="READY")
    status_message: Mapped[str | None] = mapped_column(Text, nullable=True)


class ModelVersionTagRow(Base):
    __tablename__ = "model_version_tags"
    __table_args__ = (
        ForeignKeyConstraint(
            ["name", "version"],
            ["model_versions.name", "model_versions.version"],
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
    )

    name: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    key: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    value: Mapped[str] = mapped_column(String(TAG_VALUE_LENGTH))


class RegisteredModelAliasRow(Base):
    __tablename__ = "registered_model_aliases"
    __table_args__ = (
        ForeignKeyConstraint(
            ["name", "version"],
            ["model_versions.name", "model_versions.version"],
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
    )

    name: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)
    alias: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)


class PromotionRequestRow(Base):
    __tablename__ = "promotion_requests"
    __table_args__ = (
        CheckConstraint(
            "status IN ('PENDING', 'APPROVED', 'REJECTED', 'CANCELLED')",
            name="promotion_requests_status",
        ),
        Index("ix_promotion_requests_name_status", "name", "status"),
    )

    # No foreign key to the version: the governance record outlives a deleted version.
    request_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    version: Mapped[int] = mapped_column(Integer)
    target_stage: Mapped[str | None] = mapped_column(String(20), nullable=True)
    target_alias: Mapped[str | None] = mapped_column(String(KEY_LENGTH), nullable=True)
    archive_existing: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str] = mapped_column(String(NAME_LENGTH))
    requested_at: Mapped[int] = mapped_column(BigInteger)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    checks_json: Mapped[str] = mapped_column(Text, default="[]")
    decided_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH), nullable=True)
    decided_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    decision_comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    override: Mapped[bool] = mapped_column(Boolean, default=False)


class ModelEventRow(Base):
    """A registered model's history. No foreign key: history outlives deletion."""

    __tablename__ = "model_events"
    __table_args__ = (Index("ix_model_events_name", "name", "event_id"),)

    event_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    event_type: Mapped[str] = mapped_column(String(64))
    user_name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    timestamp: Mapped[int] = mapped_column(BigInteger)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    details_json: Mapped[str] = mapped_column(Text, default="{}")


class LoggedModelRow(Base):
    __tablename__ = "logged_models"
    __table_args__ = (Index("ix_logged_models_experiment", "experiment_id", "creation_time"),)

    model_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.experiment_id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    artifact_location: Mapped[str] = mapped_column(String(1000))
    creation_time: Mapped[int] = mapped_column(BigInteger)
    last_updated_time: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(40))
    source_run_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    model_type: Mapped[str | None] = mapped_column(String(NAME_LENGTH), nullable=True)
    lifecycle_stage: Mapped[str] = mapped_column(String(32), default="active")


class LoggedModelTagRow(Base):
    __tablename__ = "logged_model_tags"

    model_id: Mapped[str] = mapped_column(
        ForeignKey("logged_models.model_id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    value: Mapped[str] = mapped_column(String(TAG_VALUE_LENGTH))


class LoggedModelParamRow(Base):
    __tablename__ = "logged_model_params"

    model_id: Mapped[str] = mapped_column(
        ForeignKey("logged_models.model_id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    value: Mapped[str] = mapped_column(String(PARAM_VALUE_LENGTH))


class LoggedModelMetricRow(Base):
    """A metric point logged to a logged model (also kept in ``metrics`` for its run)."""

    __tablename__ = "logged_model_metrics"
    __table_args__ = (
        Index("ix_logged_model_metrics_model_key", "model_id", "key"),
        # Which of a run's points a model took (log_outputs gives a new model the rest).
        Index("ix_logged_model_metrics_run_point", "run_id", "key", "step", "timestamp"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("logged_models.model_id", ondelete="CASCADE"))
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(KEY_LENGTH))
    value: Mapped[float] = mapped_column(Float(precision=53))
    is_nan: Mapped[bool] = mapped_column(Boolean, default=False)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    step: Mapped[int] = mapped_column(BigInteger, default=0)
    dataset_name: Mapped[str | None] = mapped_column(String(DATASET_NAME_LENGTH), nullable=True)
    dataset_digest: Mapped[str | None] = mapped_column(String(DATASET_DIGEST_LENGTH), nullable=True)


class RunModelLinkRow(Base):
    """A logged model a run consumed (``input``, step 0) or produced (``output``, at a step;
    one model may be an output at several steps, as MLflow records each ``log_outputs``).
    ``id`` keeps the order they were logged in, which MLflow's fluent API relies on."""

    __tablename__ = "run_model_links"
    __table_args__ = (
        CheckConstraint("direction IN ('input', 'output')", name="run_model_links_direction"),
        UniqueConstraint("run_id", "model_id", "direction", "step", name="uq_run_model_links"),
        Index("ix_run_model_links_model", "model_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id", ondelete="CASCADE"))
    model_id: Mapped[str] = mapped_column(ForeignKey("logged_models.model_id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(8))
    step: Mapped[int] = mapped_column(BigInteger, default=0)


class EndpointRow(Base):
    """A serving endpoint. Its routes, SLO and canary plan are JSON documents of one row, so
    a change of traffic is one atomic update guarded by ``revision`` (optimistic locking:
    two canary controllers on two replicas cannot both apply a step)."""

    __tablename__ = "endpoints"

    name: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    routes_json: Mapped[str] = mapped_column(Text)
    previous_routes_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    sticky_key: Mapped[str | None] = mapped_column(String(KEY_LENGTH), nullable=True)
    slo_json: Mapped[str] = mapped_column(Text, default="{}")
    canary_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(String(NAME_LENGTH))
    creation_time: Mapped[int] = mapped_column(BigInteger)
    last_updated_time: Mapped[int] = mapped_column(BigInteger)


class EndpointEventRow(Base):
    """An endpoint's history: route changes, canary steps, rollbacks, SLO breaches.
    No foreign key: history outlives the endpoint."""

    __tablename__ = "endpoint_events"
    __table_args__ = (Index("ix_endpoint_events_endpoint", "endpoint", "event_id"),)

    event_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    endpoint: Mapped[str] = mapped_column(String(NAME_LENGTH))
    event_type: Mapped[str] = mapped_column(String(64))
    user_name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    timestamp: Mapped[int] = mapped_column(BigInteger)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    details_json: Mapped[str] = mapped_column(Text, default="{}")


class RouteStatsRow(Base):
    """Per-minute request counts and a latency histogram of one route, as one data-plane
    replica saw them. Each replica rewrites its own row of the current minute; readers sum
    over replicas and minutes (canary guardrails, SLOs)."""

    __tablename__ = "route_stats"
    __table_args__ = (Index("ix_route_stats_endpoint_minute", "endpoint", "minute"),)

    endpoint: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)
    route: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    model_name: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    replica: Mapped[str] = mapped_column(String(64), primary_key=True)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    errors: Mapped[int] = mapped_column(BigInteger, default=0)
    invalid: Mapped[int] = mapped_column(BigInteger, default=0)
    latency_sum_ms: Mapped[float] = mapped_column(Float, default=0.0)
    buckets_json: Mapped[str] = mapped_column(Text, default="[]")


class FeedbackRow(Base):
    """Ground truth and business outcomes for a served request, possibly days later."""

    __tablename__ = "feedback"
    __table_args__ = (
        Index("ix_feedback_endpoint_time", "endpoint", "timestamp"),
        Index("ix_feedback_endpoint_request", "endpoint", "request_id"),
    )

    feedback_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    endpoint: Mapped[str] = mapped_column(String(NAME_LENGTH))
    request_id: Mapped[str] = mapped_column(String(KEY_LENGTH))
    label_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    outcomes_json: Mapped[str] = mapped_column(Text, default="{}")
    timestamp: Mapped[int] = mapped_column(BigInteger)
    user_name: Mapped[str] = mapped_column(String(NAME_LENGTH))
