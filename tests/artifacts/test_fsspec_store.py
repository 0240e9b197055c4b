"""The artifact store contract, run on a local folder and on moto's S3 (fixture ``store``)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from plinth.artifacts import ArtifactStore, FileInfo, StoredFile, artifact_store_from_uri
from plinth.errors import BackendUnavailableError, InvalidArgumentError, NotFoundError

MiB = 1 << 20


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def generated_chunks(count: int, *, fail_at: int | None = None) -> Iterator[bytes]:
    """``count`` distinct 1 MiB chunks; raises instead of yielding chunk ``fail_at``."""
    for i in range(count):
        if i == fail_at:
            raise RuntimeError("source broke mid-stream")
        yield bytes([i % 251]) * MiB


def read_all(store: ArtifactStore, path: str) -> bytes:
    with store.open_read(path) as f:
        return f.read()


def make_tree(root: Path) -> None:
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "model.pkl").write_bytes(b"model")
    (root / "sub" / "a.txt").write_bytes(b"a")
    (root / "sub" / "deeper" / "b.txt").write_bytes(b"bb")


# --- writing ---------------------------------------------------------------------------


def test_put_bytes_returns_normalised_path_size_and_sha256(store: ArtifactStore) -> None:
    stored = store.put_bytes(b"hello", "1/run/./artifacts//hello.txt")

    assert stored == StoredFile(path="1/run/artifacts/hello.txt", size=5, sha256=sha256(b"hello"))
    assert read_all(store, "1/run/artifacts/hello.txt") == b"hello"


def test_put_stream_reads_a_file_object_in_chunks(store: ArtifactStore) -> None:
    data = os.urandom(2 * MiB + 123)

    stored = store.put_stream(io.BytesIO(data), "blob.bin")

    assert (stored.size, stored.sha256) == (len(data), sha256(data))
    assert read_all(store, "blob.bin") == data


def test_put_stream_multipart_sized_iterator_hashes_every_byte(store: ArtifactStore) -> None:
    # 12 MiB crosses S3's 5 MiB part size twice, so the multipart path is exercised.
    expected = b"".join(generated_chunks(12))

    stored = store.put_stream(generated_chunks(12), "big.bin")

    assert (stored.size, stored.sha256) == (len(expected), sha256(expected))
    assert store.size("big.bin") == len(expected)
    assert b"".join(store.iter_bytes("big.bin")) == expected


def test_put_empty_bytes_stores_an_empty_file(store: ArtifactStore) -> None:
    stored = store.put_bytes(b"", "empty")

    assert stored == StoredFile(path="empty", size=0, sha256=sha256(b""))
    assert store.size("empty") == 0
    assert read_all(store, "empty") == b""


def test_put_replaces_an_existing_file(store: ArtifactStore) -> None:
    store.put_bytes(b"old content", "f.txt")

    store.put_bytes(b"new", "f.txt")

    assert read_all(store, "f.txt") == b"new"


def test_put_file_streams_a_local_file(store: ArtifactStore, tmp_path: Path) -> None:
    local = tmp_path / "local.bin"
    local.write_bytes(b"x" * 3000)

    stored = store.put_file(local, "dir/local.bin")

    assert stored == StoredFile(path="dir/local.bin", size=3000, sha256=sha256(b"x" * 3000))


def test_put_file_of_missing_local_file_raises_not_found(
    store: ArtifactStore, tmp_path: Path
) -> None:
    with pytest.raises(NotFoundError, match=r"missing\.bin"):
        store.put_file(tmp_path / "missing.bin", "x")


def test_put_dir_uploads_the_nested_tree(store: ArtifactStore, tmp_path: Path) -> None:
    make_tree(tmp_path / "src")

    stored = store.put_dir(tmp_path / "src", "1/run/artifacts/model")

    assert [(f.path, f.size, f.sha256) for f in stored] == [
        ("1/run/artifacts/model/model.pkl", 5, sha256(b"model")),
        ("1/run/artifacts/model/sub/a.txt", 1, sha256(b"a")),
        ("1/run/artifacts/model/sub/deeper/b.txt", 2, sha256(b"bb")),
    ]
    assert read_all(store, "1/run/artifacts/model/sub/deeper/b.txt") == b"bb"


def test_put_dir_of_missing_local_dir_raises_not_found(
    store: ArtifactStore, tmp_path: Path
) -> None:
    with pytest.raises(NotFoundError):
        store.put_dir(tmp_path / "nope", "x")


# --- atomicity -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fail_at",
    [
        pytest.param(1, id="small-single-put"),
        pytest.param(12, id="after-two-multipart-parts"),
    ],
)
def test_failed_stream_leaves_neither_final_nor_temp_file(
    store: ArtifactStore, raw_listing: Callable[[ArtifactStore], list[str]], fail_at: int
) -> None:
    store.put_bytes(b"keep", "run/keep.txt")

    with pytest.raises(RuntimeError, match="source broke"):
        store.put_stream(generated_chunks(20, fail_at=fail_at), "run/model.bin")

    assert not store.exists("run/model.bin")
    assert store.list("run") == [FileInfo(path="run/keep.txt", is_dir=False, file_size=4)]
    assert raw_listing(store) == ["run/keep.txt"]


def test_failed_overwrite_keeps_the_previous_file(store: ArtifactStore) -> None:
    store.put_bytes(b"version 1", "model.bin")

    with pytest.raises(RuntimeError):
        store.put_stream(generated_chunks(8, fail_at=6), "model.bin")

    assert read_all(store, "model.bin") == b"version 1"


_MEASURE_PEAK = textwrap.dedent(
    """
    import json, sys, tracemalloc
    from plinth.artifacts import artifact_store_from_uri

    def chunks():
        for i in range(50):
            yield bytes([i % 251]) * (1 << 20)

    store = artifact_store_from_uri(sys.argv[1])
    # Warm up first: the first call builds clients and caches that are not per-upload.
    store.put_bytes(b"warm-up", "warm-up")
    b"".join(store.iter_bytes("warm-up"))
    tracemalloc.start()
    stored = store.put_stream(chunks(), "big.bin")
    write_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    read_size = sum(len(chunk) for chunk in store.iter_bytes("big.bin"))
    read_peak = tracemalloc.get_traced_memory()[1]
    print(json.dumps({"sha256": stored.sha256, "size": stored.size, "read_size": read_size,
                      "write_peak": write_peak, "read_peak": read_peak}))
    """
)


def test_streaming_50_mib_keeps_peak_memory_low(
    store: ArtifactStore, request: pytest.FixtureRequest
) -> None:
    # Measured in a child process: the in-process moto server holds every uploaded byte,
    # and tracemalloc counts all threads. S3 needs a bigger bound: s3fs holds a 5 MiB
    # part (S3's minimum) plus the copy it sends.
    env = dict(os.environ)
    bound = 10 * MiB
    if store.root.startswith("s3://"):
        env["MLFLOW_S3_ENDPOINT_URL"] = request.getfixturevalue("s3_endpoint")
        bound = 20 * MiB
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE_PEAK, store.root],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    measured = json.loads(result.stdout)

    expected = hashlib.sha256()
    for chunk in generated_chunks(50):
        expected.update(chunk)
    assert measured["sha256"] == expected.hexdigest()
    assert measured["size"] == measured["read_size"] == 50 * MiB
    assert measured["write_peak"] < bound
    assert measured["read_peak"] < bound


# --- reading, listing ------------------------------------------------------------------


def test_iter_bytes_yields_chunks_of_the_requested_size(store: ArtifactStore) -> None:
    store.put_bytes(b"0123456789", "digits")

    assert list(store.iter_bytes("digits", chunk_size=4)) == [b"0123", b"4567", b"89"]


def test_iter_bytes_of_missing_file_raises_before_iteration(store: ArtifactStore) -> None:
    with pytest.raises(NotFoundError, match="nope"):
        store.iter_bytes("nope")


@pytest.mark.parametrize("path", ["missing.txt", "dir"])
def test_open_read_of_missing_file_or_directory_raises_not_found(
    store: ArtifactStore, path: str
) -> None:
    store.put_bytes(b"x", "dir/file.txt")

    with pytest.raises(NotFoundError, match=path):
        store.open_read(path)


def test_list_returns_direct_children_relative_to_the_root(store: ArtifactStore) -> None:
    store.put_bytes(b"abc", "1/run/artifacts/metrics.json")
    store.put_bytes(b"model", "1/run/artifacts/model/model.pkl")
    store.put_bytes(b"x", "1/run/artifacts/model/sub/x")

    assert store.list("1/run/artifacts") == [
        FileInfo(path="1/run/artifacts/metrics.json", is_dir=False, file_size=3),
        FileInfo(path="1/run/artifacts/model", is_dir=True, file_size=None),
    ]
    assert store.list("1/run/artifacts/model/") == [
        FileInfo(path="1/run/artifacts/model/model.pkl", is_dir=False, file_size=5),
        FileInfo(path="1/run/artifacts/model/sub", is_dir=True, file_size=None),
    ]
    assert store.list() == [FileInfo(path="1", is_dir=True, file_size=None)]


@pytest.mark.parametrize("path", ["missing", "dir/file.txt"])
def test_list_of_missing_path_or_file_is_empty(store: ArtifactStore, path: str) -> None:
    store.put_bytes(b"x", "dir/file.txt")

    assert store.list(path) == []


def test_list_of_an_empty_store_is_empty(store: ArtifactStore) -> None:
    assert store.list() == []


def test_exists_is_true_for_files_and_directories(store: ArtifactStore) -> None:
    store.put_bytes(b"x", "a/b/c.txt")

    assert store.exists("a/b/c.txt")
    assert store.exists("a/b")
    assert not store.exists("a/b/missing.txt")


@pytest.mark.parametrize("path", ["missing", "dir"])
def test_size_of_missing_file_or_directory_raises_not_found(
    store: ArtifactStore, path: str
) -> None:
    store.put_bytes(b"x", "dir/file.txt")

    with pytest.raises(NotFoundError, match=path):
        store.size(path)


# --- download, delete ------------------------------------------------------------------


def test_download_file_returns_the_local_copy(store: ArtifactStore, tmp_path: Path) -> None:
    store.put_bytes(b"weights", "1/run/artifacts/model/model.pkl")

    local = store.download("1/run/artifacts/model/model.pkl", tmp_path / "out")

    assert local == tmp_path / "out" / "model.pkl"
    assert local.read_bytes() == b"weights"


def test_download_directory_copies_the_tree(store: ArtifactStore, tmp_path: Path) -> None:
    make_tree(tmp_path / "src")
    store.put_dir(tmp_path / "src", "1/run/artifacts/model")

    local = store.download("1/run/artifacts/model", tmp_path / "out")

    assert local == tmp_path / "out" / "model"
    files = sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file())
    assert files == ["model.pkl", "sub/a.txt", "sub/deeper/b.txt"]
    assert (local / "sub" / "deeper" / "b.txt").read_bytes() == b"bb"


def test_download_of_missing_path_raises_not_found(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="nope"):
        store.download("nope", tmp_path)


def test_delete_removes_a_directory_recursively(store: ArtifactStore) -> None:
    store.put_bytes(b"x", "run/artifacts/a/b.txt")
    store.put_bytes(b"y", "run/artifacts/c.txt")
    store.put_bytes(b"z", "other.txt")

    store.delete("run")

    assert not store.exists("run/artifacts/a/b.txt")
    assert store.list() == [FileInfo(path="other.txt", is_dir=False, file_size=1)]


def test_delete_removes_a_single_file(store: ArtifactStore) -> None:
    store.put_bytes(b"x", "dir/a.txt")
    store.put_bytes(b"y", "dir/b.txt")

    store.delete("dir/a.txt")

    assert [info.path for info in store.list("dir")] == ["dir/b.txt"]


def test_delete_of_missing_path_is_not_an_error(store: ArtifactStore) -> None:
    store.delete("never/written")


# --- path validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/etc/passwd", id="absolute"),
        pytest.param("../escape.txt", id="leading-dotdot"),
        pytest.param("a/../../escape.txt", id="inner-dotdot"),
        pytest.param("a/..", id="trailing-dotdot"),
        pytest.param("a\\..\\b", id="backslash"),
        pytest.param("a\0b", id="nul"),
    ],
)
def test_unsafe_paths_are_rejected_by_every_method(
    store: ArtifactStore, tmp_path: Path, path: str
) -> None:
    for call in _every_method(store, tmp_path, path):
        with pytest.raises(InvalidArgumentError) as excinfo:
            call()
        assert repr(path) in str(excinfo.value)


@pytest.mark.parametrize(
    ("path", "named"),
    [
        pytest.param("a/" + "n" * 256, "longer than 255 bytes", id="long-name"),
        pytest.param("é" * 128, "longer than 255 bytes", id="long-name-in-utf8"),
        pytest.param("d/" * 1100 + "x", "the limit is 1024 bytes", id="deep"),
        pytest.param("a/\ud800.txt", "unpaired surrogate", id="lone-surrogate"),
    ],
)
def test_paths_no_store_could_hold_are_rejected_by_every_method(
    store: ArtifactStore, tmp_path: Path, path: str, named: str
) -> None:
    # Refused up front: a file system would fail with "File name too long", or overflow
    # Python's stack creating a thousand nested directories.
    for call in _every_method(store, tmp_path, path):
        with pytest.raises(InvalidArgumentError, match=named):
            call()
    assert store.list("") == []


def test_a_path_at_the_limits_is_stored(store: ArtifactStore) -> None:
    path = "/".join(c * 255 for c in "abc") + "/" + "d" * 200  # 3 x 255 + 200 + 3 bytes

    store.put_bytes(b"x", path)

    assert store.open_read(path).read() == b"x"
    assert [f.path for f in store.list(path.rsplit("/", 1)[0])] == [path]


def _every_method(store: ArtifactStore, tmp_path: Path, path: str) -> list[Callable[[], object]]:
    return [
        lambda: store.put_bytes(b"x", path),
        lambda: store.put_dir(tmp_path, path),
        lambda: store.open_read(path),
        lambda: store.list(path),
        lambda: store.download(path, tmp_path),
        lambda: store.delete(path),
        lambda: store.exists(path),
        lambda: store.size(path),
    ]


@pytest.mark.parametrize("path", ["", ".", "./"])
def test_root_is_not_a_valid_write_or_delete_target(store: ArtifactStore, path: str) -> None:
    store.put_bytes(b"x", "keep.txt")

    with pytest.raises(InvalidArgumentError, match="store root"):
        store.put_bytes(b"x", path)
    with pytest.raises(InvalidArgumentError, match="store root"):
        store.delete(path)

    assert store.exists("keep.txt")


# --- artifact_store_from_uri -----------------------------------------------------------


@pytest.mark.parametrize("as_uri", [False, True], ids=["path", "file-uri"])
def test_from_uri_builds_a_local_store(tmp_path: Path, as_uri: bool) -> None:
    root = tmp_path / "artifacts"

    store = artifact_store_from_uri(root.as_uri() if as_uri else str(root))
    store.put_bytes(b"x", "a/b.txt")

    assert store.root == str(root)
    assert (root / "a" / "b.txt").read_bytes() == b"x"


@pytest.mark.parametrize(
    "uri", ["gs://bucket/x", "hdfs://namenode/x", "s3://", "file://remote-host/x"]
)
def test_from_uri_rejects_unsupported_roots_listing_the_supported(uri: str) -> None:
    with pytest.raises(InvalidArgumentError, match="s3://bucket/prefix"):
        artifact_store_from_uri(uri)


@pytest.mark.s3
@pytest.mark.parametrize("variable", ["MLFLOW_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL"])
def test_from_uri_takes_the_s3_endpoint_from_the_environment(
    s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.delenv("MLFLOW_S3_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv(variable, s3_endpoint)

    store = artifact_store_from_uri(f"s3://plinth-test/env-{variable}")
    store.put_bytes(b"x", "a.txt")

    assert store.size("a.txt") == 1


@pytest.mark.s3
def test_unreachable_s3_endpoint_raises_backend_unavailable() -> None:
    # Port 1 on loopback refuses at once; one attempt keeps the test fast.
    store = artifact_store_from_uri(
        "s3://plinth-test/x",
        storage_options={
            "endpoint_url": "http://127.0.0.1:1",
            "key": "testing",
            "secret": "testing",
            "config_kwargs": {"retries": {"max_attempts": 1}},
        },
    )

    with pytest.raises(BackendUnavailableError, match="unreachable"):
        store.exists("a.txt")


def test_a_name_at_the_length_limit_can_be_written(store: ArtifactStore) -> None:
    name = "n" * 255

    store.put_bytes(b"x", f"dir/{name}")

    assert store.list("dir") == [FileInfo(path=f"dir/{name}", is_dir=False, file_size=1)]


def test_writing_through_a_file_or_over_a_folder_names_the_path(tmp_path: Path) -> None:
    # Local only: object stores keep "a" and "a/b" as unrelated keys.
    store = artifact_store_from_uri(str(tmp_path / "artifacts"))
    store.put_bytes(b"weights", "run/model.pkl")
    store.put_bytes(b"a", "run/plots/a.png")

    for dest in ("run/model.pkl/inner.bin", "run/plots"):
        with pytest.raises(InvalidArgumentError, match=dest):
            store.put_bytes(b"x", dest)

    assert store.open_read("run/model.pkl").read() == b"weights"
    assert store.exists("run/plots/a.png")
