"""Model, run and proxied-artifact URIs, parsed without IO (MLflow's client parses them so).

``models:/m-<id>`` is an MLflow 3 logged model, ``models:/NAME/1`` a version,
``models:/NAME/Production`` a stage, ``models:/NAME/latest`` the newest version and
``models:/NAME@ALIAS`` an alias; ``runs:/RUN/path`` is a path in a run's artifacts;
``mlflow-artifacts:/path`` is a path in the server's artifact store.
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import urlsplit

from plinth.errors import InvalidArgumentError

MODELS_SCHEME = "models"
RUNS_SCHEME = "runs"
PROXIED_ARTIFACTS_SCHEME = "mlflow-artifacts"


class ModelUri(NamedTuple):
    """A parsed ``models:/`` URI: a logged model (``model_id``), or a registered model's
    version, stage, ``latest`` (``suffix``) or alias."""

    model_id: str | None = None
    name: str | None = None
    suffix: str | None = None
    alias: str | None = None


def parse_model_uri(uri: str) -> ModelUri | None:
    """``uri`` parsed as MLflow's client parses ``models:/`` URIs, or ``None`` for any other
    scheme: ``models:/m-…`` is a logged model, ``models:/NAME/1`` a version,
    ``models:/NAME/Production`` a stage, ``models:/NAME/latest``, ``models:/NAME@ALIAS``."""
    parts = urlsplit(uri)
    if parts.scheme != MODELS_SCHEME:
        return None
    if parts.netloc:
        raise InvalidArgumentError(
            f"Model URI {uri!r} names another registry ({parts.netloc!r}); this server only "
            "resolves models:/ URIs of its own registry."
        )
    segments = parts.path.strip("/").split("/")
    if not segments[0] or len(segments) > 2 or any(not s.strip() for s in segments):
        raise InvalidArgumentError(
            f"Invalid model URI {uri!r}: expected models:/<model_id>, models:/<name>/<version "
            "or stage or 'latest'>, or models:/<name>@<alias>."
        )
    if len(segments) == 2:
        return ModelUri(name=segments[0], suffix=segments[1])
    name, at, alias = segments[0].rpartition("@")
    if at:
        if not name or not alias:
            raise InvalidArgumentError(f"Invalid model URI {uri!r}: empty name or alias.")
        return ModelUri(name=name, alias=alias)
    return ModelUri(model_id=segments[0])


def logged_model_id_of(source: str) -> str | None:
    """The logged model behind a ``models:/<model_id>`` source, else ``None``."""
    if urlsplit(source).scheme != MODELS_SCHEME:
        return None
    parsed = parse_model_uri(source)
    return parsed.model_id if parsed else None


def run_id_of(source: str) -> str | None:
    """The run of a ``runs:/<run_id>/<path>`` source, else ``None``."""
    parts = urlsplit(source)
    if parts.scheme != RUNS_SCHEME:
        return None
    run_id = parts.path.strip("/").split("/", 1)[0]
    return run_id or None


def proxied_artifact_path(artifact_uri: str) -> str | None:
    """The artifact-store path behind an ``mlflow-artifacts:`` URI, or ``None`` for other
    schemes: ``mlflow-artifacts:/1/<run>/artifacts`` is ``1/<run>/artifacts`` in the
    server's store (a host in the URI names the server, not a folder)."""
    parts = urlsplit(artifact_uri)
    if parts.scheme != PROXIED_ARTIFACTS_SCHEME:
        return None
    return parts.path.strip("/")
