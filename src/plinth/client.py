"""``Client``: the SDK's typed facade over the stores, embedded or remote.

``Client(settings)`` picks the SQL store for ``sqlite:///``/``postgresql+psycopg://`` URIs and
the REST store for ``http(s)://`` servers; everything above it (the fluent ``plinth.*``
functions, the CLI) goes through it, so local and remote cannot diverge. Method names follow
``mlflow.MlflowClient``.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from plinth.artifacts import ArtifactStore, FileInfo, StoredFile, artifact_store_from_uri
from plinth.artifacts.base import normalize_path
from plinth.config import Settings
from plinth.entities import (
    ApiToken,
    AuditEvent,
    Comment,
    DatasetInput,
    Experiment,
    LoggedModelInput,
    LoggedModelOutput,
    Metric,
    Page,
    Param,
    Role,
    Run,
    RunInfo,
    RunStatus,
    RunTag,
    User,
    ViewType,
    now_ms,
)
from plinth.entities import validation as v
from plinth.entities.registry import (
    DatasetFilter,
    LoggedModel,
    LoggedModelOrder,
    ModelEvent,
    ModelVersion,
    PromotionRequest,
    PromotionStatus,
    RegisteredModel,
    Stage,
)
from plinth.errors import InvalidArgumentError
from plinth.registry.package_inspector import ArtifactPackageInspector
from plinth.store.factory import Stores, open_stores

ARTIFACTS_SCHEME = "mlflow-artifacts:"


class Client:
    """Talks to one Plinth store: a database file, PostgreSQL or a server.

    Args:
        settings: Where to connect; ``Settings.from_env(os.environ)`` when omitted.
        stores: Pre-built stores (tests inject them).
        artifact_store: The artifact store behind ``mlflow-artifacts:`` URIs.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        stores: Stores | None = None,
        artifact_store: ArtifactStore | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env(os.environ)
        self.stores = stores or open_stores(self.settings)
        self._artifacts = artifact_store or _default_artifact_store(self.settings)
        # Embedded, the registry's signature gate reads packages through our artifact store.
        self.stores.registry.attach_package_inspector(
            ArtifactPackageInspector(self._artifacts, self.stores.tracking, self.stores.registry)
        )

    @property
    def artifact_store(self) -> ArtifactStore:
        """The store behind ``mlflow-artifacts:`` URIs (and the serving prediction log)."""
        return self._artifacts

    @property
    def tracking_uri(self) -> str:
        return self.settings.store_uri

    # -- experiments -----------------------------------------------------------------------
    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: Mapping[str, Any] | None = None
    ) -> str:
        return self.stores.tracking.create_experiment(name, artifact_location, _tags(tags))

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self.stores.tracking.get_experiment(experiment_id)

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        return self.stores.tracking.find_experiment_by_name(name)

    def search_experiments(
        self,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        filter_string: str | None = None,
        order_by: Sequence[str] = (),
        page_token: str | None = None,
    ) -> Page[Experiment]:
        return self.stores.tracking.search_experiments(
            view_type=view_type,
            max_results=max_results,
            filter_string=filter_string,
            order_by=order_by,
            page_token=page_token,
        )

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self.stores.tracking.rename_experiment(experiment_id, new_name)

    def delete_experiment(self, experiment_id: str) -> None:
        self.stores.tracking.delete_experiment(experiment_id)

    def restore_experiment(self, experiment_id: str) -> None:
        self.stores.tracking.restore_experiment(experiment_id)

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        self.stores.tracking.set_experiment_tag(experiment_id, RunTag(key, str(value)))

    # -- runs ------------------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        *,
        start_time: int | None = None,
        tags: Mapping[str, Any] | None = None,
        run_name: str | None = None,
        user_id: str | None = None,
    ) -> Run:
        return self.stores.tracking.create_run(
            experiment_id,
            user_id=user_id or _local_user_name(),
            start_time=start_time or now_ms(),
            tags=_tags(tags),
            run_name=run_name,
        )

    def get_run(self, run_id: str) -> Run:
        return self.stores.tracking.get_run(run_id)

    def update_run(
        self, run_id: str, status: RunStatus | str | None = None, name: str | None = None
    ) -> RunInfo:
        return self.stores.tracking.update_run_info(
            run_id, status=parse_run_status(status) if status else None, run_name=name
        )

    def set_terminated(
        self, run_id: str, status: RunStatus | str = RunStatus.FINISHED, end_time: int | None = None
    ) -> RunInfo:
        status = parse_run_status(status)
        if not status.is_terminal:
            raise InvalidArgumentError(
                f"set_terminated ends a run: status must be FINISHED, FAILED or KILLED, got "
                f"{status.value}; use update_run to set another status."
            )
        return self.stores.tracking.update_run_info(
            run_id, status=status, end_time=now_ms() if end_time is None else end_time
        )

    def delete_run(self, run_id: str) -> None:
        self.stores.tracking.delete_run(run_id)

    def restore_run(self, run_id: str) -> None:
        self.stores.tracking.restore_run(run_id)

    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        timestamp: int | None = None,
        step: int | None = None,
        *,
        model_id: str | None = None,
        dataset_name: str | None = None,
        dataset_digest: str | None = None,
    ) -> None:
        """Log one point; with ``model_id`` it is also recorded on that logged model (as
        measured on ``dataset_name``/``dataset_digest`` when given), as in MLflow 3."""
        metric = Metric(
            key=key,
            value=value,
            timestamp=now_ms() if timestamp is None else timestamp,
            step=0 if step is None else step,
            model_id=model_id,
            dataset_name=dataset_name,
            dataset_digest=dataset_digest,
        )
        self.stores.tracking.log_metric(run_id, metric)

    def log_param(self, run_id: str, key: str, value: Any) -> None:
        self.stores.tracking.log_param(run_id, Param(key, _param_value(value)))

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        self.stores.tracking.set_tag(run_id, RunTag(key, str(value)))

    def delete_tag(self, run_id: str, key: str) -> None:
        self.stores.tracking.delete_tag(run_id, key)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """Log metrics, params and tags in one call, atomic within the store's batch limits
        (1,000 metrics, 100 params, 100 tags, 1,000 in total).

        A larger batch is sent as several calls, as MLflow's client does: params first (so
        a changed value is refused before anything else is written), then tags, then
        metrics. Each call is atomic; the whole is not.
        """
        tracking = self.stores.tracking
        metrics, params, tags = _batch_items(metrics, params, tags)
        if (
            len(metrics) <= v.MAX_BATCH_METRICS
            and len(params) <= v.MAX_BATCH_PARAMS
            and len(tags) <= v.MAX_BATCH_TAGS
            and len(metrics) + len(params) + len(tags) <= v.MAX_BATCH_TOTAL
        ):
            tracking.log_batch(run_id, metrics=metrics, params=params, tags=tags)
            return
        # Every item is checked before the first call, so that one bad item refuses the
        # whole batch rather than after the calls before it were written.
        _check_batch_values(metrics, params, tags)
        for i in range(0, len(params), v.MAX_BATCH_PARAMS):
            tracking.log_batch(run_id, params=params[i : i + v.MAX_BATCH_PARAMS])
        for i in range(0, len(tags), v.MAX_BATCH_TAGS):
            tracking.log_batch(run_id, tags=tags[i : i + v.MAX_BATCH_TAGS])
        for i in range(0, len(metrics), v.MAX_BATCH_METRICS):
            tracking.log_batch(run_id, metrics=metrics[i : i + v.MAX_BATCH_METRICS])

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        return list(self.stores.tracking.get_metric_history(run_id, key).items)

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] = (),
        page_token: str | None = None,
    ) -> Page[Run]:
        return self.stores.tracking.search_runs(
            experiment_ids,
            filter_string=filter_string,
            view_type=run_view_type,
            max_results=max_results,
            order_by=order_by,
            page_token=page_token,
        )

    def log_inputs(
        self,
        run_id: str,
        datasets: Sequence[DatasetInput] = (),
        models: Sequence[LoggedModelInput] = (),
    ) -> None:
        """Record data versions and MLflow 3 logged models the run consumed."""
        self.stores.tracking.log_inputs(run_id, datasets, models=models)

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        """Record MLflow 3 logged models the run produced (``log_model`` does this)."""
        self.stores.tracking.log_outputs(run_id, models)

    def add_comment(self, run_id: str, text: str) -> Comment:
        return self.stores.tracking.add_comment(run_id, text)

    def list_comments(self, run_id: str) -> list[Comment]:
        return self.stores.tracking.list_comments(run_id)

    # -- artifacts -------------------------------------------------------------------------
    def log_artifact(
        self, run_id: str, local_path: str | Path, artifact_path: str | None = None
    ) -> StoredFile:
        local = _local_path("log_artifact", local_path)
        if not local.is_file():
            raise InvalidArgumentError(f"log_artifact: {local} is not a file.")
        store, base = self._run_artifacts(run_id)
        return store.put_file(local, _join(base, artifact_path, local.name))

    def log_artifacts(
        self, run_id: str, local_dir: str | Path, artifact_path: str | None = None
    ) -> list[StoredFile]:
        local = _local_path("log_artifacts", local_dir)
        if not local.is_dir():
            raise InvalidArgumentError(f"log_artifacts: {local} is not a directory.")
        store, base = self._run_artifacts(run_id)
        return store.put_dir(local, _join(base, artifact_path))

    def log_text(self, run_id: str, text: str, artifact_file: str) -> StoredFile:
        if not isinstance(text, str):
            raise InvalidArgumentError(f"log_text: text must be a str, got {type(text).__name__}.")
        try:
            data = text.encode()
        except UnicodeEncodeError:
            raise InvalidArgumentError(f"log_text: {v.UNPAIRED_SURROGATE}.") from None
        file = _artifact_file("log_text", artifact_file)
        store, base = self._run_artifacts(run_id)
        return store.put_bytes(data, _join(base, file))

    def log_dict(
        self, run_id: str, dictionary: Mapping[str, Any], artifact_file: str
    ) -> StoredFile:
        file = _artifact_file("log_dict", artifact_file)
        if not isinstance(dictionary, Mapping):
            raise InvalidArgumentError(
                f"log_dict: dictionary must be a mapping, got {type(dictionary).__name__}."
            )
        import yaml

        try:
            plain = _plain(dictionary)
            if file.endswith((".yaml", ".yml")):
                text = yaml.safe_dump(plain, sort_keys=False)
            else:
                text = json.dumps(plain, indent=2, default=str)
        # Keys JSON cannot name (tuples), values YAML has no tag for, a dict inside itself.
        except (TypeError, ValueError, RecursionError, yaml.YAMLError) as exc:
            kind = "YAML" if file.endswith((".yaml", ".yml")) else "JSON"
            raise InvalidArgumentError(
                f"log_dict: the dictionary cannot be written as {kind}: {exc}"
            ) from None
        return self.log_text(run_id, text, artifact_file)

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        store, base = self._run_artifacts(run_id)
        prefix = _join(base, path)
        strip = len(base) + 1 if base else 0
        return [
            FileInfo(path=f.path[strip:], is_dir=f.is_dir, file_size=f.file_size)
            for f in store.list(prefix)
        ]

    def download_artifacts(
        self, run_id: str, path: str = "", dst_path: str | Path | None = None
    ) -> Path:
        if dst_path is not None and (
            not isinstance(dst_path, str | os.PathLike) or "\0" in os.fspath(dst_path)
        ):
            raise InvalidArgumentError(
                f"dst_path must be a local directory path, got {dst_path!r:.60}."
            )
        dst = Path(dst_path) if dst_path else Path(tempfile.mkdtemp(prefix="plinth-artifacts-"))
        if dst.exists() and not dst.is_dir():
            raise InvalidArgumentError(
                f"dst_path {str(dst)!r} is a file; pass the directory to download into."
            )
        store, base = self._run_artifacts(run_id)
        return store.download(_join(base, path), dst)

    def _run_artifacts(self, run_id: str) -> tuple[ArtifactStore, str]:
        return self.artifact_store_for(self.stores.tracking.get_run_info(run_id).artifact_uri)

    def artifact_store_for(self, uri: str) -> tuple[ArtifactStore, str]:
        """The store holding ``uri`` and the path of ``uri`` inside it."""
        if uri.startswith(ARTIFACTS_SCHEME):
            return self._artifacts, uri[len(ARTIFACTS_SCHEME) :].strip("/")
        return artifact_store_from_uri(uri), ""

    # -- model registry --------------------------------------------------------------------
    # Versions may be given as int or str (MLflow accepts both); the stores take str.
    def create_registered_model(
        self,
        name: str,
        tags: Mapping[str, Any] | None = None,
        description: str | None = None,
    ) -> RegisteredModel:
        return self.stores.registry.create_registered_model(
            name, tags=_tags(tags), description=description
        )

    def get_registered_model(self, name: str) -> RegisteredModel:
        return self.stores.registry.get_registered_model(name)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        return self.stores.registry.rename_registered_model(name, new_name)

    def update_registered_model(self, name: str, description: str) -> RegisteredModel:
        return self.stores.registry.update_registered_model(name, description=description)

    def delete_registered_model(self, name: str) -> None:
        self.stores.registry.delete_registered_model(name)

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: Sequence[str] = (),
        page_token: str | None = None,
    ) -> Page[RegisteredModel]:
        return self.stores.registry.search_registered_models(
            filter_string=filter_string,
            max_results=max_results,
            order_by=order_by,
            page_token=page_token,
        )

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        self.stores.registry.set_registered_model_tag(name, RunTag(key, str(value)))

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self.stores.registry.delete_registered_model_tag(name, key)

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Mapping[str, Any] | None = None,
        run_link: str | None = None,
        description: str | None = None,
    ) -> ModelVersion:
        return self.stores.registry.create_model_version(
            name,
            source,
            run_id=run_id,
            tags=_tags(tags),
            run_link=run_link,
            description=description,
        )

    def get_model_version(self, name: str, version: str | int) -> ModelVersion:
        return self.stores.registry.get_model_version(name, str(version))

    def update_model_version(self, name: str, version: str | int, description: str) -> ModelVersion:
        return self.stores.registry.update_model_version(
            name, str(version), description=description
        )

    def delete_model_version(self, name: str, version: str | int) -> None:
        self.stores.registry.delete_model_version(name, str(version))

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = 10_000,
        order_by: Sequence[str] = (),
        page_token: str | None = None,
    ) -> Page[ModelVersion]:
        return self.stores.registry.search_model_versions(
            filter_string=filter_string,
            max_results=max_results,
            order_by=order_by,
            page_token=page_token,
        )

    def set_model_version_tag(self, name: str, version: str | int, key: str, value: Any) -> None:
        self.stores.registry.set_model_version_tag(name, str(version), RunTag(key, str(value)))

    def delete_model_version_tag(self, name: str, version: str | int, key: str) -> None:
        self.stores.registry.delete_model_version_tag(name, str(version), key)

    def get_latest_versions(
        self, name: str, stages: Sequence[Stage | str] = ()
    ) -> list[ModelVersion]:
        return self.stores.registry.get_latest_versions(name, [_stage(s) for s in stages])

    def transition_model_version_stage(
        self,
        name: str,
        version: str | int,
        stage: Stage | str,
        archive_existing_versions: bool = True,
    ) -> ModelVersion:
        """Move a version to a stage; Production only through an approved promotion.

        Unlike MLflow, ``archive_existing_versions`` defaults to True: a new Production
        version retires the old one unless told not to.
        """
        return self.stores.registry.transition_model_version_stage(
            name,
            str(version),
            _stage(stage),
            archive_existing_versions=archive_existing_versions,
        )

    def set_registered_model_alias(self, name: str, alias: str, version: str | int) -> None:
        self.stores.registry.set_registered_model_alias(name, alias, str(version))

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self.stores.registry.delete_registered_model_alias(name, alias)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return self.stores.registry.get_model_version_by_alias(name, alias)

    def get_logged_model(self, model_id: str) -> LoggedModel:
        return self.stores.registry.get_logged_model(model_id)

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        datasets: Sequence[DatasetFilter | Mapping[str, str]] = (),
        max_results: int = 100,
        order_by: Sequence[LoggedModelOrder | Mapping[str, Any]] = (),
        page_token: str | None = None,
    ) -> Page[LoggedModel]:
        """Logged models, as ``MlflowClient.search_logged_models``: ``filter_string`` on
        attributes, ``tags.``, ``params.`` and ``metrics.`` (any point on ``datasets``);
        ``order_by`` items are ``LoggedModelOrder`` or MLflow's dicts
        (``{"field_name": "metrics.acc", "ascending": False}``). Newest first by default."""
        return self.stores.registry.search_logged_models(
            experiment_ids,
            filter_string=filter_string,
            datasets=[_as(DatasetFilter, d) for d in datasets],
            order_by=[_as(LoggedModelOrder, o) for o in order_by],
            max_results=max_results,
            page_token=page_token,
        )

    # -- governed promotion and history ----------------------------------------------------
    def request_promotion(
        self,
        name: str,
        version: str | int,
        *,
        stage: Stage | str | None = None,
        alias: str | None = None,
        comment: str | None = None,
        checks: Sequence[str] = (),
        archive_existing_versions: bool = True,
    ) -> PromotionRequest:
        if isinstance(checks, str) or not isinstance(checks, Sequence):
            raise InvalidArgumentError(
                f"checks must be a list of check names, got {type(checks).__name__}."
            )
        return self.stores.registry.request_promotion(
            name,
            str(version),
            stage=None if stage is None else _stage(stage),
            alias=alias,
            comment=comment,
            checks=checks,
            archive_existing_versions=archive_existing_versions,
        )

    def approve_promotion(
        self, request_id: str, *, comment: str | None = None, override: bool = False
    ) -> PromotionRequest:
        return self.stores.registry.approve_promotion(
            request_id, comment=comment, override=override
        )

    def reject_promotion(self, request_id: str, *, comment: str | None = None) -> PromotionRequest:
        return self.stores.registry.reject_promotion(request_id, comment=comment)

    def get_promotion_request(self, request_id: str) -> PromotionRequest:
        return self.stores.registry.get_promotion_request(request_id)

    def list_promotion_requests(
        self, *, name: str | None = None, status: PromotionStatus | str | None = None
    ) -> list[PromotionRequest]:
        return self.stores.registry.list_promotion_requests(
            name=name,
            status=None if status is None else _member("status", PromotionStatus, status),
        )

    def model_history(self, name: str) -> list[ModelEvent]:
        """Every event of a registered model, oldest first."""
        return self.stores.registry.list_model_events(name)

    # -- users, tokens, audit --------------------------------------------------------------
    def create_user(self, name: str, role: Role | str = Role.EDITOR) -> User:
        return self.stores.auth.create_user(name, _member("role", Role, role))

    def list_users(self) -> list[User]:
        return self.stores.auth.list_users()

    def update_user(
        self, name: str, *, role: Role | str | None = None, active: bool | None = None
    ) -> User:
        if active is not None and not isinstance(active, bool):
            raise InvalidArgumentError(f"active must be True or False, got {active!r}.")
        return self.stores.auth.update_user(
            name, role=_member("role", Role, role) if role is not None else None, active=active
        )

    def create_token(self, user_name: str, description: str | None = None) -> tuple[ApiToken, str]:
        return self.stores.auth.create_token(user_name, description)

    def list_tokens(self, user_name: str | None = None) -> list[ApiToken]:
        return self.stores.auth.list_tokens(user_name)

    def revoke_token(self, token_id: str) -> None:
        self.stores.auth.revoke_token(token_id)

    def list_audit_events(
        self, *, since: int | None = None, user_name: str | None = None, limit: int = 1000
    ) -> list[AuditEvent]:
        return self.stores.auth.list_audit_events(since=since, user_name=user_name, limit=limit)


