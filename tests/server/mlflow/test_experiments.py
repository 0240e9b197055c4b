"""MLflow's experiment API, driven by the real ``mlflow`` client against a live server."""

from __future__ import annotations

import httpx
import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException


def test_create_and_get_experiment_round_trip_name_tags_and_location(
    client: MlflowClient, unique: str
) -> None:
    experiment_id = client.create_experiment(f"exp-{unique}", tags={"team": "risk"})

    got = client.get_experiment(experiment_id)
    assert got.experiment_id == experiment_id
    assert got.name == f"exp-{unique}"
    assert got.tags == {"team": "risk"}
    assert got.lifecycle_stage == "active"
    assert got.artifact_location == f"mlflow-artifacts:/{experiment_id}"
    assert got.creation_time is not None and got.creation_time > 0


def test_get_experiment_by_name_finds_it_and_returns_none_when_missing(
    client: MlflowClient, unique: str
) -> None:
    experiment_id = client.create_experiment(f"by-name-{unique}")

    found = client.get_experiment_by_name(f"by-name-{unique}")
    assert found is not None and found.experiment_id == experiment_id
    assert client.get_experiment_by_name(f"missing-{unique}") is None


def test_default_experiment_zero_exists(client: MlflowClient) -> None:
    assert client.get_experiment("0").name == "Default"


def test_duplicate_experiment_name_is_resource_already_exists(
    client: MlflowClient, unique: str
) -> None:
    client.create_experiment(f"dup-{unique}")

    with pytest.raises(MlflowException) as err:
        client.create_experiment(f"dup-{unique}")
    assert err.value.error_code == "RESOURCE_ALREADY_EXISTS"


def test_missing_experiment_is_resource_does_not_exist(client: MlflowClient) -> None:
    with pytest.raises(MlflowException) as err:
        client.get_experiment("987654")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_rename_delete_and_restore_experiment(client: MlflowClient, unique: str) -> None:
    experiment_id = client.create_experiment(f"old-{unique}")

    client.rename_experiment(experiment_id, f"new-{unique}")
    assert client.get_experiment(experiment_id).name == f"new-{unique}"

    client.delete_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "deleted"
    deleted = client.search_experiments(
        view_type=ViewType.DELETED_ONLY, filter_string=f"name = 'new-{unique}'"
    )
    assert [e.experiment_id for e in deleted] == [experiment_id]

    client.restore_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "active"


def test_set_and_delete_experiment_tag(client: MlflowClient, unique: str) -> None:
    experiment_id = client.create_experiment(f"tags-{unique}")

    client.set_experiment_tag(experiment_id, "owner", "ana")
    assert client.get_experiment(experiment_id).tags == {"owner": "ana"}
    client.delete_experiment_tag(experiment_id, "owner")
    assert client.get_experiment(experiment_id).tags == {}


def test_search_experiments_filters_orders_and_pages(client: MlflowClient, unique: str) -> None:
    ids = [client.create_experiment(f"search-{unique}-{i}") for i in range(5)]

    first = client.search_experiments(
        filter_string=f"name LIKE 'search-{unique}-%'", order_by=["name DESC"], max_results=2
    )
    assert [e.name for e in first] == [f"search-{unique}-4", f"search-{unique}-3"]
    assert first.token

    seen = list(first)
    token = first.token
    while token:
        page = client.search_experiments(
            filter_string=f"name LIKE 'search-{unique}-%'",
            order_by=["name DESC"],
            max_results=2,
            page_token=token,
        )
        seen.extend(page)
        token = page.token
    assert [e.experiment_id for e in seen] == ids[::-1]


def test_search_experiments_by_get_takes_repeated_query_parameters(
    client: MlflowClient, http: httpx.Client, unique: str
) -> None:
    client.create_experiment(f"get-search-{unique}-b")
    client.create_experiment(f"get-search-{unique}-a")

    response = http.get(
        "/api/2.0/mlflow/experiments/search",
        params=[
            ("filter", f"name LIKE 'get-search-{unique}-%'"),
            ("order_by", "name ASC"),
            ("order_by", "creation_time DESC"),
            ("max_results", "10"),
            ("view_type", "ACTIVE_ONLY"),
        ],
    )

    assert response.status_code == 200
    names = [e["name"] for e in response.json()["experiments"]]
    assert names == [f"get-search-{unique}-a", f"get-search-{unique}-b"]
    assert "next_page_token" not in response.json()


def test_ajax_api_prefix_serves_the_same_handlers(
    client: MlflowClient, http: httpx.Client, unique: str
) -> None:
    experiment_id = client.create_experiment(f"ajax-{unique}")

    response = http.get(
        "/ajax-api/2.0/mlflow/experiments/get", params={"experiment_id": experiment_id}
    )

    assert response.status_code == 200
    assert response.json()["experiment"]["name"] == f"ajax-{unique}"


def test_experiment_json_has_mlflow_field_names(
    client: MlflowClient, http: httpx.Client, unique: str
) -> None:
    experiment_id = client.create_experiment(f"shape-{unique}", tags={"k": "v"})

    body = http.get(
        "/api/2.0/mlflow/experiments/get-by-name", params={"experiment_name": f"shape-{unique}"}
    ).json()["experiment"]

    assert body["experiment_id"] == experiment_id
    assert body["tags"] == [{"key": "k", "value": "v"}]
    assert set(body) >= {
        "experiment_id",
        "name",
        "artifact_location",
        "lifecycle_stage",
        "creation_time",
        "last_update_time",
    }
    assert isinstance(body["creation_time"], int)


def test_get_without_query_string_reads_a_json_body(http: httpx.Client) -> None:
    # Old clients send GET requests with JSON bodies; MLflow's server reads them.
    response = http.request("GET", "/api/2.0/mlflow/experiments/get", json={"experiment_id": "0"})

    assert response.status_code == 200
    assert response.json()["experiment"]["name"] == "Default"
