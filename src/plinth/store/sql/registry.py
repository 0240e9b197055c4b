"""The model registry on SQLAlchemy (SQLite and PostgreSQL): registered models, versions,
stages and aliases, with the governance rule enforced here so that no path can skip it.

Governed promotion lives in ``promotions.py`` and MLflow 3 logged models in
``logged_models.py``; both are mixed into ``SqlRegistryStore``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from plinth.artifacts.base import normalize_path
from plinth.entities import Page, RunTag, now_ms
from plinth.entities import validation as v
from plinth.entities.registry import (
    LATEST_ALIAS,
    ModelEvent,
    ModelEventType,
    ModelVersion,
    RegisteredModel,
    Stage,
    parse_version,
    validate_alias,
    validate_model_name,
)
from plinth.errors import AlreadyExistsError, InvalidArgumentError, NotFoundError, RunNotFoundError
from plinth.registry.governance import alias_denied, leaving_production_denied, production_denied
from plinth.store.base import RegistryStore
from plinth.store.sql.logged_models import LoggedModelsMixin, check_max_results
from plinth.store.sql.models import (
    ModelEventRow,
    ModelVersionRow,
    ModelVersionTagRow,
    PromotionRequestRow,
    RegisteredModelAliasRow,
    RegisteredModelRow,
    RegisteredModelTagRow,
    RunRow,
)
from plinth.store.sql.promotions import PromotionsMixin
from plinth.store.sql.registry_rows import (
    by_stage,
    event_entity,
    latest_version_keys,
    load_models,
    load_versions,
)
from plinth.store.sql.registry_search import model_search_statement, version_search_statement
from plinth.store.sql.search import decode_page_token, encode_page_token

MODELS_MAX_RESULTS = 1000
VERSIONS_MAX_RESULTS = 200_000
"""MLflow's thresholds for search_registered_models and search_model_versions."""
_RESERVED_EVENTS = frozenset(e.value for e in ModelEventType)
_EVENT_SEPARATORS = re.compile(r"[\s_.-]+")


