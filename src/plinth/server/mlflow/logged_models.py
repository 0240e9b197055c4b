"""MLflow 3's logged-model API (``/mlflow/logged-models``) over the registry store.

``mlflow.<flavor>.log_model`` creates a logged model, uploads the package to the model's
``artifact_uri`` through the artifact proxy, and finalizes it (status READY);
``models:/<model_id>`` URIs resolve through ``GET /mlflow/logged-models/<model_id>``. Requests
and responses follow the ``LoggedModel`` RPCs of ``mlflow/protos/service.proto`` (see
``wire_registry``). Reads need ``viewer`` (including the search, a POST), writes ``editor``.
"""

from __future__ import annotations

import json
import posixpath
from typing import Any

from starlette.responses import Response, StreamingResponse

from plinth.artifacts import ArtifactStore
from plinth.artifacts.base import normalize_url_path
from plinth.entities import Role, RunTag, model_uris
from plinth.entities.registry import DatasetFilter, LoggedModel, LoggedModelOrder
from plinth.entities.run_names import generate_run_name
from plinth.errors import InvalidArgumentError
from plinth.server.mlflow import wire
from plinth.server.mlflow import wire_registry as rwire
from plinth.server.mlflow.artifacts import download_artifact
from plinth.server.mlflow.rpc import RpcRoutes
from plinth.server.mlflow.wire import Fields, reply
from plinth.store.base import RegistryStore

SEARCH_LOGGED_MODELS_DEFAULT = 100


_routes = RpcRoutes("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")
_ui_routes = RpcRoutes("/ajax-api/2.0/mlflow")  # the web UI only


@_routes.post("/logged-models", role=Role.EDITOR)
def create_logged_model(fields: Fields, store: RegistryStore) -> Response:
    model = store.create_logged_model(
        fields.identifier("experiment_id"),
        # MLflow names unnamed models with the same kind of random name as runs.
        name=fields.string("name") or generate_run_name(),
        source_run_id=fields.string("source_run_id") or None,
        model_type=fields.string("model_type") or None,
        tags=wire.tags_from(fields),
        params=wire.params_from(fields),
    )
    return reply({"model": rwire.logged_model_json(model)})


@_routes.post("/logged-models/search", role=Role.VIEWER)
def search_logged_models(fields: Fields, store: RegistryStore) -> Response:
    experiment_ids = fields.strings("experiment_ids", allow_ints=True)
    if not experiment_ids:
        raise InvalidArgumentError(
            "Missing value for required parameter 'experiment_ids'.",
            details={"field": "experiment_ids"},
        )
    datasets = [
        DatasetFilter(
            dataset_name=item.string("dataset_name", required=True),
            dataset_digest=item.string("dataset_digest") or None,
        )
        for item in fields.messages("datasets")
    ]
    order_by = [
        LoggedModelOrder(
            field_name=item.string("field_name", required=True),
            ascending=item.boolean("ascending", default=True),
            dataset_name=item.string("dataset_name") or None,
            dataset_digest=item.string("dataset_digest") or None,
        )
        for item in fields.messages("order_by")
    ]
    max_results = fields.integer("max_results")
    page = store.search_logged_models(
        experiment_ids,
        filter_string=fields.string("filter") or None,
        datasets=datasets,
        order_by=order_by,
        max_results=SEARCH_LOGGED_MODELS_DEFAULT if max_results is None else max_results,
        page_token=fields.string("page_token") or None,
    )
    body: dict[str, Any] = {"models": [rwire.logged_model_json(m) for m in page.items]}
    if page.next_page_token:
        body["next_page_token"] = page.next_page_token
    return reply(body)


@_routes.get("/logged-models/{model_id}", role=Role.VIEWER)
def get_logged_model(model_id: str, store: RegistryStore) -> Response:
    # `allow_deleted=true` may come along; deleted models are gone from the store, so a
    # deleted model is a 404 either way.
    return reply({"model": rwire.logged_model_json(store.get_logged_model(model_id))})


