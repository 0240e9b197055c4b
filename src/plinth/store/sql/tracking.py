"""The tracking store on SQLAlchemy: SQLite and PostgreSQL."""

from __future__ import annotations

import math
import secrets
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple, cast
from urllib.parse import urlsplit

from sqlalchemy import Connection, Select, Table, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from plinth.artifacts.base import normalize_url_path
from plinth.entities import (
    DEFAULT_EXPERIMENT_ID,
    Comment,
    Dataset,
    DatasetInput,
    Experiment,
    LifecycleStage,
    LoggedModelInput,
    LoggedModelOutput,
    Metric,
    Page,
    Param,
    Run,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
    now_ms,
)
from plinth.entities import validation as v
from plinth.entities.model_uris import PROXIED_ARTIFACTS_SCHEME
from plinth.entities.run_names import generate_run_name
from plinth.errors import (
    AlreadyExistsError,
    ConflictError,
    ExperimentNotFoundError,
    InvalidArgumentError,
    NotFoundError,
    RunNotFoundError,
)
from plinth.store.base import SEARCH_MAX_RESULTS_LIMIT, MetricPoint, TrackingStore
from plinth.store.sql.models import (
    DATASET_DIGEST_LENGTH,
    DATASET_NAME_LENGTH,
    KEY_LENGTH,
    METRIC_POINT,
    NAME_LENGTH,
    CommentRow,
    DatasetRow,
    ExperimentRow,
    ExperimentTagRow,
    LatestMetricRow,
    LoggedModelMetricRow,
    LoggedModelRow,
    MetricRow,
    ParamRow,
    RunInputRow,
    RunModelLinkRow,
    RunRow,
    TagRow,
)
from plinth.store.sql.run_rows import IN_CHUNK, chunks, load_run_info, load_runs, load_runs_by_id
from plinth.store.sql.run_search import choose_driver, run_search_statement
from plinth.store.sql.search import (
    decode_page_token,
    encode_page_token,
    experiment_search_statement,
)
from plinth.store.sql.session import SqlStoreBase, insert_rows
from plinth.tracking.search_filter import MAX_IN_VALUES, search_arguments

RUN_NAME_TAG = "mlflow.runName"
# Bulk inserts go through the Core tables: the ORM's bulk path does per-row work that cost
# more than half of a 1,000-point log_batch.
_METRIC_TABLE = cast(Table, MetricRow.__table__)
_PARAM_TABLE = cast(Table, ParamRow.__table__)
_RUN_TABLE = cast(Table, RunRow.__table__)
_LATEST_TABLE = cast(Table, LatestMetricRow.__table__)
_MODEL_METRIC_TABLE = cast(Table, LoggedModelMetricRow.__table__)
_LOGGED_MODEL_TABLE = cast(Table, LoggedModelRow.__table__)
_LOCK_RUN = (
    select(_RUN_TABLE.c.run_id)
    .where(_RUN_TABLE.c.run_id == bindparam("run_id"))
    # NO KEY UPDATE: writers of the run take turns, while other tables' foreign-key checks
    # on the row (a param or tag insert elsewhere) do not wait for them.
    .with_for_update(key_share=True)
)
# A model a run produced at a step takes the run's points of that step that no model has
# taken yet, as MLflow 3's log_model gives them to it (its client re-sends them; the repeat
# is then dropped): metrics computed before the model was logged describe it too. Read
# first, then inserted: as one INSERT ... SELECT, PostgreSQL planned the NOT EXISTS probe as
# a scan of the table the statement was filling (119 s for 50,000 points).
_POINTS_OF_STEP = _METRIC_TABLE.alias("point")
_TAKEN = _MODEL_METRIC_TABLE.alias("taken")
_UNTAKEN_POINTS = (
    select(
        _POINTS_OF_STEP.c.run_id,
        _POINTS_OF_STEP.c.key,
        _POINTS_OF_STEP.c.value,
        _POINTS_OF_STEP.c.is_nan,
        _POINTS_OF_STEP.c.timestamp,
        _POINTS_OF_STEP.c.step,
    )
    .where(
        _POINTS_OF_STEP.c.run_id == bindparam("run_id"),
        _POINTS_OF_STEP.c.step == bindparam("step"),
        ~select(_TAKEN.c.id)
        .where(
            _TAKEN.c.run_id == _POINTS_OF_STEP.c.run_id,
            _TAKEN.c.key == _POINTS_OF_STEP.c.key,
            _TAKEN.c.step == _POINTS_OF_STEP.c.step,
            _TAKEN.c.timestamp == _POINTS_OF_STEP.c.timestamp,
            _TAKEN.c.value == _POINTS_OF_STEP.c.value,
            _TAKEN.c.is_nan == _POINTS_OF_STEP.c.is_nan,
        )
        .exists(),
    )
    .distinct()
)  # a point logged twice is the model's once
_KNOWN_LOGGED_MODELS = select(_LOGGED_MODEL_TABLE.c.model_id).where(
    _LOGGED_MODEL_TABLE.c.model_id.in_(bindparam("model_ids", expanding=True))
)