def _default_artifact_store(settings: Settings) -> ArtifactStore:
    if settings.is_remote:
        import httpx

        from plinth.artifacts.http_store import HttpArtifactStore

        headers = {"Authorization": f"Bearer {settings.token}"} if settings.token else {}
        return HttpArtifactStore(
            httpx.Client(base_url=settings.store_uri, headers=headers, timeout=300)
        )
    return artifact_store_from_uri(settings.artifact_root)


def _artifact_file(method: str, artifact_file: object) -> str:
    """A file path inside the run's artifacts: never empty, which would write the file in
    place of the run's artifact folder."""
    if not isinstance(artifact_file, str):
        raise InvalidArgumentError(
            f"{method}: artifact_file must be a str such as 'report.txt', got "
            f"{type(artifact_file).__name__}."
        )
    return normalize_path(artifact_file, allow_root=False)


def _batch_items(
    metrics: Iterable[Metric] | None, params: Iterable[Param] | None, tags: Iterable[RunTag] | None
) -> tuple[Sequence[Metric], Sequence[Param], Sequence[RunTag]]:
    """The three lists of a batch (``None`` for none), each item with the fields the stores
    read: Plinth's entities, or MLflow's (duck-typed)."""
    return (
        _batch_list("metrics", metrics, Metric, ("key", "value", "timestamp", "step")),
        _batch_list("params", params, Param, ("key", "value")),
        _batch_list("tags", tags, RunTag, ("key", "value")),
    )


