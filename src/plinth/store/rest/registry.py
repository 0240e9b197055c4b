"""``RegistryStore`` over a Plinth server's /api/v1 (the SDK's remote transport).

The server runs the same store, so the governance rules (approved promotions, four eyes,
overrides) are enforced there and come back as the same ``PermissionDeniedError``.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from plinth.entities import Page, Param, RunTag
from plinth.entities.registry import (
    DatasetFilter,
    LoggedModel,
    LoggedModelOrder,
    LoggedModelStatus,
    ModelEvent,
    ModelVersion,
    PromotionRequest,
    PromotionStatus,
    RegisteredModel,
    Stage,
    parse_version,
    validate_alias,
    validate_model_name,
)
from plinth.errors import NotFoundError
from plinth.schemas.common import decode
from plinth.schemas.registry import (
    AliasTarget,
    DescriptionUpdate,
    LatestVersionsQuery,
    LoggedModelCreate,
    LoggedModelFinalize,
    LoggedModelParams,
    LoggedModelSearchBody,
    LoggedModelTags,
    ModelEventCreate,
    ModelVersionCreate,
    ModelVersionSearch,
    PromotionApproval,
    PromotionCreate,
    PromotionQuery,
    PromotionRejection,
    RegisteredModelCreate,
    RegisteredModelRename,
    RegisteredModelSearch,
    StageTransition,
)
from plinth.schemas.tracking import TagValue
from plinth.store.base import RegistryStore
from plinth.store.rest.client import RestClient, RetryPolicy, build, path_segment
from plinth.tracking.search_filter import search_arguments

_V1 = "/api/v1"


# Names and ids travel as path segments, which the server decodes before routing: an empty
# one or one with a slash would reach another route. No such name or id can exist (the store
# refuses to create them), so they fail here as a lookup of them fails embedded.
def _segment(value: str, missing: str) -> str:
    if isinstance(value, str) and (not value or "/" in value):
        raise NotFoundError(missing)
    return path_segment(value)


def _model(name: str) -> str:
    return f"{_V1}/models/{_segment(name, f'Registered Model with name={name} not found')}"


def _version(name: str, version: str) -> str:
    number = parse_version(version)
    return f"{_model(name)}/versions/{number}"


def _alias(name: str, alias: str) -> str:
    missing = f"Registered model alias {alias} not found."
    return f"{_model(name)}/aliases/{_segment(alias, missing)}"


def _promotion(request_id: str) -> str:
    missing = f"Promotion request {request_id!r} not found."
    return f"{_V1}/promotions/{_segment(request_id, missing)}"


def _logged(model_id: str) -> str:
    missing = f"Logged model with ID '{model_id}' not found."
    return f"{_V1}/logged-models/{_segment(model_id, missing)}"


class RestRegistryStore(RegistryStore):
    """The registry of a remote server; mutations are attributed to the token's user."""

    def __init__(self, http: httpx.Client, *, retry: RetryPolicy | None = None) -> None:
        self._api = RestClient(http, retry=retry)

    # -- registered models -----------------------------------------------------------------
    def create_registered_model(
        self, name: str, *, tags: Sequence[RunTag] = (), description: str | None = None
    ) -> RegisteredModel:
        body = build(RegisteredModelCreate, name=name, tags=list(tags), description=description)
        return decode(RegisteredModel, self._api.call("POST", f"{_V1}/models", body=body))

    def get_registered_model(self, name: str) -> RegisteredModel:
        return decode(RegisteredModel, self._api.call("GET", _model(name)))

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        body = build(RegisteredModelRename, new_name=new_name)
        renamed = self._api.call("POST", f"{_model(name)}/rename", body=body)
        return decode(RegisteredModel, renamed)

    def update_registered_model(self, name: str, *, description: str) -> RegisteredModel:
        body = build(DescriptionUpdate, description=description)
        return decode(RegisteredModel, self._api.call("PATCH", _model(name), body=body))

    def delete_registered_model(self, name: str) -> None:
        self._api.call("DELETE", _model(name))

    def search_registered_models(
        self,
        *,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: Sequence[str] = (),
        page_token: str | None = None,
    ) -> Page[RegisteredModel]:
        query = build(
            RegisteredModelSearch,
            filter=filter_string,
            max_results=max_results,
            order_by=list(search_arguments(None, order_by)[1]),
            page_token=page_token,
        )
        page = self._api.call("GET", f"{_V1}/models", params=query)
        return decode(Page[RegisteredModel], page)

    def set_registered_model_tag(self, name: str, tag: RunTag) -> None:
        path = f"{_model(name)}/tags/{path_segment(tag.key)}"
        self._api.call("PUT", path, body=build(TagValue, value=tag.value))

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self._api.call("DELETE", f"{_model(name)}/tags/{path_segment(key)}")

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
        # The name is a path segment here, so it is checked before it travels.
        validate_model_name(name)
        body = build(
            ModelVersionCreate,
            source=source,
            run_id=run_id,
            tags=list(tags),
            run_link=run_link,
            description=description,
        )
        created = self._api.call("POST", f"{_model(name)}/versions", body=body)
        return decode(ModelVersion, created)

    def get_model_version(self, name: str, version: str) -> ModelVersion:
        return decode(ModelVersion, self._api.call("GET", _version(name, version)))

    def update_model_version(self, name: str, version: str, *, description: str) -> ModelVersion:
        body = build(DescriptionUpdate, description=description)
        return decode(ModelVersion, self._api.call("PATCH", _version(name, version), body=body))

    def delete_model_version(self, name: str, version: str) -> None:
        self._api.call("DELETE", _version(name, version))

    def search_model_versions(
        self,
        *,
        filter_string: str | None = None,
        max_results: int = 10_000,
        order_by: Sequence[str] = (),
        page_token: str | None = None,
    ) -> Page[ModelVersion]:
        query = build(
            ModelVersionSearch,
            filter=filter_string,
            max_results=max_results,
            order_by=list(search_arguments(None, order_by)[1]),
            page_token=page_token,
        )
        page = self._api.call("GET", f"{_V1}/model-versions", params=query)
        return decode(Page[ModelVersion], page)

    def set_model_version_tag(self, name: str, version: str, tag: RunTag) -> None:
        path = f"{_version(name, version)}/tags/{path_segment(tag.key)}"
        self._api.call("PUT", path, body=build(TagValue, value=tag.value))

    def delete_model_version_tag(self, name: str, version: str, key: str) -> None:
        self._api.call("DELETE", f"{_version(name, version)}/tags/{path_segment(key)}")

    def get_latest_versions(self, name: str, stages: Sequence[Stage] = ()) -> list[ModelVersion]:
        query = build(LatestVersionsQuery, stage=list(stages))
        latest = self._api.call("GET", f"{_model(name)}/latest-versions", params=query)
        return decode(list[ModelVersion], latest)

    # -- stages and aliases ----------------------------------------------------------------
    def transition_model_version_stage(
        self, name: str, version: str, stage: Stage, *, archive_existing_versions: bool = True
    ) -> ModelVersion:
        body = build(
            StageTransition, stage=stage, archive_existing_versions=archive_existing_versions
        )
        moved = self._api.call("POST", f"{_version(name, version)}/stage", body=body)
        return decode(ModelVersion, moved)

    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        validate_alias(alias)
        self._api.call("PUT", _alias(name, alias), body=build(AliasTarget, version=version))

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        validate_alias(alias)
        self._api.call("DELETE", _alias(name, alias))

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return decode(ModelVersion, self._api.call("GET", _alias(name, alias)))

    # -- governance ------------------------------------------------------------------------
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
        body = build(
            PromotionCreate,
            name=name,
            version=version,
            stage=stage,
            alias=alias,
            comment=comment,
            checks=list(checks),
            archive_existing_versions=archive_existing_versions,
        )
        created = self._api.call("POST", f"{_V1}/promotions", body=body)
        return decode(PromotionRequest, created)

    def approve_promotion(
        self, request_id: str, *, comment: str | None = None, override: bool = False
    ) -> PromotionRequest:
        body = build(PromotionApproval, comment=comment, override=override)
        approved = self._api.call("POST", f"{_promotion(request_id)}/approve", body=body)
        return decode(PromotionRequest, approved)

    def reject_promotion(self, request_id: str, *, comment: str | None = None) -> PromotionRequest:
        body = build(PromotionRejection, comment=comment)
        rejected = self._api.call("POST", f"{_promotion(request_id)}/reject", body=body)
        return decode(PromotionRequest, rejected)

    def get_promotion_request(self, request_id: str) -> PromotionRequest:
        return decode(PromotionRequest, self._api.call("GET", _promotion(request_id)))

    def list_promotion_requests(
        self, *, name: str | None = None, status: PromotionStatus | None = None
    ) -> list[PromotionRequest]:
        query = build(PromotionQuery, name=name, status=status)
        requests = self._api.call("GET", f"{_V1}/promotions", params=query)
        return decode(list[PromotionRequest], requests)

    def list_model_events(self, name: str) -> list[ModelEvent]:
        return decode(list[ModelEvent], self._api.call("GET", f"{_model(name)}/history"))

    def record_model_event(
        self,
        name: str,
        version: str | None,
        event_type: str,
        *,
        comment: str | None = None,
        details: dict[str, str] | None = None,
    ) -> None:
        body = build(
            ModelEventCreate,
            version=version,
            event_type=event_type,
            comment=comment,
            details=details or {},
        )
        self._api.call("POST", f"{_model(name)}/history", body=body)

    # -- MLflow 3 logged models ------------------------------------------------------------
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
        body = build(
            LoggedModelCreate,
            experiment_id=experiment_id,
            name=name,
            source_run_id=source_run_id,
            model_type=model_type,
            tags=list(tags),
            params=list(params),
        )
        return decode(LoggedModel, self._api.call("POST", f"{_V1}/logged-models", body=body))

    def get_logged_model(self, model_id: str) -> LoggedModel:
        return decode(LoggedModel, self._api.call("GET", _logged(model_id)))

    def finalize_logged_model(self, model_id: str, status: LoggedModelStatus) -> LoggedModel:
        body = build(LoggedModelFinalize, status=status)
        return decode(LoggedModel, self._api.call("PATCH", _logged(model_id), body=body))

    def set_logged_model_tags(self, model_id: str, tags: Sequence[RunTag]) -> None:
        body = build(LoggedModelTags, tags=list(tags))
        self._api.call("POST", f"{_logged(model_id)}/tags", body=body)

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        self._api.call("DELETE", f"{_logged(model_id)}/tags/{path_segment(key)}")

    def log_logged_model_params(self, model_id: str, params: Sequence[Param]) -> None:
        body = build(LoggedModelParams, params=list(params))
        self._api.call("POST", f"{_logged(model_id)}/params", body=body)

    def delete_logged_model(self, model_id: str) -> None:
        self._api.call("DELETE", _logged(model_id))

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
        body = build(
            LoggedModelSearchBody,
            experiment_ids=list(experiment_ids),
            filter=filter_string,
            datasets=list(datasets),
            order_by=list(order_by),
            max_results=max_results,
            page_token=page_token,
        )
        page = self._api.call("POST", f"{_V1}/logged-models/search", body=body)
        return decode(Page[LoggedModel], page)
