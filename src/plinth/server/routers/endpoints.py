"""/api/v1/endpoints and /api/v1/route-stats: serving endpoints, their routes (manual splits,
A-B tests, shadows), canaries, SLOs, history, route stats and feedback (the control plane;
inference itself is under /v2 and /endpoints/{name}/invocations).

Reads need ``viewer``, everything else ``editor``, except route stats: they are the
evidence canaries are judged on, reported by data-plane replicas, so posting them needs
``approver`` (run replicas with a service user of that role). The store holds the
governance rule, so a version without an approved promotion is refused here with 403
PERMISSION_DENIED, and a canary takes all traffic only once its version is approved for
Production.
"""

from __future__ import annotations

import io
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from plinth.artifacts import ArtifactStore
from plinth.entities import Role, now_ms
from plinth.entities.guardrails import CanaryDecision
from plinth.entities.route_stats import RouteStats
from plinth.entities.serving import Endpoint, EndpointEvent, Feedback
from plinth.schemas.serving import (
    CanaryStart,
    EndpointCreate,
    EndpointEventCreate,
    EventQuery,
    FeedbackIn,
    Reason,
    RouteStatsBatch,
    RoutesUpdate,
    SloUpdate,
    TimeWindow,
)
from plinth.server.auth import require, require_for_method
from plinth.server.deps import get_artifact_store, get_serving_store
from plinth.serving.prediction_log import DEFAULT_PREFIX
from plinth.serving.prediction_reader import read_predictions
from plinth.store.base.serving import ServingStore

router = APIRouter(prefix="/api/v1", tags=["endpoints"], dependencies=[Depends(require_for_method)])

Store = Annotated[ServingStore, Depends(get_serving_store)]
_ONE = "/endpoints/{name}"


@router.post("/endpoints", status_code=status.HTTP_201_CREATED)
def create_endpoint(body: EndpointCreate, store: Store) -> Endpoint:
    return store.create_endpoint(
        body.name,
        body.routes,
        description=body.description,
        slo=body.slo,
        sticky_key=body.sticky_key,
        reason=body.reason,
    )


@router.get("/endpoints")
def list_endpoints(store: Store) -> list[Endpoint]:
    return store.list_endpoints()


@router.get(_ONE)
def get_endpoint(name: str, store: Store) -> Endpoint:
    return store.get_endpoint(name)


@router.delete(_ONE, status_code=status.HTTP_204_NO_CONTENT)
def delete_endpoint(name: str, store: Store, reason: str | None = None) -> None:
    store.delete_endpoint(name, reason=reason)


@router.put(f"{_ONE}/routes")
def set_routes(name: str, body: RoutesUpdate, store: Store) -> Endpoint:
    """Replace the routes: a manual split, an A-B test (variant routes + ``sticky_key``) or
    shadows. 409 while a canary runs or when ``expected_revision`` is stale."""
    return store.set_routes(
        name,
        body.routes,
        sticky_key=body.sticky_key,
        reason=body.reason,
        expected_revision=body.expected_revision,
    )


@router.put(f"{_ONE}/slo")
def set_slo(name: str, body: SloUpdate, store: Store) -> Endpoint:
    return store.set_slo(name, body.to_entity())


@router.post(f"{_ONE}/canary")
def start_canary(name: str, body: CanaryStart, store: Store) -> Endpoint:
    return store.start_canary(
        name,
        body.route,
        steps=body.steps,
        interval_s=body.interval_s,
        max_error_rate=body.max_error_rate,
        max_p99_ms=body.max_p99_ms,
        min_requests=body.min_requests,
        reason=body.reason,
    )


@router.post(f"{_ONE}/canary/advance")
def advance_canary(name: str, store: Store) -> CanaryDecision:
    """Run one controller step now (the server also runs them on its own schedule)."""
    return store.advance_canary(name, now_ms=now_ms())


@router.post(f"{_ONE}/promote")
def promote(name: str, body: Reason, store: Store) -> Endpoint:
    """Complete the canary now; 403 until its version is approved for Production."""
    return store.promote(name, reason=body.reason)


@router.post(f"{_ONE}/rollback")
def rollback(name: str, body: Reason, store: Store) -> Endpoint:
    return store.rollback(name, reason=body.reason)


@router.get(f"{_ONE}/events")
def list_endpoint_events(
    name: str, query: Annotated[EventQuery, Query()], store: Store
) -> list[EndpointEvent]:
    return store.list_endpoint_events(name, since_ms=query.since_ms, limit=query.limit)


@router.post(f"{_ONE}/events", status_code=status.HTTP_204_NO_CONTENT)
def record_endpoint_event(name: str, body: EndpointEventCreate, store: Store) -> None:
    store.record_endpoint_event(name, body.event_type, comment=body.comment, details=body.details)


@router.post(
    "/route-stats",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[Depends(require(Role.APPROVER))],
)
def record_route_stats(body: RouteStatsBatch, store: Store) -> None:
    """Data-plane replicas report their per-minute route stats here (``approver``: a
    canary is judged on them, so an editor must not be able to write them)."""
    store.record_route_stats(body.items)


@router.get(f"{_ONE}/stats")
def list_route_stats(
    name: str, query: Annotated[TimeWindow, Query()], store: Store
) -> list[RouteStats]:
    return store.list_route_stats(name, since_ms=query.since_ms or 0, until_ms=query.until_ms)


@router.post(f"{_ONE}/feedback")
def log_feedback(name: str, body: FeedbackIn | list[FeedbackIn], store: Store) -> dict[str, int]:
    """Ground truth and/or business outcomes of served requests; one object or a list."""
    items = body if isinstance(body, list) else [body]
    feedback = [
        Feedback(
            endpoint=name,
            request_id=item.request_id,
            label=item.label,
            outcomes=dict(item.outcomes),
            timestamp=item.timestamp or 0,
        )
        for item in items
    ]
    return {"logged": store.log_feedback(feedback)}


@router.get(f"{_ONE}/feedback")
def list_feedback(name: str, query: Annotated[TimeWindow, Query()], store: Store) -> list[Feedback]:
    return store.list_feedback(name, since_ms=query.since_ms, until_ms=query.until_ms)


@router.get(f"{_ONE}/predictions", response_class=Response)
def predictions(
    name: str,
    query: Annotated[TimeWindow, Query()],
    store: Store,
    artifacts: Annotated[ArtifactStore, Depends(get_artifact_store)],
) -> Response:
    """The endpoint's prediction log in the window, as a Parquet file."""
    store.get_endpoint(name)
    frame = read_predictions(
        artifacts, name, since_ms=query.since_ms, until_ms=query.until_ms, prefix=DEFAULT_PREFIX
    )
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return Response(buffer.getvalue(), media_type="application/vnd.apache.parquet")
