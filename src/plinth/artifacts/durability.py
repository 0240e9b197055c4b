"""Making a write survive a power cut: fsync a file or a directory by path."""

from __future__ import annotations

import os


def fsync_path(path: str | os.PathLike[str]) -> None:
    """fsync what ``path`` names. For a file: its data, before a rename publishes it. For
    a directory: its entries, after a rename or a new file in it (a rename lives in the
    directory, so the file's own fsync does not make it durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
