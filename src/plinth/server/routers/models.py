"""/api/v1/models, /api/v1/model-versions and /api/v1/logged-models: the model registry
(registered models, versions, tags, aliases, stages, history) and MLflow 3 logged models.

Reads need ``viewer``, everything else ``editor`` (``require_for_method``); the one read that
is a POST (``/logged-models/search``, whose body carries structured orderings) is on
``reads``. The store holds
the governance rule: a move into Production or of a protected alias is refused here with
403 PERMISSION_DENIED unless it comes from an approved promotion (``/api/v1/promotions``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from plinth.entities import Page, Role, RunTag
from plinth.entities.registry import LoggedModel, ModelEvent, ModelVersion, RegisteredModel
from plinth.schemas.common import PageOut
from plinth.schemas.registry import (
    AliasTarget,
    DescriptionUpdate,
    LatestVersionsQuery,
    LoggedModelCreate,
    LoggedModelFinalize,
    LoggedModelParams,
    LoggedModelSearch,
    LoggedModelSearchBody,
    LoggedModelTags,
    LoggedModelWire,
    ModelEventCreate,
    ModelVersionCreate,
    ModelVersionSearch,
    RegisteredModelCreate,
    RegisteredModelRename,
    RegisteredModelSearch,
    StageTransition,
)
from plinth.schemas.tracking import TagValue
from plinth.server.auth import require, require_for_method
from plinth.server.deps import get_registry_store
from plinth.store.base import RegistryStore

router = APIRouter(prefix="/api/v1", tags=["models"], dependencies=[Depends(require_for_method)])
reads = APIRouter(prefix="/api/v1", tags=["models"], dependencies=[Depends(require(Role.VIEWER))])

Store = Annotated[RegistryStore, Depends(get_registry_store)]
CREATED = status.HTTP_201_CREATED
NO_CONTENT = status.HTTP_204_NO_CONTENT
_MODEL = "/models/{name}"
_VERSION = "/models/{name}/versions/{version}"
_LOGGED = "/logged-models/{model_id}"


# -- registered models -------------------------------------------------------------------------
@router.post("/models", status_code=CREATED)
def create_registered_model(body: RegisteredModelCreate, store: Store) -> RegisteredModel:
    return store.create_registered_model(body.name, tags=body.tags, description=body.description)


@router.get("/models", response_model=PageOut[RegisteredModel])
def search_registered_models(
    query: Annotated[RegisteredModelSearch, Query()], store: Store
) -> Page[RegisteredModel]:
    """Registered models matching MLflow's filter grammar (``name LIKE 'churn%'``, ``tags.k``)."""
    return store.search_registered_models(
        filter_string=query.filter,
        max_results=query.max_results,
        order_by=query.order_by,
        page_token=query.page_token,
    )


@router.get(_MODEL)
def get_registered_model(name: str, store: Store) -> RegisteredModel:
    return store.get_registered_model(name)


@router.patch(_MODEL)
def update_registered_model(name: str, body: DescriptionUpdate, store: Store) -> RegisteredModel:
    return store.update_registered_model(name, description=body.description)


@router.post(f"{_MODEL}/rename")
def rename_registered_model(
    name: str, body: RegisteredModelRename, store: Store
) -> RegisteredModel:
    """Rename the model; its versions, tags, aliases and history follow it."""
    return store.rename_registered_model(name, body.new_name)


@router.delete(_MODEL, status_code=NO_CONTENT)
def delete_registered_model(name: str, store: Store) -> None:
    """Delete the model and its versions (refused while one is in Production or holds a
    protected alias)."""
    store.delete_registered_model(name)


@router.put(f"{_MODEL}/tags/{{key:path}}", status_code=NO_CONTENT)
def set_registered_model_tag(name: str, key: str, body: TagValue, store: Store) -> None:
    store.set_registered_model_tag(name, RunTag(key, body.value))


@router.delete(f"{_MODEL}/tags/{{key:path}}", status_code=NO_CONTENT)
def delete_registered_model_tag(name: str, key: str, store: Store) -> None:
    store.delete_registered_model_tag(name, key)


@router.get(f"{_MODEL}/latest-versions")
def get_latest_versions(
    name: str, query: Annotated[LatestVersionsQuery, Query()], store: Store
) -> list[ModelVersion]:
    """The newest version in each stage (repeat ``stage`` to choose; default all)."""
    return store.get_latest_versions(name, query.stage)


@router.get(f"{_MODEL}/history")
def list_model_events(name: str, store: Store) -> list[ModelEvent]:
    """Every event of the model, oldest first, each with its user, time and comment."""
    return store.list_model_events(name)


@router.post(f"{_MODEL}/history", status_code=NO_CONTENT)
def record_model_event(name: str, body: ModelEventCreate, store: Store) -> None:
    """Append an event written by another layer (a deployment)."""
    store.record_model_event(
        name, body.version, body.event_type, comment=body.comment, details=body.details
    )


# -- aliases -----------------------------------------------------------------------------------
@router.put(f"{_MODEL}/aliases/{{alias}}", status_code=NO_CONTENT)
def set_registered_model_alias(name: str, alias: str, body: AliasTarget, store: Store) -> None:
    """Point ``alias`` at a version; protected aliases move only through a promotion."""
    store.set_registered_model_alias(name, alias, body.version)


@router.delete(f"{_MODEL}/aliases/{{alias}}", status_code=NO_CONTENT)
def delete_registered_model_alias(name: str, alias: str, store: Store) -> None:
    store.delete_registered_model_alias(name, alias)


