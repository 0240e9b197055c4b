"""MLflow's model registry REST API (registered models, versions, stages, aliases, tags).

Mounted under ``/api/2.0/mlflow`` for MLflow's client and ``/ajax-api/2.0/mlflow`` for its
web UI; requests and responses follow ``mlflow/protos/model_registry.proto`` (see
``wire_registry``). Reads need ``viewer``, writes ``editor``.

Governance is the store's: moving a version into Production or moving a protected alias
raises ``PermissionDeniedError`` there, which reaches MLflow's client as 403
``PERMISSION_DENIED`` with the store's explanation of how to request and approve a promotion.
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

from starlette.responses import Response

from plinth.entities import Role, RunTag, model_uris
from plinth.entities.registry import ModelVersion
from plinth.errors import InvalidArgumentError, NotFoundError
from plinth.server.mlflow import wire
from plinth.server.mlflow import wire_registry as rwire
from plinth.server.mlflow.rpc import RpcRoutes
from plinth.server.mlflow.wire import Fields, reply
from plinth.store.base import RegistryStore

log = logging.getLogger("plinth.server")

SEARCH_REGISTERED_MODELS_DEFAULT = 100
"""MLflow's default page size for registered-model searches."""
SEARCH_MODEL_VERSIONS_DEFAULT = 10_000
"""MLflow's default page size for model-version searches."""
_MAX_SOURCE_HOPS = 10
"""How many ``models:/NAME/VERSION`` sources may chain before a download URI is refused."""


_routes = RpcRoutes("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")


# -- registered models -----------------------------------------------------------------------
@_routes.post("/registered-models/create", role=Role.EDITOR)
def create_registered_model(fields: Fields, store: RegistryStore) -> Response:
    model = store.create_registered_model(
        fields.string("name", required=True),
        tags=wire.tags_from(fields),
        description=fields.optional_string("description"),
    )
    return reply({"registered_model": rwire.registered_model_json(model)})


@_routes.get("/registered-models/get", role=Role.VIEWER)
def get_registered_model(fields: Fields, store: RegistryStore) -> Response:
    model = store.get_registered_model(fields.string("name", required=True))
    return reply({"registered_model": rwire.registered_model_json(model)})


@_routes.post("/registered-models/rename", role=Role.EDITOR)
def rename_registered_model(fields: Fields, store: RegistryStore) -> Response:
    model = store.rename_registered_model(
        fields.string("name", required=True), fields.string("new_name", required=True)
    )
    return reply({"registered_model": rwire.registered_model_json(model)})


@_routes.patch("/registered-models/update", role=Role.EDITOR)
def update_registered_model(fields: Fields, store: RegistryStore) -> Response:
    model = store.update_registered_model(
        fields.string("name", required=True), description=fields.string("description")
    )
    return reply({"registered_model": rwire.registered_model_json(model)})


@_routes.delete("/registered-models/delete", role=Role.EDITOR)
def delete_registered_model(fields: Fields, store: RegistryStore) -> Response:
    store.delete_registered_model(fields.string("name", required=True))
    return reply()


@_routes.get("/registered-models/search", role=Role.VIEWER)
def search_registered_models(fields: Fields, store: RegistryStore) -> Response:
    page = store.search_registered_models(
        filter_string=rwire.registry_filter(fields.string("filter")),
        max_results=_max_results(fields, SEARCH_REGISTERED_MODELS_DEFAULT),
        order_by=fields.strings("order_by"),
        page_token=fields.string("page_token") or None,
    )
    models = [rwire.registered_model_json(m) for m in page.items]
    return reply(_page("registered_models", models, page.next_page_token))


@_routes.get("/registered-models/get-latest-versions", role=Role.VIEWER)
@_routes.post("/registered-models/get-latest-versions", role=Role.VIEWER)
def get_latest_versions(fields: Fields, store: RegistryStore) -> Response:
    versions = store.get_latest_versions(
        fields.string("name", required=True), rwire.stages_from(fields)
    )
    return reply({"model_versions": [rwire.model_version_json(v) for v in versions]})


@_routes.post("/registered-models/set-tag", role=Role.EDITOR)
def set_registered_model_tag(fields: Fields, store: RegistryStore) -> Response:
    tag = RunTag(fields.string("key", required=True), fields.string("value"))
    store.set_registered_model_tag(fields.string("name", required=True), tag)
    return reply()


@_routes.delete("/registered-models/delete-tag", role=Role.EDITOR)
def delete_registered_model_tag(fields: Fields, store: RegistryStore) -> Response:
    store.delete_registered_model_tag(
        fields.string("name", required=True), fields.string("key", required=True)
    )
    return reply()


