"""MLflow's model registry API (models, versions, aliases, tags, stages), driven by the real
``mlflow`` client; promotion into Production and protected aliases stay governed."""

from __future__ import annotations

import json

import httpx
import pytest
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

API = "/api/2.0/mlflow"


@pytest.fixture
def name(unique: str) -> str:
    return f"model-{unique}"


@pytest.fixture
def run_id(client: MlflowClient, unique: str) -> str:
    experiment_id = client.create_experiment(f"registry-{unique}")
    run_id: str = client.create_run(experiment_id).info.run_id
    return run_id


def _version(client: MlflowClient, name: str, run_id: str, path: str = "model") -> ModelVersion:
    _registered(client, name)
    version: ModelVersion = client.create_model_version(
        name, f"runs:/{run_id}/{path}", run_id=run_id
    )
    return version


def _registered(client: MlflowClient, name: str) -> None:
    """Create the registered model unless it exists, as ``mlflow.register_model`` does."""
    if not client.search_registered_models(f"name = '{name}'"):
        client.create_registered_model(name)


def _error_code(err: pytest.ExceptionInfo[MlflowException]) -> str:
    code: str = err.value.error_code
    return code


def test_create_get_rename_update_and_delete_a_registered_model(
    client: MlflowClient, name: str
) -> None:
    created = client.create_registered_model(name, tags={"team": "risk"}, description="churn")

    assert created.name == name
    assert created.description == "churn"
    assert created.tags == {"team": "risk"}
    assert created.creation_timestamp > 0

    client.rename_registered_model(name, f"{name}-v2")
    client.update_registered_model(f"{name}-v2", description="renamed")
    got = client.get_registered_model(f"{name}-v2")
    assert (got.name, got.description, got.tags) == (f"{name}-v2", "renamed", {"team": "risk"})
    with pytest.raises(MlflowException) as err:
        client.get_registered_model(name)
    assert _error_code(err) == "RESOURCE_DOES_NOT_EXIST"

    client.delete_registered_model(f"{name}-v2")
    with pytest.raises(MlflowException) as err:
        client.get_registered_model(f"{name}-v2")
    assert _error_code(err) == "RESOURCE_DOES_NOT_EXIST"


def test_creating_a_registered_model_twice_is_resource_already_exists(
    client: MlflowClient, name: str
) -> None:
    client.create_registered_model(name)

    with pytest.raises(MlflowException) as err:
        client.create_registered_model(name)

    assert _error_code(err) == "RESOURCE_ALREADY_EXISTS"


def test_search_registered_models_filters_and_pages(client: MlflowClient, unique: str) -> None:
    names = [f"search-{unique}-{i}" for i in range(3)]
    for i, model_name in enumerate(names):
        client.create_registered_model(model_name, tags={"parity": "even" if i % 2 == 0 else "odd"})

    found = client.search_registered_models(filter_string=f"name LIKE 'search-{unique}-%'")
    assert sorted(m.name for m in found) == names
    exact = client.search_registered_models(filter_string=f"name = '{names[1]}'")
    assert [m.name for m in exact] == [names[1]]
    even = client.search_registered_models(
        filter_string=f"name LIKE 'search-{unique}-%' AND tags.parity = 'even'"
    )
    assert sorted(m.name for m in even) == [names[0], names[2]]

    first = client.search_registered_models(
        filter_string=f"name LIKE 'search-{unique}-%'", max_results=2, order_by=["name ASC"]
    )
    assert [m.name for m in first] == names[:2]
    assert first.token
    rest = client.search_registered_models(
        filter_string=f"name LIKE 'search-{unique}-%'",
        max_results=2,
        order_by=["name ASC"],
        page_token=first.token,
    )
    assert [m.name for m in rest] == names[2:]
    assert not rest.token


def test_registered_model_tags_are_set_and_deleted(client: MlflowClient, name: str) -> None:
    client.create_registered_model(name)

    client.set_registered_model_tag(name, "owner", "ana")
    client.set_registered_model_tag(name, "doomed", "x")
    client.delete_registered_model_tag(name, "doomed")

    assert client.get_registered_model(name).tags == {"owner": "ana"}


def test_create_model_version_from_a_runs_source(
    client: MlflowClient, name: str, run_id: str
) -> None:
    client.create_registered_model(name)

    first = _version(client, name, run_id)
    second = client.create_model_version(
        name, f"runs:/{run_id}/other", run_id=run_id, tags={"k": "v"}, description="second"
    )

    assert (first.version, second.version) == ("1", "2")
    assert first.source == f"runs:/{run_id}/model"
    assert first.run_id == run_id
    assert first.current_stage == "None"
    assert first.status == "READY"
    assert (second.tags, second.description) == ({"k": "v"}, "second")
    # The download URI of a runs:/ source is the source itself, which the client resolves.
    assert client.get_model_version_download_uri(name, "1") == f"runs:/{run_id}/model"
    latest = client.get_registered_model(name).latest_versions
    assert [(v.version, v.current_stage) for v in latest] == [("2", "None")]