@router.get(f"{_MODEL}/aliases/{{alias}}")
def get_model_version_by_alias(name: str, alias: str, store: Store) -> ModelVersion:
    return store.get_model_version_by_alias(name, alias)


# -- versions ----------------------------------------------------------------------------------
@router.post(f"{_MODEL}/versions", status_code=CREATED)
def create_model_version(name: str, body: ModelVersionCreate, store: Store) -> ModelVersion:
    """Register ``source`` as the next version, creating the registered model if needed."""
    return store.create_model_version(
        name,
        body.source,
        run_id=body.run_id,
        tags=body.tags,
        run_link=body.run_link,
        description=body.description,
    )


@router.get("/model-versions", response_model=PageOut[ModelVersion])
def search_model_versions(
    query: Annotated[ModelVersionSearch, Query()], store: Store
) -> Page[ModelVersion]:
    """Versions of every model matching MLflow's filter grammar (``name = 'churn'``,
    ``run_id``, ``tags.k``, ``current_stage``)."""
    return store.search_model_versions(
        filter_string=query.filter,
        max_results=query.max_results,
        order_by=query.order_by,
        page_token=query.page_token,
    )


@router.get(_VERSION)
def get_model_version(name: str, version: str, store: Store) -> ModelVersion:
    return store.get_model_version(name, version)


@router.patch(_VERSION)
def update_model_version(
    name: str, version: str, body: DescriptionUpdate, store: Store
) -> ModelVersion:
    return store.update_model_version(name, version, description=body.description)


@router.delete(_VERSION, status_code=NO_CONTENT)
def delete_model_version(name: str, version: str, store: Store) -> None:
    store.delete_model_version(name, version)


@router.put(f"{_VERSION}/tags/{{key:path}}", status_code=NO_CONTENT)
def set_model_version_tag(name: str, version: str, key: str, body: TagValue, store: Store) -> None:
    store.set_model_version_tag(name, version, RunTag(key, body.value))


@router.delete(f"{_VERSION}/tags/{{key:path}}", status_code=NO_CONTENT)
def delete_model_version_tag(name: str, version: str, key: str, store: Store) -> None:
    store.delete_model_version_tag(name, version, key)


@router.post(f"{_VERSION}/stage")
def transition_model_version_stage(
    name: str, version: str, body: StageTransition, store: Store
) -> ModelVersion:
    """Move the version to a stage. Production needs an approved promotion request instead."""
    return store.transition_model_version_stage(
        name, version, body.stage, archive_existing_versions=body.archive_existing_versions
    )


# -- MLflow 3 logged models --------------------------------------------------------------------
@router.post("/logged-models", status_code=CREATED, response_model=LoggedModelWire)
def create_logged_model(body: LoggedModelCreate, store: Store) -> LoggedModel:
    return store.create_logged_model(
        body.experiment_id,
        name=body.name,
        source_run_id=body.source_run_id,
        model_type=body.model_type,
        tags=body.tags,
        params=body.params,
    )


@router.get("/logged-models", response_model=PageOut[LoggedModelWire])
def search_logged_models(
    query: Annotated[LoggedModelSearch, Query()], store: Store
) -> Page[LoggedModel]:
    """Logged models of the experiments (repeat ``experiment_id``), newest first. For
    ``datasets`` and ``order_by`` use ``POST /api/v1/logged-models/search``."""
    return store.search_logged_models(
        query.experiment_id,
        filter_string=query.filter,
        max_results=query.max_results,
        page_token=query.page_token,
    )


@reads.post("/logged-models/search", response_model=PageOut[LoggedModelWire])
def search_logged_models_by_body(body: LoggedModelSearchBody, store: Store) -> Page[LoggedModel]:
    """Logged models of the experiments, with MLflow's ``datasets`` (metric filters count
    only points on them) and ``order_by`` (attributes or ``metrics.<key>``, latest point)."""
    return store.search_logged_models(
        body.experiment_ids,
        filter_string=body.filter,
        datasets=body.datasets,
        order_by=[o.entity() for o in body.order_by],
        max_results=body.max_results,
        page_token=body.page_token,
    )


@router.get(_LOGGED, response_model=LoggedModelWire)
def get_logged_model(model_id: str, store: Store) -> LoggedModel:
    return store.get_logged_model(model_id)


@router.patch(_LOGGED, response_model=LoggedModelWire)
def finalize_logged_model(model_id: str, body: LoggedModelFinalize, store: Store) -> LoggedModel:
    """Set the upload's outcome (``LOGGED_MODEL_READY`` or ``LOGGED_MODEL_UPLOAD_FAILED``)."""
    return store.finalize_logged_model(model_id, body.status)


@router.delete(_LOGGED, status_code=NO_CONTENT)
def delete_logged_model(model_id: str, store: Store) -> None:
    store.delete_logged_model(model_id)


@router.post(f"{_LOGGED}/tags", status_code=NO_CONTENT)
def set_logged_model_tags(model_id: str, body: LoggedModelTags, store: Store) -> None:
    store.set_logged_model_tags(model_id, body.tags)


@router.delete(f"{_LOGGED}/tags/{{key:path}}", status_code=NO_CONTENT)
def delete_logged_model_tag(model_id: str, key: str, store: Store) -> None:
    store.delete_logged_model_tag(model_id, key)


@router.post(f"{_LOGGED}/params", status_code=NO_CONTENT)
def log_logged_model_params(model_id: str, body: LoggedModelParams, store: Store) -> None:
    store.log_logged_model_params(model_id, body.params)
