"""``HttpArtifactStore``: the SDK's artifact store over a live server's artifact proxy."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from mlflow import MlflowClient

from plinth.artifacts.http_store import HttpArtifactStore
from plinth.errors import (
    BackendUnavailableError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
)


@pytest.fixture
def store(http: httpx.Client) -> HttpArtifactStore:
    return HttpArtifactStore(http)


def test_put_stream_sends_a_generator_and_reports_size_and_digest(
    store: HttpArtifactStore, unique: str
) -> None:
    chunks = [os.urandom(700_000) for _ in range(3)]

    def generate() -> Iterator[bytes]:
        yield from chunks

    stored = store.put_stream(generate(), f"{unique}/./data//blob.bin")

    data = b"".join(chunks)
    assert stored.path == f"{unique}/data/blob.bin"
    assert stored.size == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    with store.open_read(stored.path) as fh:
        assert fh.read() == data
    assert b"".join(store.iter_bytes(stored.path, chunk_size=65536)) == data


def test_put_file_streams_a_local_file_and_download_copies_it_back(
    store: HttpArtifactStore, unique: str, tmp_path: Path
) -> None:
    data = os.urandom(3 * 1024 * 1024 + 5)
    (tmp_path / "model.bin").write_bytes(data)

    store.put_file(tmp_path / "model.bin", f"{unique}/model.bin")
    got = store.download(f"{unique}/model.bin", tmp_path / "out")

    assert got == tmp_path / "out" / "model.bin"
    assert got.read_bytes() == data
    assert store.size(f"{unique}/model.bin") == len(data)


def test_list_exists_size_and_delete_use_root_relative_paths(
    store: HttpArtifactStore, unique: str
) -> None:
    store.put_bytes(b"a", f"{unique}/d/a.txt")
    store.put_bytes(b"bb", f"{unique}/d/sub/b.txt")

    listed = store.list(f"{unique}/d")
    assert [(i.path, i.is_dir, i.file_size) for i in listed] == [
        (f"{unique}/d/a.txt", False, 1),
        (f"{unique}/d/sub", True, None),
    ]
    assert store.exists(f"{unique}/d/sub") and store.exists(f"{unique}/d/a.txt")
    assert store.size(f"{unique}/d/sub/b.txt") == 2
    assert store.exists("")

    store.delete(f"{unique}/d/sub")
    assert not store.exists(f"{unique}/d/sub")
    assert store.list(f"{unique}/missing") == []


def test_download_of_a_directory_copies_the_tree(
    store: HttpArtifactStore, unique: str, tmp_path: Path
) -> None:
    store.put_dir(_tree(tmp_path / "src", {"x.txt": b"x", "a/b/y.txt": b"y"}), f"{unique}/tree")

    got = store.download(f"{unique}/tree", tmp_path / "dst")

    assert got == tmp_path / "dst" / "tree"
    assert (got / "x.txt").read_bytes() == b"x"
    assert (got / "a" / "b" / "y.txt").read_bytes() == b"y"


def test_files_are_shared_with_the_mlflow_client(
    store: HttpArtifactStore, client: MlflowClient, unique: str, tmp_path: Path
) -> None:
    run = client.create_run(client.create_experiment(f"shared-{unique}"))
    root = run.info.artifact_uri.removeprefix("mlflow-artifacts:/")
    store.put_bytes(b"from plinth", f"{root}/plinth.txt")
    (tmp_path / "mlflow.txt").write_bytes(b"from mlflow")
    client.log_artifact(run.info.run_id, str(tmp_path / "mlflow.txt"))

    assert sorted(f.path for f in client.list_artifacts(run.info.run_id)) == [
        "mlflow.txt",
        "plinth.txt",
    ]
    with store.open_read(f"{root}/mlflow.txt") as fh:
        assert fh.read() == b"from mlflow"


def test_missing_files_raise_not_found(store: HttpArtifactStore, unique: str) -> None:
    with pytest.raises(NotFoundError):
        store.open_read(f"{unique}/nope.txt")
    with pytest.raises(NotFoundError):
        store.size(f"{unique}/nope.txt")
    with pytest.raises(NotFoundError):
        store.download(f"{unique}/nope.txt", Path("/nonexistent-never-written"))


@pytest.mark.parametrize("path", ["../x", "/abs", "a/../../b", "a\\b"])
def test_unsafe_paths_are_refused_before_any_request(store: HttpArtifactStore, path: str) -> None:
    with pytest.raises(InvalidArgumentError):
        store.put_bytes(b"x", path)


def test_server_errors_come_back_as_plinth_errors(
    server_url: str, viewer_token: str, unique: str
) -> None:
    headers = {"Authorization": f"Bearer {viewer_token}"}
    with (
        httpx.Client(base_url=server_url) as anonymous,
        httpx.Client(base_url=server_url, headers=headers) as viewer,
    ):
        with pytest.raises(UnauthenticatedError):
            HttpArtifactStore(anonymous).list("")
        with pytest.raises(PermissionDeniedError):
            HttpArtifactStore(viewer).put_bytes(b"x", f"{unique}/x.txt")


def test_unreachable_server_is_backend_unavailable() -> None:
    nowhere = httpx.Client(base_url="http://127.0.0.1:9", timeout=2)
    with nowhere, pytest.raises(BackendUnavailableError):
        HttpArtifactStore(nowhere).list("")


def _tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root
