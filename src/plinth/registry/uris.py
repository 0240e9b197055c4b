"""Model URIs, as MLflow spells them: ``models:/NAME/VERSION``, ``models:/NAME/STAGE``,
``models:/NAME/latest`` (or ``@latest``), ``models:/NAME@ALIAS`` and ``runs:/RUN_ID/path``.

Parsing is pure; resolving asks a :class:`~plinth.client.Client` which version (or which
run artifact) a URI names at this moment.
"""

from __future__ import annotations

from dataclasses import dataclass

from plinth.artifacts.base import normalize_path
from plinth.client import Client
from plinth.entities import model_uris
from plinth.entities.registry import ModelVersion, Stage
from plinth.errors import InvalidArgumentError, NotFoundError

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
    as the version's source), keeping the run id; ``models:/m-<id>`` (an MLflow 3 logged
    model) stays the source, with the logged model's run, as MLflow 3 registers it;
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
        base = client.get_run(ref.run_id).info.artifact_uri.rstrip("/")
        return (f"{base}/{ref.path}" if ref.path else base), ref.run_id
    if is_models_uri(model_uri):
        version = resolve_model_version(client, model_uri)
        return version.source, version.run_id
    return model_uri, None
