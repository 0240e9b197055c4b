"""/api/v1/promotions: approval-gated promotion of a model version to Production or to a
protected alias.

Reading needs ``viewer`` and requesting ``editor``; approving and rejecting need
``approver`` or higher. The store adds the four-eyes rule (nobody approves their own
request, admins included) and the override rule (failed checks need ``override`` and a
comment), so they hold on every path, not only this one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from plinth.entities import Role
from plinth.entities.registry import PromotionRequest
from plinth.schemas.registry import (
    PromotionApproval,
    PromotionCreate,
    PromotionQuery,
    PromotionRejection,
)
from plinth.server.auth import require, require_for_method
from plinth.server.deps import get_registry_store
from plinth.store.base import RegistryStore

router = APIRouter(
    prefix="/api/v1", tags=["promotions"], dependencies=[Depends(require_for_method)]
)

Store = Annotated[RegistryStore, Depends(get_registry_store)]
APPROVER = [Depends(require(Role.APPROVER))]


@router.post("/promotions", status_code=status.HTTP_201_CREATED)
def request_promotion(body: PromotionCreate, store: Store) -> PromotionRequest:
    """Open a pending request; its ``checks`` are evaluated now and shown to the approver."""
    return store.request_promotion(
        body.name,
        body.version,
        stage=body.stage,
        alias=body.alias,
        comment=body.comment,
        checks=body.checks,
        archive_existing_versions=body.archive_existing_versions,
    )


@router.get("/promotions")
def list_promotion_requests(
    query: Annotated[PromotionQuery, Query()], store: Store
) -> list[PromotionRequest]:
    """Requests newest first, optionally of one model (``name``) and one ``status``."""
    return store.list_promotion_requests(name=query.name, status=query.status)


@router.get("/promotions/{request_id}")
def get_promotion_request(request_id: str, store: Store) -> PromotionRequest:
    return store.get_promotion_request(request_id)


@router.post("/promotions/{request_id}/approve", dependencies=APPROVER)
def approve_promotion(request_id: str, body: PromotionApproval, store: Store) -> PromotionRequest:
    """Approve a pending request made by someone else and perform its transition."""
    return store.approve_promotion(request_id, comment=body.comment, override=body.override)


@router.post("/promotions/{request_id}/reject", dependencies=APPROVER)
def reject_promotion(request_id: str, body: PromotionRejection, store: Store) -> PromotionRequest:
    return store.reject_promotion(request_id, comment=body.comment)
