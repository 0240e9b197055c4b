"""MLflow's run API (runs, params, metrics, tags, inputs), driven by the real ``mlflow`` client."""

from __future__ import annotations

import math
import time

import httpx
import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException


def _now() -> int:
    return int(time.time() * 1000)


@pytest.fixture
def experiment_id(client: MlflowClient, unique: str) -> str:
    return client.create_experiment(f"runs-{unique}")


def test_create_get_and_update_run(client: MlflowClient, experiment_id: str) -> None:
    run = client.create_run(experiment_id, run_name="first", tags={"team": "risk"})

    got = client.get_run(run.info.run_id)
    assert got.info.run_name == "first"
    assert got.info.status == "RUNNING"
    assert got.info.experiment_id == experiment_id
    assert got.info.user_id == "admin"  # the token's user, not the OS login the client sends
    assert got.info.artifact_uri == f"mlflow-artifacts:/{experiment_id}/{run.info.run_id}/artifacts"
    assert got.data.tags["team"] == "risk"
    assert got.data.tags["mlflow.runName"] == "first"

    client.update_run(run.info.run_id, name="renamed")
    client.set_terminated(run.info.run_id, status="KILLED")
    ended = client.get_run(run.info.run_id)
    assert ended.info.status == "KILLED"
    assert ended.info.run_name == "renamed"
    assert ended.info.end_time is not None


def test_delete_and_restore_run(client: MlflowClient, experiment_id: str) -> None:
    run_id = client.create_run(experiment_id).info.run_id

    client.delete_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == "deleted"
    assert client.search_runs([experiment_id]) == []
    deleted = client.search_runs([experiment_id], run_view_type=ViewType.DELETED_ONLY)
    assert [r.info.run_id for r in deleted] == [run_id]

    client.restore_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == "active"


def test_params_metrics_and_tags_are_logged(client: MlflowClient, experiment_id: str) -> None:
    run_id = client.create_run(experiment_id).info.run_id

    client.log_param(run_id, "lr", 0.1)
    client.log_param(run_id, "lr", 0.1)  # re-logging the same value is idempotent
    client.log_metric(run_id, "loss", 0.5, step=0)
    client.log_metric(run_id, "loss", 0.25, step=1)
    client.set_tag(run_id, "stage", "dev")
    client.set_tag(run_id, "doomed", "x")
    client.delete_tag(run_id, "doomed")

    data = client.get_run(run_id).data
    assert data.params == {"lr": "0.1"}
    assert data.metrics == {"loss": 0.25}
    assert data.tags["stage"] == "dev"
    assert "doomed" not in data.tags


def test_nan_and_infinite_metrics_round_trip(client: MlflowClient, experiment_id: str) -> None:
    run_id = client.create_run(experiment_id).info.run_id

    client.log_metric(run_id, "nan", math.nan, step=0)
    client.log_metric(run_id, "inf", math.inf, step=0)
    client.log_metric(run_id, "neg_inf", -math.inf, step=0)

    metrics = client.get_run(run_id).data.metrics
    assert math.isnan(metrics["nan"])
    assert metrics["inf"] == math.inf
    assert metrics["neg_inf"] == -math.inf
    assert math.isnan(client.get_metric_history(run_id, "nan")[0].value)
    assert client.get_metric_history(run_id, "inf")[0].value == math.inf
    assert client.get_metric_history(run_id, "neg_inf")[0].value == -math.inf


def test_metric_history_keeps_every_point_with_step_and_timestamp(
    client: MlflowClient, experiment_id: str
) -> None:
    run_id = client.create_run(experiment_id).info.run_id
    ts = _now()
    for step in (2, 0, 1):
        client.log_metric(run_id, "acc", step / 10, timestamp=ts + step, step=step)

    history = client.get_metric_history(run_id, "acc")

    assert [(m.step, m.value, m.timestamp) for m in history] == [
        (0, 0.0, ts),
        (1, 0.1, ts + 1),
        (2, 0.2, ts + 2),
    ]


def test_a_retried_batch_stores_its_points_once(client: MlflowClient, experiment_id: str) -> None:
    # A client that lost the answer to a log_batch sends it again; MLflow's server keeps
    # one copy of each point, and so does Plinth.
    run_id = client.create_run(experiment_id).info.run_id
    ts = _now()
    batch = [Metric("loss", 1 / (i + 1), ts + i, i) for i in range(3)]
    client.log_batch(run_id, metrics=batch)
    client.log_batch(run_id, metrics=batch)
    client.log_metric(run_id, "loss", 0.5, timestamp=ts + 1, step=1)  # a single-call repeat

    history = client.get_metric_history(run_id, "loss")

    assert [(m.step, m.value) for m in history] == [(0, 1.0), (1, 0.5), (2, 1 / 3)]


