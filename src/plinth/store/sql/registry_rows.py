"""Registry rows -> entities: bulk loaders (one query per child table per page) and converters.

ORM rows never leave ``store/sql``; everything here returns frozen entities.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TypeVar

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from plinth.entities import Metric
from plinth.entities.registry import (
    CheckResult,
    LoggedModel,
    LoggedModelStatus,
    ModelEvent,
    ModelVersion,
    ModelVersionStatus,
    PromotionRequest,
    PromotionStatus,
    RegisteredModel,
    Stage,
)
from plinth.store.sql.models import (
    LatestMetricRow,
    LoggedModelMetricRow,
    LoggedModelParamRow,
    LoggedModelRow,
    LoggedModelTagRow,
    ModelEventRow,
    ModelVersionRow,
    ModelVersionTagRow,
    PromotionRequestRow,
    RegisteredModelAliasRow,
    RegisteredModelRow,
    RegisteredModelTagRow,
)

VersionKey = tuple[str, int]
_T = TypeVar("_T")
# SQLite binds at most 32766 parameters per statement (999 before 3.32); pairs take two.
_CHUNK = 400
_STAGE_ORDER = {stage: index for index, stage in enumerate(Stage)}


def _chunks(values: Sequence[_T]) -> Iterable[list[_T]]:
    for i in range(0, len(values), _CHUNK):
        yield list(values[i : i + _CHUNK])


def load_versions(s: Session, keys: Sequence[VersionKey]) -> list[ModelVersion]:
    """Whole versions (tags, aliases) for these keys, in this order; unknown keys are skipped."""
    rows: dict[VersionKey, ModelVersionRow] = {}
    tags: dict[VersionKey, dict[str, str]] = defaultdict(dict)
    for chunk in _chunks(keys):
        in_chunk = tuple_(ModelVersionRow.name, ModelVersionRow.version).in_(chunk)
        rows.update(
            {(r.name, r.version): r for r in s.scalars(select(ModelVersionRow).where(in_chunk))}
        )
        tag_key = tuple_(ModelVersionTagRow.name, ModelVersionTagRow.version).in_(chunk)
        for t in s.scalars(select(ModelVersionTagRow).where(tag_key)):
            tags[(t.name, t.version)][t.key] = t.value
    aliases: dict[VersionKey, list[str]] = defaultdict(list)
    for name, alias_map in load_aliases(s, sorted({k[0] for k in keys})).items():
        for alias, version in alias_map.items():
            aliases[(name, int(version))].append(alias)
    return [version_entity(rows[k], tags[k], sorted(aliases[k])) for k in keys if k in rows]


def load_aliases(s: Session, names: Sequence[str]) -> dict[str, dict[str, str]]:
    """alias -> version of each of these models."""
    found: dict[str, dict[str, str]] = defaultdict(dict)
    for chunk in _chunks(names):
        stmt = select(RegisteredModelAliasRow).where(RegisteredModelAliasRow.name.in_(chunk))
        for a in s.scalars(stmt.order_by(RegisteredModelAliasRow.alias)):
            found[a.name][a.alias] = str(a.version)
    return found


def latest_version_keys(
    s: Session, names: Sequence[str], stages: Sequence[Stage] = ()
) -> list[VersionKey]:
    """The newest version per (model, stage), computed in SQL (no scan of every version)."""
    keys: list[VersionKey] = []
    for chunk in _chunks(names):
        stmt = (
            select(ModelVersionRow.name, func.max(ModelVersionRow.version))
            .where(ModelVersionRow.name.in_(chunk))
            .group_by(ModelVersionRow.name, ModelVersionRow.current_stage)
        )
        if stages:
            stmt = stmt.where(ModelVersionRow.current_stage.in_([st.value for st in stages]))
        keys += [(name, version) for name, version in s.execute(stmt).tuples()]
    return keys


def load_models(s: Session, names: Sequence[str]) -> list[RegisteredModel]:
    """Whole registered models for these names, in this order."""
    rows: dict[str, RegisteredModelRow] = {}
    tags: dict[str, dict[str, str]] = defaultdict(dict)
    for chunk in _chunks(names):
        rows.update(
            {
                r.name: r
                for r in s.scalars(
                    select(RegisteredModelRow).where(RegisteredModelRow.name.in_(chunk))
                )
            }
        )
        for t in s.scalars(
            select(RegisteredModelTagRow).where(RegisteredModelTagRow.name.in_(chunk))
        ):
            tags[t.name][t.key] = t.value
    aliases = load_aliases(s, names)
    latest: dict[str, list[ModelVersion]] = defaultdict(list)
    for mv in load_versions(s, latest_version_keys(s, names)):
        latest[mv.name].append(mv)
    return [
        model_entity(rows[n], tags[n], aliases.get(n, {}), by_stage(latest[n]))
        for n in names
        if n in rows
    ]


def by_stage(versions: Iterable[ModelVersion]) -> list[ModelVersion]:
    """MLflow's latest_versions order: None, Staging, Production, Archived."""
    return sorted(versions, key=lambda mv: _STAGE_ORDER[mv.current_stage])


