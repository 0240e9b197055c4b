"""Fixtures: the same store contract on a local folder and on moto's S3 server."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest
from tests.conftest import BUCKET, s3_options

from plinth.artifacts import ArtifactStore, artifact_store_from_uri


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    """An empty artifact store: a folder in ``tmp_path``, or a fresh prefix in the bucket."""
    if request.param == "local":
        return artifact_store_from_uri(str(tmp_path / "artifacts"))
    # Looked up here, not requested by signature, so `-m "not s3"` never starts moto.
    endpoint: str = request.getfixturevalue("s3_endpoint")
    return artifact_store_from_uri(
        f"s3://{BUCKET}/{uuid.uuid4().hex}", storage_options=s3_options(endpoint)
    )


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
