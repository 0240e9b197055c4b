"""Proxied artifacts (``mlflow-artifacts:``) through the real ``mlflow`` client and raw HTTP."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import httpx
import mlflow
import pytest
from mlflow import MlflowClient

from plinth.store.factory import open_sql_stores

PROXY = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture
def run_id(client: MlflowClient, unique: str) -> str:
    run_id: str = client.create_run(client.create_experiment(f"artifacts-{unique}")).info.run_id
    return run_id


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _write(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def test_log_list_and_download_a_single_file(
    client: MlflowClient, run_id: str, tmp_path: Path
) -> None:
    local = _write(tmp_path / "src", {"notes.txt": b"hello artifacts\n"}) / "notes.txt"

    client.log_artifact(run_id, str(local))

    [info] = client.list_artifacts(run_id)
    assert (info.path, info.is_dir, info.file_size) == ("notes.txt", False, 16)
    got = client.download_artifacts(run_id, "notes.txt", str(tmp_path / "dst"))
    assert Path(got).read_bytes() == b"hello artifacts\n"


def test_nested_directory_round_trips(client: MlflowClient, run_id: str, tmp_path: Path) -> None:
    files = {"top.txt": b"t", "a/d.txt": b"dd", "a/b/c.bin": bytes(range(256))}
    src = _write(tmp_path / "src", files)

    client.log_artifacts(run_id, str(src), artifact_path="bundle")

    assert [(f.path, f.is_dir) for f in client.list_artifacts(run_id)] == [("bundle", True)]
    listed = [(f.path, f.is_dir) for f in client.list_artifacts(run_id, "bundle/a")]
    assert listed == [("bundle/a/b", True), ("bundle/a/d.txt", False)]
    got = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="bundle", dst_path=str(tmp_path / "dst")
    )
    assert _tree(Path(got)) == files


def test_five_megabyte_file_round_trips_byte_for_byte(
    client: MlflowClient, run_id: str, tmp_path: Path
) -> None:
    data = os.urandom(5 * 1024 * 1024 + 123)
    local = _write(tmp_path / "src", {"big.bin": data}) / "big.bin"

    client.log_artifact(run_id, str(local), artifact_path="blobs")

    [info] = client.list_artifacts(run_id, "blobs")
    assert info.file_size == len(data)
    got = client.download_artifacts(run_id, "blobs/big.bin", str(tmp_path / "dst"))
    assert Path(got).read_bytes() == data


def test_fluent_log_artifact_in_an_active_run(mlflow_env: str, unique: str, tmp_path: Path) -> None:
    local = _write(tmp_path, {"model.txt": b"weights"}) / "model.txt"
    mlflow.set_experiment(f"fluent-artifacts-{unique}")

    with mlflow.start_run() as run:
        mlflow.log_artifact(str(local), artifact_path="model")
        mlflow.log_text("some text", "notes/readme.md")

    client = MlflowClient(tracking_uri=mlflow_env)
    assert [f.path for f in client.list_artifacts(run.info.run_id, "model")] == ["model/model.txt"]
    text = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/notes/readme.md")
    assert text == "some text"


def test_run_artifact_list_endpoint_lists_the_proxied_store(
    client: MlflowClient, http: httpx.Client, run_id: str, tmp_path: Path
) -> None:
    src = _write(tmp_path / "src", {"x/y.txt": b"yy", "z.txt": b"z"})
    client.log_artifacts(run_id, str(src))

    root = http.get("/api/2.0/mlflow/artifacts/list", params={"run_id": run_id}).json()
    nested = http.get("/api/2.0/mlflow/artifacts/list", params={"run_id": run_id, "path": "x"})

    assert root["root_uri"] == client.get_run(run_id).info.artifact_uri
    assert root["files"] == [
        {"path": "x", "is_dir": True},
        {"path": "z.txt", "is_dir": False, "file_size": 1},
    ]
    assert nested.json()["files"] == [{"path": "x/y.txt", "is_dir": False, "file_size": 2}]


def test_run_artifact_list_of_a_non_proxied_location_is_400(
    client: MlflowClient, http: httpx.Client, unique: str, tmp_path: Path
) -> None:
    experiment_id = client.create_experiment(
        f"elsewhere-{unique}", artifact_location=(tmp_path / "elsewhere").as_uri()
    )
    run_id = client.create_run(experiment_id).info.run_id

    response = http.get("/api/2.0/mlflow/artifacts/list", params={"run_id": run_id})

    assert response.status_code == 400
    assert "outside this server's artifact store" in response.json()["message"]


def test_proxy_put_get_list_and_delete(http: httpx.Client, store_uri: str, unique: str) -> None:
    path = f"{unique}/run/artifacts/data/report.html"

    put = http.put(f"{PROXY}/{path}", content=b"<b>hi</b>")
    got = http.get(f"{PROXY}/{path}")
    listed = http.get(PROXY, params={"path": f"{unique}/run/artifacts/data"})
    deleted = http.delete(f"{PROXY}/{path}")
    missing = http.get(f"{PROXY}/{path}")

    assert (put.status_code, put.json()) == (200, {})
    assert got.content == b"<b>hi</b>"
    # Served as a download, never rendered on the server's origin.
    assert got.headers["content-disposition"].startswith("attachment;")
    assert got.headers["x-content-type-options"] == "nosniff"
    assert listed.json() == {"files": [{"path": "report.html", "is_dir": False, "file_size": 9}]}
    assert deleted.status_code == 200
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    audit = open_sql_stores(store_uri).auth.list_audit_events(user_name="admin")
    actions = {(e.action, e.object_id) for e in audit}
    assert {("upload_artifact", path), ("delete_artifact", path)} <= actions


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("1/%2e%2e/%2e%2e/etc/passwd", id="dot-dot"),
        pytest.param("1/%252e%252e/%252e%252e/etc/passwd", id="double-encoded"),
        pytest.param("1/a%5c..%5c..%5cx", id="backslash"),
    ],
)
def test_path_traversal_is_400(http: httpx.Client, path: str) -> None:
    for method in ("GET", "PUT", "DELETE"):
        response = http.request(method, f"{PROXY}/{path}", content=b"x")
        assert response.status_code == 400, (method, response.text)
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize(
    "path",
    [pytest.param("1/" + "A" * 300, id="long-name"), pytest.param("d/" * 1100 + "x", id="deep")],
)
def test_a_path_no_file_system_could_hold_is_400(http: httpx.Client, path: str) -> None:
    for method in ("GET", "PUT", "DELETE"):
        response = http.request(method, f"{PROXY}/{path}", content=b"x")
        assert response.status_code == 400, (method, response.text)
        assert "limit" in response.json()["message"] or "longer" in response.json()["message"]
    listed = http.get(PROXY, params={"path": path})
    assert listed.status_code == 400, listed.text


@pytest.mark.parametrize("path", ["../x", "/etc", "a/../../b"])
def test_listing_outside_the_root_is_400(http: httpx.Client, path: str) -> None:
    response = http.get(PROXY, params={"path": path})

    assert response.status_code == 400


def test_viewer_may_download_but_not_upload_or_delete(
    http: httpx.Client, server_url: str, viewer_token: str, unique: str
) -> None:
    path = f"{unique}/r/artifacts/f.txt"
    http.put(f"{PROXY}/{path}", content=b"data")
    headers = {"Authorization": f"Bearer {viewer_token}"}

    with httpx.Client(base_url=server_url, headers=headers) as viewer:
        assert viewer.get(f"{PROXY}/{path}").content == b"data"
        put = viewer.put(f"{PROXY}/{path}", content=b"evil")
        delete = viewer.delete(f"{PROXY}/{path}")

    assert put.status_code == delete.status_code == 403
    assert put.json()["error_code"] == "PERMISSION_DENIED"
    assert http.get(f"{PROXY}/{path}").content == b"data"


def test_proxy_without_token_is_401(server_url: str) -> None:
    response = httpx.get(f"{server_url}{PROXY}", params={"path": ""})

    assert response.status_code == 401


def test_server_info_says_artifacts_stream_through_the_proxy(http: httpx.Client) -> None:
    response = http.get("/api/3.0/mlflow/server-info")

    assert response.status_code == 200
    assert response.json()["multipart_uploads_enabled"] is False
    assert response.json()["multipart_downloads_enabled"] is False


def test_a_streamed_upload_larger_than_the_pipe_round_trips(
    http: httpx.Client, store_uri: str, unique: str
) -> None:
    # Chunked, 20 MiB: more than the server reads ahead of its writer (8 MiB), so the
    # read-ahead bound and the hand-over in order are both exercised.
    blocks = [os.urandom(1 << 20) for _ in range(20)]
    path = f"{unique}/run/artifacts/big.bin"

    put = http.put(f"{PROXY}/{path}", content=iter(blocks), timeout=60)
    got = http.get(f"{PROXY}/{path}", timeout=60)

    assert put.status_code == 200, put.text
    assert got.content == b"".join(blocks)
    audit = open_sql_stores(store_uri).auth.list_audit_events(user_name="admin")
    [upload] = [e for e in audit if (e.action, e.object_id) == ("upload_artifact", path)]
    assert json.loads(upload.details or "") == {
        "size": 20 << 20,
        "sha256": hashlib.sha256(b"".join(blocks)).hexdigest(),
    }


def test_an_upload_through_an_existing_file_is_400_and_keeps_the_file(
    http: httpx.Client, unique: str
) -> None:
    # The store fails on its first write (a file stands where a folder must be created);
    # the server must answer rather than wait for a body nobody reads, and lose nothing.
    first = f"{unique}/run/artifacts/model.pkl"
    assert http.put(f"{PROXY}/{first}", content=b"weights").status_code == 200

    response = http.put(
        f"{PROXY}/{first}/inner.bin", content=iter([os.urandom(1 << 20)] * 12), timeout=60
    )

    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "inner.bin" in response.json()["message"]
    assert http.get(f"{PROXY}/{first}").content == b"weights"


def test_client_with_multipart_uploads_on_falls_back_to_one_put(
    client: MlflowClient, run_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The client asks for a multipart upload first and falls back only on MLflow's own
    # refusal (501 with its message); any other answer fails the upload.
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "true")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", "1")
    source = tmp_path / "parts.bin"
    source.write_bytes(os.urandom(300_000))

    client.log_artifact(run_id, str(source), "mpu")

    got = client.download_artifacts(run_id, "mpu/parts.bin", str(tmp_path / "out"))
    assert Path(got).read_bytes() == source.read_bytes()


def test_multipart_upload_endpoints_answer_501_as_mlflow_does(http: httpx.Client) -> None:
    for step in ("create", "complete", "abort"):
        response = http.post(f"/api/2.0/mlflow-artifacts/mpu/{step}/1/x/file.bin", json={})
        assert response.status_code == 501, response.text
        assert response.json()["error_code"] == "NOT_IMPLEMENTED"
        assert response.json()["message"].startswith(
            "Multipart upload is not supported for the current artifact repository"
        )
