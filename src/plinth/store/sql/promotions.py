"""Governed promotion on SQL: requests with evaluated gates, approval (which performs the
transition in the same transaction) and rejection."""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from plinth.entities import now_ms
from plinth.entities import validation as v
from plinth.entities.registry import (
    CheckResult,
    ModelEventType,
    PromotionRequest,
    PromotionStatus,
    Stage,
    parse_version,
    validate_alias,
)
from plinth.errors import InvalidArgumentError, NotFoundError
from plinth.registry.gates import (
    Gate,
    GateContext,
    evaluate,
    needs_package,
    needs_production,
    parse_checks,
)
from plinth.registry.governance import check_can_approve, check_pending
from plinth.store.sql.models import (
    ModelVersionRow,
    PromotionRequestRow,
    RegisteredModelRow,
    RegisteredModelTagRow,
)
from plinth.store.sql.registry_base import RegistryStoreBase
from plinth.store.sql.registry_rows import checks_json, load_versions, request_entity, run_metrics

_PROMOTABLE_STAGES = (Stage.STAGING, Stage.PRODUCTION)
_sequence = itertools.count()
_ACTIONS = {
    ModelEventType.PROMOTION_REQUESTED: "request_promotion",
    ModelEventType.PROMOTION_APPROVED: "approve_promotion",
    ModelEventType.PROMOTION_REJECTED: "reject_promotion",
}


def new_request_id() -> str:
    """32 hex characters ordered by creation time (microseconds, then a per-process counter),
    so "newest first" holds even for requests made within one millisecond."""
    micros = time.time_ns() // 1000
    return f"{micros:014x}{next(_sequence) % 0x10000:04x}{secrets.token_hex(7)}"


