"""Model URIs, as MLflow spells them: ``models:/NAME/VERSION``, ``models:/NAME/STAGE``,
``models:/NAME/latest`` (or ``@latest``), ``models:/NAME@ALIAS`` and ``runs:/RUN_ID/path``.

Parsing is pure; resolving asks a :class:`~plinth.client.Client` which version (or which
run artifact) a URI names at this moment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from plinth.artifacts.base import normalize_path
from plinth.client import Client
from plinth.entities import model_uris
from plinth.entities.registry import LoggedModel, LoggedModelStatus, ModelVersion, Stage
from plinth.errors import InvalidArgumentError, NotFoundError
from plinth.models.mlmodel import MLMODEL_FILE

MODELS_SCHEME = "models:/"
RUNS_SCHEME = "runs:/"
LATEST = "latest"
LOGGED_MODEL_PREFIX = "m-"
"""MLflow 3 logged-model ids (``models:/m-<hex>``) start so; registered names may not
contain ``/`` or ``@``, so ``models:/m-x`` without either is a logged model."""
_MODEL_FORMS = "models:/NAME/VERSION, models:/NAME/STAGE, models:/NAME/latest or models:/NAME@ALIAS"


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelUri:
    """A parsed ``models:/`` URI: the name plus exactly one of version, stage, alias or latest."""

    name: str
    version: str | None = None
    stage: Stage | None = None
    alias: str | None = None
    latest: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RunsUri:
    """A parsed ``runs:/RUN_ID/path`` URI (``path`` may be empty)."""

    run_id: str
    path: str = ""


def is_models_uri(uri: str) -> bool:
    return uri.startswith(MODELS_SCHEME)


def is_runs_uri(uri: str) -> bool:
    return uri.startswith(RUNS_SCHEME)


def logged_model_id(uri: str) -> str | None:
    """The id in ``models:/m-<id>`` (an MLflow 3 logged model), else ``None``."""
    rest = uri[len(MODELS_SCHEME) :].strip("/") if is_models_uri(uri) else ""
    is_logged = rest.startswith(LOGGED_MODEL_PREFIX) and not set(rest) & {"/", "@"}
    return rest if is_logged else None


def parse_model_uri(uri: str) -> ModelUri:
    """Split a ``models:/`` URI naming a registered model (not a logged model).

    The syntax is ``plinth.entities.model_uris``' (the server's too); this adds what the
    last part means: a version number, ``latest`` or a stage.

    Raises:
        InvalidArgumentError: not one of the forms above (the message lists them).
    """
    try:
        parts = model_uris.parse_model_uri(uri)
    except InvalidArgumentError:
        parts = None
    if parts is None or parts.name is None:
        raise InvalidArgumentError(f"Bad model URI {uri!r}; use {_MODEL_FORMS}.")
    if parts.alias is not None:
        if parts.alias.lower() == LATEST:
            return ModelUri(name=parts.name, latest=True)
        return ModelUri(name=parts.name, alias=parts.alias)
    ref = parts.suffix or ""
    if ref.isdigit():
        return ModelUri(name=parts.name, version=str(int(ref)))
    if ref.lower() == LATEST:
        return ModelUri(name=parts.name, latest=True)
    try:
        return ModelUri(name=parts.name, stage=Stage.parse(ref))
    except ValueError:
        stages = ", ".join(s.value for s in Stage)
        raise InvalidArgumentError(
            f"Bad model URI {uri!r}: {ref!r} is neither a version number, 'latest' nor a "
            f"stage ({stages})."
        ) from None


def parse_runs_uri(uri: str) -> RunsUri:
    """Split ``runs:/RUN_ID[/path]``. Raises ``InvalidArgumentError``."""
    rest = uri[len(RUNS_SCHEME) :].strip("/") if is_runs_uri(uri) else ""
    run_id, _, path = rest.partition("/")
    if not run_id:
        raise InvalidArgumentError(f"Bad run URI {uri!r}; use runs:/RUN_ID/path.")
    # The path stays inside the run: "runs:/A/../B/artifacts/model" would name run B's files
    # while claiming run A as their origin.
    try:
        return RunsUri(run_id=run_id, path=normalize_path(path))
    except InvalidArgumentError as exc:
        raise InvalidArgumentError(f"Bad run URI {uri!r}: {exc}") from None


def resolve_model_version(client: Client, uri: str | ModelUri) -> ModelVersion:
    """The version a ``models:/`` URI names now (an alias or stage moves over time).

    Raises:
        InvalidArgumentError: a malformed URI.
        NotFoundError: no such model, version or alias, or no version in that stage.
    """
    ref = parse_model_uri(uri) if isinstance(uri, str) else uri
    if ref.version is not None:
        return client.get_model_version(ref.name, ref.version)
    if ref.alias is not None:
        return client.get_model_version_by_alias(ref.name, ref.alias)
    stages = [] if ref.stage is None else [ref.stage]
    candidates = client.get_latest_versions(ref.name, stages)
    if not candidates:
        where = f"in stage {ref.stage}" if ref.stage else "at all"
        raise NotFoundError(f"Registered model '{ref.name}' has no version {where}.")
    return max(candidates, key=lambda mv: int(mv.version))


def resolve_source(client: Client, model_uri: str) -> tuple[str, str | None]:
    """Where a model to register lives, and the run it came from: ``(source, run_id)``.

    ``runs:/RUN/path`` becomes the run's artifact location plus ``path`` (what MLflow stores
    as the version's source), keeping the run id, or, when no package is there, the run's
    logged model of that name (MLflow 3 keeps its package with the model);
    ``models:/m-<id>`` (an MLflow 3 logged model) stays the source, with the logged model's
    run, as MLflow 3 registers it;
    ``models:/NAME/...`` takes over the source and run of the version it names; anything
    else (a path, ``s3://``) is used as it is.
    """
    if not isinstance(model_uri, str) or not model_uri:
        raise InvalidArgumentError(
            f"model_uri must be a URI such as runs:/RUN_ID/model, got {model_uri!r}."
        )
    if model_id := logged_model_id(model_uri):
        return model_uri, client.get_logged_model(model_id).source_run_id
    if is_runs_uri(model_uri):
        ref = parse_runs_uri(model_uri)
        location, logged = run_package_location(client, ref)
        if logged is not None:  # as MLflow 3 registers it: from the logged model
            return f"{MODELS_SCHEME}{logged.model_id}", ref.run_id
        return location, ref.run_id
    if is_models_uri(model_uri):
        version = resolve_model_version(client, model_uri)
        return version.source, version.run_id
    return model_uri, None


def run_package_location(client: Client, ref: RunsUri) -> tuple[str, LoggedModel | None]:
    """Where ``runs:/RUN/path`` keeps its package: the run's artifact location plus
    ``path`` when an ``MLmodel`` is there (or ``path`` is empty), else the run's logged model
    named ``path`` if there is one, as MLflow 3 resolves it (it keeps a logged model's
    package with the model, not the run). Returns the location and that logged model.

    Raises:
        NotFoundError: the run does not exist, or holds neither.
    """
    run = client.get_run(ref.run_id)
    base = run.info.artifact_uri.rstrip("/")
    location = f"{base}/{ref.path}" if ref.path else base
    if not ref.path or has_package(client, location):
        return location, None
    found = client.stores.registry.search_logged_models(
        [run.info.experiment_id],
        # A failed upload left no package to load.
        filter_string=(
            f"name = {_quoted(ref.path)} AND source_run_id = {_quoted(ref.run_id)} "
            f"AND status != '{LoggedModelStatus.FAILED.value}'"
        ),
        max_results=1,
    ).items
    if not found:
        raise NotFoundError(
            f"runs:/{ref.run_id}/{ref.path} holds no model: there is no MLmodel at "
            f"{location} and the run logged no model named {ref.path!r}. Log one there "
            "first (plinth.log_model or mlflow.<flavor>.log_model)."
        )
    return found[0].artifact_location, found[0]


def has_package(client: Client, location: str) -> bool:
    """Whether an ``MLmodel`` file is at ``location`` (a local path or a store's URI)."""
    local = local_path(location)
    if local is not None:
        return (local / MLMODEL_FILE).is_file()
    store, path = client.artifact_store_for(location)
    return store.exists(f"{path}/{MLMODEL_FILE}" if path else MLMODEL_FILE)


def local_path(location: str) -> Path | None:
    """The local directory a location names, or ``None`` for a remote one."""
    parts = urlsplit(location)
    if parts.scheme == "file" and parts.netloc in ("", "localhost"):
        return Path(parts.path)
    if parts.scheme == "" or (len(parts.scheme) == 1 and os.name == "nt"):
        return Path(location).expanduser().absolute()
    return None


def _quoted(value: str) -> str:
    """A string literal of the search-filter grammar (a doubled quote stands for one)."""
    return "'" + value.replace("'", "''") + "'"