class SqlRegistryStore(PromotionsMixin, LoggedModelsMixin, RegistryStore):
    """The registry on SQL. Construct with ``SqlRegistryStore(engine, *, actor=...,
    protected_aliases=..., package_inspector=...)``; see ``RegistryStoreBase``."""

    # -- registered models -----------------------------------------------------------------
    def create_registered_model(
        self, name: str, *, tags: Sequence[RunTag] = (), description: str | None = None
    ) -> RegisteredModel:
        validate_model_name(name)
        checked = _checked_tags(tags)
        _checked_text("description", description)
        now = now_ms()
        try:
            with self._write() as s:
                s.add(
                    RegisteredModelRow(
                        name=name,
                        creation_time=now,
                        last_updated_time=now,
                        description=description,
                        last_version=0,
                    )
                )
                s.flush()
                s.add_all(
                    RegisteredModelTagRow(name=name, key=k, value=x) for k, x in checked.items()
                )
                self._event(s, name, None, ModelEventType.REGISTERED_MODEL_CREATED)
                self._audit(s, "create_registered_model", "registered_model", name)
                return load_models(s, [name])[0]
        except IntegrityError as exc:
            raise AlreadyExistsError(f"Registered Model (name={name}) already exists.") from exc

    def get_registered_model(self, name: str) -> RegisteredModel:
        with self._read() as s:
            self._model_row(s, name)
            return load_models(s, [name])[0]

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        validate_model_name(new_name)
        try:
            with self._write() as s:
                self._model_row(s, name, lock=True)
                self._check_renamable(s, name)
                _rename_rows(s, name, new_name)
                details = {"from": name, "to": new_name}
                self._event(s, new_name, None, ModelEventType.RENAMED, details=details)
                self._audit(s, "rename_registered_model", "registered_model", new_name, details)
                return load_models(s, [new_name])[0]
        except IntegrityError as exc:
            raise AlreadyExistsError(f"Registered Model (name={new_name}) already exists.") from exc

    def update_registered_model(self, name: str, *, description: str) -> RegisteredModel:
        _checked_text("description", description)
        with self._write() as s:
            model = self._model_row(s, name, lock=True)
            model.description, model.last_updated_time = description, now_ms()
            self._event(
                s,
                name,
                None,
                ModelEventType.DESCRIPTION_UPDATED,
                details={"description": description},
            )
            self._audit(s, "update_registered_model", "registered_model", name)
            return load_models(s, [name])[0]

    def delete_registered_model(self, name: str) -> None:
        with self._write() as s:
            model = self._model_row(s, name, lock=True)
            self._check_deletable(s, name)
            self._cancel_pending(s, name, None, "the registered model was deleted")
            self._event(s, name, None, ModelEventType.MODEL_DELETED)
            # Versions, tags and aliases go by ON DELETE CASCADE; history and requests stay.
            s.delete(model)
            self._audit(s, "delete_registered_model", "registered_model", name)

    def search_registered_models(
        self,
        *,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: Sequence[str] = (),
        page_token: str | None = None,
    ) -> Page[RegisteredModel]:
        check_max_results(max_results, MODELS_MAX_RESULTS)
        offset = decode_page_token(page_token)
        stmt = model_search_statement(
            filter_string=filter_string, order_by=order_by, offset=offset, limit=max_results + 1
        )
        with self._read() as s:
            names = list(s.scalars(stmt))
            items = load_models(s, names[:max_results])
        has_more = len(names) > max_results
        return Page(items, encode_page_token(offset + max_results) if has_more else None)

    def set_registered_model_tag(self, name: str, tag: RunTag) -> None:
        tag = _checked_tag(tag)
        with self._write() as s:
            self._model_row(s, name, lock=True)
            self._upsert(
                s,
                RegisteredModelTagRow.__table__,  # type: ignore[arg-type]
                [{"name": name, "key": tag.key, "value": tag.value}],
                keys=("name", "key"),
                update=("value",),
            )
            self._tag_event(s, name, None, ModelEventType.TAG_SET, tag.key, tag.value)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        with self._write() as s:
            self._model_row(s, name, lock=True)
            result = s.execute(
                delete(RegisteredModelTagRow).where(
                    RegisteredModelTagRow.name == name, RegisteredModelTagRow.key == key
                )
            )
            # A missing tag is a no-op, as in MLflow; only real deletions enter the history.
            if result.rowcount:  # type: ignore[attr-defined]
                self._tag_event(s, name, None, ModelEventType.TAG_DELETED, key)

    def _tag_event(
        self,
        s: Session,
        name: str,
        version: int | None,
        event_type: ModelEventType,
        key: str,
        value: str | None = None,
    ) -> None:
        details = {"key": key} if value is None else {"key": key, "value": value}
        self._event(s, name, version, event_type, details=details)
        object_type, object_id = (
            ("registered_model", name)
            if version is None
            else ("model_version", f"{name}/{version}")
        )
        self._audit(s, str(event_type), object_type, object_id, {"key": key})

    # -- versions --------------------------------------------------------------------------
    def create_model_version(
        self,
        name: str,
        source: str,
        *,
        run_id: str | None = None,
        tags: Sequence[RunTag] = (),
        run_link: str | None = None,
        description: str | None = None,
    ) -> ModelVersion:
        validate_model_name(name)
        _check_version_args(source, run_id, run_link, description)
        checked = _checked_tags(tags)
        with self._write() as s:
            if run_id is not None and s.get(RunRow, run_id) is None:
                raise RunNotFoundError(f"Run with id={run_id} not found")
            model = self._ensure_model(s, name)
            number = self._add_version(
                s,
                model,
                ModelVersionRow(
                    name=name,
                    description=description,
                    user_id=self.actor,
                    source=source,
                    run_id=run_id,
                    run_link=run_link,
                ),
                checked,
            )
            details = {"source": source, "run_id": run_id or ""}
            self._event(s, name, number, ModelEventType.MODEL_VERSION_CREATED, details=details)
            self._audit(s, "create_model_version", "model_version", f"{name}/{number}", details)
            return load_versions(s, [(name, number)])[0]

    def get_model_version(self, name: str, version: str) -> ModelVersion:
        number = parse_version(version)
        with self._read() as s:
            self._version_row(s, name, number)
            return load_versions(s, [(name, number)])[0]

    def update_model_version(self, name: str, version: str, *, description: str) -> ModelVersion:
        number = parse_version(version)
        _checked_text("description", description)
        with self._write() as s:
            _model, row = self._locked_version(s, name, number)
            row.description, row.last_updated_time = description, now_ms()
            self._event(
                s,
                name,
                number,
                ModelEventType.DESCRIPTION_UPDATED,
                details={"description": description},
            )
            self._audit(s, "update_model_version", "model_version", f"{name}/{number}")
            return load_versions(s, [(name, number)])[0]

    def delete_model_version(self, name: str, version: str) -> None:
        number = parse_version(version)
        with self._write() as s:
            model, row = self._locked_version(s, name, number)
            self._check_deletable(s, name, number)
            self._cancel_pending(s, name, number, f"version {number} was deleted")
            details = {"source": row.source, "stage": row.current_stage}
            self._event(s, name, number, ModelEventType.VERSION_DELETED, details=details)
            model.last_updated_time = now_ms()
            s.delete(row)
            self._audit(s, "delete_model_version", "model_version", f"{name}/{number}", details)

    def search_model_versions(
        self,
        *,
        filter_string: str | None = None,
        max_results: int = 10_000,
        order_by: Sequence[str] = (),
        page_token: str | None = None,
    ) -> Page[ModelVersion]:
        check_max_results(max_results, VERSIONS_MAX_RESULTS)
        offset = decode_page_token(page_token)
        stmt = version_search_statement(
            filter_string=filter_string, order_by=order_by, offset=offset, limit=max_results + 1
        )
        with self._read() as s:
            keys = [(name, number) for name, number in s.execute(stmt).tuples()]
            items = load_versions(s, keys[:max_results])
        has_more = len(keys) > max_results
        return Page(items, encode_page_token(offset + max_results) if has_more else None)

    def set_model_version_tag(self, name: str, version: str, tag: RunTag) -> None:
        number = parse_version(version)
        tag = _checked_tag(tag)
        with self._write() as s:
            self._locked_version(s, name, number)
            self._upsert(
                s,
                ModelVersionTagRow.__table__,  # type: ignore[arg-type]
                [{"name": name, "version": number, "key": tag.key, "value": tag.value}],
                keys=("name", "version", "key"),
                update=("value",),
            )
            self._tag_event(s, name, number, ModelEventType.TAG_SET, tag.key, tag.value)

    def delete_model_version_tag(self, name: str, version: str, key: str) -> None:
        number = parse_version(version)
        with self._write() as s:
            self._locked_version(s, name, number)
            result = s.execute(
                delete(ModelVersionTagRow).where(
                    ModelVersionTagRow.name == name,
                    ModelVersionTagRow.version == number,
                    ModelVersionTagRow.key == key,
                )
            )
            if result.rowcount:  # type: ignore[attr-defined]
                self._tag_event(s, name, number, ModelEventType.TAG_DELETED, key)

    def get_latest_versions(self, name: str, stages: Sequence[Stage] = ()) -> list[ModelVersion]:
        wanted = [_stage(st) for st in stages]
        with self._read() as s:
            self._model_row(s, name)
            return by_stage(load_versions(s, latest_version_keys(s, [name], wanted)))

    # -- stages and aliases ----------------------------------------------------------------
    def transition_model_version_stage(
        self, name: str, version: str, stage: Stage, *, archive_existing_versions: bool = True
    ) -> ModelVersion:
        target, number = _stage(stage), parse_version(version)
        with self._write() as s:
            model, row = self._locked_version(s, name, number)
            if target is Stage.PRODUCTION:
                raise production_denied(name, number)
            if row.current_stage == Stage.PRODUCTION.value:
                raise leaving_production_denied(name, number, target.value)
            self._move_stage(s, model, row, target, archive_existing=archive_existing_versions)
            details = {"stage": target.value, "archive_existing": str(archive_existing_versions)}
            self._audit(s, "transition_stage", "model_version", f"{name}/{number}", details)
            return load_versions(s, [(name, number)])[0]

    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        validate_alias(alias)
        number = parse_version(version)
        with self._write() as s:
            self._locked_version(s, name, number)
            if self._is_protected(alias):
                raise alias_denied(name, alias, number)
            self._move_alias(s, name, alias, number)
            details = {"alias": alias, "version": str(number)}
            self._audit(s, "set_alias", "registered_model", name, details)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        validate_alias(alias)
        with self._write() as s:
            self._model_row(s, name, lock=True)
            if self._is_protected(alias):
                raise alias_denied(name, alias, None)
            row = s.get(RegisteredModelAliasRow, (name, alias))
            if row is None:
                return  # MLflow: deleting a missing alias is a no-op
            details = {"alias": alias, "version": str(row.version)}
            self._event(s, name, row.version, ModelEventType.ALIAS_DELETED, details=details)
            s.delete(row)
            self._audit(s, "delete_alias", "registered_model", name, details)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        if not isinstance(alias, str):
            raise InvalidArgumentError(f"alias must be a str, got {type(alias).__name__}.")
        with self._read() as s:
            self._model_row(s, name)
            if alias.lower() == LATEST_ALIAS:
                number = _newest(s, name)
            else:
                row = s.get(RegisteredModelAliasRow, (name, alias))
                if row is None:
                    raise NotFoundError(f"Registered model alias {alias} not found.")
                number = row.version
            return load_versions(s, [(name, number)])[0]

    # -- history ---------------------------------------------------------------------------
    def list_model_events(self, name: str) -> list[ModelEvent]:
        with self._read() as s:
            rows = list(
                s.scalars(
                    select(ModelEventRow)
                    .where(ModelEventRow.name == name)
                    .order_by(ModelEventRow.event_id)
                )
            )
            if not rows:
                self._model_row(s, name)  # raises for a name that never existed
            return [event_entity(r) for r in rows]

    def record_model_event(
        self,
        name: str,
        version: str | None,
        event_type: str,
        *,
        comment: str | None = None,
        details: dict[str, str] | None = None,
    ) -> None:
        _check_external_event(event_type, comment, details)
        self._record_event(name, version, event_type, comment=comment, details=details)

    def record_deployment(
        self, name: str, version: str, *, comment: str | None, details: dict[str, str]
    ) -> None:
        """The serving store's entry when an endpoint's route to a version changes: a
        type ``record_model_event`` refuses, so no caller can forge a deployment."""
        self._record_event(
            name, version, ModelEventType.DEPLOYMENT_CHANGED, comment=comment, details=details
        )

    def _record_event(
        self,
        name: str,
        version: str | None,
        event_type: str,
        *,
        comment: str | None,
        details: dict[str, str] | None,
    ) -> None:
        number = None if version is None else parse_version(version)
        with self._write() as s:
            self._model_row(s, name, lock=True)
            if number is not None:
                self._version_row(s, name, number)
            self._event(s, name, number, event_type, comment=comment, details=details)
            object_id = name if number is None else f"{name}/{number}"
            self._audit(
                s, "record_model_event", "registered_model", object_id, {"type": event_type}
            )


