"""MLflow 3 logged models on SQL: ``models:/<model_id>`` packages tied to an experiment."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from plinth.entities import LifecycleStage, Page, Param, RunTag, now_ms
from plinth.entities import validation as v
from plinth.entities.registry import (
    DatasetFilter,
    LoggedModel,
    LoggedModelOrder,
    LoggedModelStatus,
)
from plinth.errors import (
    ConflictError,
    ExperimentNotFoundError,
    InvalidArgumentError,
    NotFoundError,
    RunNotFoundError,
)
from plinth.store.sql.models import (
    NAME_LENGTH,
    ExperimentRow,
    LoggedModelParamRow,
    LoggedModelRow,
    LoggedModelTagRow,
    RunRow,
)
from plinth.store.sql.registry_base import RegistryStoreBase
from plinth.store.sql.registry_rows import load_logged_models
from plinth.store.sql.registry_search import logged_model_search_statement
from plinth.store.sql.search import decode_page_token, encode_page_token

LOGGED_MODELS_MAX_RESULTS = 1000
# MLflow's rule (utils/validation.py): these would break models:/ URIs and artifact paths.
_BAD_NAME_CHARACTERS = ("/", ":", ".", "%", '"', "'")


class LoggedModelsMixin(RegistryStoreBase):
    """``RegistryStore`` 's MLflow 3 logged-model methods; mixed into ``SqlRegistryStore``."""

    def create_logged_model(
        self,
        experiment_id: str,
        *,
        name: str,
        source_run_id: str | None = None,
        model_type: str | None = None,
        tags: Sequence[RunTag] = (),
        params: Sequence[Param] = (),
    ) -> LoggedModel:
        _check_name(name)
        if model_type is not None:
            v.validate_text("model_type", model_type, NAME_LENGTH)
        checked_tags = _checked_tags(tags)
        checked_params = _checked_params(params)
        with self._write() as s:
            experiment = _active_experiment(s, experiment_id)
            if (
                source_run_id is not None
                and s.get(RunRow, v.validate_run_id(source_run_id)) is None
            ):
                raise RunNotFoundError(f"Run with id={source_run_id} not found")
            row = _new_logged_model(experiment, name, source_run_id, model_type)
            s.add(row)
            s.flush()
            self._insert_children(s, row.model_id, checked_tags, checked_params)
            details = {"experiment_id": experiment_id, "name": name}
            self._audit(s, "create_logged_model", "logged_model", row.model_id, details)
            return load_logged_models(s, [row.model_id])[0]

    def _insert_children(
        self, s: Session, model_id: str, tags: dict[str, str], params: dict[str, str]
    ) -> None:
        if tags:
            rows = [{"model_id": model_id, "key": k, "value": x} for k, x in tags.items()]
            s.execute(insert(LoggedModelTagRow), rows)
        if params:
            rows = [{"model_id": model_id, "key": k, "value": x} for k, x in params.items()]
            s.execute(insert(LoggedModelParamRow), rows)

    def get_logged_model(self, model_id: str) -> LoggedModel:
        with self._read() as s:
            _logged_model_row(s, model_id)
            return load_logged_models(s, [model_id])[0]

    def finalize_logged_model(self, model_id: str, status: LoggedModelStatus) -> LoggedModel:
        try:
            final = LoggedModelStatus(status)
        except ValueError:
            valid = ", ".join(st.value for st in LoggedModelStatus)
            raise InvalidArgumentError(
                f"Invalid logged model status {status!r}; use {valid}."
            ) from None
        with self._write() as s:
            row = _logged_model_row(s, model_id)
            row.status, row.last_updated_time = final.value, now_ms()
            self._audit(
                s, "finalize_logged_model", "logged_model", model_id, {"status": final.value}
            )
            s.flush()
            return load_logged_models(s, [model_id])[0]

    def set_logged_model_tags(self, model_id: str, tags: Sequence[RunTag]) -> None:
        checked = _checked_tags(tags)
        with self._write() as s:
            row = _logged_model_row(s, model_id)
            row.last_updated_time = now_ms()
            self._upsert(
                s,
                LoggedModelTagRow.__table__,  # type: ignore[arg-type]
                [{"model_id": model_id, "key": k, "value": x} for k, x in checked.items()],
                keys=("model_id", "key"),
                update=("value",),
            )
            self._audit(
                s, "set_logged_model_tags", "logged_model", model_id, {"keys": sorted(checked)}
            )

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        with self._write() as s:
            _logged_model_row(s, model_id)
            result = s.execute(
                delete(LoggedModelTagRow).where(
                    LoggedModelTagRow.model_id == model_id, LoggedModelTagRow.key == key
                )
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise NotFoundError(
                    f"No tag with key {key!r} found for model with ID {model_id!r}."
                )
            self._audit(s, "delete_logged_model_tag", "logged_model", model_id, {"key": key})

    def log_logged_model_params(self, model_id: str, params: Sequence[Param]) -> None:
        checked = _checked_params(params)
        with self._write() as s:
            _logged_model_row(s, model_id)
            existing = {
                p.key: p.value
                for p in s.scalars(
                    select(LoggedModelParamRow).where(LoggedModelParamRow.model_id == model_id)
                )
            }
            _check_unchanged(model_id, existing, checked)
            new = {k: x for k, x in checked.items() if k not in existing}
            self._insert_children(s, model_id, {}, new)
            self._audit(
                s, "log_logged_model_params", "logged_model", model_id, {"keys": sorted(checked)}
            )

    def delete_logged_model(self, model_id: str) -> None:
        with self._write() as s:
            row = _logged_model_row(s, model_id)
            row.lifecycle_stage, row.last_updated_time = LifecycleStage.DELETED.value, now_ms()
            self._audit(s, "delete_logged_model", "logged_model", model_id)

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        *,
        filter_string: str | None = None,
        datasets: Sequence[DatasetFilter] = (),
        order_by: Sequence[LoggedModelOrder] = (),
        max_results: int = 100,
        page_token: str | None = None,
    ) -> Page[LoggedModel]:
        check_max_results(max_results, LOGGED_MODELS_MAX_RESULTS)
        offset = decode_page_token(page_token)
        stmt = logged_model_search_statement(
            experiment_ids=[v.validate_experiment_id(e) for e in experiment_ids],
            filter_string=filter_string,
            datasets=datasets,
            order_by=order_by,
            offset=offset,
            limit=max_results + 1,
        )
        with self._read() as s:
            ids = list(s.scalars(stmt))
            items = load_logged_models(s, ids[:max_results])
        has_more = len(ids) > max_results
        return Page(items, encode_page_token(offset + max_results) if has_more else None)