# -- aliases ---------------------------------------------------------------------------------
@_routes.post("/registered-models/alias", role=Role.EDITOR)
def set_registered_model_alias(fields: Fields, store: RegistryStore) -> Response:
    store.set_registered_model_alias(
        fields.string("name", required=True),
        fields.string("alias", required=True),
        fields.identifier("version"),
    )
    return reply()


@_routes.delete("/registered-models/alias", role=Role.EDITOR)
def delete_registered_model_alias(fields: Fields, store: RegistryStore) -> Response:
    store.delete_registered_model_alias(
        fields.string("name", required=True), fields.string("alias", required=True)
    )
    return reply()


@_routes.get("/registered-models/alias", role=Role.VIEWER)
def get_model_version_by_alias(fields: Fields, store: RegistryStore) -> Response:
    version = store.get_model_version_by_alias(
        fields.string("name", required=True), fields.string("alias", required=True)
    )
    return reply({"model_version": rwire.model_version_json(version)})


# -- model versions --------------------------------------------------------------------------
@_routes.post("/model-versions/create", role=Role.EDITOR)
def create_model_version(fields: Fields, store: RegistryStore) -> Response:
    name = fields.string("name", required=True)
    source = fields.string("source", required=True)
    run_id = fields.string("run_id") or None
    model_id = fields.string("model_id") or None
    # As MLflow's server: the registered model must exist (its client's register_model
    # creates it first). Plinth's store would create it, silently, on a misspelt name.
    store.get_registered_model(name)
    source_model_id = model_uris.logged_model_id_of(source)
    if model_id and source_model_id and model_id != source_model_id:
        raise InvalidArgumentError(
            f"Invalid model version source {source!r}: it names logged model "
            f"{source_model_id!r}, but the request's model_id is {model_id!r}."
        )
    model_id = model_id or source_model_id
    if model_id is not None:
        # The version's lineage runs through the logged model: it must exist, and its run
        # is the version's run unless the caller named one.
        run_id = run_id or store.get_logged_model(model_id).source_run_id
    elif model_uris.parse_model_uri(source) is not None:
        # models:/NAME/VERSION, /STAGE, /latest or @ALIAS: pinned to the version it means
        # now, whose run the new version inherits (as MLflow's server does).
        referenced = _referenced_version(store, source)
        source = _version_uri(referenced)
        run_id = run_id or referenced.run_id
    else:
        run_id = run_id or model_uris.run_id_of(source)
    version = store.create_model_version(
        name,
        source,
        run_id=run_id,
        tags=wire.tags_from(fields),
        run_link=fields.string("run_link") or None,
        description=fields.optional_string("description"),
    )
    if model_id is not None:
        _record_registration(store, model_id, version)
    return reply({"model_version": rwire.model_version_json(version)})


@_routes.get("/model-versions/get", role=Role.VIEWER)
def get_model_version(fields: Fields, store: RegistryStore) -> Response:
    version = store.get_model_version(
        fields.string("name", required=True), fields.identifier("version")
    )
    return reply({"model_version": rwire.model_version_json(version)})


@_routes.patch("/model-versions/update", role=Role.EDITOR)
def update_model_version(fields: Fields, store: RegistryStore) -> Response:
    version = store.update_model_version(
        fields.string("name", required=True),
        fields.identifier("version"),
        description=fields.string("description"),
    )
    return reply({"model_version": rwire.model_version_json(version)})


@_routes.delete("/model-versions/delete", role=Role.EDITOR)
def delete_model_version(fields: Fields, store: RegistryStore) -> Response:
    store.delete_model_version(fields.string("name", required=True), fields.identifier("version"))
    return reply()


@_routes.get("/model-versions/search", role=Role.VIEWER)
def search_model_versions(fields: Fields, store: RegistryStore) -> Response:
    page = store.search_model_versions(
        filter_string=rwire.registry_filter(fields.string("filter")),
        max_results=_max_results(fields, SEARCH_MODEL_VERSIONS_DEFAULT),
        order_by=fields.strings("order_by"),
        page_token=fields.string("page_token") or None,
    )
    versions = [rwire.model_version_json(v) for v in page.items]
    return reply(_page("model_versions", versions, page.next_page_token))


@_routes.post("/model-versions/transition-stage", role=Role.EDITOR)
def transition_model_version_stage(fields: Fields, store: RegistryStore) -> Response:
    version = store.transition_model_version_stage(
        fields.string("name", required=True),
        fields.identifier("version"),
        rwire.stage_from(fields.string("stage", required=True)),
        # proto2's default (false), which is also the default of MLflow's client.
        archive_existing_versions=fields.boolean("archive_existing_versions"),
    )
    return reply({"model_version": rwire.model_version_json(version)})


