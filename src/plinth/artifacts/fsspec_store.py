"""``ArtifactStore`` over fsspec: one class for a local folder and for S3 (via s3fs)."""

from __future__ import annotations

import contextlib
import functools
import os
import posixpath
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, Concatenate, ParamSpec, TypeVar, cast
from urllib.parse import urlsplit

import fsspec
from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

from plinth.artifacts.base import CHUNK_SIZE, ArtifactStore, FileInfo, StoredFile, normalize_path
from plinth.artifacts.durability import EarlyWriteback
from plinth.artifacts.hashing import StreamSha256
from plinth.errors import BackendUnavailableError, InvalidArgumentError, NotFoundError

S3_PART_SIZE = 5 << 20
"""Write block: S3's smallest multipart part. s3fs buffers a whole block before sending
it, and its default (50 MiB) would hold that much of every upload in memory."""

READ_BLOCK_SIZE = CHUNK_SIZE
"""Read-ahead block. s3fs's default (50 MiB) would fetch and hold that much per reader."""

SUPPORTED_ROOTS = "a local path, file:///absolute/path or s3://bucket/prefix"

_P = ParamSpec("_P")
_R = TypeVar("_R")

_TEMP_NAME = re.compile(r"^\..+\.tmp-[0-9a-f]{32}$")
"""Names of half-written local files (see ``_local_atomic``), hidden from listings."""


