"""The artifact store contract: files under one root, addressed by relative ``/`` paths.

Runs, model versions and datasets keep their bytes here, the metadata stays in the SQL
store. Paths are always relative to the store's ``root`` (``"1/<run_id>/artifacts/model.pkl"``)
so the same rows work whether the root is a local folder or an S3 prefix.
"""

from __future__ import annotations

import builtins
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote

from plinth.entities.validation import UNPAIRED_SURROGATE
from plinth.errors import InvalidArgumentError, NotFoundError

CHUNK_SIZE = 1 << 20
"""Bytes per read or write when streaming, so no file is ever held whole in memory."""
MAX_PATH_BYTES = 1024
"""The longest artifact path, in UTF-8 bytes: S3's longest key, and a depth (at most 512
directories) that local stores create without trouble."""
MAX_NAME_BYTES = 255
"""The longest component of an artifact path: NAME_MAX of Linux and macOS file systems."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FileInfo:
    """One entry of a listing, in MLflow's shape.

    Attributes:
        path: The entry's path relative to the store root, e.g. ``"1/abc/artifacts/model"``.
        is_dir: Whether the entry is a directory (a common prefix on S3).
        file_size: Size in bytes; ``None`` for directories.
    """

    path: str
    is_dir: bool
    file_size: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredFile:
    """A file as written to the store.

    Attributes:
        path: The file's normalised path relative to the store root.
        size: Number of bytes written.
        sha256: Hex SHA-256 of the bytes written, computed while they streamed.
    """

    path: str
    size: int
    sha256: str


class ArtifactStore(ABC):
    """Files under one root, local or remote.

    Every ``path``/``dest`` argument is relative to ``root`` and uses ``/`` separators;
    absolute paths, ``..`` components and backslashes raise ``InvalidArgumentError``.
    Writes are atomic: readers see the old file, or the complete new one, never a part.

    Attributes:
        root: Where the store lives, e.g. ``"/home/u/.plinth/artifacts"`` or
            ``"s3://bucket/prefix"``.
    """

    root: str

    @abstractmethod
    def put_stream(self, stream: BinaryIO | Iterator[bytes], dest: str) -> StoredFile:
        """Write a stream to ``dest`` without holding it whole in memory.

        Args:
            stream: A binary file object (read in 1 MiB chunks) or an iterator of chunks.
            dest: Relative destination path; an existing file there is replaced.

        Returns:
            The stored file, with its size and SHA-256.

        Raises:
            InvalidArgumentError: ``dest`` is empty or not a safe relative path.
        """

    @abstractmethod
    def open_read(self, path: str) -> BinaryIO:
        """Open the file at ``path`` for reading; the caller closes it.

        Raises:
            NotFoundError: No file exists at ``path``.
            InvalidArgumentError: ``path`` is not a safe relative path.
        """

    @abstractmethod
    def list(self, path: str = "") -> list[FileInfo]:
        """List the direct children of the directory ``path``.

        Args:
            path: Relative directory path; ``""`` is the root.

        Returns:
            The children sorted by path, each path relative to the store root (so
            ``list("1/abc")`` returns ``"1/abc/artifacts"``). Empty if ``path`` is missing
            or is a file.

        Raises:
            InvalidArgumentError: ``path`` is not a safe relative path.
        """

    @abstractmethod
    def download(self, path: str, local_dir: Path) -> Path:
        """Copy the file or directory tree at ``path`` into ``local_dir``.

        Args:
            path: Relative path of a file or directory; ``""`` copies the whole store.
            local_dir: Local directory to copy into; created if missing.

        Returns:
            ``local_dir / <last component of path>`` (``local_dir`` itself for ``""``).

        Raises:
            NotFoundError: Nothing exists at ``path``.
            InvalidArgumentError: ``path`` is not a safe relative path.
        """

    @abstractmethod
    def delete(self, path: str) -> None:
        """Delete the file or directory tree at ``path``; a missing path is not an error.

        Raises:
            InvalidArgumentError: ``path`` is empty (the whole store) or not safe.
        """

    @abstractmethod
    def exists(self, path: str) -> bool:
        """Return whether a file or directory exists at ``path``.

        Raises:
            InvalidArgumentError: ``path`` is not a safe relative path.
        """

    @abstractmethod
    def size(self, path: str) -> int:
        """Return the size in bytes of the file at ``path``.

        Raises:
            NotFoundError: No file exists at ``path``.
            InvalidArgumentError: ``path`` is not a safe relative path.
        """

    def put_bytes(self, data: bytes, dest: str) -> StoredFile:
        """Write ``data`` to ``dest``; see ``put_stream``."""
        return self.put_stream(iter((data,)), dest)

    def put_file(self, local_path: Path, dest: str) -> StoredFile:
        """Stream the local file ``local_path`` to ``dest``; see ``put_stream``.

        Raises:
            NotFoundError: ``local_path`` is not a readable file.
            InvalidArgumentError: ``dest`` is empty or not a safe relative path.
        """
        try:
            stream = local_path.open("rb")
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise NotFoundError(f"local file {str(local_path)!r} does not exist") from exc
        with stream:
            return self.put_stream(stream, dest)

    # builtins.list: inside the class body `list` is the method above.
    def put_dir(self, local_dir: Path, dest: str) -> builtins.list[StoredFile]:
        """Upload every file under ``local_dir`` to ``dest``, keeping the tree.

        Args:
            local_dir: Local directory; symlinked directories are not followed.
            dest: Relative destination directory; ``""`` is the root.

        Returns:
            The stored files, sorted by path.

        Raises:
            NotFoundError: ``local_dir`` is not a directory.
            InvalidArgumentError: ``dest`` is not a safe relative path.
        """
        dest = normalize_path(dest)
        if not local_dir.is_dir():
            raise NotFoundError(f"local directory {str(local_dir)!r} does not exist")
        stored = []
        for dirpath, dirnames, filenames in os.walk(local_dir):
            dirnames.sort()
            rel_dir = Path(dirpath).relative_to(local_dir).as_posix()
            for name in sorted(filenames):
                parts = [dest, "" if rel_dir == "." else rel_dir, name]
                target = "/".join(part for part in parts if part)
                stored.append(self.put_file(Path(dirpath, name), target))
        return sorted(stored, key=lambda f: f.path)

    def iter_bytes(self, path: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """Yield the file at ``path`` in chunks of at most ``chunk_size`` bytes.

        The file is opened before this returns, so a missing file fails here and not at
        the first ``next()`` (a streaming HTTP response has already sent its headers then).

        Raises:
            NotFoundError: No file exists at ``path``.
            InvalidArgumentError: ``path`` is not safe, or ``chunk_size`` is not positive.
        """
        if chunk_size <= 0:
            raise InvalidArgumentError(f"chunk_size must be positive, got {chunk_size}")
        return _read_chunks(self.open_read(path), chunk_size)


def normalize_path(path: str, *, allow_root: bool = True) -> str:
    """Return ``path`` with empty and ``.`` components dropped, or reject it.

    Args:
        path: A caller's relative artifact path.
        allow_root: Whether ``""`` (the store root) is acceptable.

    Raises:
        InvalidArgumentError: ``path`` is absolute, has a ``..`` component, a backslash
            or a NUL byte, is not valid text, is longer than :data:`MAX_PATH_BYTES` or has
            a component longer than :data:`MAX_NAME_BYTES`, or is the root where
            ``allow_root`` is false.
    """
    # Backslashes are refused rather than converted: on Windows they are separators, so
    # "a\\..\\..\\x" would escape the root there while looking harmless here.
    parts = path.split("/")
    if path.startswith("/") or ".." in parts or "\\" in path or "\0" in path:
        raise InvalidArgumentError(
            f"artifact path {path!r} must be relative, use '/' and contain no '..'",
            details={"path": path},
        )
    normalized = "/".join(part for part in parts if part not in ("", "."))
    _check_path_size(path, normalized)
    if not normalized and not allow_root:
        raise InvalidArgumentError(
            f"artifact path {path!r} names the store root, a file path is required",
            details={"path": path},
        )
    return normalized


def normalize_url_path(path: str, *, allow_root: bool = False) -> str:
    """``path`` from a URL, normalised as :func:`normalize_path` does, after checking its
    fully decoded form too: a ``%2e%2e`` still in it is ``..`` to any layer that decodes
    again (MLflow checks the same way).

    Raises:
        InvalidArgumentError: ``path``, or what it decodes to, is not a safe relative path.
    """
    decoded, previous = path, None
    while decoded != previous:
        previous, decoded = decoded, unquote(decoded)
    normalize_path(decoded, allow_root=allow_root)
    return normalize_path(path, allow_root=allow_root)


def _check_path_size(path: str, normalized: str) -> None:
    """Refuse what no store could hold, before a file system fails on it (with "File name
    too long", or a recursion error creating a thousand nested directories)."""
    try:
        size = len(normalized.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidArgumentError(
            f"artifact path {path!r} is not valid text: {UNPAIRED_SURROGATE}",
            details={"path": path},
        ) from None
    if size > MAX_PATH_BYTES:
        raise InvalidArgumentError(
            f"artifact path {path[:60]!r}... is {size} bytes long; the limit is "
            f"{MAX_PATH_BYTES} bytes (S3's longest key): use a shorter path",
            details={"path": path},
        )
    for part in normalized.split("/"):
        if len(part.encode("utf-8")) > MAX_NAME_BYTES:
            raise InvalidArgumentError(
                f"artifact path component {part[:60]!r}... is longer than {MAX_NAME_BYTES} "
                "bytes, the longest file name file systems accept: shorten it",
                details={"path": path},
            )


def _read_chunks(stream: BinaryIO, chunk_size: int) -> Iterator[bytes]:
    with stream:
        while chunk := stream.read(chunk_size):
            yield chunk
