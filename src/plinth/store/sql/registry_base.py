"""What the registry store's parts share: row lookups with locks, history events, and the
stage and alias moves that both the free paths and approved promotions perform."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence

from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from plinth.entities import LOCAL_USER, now_ms
from plinth.entities.registry import (
    ARCHIVING_STAGES,
    DEFAULT_PROTECTED_ALIASES,
    ModelEventType,
    ModelVersionStatus,
    PackageInspector,
    PromotionStatus,
    Stage,
    is_protected_alias,
)
from plinth.errors import InvalidArgumentError, NotFoundError, PermissionDeniedError
from plinth.registry.governance import deletion_denied, rename_denied, served_denied
from plinth.store.sql.models import (
    EndpointRow,
    ModelEventRow,
    ModelVersionRow,
    ModelVersionTagRow,
    PromotionRequestRow,
    RegisteredModelAliasRow,
    RegisteredModelRow,
)
from plinth.store.sql.session import SqlStoreBase


class RegistryStoreBase(SqlStoreBase):
    """Shared plumbing of ``SqlRegistryStore``.

    Every mutation of a model locks its ``registered_models`` row first (``SELECT ... FOR
    UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serialises writers), so
    version numbering, archival and approvals of one model never interleave.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        actor: str = LOCAL_USER,
        protected_aliases: Sequence[str] = DEFAULT_PROTECTED_ALIASES,
        package_inspector: PackageInspector | None = None,
    ) -> None:
        super().__init__(engine, actor=actor)
        self.protected_aliases = tuple(protected_aliases)
        self.package_inspector = package_inspector

    def attach_package_inspector(self, inspector: PackageInspector) -> None:
        if self.package_inspector is None:
            self.package_inspector = inspector

    def _is_protected(self, alias: str) -> bool:
        return is_protected_alias(alias, self.protected_aliases)

    # -- lookups ---------------------------------------------------------------------------
    def _model_row(self, s: Session, name: str, *, lock: bool = False) -> RegisteredModelRow:
        _check_name_type(name)
        stmt = select(RegisteredModelRow).where(RegisteredModelRow.name == name)
        row = s.scalars(stmt.with_for_update() if lock else stmt).first()
        if row is None:
            raise NotFoundError(f"Registered Model with name={name} not found")
        return row

    def _version_row(self, s: Session, name: str, version: int) -> ModelVersionRow:
        _check_name_type(name)
        row = s.get(ModelVersionRow, (name, version))
        if row is None:
            raise NotFoundError(f"Model Version (name={name}, version={version}) not found")
        return row

    def _locked_version(
        self, s: Session, name: str, version: int
    ) -> tuple[RegisteredModelRow, ModelVersionRow]:
        return self._model_row(s, name, lock=True), self._version_row(s, name, version)

    # -- creation --------------------------------------------------------------------------
    def _ensure_model(self, s: Session, name: str) -> RegisteredModelRow:
        """The locked model row, created first if missing (the SDK's register_model relies on
        this). ON CONFLICT DO NOTHING lets two first registrations race safely."""
        now = now_ms()
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        insert = dialect_insert(RegisteredModelRow).values(
            name=name, creation_time=now, last_updated_time=now, last_version=0
        )
        stmt = insert.on_conflict_do_nothing(index_elements=["name"])
        # RETURNING, not rowcount: drivers disagree on rowcount for a skipped conflict.
        if s.execute(stmt.returning(RegisteredModelRow.name)).first() is not None:
            self._event(s, name, None, ModelEventType.REGISTERED_MODEL_CREATED)
            self._audit(s, "create_registered_model", "registered_model", name)
        return self._model_row(s, name, lock=True)

    def _add_version(
        self, s: Session, model: RegisteredModelRow, row: ModelVersionRow, tags: dict[str, str]
    ) -> int:
        """Insert ``row`` as the model's next version and return its number. The model row is
        locked, so concurrent registrations never get the same number."""
        model.last_version += 1
        now = now_ms()
        row.version, model.last_updated_time = model.last_version, now
        row.creation_time, row.last_updated_time = now, now
        row.current_stage, row.status = Stage.NONE.value, ModelVersionStatus.READY.value
        s.add(row)
        s.flush()
        s.add_all(
            ModelVersionTagRow(name=row.name, version=row.version, key=k, value=x)
            for k, x in tags.items()
        )
        return row.version

    # -- history ---------------------------------------------------------------------------
    def _event(
        self,
        s: Session,
        name: str,
        version: int | None,
        event_type: str,
        *,
        comment: str | None = None,
        details: Mapping[str, str] | None = None,
    ) -> None:
        """Append to the model's history in the mutation's own transaction."""
        s.add(
            ModelEventRow(
                name=name,
                version=version,
                event_type=str(event_type),
                user_name=self.actor,
                timestamp=now_ms(),
                comment=comment,
                details_json=json.dumps(dict(details or {}), sort_keys=True),
            )
        )

    # -- moves -----------------------------------------------------------------------------
    def _move_stage(
        self,
        s: Session,
        model: RegisteredModelRow,
        row: ModelVersionRow,
        stage: Stage,
        *,
        archive_existing: bool,
        request_id: str | None = None,
    ) -> None:
        """Set the stage; with ``archive_existing``, a move to Staging or Production archives
        the other versions in that stage (MLflow's rule)."""
        now = now_ms()
        details = {"from": row.current_stage, "to": stage.value}
        if request_id:
            details["request_id"] = request_id
        row.current_stage, row.last_updated_time = stage.value, now
        model.last_updated_time = now
        self._event(s, model.name, row.version, ModelEventType.STAGE_TRANSITION, details=details)
        if archive_existing and stage in ARCHIVING_STAGES:
            self._archive_others(s, model.name, row.version, stage, now)

    def _archive_others(self, s: Session, name: str, keep: int, stage: Stage, now: int) -> None:
        others = s.scalars(
            select(ModelVersionRow)
            .where(ModelVersionRow.name == name, ModelVersionRow.version != keep)
            .where(ModelVersionRow.current_stage == stage.value)
            .order_by(ModelVersionRow.version)
        )
        for other in others:
            other.current_stage, other.last_updated_time = Stage.ARCHIVED.value, now
            details = {"from": stage.value, "to": Stage.ARCHIVED.value, "replaced_by": str(keep)}
            self._event(s, name, other.version, ModelEventType.ARCHIVED, details=details)

    def _move_alias(
        self,
        s: Session,
        name: str,
        alias: str,
        version: int,
        *,
        request_id: str | None = None,
    ) -> None:
        existing = s.get(RegisteredModelAliasRow, (name, alias))
        details = {"alias": alias, "version": str(version)}
        if existing is not None:
            details["previous"] = str(existing.version)
            existing.version = version
        else:
            s.add(RegisteredModelAliasRow(name=name, alias=alias, version=version))
        if request_id:
            details["request_id"] = request_id
        self._event(s, name, version, ModelEventType.ALIAS_SET, details=details)

    # -- deletion and rename guards --------------------------------------------------------
    def _check_deletable(self, s: Session, name: str, version: int | None = None) -> None:
        """Refuse to delete governed versions (in Production, or holding a protected alias)
        and versions an endpoint routes to."""
        self._refuse_in_use(s, name, version, governed_error=deletion_denied, action="deleted")

    def _check_renamable(self, s: Session, name: str) -> None:
        """Refuse to rename a model with a governed version or one an endpoint routes to:
        endpoints and ``models:/`` URIs name it, and a rename would silently leave them
        pointing at nothing."""
        self._refuse_in_use(s, name, None, governed_error=rename_denied, action="renamed")

    def _refuse_in_use(
        self,
        s: Session,
        name: str,
        version: int | None,
        *,
        governed_error: Callable[[str, int, str], PermissionDeniedError],
        action: str,
    ) -> None:
        governed = self._governed_version(s, name, version)
        if governed is not None:
            raise governed_error(name, *governed)
        served = _served_version(s, name, version)
        if served is not None:
            raise served_denied(name, *served, action=action)

    def _governed_version(
        self, s: Session, name: str, version: int | None
    ) -> tuple[int, str] | None:
        """The first version (of all, or ``version``) in Production or holding a protected
        alias, with why; None if there is none."""
        in_production = select(ModelVersionRow.version).where(
            ModelVersionRow.name == name, ModelVersionRow.current_stage == Stage.PRODUCTION.value
        )
        aliases = select(RegisteredModelAliasRow).where(RegisteredModelAliasRow.name == name)
        if version is not None:
            in_production = in_production.where(ModelVersionRow.version == version)
            aliases = aliases.where(RegisteredModelAliasRow.version == version)
        found = s.scalars(in_production.order_by(ModelVersionRow.version)).first()
        if found is not None:
            return found, "is in Production"
        for alias in s.scalars(aliases.order_by(RegisteredModelAliasRow.alias)):
            if self._is_protected(alias.alias):
                return alias.version, f"holds the protected alias @{alias.alias}"
        return None

    def _cancel_pending(self, s: Session, name: str, version: int | None, reason: str) -> None:
        """Pending requests die with their version: a number is never reissued, but an
        approval must not land on a model deleted and registered again under the same name."""
        stmt = select(PromotionRequestRow).where(
            PromotionRequestRow.name == name,
            PromotionRequestRow.status == PromotionStatus.PENDING.value,
        )
        if version is not None:
            stmt = stmt.where(PromotionRequestRow.version == version)
        for request in s.scalars(stmt.order_by(PromotionRequestRow.request_id)):
            request.status = PromotionStatus.CANCELLED.value
            request.decided_by, request.decided_at = self.actor, now_ms()
            request.decision_comment = reason
            details = {"request_id": request.request_id}
            self._event(
                s,
                name,
                request.version,
                ModelEventType.PROMOTION_CANCELLED,
                comment=reason,
                details=details,
            )