def run_metrics(s: Session, run_id: str | None) -> dict[str, float]:
    """A run's latest metrics (NaN restored); empty without a run."""
    if run_id is None:
        return {}
    rows = s.scalars(select(LatestMetricRow).where(LatestMetricRow.run_id == run_id))
    return {m.key: math.nan if m.is_nan else m.value for m in rows}


# -- converters -----------------------------------------------------------------------------
def version_entity(row: ModelVersionRow, tags: dict[str, str], aliases: list[str]) -> ModelVersion:
    """A version row with its tags and aliases as a ``ModelVersion``."""
    return ModelVersion(
        name=row.name,
        version=str(row.version),
        creation_timestamp=row.creation_time,
        last_updated_timestamp=row.last_updated_time,
        current_stage=Stage(row.current_stage),
        source=row.source,
        run_id=row.run_id,
        run_link=row.run_link,
        description=row.description,
        user_id=row.user_id,
        status=ModelVersionStatus(row.status),
        status_message=row.status_message,
        tags=dict(tags),
        aliases=list(aliases),
    )


def model_entity(
    row: RegisteredModelRow,
    tags: dict[str, str],
    aliases: dict[str, str],
    latest: list[ModelVersion],
) -> RegisteredModel:
    """A model row with its tags, aliases and latest versions as a ``RegisteredModel``."""
    return RegisteredModel(
        name=row.name,
        creation_timestamp=row.creation_time,
        last_updated_timestamp=row.last_updated_time,
        description=row.description,
        tags=dict(tags),
        aliases=dict(aliases),
        latest_versions=latest,
    )


def request_entity(row: PromotionRequestRow) -> PromotionRequest:
    """A request row, its checks decoded from JSON."""
    return PromotionRequest(
        request_id=row.request_id,
        name=row.name,
        version=str(row.version),
        target_stage=Stage(row.target_stage) if row.target_stage else None,
        target_alias=row.target_alias,
        archive_existing_versions=row.archive_existing,
        status=PromotionStatus(row.status),
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        comment=row.comment,
        checks=[CheckResult(**c) for c in json.loads(row.checks_json)],
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        decision_comment=row.decision_comment,
        override=row.override,
    )


def checks_json(checks: Sequence[CheckResult]) -> str:
    """Check results as stored in ``promotion_requests.checks_json``."""
    return json.dumps([{"check": c.check, "passed": c.passed, "detail": c.detail} for c in checks])


def event_entity(row: ModelEventRow) -> ModelEvent:
    """A history row, its details decoded from JSON."""
    return ModelEvent(
        event_id=row.event_id,
        name=row.name,
        version=None if row.version is None else str(row.version),
        event_type=row.event_type,
        user_name=row.user_name,
        timestamp=row.timestamp,
        comment=row.comment,
        details=json.loads(row.details_json),
    )


def load_logged_models(s: Session, model_ids: Sequence[str]) -> list[LoggedModel]:
    """Whole logged models (tags, params, metrics) for these ids, in this order."""
    rows: dict[str, LoggedModelRow] = {}
    tags: dict[str, dict[str, str]] = defaultdict(dict)
    params: dict[str, dict[str, str]] = defaultdict(dict)
    metrics: dict[str, list[Metric]] = defaultdict(list)
    for chunk in _chunks(model_ids):
        rows.update(
            {
                r.model_id: r
                for r in s.scalars(select(LoggedModelRow).where(LoggedModelRow.model_id.in_(chunk)))
            }
        )
        for t in s.scalars(select(LoggedModelTagRow).where(LoggedModelTagRow.model_id.in_(chunk))):
            tags[t.model_id][t.key] = t.value
        for p in s.scalars(
            select(LoggedModelParamRow).where(LoggedModelParamRow.model_id.in_(chunk))
        ):
            params[p.model_id][p.key] = p.value
        points = s.scalars(
            select(LoggedModelMetricRow)
            .where(LoggedModelMetricRow.model_id.in_(chunk))
            .order_by(
                LoggedModelMetricRow.key,
                LoggedModelMetricRow.step,
                LoggedModelMetricRow.timestamp,
                LoggedModelMetricRow.id,
            )
        )
        for m in points:
            metrics[m.model_id].append(_model_metric(m))
    return [_logged_model(rows[i], tags[i], params[i], metrics[i]) for i in model_ids if i in rows]


def _model_metric(row: LoggedModelMetricRow) -> Metric:
    return Metric(
        key=row.key,
        value=math.nan if row.is_nan else row.value,
        timestamp=row.timestamp,
        step=row.step,
        model_id=row.model_id,
        dataset_name=row.dataset_name,
        dataset_digest=row.dataset_digest,
        run_id=row.run_id,
    )


def _logged_model(
    row: LoggedModelRow,
    tags: dict[str, str],
    params: dict[str, str],
    metrics: list[Metric],
) -> LoggedModel:
    return LoggedModel(
        model_id=row.model_id,
        experiment_id=str(row.experiment_id),
        name=row.name,
        artifact_location=row.artifact_location,
        creation_timestamp=row.creation_time,
        last_updated_timestamp=row.last_updated_time,
        status=LoggedModelStatus(row.status),
        source_run_id=row.source_run_id,
        model_type=row.model_type,
        tags=dict(tags),
        params=dict(params),
        metrics=metrics,
    )
