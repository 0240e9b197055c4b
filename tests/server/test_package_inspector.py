"""The server's package inspector: which sources it resolves into its artifact store, what it
reads from an ``MLmodel``, and that anything unreadable or outside the store is ``None``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from plinth.artifacts import ArtifactStore, artifact_store_from_uri
from plinth.entities.registry import PackageInfo
from plinth.registry.package_inspector import MAX_MLMODEL_BYTES, ArtifactPackageInspector
from plinth.store.factory import Stores, open_sql_stores
from plinth.store.sql import SqlTrackingStore

SIGNED = {
    "flavors": {"sklearn": {}, "python_function": {}},
    "signature": {"inputs": '[{"name": "x", "type": "double"}]', "outputs": None},
}
SIGNED_INFO = PackageInfo(has_signature=True, flavors=("python_function", "sklearn"))
UNSIGNED_SKLEARN = PackageInfo(has_signature=False, flavors=("sklearn",))


@dataclass(frozen=True, slots=True)
class Setup:
    stores: Stores
    artifacts: ArtifactStore
    inspect: ArtifactPackageInspector
    run_id: str
    """A run whose ``model`` folder holds the ``SIGNED`` package."""
    run_root: str
    """The run's artifact folder, relative to the store root."""


@pytest.fixture
def setup(sqlite_uri: str, tmp_path: Path) -> Iterator[Setup]:
    stores = open_sql_stores(sqlite_uri)
    artifacts = artifact_store_from_uri(str(tmp_path / "artifacts"))
    experiment_id = stores.tracking.create_experiment("exp")
    run_id = stores.tracking.create_run(experiment_id, user_id="u", start_time=1).info.run_id
    run_root = f"{experiment_id}/{run_id}/artifacts"
    artifacts.put_bytes(yaml.safe_dump(SIGNED).encode(), f"{run_root}/model/MLmodel")
    inspect = ArtifactPackageInspector(artifacts, stores.tracking, stores.registry)
    yield Setup(stores, artifacts, inspect, run_id, run_root)
    assert isinstance(stores.tracking, SqlTrackingStore)
    stores.tracking.engine.dispose()


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("runs:/{run_id}/model", id="runs"),
        pytest.param("mlflow-artifacts:/{run_root}/model", id="proxied"),
        pytest.param("mlflow-artifacts://host:5000/{run_root}/model", id="proxied-with-host"),
        pytest.param("{root}/{run_root}/model", id="absolute-path"),
        pytest.param("file://{root}/{run_root}/model/", id="file-uri"),
    ],
)
def test_sources_in_the_artifact_store_are_read(setup: Setup, source: str) -> None:
    uri = source.format(run_id=setup.run_id, run_root=setup.run_root, root=setup.artifacts.root)
    assert setup.inspect(uri) == SIGNED_INFO


def test_registered_and_logged_model_sources_are_followed(setup: Setup) -> None:
    registry = setup.stores.registry
    registry.create_model_version("churn", f"runs:/{setup.run_id}/model")
    assert setup.inspect("models:/churn/1") == SIGNED_INFO
    logged = registry.create_logged_model("0", name="model")
    assert setup.inspect(f"models:/{logged.model_id}") is None  # nothing uploaded there yet


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("runs:/{run_id}/elsewhere", id="no-mlmodel"),
        pytest.param("runs:/{missing}/model", id="unknown-run"),
        pytest.param("models:/nope/1", id="unknown-version"),
        pytest.param("s3://other-bucket/{run_root}/model", id="other-store"),
        pytest.param("{root}/../outside", id="climbs-out"),
        pytest.param("/etc", id="outside-root"),
        pytest.param("mlflow-artifacts:/../../etc", id="proxied-climbs-out"),
        pytest.param("models:/", id="malformed-uri"),
    ],
)
def test_sources_without_a_readable_package_are_none(setup: Setup, source: str) -> None:
    uri = source.format(
        run_id=setup.run_id, run_root=setup.run_root, root=setup.artifacts.root, missing="0" * 32
    )
    assert setup.inspect(uri) is None


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(b"flavors: {sklearn: {}}", UNSIGNED_SKLEARN, id="unsigned"),
        pytest.param(b"signature: {inputs: ''}", PackageInfo(has_signature=False), id="empty-sig"),
        pytest.param(b"flavors: [unclosed", None, id="bad-yaml"),
        pytest.param(b"- a list", None, id="not-a-mapping"),
        pytest.param(b"\xff\xfe\x00", None, id="not-text"),
        pytest.param(b"#" * (MAX_MLMODEL_BYTES + 1), None, id="too-large"),
    ],
)
def test_what_the_mlmodel_says(setup: Setup, content: bytes, expected: PackageInfo | None) -> None:
    setup.artifacts.put_bytes(content, f"{setup.run_root}/other/MLmodel")
    assert setup.inspect(f"runs:/{setup.run_id}/other") == expected
