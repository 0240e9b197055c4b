"""MLflow 3's logged models, and ``log_model`` -> registry -> ``load_model`` end to end, with
the real ``mlflow`` client against a live server."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import httpx
import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient
from mlflow.entities import LoggedModelInput, LoggedModelStatus, Metric
from mlflow.exceptions import MlflowException
from sklearn.linear_model import LogisticRegression

from plinth.store.factory import open_sql_stores

API = "/api/2.0/mlflow"


@pytest.fixture
def experiment_id(client: MlflowClient, unique: str) -> str:
    experiment_id: str = client.create_experiment(f"logged-{unique}")
    return experiment_id


def test_create_get_finalize_and_delete_a_logged_model(
    client: MlflowClient, experiment_id: str
) -> None:
    run_id = client.create_run(experiment_id).info.run_id

    created = client.create_logged_model(
        experiment_id,
        name="clf",
        source_run_id=run_id,
        tags={"team": "risk"},
        params={"C": "0.5"},
        model_type="classifier",
    )

    assert created.model_id.startswith("m-")
    assert created.status == LoggedModelStatus.PENDING
    assert created.artifact_location == (
        f"mlflow-artifacts:/{experiment_id}/models/{created.model_id}/artifacts"
    )
    assert (created.name, created.source_run_id, created.model_type) == (
        "clf",
        run_id,
        "classifier",
    )
    assert created.tags["team"] == "risk"
    assert created.params == {"C": "0.5"}
    finalized = client.finalize_logged_model(created.model_id, LoggedModelStatus.READY)
    assert finalized.status == LoggedModelStatus.READY
    assert client.get_logged_model(created.model_id).status == LoggedModelStatus.READY

    client.delete_logged_model(created.model_id)
    with pytest.raises(MlflowException) as err:
        client.get_logged_model(created.model_id)
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_unnamed_logged_models_get_a_generated_name(
    client: MlflowClient, experiment_id: str
) -> None:
    created = client.create_logged_model(experiment_id)

    assert created.name


def test_logged_model_tags_and_params(client: MlflowClient, experiment_id: str) -> None:
    model_id = client.create_logged_model(experiment_id, name="clf").model_id

    client.set_logged_model_tags(model_id, {"a": "1", "mlflow.note/x": "2", "doomed": "3"})
    client.delete_logged_model_tag(model_id, "doomed")
    client.delete_logged_model_tag(model_id, "mlflow.note/x")  # a tag key with a slash
    client.log_model_params(model_id, {"alpha": "0.1", "depth": "3"})

    model = client.get_logged_model(model_id)
    assert {k: v for k, v in model.tags.items() if not k.startswith("mlflow.")} == {"a": "1"}
    assert "mlflow.note/x" not in model.tags
    assert model.params == {"alpha": "0.1", "depth": "3"}


def test_search_logged_models_filters_by_name_and_pages(
    client: MlflowClient, experiment_id: str
) -> None:
    ids = [client.create_logged_model(experiment_id, name=f"m{i}").model_id for i in range(3)]

    found = client.search_logged_models([experiment_id])
    assert [m.model_id for m in found] == ids[::-1]  # newest first
    named = client.search_logged_models([experiment_id], filter_string="name = 'm1'")
    assert [m.model_id for m in named] == [ids[1]]
    first = client.search_logged_models([experiment_id], max_results=2)
    assert len(first) == 2
    assert first.token
    rest = client.search_logged_models([experiment_id], max_results=2, page_token=first.token)
    assert [m.model_id for m in [*first, *rest]] == ids[::-1]


def test_search_logged_models_names_an_ordering_it_does_not_know(
    http: httpx.Client, experiment_id: str
) -> None:
    response = http.post(
        f"{API}/logged-models/search",
        json={
            "experiment_ids": [experiment_id],
            "order_by": [{"field_name": "params.alpha", "ascending": False}],
        },
    )

    assert response.status_code == 400
    assert "order_by[0]" in response.json()["message"]


def test_metrics_logged_with_a_model_id_are_the_models_metrics(
    client: MlflowClient, experiment_id: str
) -> None:
    run_id = client.create_run(experiment_id).info.run_id
    model_id = client.create_logged_model(experiment_id, name="clf").model_id

    client.log_metric(run_id, "acc", 0.5, step=0, model_id=model_id)
    client.log_metric(
        run_id, "acc", 0.9, step=1, model_id=model_id, dataset_name="eval", dataset_digest="d1"
    )
    client.log_batch(run_id, metrics=[Metric("loss", float("nan"), 1, 1, model_id=model_id)])
    client.log_metric(run_id, "other", 1.0)  # the run's only

    metrics = client.get_logged_model(model_id).metrics
    assert [(m.key, m.value, m.step, m.dataset_name) for m in metrics[:2]] == [
        ("acc", 0.5, 0, None),
        ("acc", 0.9, 1, "eval"),
    ]
    assert {m.run_id for m in metrics} == {run_id}
    assert metrics[1].dataset_digest == "d1"
    assert metrics[2].key == "loss"
    assert math.isnan(metrics[2].value)
    # Still the run's metrics too.
    assert client.get_run(run_id).data.metrics == {
        "acc": 0.9,
        "loss": pytest.approx(math.nan, nan_ok=True),
        "other": 1.0,
    }


def test_a_metric_for_an_unknown_model_is_refused_and_nothing_is_written(
    client: MlflowClient, experiment_id: str
) -> None:
    run_id = client.create_run(experiment_id).info.run_id

    with pytest.raises(MlflowException) as err:
        client.log_metric(run_id, "acc", 0.5, model_id="m-0123")

    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert "m-0123" in err.value.message
    assert client.get_run(run_id).data.metrics == {}


def test_search_logged_models_by_metric_with_datasets_and_ordering(
    client: MlflowClient, experiment_id: str
) -> None:
    run_id = client.create_run(experiment_id).info.run_id
    ids = {n: client.create_logged_model(experiment_id, name=n).model_id for n in "abcd"}
    # a: 0.7 then 0.95 on eval; b: 0.9 on eval, 0.99 on train; c: 0.8 on eval; d: none.
    for name, value, dataset in [
        ("a", 0.7, "eval"),
        ("a", 0.95, "eval"),
        ("b", 0.9, "eval"),
        ("b", 0.99, "train"),
        ("c", 0.8, "eval"),
    ]:
        client.log_metric(
            run_id, "acc", value, model_id=ids[name], dataset_name=dataset, dataset_digest="d"
        )

    def names(**kwargs: Any) -> list[str]:
        found = client.search_logged_models([experiment_id], **kwargs)
        return [m.name for m in found]

    # Any point may match, as in MLflow.
    assert set(names(filter_string="metrics.acc > 0.85")) == {"a", "b"}
    assert names(filter_string="metrics.acc > 0.95") == ["b"]
    eval_only = [{"dataset_name": "eval"}]
    assert names(filter_string="metrics.acc > 0.95", datasets=eval_only) == []
    assert set(names(datasets=eval_only)) == {"a", "b", "c"}  # models with points on it
    # Latest point per model, missing values last in either direction.
    best_first = [{"field_name": "metrics.acc", "ascending": False}]
    assert names(order_by=best_first) == ["b", "a", "c", "d"]
    on_eval = [{"field_name": "metrics.acc", "ascending": True, "dataset_name": "eval"}]
    assert names(order_by=on_eval) == ["c", "b", "a", "d"]
    assert names(order_by=[{"field_name": "name", "ascending": True}]) == ["a", "b", "c", "d"]
    with pytest.raises(MlflowException) as err:
        client.search_logged_models([experiment_id], filter_string="metrics.acc = 'high'")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"


@pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning")
def test_log_model_links_the_run_and_the_metrics_logged_after_it(
    mlflow_env: str, unique: str
) -> None:
    x = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1]])
    model = LogisticRegression().fit(x, [0, 1, 0, 1])
    mlflow.set_experiment(f"linked-{unique}")

    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
            pip_requirements=["scikit-learn"],
        )
        # MLflow's fluent API gives these the model's id: it was logged at the same step.
        mlflow.log_metric("auc", 0.91)
        mlflow.log_metrics({"f1": 0.8})

    client = MlflowClient()
    outputs = client.get_run(run.info.run_id).outputs.model_outputs
    assert [(o.model_id, o.step) for o in outputs] == [(info.model_id, 0)]
    logged = client.get_logged_model(info.model_id)
    assert {m.key: m.value for m in logged.metrics} == {"auc": 0.91, "f1": 0.8}
    found = mlflow.search_logged_models(filter_string="metrics.auc > 0.9", output_format="list")
    assert [m.model_id for m in found] == [info.model_id]


def test_logged_model_artifacts_are_listed_and_served_to_the_ui(
    client: MlflowClient, http: httpx.Client, experiment_id: str, tmp_path: Path
) -> None:
    model_id = client.create_logged_model(experiment_id, name="clf").model_id
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "MLmodel").write_text("flavors: {}\n")
    (tmp_path / "pkg" / "sub" / "w.bin").write_bytes(b"\x00\x01")

    client.log_model_artifacts(model_id, str(tmp_path / "pkg"))

    listed = http.get(f"{API}/logged-models/{model_id}/artifacts/directories").json()
    assert listed["root_uri"] == client.get_logged_model(model_id).artifact_location
    assert [(f["path"], f["is_dir"]) for f in listed["files"]] == [
        ("MLmodel", False),
        ("sub", True),
    ]
    nested = http.get(
        f"{API}/logged-models/{model_id}/artifacts/directories",
        params={"artifact_directory_path": "sub"},
    ).json()
    assert nested["files"] == [{"path": "sub/w.bin", "is_dir": False, "file_size": 2}]
    served = http.get(
        f"/ajax-api/2.0/mlflow/logged-models/{model_id}/artifacts/files",
        params={"artifact_file_path": "sub/w.bin"},
    )
    assert (served.status_code, served.content) == (200, b"\x00\x01")
    escape = http.get(
        f"/ajax-api/2.0/mlflow/logged-models/{model_id}/artifacts/files",
        params={"artifact_file_path": "../../other"},
    )
    assert escape.status_code == 400


@pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning")
def test_two_models_in_a_run_keep_each_metric_point_once(mlflow_env: str, unique: str) -> None:
    x = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1]])
    model = LogisticRegression().fit(x, [0, 1, 0, 1])
    options = {
        "serialization_format": mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
        "pip_requirements": ["scikit-learn"],
    }
    mlflow.set_experiment(f"two-{unique}")

    with mlflow.start_run() as run:
        mlflow.log_metric("before", 0.5)  # each log_model re-sends it with its model's id
        first = mlflow.sklearn.log_model(model, name="a", **options)
        second = mlflow.sklearn.log_model(model, name="b", **options)
        mlflow.log_metric("auc", 0.9)  # MLflow's log_metric: the step's first model
        mlflow.log_metrics({"f1": 0.7})  # MLflow's log_metrics: one point per model

    client = MlflowClient()
    run_id = run.info.run_id
    for key in ("before", "auc", "f1"):
        assert len(client.get_metric_history(run_id, key)) == 1, key
    first_keys = [m.key for m in client.get_logged_model(first.model_id).metrics]
    second_keys = [m.key for m in client.get_logged_model(second.model_id).metrics]
    assert (sorted(first_keys), sorted(second_keys)) == (["auc", "before", "f1"], ["before", "f1"])
    outputs = client.get_run(run_id).outputs.model_outputs
    assert [o.model_id for o in outputs] == [first.model_id, second.model_id]  # logging order


def test_run_outputs_and_model_inputs_are_recorded_on_the_run(
    http: httpx.Client, client: MlflowClient, experiment_id: str
) -> None:
    run_id = client.create_run(experiment_id).info.run_id
    produced = client.create_logged_model(experiment_id, source_run_id=run_id).model_id
    consumed = client.create_logged_model(experiment_id).model_id

    ok = http.post(
        f"{API}/runs/outputs",
        json={"run_id": run_id, "models": [{"model_id": produced, "step": 3}]},
    )
    client.log_inputs(run_id, models=[LoggedModelInput(consumed)])
    client.log_inputs(run_id, models=[LoggedModelInput(consumed)])  # once is enough
    bad = http.post(f"{API}/runs/outputs", json={"run_id": run_id, "models": [{"step": 1}]})
    unknown = http.post(
        f"{API}/runs/outputs", json={"run_id": run_id, "models": [{"model_id": "m-nope"}]}
    )

    assert (ok.status_code, ok.json()) == (200, {})
    assert bad.status_code == 400
    assert "models[0].model_id" in bad.json()["message"]
    assert unknown.status_code == 404
    assert "m-nope" in unknown.json()["message"]
    run = client.get_run(run_id)
    assert [(o.model_id, o.step) for o in run.outputs.model_outputs] == [(produced, 3)]
    assert [i.model_id for i in run.inputs.model_inputs] == [consumed]
    searched = client.search_runs([experiment_id])[0]
    assert [o.model_id for o in searched.outputs.model_outputs] == [produced]


def test_viewer_may_read_logged_models_but_not_write(
    client: MlflowClient, viewer_token: str, server_url: str, experiment_id: str
) -> None:
    model_id = client.create_logged_model(experiment_id, name="clf").model_id
    headers = {"Authorization": f"Bearer {viewer_token}"}

    with httpx.Client(base_url=server_url, headers=headers) as viewer:
        got = viewer.get(f"{API}/logged-models/{model_id}")
        searched = viewer.post(
            f"{API}/logged-models/search", json={"experiment_ids": [experiment_id]}
        )
        created = viewer.post(f"{API}/logged-models", json={"experiment_id": experiment_id})
        finalized = viewer.patch(
            f"{API}/logged-models/{model_id}", json={"status": "LOGGED_MODEL_READY"}
        )

    assert (got.status_code, searched.status_code) == (200, 200)
    assert [m["info"]["model_id"] for m in searched.json()["models"]] == [model_id]
    assert (created.status_code, finalized.status_code) == (403, 403)


# mlflow.pyfunc warns about its own type hints when first imported.
@pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning")
def test_log_model_register_and_load_by_version_and_by_approved_alias(
    mlflow_env: str, store_uri: str, unique: str
) -> None:
    x = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1]])
    y = np.array([0, 1, 0, 1])
    model = LogisticRegression().fit(x, y)
    mlflow.set_experiment(f"e2e-{unique}")

    with mlflow.start_run() as run:
        # cloudpickle rather than MLflow 3's default (skops), which needs a package that is
        # not installed, and requirements given rather than inferred (a 5 s subprocess): the
        # server sees the same calls either way.
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            registered_model_name="churn",
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
            pip_requirements=["scikit-learn"],
        )

    assert str(info.registered_model_version) == "1"
    client = MlflowClient()
    version = client.get_model_version("churn", "1")
    assert version.source == f"models:/{info.model_id}"
    assert version.run_id == run.info.run_id
    logged = client.get_logged_model(info.model_id)
    assert logged.status == LoggedModelStatus.READY
    assert logged.source_run_id == run.info.run_id
    # Recorded by the server and appended again by the client: listed once.
    registrations = json.loads(logged.tags["mlflow.modelVersions"])
    assert registrations == [{"name": "churn", "version": "1"}]
    loaded = mlflow.pyfunc.load_model("models:/churn/1")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))

    # champion is protected: it moves only through a request approved by someone else.
    registry = open_sql_stores(store_uri).registry
    request = registry.with_actor("alice").request_promotion(
        "churn", "1", alias="champion", comment="beats the baseline"
    )
    registry.with_actor("bob").approve_promotion(request.request_id, comment="ok")

    champion = mlflow.pyfunc.load_model("models:/churn@champion")
    np.testing.assert_array_equal(champion.predict(x), model.predict(x))
    assert client.get_model_version_by_alias("churn", "champion").version == "1"

    # runs:/RUN/model finds the run's logged model through the logged-model search, both
    # to register it again and to load it.
    again = mlflow.register_model(f"runs:/{run.info.run_id}/model", "churn")
    assert (again.version, again.source) == ("2", f"models:/{info.model_id}")
    by_run = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_array_equal(by_run.predict(x), model.predict(x))
