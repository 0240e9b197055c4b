"""``log_model`` into a run, then ``load_model`` by every URI form, embedded and against a
live server (the ``tracking`` fixture runs each test both ways)."""

from __future__ import annotations

import warnings
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from tests.conftest import LiveServer
from tests.models.conftest import LinearScorer, fit, make_frame

import plinth
from plinth.client import Client
from plinth.config import Settings
from plinth.entities import LoggedModelOutput
from plinth.entities.registry import LoggedModelStatus, Stage
from plinth.errors import AlreadyExistsError, ConflictError, InvalidArgumentError, NotFoundError
from plinth.models import ModelInfo, load_model, log_model

MODEL_URI_TAG = "plinth.model_uri"


def log_sklearn(tmp_path: Path, **kwargs: object) -> tuple[ModelInfo, object]:
    fitted = fit("sklearn", tmp_path)
    with plinth.start_run(log_environment=False):
        info = log_model(fitted.model, input_example=make_frame(3), **kwargs)  # type: ignore[arg-type]
    return info, fitted.model


def test_a_logged_model_loads_from_its_runs_uri(tracking: Settings, tmp_path: Path) -> None:
    info, model = log_sklearn(tmp_path)

    loaded = load_model(f"runs:/{info.run_id}/model")

    frame = make_frame(20, seed=1)
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))  # type: ignore[attr-defined]
    assert info.model_uri == f"runs:/{info.run_id}/model"
    assert loaded.metadata.run_id == info.run_id
    assert loaded.metadata.model_id == info.model_id
    assert loaded.metadata.signature == info.signature
    assert loaded.metadata.verified


def test_log_model_records_a_ready_logged_model_pointing_at_the_run(
    tracking: Settings, tmp_path: Path
) -> None:
    info, _ = log_sklearn(tmp_path)

    logged = plinth.get_client().get_logged_model(info.model_id)

    assert logged.status is LoggedModelStatus.READY
    assert logged.source_run_id == info.run_id
    assert logged.tags[MODEL_URI_TAG] == info.model_uri
    assert load_model(f"models:/{info.model_id}").metadata.model_id == info.model_id


def test_the_logged_model_is_the_runs_output_and_takes_the_metrics_of_its_step(
    tracking: Settings, tmp_path: Path
) -> None:
    fitted = fit("sklearn", tmp_path)
    with plinth.start_run(log_environment=False) as run:
        plinth.log_metric("before", 1.0)  # step 0: the model's too, once it is logged
        plinth.log_metric("early", 2.0, step=1)  # another step: the run's alone
        info = log_model(fitted.model, input_example=make_frame(3))
        plinth.log_metric("auc", 0.9)  # step 0, the model's step: the model's too (MLflow 3)
        plinth.log_metrics({"f1": 0.7, "acc": 0.8}, step=1, model_id=info.model_id)
        plinth.log_metric("loss", 0.1, step=2)  # another step: the run's alone

    client = plinth.get_client()
    outputs = client.get_run(run.info.run_id).outputs.model_outputs
    assert outputs == [LoggedModelOutput(model_id=info.model_id, step=0)]
    metrics = client.get_logged_model(info.model_id).metrics
    assert {m.key: (m.value, m.step) for m in metrics} == {
        "acc": (0.8, 1),
        "auc": (0.9, 0),
        "before": (1.0, 0),
        "f1": (0.7, 1),
    }
    assert len(client.get_metric_history(run.info.run_id, "before")) == 1  # kept once
    assert client.get_run(run.info.run_id).inputs.model_inputs == []  # its own output
    experiment_id = run.info.experiment_id
    found = client.search_logged_models(
        [experiment_id],
        filter_string="metrics.auc > 0.5",
        order_by=[{"field_name": "metrics.f1", "ascending": False}],
    )
    assert [m.model_id for m in found] == [info.model_id]
    with pytest.raises(InvalidArgumentError, match="LoggedModelOrder"):
        client.search_logged_models([experiment_id], order_by=["metrics.f1"])  # type: ignore[list-item]