# Only at call time: bytes read later from open_read() or iter_bytes() can still fail
# with the backend's own errors.
def _translate_backend_errors(
    method: Callable[Concatenate[FsspecArtifactStore, _P], _R],
) -> Callable[Concatenate[FsspecArtifactStore, _P], _R]:
    @functools.wraps(method)
    def wrapper(self: FsspecArtifactStore, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(self, *args, **kwargs)
        except self._unavailable_errors as exc:
            raise BackendUnavailableError(
                f"artifact store {self.root!r} is unreachable: {exc}"
            ) from exc

    return wrapper


class FsspecArtifactStore(ArtifactStore):
    """An artifact store on any fsspec filesystem; tested on the local one and on s3fs.

    Args:
        root: The store's root as the user wrote it (a local path or ``s3://bucket/prefix``).
        fs: The filesystem that ``root`` lives on.
    """

    def __init__(self, root: str, *, fs: AbstractFileSystem) -> None:
        self.root = root
        self._fs = fs
        # fsspec reports names without the protocol ("bucket/prefix/x" on S3), so
        # relative paths are computed against the root in that same form.
        self._base: str = fs._strip_protocol(root).rstrip("/")
        self._is_local = isinstance(fs, LocalFileSystem)
        self._unavailable_errors = () if self._is_local else _remote_unavailable_errors()

    @_translate_backend_errors
    def put_stream(self, stream: BinaryIO | Iterator[bytes], dest: str) -> StoredFile:
        rel = normalize_path(dest, allow_root=False)
        size = 0
        try:
            with StreamSha256() as digest, self._open_atomic(self._full(rel)) as out:
                writeback = EarlyWriteback(out) if self._is_local else None
                for chunk in _chunks(stream):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                    if writeback is not None:
                        writeback.written()
        except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
            # A folder on the path is a file, or the destination is a folder: the
            # caller's path, not the server, is wrong.
            raise InvalidArgumentError(
                f"cannot write artifact {rel!r}: a file and a folder would share a name "
                "on its path; choose another path",
                details={"path": rel},
            ) from exc
        return StoredFile(path=rel, size=size, sha256=digest.hexdigest())

    @_translate_backend_errors
    def open_read(self, path: str) -> BinaryIO:
        full = self._full(normalize_path(path, allow_root=False))
        # s3fs opens a "directory" (a mere key prefix) as an empty file, so ask first.
        if not self._fs.isfile(full):
            raise NotFoundError(f"artifact file {path!r} does not exist", details={"path": path})
        try:
            return cast(BinaryIO, self._fs.open(full, "rb", block_size=READ_BLOCK_SIZE))
        except FileNotFoundError as exc:  # deleted since the check
            raise NotFoundError(f"artifact file {path!r} does not exist") from exc

    @_translate_backend_errors
    def list(self, path: str = "") -> list[FileInfo]:
        full = self._full(normalize_path(path))
        try:
            entries: list[dict[str, Any]] = self._fs.ls(full, detail=True)
        except (FileNotFoundError, NotADirectoryError):
            return []
        infos = []
        for entry in entries:
            name = entry["name"].rstrip("/")
            # ls() of a file returns the file itself; MLflow lists nothing for a file.
            if name == full or _TEMP_NAME.match(posixpath.basename(name)):
                continue
            is_dir = entry["type"] == "directory"
            size = None if is_dir else int(entry["size"])
            infos.append(FileInfo(path=self._rel(name), is_dir=is_dir, file_size=size))
        return sorted(infos, key=lambda info: info.path)

    @_translate_backend_errors
    def download(self, path: str, local_dir: Path) -> Path:
        rel = normalize_path(path)
        full = self._full(rel)
        target = local_dir / posixpath.basename(rel) if rel else local_dir
        if self._fs.isfile(full):
            self._copy_to_local(full, target)
            return target
        if not self._fs.isdir(full):
            raise NotFoundError(f"artifact {path!r} does not exist", details={"path": path})
        target.mkdir(parents=True, exist_ok=True)
        for name in self._fs.find(full):
            if not _TEMP_NAME.match(posixpath.basename(name)):
                self._copy_to_local(name, target / name[len(full) :].lstrip("/"))
        return target

    @_translate_backend_errors
    def delete(self, path: str) -> None:
        full = self._full(normalize_path(path, allow_root=False))
        with contextlib.suppress(FileNotFoundError):
            self._fs.rm(full, recursive=True)

    @_translate_backend_errors
    def exists(self, path: str) -> bool:
        return bool(self._fs.exists(self._full(normalize_path(path))))

    @_translate_backend_errors
    def size(self, path: str) -> int:
        full = self._full(normalize_path(path, allow_root=False))
        try:
            info: dict[str, Any] = self._fs.info(full)
        except FileNotFoundError as exc:
            raise NotFoundError(f"artifact file {path!r} does not exist") from exc
        if info["type"] == "directory":
            raise NotFoundError(f"artifact {path!r} is a directory, not a file")
        return int(info["size"])

    @property
    def filesystem(self) -> AbstractFileSystem:
        """The fsspec filesystem under the store, for readers that scan many files at once
        (pyarrow datasets, DuckDB). Read only: writes go through the store's atomic methods."""
        return self._fs

    def full_path(self, path: str) -> str:
        """The filesystem's own name for the relative ``path`` (``bucket/prefix/path`` on S3).

        Raises:
            InvalidArgumentError: ``path`` is not a safe relative path.
        """
        return self._full(normalize_path(path))

    def _full(self, rel: str) -> str:
        return f"{self._base}/{rel}" if rel else self._base

    def _rel(self, full: str) -> str:
        return full[len(self._base) :].lstrip("/")

    def _open_atomic(self, full: str) -> contextlib.AbstractContextManager[BinaryIO]:
        return _local_atomic(full) if self._is_local else _object_atomic(self._fs, full)

    def _copy_to_local(self, full: str, target: Path) -> None:
        # A download is a copy the store can always give again: atomic (no half file under
        # the final name) but not fsync'd, which would cost more than the copy itself.
        if self._is_local:
            _local_copy(full, str(target))
            return
        with (
            _local_atomic(str(target), durable=False) as dst,
            self._fs.open(full, "rb", block_size=READ_BLOCK_SIZE) as src,
        ):
            shutil.copyfileobj(src, dst, CHUNK_SIZE)


def artifact_store_from_uri(
    root: str, *, storage_options: dict[str, Any] | None = None
) -> ArtifactStore:
    """Build the artifact store for ``root``.

    Args:
        root: A local path (``~`` expanded, made absolute), ``file:///abs/path`` or
            ``s3://bucket/prefix``.
        storage_options: Keyword arguments for ``s3fs.S3FileSystem`` (``endpoint_url``,
            ``key``, ``secret``, ``client_kwargs``...); ignored for local roots. Without an
            ``endpoint_url`` the environment's ``MLFLOW_S3_ENDPOINT_URL`` or
            ``AWS_ENDPOINT_URL`` is used, in that order.

    Returns:
        An ``FsspecArtifactStore`` on the local filesystem or on S3.

    Raises:
        InvalidArgumentError: The scheme is unsupported, the URI names no bucket or host
            is not local, or the root is on S3 and s3fs is not installed.
    """
    parts = urlsplit(root)
    if parts.scheme == "" or (parts.scheme == "file" and parts.netloc in ("", "localhost")):
        local_root = os.path.abspath(os.path.expanduser(parts.path if parts.scheme else root))
        return FsspecArtifactStore(local_root, fs=fsspec.filesystem("file"))
    if parts.scheme == "s3" and parts.netloc:
        return FsspecArtifactStore(root.rstrip("/"), fs=_s3_filesystem(storage_options))
    raise InvalidArgumentError(
        f"unsupported artifact root {root!r}; use {SUPPORTED_ROOTS}", details={"root": root}
    )


def _s3_filesystem(storage_options: dict[str, Any] | None) -> AbstractFileSystem:
    try:
        import s3fs
    except ImportError as exc:
        raise InvalidArgumentError(
            "s3:// artifact roots need s3fs: pip install 'plinth[s3]'"
        ) from exc
    options = dict(storage_options or {})
    # MLflow's variable first, so an MLflow deployment's environment works unchanged;
    # explicit storage options beat both.
    endpoint = os.environ.get("MLFLOW_S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        options.setdefault("endpoint_url", endpoint)
    # The server and SDK processes write to one bucket; a cached listing in one of them
    # would hide files the other wrote.
    options.setdefault("use_listings_cache", False)
    return cast(AbstractFileSystem, s3fs.S3FileSystem(**options))


def _remote_unavailable_errors() -> tuple[type[Exception], ...]:
    # s3fs turns S3's error replies into OSErrors (FileNotFoundError, PermissionError...)
    # but lets botocore's "no answer" errors (connection, timeout, no credentials) through.
    try:
        from botocore.exceptions import BotoCoreError
    except ImportError:
        return ()
    return (BotoCoreError,)


def _chunks(stream: BinaryIO | Iterator[bytes]) -> Iterator[bytes]:
    # Test for read() first: a file object is also an iterator, but of lines.
    if hasattr(stream, "read"):
        reader = cast(BinaryIO, stream)
        while chunk := reader.read(CHUNK_SIZE):
            yield chunk
    else:
        yield from stream


def _local_copy(source: str, path: str) -> None:
    """Copy a local file to ``path`` through a temp name (``shutil.copyfile`` uses the
    kernel's zero-copy ``sendfile``)."""
    parent, name = os.path.split(path)
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{name[:200]}.tmp-{uuid.uuid4().hex}")
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _local_atomic(path: str, *, durable: bool = True) -> Iterator[BinaryIO]:
    """Write to a temp file beside ``path`` and rename it over ``path`` on success
    (``durable``: fsync'd before the rename)."""
    parent, name = os.path.split(path)
    os.makedirs(parent, exist_ok=True)
    # Same directory, so the rename never crosses filesystems and stays atomic. The name
    # is cut so a final name near the 255-byte limit still gets a legal temp name.
    tmp = os.path.join(parent, f".{name[:200]}.tmp-{uuid.uuid4().hex}")
    try:
        with open(tmp, "wb") as out:
            yield out
            out.flush()
            # Without fsync a crash soon after the rename can leave the final name
            # pointing at blocks that never reached the disk: an empty or torn file.
            if durable:
                os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _object_atomic(fs: AbstractFileSystem, path: str) -> Iterator[BinaryIO]:
    """Stream straight to the final key of an object store.

    S3 publishes a key only when its PUT or multipart upload completes, so readers never
    see a partial object and a temp key would only add a server-side copy of every file.
    """
    out = fs.open(path, "wb", block_size=S3_PART_SIZE)
    try:
        yield cast(BinaryIO, out)
    except BaseException:
        # Not `with fs.open(...)`: fsspec's __exit__ closes the file, and closing
        # completes the upload, publishing the partial stream under the final key.
        # discard() aborts the multipart upload and drops the buffer; marking the file
        # closed stops __del__ from calling close(), which would flush that buffer.
        out.discard()
        out.closed = True
        raise
    out.close()
