"""The registry's ``PackageInspector``: reads a model version's ``MLmodel`` through an
artifact store, for the ``signature`` gate (the server's store, or the embedded one).

A version's source is resolved to a path in that store: ``runs:/RUN/path`` through the run's
artifact URI, ``models:/<model_id>`` through the logged model's artifact location,
``models:/NAME/VERSION`` through that version's source, then ``mlflow-artifacts:/path`` or an
absolute location under the store's root. Anything else (another bucket, another server) is
never read: the inspector answers ``None``, as for a missing or malformed ``MLmodel``.
"""

from __future__ import annotations

import os
import posixpath
from typing import Any
from urllib.parse import urlsplit

import yaml

from plinth.artifacts import ArtifactStore
from plinth.entities.model_uris import (
    MODELS_SCHEME,
    RUNS_SCHEME,
    parse_model_uri,
    proxied_artifact_path,
)
from plinth.entities.registry import PackageInfo
from plinth.errors import PlinthError
from plinth.store.base import RegistryStore, TrackingStore

MLMODEL_FILE = "MLmodel"
MAX_MLMODEL_BYTES = 1 << 20
"""An ``MLmodel`` is a few kilobytes; a larger file is not read (it is not a package)."""
MAX_SOURCE_HOPS = 5
"""How many ``runs:/`` and ``models:/`` indirections a source may chain through."""


class ArtifactPackageInspector:
    """Reads ``<source>/MLmodel`` from ``artifacts``.

    Args:
        artifacts: The server's artifact store; nothing outside it is read.
        tracking: Resolves ``runs:/`` sources to their run's artifact location.
        registry: Resolves ``models:/`` sources (logged models and registered versions).
    """

    def __init__(
        self, artifacts: ArtifactStore, tracking: TrackingStore, registry: RegistryStore
    ) -> None:
        self._artifacts = artifacts
        self._tracking = tracking
        self._registry = registry

    def __call__(self, source: str, /) -> PackageInfo | None:
        # Unreadable means "no package" to the gate, which then fails and says so; a
        # promotion request must not fail because its package cannot be read.
        try:
            path = self._store_path(source)
            return None if path is None else self._read(posixpath.join(path, MLMODEL_FILE))
        except (PlinthError, OSError, UnicodeDecodeError, yaml.YAMLError):
            return None

    def _store_path(self, source: str) -> str | None:
        for _ in range(MAX_SOURCE_HOPS):
            scheme = urlsplit(source).scheme
            if scheme == RUNS_SCHEME:
                source = self._run_location(source)
            elif scheme == MODELS_SCHEME:
                source = self._model_location(source)
            else:
                return _under_root(source, self._artifacts.root)
        return None

    def _run_location(self, source: str) -> str:
        run_id, _, path = urlsplit(source).path.strip("/").partition("/")
        base = self._tracking.get_run(run_id).info.artifact_uri.rstrip("/")
        return f"{base}/{path}" if path else base

    def _model_location(self, source: str) -> str:
        uri = parse_model_uri(source)
        assert uri is not None, "called for models:/ URIs only"
        if uri.model_id is not None:
            return self._registry.get_logged_model(uri.model_id).artifact_location
        name = uri.name or ""
        if uri.alias is not None:
            return self._registry.get_model_version_by_alias(name, uri.alias).source
        # Registered sources are pinned to a version (``models:/NAME/3``), never a stage.
        return self._registry.get_model_version(name, uri.suffix or "").source

    def _read(self, path: str) -> PackageInfo | None:
        with self._artifacts.open_read(path) as stream:
            data = stream.read(MAX_MLMODEL_BYTES + 1)
        if len(data) > MAX_MLMODEL_BYTES:
            return None
        return package_info(yaml.safe_load(data))


def package_info(mlmodel: Any) -> PackageInfo | None:
    """What an ``MLmodel`` document says: whether it has an input signature, and its flavors."""
    if not isinstance(mlmodel, dict):
        return None
    signature = mlmodel.get("signature")
    flavors = mlmodel.get("flavors")
    return PackageInfo(
        has_signature=isinstance(signature, dict) and bool(signature.get("inputs")),
        flavors=tuple(sorted(str(f) for f in flavors)) if isinstance(flavors, dict) else (),
    )


def _under_root(location: str, root: str) -> str | None:
    """``location`` relative to the store's ``root``, or ``None`` outside it."""
    proxied = proxied_artifact_path(location)
    if proxied is not None:
        return proxied
    location, root = _absolute(location), _absolute(root).rstrip("/")
    if location != root and not location.startswith(f"{root}/"):
        return None
    return location[len(root) :].strip("/")


def _absolute(uri: str) -> str:
    """Local paths and ``file:`` URIs as normalised absolute paths (``..`` resolved, so a
    path cannot climb out of the root); other URIs unchanged."""
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return os.path.abspath(parts.path)
    if parts.scheme == "":
        return os.path.abspath(uri)
    return uri
