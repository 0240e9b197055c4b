"""Artifact storage: run outputs, model files and datasets under one local or S3 root."""

from plinth.artifacts.base import ArtifactStore, FileInfo, StoredFile
from plinth.artifacts.fsspec_store import FsspecArtifactStore, artifact_store_from_uri

__all__ = [
    "ArtifactStore",
    "FileInfo",
    "FsspecArtifactStore",
    "StoredFile",
    "artifact_store_from_uri",
]
