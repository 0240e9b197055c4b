"""Run artifacts on S3 (moto's server): embedded SDK, and through a server's proxy."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import BUCKET, serve

import plinth
from plinth.config import Settings

pytestmark = pytest.mark.s3


@pytest.fixture
def s3_root(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    return f"s3://{BUCKET}/{tmp_path.name}"


def _log_and_read_back(tmp_path: Path) -> None:
    payload = tmp_path / "weights.bin"
    payload.write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    with plinth.start_run() as run:
        plinth.log_artifact(payload, "model")
    assert [f.path for f in plinth.list_artifacts(run.run_id, "model")] == ["model/weights.bin"]
    out = Path(plinth.download_artifacts(run.run_id, "model/weights.bin", tmp_path / "out"))
    assert out.read_bytes() == payload.read_bytes()


def test_embedded_sdk_stores_artifacts_in_s3(s3_root: str, tmp_path: Path) -> None:
    plinth.set_tracking_uri(settings=Settings(home=tmp_path / "home", artifacts=s3_root))
    _log_and_read_back(tmp_path)


def test_server_proxies_artifacts_to_s3(s3_root: str, tmp_path: Path) -> None:
    with serve(Settings(home=tmp_path / "server", artifacts=s3_root)) as server:
        plinth.set_tracking_uri(
            settings=Settings(home=tmp_path / "client", uri=server.url, token=server.admin_token)
        )
        _log_and_read_back(tmp_path)
