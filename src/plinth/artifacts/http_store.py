"""``ArtifactStore`` over a Plinth (or MLflow) server's proxied artifact API.

The SDK pointed at ``http(s)://`` uses this, so its files travel the same way as the
``mlflow`` client's: ``PUT``/``GET``/``DELETE /api/2.0/mlflow-artifacts/artifacts/<path>``
and ``GET /api/2.0/mlflow-artifacts/artifacts?path=<dir>`` to list. Paths are relative to
the server's artifact root, exactly as in its own ``ArtifactStore``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import posixpath
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast
from urllib.parse import quote

import httpx

from plinth.artifacts.base import CHUNK_SIZE, ArtifactStore, FileInfo, StoredFile, normalize_path
from plinth.errors import BackendUnavailableError, NotFoundError, PlinthError, error_from_code

ARTIFACTS_API = "/api/2.0/mlflow-artifacts/artifacts"


class HttpArtifactStore(ArtifactStore):
    """Artifacts on a server, through its proxied artifact API.

    Args:
        http: A client whose ``base_url`` is the server and which sends its credentials
            (``Authorization: Bearer <token>``); the caller owns and closes it.
    """

    def __init__(self, http: httpx.Client) -> None:
        self._http = http
        self.root = str(http.base_url).rstrip("/") + ARTIFACTS_API

    def put_stream(self, stream: BinaryIO | Iterator[bytes], dest: str) -> StoredFile:
        rel = normalize_path(dest, allow_root=False)
        digest = hashlib.sha256()
        size = 0

        # A generator makes httpx send the body chunked as it is read: never whole in memory.
        def body() -> Iterator[bytes]:
            nonlocal size
            for chunk in _chunks(stream):
                digest.update(chunk)
                size += len(chunk)
                yield chunk

        headers = {"Content-Type": "application/octet-stream"}
        self._request("PUT", _url(rel), content=body(), headers=headers)
        return StoredFile(path=rel, size=size, sha256=digest.hexdigest())

    def open_read(self, path: str) -> BinaryIO:
        rel = normalize_path(path, allow_root=False)
        response = self._send(self._http.build_request("GET", _url(rel)))
        return cast(BinaryIO, io.BufferedReader(_ResponseStream(response), CHUNK_SIZE))

    def list(self, path: str = "") -> list[FileInfo]:
        rel = normalize_path(path)
        response = self._request("GET", ARTIFACTS_API, params={"path": rel})
        infos = []
        for entry in response.json().get("files", []):
            # The server names entries relative to the listed directory; ours are
            # relative to the root. A hostile name must not escape it either.
            name = normalize_path(str(entry["path"]), allow_root=False)
            is_dir = bool(entry.get("is_dir", False))
            size = None if is_dir else int(entry.get("file_size", 0))
            full = posixpath.join(rel, name) if rel else name
            infos.append(FileInfo(path=full, is_dir=is_dir, file_size=size))
        return sorted(infos, key=lambda info: info.path)

    def download(self, path: str, local_dir: Path) -> Path:
        rel = normalize_path(path)
        target = local_dir / posixpath.basename(rel) if rel else local_dir
        entries = self.list(rel)
        if not entries and rel:
            # Not a non-empty directory: a file, or nothing (open_read raises NotFoundError).
            self._download_file(rel, target)
            return target
        target.mkdir(parents=True, exist_ok=True)
        for entry in entries:
            name = posixpath.basename(entry.path)
            if entry.is_dir:
                self.download(entry.path, target)
            else:
                self._download_file(entry.path, target / name)
        return target

    def delete(self, path: str) -> None:
        rel = normalize_path(path, allow_root=False)
        self._request("DELETE", _url(rel))

    def exists(self, path: str) -> bool:
        rel = normalize_path(path)
        return not rel or self._find(rel) is not None

    def size(self, path: str) -> int:
        rel = normalize_path(path, allow_root=False)
        info = self._find(rel)
        if info is None or info.is_dir or info.file_size is None:
            raise NotFoundError(f"artifact file {path!r} does not exist", details={"path": path})
        return info.file_size

    def _find(self, rel: str) -> FileInfo | None:
        # The API has no stat call: list the parent and look for the entry.
        return next((i for i in self.list(posixpath.dirname(rel)) if i.path == rel), None)

    def _download_file(self, rel: str, target: Path) -> None:
        with self.open_read(rel) as src, _atomic_local(target) as dst:
            while chunk := src.read(CHUNK_SIZE):
                dst.write(chunk)

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = self._send(self._http.build_request(method, url, **kwargs))
        try:
            response.read()
        finally:
            response.close()
        return response

    def _send(self, request: httpx.Request) -> httpx.Response:
        """Send with the body streamed back; errors are raised as Plinth errors."""
        try:
            response = self._http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise BackendUnavailableError(
                f"artifact server {self.root!r} did not answer: {exc}"
            ) from exc
        if response.is_success:
            return response
        try:
            response.read()
        finally:
            response.close()
        raise _error_from(response)


class _ResponseStream(io.RawIOBase):
    """A streamed HTTP response body as a raw binary file; closing it closes the response."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self._chunks = response.iter_bytes(CHUNK_SIZE)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
            except httpx.TransportError as exc:
                raise BackendUnavailableError(f"artifact download broke off: {exc}") from exc
        n = min(len(view), len(self._pending))
        view[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        if not self.closed:
            self._response.close()
        super().close()


def _url(rel: str) -> str:
    return f"{ARTIFACTS_API}/{quote(rel)}"


def _error_from(response: httpx.Response) -> PlinthError:
    try:
        body = response.json()
        code, message = str(body["error_code"]), str(body["message"])
    except (ValueError, KeyError, TypeError):
        code = "TEMPORARILY_UNAVAILABLE" if response.status_code >= 500 else "INTERNAL_ERROR"
        message = f"artifact server answered {response.status_code}: {response.text[:200]}"
    return error_from_code(code, message)


def _chunks(stream: BinaryIO | Iterator[bytes]) -> Iterator[bytes]:
    # Test for read() first: a file object is also an iterator, but of lines.
    if hasattr(stream, "read"):
        reader = cast(BinaryIO, stream)
        while chunk := reader.read(CHUNK_SIZE):
            yield chunk
    else:
        yield from stream


@contextlib.contextmanager
def _atomic_local(target: Path) -> Iterator[BinaryIO]:
    """Write beside ``target`` and rename over it on success, so a failed download leaves
    no partial file under the final name."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex}")
    try:
        with tmp.open("wb") as out:
            yield out
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