def test_create_model_version_from_a_logged_model_source(
    client: MlflowClient, name: str, run_id: str
) -> None:
    experiment_id = client.get_run(run_id).info.experiment_id
    logged = client.create_logged_model(experiment_id, name="model", source_run_id=run_id)
    client.create_registered_model(name)

    version = client.create_model_version(
        name, f"models:/{logged.model_id}", model_id=logged.model_id
    )

    assert version.version == "1"
    assert version.source == f"models:/{logged.model_id}"
    assert version.run_id == run_id  # the logged model's run
    uri = client.get_model_version_download_uri(name, "1")
    assert uri == logged.artifact_location
    assert uri == f"mlflow-artifacts:/{experiment_id}/models/{logged.model_id}/artifacts"
    # As MLflow's server does, the logged model lists the versions registered from it.
    tags = client.get_logged_model(logged.model_id).tags
    assert json.loads(tags["mlflow.modelVersions"]) == [{"name": name, "version": "1"}]


def test_create_model_version_from_an_unknown_logged_model_is_404(
    client: MlflowClient, name: str
) -> None:
    client.create_registered_model(name)

    with pytest.raises(MlflowException) as err:
        client.create_model_version(name, "models:/m-0123456789abcdef0123456789abcdef")

    assert _error_code(err) == "RESOURCE_DOES_NOT_EXIST"


@pytest.mark.parametrize("source", ["s3://bucket/model", "runs:/{run_id}/model"])
def test_create_model_version_of_a_registered_model_that_does_not_exist_is_404(
    client: MlflowClient, name: str, run_id: str, source: str
) -> None:
    # As MLflow's server; Plinth's store would create the model on the fly.
    with pytest.raises(MlflowException) as err:
        client.create_model_version(name, source.format(run_id=run_id))

    assert _error_code(err) == "RESOURCE_DOES_NOT_EXIST"
    assert name in str(err.value)
    assert client.search_registered_models(f"name = '{name}'") == []


def test_a_runs_source_leaving_its_run_is_400(client: MlflowClient, name: str, run_id: str) -> None:
    # Its lineage would name one run and its files another's.
    client.create_registered_model(name)

    with pytest.raises(MlflowException) as err:
        client.create_model_version(name, f"runs:/{run_id}/../other/artifacts/model")

    assert _error_code(err) == "INVALID_PARAMETER_VALUE"
    assert "'..'" in str(err.value)


def test_create_model_version_from_another_version_pins_it(
    client: MlflowClient, name: str, run_id: str
) -> None:
    _version(client, name, run_id)
    client.set_registered_model_alias(name, "candidate", "1")
    client.create_registered_model(f"{name}-copy")

    copy = client.create_model_version(f"{name}-copy", f"models:/{name}@candidate")

    assert copy.source == f"models:/{name}/1"
    assert copy.run_id == run_id
    assert client.get_model_version_download_uri(f"{name}-copy", "1") == f"runs:/{run_id}/model"


def test_get_update_delete_and_search_model_versions(
    client: MlflowClient, name: str, run_id: str
) -> None:
    for path in ("a", "b", "c"):
        _version(client, name, run_id, path)

    client.update_model_version(name, "2", description="the good one")
    assert client.get_model_version(name, "2").description == "the good one"
    client.delete_model_version(name, "3")
    with pytest.raises(MlflowException) as err:
        client.get_model_version(name, "3")
    assert _error_code(err) == "RESOURCE_DOES_NOT_EXIST"

    found = client.search_model_versions(f"name = '{name}'", order_by=["version_number ASC"])
    assert [v.version for v in found] == ["1", "2"]
    by_run = client.search_model_versions(f"run_id = '{run_id}'")
    assert sorted(v.version for v in by_run) == ["1", "2"]
    paged = client.search_model_versions(
        f"name = '{name}'", max_results=1, order_by=["version_number DESC"]
    )
    assert [v.version for v in paged] == ["2"]
    assert paged.token


def test_model_version_tags_are_set_and_deleted(
    client: MlflowClient, name: str, run_id: str
) -> None:
    _version(client, name, run_id)

    client.set_model_version_tag(name, "1", "validated", "yes")
    client.set_model_version_tag(name, "1", "doomed", "x")
    client.delete_model_version_tag(name, "1", "doomed")

    assert client.get_model_version(name, "1").tags == {"validated": "yes"}


