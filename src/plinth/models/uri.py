"""Where a model URI's package is, as a local directory.

Accepted URIs, resolved through a :class:`~plinth.client.Client` where needed:

- ``runs:/RUN_ID/path``: the run's artifact location plus ``path``;
- ``models:/NAME/VERSION``, ``models:/NAME@ALIAS``, ``models:/NAME/STAGE``,
  ``models:/NAME/latest``: the registered version's ``source``, resolved in turn;
- ``models:/m-<id>``: an MLflow 3 logged model (its ``plinth.model_uri`` tag when Plinth
  logged it, else its artifact location);
- artifact locations (``mlflow-artifacts:/...``, ``s3://...``), ``file://`` URIs and local
  paths.

Packages in a local artifact root are loaded where they are. Remote ones (S3, a Plinth
server) are downloaded once into ``<PLINTH_HOME>/cache/models/<key>``, where the key hashes
the location and the bytes of its ``MLmodel`` (which carries the digests of every other
file), so a changed package is fetched again and an unchanged one never is.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from plinth.artifacts import ArtifactStore
from plinth.client import Client
from plinth.errors import InvalidArgumentError
from plinth.models.mlmodel import MLMODEL_FILE
from plinth.registry.uris import (
    RunsUri,
    is_models_uri,
    is_runs_uri,
    local_path,
    logged_model_id,
    parse_runs_uri,
    resolve_model_version,
    run_package_location,
)

MODEL_URI_TAG = "plinth.model_uri"
"""Tag on a logged model naming the ``runs:/`` URI that holds its package."""
MAX_HOPS = 8
"""Registry sources may name other models; a cycle stops here."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolvedModel:
    """A model URI resolved to a local package directory.

    Attributes:
        path: The directory holding ``MLmodel``.
        location: The artifact location it came from (the path itself for local URIs).
        run_id: The run the URI resolved through (a ``runs:/`` URI or a version's run).
    """

    path: Path
    location: str
    run_id: str | None = None


def resolve_model_uri(
    uri: str,
    *,
    client: Client | Callable[[], Client],
    cache_dir: Path | None = None,
) -> ResolvedModel:
    """Resolve ``uri`` to a local package directory, downloading it if it is remote.

    Args:
        uri: One of the URI forms in the module docstring.
        client: The client for run, registry and artifact look-ups, or a function that
            builds it (called only for URIs that need one).
        cache_dir: Where remote packages are downloaded; defaults to
            ``<PLINTH_HOME>/cache/models``.

    Raises:
        InvalidArgumentError: a malformed URI, or a chain of registry sources that loops.
        NotFoundError: the run, model, version, alias or package does not exist.
    """
    return _Resolver(client, cache_dir).resolve(uri, hops=0, run_id=None)


class _Resolver:
    def __init__(self, client: Client | Callable[[], Client], cache_dir: Path | None) -> None:
        self._source = client
        self._client: Client | None = None
        self._cache_dir = cache_dir

    @property
    def client(self) -> Client:
        if self._client is None:
            source = self._source
            self._client = source if isinstance(source, Client) else source()
        return self._client

    def resolve(self, uri: str, *, hops: int, run_id: str | None) -> ResolvedModel:
        if hops > MAX_HOPS:
            raise InvalidArgumentError(
                f"Model URI {uri!r} is more than {MAX_HOPS} registry hops from a package; "
                "do the model versions' sources name each other in a cycle?"
            )
        if is_runs_uri(uri):
            ref = parse_runs_uri(uri)
            return self._fetch(self._run_location(ref), run_id=run_id or ref.run_id)
        if is_models_uri(uri):
            return self._resolve_model(uri, hops=hops, run_id=run_id)
        return self._fetch(uri, run_id=run_id)

    def _resolve_model(self, uri: str, *, hops: int, run_id: str | None) -> ResolvedModel:
        model_id = logged_model_id(uri)
        if model_id is not None:
            logged = self.client.get_logged_model(model_id)
            source = logged.tags.get(MODEL_URI_TAG) or logged.artifact_location
            return self.resolve(source, hops=hops + 1, run_id=run_id or logged.source_run_id)
        version = resolve_model_version(self.client, uri)
        return self.resolve(version.source, hops=hops + 1, run_id=run_id or version.run_id)

    def _run_location(self, ref: RunsUri) -> str:
        return run_package_location(self.client, ref)[0]

    def _fetch(self, location: str, *, run_id: str | None) -> ResolvedModel:
        local = local_path(location)
        if local is not None:
            return ResolvedModel(path=local, location=location, run_id=run_id)
        store, path = self.client.artifact_store_for(location)
        root = local_path(store.root)
        if root is not None:
            return ResolvedModel(path=root / path, location=location, run_id=run_id)
        cache = self._cache_dir or self.client.settings.home / "cache" / "models"
        return ResolvedModel(
            path=download_package(store, path, cache), location=location, run_id=run_id
        )


def download_package(store: ArtifactStore, path: str, cache_dir: Path) -> Path:
    """The package at ``path`` in ``store``, copied once into ``cache_dir``.

    Raises:
        NotFoundError: there is no ``MLmodel`` at ``path``.
    """
    mlmodel = f"{path}/{MLMODEL_FILE}" if path else MLMODEL_FILE
    with store.open_read(mlmodel) as fh:
        manifest = fh.read()
    key = hashlib.sha256(f"{store.root}\0{path}\0".encode() + manifest).hexdigest()[:32]
    target = cache_dir / key
    if (target / MLMODEL_FILE).is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=cache_dir))
    try:
        downloaded = store.download(path, staging)
        _publish(downloaded, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _publish(downloaded: Path, target: Path) -> None:
    # A rename, so readers never see half a package; losing the race to another process
    # that downloaded the same package is fine, its copy is the same bytes.
    try:
        os.replace(downloaded, target)
    except OSError:
        if not (target / MLMODEL_FILE).is_file():
            raise