def check_max_results(max_results: int, limit: int) -> None:
    """Raises ``InvalidArgumentError`` unless ``0 < max_results <= limit``."""
    if (
        isinstance(max_results, bool)
        or not isinstance(max_results, int)
        or not 0 < max_results <= limit
    ):
        raise InvalidArgumentError(
            f"max_results must be an integer between 1 and {limit}, got {max_results!r}."
        )


def _check_name(name: str) -> None:
    if (
        not isinstance(name, str)
        or not name.strip()
        or any(c in name for c in _BAD_NAME_CHARACTERS)
    ):
        raise InvalidArgumentError(
            f"Invalid model name ({name!r}) provided. Model name must be a non-empty string "
            f"and cannot contain the following characters: {_BAD_NAME_CHARACTERS}"
        )
    v.validate_text("Logged model name", name, NAME_LENGTH)


def _new_logged_model(
    experiment: ExperimentRow, name: str, source_run_id: str | None, model_type: str | None
) -> LoggedModelRow:
    """A PENDING logged model under ``<experiment artifact_location>/models/<model_id>``."""
    model_id = f"m-{uuid.uuid4().hex}"
    now = now_ms()
    return LoggedModelRow(
        model_id=model_id,
        experiment_id=experiment.experiment_id,
        name=name,
        artifact_location=f"{experiment.artifact_location.rstrip('/')}/models/{model_id}/artifacts",
        creation_time=now,
        last_updated_time=now,
        status=LoggedModelStatus.PENDING.value,
        source_run_id=source_run_id,
        model_type=model_type,
        lifecycle_stage=LifecycleStage.ACTIVE.value,
    )


def _active_experiment(s: Session, experiment_id: str) -> ExperimentRow:
    experiment = s.get(ExperimentRow, v.validate_experiment_id(experiment_id))
    if experiment is None:
        raise ExperimentNotFoundError(f"No Experiment with id={experiment_id} exists")
    if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
        raise ConflictError(f"Experiment {experiment_id} is deleted; restore it first.")
    return experiment


def _logged_model_row(s: Session, model_id: str) -> LoggedModelRow:
    row = s.get(LoggedModelRow, model_id) if isinstance(model_id, str) else None
    if row is None or row.lifecycle_stage != LifecycleStage.ACTIVE:
        raise NotFoundError(f"Logged model with ID '{model_id}' not found.")
    return row


def _checked_tags(tags: Sequence[RunTag]) -> dict[str, str]:
    return {v.validate_key("Tag", t.key): v.validate_tag_value(t.key, t.value) for t in tags}


def _checked_params(params: Sequence[Param]) -> dict[str, str]:
    checked: dict[str, str] = {}
    for p in params:
        key, value = v.validate_key("Param", p.key), v.validate_param_value(p.key, p.value)
        _check_unchanged("(this batch)", checked, {key: value})
        checked[key] = value
    return checked


def _check_unchanged(model_id: str, existing: dict[str, str], new: dict[str, str]) -> None:
    """Params are immutable, as for runs: the same value again is fine, another is not."""
    for key, value in new.items():
        if existing.get(key, value) != value:
            raise InvalidArgumentError(
                f"Changing param values is not allowed. Param with key='{key}' was already "
                f"logged with value='{existing[key]}' for logged model {model_id}. Attempted "
                f"logging new value '{value}'."
            )
