"""The model registry store contract (see ``store.base`` for the conventions)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Self

from plinth.entities import (
    Page,
    Param,
    RunTag,
)
from plinth.entities.registry import (
    DatasetFilter,
    LoggedModel,
    LoggedModelOrder,
    LoggedModelStatus,
    ModelEvent,
    ModelVersion,
    PackageInspector,
    PromotionRequest,
    PromotionStatus,
    RegisteredModel,
    Stage,
)


class RegistryStore(ABC):
    """Registered models, versions, stages and aliases, governed promotion, history and
    MLflow 3 logged models.

    The governance rule lives here, so no path (SDK, CLI, REST, MLflow API) can skip it:
    moving a version into Production, or moving a protected alias, raises
    ``PermissionDeniedError`` unless it is the effect of approving a promotion request.
    Every mutation appends a ``ModelEvent`` to the model's history.
    """

    def with_actor(self, actor: str) -> Self:
        return self

    def attach_package_inspector(self, inspector: PackageInspector) -> None:
        """Give the ``signature`` gate a way to read model packages, unless it has one.

        A remote store does nothing: its server inspects packages through its own
        artifact store."""
        return None

    # -- registered models -----------------------------------------------------------------
    @abstractmethod
    def create_registered_model(
        self, name: str, *, tags: Sequence[RunTag] = (), description: str | None = None
    ) -> RegisteredModel:
        """Raises ``InvalidArgumentError`` (bad name) or ``AlreadyExistsError``."""

    @abstractmethod
    def get_registered_model(self, name: str) -> RegisteredModel:
        """Raises ``NotFoundError``."""

    @abstractmethod
    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """Raises ``NotFoundError``, ``AlreadyExistsError``, or ``PermissionDeniedError``
        while a version is in Production or holds a protected alias (endpoints and
        ``models:/`` URIs name the model)."""

    @abstractmethod
    def update_registered_model(self, name: str, *, description: str) -> RegisteredModel:
        """Raises ``NotFoundError``."""

    @abstractmethod
    def delete_registered_model(self, name: str) -> None:
        """Delete the model and all its versions. Raises ``NotFoundError``, or
        ``PermissionDeniedError`` while a version is in Production or holds a protected alias."""

    @abstractmethod
    def search_registered_models(
        self,
        *,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: Sequence[str] = (),
        page_token: str | None = None,
    ) -> Page[RegisteredModel]:
        """MLflow's registered-model filter grammar (``name``, ``name LIKE``, ``tags.k``)."""

    @abstractmethod
    def set_registered_model_tag(self, name: str, tag: RunTag) -> None:
        """Raises ``NotFoundError``."""

    @abstractmethod
    def delete_registered_model_tag(self, name: str, key: str) -> None:
        """Raises ``NotFoundError``."""

    # -- versions --------------------------------------------------------------------------
    @abstractmethod
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
        """Register ``source`` as the next version (1, 2, 3 ...) of ``name``, creating the
        registered model if needed. Raises ``NotFoundError`` for an unknown ``run_id``."""

    @abstractmethod
    def get_model_version(self, name: str, version: str) -> ModelVersion:
        """Raises ``NotFoundError``."""

    @abstractmethod
    def update_model_version(self, name: str, version: str, *, description: str) -> ModelVersion:
        """Raises ``NotFoundError``."""

    @abstractmethod
    def delete_model_version(self, name: str, version: str) -> None:
        """Raises ``NotFoundError``, or ``PermissionDeniedError`` for a version in Production
        or holding a protected alias."""

    @abstractmethod
    def search_model_versions(
        self,
        *,
        filter_string: str | None = None,
        max_results: int = 10_000,
        order_by: Sequence[str] = (),
        page_token: str | None = None,
    ) -> Page[ModelVersion]:
        """MLflow's model-version filter grammar (``name``, ``run_id``, ``source_path``,
        ``version_number``, ``tags.k``, ``current_stage``)."""

    @abstractmethod
    def set_model_version_tag(self, name: str, version: str, tag: RunTag) -> None:
        """Raises ``NotFoundError``."""

    @abstractmethod
    def delete_model_version_tag(self, name: str, version: str, key: str) -> None:
        """Raises ``NotFoundError``."""

    @abstractmethod
    def get_latest_versions(self, name: str, stages: Sequence[Stage] = ()) -> list[ModelVersion]:
        """The newest version per stage (all stages when ``stages`` is empty)."""

    # -- stages and aliases ----------------------------------------------------------------
    @abstractmethod
    def transition_model_version_stage(
        self, name: str, version: str, stage: Stage, *, archive_existing_versions: bool = True
    ) -> ModelVersion:
        """Move a version to ``stage``. A promotion to Production archives the previous
        Production version(s) unless ``archive_existing_versions`` is False.

        Raises:
            PermissionDeniedError: ``stage`` is Production, or the version is in
                Production (both ways need an approved promotion request).
            NotFoundError: unknown model or version.
        """

    @abstractmethod
    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        """Point ``alias`` at ``version``. Raises ``PermissionDeniedError`` for a protected
        alias (use a promotion request) and ``NotFoundError``."""

    @abstractmethod
    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        """Raises ``NotFoundError``, or ``PermissionDeniedError`` for a protected alias."""

    @abstractmethod
    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """Raises ``NotFoundError``."""

    # -- governance ------------------------------------------------------------------------
    @abstractmethod
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
        """Open a pending request to move ``version`` to ``stage`` or ``alias`` (exactly one).

        ``checks`` are gate expressions evaluated now and stored with the request:
        ``metrics.auc >= 0.80`` (on the source run), ``beats_production:metrics.auc``,
        ``signature``, ``tag:KEY``. A stage target is Staging or Production, or, for a
        version in Production, None or Archived (leaving Production needs approval too).
        Raises ``InvalidArgumentError`` for a bad target or check, ``NotFoundError`` for
        an unknown version."""

    @abstractmethod
    def approve_promotion(
        self, request_id: str, *, comment: str | None = None, override: bool = False
    ) -> PromotionRequest:
        """Approve a pending request and perform its transition.

        Raises:
            PermissionDeniedError: the actor requested it (four eyes; the embedded user
                ``local`` is exempt), or checks failed without ``override`` and a comment.
            ConflictError: the request is not pending.
            NotFoundError: unknown request.
        """

    @abstractmethod
    def reject_promotion(self, request_id: str, *, comment: str | None = None) -> PromotionRequest:
        """Raises ``ConflictError`` (not pending) or ``NotFoundError``."""

    @abstractmethod
    def get_promotion_request(self, request_id: str) -> PromotionRequest:
        """Raises ``NotFoundError``."""

    @abstractmethod
    def list_promotion_requests(
        self, *, name: str | None = None, status: PromotionStatus | None = None
    ) -> list[PromotionRequest]:
        """Requests newest first, optionally of one model and one status."""

    @abstractmethod
    def list_model_events(self, name: str) -> list[ModelEvent]:
        """The model's history, oldest first. Raises ``NotFoundError``."""

    @abstractmethod
    def record_model_event(
        self,
        name: str,
        version: str | None,
        event_type: str,
        *,
        comment: str | None = None,
        details: dict[str, str] | None = None,
    ) -> None:
        """Append an event written by another layer (a deployment). Raises ``NotFoundError``."""

    # -- MLflow 3 logged models ------------------------------------------------------------
    @abstractmethod
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
        """Raises ``NotFoundError`` for an unknown experiment or run."""

    @abstractmethod
    def get_logged_model(self, model_id: str) -> LoggedModel:
        """Raises ``NotFoundError``."""

    @abstractmethod
    def finalize_logged_model(self, model_id: str, status: LoggedModelStatus) -> LoggedModel:
        """Raises ``NotFoundError``."""

    @abstractmethod
    def set_logged_model_tags(self, model_id: str, tags: Sequence[RunTag]) -> None:
        """Raises ``NotFoundError``."""

    @abstractmethod
    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        """Raises ``NotFoundError``."""

    @abstractmethod
    def log_logged_model_params(self, model_id: str, params: Sequence[Param]) -> None:
        """Raises ``NotFoundError``."""

    @abstractmethod
    def delete_logged_model(self, model_id: str) -> None:
        """Raises ``NotFoundError``."""

    @abstractmethod
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
        """Logged models of these experiments, newest first unless ``order_by`` says
        otherwise; ``datasets`` scopes metric filters (see ``LoggedModelOrder`` for orderings).

        Raises ``InvalidArgumentError`` for a bad filter, dataset or ordering."""
