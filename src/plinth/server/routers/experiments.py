"""/api/v1/experiments: create, read, search, rename, delete/restore, tags.

Reads need ``viewer``, everything else ``editor`` (``require_for_method``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from plinth.entities import Experiment, Page, RunTag
from plinth.schemas.common import PageOut
from plinth.schemas.tracking import (
    ExperimentCreate,
    ExperimentCreated,
    ExperimentSearch,
    ExperimentUpdate,
    TagValue,
)
from plinth.server.auth import require_for_method
from plinth.server.deps import get_tracking_store
from plinth.store.base import TrackingStore

router = APIRouter(
    prefix="/api/v1", tags=["experiments"], dependencies=[Depends(require_for_method)]
)

Store = Annotated[TrackingStore, Depends(get_tracking_store)]
NO_CONTENT = status.HTTP_204_NO_CONTENT


@router.post("/experiments", status_code=status.HTTP_201_CREATED)
def create_experiment(body: ExperimentCreate, store: Store) -> ExperimentCreated:
    experiment_id = store.create_experiment(body.name, body.artifact_location, body.tags)
    return ExperimentCreated(experiment_id=experiment_id)


@router.get("/experiments", response_model=PageOut[Experiment])
def search_experiments(
    query: Annotated[ExperimentSearch, Query()], store: Store
) -> Page[Experiment]:
    """Experiments matching MLflow's filter grammar (``name LIKE 'churn%' AND tags.team = 'x'``)."""
    return store.search_experiments(
        view_type=query.view_type,
        max_results=query.max_results,
        filter_string=query.filter,
        order_by=query.order_by,
        page_token=query.page_token,
    )


@router.get("/experiments/by-name")
def get_experiment_by_name(name: str, store: Store) -> Experiment:
    """The experiment with that name, active or deleted (404 if none)."""
    return store.get_experiment_by_name(name)


@router.get("/experiments/{experiment_id}")
def get_experiment(experiment_id: str, store: Store) -> Experiment:
    return store.get_experiment(experiment_id)


@router.patch("/experiments/{experiment_id}", status_code=NO_CONTENT)
def rename_experiment(experiment_id: str, body: ExperimentUpdate, store: Store) -> None:
    store.rename_experiment(experiment_id, body.name)


@router.delete("/experiments/{experiment_id}", status_code=NO_CONTENT)
def delete_experiment(experiment_id: str, store: Store) -> None:
    """Soft-delete the experiment and its runs (restore with ``POST .../restore``)."""
    store.delete_experiment(experiment_id)


@router.post("/experiments/{experiment_id}/restore", status_code=NO_CONTENT)
def restore_experiment(experiment_id: str, store: Store) -> None:
    store.restore_experiment(experiment_id)


@router.put("/experiments/{experiment_id}/tags/{key:path}", status_code=NO_CONTENT)
def set_experiment_tag(experiment_id: str, key: str, body: TagValue, store: Store) -> None:
    store.set_experiment_tag(experiment_id, RunTag(key, body.value))


@router.delete("/experiments/{experiment_id}/tags/{key:path}", status_code=NO_CONTENT)
def delete_experiment_tag(experiment_id: str, key: str, store: Store) -> None:
    store.delete_experiment_tag(experiment_id, key)