def test_aliases_are_set_resolved_and_deleted(client: MlflowClient, name: str, run_id: str) -> None:
    _version(client, name, run_id, "a")
    _version(client, name, run_id, "b")

    client.set_registered_model_alias(name, "candidate", "2")

    assert client.get_model_version_by_alias(name, "candidate").version == "2"
    assert client.get_model_version(name, "2").aliases == ["candidate"]
    assert client.get_registered_model(name).aliases == {"candidate": "2"}
    client.delete_registered_model_alias(name, "candidate")
    with pytest.raises(MlflowException) as err:
        client.get_model_version_by_alias(name, "candidate")
    assert _error_code(err) == "RESOURCE_DOES_NOT_EXIST"


def test_transition_to_staging_works_and_to_production_is_refused(
    client: MlflowClient, name: str, run_id: str
) -> None:
    _version(client, name, run_id)

    staged = client.transition_model_version_stage(name, "1", "staging")
    assert staged.current_stage == "Staging"
    with pytest.raises(MlflowException) as err:
        client.transition_model_version_stage(name, "1", "Production")

    assert _error_code(err) == "PERMISSION_DENIED"
    assert "approved promotion request" in err.value.message
    assert "request-promotion" in err.value.message
    assert client.get_model_version(name, "1").current_stage == "Staging"
    [latest] = client.get_latest_versions(name, stages=["Staging"])
    assert latest.version == "1"
    assert client.get_latest_versions(name, stages=["Production"]) == []


def test_protected_aliases_are_refused_on_set_and_delete(
    client: MlflowClient, name: str, run_id: str
) -> None:
    _version(client, name, run_id)

    for alias in ("champion", "production", "Champion"):
        with pytest.raises(MlflowException) as err:
            client.set_registered_model_alias(name, alias, "1")
        assert _error_code(err) == "PERMISSION_DENIED"
        assert "approved promotion request" in err.value.message
    with pytest.raises(MlflowException) as err:
        client.delete_registered_model_alias(name, "champion")
    assert _error_code(err) == "PERMISSION_DENIED"
    assert client.get_registered_model(name).aliases == {}


def test_unknown_stage_is_400_naming_the_allowed_ones(
    http: httpx.Client, client: MlflowClient, name: str, run_id: str
) -> None:
    _version(client, name, run_id)

    response = http.post(
        f"{API}/model-versions/transition-stage",
        json={"name": name, "version": "1", "stage": "Prod"},
    )

    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "Staging" in response.json()["message"]


def test_get_latest_versions_answers_get_and_post(
    http: httpx.Client, client: MlflowClient, name: str, run_id: str
) -> None:
    _version(client, name, run_id)

    posted = http.post(f"{API}/registered-models/get-latest-versions", json={"name": name})
    got = http.get(
        f"{API}/registered-models/get-latest-versions", params={"name": name, "stages": "None"}
    )

    assert [v["version"] for v in posted.json()["model_versions"]] == ["1"]
    assert [v["version"] for v in got.json()["model_versions"]] == ["1"]


def test_wire_shape_of_a_model_version(
    http: httpx.Client, client: MlflowClient, name: str, run_id: str
) -> None:
    _version(client, name, run_id)

    body = http.get(f"{API}/model-versions/get", params={"name": name, "version": "1"}).json()

    version = body["model_version"]
    assert version["version"] == "1"
    assert version["current_stage"] == "None"
    assert version["status"] == "READY"
    assert version["user_id"] == "admin"
    assert isinstance(version["creation_timestamp"], int)
    assert "description" not in version  # unset, so MLflow's client reads None


def test_the_web_ui_prefix_serves_the_same_api(
    http: httpx.Client, client: MlflowClient, name: str
) -> None:
    client.create_registered_model(name)

    response = http.get("/ajax-api/2.0/mlflow/registered-models/get", params={"name": name})

    assert response.status_code == 200
    assert response.json()["registered_model"]["name"] == name


def test_viewer_may_read_the_registry_but_not_write(
    client: MlflowClient, viewer_token: str, server_url: str, name: str
) -> None:
    client.create_registered_model(name)
    headers = {"Authorization": f"Bearer {viewer_token}"}

    with httpx.Client(base_url=server_url, headers=headers) as viewer:
        got = viewer.get(f"{API}/registered-models/get", params={"name": name})
        searched = viewer.get(f"{API}/registered-models/search", params={"filter": ""})
        written = viewer.post(f"{API}/registered-models/create", json={"name": f"{name}-2"})
        tagged = viewer.post(
            f"{API}/registered-models/set-tag", json={"name": name, "key": "k", "value": "v"}
        )

    assert (got.status_code, searched.status_code) == (200, 200)
    assert (written.status_code, tagged.status_code) == (403, 403)
    assert written.json()["error_code"] == "PERMISSION_DENIED"