# -- helpers ----------------------------------------------------------------------------------
def _rename_rows(s: Session, name: str, new_name: str) -> None:
    """Rename the model; versions, tags and aliases follow by ON UPDATE CASCADE, and the
    history and promotion requests (no foreign keys) are carried along here."""
    no_sync = {"synchronize_session": False}
    s.execute(
        update(RegisteredModelRow)
        .where(RegisteredModelRow.name == name)
        .values(name=new_name, last_updated_time=now_ms()),
        execution_options=no_sync,
    )
    for table in (ModelEventRow, PromotionRequestRow):
        s.execute(
            update(table).where(table.name == name).values(name=new_name),
            execution_options=no_sync,
        )
    s.expire_all()


def _newest(s: Session, name: str) -> int:
    number = s.scalars(
        select(ModelVersionRow.version)
        .where(ModelVersionRow.name == name)
        .order_by(ModelVersionRow.version.desc())
    ).first()
    if number is None:
        raise NotFoundError(f"Latest version not found for model {name}.")
    return number


def _stage(value: Stage | str) -> Stage:
    try:
        return Stage.parse(str(value))
    except ValueError:
        valid = ", ".join(st.value for st in Stage)
        raise InvalidArgumentError(f"Invalid stage {value!r}; valid stages are {valid}.") from None


