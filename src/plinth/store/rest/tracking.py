"""``TrackingStore`` over a Plinth server's /api/v1 (the SDK's remote transport)."""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from plinth.entities import (
    Comment,
    DatasetInput,
    Experiment,
    LoggedModelInput,
    LoggedModelOutput,
    Metric,
    Page,
    Param,
    Run,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from plinth.entities.validation import validate_experiment_id, validate_list, validate_run_id
from plinth.schemas.common import decode
from plinth.schemas.tracking import (
    CommentCreate,
    ExperimentCreate,
    ExperimentSearch,
    ExperimentUpdate,
    LogBatch,
    LogInputs,
    LogOutputs,
    MetricHistoryQuery,
    RunCreate,
    RunSearch,
    RunUpdate,
    TagValue,
)
from plinth.store.base import SEARCH_MAX_RESULTS_DEFAULT, TrackingStore
from plinth.store.rest.client import RestClient, RetryPolicy, build, path_segment
from plinth.tracking.search_filter import MAX_IN_VALUES, search_arguments

_V1 = "/api/v1"


# Ids are checked here as well as on the server: an empty or slashed id cannot travel as a
# path segment, and must fail as it does embedded rather than reach another route.
def _experiment(experiment_id: str) -> str:
    return f"{_V1}/experiments/{validate_experiment_id(experiment_id)}"


def _run(run_id: str) -> str:
    return f"{_V1}/runs/{validate_run_id(run_id)}"


class RestTrackingStore(TrackingStore):
    """Tracking on a remote server; mutations are attributed to the token's user."""

    def __init__(self, http: httpx.Client, *, retry: RetryPolicy | None = None) -> None:
        self._api = RestClient(http, retry=retry)

    # -- experiments -----------------------------------------------------------------------
    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: Sequence[RunTag] = ()
    ) -> str:
        body = build(
            ExperimentCreate, name=name, artifact_location=artifact_location, tags=list(tags)
        )
        created = self._api.call("POST", f"{_V1}/experiments", body=body)
        return str(created["experiment_id"])

    def get_experiment(self, experiment_id: str) -> Experiment:
        return decode(Experiment, self._api.call("GET", _experiment(experiment_id)))

    def find_experiment_by_name(self, name: str) -> Experiment | None:
        found = self._api.find(f"{_V1}/experiments/by-name", params={"name": name})
        return None if found is None else decode(Experiment, found)

    def search_experiments(
        self,
        *,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        filter_string: str | None = None,
        order_by: Sequence[str] = (),
        page_token: str | None = None,
    ) -> Page[Experiment]:
        query = build(
            ExperimentSearch,
            view_type=ViewType.of(view_type),
            max_results=max_results,
            filter=filter_string,
            order_by=list(search_arguments(None, order_by)[1]),
            page_token=page_token,
        )
        return decode(Page[Experiment], self._api.call("GET", f"{_V1}/experiments", params=query))

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        body = build(ExperimentUpdate, name=new_name)
        self._api.call("PATCH", _experiment(experiment_id), body=body)

    def delete_experiment(self, experiment_id: str) -> None:
        self._api.call("DELETE", _experiment(experiment_id))

    def restore_experiment(self, experiment_id: str) -> None:
        self._api.call("POST", f"{_experiment(experiment_id)}/restore")

    def set_experiment_tag(self, experiment_id: str, tag: RunTag) -> None:
        path = f"{_experiment(experiment_id)}/tags/{path_segment(tag.key)}"
        self._api.call("PUT", path, body=build(TagValue, value=tag.value))

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self._api.call("DELETE", f"{_experiment(experiment_id)}/tags/{path_segment(key)}")

    # -- runs ------------------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        *,
        user_id: str,
        start_time: int,
        tags: Sequence[RunTag] = (),
        run_name: str | None = None,
    ) -> Run:
        body = build(
            RunCreate,
            experiment_id=experiment_id,
            user_id=user_id,
            start_time=start_time,
            tags=list(tags),
            run_name=run_name,
        )
        return decode(Run, self._api.call("POST", f"{_V1}/runs", body=body))

    def get_run(self, run_id: str) -> Run:
        return decode(Run, self._api.call("GET", _run(run_id)))

    def update_run_info(
        self,
        run_id: str,
        *,
        status: RunStatus | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunInfo:
        body = build(RunUpdate, status=status, end_time=end_time, run_name=run_name)
        return decode(RunInfo, self._api.call("PATCH", _run(run_id), body=body))

    def delete_run(self, run_id: str) -> None:
        self._api.call("DELETE", _run(run_id))

    def restore_run(self, run_id: str) -> None:
        self._api.call("POST", f"{_run(run_id)}/restore")

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        body = build(LogBatch, metrics=list(metrics), params=list(params), tags=list(tags))
        self._api.call("POST", f"{_run(run_id)}/log-batch", body=body)

    def delete_tag(self, run_id: str, key: str) -> None:
        self._api.call("DELETE", f"{_run(run_id)}/tags/{path_segment(key)}")

    def get_metric_history(
        self,
        run_id: str,
        key: str,
        *,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> Page[Metric]:
        query = build(MetricHistoryQuery, max_results=max_results, page_token=page_token)
        page = self._api.call("GET", f"{_run(run_id)}/metrics/{path_segment(key)}", params=query)
        return decode(Page[Metric], page)

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        *,
        filter_string: str | None = None,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] = (),
        page_token: str | None = None,
    ) -> Page[Run]:
        query = build(
            RunSearch,
            experiment_id=validate_list("experiment_ids", experiment_ids, limit=MAX_IN_VALUES),
            filter=filter_string,
            view_type=ViewType.of(view_type),
            max_results=max_results,
            order_by=list(search_arguments(None, order_by)[1]),
            page_token=page_token,
        )
        return decode(Page[Run], self._api.call("GET", f"{_V1}/runs", params=query))

    def log_inputs(
        self,
        run_id: str,
        datasets: Sequence[DatasetInput] = (),
        *,
        models: Sequence[LoggedModelInput] = (),
    ) -> None:
        body = build(LogInputs, datasets=list(datasets), models=list(models))
        self._api.call("POST", f"{_run(run_id)}/inputs", body=body)

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        body = build(LogOutputs, models=list(models))
        self._api.call("POST", f"{_run(run_id)}/outputs", body=body)

    def add_comment(self, run_id: str, text: str) -> Comment:
        body = build(CommentCreate, text=text)
        return decode(Comment, self._api.call("POST", f"{_run(run_id)}/comments", body=body))

    def list_comments(self, run_id: str) -> list[Comment]:
        return decode(list[Comment], self._api.call("GET", f"{_run(run_id)}/comments"))
