"""Who may call the MLflow API, and MLflow-shaped errors for malformed requests."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import httpx
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from plinth import __version__

RUN_ID = "0123456789abcdef0123456789abcdef"


def assert_invalid(response: httpx.Response, *named: str) -> None:
    """A 400 INVALID_PARAMETER_VALUE whose message names each of ``named``."""
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    for word in named:
        assert word in response.json()["message"]


def test_request_without_token_is_401_unauthenticated(server_url: str) -> None:
    response = httpx.post(f"{server_url}/api/2.0/mlflow/experiments/search", json={})

    assert response.status_code == 401
    assert response.json()["error_code"] == "UNAUTHENTICATED"


def test_request_with_unknown_token_is_401(server_url: str) -> None:
    response = httpx.get(
        f"{server_url}/api/2.0/mlflow/experiments/get",
        params={"experiment_id": "0"},
        headers={"Authorization": "Bearer plt_not-a-token"},
    )

    assert response.status_code == 401
    assert response.json()["error_code"] == "UNAUTHENTICATED"


def test_http_basic_with_the_token_as_password_works(
    mlflow_env: str, monkeypatch: pytest.MonkeyPatch, unique: str
) -> None:
    import os

    token = os.environ["MLFLOW_TRACKING_TOKEN"]
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", token)
    client = MlflowClient(tracking_uri=mlflow_env)

    experiment_id = client.create_experiment(f"basic-{unique}")

    assert client.get_experiment(experiment_id).name == f"basic-{unique}"


def test_viewer_may_read_and_search(
    client: MlflowClient, viewer_token: str, server_url: str, unique: str
) -> None:
    experiment_id = client.create_experiment(f"viewer-reads-{unique}")
    run_id = client.create_run(experiment_id).info.run_id
    headers = {"Authorization": f"Bearer {viewer_token}"}

    with httpx.Client(base_url=server_url, headers=headers) as viewer:
        got = viewer.get("/api/2.0/mlflow/runs/get", params={"run_id": run_id})
        runs = viewer.post("/api/2.0/mlflow/runs/search", json={"experiment_ids": [experiment_id]})
        experiments = viewer.post("/api/2.0/mlflow/experiments/search", json={})

    assert got.status_code == 200
    assert [r["info"]["run_id"] for r in runs.json()["runs"]] == [run_id]
    assert experiments.status_code == 200


def test_viewer_writing_is_403_permission_denied(
    client: MlflowClient, viewer_token: str, monkeypatch: pytest.MonkeyPatch, unique: str
) -> None:
    experiment_id = client.create_experiment(f"viewer-writes-{unique}")
    run_id = client.create_run(experiment_id).info.run_id
    # The client reads its token from the environment on every request.
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", viewer_token)
    viewer_client = client

    assert viewer_client.get_experiment(experiment_id).name == f"viewer-writes-{unique}"
    assert viewer_client.search_runs([experiment_id])[0].info.run_id == run_id
    with pytest.raises(MlflowException) as err:
        viewer_client.create_experiment(f"not-allowed-{unique}")
    assert err.value.error_code == "PERMISSION_DENIED"
    with pytest.raises(MlflowException) as err:
        viewer_client.log_metric(run_id, "m", 1.0)
    assert err.value.error_code == "PERMISSION_DENIED"


def test_invalid_json_body_is_400_invalid_parameter_value(http: httpx.Client) -> None:
    response = http.post(
        "/api/2.0/mlflow/experiments/create",
        content=b'{"name": "x",',
        headers={"Content-Type": "application/json"},
    )

    assert_invalid(response, "not valid JSON")


def test_json_body_that_is_not_an_object_is_400(http: httpx.Client) -> None:
    response = http.post("/api/2.0/mlflow/runs/search", json=["1"])

    assert_invalid(response)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        pytest.param("experiments/create", {"name": 5}, "'name'", id="name-not-string"),
        pytest.param("experiments/create", {}, "'name'", id="name-missing"),
        pytest.param("experiments/create", {"name": "x", "tags": {}}, "'tags'", id="tags-not-list"),
        pytest.param("runs/create", {"experiment_id": ["0"]}, "'experiment_id'", id="id-list"),
        pytest.param(
            "runs/log-metric",
            {"run_id": RUN_ID, "key": "m", "value": "high", "timestamp": 1},
            "'value'",
            id="metric-value-not-number",
        ),
        pytest.param(
            "runs/log-metric",
            {"run_id": RUN_ID, "key": "m", "value": 1.0},
            "'timestamp'",
            id="metric-timestamp-missing",
        ),
        pytest.param(
            "runs/log-metric",
            {"run_id": RUN_ID, "key": "m", "value": 1, "timestamp": 1, "step": 1.5},
            "'step'",
            id="metric-step-fraction",
        ),
        pytest.param(
            "runs/log-batch",
            {"run_id": RUN_ID, "metrics": [{"key": "m", "value": 1}]},
            "'metrics[0].timestamp'",
            id="batch-metric-timestamp-missing",
        ),
        pytest.param(
            "runs/log-batch",
            {"run_id": RUN_ID, "params": [{"key": "p", "value": 3}]},
            "'params[0].value'",
            id="batch-param-value-not-string",
        ),
        pytest.param(
            "runs/log-batch", {"run_id": RUN_ID, "tags": "t"}, "'tags'", id="batch-tags-not-list"
        ),
        pytest.param("runs/log-batch", {"metrics": []}, "'run_id'", id="batch-run-id-missing"),
        pytest.param("runs/search", {"experiment_ids": "0"}, "'experiment_ids'", id="ids-not-list"),
        pytest.param("runs/search", {"max_results": "ten"}, "'max_results'", id="max-not-int"),
        pytest.param(
            "runs/search", {"run_view_type": "SOME"}, "'run_view_type'", id="bad-view-type"
        ),
        pytest.param(
            "runs/update", {"run_id": RUN_ID, "status": "DONE"}, "'status'", id="bad-status"
        ),
        pytest.param(
            "runs/log-inputs",
            {"run_id": RUN_ID, "datasets": [{"dataset": {"name": "d"}}]},
            "'datasets[0].dataset.digest'",
            id="dataset-digest-missing",
        ),
        pytest.param(
            "runs/set-tag", {"run_id": RUN_ID, "key": ["k"], "value": "v"}, "'key'", id="tag-key"
        ),
        pytest.param("runs/search", {"max_results": 10**20}, "'max_results'", id="max-int64"),
        pytest.param(
            "runs/log-metric",
            {"run_id": RUN_ID, "key": "m", "value": 1, "timestamp": str(2**64)},
            "'timestamp'",
            id="timestamp-beyond-int64",
        ),
    ],
)
def test_wrong_or_missing_fields_are_400_naming_the_field(
    http: httpx.Client, path: str, body: dict[str, Any], field: str
) -> None:
    response = http.post(f"/api/2.0/mlflow/{path}", json=body)

    assert_invalid(response, field)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        pytest.param("experiments/create", '{"name": "x\\ud83d"}', "name", id="name"),
        pytest.param(
            "runs/search", '{"experiment_ids": ["0"], "filter": "a\\ud800"}', "filter", id="filter"
        ),
        pytest.param(
            "runs/log-batch",
            '{"run_id": "RUN", "params": [{"key": "k", "value": "caf\\udce9"}]}'.replace(
                "RUN", RUN_ID
            ),
            "params[0].value",
            id="nested",
        ),
    ],
)
def test_text_with_an_unpaired_surrogate_escape_is_400_naming_the_field(
    http: httpx.Client, path: str, body: str, field: str
) -> None:
    # Valid JSON (other clients than Python's can send it) that no database can store.
    response = http.post(
        f"/api/2.0/mlflow/{path}", content=body, headers={"Content-Type": "application/json"}
    )

    assert_invalid(response, f"for {field}: ", "unpaired")


def test_a_double_encoded_body_is_checked_for_unpaired_surrogates_too(
    http: httpx.Client,
) -> None:
    # A JSON string holding the object, as old MLflow clients send: decoded twice, and the
    # second decoding may produce what the first could not.
    body = json.dumps('{"experiment_id": "0", "key": "x\\ud800", "value": "v"}')

    response = http.post(
        "/api/2.0/mlflow/experiments/set-experiment-tag",
        content=body,
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 400, response.text
    assert "unpaired" in response.json()["message"]
    assert http.get("/health").status_code == 200  # the connection survived


def test_text_with_an_unpaired_surrogate_is_400_on_plinths_api_too(http: httpx.Client) -> None:
    response = http.post(
        "/api/v1/experiments",
        content='{"name": "x\\ud800"}',
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 400, response.text
    assert "unpaired surrogate" in response.json()["message"]


@pytest.mark.parametrize(
    "forged",
    [
        pytest.param(json.dumps({"offset": 10**20}), id="offset-beyond-64-bits"),
        pytest.param("[" * 5000, id="deeply-nested-json"),
    ],
)
def test_forged_page_token_is_400(http: httpx.Client, forged: str) -> None:
    token = base64.b64encode(forged.encode()).decode()

    for path, body in [
        ("runs/search", {"experiment_ids": ["0"], "page_token": token}),
        ("experiments/search", {"page_token": token}),
        ("logged-models/search", {"experiment_ids": ["0"], "page_token": token}),
    ]:
        response = http.post(f"/api/2.0/mlflow/{path}", json=body)
        assert response.status_code == 400, (path, response.text)
        assert "page token" in response.json()["message"]
    response = http.get("/api/2.0/mlflow/registered-models/search", params={"page_token": token})
    assert response.status_code == 400, response.text


@pytest.mark.parametrize(
    ("path", "body", "named"),
    [
        pytest.param(
            "runs/search",
            {"experiment_ids": ["0"], "filter": " and ".join(["params.p = 'a'"] * 1500)},
            "100 clauses",
            id="runs-filter",
        ),
        pytest.param(
            "experiments/search",
            {"filter": " and ".join(["name = 'x'"] * 1500)},
            "100 clauses",
            id="experiments-filter",
        ),
        pytest.param(
            "logged-models/search",
            {"experiment_ids": ["0"], "filter": " and ".join(["name = 'x'"] * 1500)},
            "100 clauses",
            id="logged-models-filter",
        ),
        pytest.param(
            "runs/search",
            {"experiment_ids": ["0"], "filter": f"params.p IN ({', '.join(['1'] * 10_001)})"},
            "10000 values",
            id="in-list",
        ),
        pytest.param(
            "runs/search",
            {
                "experiment_ids": ["0"],
                "filter": " and ".join(
                    f"params.p{i} IN ({', '.join(['1'] * 2_000)})" for i in range(7)
                ),
            },
            "10000 values",
            id="in-lists-together",
        ),
        pytest.param(
            "runs/search",
            {"experiment_ids": [str(i) for i in range(10_001)]},
            "at most 10000",
            id="experiment-ids",
        ),
        pytest.param(
            "runs/search",
            {"experiment_ids": ["0"], "order_by": [f"params.p{i}" for i in range(65)]},
            "at most 20",
            id="order-by",
        ),
    ],
)
def test_a_search_too_large_for_the_database_is_400_not_an_outage(
    http: httpx.Client, path: str, body: dict[str, Any], named: str
) -> None:
    # SQLite refuses such statements ("Expression tree is too large", "at most 64 tables in
    # a join"): reported as the caller's error, not as 503, which MLflow's client retries.
    response = http.post(f"/api/2.0/mlflow/{path}", json=body)

    assert_invalid(response, named)


def test_filter_numbers_beyond_64_bits_compare_instead_of_failing(http: httpx.Client) -> None:
    huge = "9" * 30
    runs = http.post(
        "/api/2.0/mlflow/runs/search",
        json={"experiment_ids": ["0"], "filter": f"attributes.start_time > {huge}"},
    )
    assert runs.status_code == 200, runs.text
    assert runs.json().get("runs", []) == []
    experiments = http.post(
        "/api/2.0/mlflow/experiments/search", json={"filter": f"creation_time > {huge}"}
    )
    assert experiments.status_code == 400, experiments.text
    assert "out of range" in experiments.json()["message"]


def test_wrong_query_parameter_type_is_400_naming_it(http: httpx.Client) -> None:
    response = http.get(
        "/api/2.0/mlflow/metrics/get-history",
        params={"run_id": RUN_ID, "metric_key": "m", "max_results": "many"},
    )

    assert response.status_code == 400
    assert "'max_results'" in response.json()["message"]


def test_malformed_experiment_id_is_400(http: httpx.Client) -> None:
    response = http.get("/api/2.0/mlflow/experiments/get", params={"experiment_id": "abc"})

    assert_invalid(response)


def test_run_uuid_is_accepted_in_place_of_run_id(
    client: MlflowClient, http: httpx.Client, unique: str
) -> None:
    run_id = client.create_run(client.create_experiment(f"uuid-{unique}")).info.run_id

    response = http.get("/api/2.0/mlflow/runs/get", params={"run_uuid": run_id})

    assert response.status_code == 200
    assert response.json()["run"]["info"]["run_id"] == run_id


def test_nan_json_tokens_are_accepted_as_metric_values(
    client: MlflowClient, http: httpx.Client, unique: str
) -> None:
    run_id = client.create_run(client.create_experiment(f"nan-{unique}")).info.run_id
    body = (
        f'{{"run_id": "{run_id}", "metrics": ['
        '{"key": "a", "value": NaN, "timestamp": 1700000000000},'
        '{"key": "b", "value": -Infinity, "timestamp": 1700000000000, "step": "3"}]}'
    )

    response = http.post(
        "/api/2.0/mlflow/runs/log-batch",
        content=body.encode(),
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 200, response.text
    history = http.get(
        "/api/2.0/mlflow/metrics/get-history", params={"run_id": run_id, "metric_key": "b"}
    ).json()
    assert history["metrics"] == [
        {"key": "b", "value": "-Infinity", "timestamp": 1700000000000, "step": 3}
    ]


# -- routing of MLflow's API (one table, see plinth.server.mlflow.rpc) ---------------------------
def test_a_known_path_with_the_wrong_method_is_405_naming_the_allowed_ones(
    http: httpx.Client,
) -> None:
    response = http.get("/api/2.0/mlflow/runs/search")

    assert response.status_code == 405
    assert response.json()["error_code"] == "BAD_REQUEST"
    assert response.headers["allow"] == "POST"


def test_an_unknown_mlflow_path_is_404(http: httpx.Client) -> None:
    response = http.post("/api/2.0/mlflow/runs/no-such-call", json={})

    assert response.status_code == 404
    assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_both_verbs_of_a_dual_route_answer_and_the_ui_prefix_mirrors_the_api(
    http: httpx.Client, unique: str
) -> None:
    http.post("/api/2.0/mlflow/experiments/create", json={"name": f"dual-{unique}"})
    body = {"filter": f"name = 'dual-{unique}'"}

    searched = [
        http.post(f"{prefix}/experiments/search", json=body)
        for prefix in ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")
    ] + [http.get("/api/2.0/mlflow/experiments/search", params=body)]

    for response in searched:
        assert response.status_code == 200, response.text
        assert [e["name"] for e in response.json()["experiments"]] == [f"dual-{unique}"]


def test_mlflow_routes_are_listed_in_the_openapi_schema(http: httpx.Client) -> None:
    paths = http.get("/openapi.json").json()["paths"]

    search = paths["/api/2.0/mlflow/runs/search"]["post"]
    assert search["tags"] == ["MLflow REST API"]
    assert "`viewer` role" in search["description"] and "requestBody" in search
    history = paths["/api/2.0/mlflow/metrics/get-history"]["get"]
    assert "query string" in history["description"] and "requestBody" not in history
    download = paths["/api/2.0/mlflow-artifacts/artifacts/{artifact_path}"]["get"]
    assert [p["name"] for p in download["parameters"]] == ["artifact_path"]
    assert "/api/v1/experiments" in paths
    assert not [p for p in paths if p.startswith("/ajax-api")]  # the web UI's aliases
    ids = [op["operationId"] for ops in paths.values() for op in ops.values()]
    assert len(ids) == len(set(ids))  # OpenAPI requires unique operation ids


def test_no_documented_mlflow_route_answers_garbage_with_a_500(http: httpx.Client) -> None:
    spec = http.get("/openapi.json").json()
    routes = [
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        if "/mlflow" in path
        for method, operation in operations.items()
        if operation["tags"] == ["MLflow REST API"]
    ]
    assert len(routes) > 60
    for method, path in routes:
        url = re.sub(r"\{[^}]+\}", "x", path)
        for body in (None, {"junk": 1}, [1], "text"):
            response = http.request(method, url, json=body)
            # Multipart uploads answer 501 NOT_IMPLEMENTED, as MLflow's do on a store
            # without them: the client then falls back to one PUT.
            expected = 501 if "/mpu/" in url else None
            assert response.status_code < 500 or response.status_code == expected, (
                method,
                url,
                body,
                response.text,
            )


def test_health_answers_without_a_token_with_the_version(server_url: str) -> None:
    response = httpx.get(f"{server_url}/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": __version__}