# The single-call hot path's statements, built once: building a statement and its cache key
# on every log_param cost more than SQLite's work for it.
_RUN_STATE = select(_RUN_TABLE.c.run_id, _RUN_TABLE.c.status, _RUN_TABLE.c.lifecycle_stage).where(
    _RUN_TABLE.c.run_id == bindparam("run_id")
)
_LOGGED_PARAMS = select(_PARAM_TABLE.c.key, _PARAM_TABLE.c.value).where(
    _PARAM_TABLE.c.run_id == bindparam("run_id"),
    _PARAM_TABLE.c.key.in_(bindparam("keys", expanding=True)),
)
_INSERT_PARAMS = insert(_PARAM_TABLE)
_LATEST_POINTS = select(
    _LATEST_TABLE.c.key,
    _LATEST_TABLE.c.step,
    _LATEST_TABLE.c.timestamp,
    _LATEST_TABLE.c.value,
    _LATEST_TABLE.c.is_nan,
).where(
    _LATEST_TABLE.c.run_id == bindparam("run_id"),
    _LATEST_TABLE.c.key.in_(bindparam("keys", expanding=True)),
)
ARTIFACTS_SCHEME = "mlflow-artifacts:"


class SqlTrackingStore(SqlStoreBase, TrackingStore):
    """Tracking on SQL. Artifact locations default to ``mlflow-artifacts:/<experiment_id>``,
    resolved against the configured artifact root by whoever reads or writes artifacts, so
    the same database works embedded and behind ``plinth server``."""

    # -- experiments -----------------------------------------------------------------------
    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: Sequence[RunTag] = ()
    ) -> str:
        v.validate_experiment_name(name)
        if artifact_location:
            v.validate_text("artifact_location", artifact_location, 1000)
            artifact_location = _proxied_location(artifact_location)
        # A repeated key keeps its last value, as create_run and set_tag do.
        checked_tags = {t.key: t.value for t in map(_checked_tag, tags)}
        now = now_ms()
        try:
            with self._write() as s:
                row = ExperimentRow(
                    name=name,
                    artifact_location=artifact_location or "",
                    lifecycle_stage=LifecycleStage.ACTIVE,
                    creation_time=now,
                    last_update_time=now,
                )
                s.add(row)
                s.flush()
                if not artifact_location:
                    row.artifact_location = f"{ARTIFACTS_SCHEME}/{row.experiment_id}"
                s.add_all(
                    ExperimentTagRow(experiment_id=row.experiment_id, key=k, value=x)
                    for k, x in checked_tags.items()
                )
                self._audit(
                    s, "create_experiment", "experiment", str(row.experiment_id), {"name": name}
                )
                return str(row.experiment_id)
        except IntegrityError as exc:
            raise AlreadyExistsError(
                f"Experiment '{name}' already exists (it may be deleted: restore it or "
                "choose another name)."
            ) from exc

    def get_experiment(self, experiment_id: str) -> Experiment:
        with self._read() as s:
            return self._experiment_entity(s, self._experiment_row(s, experiment_id))

    def find_experiment_by_name(self, name: str) -> Experiment | None:
        with self._read() as s:
            row = s.scalars(select(ExperimentRow).where(ExperimentRow.name == name)).first()
            return None if row is None else self._experiment_entity(s, row)

    def search_experiments(
        self,
        *,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        filter_string: str | None = None,
        order_by: Sequence[str] = (),
        page_token: str | None = None,
    ) -> Page[Experiment]:
        _check_max_results(max_results)
        filter_string, order_by = search_arguments(filter_string, order_by)
        offset = decode_page_token(page_token)
        stmt = experiment_search_statement(
            view_type=view_type,
            filter_string=filter_string,
            order_by=order_by,
            offset=offset,
            limit=max_results + 1,
        )
        with self._read() as s:
            ids = list(s.scalars(stmt))
            has_more = len(ids) > max_results
            ids = ids[:max_results]
            rows = {r.experiment_id: r for r in _in_chunks(s, ExperimentRow, "experiment_id", ids)}
            tags = self._experiment_tags(s, ids)
            items = [_experiment_from_row(rows[i], tags.get(i, {})) for i in ids]
        token = encode_page_token(offset + max_results) if has_more else None
        return Page(items, token)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        v.validate_experiment_name(new_name)
        try:
            with self._write() as s:
                row = self._experiment_row(s, experiment_id)
                _require_active_experiment(row)
                old = row.name
                row.name, row.last_update_time = new_name, now_ms()
                s.flush()
                self._audit(
                    s,
                    "rename_experiment",
                    "experiment",
                    experiment_id,
                    {"from": old, "to": new_name},
                )
        except IntegrityError as exc:
            raise AlreadyExistsError(f"Experiment '{new_name}' already exists.") from exc

    def delete_experiment(self, experiment_id: str) -> None:
        if v.validate_experiment_id(experiment_id) == int(DEFAULT_EXPERIMENT_ID):
            # As MLflow: runs started without an experiment land there.
            raise InvalidArgumentError(
                "The Default experiment (id 0) cannot be deleted: runs started without an "
                "experiment go there."
            )
        self._set_experiment_stage(experiment_id, LifecycleStage.DELETED)

    def restore_experiment(self, experiment_id: str) -> None:
        self._set_experiment_stage(experiment_id, LifecycleStage.ACTIVE)

    def _set_experiment_stage(self, experiment_id: str, stage: LifecycleStage) -> None:
        with self._write() as s:
            row = self._experiment_row(s, experiment_id)
            if row.lifecycle_stage == stage:
                # MLflow's codes: delete finds only active experiments, restore deleted ones.
                deleting = stage is LifecycleStage.DELETED
                raise ExperimentNotFoundError(
                    f"No {'active' if deleting else 'deleted'} experiment with "
                    f"id={experiment_id}: it is {'already deleted' if deleting else 'active'}."
                )
            now = now_ms()
            row.lifecycle_stage, row.last_update_time = stage, now
            other = (
                LifecycleStage.ACTIVE if stage is LifecycleStage.DELETED else LifecycleStage.DELETED
            )
            s.execute(
                update(RunRow)
                .where(RunRow.experiment_id == row.experiment_id)
                .where(RunRow.lifecycle_stage == other)
                .values(
                    lifecycle_stage=stage,
                    deleted_time=now if stage is LifecycleStage.DELETED else None,
                )
            )
            action = (
                "delete_experiment" if stage is LifecycleStage.DELETED else "restore_experiment"
            )
            self._audit(s, action, "experiment", experiment_id, {"name": row.name})

    def set_experiment_tag(self, experiment_id: str, tag: RunTag) -> None:
        tag = _checked_tag(tag)
        with self._write() as s:
            row = self._experiment_row(s, experiment_id)
            _require_active_experiment(row)
            self._upsert(
                s,
                ExperimentTagRow.__table__,  # type: ignore[arg-type]
                [{"experiment_id": row.experiment_id, "key": tag.key, "value": tag.value}],
                keys=("experiment_id", "key"),
                update=("value",),
            )
            self._audit(s, "set_experiment_tag", "experiment", experiment_id, {"key": tag.key})

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        with self._write() as s:
            row = self._experiment_row(s, experiment_id)
            _require_active_experiment(row)
            result = s.execute(
                delete(ExperimentTagRow)
                .where(ExperimentTagRow.experiment_id == row.experiment_id)
                .where(ExperimentTagRow.key == key)
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise NotFoundError(f"No tag with name '{key}' in experiment {experiment_id}.")
            self._audit(s, "delete_experiment_tag", "experiment", experiment_id, {"key": key})

    def _experiment_row(self, s: Session, experiment_id: str) -> ExperimentRow:
        row = s.get(ExperimentRow, v.validate_experiment_id(experiment_id))
        if row is None:
            raise ExperimentNotFoundError(f"No Experiment with id={experiment_id} exists")
        return row

    def _experiment_tags(self, s: Session, ids: Sequence[int]) -> dict[int, dict[str, str]]:
        tags: dict[int, dict[str, str]] = defaultdict(dict)
        for t in _in_chunks(s, ExperimentTagRow, "experiment_id", ids):
            tags[t.experiment_id][t.key] = t.value
        return tags

    def _experiment_entity(self, s: Session, row: ExperimentRow) -> Experiment:
        tags = self._experiment_tags(s, [row.experiment_id]).get(row.experiment_id, {})
        return _experiment_from_row(row, tags)

    # -- runs ------------------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        *,
        user_id: str,
        start_time: int,
        tags: Sequence[RunTag] = (),
        run_name: str | None = None,
    ) -> Run:
        v.validate_timestamp("start_time", start_time)
        v.validate_text("user_id", user_id, NAME_LENGTH)
        checked = {t.key: t.value for t in (_checked_tag(t) for t in tags)}
        run_name = _checked_run_name(run_name or checked.get(RUN_NAME_TAG) or generate_run_name())
        if checked.get(RUN_NAME_TAG, run_name) != run_name:
            raise InvalidArgumentError(
                f"run_name '{run_name}' and tag {RUN_NAME_TAG}='{checked[RUN_NAME_TAG]}' differ."
            )
        checked[RUN_NAME_TAG] = run_name
        run_id = uuid.uuid4().hex
        with self._write() as s:
            experiment = self._experiment_row(s, experiment_id)
            if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
                raise ConflictError(
                    f"Experiment {experiment_id} is deleted; restore it to create runs in it."
                )
            s.add(
                RunRow(
                    run_id=run_id,
                    experiment_id=experiment.experiment_id,
                    run_name=run_name,
                    user_id=user_id,
                    status=RunStatus.RUNNING,
                    start_time=start_time,
                    end_time=None,
                    artifact_uri=f"{experiment.artifact_location.rstrip('/')}/{run_id}/artifacts",
                    lifecycle_stage=LifecycleStage.ACTIVE,
                )
            )
            s.flush()
            s.execute(
                insert(TagRow),
                [{"run_id": run_id, "key": k, "value": x} for k, x in checked.items()],
            )
            self._audit(
                s,
                "create_run",
                "run",
                run_id,
                {"experiment_id": experiment_id, "run_name": run_name},
            )
            return load_runs_by_id(s.connection(), [run_id])[0]

    def get_run(self, run_id: str) -> Run:
        v.validate_run_id(run_id)
        with self._read_connection() as connection:
            runs = load_runs_by_id(connection, [run_id])
            if not runs:
                raise RunNotFoundError(f"Run with id={run_id} not found")
            return runs[0]

    def get_run_info(self, run_id: str) -> RunInfo:
        v.validate_run_id(run_id)
        with self._read_connection() as connection:
            info = load_run_info(connection, run_id)
        if info is None:
            raise RunNotFoundError(f"Run with id={run_id} not found")
        return info

    def update_run_info(
        self,
        run_id: str,
        *,
        status: RunStatus | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunInfo:
        if end_time is not None:
            v.validate_timestamp("end_time", end_time)
        with self._write() as s:
            row = self._run_row(s, run_id)
            _require_active_run(row)
            changes: dict[str, object] = {}
            if status is not None:
                row.status = changes["status"] = RunStatus(status)
                if not RunStatus(status).is_terminal:
                    row.end_time = None
            if end_time is not None:
                row.end_time = changes["end_time"] = end_time
            if run_name:
                row.run_name = changes["run_name"] = _checked_run_name(run_name)
                self._upsert_tags(s, run_id, {RUN_NAME_TAG: run_name})
            self._audit(s, "update_run", "run", run_id, changes)
            s.flush()
            return _run_info_from_row(row)

    def delete_run(self, run_id: str) -> None:
        self._set_run_stage(run_id, LifecycleStage.DELETED)

    def restore_run(self, run_id: str) -> None:
        self._set_run_stage(run_id, LifecycleStage.ACTIVE)

    def _set_run_stage(self, run_id: str, stage: LifecycleStage) -> None:
        with self._write() as s:
            row = self._run_row(s, run_id)
            row.lifecycle_stage = stage
            row.deleted_time = now_ms() if stage is LifecycleStage.DELETED else None
            action = "delete_run" if stage is LifecycleStage.DELETED else "restore_run"
            self._audit(s, action, "run", run_id)

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        v.validate_batch_size(len(metrics), len(params), len(tags))
        metric_rows = _checked_metric_rows(run_id, metrics)
        model_rows = _model_metric_rows(metrics, metric_rows)
        param_values = v.validate_params(params)
        tag_values = {t.key: t.value for t in (_checked_tag(t) for t in tags)}
        if RUN_NAME_TAG in tag_values:
            _checked_run_name(tag_values[RUN_NAME_TAG])
        summary = _batch_summary(metric_rows, param_values, tag_values)
        if RUN_NAME_TAG in tag_values:  # renames the run: the ORM row changes too
            with self._write() as s:
                row = self._run_row(s, run_id)
                row.run_name = tag_values[RUN_NAME_TAG]
                self._log_rows(
                    s.connection(), row, metric_rows, param_values, tag_values, model_rows
                )
                self._audit(s, "log_batch", "run", run_id, summary)
            return
        # The single-call hot path: Core statements only, the run's state read as a tuple.
        with self._write_connection() as conn:
            state = self._run_state(conn, run_id)
            self._log_rows(conn, state, metric_rows, param_values, tag_values, model_rows)
            self._audit(conn, "log_batch", "run", run_id, summary)

    def _log_rows(
        self,
        conn: Connection,
        run: RunRow | _RunState,
        metric_rows: list[dict[str, object]],
        param_values: dict[str, str],
        tag_values: dict[str, str],
        model_rows: list[dict[str, object]],
    ) -> None:
        _require_active_run(run)
        if metric_rows:  # a model's points are among them too
            self._lock_run(conn, run.run_id)
        if model_rows:
            # Points naming models come again: MLflow's log_model re-sends the run's points
            # of its step with the new model's id, and its log_metrics sends one point per
            # model of the step. As MLflow's server does (its keys make them one row), an
            # identical point is kept once, on the run and on each model; linking a finished
            # run's points to a model leaves the run's record as it was.
            _require_logged_models(conn, {str(r["model_id"]) for r in model_rows})
            linked = {tuple(r[c] for c in _POINT) for r in model_rows}
            stored_points = _run_points(run.run_id, metric_rows)
            metric_rows = _unseen(conn, stored_points, _POINT, metric_rows, among=linked)
            model_rows = _unseen(conn, _model_points(model_rows), _MODEL_POINT, model_rows)
        if (metric_rows or param_values) and RunStatus(run.status).is_terminal:
            raise ConflictError(
                f"Run {run.run_id} is {run.status}; metrics and params can only be logged to "
                "a running run. Start a new run, or resume this one with "
                f"start_run(run_id='{run.run_id}')."
            )
        self._insert_params(conn, run.run_id, param_values)
        if model_rows:
            insert_rows(conn, _MODEL_METRIC_TABLE, model_rows)
        if metric_rows:
            insert_rows(conn, _METRIC_TABLE, metric_rows, skip_existing=METRIC_POINT)
            self._update_latest_metrics(conn, run.run_id, metric_rows)
        if tag_values:
            self._upsert_tags(conn, run.run_id, tag_values)

    def _insert_params(self, conn: Connection, run_id: str, values: dict[str, str]) -> None:
        if not values:
            return
        existing = dict(
            conn.execute(_LOGGED_PARAMS, {"run_id": run_id, "keys": list(values)}).all()
        )
        for key, old in existing.items():
            if old != values[key]:
                raise InvalidArgumentError(
                    f"Changing param values is not allowed. Param with key='{key}' was already "
                    f"logged with value='{old}' for run ID='{run_id}'. Attempted logging new value "
                    f"'{values[key]}'."
                )
        new = [
            {"run_id": run_id, "key": k, "value": x} for k, x in values.items() if k not in existing
        ]
        if new:
            conn.execute(_INSERT_PARAMS, new)

    def _update_latest_metrics(
        self, conn: Connection, run_id: str, rows: list[dict[str, object]]
    ) -> None:
        """Keep the point with the greatest (step, timestamp, value) per key, as MLflow does."""
        by_key: dict[object, list[dict[str, object]]] = {}
        for r in rows:
            by_key.setdefault(r["key"], []).append(r)
        # max() keeps the first of equal points, as the strict comparison it replaces did.
        best = {str(k): max(group, key=_metric_order) for k, group in by_key.items()}
        current = {
            key: {"step": step, "timestamp": timestamp, "value": value, "is_nan": is_nan}
            for key, step, timestamp, value, is_nan in conn.execute(
                _LATEST_POINTS, {"run_id": run_id, "keys": list(best)}
            )
        }
        changed = [
            r
            for k, r in best.items()
            if k not in current or _metric_order(r) >= _metric_order(current[k])
        ]
        self._upsert(
            conn,
            LatestMetricRow.__table__,  # type: ignore[arg-type]
            changed,
            keys=("run_id", "key"),
            update=("value", "is_nan", "timestamp", "step"),
        )

    def _upsert_tags(
        self, target: Session | Connection, run_id: str, values: dict[str, str]
    ) -> None:
        self._upsert(
            target,
            TagRow.__table__,  # type: ignore[arg-type]
            [{"run_id": run_id, "key": k, "value": x} for k, x in values.items()],
            keys=("run_id", "key"),
            update=("value",),
        )

    def delete_tag(self, run_id: str, key: str) -> None:
        with self._write() as s:
            row = self._run_row(s, run_id)
            _require_active_run(row)
            result = s.execute(delete(TagRow).where(TagRow.run_id == run_id, TagRow.key == key))
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise NotFoundError(f"No tag with name: {key} in run with id {run_id}")
            self._audit(s, "delete_tag", "run", run_id, {"key": key})

    def get_metric_history(
        self,
        run_id: str,
        key: str,
        *,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> Page[Metric]:
        page = self.get_metric_points(run_id, key, max_results=max_results, page_token=page_token)
        items = [
            Metric(key=key, value=value, timestamp=timestamp, step=step)
            for value, timestamp, step in page.items
        ]
        return Page(items, page.next_page_token)

    def get_metric_points(
        self,
        run_id: str,
        key: str,
        *,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> Page[MetricPoint]:
        offset = decode_page_token(page_token)
        m = _METRIC_TABLE.c
        stmt = (
            select(m.value, m.is_nan, m.timestamp, m.step)
            .where(m.run_id == run_id, m.key == key)
            .order_by(m.step, m.timestamp, m.id)
            .offset(offset)
        )
        if max_results is not None:
            _check_max_results(max_results, limit=10**6)
            stmt = stmt.limit(max_results + 1)
        with self._read_connection() as conn:
            self._run_state(conn, run_id)
            rows = _driver_rows(conn, stmt)
        has_more = max_results is not None and len(rows) > max_results
        rows = rows[:max_results] if max_results is not None else rows
        nan = math.nan
        points = [(nan if is_nan else value, ts, step) for value, is_nan, ts, step in rows]
        return Page(points, encode_page_token(offset + len(points)) if has_more else None)

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        *,
        filter_string: str | None = None,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] = (),
        page_token: str | None = None,
    ) -> Page[Run]:
        _check_max_results(max_results)
        filter_string, order_by = search_arguments(filter_string, order_by)
        view_type = ViewType.of(view_type)
        offset = decode_page_token(page_token)
        listed = v.validate_list("experiment_ids", experiment_ids, limit=MAX_IN_VALUES)
        ids = [v.validate_experiment_id(e) for e in listed]
        with self._read_connection() as connection:
            driver = None
            if self.dialect == "sqlite":  # PostgreSQL's planner makes this choice itself
                driver = choose_driver(
                    connection, experiment_ids=ids, filter_string=filter_string, view_type=view_type
                )
            search = run_search_statement(
                experiment_ids=ids,
                filter_string=filter_string,
                view_type=view_type,
                order_by=order_by,
                offset=offset,
                limit=max_results + 1,
                driver=driver,
            )
            rows = connection.execute(search.statement, search.parameters).all()
            runs = load_runs(connection, rows[:max_results])
        token = encode_page_token(offset + max_results) if len(rows) > max_results else None
        return Page(runs, token)

    def log_inputs(
        self,
        run_id: str,
        datasets: Sequence[DatasetInput] = (),
        *,
        models: Sequence[LoggedModelInput] = (),
    ) -> None:
        v.validate_list("datasets", datasets, of=DatasetInput)
        v.validate_list("models", models, of=LoggedModelInput)
        with self._write() as s:
            row = self._run_row(s, run_id)
            _require_active_run(row)
            self._link_models(s, run_id, "input", [(m.model_id, 0) for m in models])
            for item in datasets:
                _check_input_tags(item)
                dataset_id = self._dataset_id(s, row.experiment_id, item.dataset)
                tags = {t.key: t.value for t in item.tags}
                where = f"dataset input '{item.dataset.name}' tags"
                tags_json = v.json_text(tags, where, sort_keys=True)
                self._upsert(
                    s,
                    RunInputRow.__table__,  # type: ignore[arg-type]
                    [{"run_id": run_id, "dataset_id": dataset_id, "tags_json": tags_json}],
                    keys=("run_id", "dataset_id"),
                    # As MLflow: a dataset logged again to the same run keeps its first
                    # tags (its context among them), so searches on it do not change.
                    update=(),
                )
            self._audit(
                s,
                "log_inputs",
                "run",
                run_id,
                {
                    "datasets": [f"{d.dataset.name}@{d.dataset.digest}" for d in datasets],
                    "models": [m.model_id for m in models],
                },
            )

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        v.validate_list("models", models, of=LoggedModelOutput)
        links = [(m.model_id, _output_step(m)) for m in models]
        with self._write() as s:
            row = self._run_row(s, run_id)
            _require_active_run(row)
            self._lock_run(s.connection(), run_id)
            self._link_models(s, run_id, "output", links)
            for model_id, step in links:
                points = s.execute(_UNTAKEN_POINTS, {"run_id": run_id, "step": step}).mappings()
                rows = [{**point, "model_id": model_id} for point in points]
                if rows:
                    insert_rows(s.connection(), _MODEL_METRIC_TABLE, rows)
            self._audit(s, "log_outputs", "run", run_id, {"models": [m for m, _ in links]})

    def _lock_run(self, conn: Connection, run_id: str) -> None:
        """Make concurrent writers of one run's points take turns. Writers of model points
        would both find the same points untaken (or new) and store them twice; writers of
        the same points in other orders would each wait on the unique point index for a
        point the other inserted (PostgreSQL's "deadlock detected"). SQLite writes one at a
        time already; PostgreSQL locks the run's row until the transaction ends."""
        if self.dialect == "postgresql":
            conn.execute(_LOCK_RUN, {"run_id": run_id})

    def _link_models(
        self, s: Session, run_id: str, direction: str, links: list[tuple[str, int]]
    ) -> None:
        if not links:
            return
        _require_logged_models(s.connection(), {model_id for model_id, _ in links})
        self._upsert(
            s,
            RunModelLinkRow.__table__,  # type: ignore[arg-type]
            [
                {"run_id": run_id, "model_id": m, "direction": direction, "step": step}
                for m, step in links
            ],
            keys=("run_id", "model_id", "direction", "step"),
            update=(),  # a repeated link is recorded once
        )

    def _dataset_id(self, s: Session, experiment_id: int, ds: Dataset) -> str:
        for field, value, limit in (
            ("name", ds.name, 500),
            ("digest", ds.digest, 64),
            ("source_type", ds.source_type, 64),
        ):
            if not value:
                raise InvalidArgumentError(f"Dataset {field} must be a non-empty string.")
            v.validate_text(f"Dataset {field}", value, limit)
        # MLflow's limits, so what one accepts the other stores too.
        for field, text, limit in (
            ("source", ds.source, 65_535),
            ("schema", ds.schema, 1_048_575),
            ("profile", ds.profile, 16_777_215),
        ):
            v.validate_text(f"Dataset {field}", text or "", limit)
        existing = s.scalars(
            select(DatasetRow.dataset_id).where(
                DatasetRow.experiment_id == experiment_id,
                DatasetRow.name == ds.name,
                DatasetRow.digest == ds.digest,
            )
        ).first()
        if existing:
            return existing
        dataset_id = uuid.uuid4().hex
        s.add(
            DatasetRow(
                dataset_id=dataset_id,
                experiment_id=experiment_id,
                name=ds.name,
                digest=ds.digest,
                source_type=ds.source_type,
                source=ds.source,
                schema=ds.schema,
                profile=ds.profile,
            )
        )
        s.flush()
        return dataset_id

    def add_comment(self, run_id: str, text: str) -> Comment:
        v.validate_text("Comment text", text)
        if not text.strip():
            raise InvalidArgumentError("Comment text must not be empty.")
        with self._write() as s:
            row = self._run_row(s, run_id)
            _require_active_run(row)
            comment = CommentRow(
                comment_id=_time_ordered_id(),
                run_id=run_id,
                user_id=self.actor,
                text=text,
                created_at=now_ms(),
            )
            s.add(comment)
            self._audit(s, "add_comment", "run", run_id, {"comment_id": comment.comment_id})
            return _comment_from_row(comment)

    def list_comments(self, run_id: str) -> list[Comment]:
        with self._read() as s:
            self._run_row(s, run_id)
            rows = s.scalars(
                select(CommentRow)
                .where(CommentRow.run_id == run_id)
                .order_by(CommentRow.created_at, CommentRow.comment_id)
            )
            return [_comment_from_row(r) for r in rows]

    # -- loading ---------------------------------------------------------------------------
    def _run_state(self, conn: Connection, run_id: str) -> _RunState:
        found = conn.execute(_RUN_STATE, {"run_id": v.validate_run_id(run_id)}).first()
        if found is None:
            raise RunNotFoundError(f"Run with id={run_id} not found")
        return _RunState(run_id=found[0], status=found[1], lifecycle_stage=found[2])

    def _run_row(self, s: Session, run_id: str) -> RunRow:
        row = s.get(RunRow, v.validate_run_id(run_id))
        if row is None:
            raise RunNotFoundError(f"Run with id={run_id} not found")
        return row

    @contextmanager
    def _read_connection(self) -> Iterator[Connection]:
        """A read transaction on a Core connection: run pages are read as tuples, without
        the ORM session's per-statement work."""
        with self._translate_errors(), self.engine.connect() as connection:
            yield connection


def _driver_rows(conn: Connection, stmt: Select[Any]) -> list[tuple[Any, ...]]:
    """All rows of ``stmt`` as the driver's own tuples.

    For long results of plain columns: SQLAlchemy's per-row work (``Row`` objects, type
    processors) cost more than SQLite's for a 10,000-point metric history (8 ms of 13).
    The columns must need no conversion beyond what the driver does (floats, ints, and
    booleans read only for their truth value: SQLite returns them as 0/1).
    """
    result = conn.execute(stmt)
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


# -- row -> entity converters and checks -----------------------------------------------------
def _experiment_from_row(row: ExperimentRow, tags: dict[str, str]) -> Experiment:
    return Experiment(
        experiment_id=str(row.experiment_id),
        name=row.name,
        artifact_location=row.artifact_location,
        lifecycle_stage=LifecycleStage(row.lifecycle_stage),
        tags=tags,
        creation_time=row.creation_time,
        last_update_time=row.last_update_time,
    )


def _run_info_from_row(row: RunRow) -> RunInfo:
    return RunInfo(
        run_id=row.run_id,
        experiment_id=str(row.experiment_id),
        run_name=row.run_name,
        user_id=row.user_id,
        status=RunStatus(row.status),
        start_time=row.start_time,
        end_time=row.end_time,
        artifact_uri=row.artifact_uri,
        lifecycle_stage=LifecycleStage(row.lifecycle_stage),
    )


def _comment_from_row(row: CommentRow) -> Comment:
    return Comment(
        comment_id=row.comment_id,
        run_id=row.run_id,
        user_id=row.user_id,
        text=row.text,
        created_at=row.created_at,
    )


def _checked_tag(tag: RunTag) -> RunTag:
    return RunTag(v.validate_key("Tag", tag.key), v.validate_tag_value(tag.key, tag.value))


def _checked_run_name(name: str) -> str:
    return v.validate_text("run_name", name, KEY_LENGTH)


def _checked_metric_rows(run_id: str, metrics: Sequence[Metric]) -> list[dict[str, object]]:
    """Validated rows for the metrics table. A batch repeats few keys, so each key is checked
    once; the usual int timestamps and steps skip the validators, which only build the
    error message for anything else."""
    checked_keys: set[str] = set()
    rows: list[dict[str, object]] = []
    for m in metrics:
        key, timestamp, step = m.key, m.timestamp, m.step
        if type(key) is not str or key not in checked_keys:
            checked_keys.add(v.validate_key("Metric", key))
        value = v.validate_metric_value(key, m.value)
        is_nan = value != value  # NaN is the one float unequal to itself
        if value == 0.0:
            # -0.0 equals 0.0, so the unique point index keeps whichever came first; one
            # spelling keeps the history and the latest value alike (SQLite stores 0.0).
            value = 0.0
        if type(timestamp) is not int or not 0 <= timestamp <= v.MAX_TIMESTAMP_MS:
            timestamp = v.validate_timestamp(f"Metric '{key}' timestamp", timestamp)
        if type(step) is not int or not -(2**63) < step < 2**63:
            step = v.validate_step(f"Metric '{key}' step", step)
        rows.append(
            {
                "run_id": run_id,
                "key": key,
                "value": 0.0 if is_nan else value,
                "is_nan": is_nan,
                "timestamp": timestamp,
                "step": step,
            }
        )
    return rows


def _model_metric_rows(
    metrics: Sequence[Metric], metric_rows: list[dict[str, object]]
) -> list[dict[str, object]]:
    """Rows for ``logged_model_metrics``: the checked points that name a logged model."""
    rows: list[dict[str, object]] = []
    for m, row in zip(metrics, metric_rows, strict=True):
        if m.model_id is None:
            continue
        if (m.dataset_name is None) != (m.dataset_digest is None):
            raise InvalidArgumentError(
                f"Metric '{m.key}' names a dataset by half: give both dataset_name and "
                "dataset_digest, or neither.",
                details={"field": "dataset_name"},
            )
        rows.append(
            {
                **row,
                "model_id": _checked_model_id(m.model_id),
                "dataset_name": _optional_text(
                    f"Metric '{m.key}' dataset_name", m.dataset_name, DATASET_NAME_LENGTH
                ),
                "dataset_digest": _optional_text(
                    f"Metric '{m.key}' dataset_digest", m.dataset_digest, DATASET_DIGEST_LENGTH
                ),
            }
        )
    return rows


_POINT = ("key", "timestamp", "step", "value", "is_nan")
_MODEL_POINT = ("model_id", "run_id", *_POINT, "dataset_name", "dataset_digest")


def _run_points(run_id: str, rows: list[dict[str, object]]) -> Select[Any]:
    """The run's stored points that may equal one of ``rows``, as ``_POINT`` tuples: only
    their keys, steps and timestamps are read (not a metric's whole history per call)."""
    table = _METRIC_TABLE
    return select(*(table.c[c] for c in _POINT)).where(
        table.c.run_id == run_id, *_same_key_step_time(table, rows)
    )


def _model_points(rows: list[dict[str, object]]) -> Select[Any]:
    """The stored model points that may equal one of ``rows``, as ``_MODEL_POINT``."""
    models = sorted({str(r["model_id"]) for r in rows})
    table = _MODEL_METRIC_TABLE
    return select(*(table.c[c] for c in _MODEL_POINT)).where(
        table.c.model_id.in_(models), *_same_key_step_time(table, rows)
    )


def _same_key_step_time(table: Table, rows: list[dict[str, object]]) -> list[Any]:
    """The rows' keys (an ``IN`` list, if it fits in ``IN_CHUNK`` bound values, which old
    SQLite builds cap near 999), steps and timestamps (ranges): what the index
    ``(run_id, key, step, timestamp)`` narrows to the batch's stretch of the history."""
    keys = sorted({str(r["key"]) for r in rows})
    steps = [cast(int, r["step"]) for r in rows]
    times = [cast(int, r["timestamp"]) for r in rows]
    filters = [
        table.c.step.between(min(steps), max(steps)),
        table.c.timestamp.between(min(times), max(times)),
    ]
    if len(keys) <= IN_CHUNK:
        filters.append(table.c.key.in_(keys))
    return filters


def _unseen(
    conn: Connection,
    stored: Select[Any],
    columns: tuple[str, ...],
    rows: list[dict[str, object]],
    *,
    among: set[tuple[object, ...]] | None = None,
) -> list[dict[str, object]]:
    """``rows`` without those equal (on ``columns``, what ``stored`` selects) to a stored
    row or to an earlier row of the list; with ``among``, only rows equal to one of those
    may be dropped (a batch's plain points are logged as any plain batch's are)."""
    seen = {tuple(row) for row in conn.execute(stored)}
    fresh = []
    for row in rows:
        point = tuple(row[c] for c in columns)
        if among is not None and point not in among:
            fresh.append(row)
        elif point not in seen:
            seen.add(point)
            fresh.append(row)
    return fresh


def _checked_model_id(model_id: object) -> str:
    if not isinstance(model_id, str) or not model_id:
        raise InvalidArgumentError(
            f"model_id must be a logged model's id (m-...), got {model_id!r}.",
            details={"field": "model_id"},
        )
    return model_id


def _output_step(model: LoggedModelOutput) -> int:
    step = model.step
    if isinstance(step, bool) or not isinstance(step, int) or abs(step) >= 2**63:
        raise InvalidArgumentError(
            f"The step of logged model {model.model_id!r} must be a 64-bit integer, got {step!r}.",
            details={"field": "step"},
        )
    return step


def _optional_text(field: str, value: str | None, limit: int) -> str | None:
    if value == "":
        raise InvalidArgumentError(f"{field} is empty; give a value or leave it out.")
    return None if value is None else v.validate_text(field, value, limit)


def _require_logged_models(conn: Connection, model_ids: set[str]) -> None:
    """Raises ``NotFoundError`` naming the first of ``model_ids`` that is no logged model:
    links and metrics to it would be lost from view. A deleted model still takes them, as in
    MLflow: its run's outputs name it, and MLflow's fluent ``log_metric`` then sends its id
    with every metric of that step, which must not lose the run's own metric."""
    checked = {_checked_model_id(m) for m in model_ids}
    found = set(conn.execute(_KNOWN_LOGGED_MODELS, {"model_ids": sorted(checked)}).scalars())
    missing = sorted(checked - found)
    if missing:
        raise NotFoundError(f"Logged model with ID '{missing[0]}' not found.")


def _metric_order(r: Mapping[str, Any]) -> tuple[int, int, float]:
    # Rows come from _checked_metric_rows or the database: already int, int, float.
    return (r["step"], r["timestamp"], -math.inf if r["is_nan"] else r["value"])


def _batch_summary(
    metrics: list[dict[str, object]], params: dict[str, str], tags: dict[str, str]
) -> dict[str, object]:
    return {
        "metrics": len(metrics),
        "params": sorted(params)[:20],
        "tags": sorted(tags)[:20],
    }


def _require_active_experiment(row: ExperimentRow) -> None:
    if row.lifecycle_stage != LifecycleStage.ACTIVE:
        raise ConflictError(f"Experiment {row.experiment_id} is deleted; restore it first.")


class _RunState(NamedTuple):
    """What logging needs to know about a run."""

    run_id: str
    status: str
    lifecycle_stage: str


def _require_active_run(row: RunRow | _RunState) -> None:
    if row.lifecycle_stage != LifecycleStage.ACTIVE:
        raise ConflictError(
            f"Run {row.run_id} is deleted; restore it (plinth runs restore / "
            "MlflowClient.restore_run) before changing it."
        )


def _proxied_location(location: str) -> str:
    """``location``, with an ``mlflow-artifacts:/path`` one (any case of the scheme) written
    as this store reads it; refused if it would leave the artifact store, or names another
    server (``//host``), which Plinth does not proxy. Other locations (``s3://``, paths)
    are the caller's storage."""
    parts = urlsplit(location)
    if parts.scheme != PROXIED_ARTIFACTS_SCHEME:  # urlsplit lower-cases the scheme
        return location
    if parts.netloc:
        raise InvalidArgumentError(
            f"artifact_location {location!r} names another server; use "
            f"{ARTIFACTS_SCHEME}/<path> inside this one, or the storage URI itself (s3://...)."
        )
    path = location[len(ARTIFACTS_SCHEME) :].lstrip("/")
    try:
        return f"{ARTIFACTS_SCHEME}/{normalize_url_path(path)}"
    except InvalidArgumentError as exc:
        raise InvalidArgumentError(
            f"artifact_location {location!r} must name a folder inside the artifact store ({exc})."
        ) from None


def _time_ordered_id() -> str:
    """32 hex digits that sort in creation order (nanoseconds, then 64 random bits): two
    comments written in the same millisecond list in the order they were written."""
    return f"{time.time_ns():016x}{secrets.token_hex(8)}"


def _check_input_tags(item: DatasetInput) -> None:
    # MLflow's limits for a run input's tags (255-character keys, 500-character values).
    for tag in item.tags:
        if not isinstance(tag.key, str) or not tag.key.strip():
            raise InvalidArgumentError(
                f"Dataset input tag keys must be non-empty (dataset '{item.dataset.name}')."
            )
        v.validate_text(f"Dataset input tag key '{tag.key[:50]}'", tag.key, 255)
        v.validate_text(f"Dataset input tag '{tag.key}'", str(tag.value), 500)


def _check_max_results(max_results: int, *, limit: int = SEARCH_MAX_RESULTS_LIMIT) -> None:
    if (
        isinstance(max_results, bool)
        or not isinstance(max_results, int)
        or not 0 < max_results <= limit
    ):
        raise InvalidArgumentError(
            f"max_results must be an integer between 1 and {limit}, got {max_results!r}."
        )


def _in_chunks(s: Session, model: type, column: str, values: Sequence[object]) -> list:  # type: ignore[type-arg]
    rows: list = []  # type: ignore[type-arg]
    col = getattr(model, column)
    for chunk in chunks(values):
        rows.extend(s.scalars(select(model).where(col.in_(chunk))))
    return rows


__all__ = ["SqlTrackingStore"]