def test_metric_history_pages_with_max_results_and_page_token(
    client: MlflowClient, http: httpx.Client, experiment_id: str
) -> None:
    run_id = client.create_run(experiment_id).info.run_id
    ts = _now()
    client.log_batch(run_id, metrics=[Metric("m", float(i), ts, i) for i in range(5)])

    steps: list[int] = []
    params: dict[str, str | int] = {"run_id": run_id, "metric_key": "m", "max_results": 2}
    while True:
        body = http.get("/api/2.0/mlflow/metrics/get-history", params=params).json()
        steps.extend(m["step"] for m in body["metrics"])
        if "next_page_token" not in body:
            break
        params["page_token"] = body["next_page_token"]
    assert steps == [0, 1, 2, 3, 4]


def test_log_batch_writes_metrics_params_and_tags_at_once(
    client: MlflowClient, experiment_id: str
) -> None:
    run_id = client.create_run(experiment_id).info.run_id
    ts = _now()

    client.log_batch(
        run_id,
        metrics=[Metric("a", 1.0, ts, 0), Metric("a", 2.0, ts, 1), Metric("b", math.nan, ts, 0)],
        params=[Param("p1", "x"), Param("p2", "y")],
        tags=[RunTag("t", "v")],
    )

    data = client.get_run(run_id).data
    assert data.metrics["a"] == 2.0
    assert math.isnan(data.metrics["b"])
    assert data.params == {"p1": "x", "p2": "y"}
    assert data.tags["t"] == "v"
    assert [m.value for m in client.get_metric_history(run_id, "a")] == [1.0, 2.0]


def test_changing_a_param_value_is_invalid_parameter_value(
    client: MlflowClient, experiment_id: str
) -> None:
    run_id = client.create_run(experiment_id).info.run_id
    client.log_param(run_id, "lr", "0.1")

    with pytest.raises(MlflowException) as err:
        client.log_param(run_id, "lr", "0.2")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "lr" in err.value.message


@pytest.mark.parametrize("key", ["a//b", "a/", "./a", "a/./b"])
def test_keys_that_resolve_to_other_names_are_refused_as_mlflow_does(
    client: MlflowClient, experiment_id: str, key: str
) -> None:
    run_id = client.create_run(experiment_id).info.run_id

    for log in (client.log_param, client.log_metric, client.set_tag):
        with pytest.raises(MlflowException) as err:
            log(run_id, key, 1)
        assert err.value.error_code == "INVALID_PARAMETER_VALUE"
        assert "resolve to other names" in err.value.message
    assert client.get_run(run_id).data.params == {}


def test_missing_run_is_resource_does_not_exist(client: MlflowClient) -> None:
    with pytest.raises(MlflowException) as err:
        client.get_run("0123456789abcdef0123456789abcdef")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_logging_to_a_finished_run_is_invalid_state(
    client: MlflowClient, experiment_id: str
) -> None:
    run_id = client.create_run(experiment_id).info.run_id
    client.set_terminated(run_id, status="FINISHED")

    with pytest.raises(MlflowException) as err:
        client.log_metric(run_id, "late", 1.0)
    assert err.value.error_code == "INVALID_STATE"
    assert "FINISHED" in err.value.message


def test_log_inputs_records_datasets_with_their_tags(
    client: MlflowClient, experiment_id: str
) -> None:
    run_id = client.create_run(experiment_id).info.run_id
    dataset = Dataset(
        name="train",
        digest="abc123",
        source_type="local",
        source='{"uri": "/data/train.parquet"}',
        schema='{"mlflow_colspec": []}',
        profile='{"num_rows": 10}',
    )

    client.log_inputs(
        run_id, datasets=[DatasetInput(dataset, tags=[InputTag("mlflow.data.context", "train")])]
    )

    run_inputs = client.get_run(run_id).inputs
    assert run_inputs is not None
    inputs = run_inputs.dataset_inputs
    assert len(inputs) == 1
    assert inputs[0].dataset.name == "train"
    assert inputs[0].dataset.digest == "abc123"
    assert inputs[0].dataset.profile == '{"num_rows": 10}'
    assert [(t.key, t.value) for t in inputs[0].tags] == [("mlflow.data.context", "train")]