@_routes.patch("/logged-models/{model_id}", role=Role.EDITOR)
def finalize_logged_model(
    model_id: str,
    fields: Fields,
    store: RegistryStore,
) -> Response:
    status = rwire.logged_model_status_from(fields)
    model = store.finalize_logged_model(_same_id(model_id, fields), status)
    return reply({"model": rwire.logged_model_json(model)})


@_routes.delete("/logged-models/{model_id}", role=Role.EDITOR)
def delete_logged_model(
    model_id: str,
    fields: Fields,
    store: RegistryStore,
) -> Response:
    store.delete_logged_model(_same_id(model_id, fields))
    return reply()


@_routes.patch("/logged-models/{model_id}/tags", role=Role.EDITOR)
def set_logged_model_tags(
    model_id: str,
    fields: Fields,
    store: RegistryStore,
) -> Response:
    model_id = _same_id(model_id, fields)
    tags = [_without_repeats(t) for t in wire.tags_from(fields)]
    store.set_logged_model_tags(model_id, tags)
    return reply({"model": rwire.logged_model_json(store.get_logged_model(model_id))})


@_routes.delete("/logged-models/{model_id}/tags/{tag_key:path}", role=Role.EDITOR)
def delete_logged_model_tag(model_id: str, tag_key: str, store: RegistryStore) -> Response:
    store.delete_logged_model_tag(model_id, tag_key)
    return reply()


@_routes.post("/logged-models/{model_id}/params", role=Role.EDITOR)
def log_logged_model_params(
    model_id: str,
    fields: Fields,
    store: RegistryStore,
) -> Response:
    store.log_logged_model_params(_same_id(model_id, fields), wire.params_from(fields))
    return reply()


@_routes.get("/logged-models/{model_id}/artifacts/directories", role=Role.VIEWER)
def list_logged_model_artifacts(
    model_id: str,
    fields: Fields,
    store: RegistryStore,
    artifacts: ArtifactStore,
) -> Response:
    model = store.get_logged_model(model_id)
    path = normalize_url_path(fields.string("artifact_directory_path"), allow_root=True)
    root = _proxied_root(model)
    entries = artifacts.list(posixpath.join(root, path) if path else root)
    files = [
        wire.file_info_json(e, posixpath.join(path, posixpath.basename(e.path))) for e in entries
    ]
    return reply({"root_uri": model.artifact_location, "files": files})


@_ui_routes.get("/logged-models/{model_id}/artifacts/files", role=Role.VIEWER)
def download_logged_model_artifact(
    model_id: str,
    fields: Fields,
    store: RegistryStore,
    artifacts: ArtifactStore,
) -> StreamingResponse:
    path = normalize_url_path(fields.string("artifact_file_path", required=True))
    root = _proxied_root(store.get_logged_model(model_id))
    return download_artifact(posixpath.join(root, path), artifacts)


def _same_id(model_id: str, fields: Fields) -> str:
    """The path's model id; a body naming another model is a mistake worth reporting."""
    named = fields.string("model_id")
    if named and named != model_id:
        raise InvalidArgumentError(
            f"The request body names model {named!r} but the URL names {model_id!r}.",
            details={"field": "model_id"},
        )
    return model_id


def _without_repeats(tag: RunTag) -> RunTag:
    """``mlflow.modelVersions`` with each version once. The server records a registration
    (as MLflow's does) and then ``mlflow.register_model`` appends the same entry again."""
    if tag.key != rwire.MODEL_VERSIONS_TAG:
        return tag
    try:
        entries = json.loads(tag.value)
    except ValueError:
        return tag
    if not isinstance(entries, list):
        return tag
    unique: list[Any] = []
    for entry in entries:
        if entry not in unique:
            unique.append(entry)
    return RunTag(tag.key, json.dumps(unique))


def _proxied_root(model: LoggedModel) -> str:
    root = model_uris.proxied_artifact_path(model.artifact_location)
    if root is None:
        raise InvalidArgumentError(
            f"Logged model {model.model_id} keeps its artifacts at "
            f"{model.artifact_location!r}, outside this server's artifact store; read them there "
            "directly."
        )
    return normalize_url_path(root, allow_root=True)


routes = (
    _routes,
    _ui_routes,
)
"""Served by ``RpcRoute`` (see ``plinth.server.mlflow.rpc``)."""
