"""The tracking store contract (see ``store.base`` for the conventions)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Self

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

SEARCH_MAX_RESULTS_DEFAULT = 1000
SEARCH_MAX_RESULTS_LIMIT = 50000

MetricPoint = tuple[float, int, int]
"""One point of a metric's history: ``(value, timestamp, step)``."""


class TrackingStore(ABC):
    """Experiments, runs, params, metrics, tags, data inputs and comments."""

    def with_actor(self, actor: str) -> Self:
        """This store attributing mutations to ``actor``. Remote stores act as their token's
        user, so the default returns the store itself."""
        return self

    # -- experiments -----------------------------------------------------------------------
    @abstractmethod
    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: Sequence[RunTag] = ()
    ) -> str:
        """Create an experiment and return its id.

        Raises:
            InvalidArgumentError: empty or too long name.
            AlreadyExistsError: an experiment (active or deleted) has that name.
        """

    @abstractmethod
    def get_experiment(self, experiment_id: str) -> Experiment:
        """Raises ``NotFoundError`` if no experiment has that id."""

    @abstractmethod
    def find_experiment_by_name(self, name: str) -> Experiment | None:
        """The experiment with that name (active or deleted), or ``None``."""

    @abstractmethod
    def search_experiments(
        self,
        *,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        filter_string: str | None = None,
        order_by: Sequence[str] = (),
        page_token: str | None = None,
    ) -> Page[Experiment]:
        """Experiments matching MLflow's experiment filter grammar (``name``, ``tags.*``,
        ``creation_time``, ``last_update_time``).

        Raises ``InvalidArgumentError`` on a bad filter."""

    @abstractmethod
    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        """Raises ``NotFoundError``, ``AlreadyExistsError`` or ``ConflictError`` (deleted)."""

    @abstractmethod
    def delete_experiment(self, experiment_id: str) -> None:
        """Soft-delete the experiment and its runs. Raises ``NotFoundError``."""

    @abstractmethod
    def restore_experiment(self, experiment_id: str) -> None:
        """Undo ``delete_experiment``. Raises ``NotFoundError``."""

    @abstractmethod
    def set_experiment_tag(self, experiment_id: str, tag: RunTag) -> None:
        """Raises ``NotFoundError`` or ``ConflictError`` (deleted experiment)."""

    @abstractmethod
    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        """Raises ``NotFoundError`` if the experiment or the tag does not exist."""

    def get_experiment_by_name(self, name: str) -> Experiment:
        """Like ``find_experiment_by_name`` but raises ``NotFoundError`` when missing."""
        from plinth.errors import ExperimentNotFoundError

        experiment = self.find_experiment_by_name(name)
        if experiment is None:
            raise ExperimentNotFoundError(f"Experiment with name '{name}' does not exist.")
        return experiment

    # -- runs ------------------------------------------------------------------------------
    @abstractmethod
    def create_run(
        self,
        experiment_id: str,
        *,
        user_id: str,
        start_time: int,
        tags: Sequence[RunTag] = (),
        run_name: str | None = None,
    ) -> Run:
        """Raises ``NotFoundError`` (experiment) or ``ConflictError`` (deleted experiment)."""

    @abstractmethod
    def get_run(self, run_id: str) -> Run:
        """Raises ``NotFoundError`` if no run has that id (deleted runs are returned)."""

    def get_run_info(self, run_id: str) -> RunInfo:
        """The run's info only (artifact URI, status...), for callers that need no data;
        stores that can read it alone override this. Raises like ``get_run``."""
        return self.get_run(run_id).info

    @abstractmethod
    def update_run_info(
        self,
        run_id: str,
        *,
        status: RunStatus | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunInfo:
        """Raises ``NotFoundError`` or ``ConflictError`` (deleted run)."""

    @abstractmethod
    def delete_run(self, run_id: str) -> None:
        """Soft-delete. Raises ``NotFoundError``."""

    @abstractmethod
    def restore_run(self, run_id: str) -> None:
        """Raises ``NotFoundError``."""

    @abstractmethod
    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """Log metrics (appended), params (immutable) and tags (last write wins) at once.
        A metric with a ``model_id`` is also recorded on that logged model.

        Raises:
            NotFoundError: unknown run, or unknown or deleted logged model.
            ConflictError: the run is deleted, or finished and the batch logs metrics or params.
            InvalidArgumentError: a bad key or value, or a param re-logged with another value.
            PayloadTooLargeError: more than MLflow's batch limits.
        """

    @abstractmethod
    def delete_tag(self, run_id: str, key: str) -> None:
        """Raises ``NotFoundError`` if the run or the tag does not exist."""

    @abstractmethod
    def get_metric_history(
        self,
        run_id: str,
        key: str,
        *,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> Page[Metric]:
        """All points of a metric ordered by step then timestamp. Raises ``NotFoundError``."""

    def get_metric_points(
        self,
        run_id: str,
        key: str,
        *,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> Page[MetricPoint]:
        """``get_metric_history`` as ``(value, timestamp, step)`` tuples, for callers that
        serialise long histories and need no ``Metric`` per point (the MLflow API: building
        10,000 of them cost as much as reading them)."""
        page = self.get_metric_history(run_id, key, max_results=max_results, page_token=page_token)
        points = [(m.value, m.timestamp, m.step) for m in page.items]
        return Page(points, page.next_page_token)

    @abstractmethod
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
        """Runs matching MLflow's search grammar, executed in the database.

        Raises ``InvalidArgumentError`` on a malformed filter, order_by or page token.
        """

    @abstractmethod
    def log_inputs(
        self,
        run_id: str,
        datasets: Sequence[DatasetInput] = (),
        *,
        models: Sequence[LoggedModelInput] = (),
    ) -> None:
        """Record data versions and logged models a run consumed; a dataset or model the run
        already has keeps its first record. Raises ``NotFoundError`` (run or logged model) or
        ``ConflictError`` (deleted run)."""

    @abstractmethod
    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        """Record logged models a run produced, each at a step (``log_model`` does this). Each
        model takes the run's points of its step that no model has taken yet (MLflow 3's
        log_model gives them to it): metrics computed before the model describe it too.
        Raises ``NotFoundError`` (run or logged model) or ``ConflictError`` (deleted run)."""

    @abstractmethod
    def add_comment(self, run_id: str, text: str) -> Comment:
        """Comment on a run as the store's actor.

        Raises ``NotFoundError`` (run) or ``InvalidArgumentError`` (empty text)."""

    @abstractmethod
    def list_comments(self, run_id: str) -> list[Comment]:
        """Comments on a run, oldest first. Raises ``NotFoundError``."""

    # -- derived conveniences --------------------------------------------------------------
    def log_metric(self, run_id: str, metric: Metric) -> None:
        self.log_batch(run_id, metrics=[metric])

    def log_param(self, run_id: str, param: Param) -> None:
        self.log_batch(run_id, params=[param])

    def set_tag(self, run_id: str, tag: RunTag) -> None:
        self.log_batch(run_id, tags=[tag])
