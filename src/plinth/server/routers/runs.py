"""/api/v1/runs: runs, what is logged into them (log-batch, tags, metric history, inputs)
and comments on them.

Reads need ``viewer``, everything else ``editor`` (``require_for_method``). Responses that
carry metric values use ``RunWire``/``MetricWire`` so NaN and infinities survive JSON.
"""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Query, status
from starlette.responses import Response

from plinth.entities import Comment, Page, Run, RunInfo, User, now_ms
from plinth.schemas.common import PageOut
from plinth.schemas.tracking import (
    CommentCreate,
    LogBatch,
    LogInputs,
    LogOutputs,
    MetricHistoryQuery,
    MetricWire,
    RunCreate,
    RunSearch,
    RunUpdate,
    RunWire,
    metric_points_json,
)
from plinth.server.auth import require_for_method, run_owner
from plinth.server.deps import get_tracking_store
from plinth.store.base import TrackingStore

router = APIRouter(prefix="/api/v1", tags=["runs"], dependencies=[Depends(require_for_method)])

Store = Annotated[TrackingStore, Depends(get_tracking_store)]
NO_CONTENT = status.HTTP_204_NO_CONTENT


@router.post("/runs", status_code=status.HTTP_201_CREATED, response_model=RunWire)
def create_run(
    body: RunCreate, store: Store, user: Annotated[User, Depends(require_for_method)]
) -> Run:
    """Start a run owned by the caller (``user_id`` counts only without auth); ``start_time``
    defaults to now."""
    return store.create_run(
        body.experiment_id,
        user_id=run_owner(user, body.user_id),
        start_time=now_ms() if body.start_time is None else body.start_time,
        tags=body.tags,
        run_name=body.run_name,
    )


@router.get("/runs", response_model=PageOut[RunWire])
def search_runs(query: Annotated[RunSearch, Query()], store: Store) -> Page[Run]:
    """Runs of the experiments (repeat ``experiment_id``) matching MLflow's search grammar."""
    return store.search_runs(
        query.experiment_id,
        filter_string=query.filter,
        view_type=query.view_type,
        max_results=query.max_results,
        order_by=query.order_by,
        page_token=query.page_token,
    )


@router.get("/runs/{run_id}", response_model=RunWire)
def get_run(run_id: str, store: Store) -> Run:
    return store.get_run(run_id)


@router.patch("/runs/{run_id}")
def update_run(run_id: str, body: RunUpdate, store: Store) -> RunInfo:
    """Change status, end time or name; a non-terminal status clears the end time."""
    return store.update_run_info(
        run_id, status=body.status, end_time=body.end_time, run_name=body.run_name
    )


@router.delete("/runs/{run_id}", status_code=NO_CONTENT)
def delete_run(run_id: str, store: Store) -> None:
    store.delete_run(run_id)


@router.post("/runs/{run_id}/restore", status_code=NO_CONTENT)
def restore_run(run_id: str, store: Store) -> None:
    store.restore_run(run_id)


@router.post("/runs/{run_id}/log-batch", status_code=NO_CONTENT)
def log_batch(run_id: str, body: LogBatch, store: Store) -> None:
    """Metrics are appended, params are immutable, tags are last-write-wins.

    Metric values may be ``"NaN"``, ``"Infinity"`` or ``"-Infinity"`` (JSON has no such numbers).
    """
    metrics = body.metric_entities(run_id)
    store.log_batch(run_id, metrics=metrics, params=body.params, tags=body.tags)


@router.delete("/runs/{run_id}/tags/{key:path}", status_code=NO_CONTENT)
def delete_tag(run_id: str, key: str, store: Store) -> None:
    store.delete_tag(run_id, key)


@router.get("/runs/{run_id}/metrics/{key:path}", response_model=PageOut[MetricWire])
def get_metric_history(
    run_id: str, key: str, query: Annotated[MetricHistoryQuery, Query()], store: Store
) -> Response:
    """Every point of one metric, ordered by step then timestamp."""
    page = store.get_metric_points(
        run_id, key, max_results=query.max_results, page_token=query.page_token
    )
    # Written directly (the response model documents it): validating a model per point
    # took longer than reading the points.
    body = {"items": metric_points_json(key, page.items), "next_page_token": page.next_page_token}
    return Response(orjson.dumps(body), media_type="application/json")


@router.post("/runs/{run_id}/inputs", status_code=NO_CONTENT)
def log_inputs(run_id: str, body: LogInputs, store: Store) -> None:
    """Data versions (``datasets``) and MLflow 3 logged models (``models``) the run consumed."""
    store.log_inputs(run_id, body.datasets, models=body.models)


@router.post("/runs/{run_id}/outputs", status_code=NO_CONTENT)
def log_outputs(run_id: str, body: LogOutputs, store: Store) -> None:
    """MLflow 3 logged models the run produced, each at a step."""
    store.log_outputs(run_id, body.models)


@router.post("/runs/{run_id}/comments", status_code=status.HTTP_201_CREATED)
def add_comment(run_id: str, body: CommentCreate, store: Store) -> Comment:
    return store.add_comment(run_id, body.text)


@router.get("/runs/{run_id}/comments")
def list_comments(run_id: str, store: Store) -> list[Comment]:
    """Comments on the run, oldest first."""
    return store.list_comments(run_id)