def _check_version_args(
    source: str, run_id: str | None, run_link: str | None, description: str | None
) -> None:
    if not isinstance(source, str) or not source.strip():
        raise InvalidArgumentError("Model version source must be a non-empty URI or path.")
    for field, text in (("source", source), ("run_link", run_link), ("description", description)):
        _checked_text(field, text)
    if run_id is not None:
        v.validate_run_id(run_id)
    parts = urlsplit(source)
    if parts.scheme == "runs":
        # The path stays inside the run: "runs:/A/../B/artifacts/model" would name run B's
        # files while the version's lineage says run A.
        try:
            normalize_path(parts.path.strip("/").partition("/")[2])
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(f"Model version source {source!r}: {exc}") from None


def _checked_text(field: str, value: str | None) -> None:
    if value is not None:
        v.validate_text(field, value)


def _checked_tag(tag: RunTag) -> RunTag:
    return RunTag(v.validate_key("Tag", tag.key), v.validate_tag_value(tag.key, tag.value))


def _checked_tags(tags: Sequence[RunTag]) -> dict[str, str]:
    """Validated tags; a repeated key keeps its last value."""
    return {t.key: t.value for t in map(_checked_tag, tags)}


def _check_external_event(
    event_type: str, comment: str | None, details: Mapping[str, str] | None
) -> None:
    if not isinstance(event_type, str) or not event_type.strip() or len(event_type) > 64:
        raise InvalidArgumentError(
            "event_type must be a non-empty string of at most 64 characters."
        )
    if _normalized_event(event_type) in _RESERVED_EVENTS:
        raise InvalidArgumentError(
            f"Event type {event_type!r} is (or reads as) a type written by the registry or "
            f"the serving store itself ({', '.join(sorted(_RESERVED_EVENTS))}), so it cannot "
            "be recorded; choose another name."
        )
    _checked_text("comment", comment)
    for key, value in (details or {}).items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidArgumentError("Event details must map strings to strings.")
        v.validate_text(f"Event detail '{key}'", value)
    # Text with an unpaired surrogate would be stored as an escape that no later read of
    # the history can decode: refuse it rather than make the model's history unreadable.
    problem = (
        v.unstorable(event_type, "event_type")
        or v.unstorable(comment, "comment")
        or v.unstorable(dict(details or {}), "details")
    )
    if problem:
        raise InvalidArgumentError(problem)


def _normalized_event(event_type: str) -> str:
    """``" Promotion-Approved "`` and ``"promotion approved"`` read as ``promotion_approved``."""
    return _EVENT_SEPARATORS.sub("_", event_type.strip().lower()).strip("_")