def test_search_runs_filters_orders_and_pages(client: MlflowClient, experiment_id: str) -> None:
    ts = _now()
    run_ids = []
    for i in range(5):
        run_id = client.create_run(experiment_id, run_name=f"r{i}").info.run_id
        client.log_batch(
            run_id,
            metrics=[Metric("auc", i / 10, ts, 0)],
            params=[Param("model", "gbm" if i % 2 else "lr")],
        )
        run_ids.append(run_id)

    gbm = client.search_runs([experiment_id], filter_string="params.model = 'gbm'")
    assert sorted(r.info.run_id for r in gbm) == sorted([run_ids[1], run_ids[3]])

    pages, token = [], None
    while True:
        page = client.search_runs(
            [experiment_id],
            filter_string="metrics.auc >= 0.1",
            order_by=["metrics.auc DESC"],
            max_results=2,
            page_token=token,
        )
        pages.append([r.info.run_name for r in page])
        token = page.token
        if not token:
            break
    assert pages == [["r4", "r3"], ["r2", "r1"]]


def test_search_runs_response_has_mlflow_shape(
    http: httpx.Client, client: MlflowClient, experiment_id: str
) -> None:
    run_id = client.create_run(experiment_id).info.run_id
    client.log_metric(run_id, "loss", math.nan, timestamp=1_700_000_000_123, step=7)
    client.log_param(run_id, "p", "1")

    body = http.post(
        "/api/2.0/mlflow/runs/search",
        json={"experiment_ids": [experiment_id], "run_view_type": "ALL", "max_results": 10},
    ).json()

    (run,) = body["runs"]
    assert run["info"]["run_id"] == run["info"]["run_uuid"] == run_id
    assert run["data"]["metrics"] == [
        {"key": "loss", "value": "NaN", "timestamp": 1_700_000_000_123, "step": 7}
    ]
    assert run["data"]["params"] == [{"key": "p", "value": "1"}]
    assert run["inputs"] == {"dataset_inputs": []}


def test_run_metrics_carry_the_latest_points_timestamp_and_step(
    client: MlflowClient, experiment_id: str
) -> None:
    run_id = client.create_run(experiment_id).info.run_id
    client.log_metric(run_id, "loss", 0.5, timestamp=1_700_000_000_000, step=1)
    client.log_metric(run_id, "loss", 0.2, timestamp=1_700_000_000_900, step=9)
    client.log_metric(run_id, "loss", 0.9, timestamp=1_700_000_000_500, step=3)

    for run in (client.get_run(run_id), client.search_runs([experiment_id])[0]):
        (latest,) = run.data._metric_objs
        assert (latest.value, latest.timestamp, latest.step) == (0.2, 1_700_000_000_900, 9)


def test_fluent_api_logs_a_whole_run(mlflow_env: str, unique: str) -> None:
    mlflow.set_experiment(f"fluent-{unique}")
    with mlflow.start_run(run_name="fluent") as run:
        mlflow.log_params({"depth": 3, "lr": 0.1})
        for step in range(3):
            mlflow.log_metric("loss", 1 / (step + 1), step=step)
        mlflow.log_metrics({"acc": 0.9, "f1": math.nan})
        mlflow.set_tags({"stage": "dev"})

    got = mlflow.get_run(run.info.run_id)
    assert got.info.status == "FINISHED"
    assert got.data.params == {"depth": "3", "lr": "0.1"}
    assert got.data.metrics["loss"] == pytest.approx(1 / 3)
    assert math.isnan(got.data.metrics["f1"])
    assert got.data.tags["stage"] == "dev"
    found = mlflow.search_runs(
        experiment_names=[f"fluent-{unique}"],
        filter_string="params.depth = '3'",
        output_format="list",
    )
    assert [r.info.run_id for r in found] == [run.info.run_id]


def test_fluent_log_input_of_a_pandas_dataset(mlflow_env: str, unique: str) -> None:
    import pandas as pd
    from mlflow.data.pandas_dataset import from_pandas

    # Float and string columns: mlflow warns about integer columns in inferred schemas.
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "label": ["a", "b", "a"]})
    dataset = from_pandas(frame, name="toy")
    mlflow.set_experiment(f"inputs-{unique}")

    with mlflow.start_run() as run:
        mlflow.log_input(dataset, context="training")

    run_inputs = mlflow.get_run(run.info.run_id).inputs
    assert run_inputs is not None
    [logged] = run_inputs.dataset_inputs
    assert (logged.dataset.name, logged.dataset.digest) == ("toy", dataset.digest)
    assert logged.dataset.schema == dataset.to_dict()["schema"]
    assert {t.key: t.value for t in logged.tags} == {"mlflow.data.context": "training"}
