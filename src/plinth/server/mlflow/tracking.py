"""MLflow's tracking REST API (experiments, runs, metrics) over the tracking store.

Mounted under ``/api/2.0/mlflow`` for MLflow's client and again under
``/ajax-api/2.0/mlflow`` for its web UI. Requests and responses follow
``mlflow/protos/service.proto``; see ``wire`` for the JSON mapping. Reads need ``viewer``,
writes ``editor``; the searches are POSTs that only read, so they need ``viewer`` too.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from plinth.entities import (
    DEFAULT_EXPERIMENT_ID,
    LoggedModelInput,
    LoggedModelOutput,
    Param,
    Role,
    RunTag,
    User,
    now_ms,
)
from plinth.schemas.tracking import metric_points_json
from plinth.server.auth import run_owner
from plinth.server.mlflow import wire
from plinth.server.mlflow.rpc import RpcRoutes
from plinth.server.mlflow.wire import Fields, reply
from plinth.store.base import SEARCH_MAX_RESULTS_DEFAULT, TrackingStore

_routes = RpcRoutes("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")
_v3_routes = RpcRoutes("/api/3.0/mlflow", "/ajax-api/3.0/mlflow")


# -- experiments -----------------------------------------------------------------------------
@_routes.post("/experiments/create", role=Role.EDITOR)
def create_experiment(fields: Fields, store: TrackingStore) -> Response:
    experiment_id = store.create_experiment(
        fields.string("name", required=True),
        fields.string("artifact_location") or None,
        wire.tags_from(fields),
    )
    return reply({"experiment_id": experiment_id})


@_routes.get("/experiments/get", role=Role.VIEWER)
def get_experiment(fields: Fields, store: TrackingStore) -> Response:
    experiment = store.get_experiment(fields.identifier("experiment_id"))
    return reply({"experiment": wire.experiment_json(experiment)})


@_routes.get("/experiments/get-by-name", role=Role.VIEWER)
def get_experiment_by_name(fields: Fields, store: TrackingStore) -> Response:
    experiment = store.get_experiment_by_name(fields.string("experiment_name", required=True))
    return reply({"experiment": wire.experiment_json(experiment)})


@_routes.get("/experiments/search", role=Role.VIEWER)
@_routes.post("/experiments/search", role=Role.VIEWER)
def search_experiments(fields: Fields, store: TrackingStore) -> Response:
    page = store.search_experiments(
        view_type=wire.view_type_from(fields, "view_type"),
        max_results=_max_results(fields),
        filter_string=fields.string("filter") or None,
        order_by=fields.strings("order_by"),
        page_token=fields.string("page_token") or None,
    )
    experiments = [wire.experiment_json(e) for e in page.items]
    return reply(_page("experiments", experiments, page.next_page_token))


@_routes.post("/experiments/update", role=Role.EDITOR)
def update_experiment(fields: Fields, store: TrackingStore) -> Response:
    store.rename_experiment(
        fields.identifier("experiment_id"), fields.string("new_name", required=True)
    )
    return reply()


@_routes.post("/experiments/delete", role=Role.EDITOR)
def delete_experiment(fields: Fields, store: TrackingStore) -> Response:
    store.delete_experiment(fields.identifier("experiment_id"))
    return reply()


@_routes.post("/experiments/restore", role=Role.EDITOR)
def restore_experiment(fields: Fields, store: TrackingStore) -> Response:
    store.restore_experiment(fields.identifier("experiment_id"))
    return reply()


@_routes.post("/experiments/set-experiment-tag", role=Role.EDITOR)
def set_experiment_tag(fields: Fields, store: TrackingStore) -> Response:
    tag = RunTag(fields.string("key", required=True), fields.string("value"))
    store.set_experiment_tag(fields.identifier("experiment_id"), tag)
    return reply()


@_routes.post("/experiments/delete-experiment-tag", role=Role.EDITOR)
def delete_experiment_tag(fields: Fields, store: TrackingStore) -> Response:
    store.delete_experiment_tag(
        fields.identifier("experiment_id"), fields.string("key", required=True)
    )
    return reply()


# -- runs ------------------------------------------------------------------------------------
@_routes.post("/runs/create", role=Role.EDITOR)
def create_run(fields: Fields, store: TrackingStore, user: User) -> Response:
    start_time = fields.integer("start_time")
    run = store.create_run(
        fields.identifier("experiment_id", required=False) or DEFAULT_EXPERIMENT_ID,
        user_id=run_owner(user, fields.string("user_id")),
        start_time=now_ms() if start_time is None else start_time,
        tags=wire.tags_from(fields),
        run_name=fields.string("run_name") or None,
    )
    return reply({"run": wire.run_json(run)})


@_routes.get("/runs/get", role=Role.VIEWER)
def get_run(fields: Fields, store: TrackingStore) -> Response:
    return reply({"run": wire.run_json(store.get_run(fields.run_id()))})


@_routes.post("/runs/update", role=Role.EDITOR)
def update_run(fields: Fields, store: TrackingStore) -> Response:
    info = store.update_run_info(
        fields.run_id(),
        status=wire.run_status_from(fields),
        end_time=fields.integer("end_time"),
        run_name=fields.string("run_name") or None,
    )
    return reply({"run_info": wire.run_info_json(info)})


@_routes.post("/runs/delete", role=Role.EDITOR)
def delete_run(fields: Fields, store: TrackingStore) -> Response:
    store.delete_run(fields.run_id())
    return reply()


@_routes.post("/runs/restore", role=Role.EDITOR)
def restore_run(fields: Fields, store: TrackingStore) -> Response:
    store.restore_run(fields.run_id())
    return reply()


@_routes.post("/runs/search", role=Role.VIEWER)
def search_runs(fields: Fields, store: TrackingStore) -> Response:
    page = store.search_runs(
        fields.strings("experiment_ids", allow_ints=True),
        filter_string=fields.string("filter") or None,
        view_type=wire.view_type_from(fields, "run_view_type"),
        max_results=_max_results(fields),
        order_by=fields.strings("order_by"),
        page_token=fields.string("page_token") or None,
    )
    runs = [wire.run_json(r) for r in page.items]
    return reply(_page("runs", runs, page.next_page_token))


@_routes.post("/runs/log-metric", role=Role.EDITOR)
def log_metric(fields: Fields, store: TrackingStore) -> Response:
    store.log_metric(fields.run_id(), wire.metric_from(fields))
    return reply()


@_routes.post("/runs/log-parameter", role=Role.EDITOR)
def log_param(fields: Fields, store: TrackingStore) -> Response:
    param = Param(fields.string("key", required=True), fields.string("value"))
    store.log_param(fields.run_id(), param)
    return reply()


@_routes.post("/runs/set-tag", role=Role.EDITOR)
def set_tag(fields: Fields, store: TrackingStore) -> Response:
    tag = RunTag(fields.string("key", required=True), fields.string("value"))
    store.set_tag(fields.run_id(), tag)
    return reply()


@_routes.post("/runs/delete-tag", role=Role.EDITOR)
def delete_tag(fields: Fields, store: TrackingStore) -> Response:
    store.delete_tag(fields.run_id(), fields.string("key", required=True))
    return reply()


@_routes.post("/runs/log-batch", role=Role.EDITOR)
def log_batch(fields: Fields, store: TrackingStore) -> Response:
    store.log_batch(
        fields.run_id(),
        metrics=wire.metrics_from(fields),
        params=wire.params_from(fields),
        tags=wire.tags_from(fields),
    )
    return reply()


@_routes.post("/runs/log-inputs", role=Role.EDITOR)
def log_inputs(fields: Fields, store: TrackingStore) -> Response:
    models = [
        LoggedModelInput(model_id=m.string("model_id", required=True))
        for m in fields.messages("models")
    ]
    store.log_inputs(fields.run_id(), wire.dataset_inputs_from(fields), models=models)
    return reply()


@_routes.post("/runs/outputs", role=Role.EDITOR)
def log_outputs(fields: Fields, store: TrackingStore) -> Response:
    # MLflow 3's log_model links the logged model it has just created to the run; metrics the
    # fluent API then logs at that step carry the model's id.
    models = [
        LoggedModelOutput(model_id=m.string("model_id", required=True), step=m.integer("step") or 0)
        for m in fields.messages("models")
    ]
    store.log_outputs(fields.run_id(), models)
    return reply()


@_routes.get("/metrics/get-history", role=Role.VIEWER)
def get_metric_history(fields: Fields, store: TrackingStore) -> Response:
    key = fields.string("metric_key", required=True)
    page = store.get_metric_points(
        fields.run_id(),
        key,
        max_results=fields.integer("max_results"),
        page_token=fields.string("page_token") or None,
    )
    return reply(_page("metrics", metric_points_json(key, page.items), page.next_page_token))


@_v3_routes.get("/server-info", role=Role.VIEWER)
def server_info() -> Response:
    # MLflow 3's client asks before every proxied download whether to use multipart
    # transfers, and caches only a 200 answer: without this route every file would cost an
    # extra round trip. Plinth streams through the proxy only, so both are off.
    return reply(
        {
            "workspaces_enabled": False,
            "trace_archival_enabled": False,
            "multipart_uploads_enabled": False,
            "multipart_downloads_enabled": False,
        }
    )


def _max_results(fields: Fields) -> int:
    # Explicit (even 0) values reach the store, which names the allowed range.
    value = fields.integer("max_results")
    return SEARCH_MAX_RESULTS_DEFAULT if value is None else value


def _page(name: str, items: list[dict[str, Any]], token: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {name: items}
    if token:
        body["next_page_token"] = token
    return body


routes = (
    _routes,
    _v3_routes,
)
"""Served by ``RpcRoute`` (see ``plinth.server.mlflow.rpc``)."""