def _check_name_type(name: object) -> None:
    """A looked-up model name is a str (a list would reach the driver, or a dict key)."""
    if not isinstance(name, str):
        raise InvalidArgumentError(
            f"Registered model name must be a str, got {type(name).__name__} {name!r:.40}."
        )


def _served_version(s: Session, name: str, version: int | None) -> tuple[int, str] | None:
    """The first version (of all, or ``version``) that an endpoint routes to (live, canary,
    A-B variant or shadow), with where; None if none is. Endpoints are few and their routes
    one JSON document each, read here rather than through the serving store, which stands
    on the registry."""
    rows = select(EndpointRow.name, EndpointRow.routes_json, EndpointRow.canary_json)
    for endpoint, routes_json, canary_json in s.execute(rows.order_by(EndpointRow.name)):
        # A running canary's baseline serves again on a rollback, also at its 100% step
        # where the routes no longer name it.
        canary = json.loads(canary_json) if canary_json else {}
        baseline = [{**canary["baseline"], "role": "baseline"}] if "baseline" in canary else []
        for route in [*json.loads(routes_json or "[]"), *baseline]:
            if route.get("model_name") != name:
                continue
            number = int(str(route.get("version")))
            if version is None or number == version:
                variant = route.get("variant")
                role = f"variant {variant!r}" if variant else route.get("role", "primary")
                return number, f"is routed to by endpoint {endpoint!r} ({role})"
    return None
