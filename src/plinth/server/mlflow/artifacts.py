"""MLflow's proxied artifact API (``mlflow-artifacts:`` URIs) and run artifact listing.

MLflow's client resolves ``mlflow-artifacts:/<path>`` to
``<server>/api/2.0/mlflow-artifacts/artifacts/<path>`` and PUTs, GETs, lists and DELETEs
there; ``<path>`` is the same relative path in the server's ``ArtifactStore`` (runs write to
``<experiment_id>/<run_id>/artifacts/...``). Bodies stream through in chunks both ways, so
file size is bounded by the store, not by the server's memory.
"""

from __future__ import annotations

import mimetypes
import posixpath
from collections.abc import Iterator
from urllib.parse import quote

import anyio
import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from plinth.artifacts import ArtifactStore, FileInfo, StoredFile
from plinth.artifacts.base import normalize_url_path
from plinth.entities import Role, model_uris
from plinth.errors import InvalidArgumentError, NotSupportedError
from plinth.server.body_pipe import piped_body
from plinth.server.mlflow import wire
from plinth.server.mlflow.rpc import RpcRoutes
from plinth.server.mlflow.wire import Fields, reply
from plinth.store.base import AuthStore, TrackingStore

_proxy = RpcRoutes("/api/2.0/mlflow-artifacts", "/ajax-api/2.0/mlflow-artifacts")
_runs = RpcRoutes("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")


@_proxy.get("/artifacts", role=Role.VIEWER)
def list_artifacts(fields: Fields, store: ArtifactStore) -> Response:
    # Entries are named relative to the listed directory, as MLflow's server names them.
    entries = store.list(normalize_url_path(fields.string("path"), allow_root=True))
    files = [wire.file_info_json(e, posixpath.basename(e.path)) for e in entries]
    return reply({"files": files})


@_proxy.get("/artifacts/{artifact_path:path}", role=Role.VIEWER)
def download_artifact(artifact_path: str, store: ArtifactStore) -> StreamingResponse:
    path = normalize_url_path(artifact_path)
    # iter_bytes opens the file now, so a missing file is a 404 before any header is sent.
    chunks = store.iter_bytes(path)
    # With its length known the body goes out unframed, and clients read it in large
    # blocks instead of parsing chunked encoding (a third of a 10 MB download's time).
    headers = {**_attachment(path), "Content-Length": str(store.size(path))}
    return StreamingResponse(chunks, media_type=_media_type(path), headers=headers)


@_proxy.put("/artifacts/{artifact_path:path}", role=Role.EDITOR)
async def upload_artifact(
    artifact_path: str,
    request: Request,
    store: ArtifactStore,
    auth: AuthStore,
) -> Response:
    path = normalize_url_path(artifact_path)
    # The store's API is blocking, so it runs in a worker thread fed by the event loop as
    # the body arrives; at most the pipe's bound is held in memory, never the whole body.
    async with piped_body(request) as body:
        await anyio.to_thread.run_sync(_store_upload, store, auth, iter(body), path)
    return reply()


# MLflow's client asks for a multipart upload first when MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD
# is set, and falls back to one PUT on exactly MLflow's refusal: 501 with this message. Plinth
# streams a PUT of any size to disk (hashed, fsync'd), so parts would gain nothing locally.
_NO_MULTIPART = "Multipart upload is not supported for the current artifact repository"


@_proxy.post("/mpu/create/{artifact_path:path}", role=Role.EDITOR)
@_proxy.post("/mpu/complete/{artifact_path:path}", role=Role.EDITOR)
@_proxy.post("/mpu/abort/{artifact_path:path}", role=Role.EDITOR)
def multipart_upload(artifact_path: str) -> Response:
    raise NotSupportedError(f"{_NO_MULTIPART}: Plinth's server takes one PUT per file.")


@_proxy.delete("/artifacts/{artifact_path:path}", role=Role.EDITOR)
def delete_artifact(
    artifact_path: str,
    store: ArtifactStore,
    auth: AuthStore,
) -> Response:
    path = normalize_url_path(artifact_path)
    store.delete(path)
    auth.record_audit_event("delete_artifact", "artifact", path)
    return reply()


@_runs.get("/artifacts/list", role=Role.VIEWER)
def list_run_artifacts(
    fields: Fields,
    tracking: TrackingStore,
    store: ArtifactStore,
) -> Response:
    run = tracking.get_run(fields.run_id())
    path = normalize_url_path(fields.string("path"), allow_root=True)
    root = _proxied_root(run.info.artifact_uri, run.info.run_id)
    entries = store.list(posixpath.join(root, path) if path else root)
    files = [wire.file_info_json(e, _under(path, e)) for e in entries]
    return reply({"root_uri": run.info.artifact_uri, "files": files})


def _store_upload(
    store: ArtifactStore, auth: AuthStore, body: Iterator[bytes], path: str
) -> StoredFile:
    stored = store.put_stream(body, path)
    details: dict[str, object] = {"size": stored.size, "sha256": stored.sha256}
    auth.record_audit_event("upload_artifact", "artifact", stored.path, details)
    return stored


def _proxied_root(artifact_uri: str, run_id: str) -> str:
    root = model_uris.proxied_artifact_path(artifact_uri)
    if root is None:
        raise InvalidArgumentError(
            f"Run {run_id} keeps its artifacts at {artifact_uri!r}, outside this server's "
            "artifact store; list them there directly."
        )
    return normalize_url_path(root, allow_root=True)


def _under(directory: str, entry: FileInfo) -> str:
    name = posixpath.basename(entry.path)
    return posixpath.join(directory, name) if directory else name


def _media_type(path: str) -> str:
    return mimetypes.guess_type(path)[0] or "application/octet-stream"


def _attachment(path: str) -> dict[str, str]:
    # Always an attachment, never rendered inline: an uploaded HTML file shown on the
    # server's origin could run script with the viewer's session (MLflow does the same).
    name = posixpath.basename(path)
    fallback = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in name)
    disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"
    return {
        "Content-Disposition": disposition,
        "X-Content-Type-Options": "nosniff",
    }


routes = (
    _proxy,
    _runs,
)
"""Served by ``RpcRoute`` (see ``plinth.server.mlflow.rpc``)."""