def _batch_list(
    field: str, items: Iterable[_Item] | None, kind: type[_Item], fields: tuple[str, ...]
) -> Sequence[_Item]:
    if items is None:
        return ()
    if isinstance(items, str | bytes | Mapping) or not isinstance(items, Iterable):
        raise InvalidArgumentError(
            f"log_batch: {field} must be a list of {kind.__name__}, got {type(items).__name__}."
        )
    if not isinstance(items, Sequence):
        items = list(items)  # a generator: read once, sent in chunks
    for index, item in enumerate(items):
        # The exact type first: a 1,000-point batch pays ~30 us, not 4,000 attribute probes.
        if type(item) is not kind and not all(hasattr(item, f) for f in fields):
            raise InvalidArgumentError(
                f"log_batch: {field}[{index}] must be a {kind.__name__}, got {type(item).__name__}."
            )
    return items


def _check_batch_values(
    metrics: Sequence[Metric], params: Sequence[Param], tags: Sequence[RunTag]
) -> None:
    for m in metrics:
        v.validate_key("Metric", m.key)
        v.validate_metric_value(m.key, m.value)
        v.validate_timestamp(f"Metric '{m.key}' timestamp", m.timestamp)
        v.validate_step(f"Metric '{m.key}' step", m.step)
    v.validate_params(params)
    for t in tags:
        v.validate_key("Tag", t.key)
        v.validate_tag_value(t.key, t.value)
        if t.key == "mlflow.runName":  # the run's name, a column of MAX_KEY_LENGTH
            v.validate_text("run_name", t.value, v.MAX_KEY_LENGTH)