def test_fluent_metrics_go_to_every_model_of_their_step_also_after_a_resume(
    tracking: Settings, tmp_path: Path
) -> None:
    fitted = fit("sklearn", tmp_path)
    with plinth.start_run(log_environment=False) as baseline_run:
        baseline = log_model(fitted.model, name="baseline")
    with plinth.start_run(log_environment=False) as run:
        first = log_model(fitted.model, name="a")
        second = log_model(fitted.model, name="b")
        holdout = plinth.log_input(make_frame(5), name="holdout", context="evaluation")
        plinth.log_metric("auc", 0.9, dataset=holdout)
        plinth.log_metric("base_auc", 0.8, model_id=baseline.model_id)
        audit = plinth.Dataset(name="audit", digest="d1", source_type="code", source="sql")
        plinth.log_metric("audit_auc", 0.7, dataset=audit)  # not logged before: an input now
    with plinth.start_run(run_id=run.info.run_id, log_environment=False):
        plinth.log_metrics({"resumed": 1.0})

    client = plinth.get_client()
    for info in (first, second):
        points = client.get_logged_model(info.model_id).metrics
        assert {(m.key, m.dataset_name) for m in points} == {
            ("auc", "holdout"),
            ("audit_auc", "audit"),
            ("resumed", None),
        }
    assert len(client.get_metric_history(run.info.run_id, "auc")) == 1
    assert [m.key for m in client.get_logged_model(baseline.model_id).metrics] == ["base_auc"]
    stored = client.get_run(run.info.run_id)
    assert [o.model_id for o in stored.outputs.model_outputs] == [first.model_id, second.model_id]
    assert [m.model_id for m in stored.inputs.model_inputs] == [baseline.model_id]
    contexts = {(d.dataset.name, d.context) for d in stored.inputs.dataset_inputs}
    assert contexts == {("audit", "evaluation"), ("holdout", "evaluation")}
    assert baseline_run.info.run_id != run.info.run_id


def test_a_second_package_under_the_same_name_is_refused(
    tracking: Settings, tmp_path: Path
) -> None:
    fitted = fit("sklearn", tmp_path)
    with plinth.start_run(log_environment=False) as run:
        log_model(fitted.model, name="model")
        with pytest.raises(AlreadyExistsError, match="another name"):
            log_model(fitted.model, name="model")
        later = log_model(fitted.model, name="model-b", step=7)

    client = plinth.get_client()
    outputs = client.get_run(run.info.run_id).outputs.model_outputs
    assert [o.step for o in outputs] == [0, 7]
    assert outputs[1].model_id == later.model_id
    assert len(client.search_logged_models([run.info.experiment_id]).items) == 2


def test_log_model_into_a_deleted_run_is_refused_before_anything_is_created(
    tracking: Settings, tmp_path: Path
) -> None:
    fitted = fit("sklearn", tmp_path)
    client = plinth.get_client()
    run = client.create_run(client.create_experiment("deleted-run"))
    client.delete_run(run.info.run_id)

    with pytest.raises(ConflictError, match="deleted"):
        log_model(fitted.model, run_id=run.info.run_id, client=client)

    assert client.search_logged_models([run.info.experiment_id]).items == []
    assert client.list_artifacts(run.info.run_id) == []


def test_registered_model_name_creates_a_version_loadable_by_every_models_uri(
    tracking: Settings, tmp_path: Path
) -> None:
    info, model = log_sklearn(tmp_path, registered_model_name="churn")
    client = plinth.get_client()
    client.set_registered_model_alias("churn", "challenger", "1")
    client.transition_model_version_stage("churn", "1", Stage.STAGING)

    version = info.registered_model_version
    assert version is not None
    assert (version.name, version.version, version.run_id) == ("churn", "1", info.run_id)
    frame = make_frame(10, seed=2)
    for uri in ("models:/churn/1", "models:/churn@challenger", "models:/churn/Staging"):
        loaded = load_model(uri)
        np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))  # type: ignore[attr-defined]
        assert loaded.metadata.run_id == info.run_id


def test_log_model_outside_a_run_starts_one(tracking: Settings, tmp_path: Path) -> None:
    fitted = fit("sklearn", tmp_path)

    info = log_model(fitted.model, "clf")

    active = plinth.active_run()
    assert active is not None and active.run_id == info.run_id
    assert [f.path for f in plinth.list_artifacts(info.run_id, "clf")].count("clf/MLmodel") == 1


def test_a_failed_save_leaves_a_failed_logged_model(tracking: Settings, tmp_path: Path) -> None:
    fitted = fit("sklearn", tmp_path)
    client = plinth.get_client()

    with plinth.start_run(log_environment=False) as run:
        # The example passes the argument checks but the model cannot predict it: the
        # failure comes mid-save, after the logged model exists.
        with pytest.raises(InvalidArgumentError, match="cannot predict its input_example"):
            log_model(fitted.model, input_example=[{"unknown": 1.0}])
        experiment_id = run.info.experiment_id

    logged = client.stores.registry.search_logged_models([experiment_id]).items
    assert [m.status for m in logged] == [LoggedModelStatus.FAILED]


