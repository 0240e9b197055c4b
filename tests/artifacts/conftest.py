"""Fixtures: the same store contract on a local folder and on moto's S3 server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import boto3
import pytest
from tests.conftest import BUCKET

from plinth.artifacts import ArtifactStore


@pytest.fixture
def store(artifact_store: ArtifactStore) -> ArtifactStore:
    """An empty artifact store, local or on S3 (``artifact_store`` in tests/conftest.py)."""
    return artifact_store


@pytest.fixture
def raw_listing(request: pytest.FixtureRequest) -> Callable[[ArtifactStore], list[str]]:
    """List what really lies under a store's root, bypassing the store's own filtering.

    Local: every file on disk, temp files included. S3: every object and every
    unfinished multipart upload (as ``"upload:<key>"``).
    """

    def listing(store: ArtifactStore) -> list[str]:
        if not store.root.startswith("s3://"):
            root = Path(store.root)
            return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
        endpoint: str = request.getfixturevalue("s3_endpoint")
        prefix = store.root.removeprefix(f"s3://{BUCKET}/") + "/"
        client = boto3.client("s3", endpoint_url=endpoint)
        objects = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
        uploads = client.list_multipart_uploads(Bucket=BUCKET, Prefix=prefix).get("Uploads", [])
        return sorted(
            [o["Key"].removeprefix(prefix) for o in objects]
            + [f"upload:{u['Key'].removeprefix(prefix)}" for u in uploads]
        )

    return listing
