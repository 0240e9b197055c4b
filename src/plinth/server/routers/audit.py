"""/api/v1/audit: who did what, newest first, and recording an event that happened outside
the metadata store (both ``admin``).

Recording is admin-only: the server writes every event it sees itself (artifact uploads
through its proxy included), and an editor able to post entries could fill the log with
actions they never took, e.g. a ``delete_run`` that would send an investigation the wrong
way. Events are attributed to the caller whoever posts them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from plinth.entities import AuditEvent, Role
from plinth.schemas.auth import AuditEventCreate, AuditQuery
from plinth.server.auth import require
from plinth.server.deps import get_auth_store
from plinth.store.base import AuthStore

router = APIRouter(prefix="/api/v1", tags=["audit"])

Store = Annotated[AuthStore, Depends(get_auth_store)]


@router.get("/audit", dependencies=[Depends(require(Role.ADMIN))])
def list_audit_events(query: Annotated[AuditQuery, Query()], store: Store) -> list[AuditEvent]:
    """Audit events newest first."""
    return store.list_audit_events(since=query.since, user_name=query.user, limit=query.limit)


@router.post(
    "/audit",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[Depends(require(Role.ADMIN))],
)
def record_audit_event(body: AuditEventCreate, store: Store) -> None:
    """Record an event that happened outside the store, attributed to the caller."""
    store.record_audit_event(body.action, body.object_type, body.object_id, body.details)