def _join(*parts: str | None) -> str:
    for part in parts:
        if part is not None and not isinstance(part, str):
            raise InvalidArgumentError(
                f"An artifact path must be a str such as 'plots/roc.png', got {part!r:.60}."
            )
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


def _tags(tags: Mapping[str, Any] | None) -> list[RunTag]:
    return [RunTag(str(k), str(value)) for k, value in v.validate_mapping("tags", tags).items()]


def _local_path(method: str, path: object) -> Path:
    if not isinstance(path, str | os.PathLike) or "\0" in os.fspath(path):
        raise InvalidArgumentError(
            f"{method}: the local path must be a str or Path, got {path!r:.60}."
        )
    return Path(path)


def _param_value(value: Any) -> str:
    return str(value)


def _plain(value: Any) -> Any:
    """``value`` with NumPy scalars and arrays (what configs and metrics dicts often hold)
    turned into Python numbers and lists, which JSON and YAML write as such."""
    if isinstance(value, Mapping):
        return {k: _plain(item) for k, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return value.tolist()  # a scalar's tolist() is its Python value
    return value


def parse_run_status(status: RunStatus | str) -> RunStatus:
    """A run status from its name in any case; InvalidArgumentError lists the valid ones."""
    try:
        return RunStatus(str(status).upper())
    except ValueError:
        raise InvalidArgumentError(
            f"Unknown run status {status!r}; use one of " + ", ".join(s.value for s in RunStatus)
        ) from None


_Spec = TypeVar("_Spec", DatasetFilter, LoggedModelOrder)
_Item = TypeVar("_Item")


def _as(kind: type[_Spec], value: _Spec | Mapping[str, Any]) -> _Spec:
    """``value`` as ``kind``; MLflow's habit of passing dicts (``{"field_name": ...}``) works."""
    if isinstance(value, kind):
        return value
    if isinstance(value, Mapping):
        with contextlib.suppress(TypeError):  # unknown or missing fields: the error below
            return kind(**value)
    fields = ", ".join(kind.__dataclass_fields__)
    raise InvalidArgumentError(
        f"{value!r} is not a {kind.__name__}: give one, or a dict with the fields {fields}."
    )


_Member = TypeVar("_Member", Role, PromotionStatus)


def _member(field: str, kind: type[_Member], value: object) -> _Member:
    """``value`` as a member of ``kind`` by its value, in any case, or the caller's error."""
    try:
        return kind(str(value).lower() if kind is Role else str(value).upper())
    except ValueError:
        choices = ", ".join(m.value for m in kind)
        raise InvalidArgumentError(f"Unknown {field} {value!r}; use one of {choices}.") from None


def _stage(stage: Stage | str) -> Stage:
    try:
        return Stage.parse(str(stage))
    except ValueError:
        raise InvalidArgumentError(
            f"Unknown stage {stage!r}; use one of " + ", ".join(s.value for s in Stage)
        ) from None


def _local_user_name() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