@_routes.get("/model-versions/get-download-uri", role=Role.VIEWER)
def get_model_version_download_uri(fields: Fields, store: RegistryStore) -> Response:
    version = store.get_model_version(
        fields.string("name", required=True), fields.identifier("version")
    )
    return reply({"artifact_uri": _download_uri(store, version)})


@_routes.post("/model-versions/set-tag", role=Role.EDITOR)
def set_model_version_tag(fields: Fields, store: RegistryStore) -> Response:
    tag = RunTag(fields.string("key", required=True), fields.string("value"))
    store.set_model_version_tag(
        fields.string("name", required=True), fields.identifier("version"), tag
    )
    return reply()


@_routes.delete("/model-versions/delete-tag", role=Role.EDITOR)
def delete_model_version_tag(fields: Fields, store: RegistryStore) -> Response:
    store.delete_model_version_tag(
        fields.string("name", required=True),
        fields.identifier("version"),
        fields.string("key", required=True),
    )
    return reply()


# -- helpers ---------------------------------------------------------------------------------
def _referenced_version(store: RegistryStore, uri: str) -> ModelVersion:
    """The registered version a ``models:/NAME/…`` or ``models:/NAME@ALIAS`` URI means now."""
    parsed = model_uris.parse_model_uri(uri)
    assert parsed is not None and parsed.name is not None
    if parsed.alias is not None:
        return store.get_model_version_by_alias(parsed.name, parsed.alias)
    suffix = parsed.suffix or "latest"
    if suffix.isdigit():
        return store.get_model_version(parsed.name, suffix)
    stages = [] if suffix.lower() == "latest" else [rwire.stage_from(suffix, "source")]
    latest = store.get_latest_versions(parsed.name, stages)
    if not latest:
        raise NotFoundError(f"Registered model {parsed.name!r} has no version for {uri!r}.")
    return max(latest, key=lambda v: int(v.version))


def _version_uri(version: ModelVersion) -> str:
    return f"{model_uris.MODELS_SCHEME}:/{version.name}/{version.version}"


def _download_uri(store: RegistryStore, version: ModelVersion) -> str:
    """Where the version's files are, as MLflow's server answers: the logged model's
    artifact location for a ``models:/<model_id>`` source, the referenced version's location
    for ``models:/NAME/VERSION``, and the source itself otherwise (``runs:/``, storage URIs).
    """
    for _ in range(_MAX_SOURCE_HOPS):
        model_id = model_uris.logged_model_id_of(version.source)
        if model_id is not None:
            return store.get_logged_model(model_id).artifact_location
        if model_uris.parse_model_uri(version.source) is None:
            return version.source
        version = _referenced_version(store, version.source)
    raise InvalidArgumentError(
        f"Model version {version.name}/{version.version}: its source chains through more than "
        f"{_MAX_SOURCE_HOPS} models:/ URIs."
    )


def _record_registration(store: RegistryStore, model_id: str, version: ModelVersion) -> None:
    """Add the version to the logged model's ``mlflow.modelVersions`` tag, as MLflow does.

    The tag only feeds MLflow's UI; a failure to write it is logged, never the request's
    failure (the version exists by now)."""
    entry = {"name": version.name, "version": version.version}
    registrations: list[Any] = []
    # No tag yet, or one that is not valid JSON: start a fresh list.
    with contextlib.suppress(KeyError, ValueError):
        existing = json.loads(store.get_logged_model(model_id).tags[rwire.MODEL_VERSIONS_TAG])
        registrations = existing if isinstance(existing, list) else []
    if entry not in registrations:
        registrations.append(entry)
    try:
        store.set_logged_model_tags(
            model_id, [RunTag(rwire.MODEL_VERSIONS_TAG, json.dumps(registrations))]
        )
    except InvalidArgumentError as exc:
        log.warning("Could not record %s/%s on logged model %s: %s", *entry.values(), model_id, exc)


def _max_results(fields: Fields, default: int) -> int:
    # Explicit (even 0) values reach the store, which names the allowed range.
    value = fields.integer("max_results")
    return default if value is None else value


def _page(name: str, items: list[dict[str, Any]], token: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {name: items}
    if token:
        body["next_page_token"] = token
    return body


routes = (_routes,)
"""Served by ``RpcRoute`` (see ``plinth.server.mlflow.rpc``)."""