class PromotionsMixin(RegistryStoreBase):
    """``RegistryStore`` 's governance methods; mixed into ``SqlRegistryStore``."""

    def request_promotion(
        self,
        name: str,
        version: str,
        *,
        stage: Stage | None = None,
        alias: str | None = None,
        comment: str | None = None,
        checks: Sequence[str] = (),
        archive_existing_versions: bool = True,
    ) -> PromotionRequest:
        target_stage, target_alias = _target(stage, alias)
        number = parse_version(version)
        gates = parse_checks(checks)
        if comment is not None:
            v.validate_text("comment", comment)
        results = self._evaluate_gates(name, number, gates)
        with self._write() as s:
            _model, version_row = self._locked_version(s, name, number)
            _check_leaves_production(target_stage, version_row, name)
            row = PromotionRequestRow(
                request_id=new_request_id(),
                name=name,
                version=number,
                target_stage=target_stage.value if target_stage else None,
                target_alias=target_alias,
                archive_existing=archive_existing_versions,
                status=PromotionStatus.PENDING.value,
                requested_by=self.actor,
                requested_at=now_ms(),
                comment=comment,
                checks_json=checks_json(results),
                override=False,
            )
            s.add(row)
            request = request_entity(row)
            self._record(s, request, ModelEventType.PROMOTION_REQUESTED, comment)
            return request

    def _evaluate_gates(self, name: str, number: int, gates: list[Gate]) -> list[CheckResult]:
        """Evaluated outside any write transaction: the package inspector reads the artifact
        store, and a slow read must not hold the database's write lock."""
        with self._read() as s:
            context = self._gate_context(s, name, number, gates)
        if needs_package(gates) and self.package_inspector is not None:
            context = replace(context, package=self.package_inspector(context.version.source))
        return evaluate(gates, context)

    def _gate_context(self, s: Session, name: str, number: int, gates: list[Gate]) -> GateContext:
        self._model_row(s, name)
        self._version_row(s, name, number)
        (version,) = load_versions(s, [(name, number)])
        model_tags = s.scalars(
            select(RegisteredModelTagRow).where(RegisteredModelTagRow.name == name)
        )
        production = None
        if needs_production(gates):
            newest = s.scalars(
                select(ModelVersionRow.version)
                .where(ModelVersionRow.name == name, ModelVersionRow.version != number)
                .where(ModelVersionRow.current_stage == Stage.PRODUCTION.value)
                .order_by(ModelVersionRow.version.desc())
            ).first()
            production = None if newest is None else load_versions(s, [(name, newest)])[0]
        return GateContext(
            version=version,
            model_tags={t.key: t.value for t in model_tags},
            run_metrics=run_metrics(s, version.run_id),
            production=production,
            production_metrics=run_metrics(s, production.run_id if production else None),
            can_inspect=self.package_inspector is not None,
        )

    def approve_promotion(
        self, request_id: str, *, comment: str | None = None, override: bool = False
    ) -> PromotionRequest:
        if comment is not None:
            v.validate_text("comment", comment)
        with self._write() as s:
            row = self._locked_request(s, request_id)
            request = request_entity(row)
            check_can_approve(request, actor=self.actor, comment=comment, override=override)
            # Pending implies the version exists: deleting it cancels its requests.
            model, version_row = self._locked_version(s, row.name, row.version)
            overridden = override and not request.checks_passed
            self._decide(row, PromotionStatus.APPROVED, comment, overridden)
            decided = request_entity(row)
            self._record(s, decided, ModelEventType.PROMOTION_APPROVED, comment)
            if request.target_stage is not None:
                self._move_stage(
                    s,
                    model,
                    version_row,
                    request.target_stage,
                    archive_existing=request.archive_existing_versions,
                    request_id=request_id,
                )
            else:
                alias = request.target_alias or ""
                self._move_alias(s, row.name, alias, row.version, request_id=request_id)
            return decided

    def reject_promotion(self, request_id: str, *, comment: str | None = None) -> PromotionRequest:
        if comment is not None:
            v.validate_text("comment", comment)
        with self._write() as s:
            row = self._locked_request(s, request_id)
            check_pending(request_entity(row))
            self._decide(row, PromotionStatus.REJECTED, comment, False)
            decided = request_entity(row)
            self._record(s, decided, ModelEventType.PROMOTION_REJECTED, comment)
            return decided

    def get_promotion_request(self, request_id: str) -> PromotionRequest:
        with self._read() as s:
            return request_entity(self._request_row(s, request_id))

    def list_promotion_requests(
        self, *, name: str | None = None, status: PromotionStatus | None = None
    ) -> list[PromotionRequest]:
        stmt = select(PromotionRequestRow).order_by(
            PromotionRequestRow.requested_at.desc(), PromotionRequestRow.request_id.desc()
        )
        if name is not None:
            stmt = stmt.where(PromotionRequestRow.name == name)
        if status is not None:
            stmt = stmt.where(PromotionRequestRow.status == PromotionStatus(status).value)
        with self._read() as s:
            return [request_entity(r) for r in s.scalars(stmt)]

    # -- helpers ---------------------------------------------------------------------------
    def _request_row(self, s: Session, request_id: str) -> PromotionRequestRow:
        row = s.get(PromotionRequestRow, request_id) if isinstance(request_id, str) else None
        if row is None:
            raise NotFoundError(f"Promotion request {request_id!r} not found.")
        return row

    def _locked_request(self, s: Session, request_id: str) -> PromotionRequestRow:
        """The request row, locked after its model's row: every path locks model -> request
        (deletion cancels requests under the model lock), so they cannot deadlock."""
        row = self._request_row(s, request_id)
        s.scalars(
            select(RegisteredModelRow.name)
            .where(RegisteredModelRow.name == row.name)
            .with_for_update()
        ).first()
        s.refresh(row, with_for_update=True)
        return row

    def _decide(
        self, row: PromotionRequestRow, status: PromotionStatus, comment: str | None, override: bool
    ) -> None:
        row.status, row.decided_by, row.decided_at = status.value, self.actor, now_ms()
        row.decision_comment, row.override = comment, override

    def _record(
        self, s: Session, request: PromotionRequest, event_type: ModelEventType, comment: str | None
    ) -> None:
        """The history event and the audit record of a request or decision."""
        details = {"request_id": request.request_id, "target": request.target}
        if event_type is ModelEventType.PROMOTION_REQUESTED:
            details["checks_passed"] = str(request.checks_passed).lower()
        if request.override:
            details["override"] = "true"
        self._event(
            s, request.name, int(request.version), event_type, comment=comment, details=details
        )
        audit = {**details, "version": request.version}
        self._audit(s, _ACTIONS[event_type], "promotion_request", request.request_id, audit)


def _target(stage: Stage | str | None, alias: str | None) -> tuple[Stage | None, str | None]:
    if (stage is None) == (alias is None):
        raise InvalidArgumentError(
            "A promotion request needs exactly one target: stage (Staging or Production) or "
            "alias (e.g. champion)."
        )
    if alias is not None:
        return None, validate_alias(alias)
    try:
        parsed = Stage.parse(str(stage))
    except ValueError:
        parsed = None
    if parsed is None:
        valid = ", ".join(st.value for st in Stage)
        raise InvalidArgumentError(f"Invalid stage '{stage}'; valid stages are {valid}.")
    return parsed, None


def _check_leaves_production(target: Stage | None, version: ModelVersionRow, name: str) -> None:
    """A request targets Staging or Production, or takes a version out of Production (which,
    like entering it, needs approval); other moves to None or Archived need no request."""
    if target is None or target in _PROMOTABLE_STAGES:
        return
    if version.current_stage != Stage.PRODUCTION.value:
        raise InvalidArgumentError(
            f"A promotion targets stage Staging or Production, not '{target}': only a version "
            f"in Production needs a request to leave it. Move {name} version {version.version} "
            f"to {target} directly with transition_model_version_stage."
        )