def test_an_unknown_run_or_model_is_not_found(tracking: Settings) -> None:
    with pytest.raises(NotFoundError):
        load_model("runs:/0123456789abcdef0123456789abcdef/model")
    with pytest.raises(NotFoundError):
        load_model("models:/nobody/1")


def test_a_bad_name_is_refused_before_anything_is_created(tracking: Settings) -> None:
    with pytest.raises(InvalidArgumentError, match="relative artifact path"):
        log_model(object(), "../escape")
    with pytest.raises(InvalidArgumentError, match="must be a str"):
        log_model(object(), 5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        pytest.param({"step": 1.5}, "step", id="step"),
        pytest.param({"registered_model_name": "a:b"}, "registered model name", id="model-name"),
        pytest.param({"signature": "tenure double"}, "signature must be", id="signature-str"),
        pytest.param({"signature": {"inputs": "[{"}}, "not valid JSON", id="signature-dict"),
        pytest.param({"input_example": "not data"}, "input_example must be", id="example"),
        pytest.param({"artifacts": ["weights.json"]}, "artifacts must be a dict", id="artifacts"),
        pytest.param({"artifacts": {"w": "x"}}, "artifacts= is for", id="artifacts-sklearn"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_created(
    tracking: Settings, tmp_path: Path, kwargs: dict[str, object], named: str
) -> None:
    # They used to be checked after the upload, leaving a package and a READY logged model
    # behind that the corrected call then collided with.
    fitted = fit("sklearn", tmp_path)
    client = plinth.get_client()
    with plinth.start_run(log_environment=False) as run:
        with pytest.raises(InvalidArgumentError, match=named):
            log_model(fitted.model, name="model", **kwargs)  # type: ignore[arg-type]
        log_model(fitted.model, name="model")

    assert len(client.search_logged_models([run.info.experiment_id]).items) == 1


@pytest.mark.parametrize(
    ("artifacts", "named"),
    [
        pytest.param({"../w": "weights.json"}, "single path components", id="name"),
        pytest.param({5: "weights.json"}, "single path components", id="name-type"),
        pytest.param({"w": 5}, "must be a local path", id="source-type"),
        pytest.param({"w": "missing.json"}, "not a local file", id="missing"),
    ],
)
def test_bad_python_model_artifacts_are_refused_before_anything_is_created(
    tracking: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    artifacts: dict[object, object],
    named: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("weights.json").write_text('{"tenure": 0.1}')
    client = plinth.get_client()
    with plinth.start_run(log_environment=False) as run:
        with pytest.raises(InvalidArgumentError, match=named):
            log_model(LinearScorer(), artifacts=artifacts)  # type: ignore[arg-type]
        log_model(LinearScorer(), artifacts={"weights": "weights.json"})

    assert len(client.search_logged_models([run.info.experiment_id]).items) == 1


def test_mlflows_own_signature_is_taken(tracking: Settings, tmp_path: Path) -> None:
    from mlflow.models import infer_signature as mlflow_infer_signature

    fitted = fit("sklearn", tmp_path)
    with warnings.catch_warnings():  # MLflow's hint on integer columns (errors in tests)
        warnings.simplefilter("ignore")
        signature = mlflow_infer_signature(fitted.inputs, fitted.raw_predict(fitted.inputs))
    with plinth.start_run(log_environment=False):
        info = log_model(fitted.model, signature=signature)

    assert info.signature is not None
    assert info.signature.column_names == list(fitted.inputs.columns)
    assert load_model(info.model_uri).metadata.signature == info.signature


@pytest.mark.parametrize("kind", ["params", "nested-column"])
def test_mlflow_signatures_plinth_cannot_keep_are_refused(
    tracking: Settings, tmp_path: Path, kind: str
) -> None:
    # Written back with less in it, the package would say something else than given, and
    # MLflow could no longer read a nested column type without its items.
    from mlflow.models.signature import ModelSignature as MlflowSignature
    from mlflow.types.schema import Array, ColSpec, ParamSchema, ParamSpec, Schema

    inputs = Schema([ColSpec("double", "tenure"), ColSpec("long", "calls")])
    if kind == "params":
        params = ParamSchema([ParamSpec("temperature", "double", 0.5)])
        signature = MlflowSignature(inputs=inputs, params=params)
    else:
        signature = MlflowSignature(inputs=Schema([ColSpec(Array("double"), "tenure")]))
    fitted = fit("sklearn", tmp_path)
    with (
        plinth.start_run(log_environment=False) as run,
        pytest.raises(InvalidArgumentError, match="signature"),
    ):
        log_model(fitted.model, signature=signature)

    assert not plinth.get_client().search_logged_models([run.info.experiment_id]).items


def test_a_runs_uri_leaving_its_run_is_refused_as_a_source(
    tracking: Settings, tmp_path: Path
) -> None:
    first, _ = log_sklearn(tmp_path)
    second, _ = log_sklearn(tmp_path)
    crossing = f"runs:/{first.run_id}/../{second.run_id}/artifacts/model"

    with pytest.raises(InvalidArgumentError, match="'\\.\\.'"):
        plinth.register_model(crossing, "forged")
    with pytest.raises(InvalidArgumentError, match="model_uri"):
        plinth.register_model(None, "forged")  # type: ignore[arg-type]


# -- embedded specifics ------------------------------------------------------------------------
def test_an_explicit_client_needs_a_run_id(settings: Settings, tmp_path: Path) -> None:
    client = Client(settings)

    with pytest.raises(InvalidArgumentError, match="run_id="):
        log_model(fit("sklearn", tmp_path).model, client=client)


def test_a_local_artifact_root_is_loaded_in_place(settings: Settings, tmp_path: Path) -> None:
    client = Client(settings)
    run = client.create_run("0")
    info = log_model(fit("sklearn", tmp_path).model, run_id=run.info.run_id, client=client)

    loaded = load_model(info.model_uri, client=client)

    assert loaded.metadata.path.is_relative_to(settings.artifact_root)


def test_local_paths_and_file_uris_load(tmp_path: Path) -> None:
    from plinth.models import save_model

    package = save_model(fit("sklearn", tmp_path).model, tmp_path / "pkg").path

    assert load_model(str(package)).metadata.path == package
    assert load_model(f"file://{package}").metadata.path == package


def test_a_directory_without_mlmodel_is_not_a_package(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no MLmodel"):
        load_model(tmp_path)


# -- a server: packages are downloaded once ----------------------------------------------------
def test_a_remote_package_is_downloaded_once_into_the_cache(
    live_server: LiveServer, tmp_path: Path
) -> None:
    client = Client(
        Settings(home=tmp_path / "home", uri=live_server.url, token=live_server.admin_token)
    )
    run = client.create_run("0")
    info = log_model(fit("sklearn", tmp_path).model, run_id=run.info.run_id, client=client)
    cache = tmp_path / "cache"

    first = load_model(info.model_uri, client=client, dst_path=cache)
    second = load_model(info.model_uri, client=client, dst_path=cache)

    assert first.metadata.path == second.metadata.path
    assert first.metadata.path.parent == cache
    assert [p.name for p in cache.iterdir()] == [first.metadata.path.name]


def test_a_model_mlflow_logged_to_a_plinth_server_loads_by_every_uri(
    live_server: LiveServer, mlflow: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", live_server.url)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", live_server.admin_token)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    fitted = fit("sklearn", tmp_path)
    mlflow.set_experiment("logged-by-mlflow")
    with mlflow.start_run() as run, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLflow's advice on pickle and skops
        # MLflow 3 puts the package with the logged model (models:/m-...), not the run.
        info = mlflow.sklearn.log_model(
            fitted.model,
            name="model",
            registered_model_name="churn",
            serialization_format="cloudpickle",
            pip_requirements=["scikit-learn"],
        )
    client = Client(
        Settings(home=tmp_path / "home", uri=live_server.url, token=live_server.admin_token)
    )

    for uri in ("models:/churn/1", f"models:/{info.model_id}", f"runs:/{run.info.run_id}/model"):
        loaded = load_model(uri, client=client)
        np.testing.assert_array_equal(
            np.asarray(loaded.predict(fitted.inputs)), fitted.raw_predict(fitted.inputs)
        )
        assert loaded.metadata.run_id == run.info.run_id
        assert not loaded.metadata.verified
    # Registered by Plinth through the run's URI: the run holds no package, its logged model
    # does, and the version takes it from there (as mlflow.register_model does).
    plinth.set_tracking_uri(settings=client.settings)
    version = plinth.register_model(f"runs:/{run.info.run_id}/model", "via-plinth")
    assert version.source == f"models:/{info.model_id}" and version.run_id == run.info.run_id
    loaded = load_model("models:/via-plinth/1", client=client)
    np.testing.assert_array_equal(
        np.asarray(loaded.predict(fitted.inputs)), fitted.raw_predict(fitted.inputs)
    )


def test_a_runs_uri_without_a_model_is_not_registered(tracking: Settings) -> None:
    with plinth.start_run(log_environment=False) as run:
        plinth.log_text("not a model", "notes.txt")

    with pytest.raises(NotFoundError, match="logged no model named 'model'"):
        plinth.register_model(f"runs:/{run.info.run_id}/model", "nothing")
    with pytest.raises(NotFoundError):
        plinth.get_registered_model("nothing")
