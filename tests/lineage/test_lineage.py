"""``plinth.lineage``: a model version's source run, code, params, metrics, data inputs,
parent runs and comments, embedded and against a live server."""

from __future__ import annotations

import pandas as pd
import pytest
from rich.console import Console

import plinth
from plinth.config import Settings
from plinth.entities import RunStatus
from plinth.errors import InvalidArgumentError, NotFoundError
from plinth.lineage import CodeVersion
from plinth.lineage.model_lineage import code_version
from plinth.lineage.render import render_lineage

GIT_TAGS = {
    "mlflow.source.git.commit": "3f2c1a9e" * 5,
    "mlflow.source.git.branch": "main",
    "mlflow.source.git.repoURL": "https://git.example.com/ml/churn.git",
    "mlflow.source.name": "train.py",
    "plinth.git.dirty": "true",
}
CUSTOMERS = pd.DataFrame({"tenure": [1, 12, 40], "churned": [1, 0, 0]})


def _pipeline_with_a_registered_child() -> tuple[str, str]:
    """A parent run (the pipeline) with a nested training run, registered as churn v1."""
    plinth.set_experiment("churn-lineage")
    with (
        plinth.start_run(run_name="pipeline", log_environment=False) as parent,
        plinth.start_run(
            run_name="train", nested=True, tags=GIT_TAGS, log_environment=False
        ) as child,
    ):
        plinth.log_params({"max_depth": 3, "model": "gbm"})
        plinth.log_metrics({"val_auc": 0.81, "val_loss": 0.42})
        plinth.log_input(CUSTOMERS, name="customers", context="training")
        plinth.log_text("flavors: {}\n", "model/MLmodel")
    plinth.add_comment(child.run_id, "AUC holds on the holdout")
    plinth.register_model(f"runs:/{child.run_id}/model", "churn")
    return parent.run_id, child.run_id


def test_model_lineage_reaches_run_code_data_and_parents(tracking: Settings) -> None:
    parent_id, run_id = _pipeline_with_a_registered_child()

    found = plinth.lineage("models:/churn/1")

    assert found.model_version is not None
    assert (found.model_version.name, found.model_version.version) == ("churn", "1")
    assert found.run is not None
    assert (found.run.run_id, found.run.run_name) == (run_id, "train")
    assert found.run.status is RunStatus.FINISHED
    assert found.run.experiment_name == "churn-lineage"
    assert found.code == CodeVersion(
        git_commit=GIT_TAGS["mlflow.source.git.commit"],
        git_dirty=True,
        git_branch="main",
        git_remote="https://git.example.com/ml/churn.git",
        entry_point="train.py",
    )
    assert found.params == {"max_depth": "3", "model": "gbm"}
    assert found.metrics == {"val_auc": 0.81, "val_loss": 0.42}
    assert [(i.name, i.context) for i in found.inputs] == [("customers", "training")]
    assert found.inputs[0].digest
    assert [p.run_id for p in found.parents] == [parent_id]
    assert [c.text for c in found.comments] == ["AUC holds on the holdout"]


def test_aliases_stages_and_run_uris_reach_the_same_run(tracking: Settings) -> None:
    _parent_id, run_id = _pipeline_with_a_registered_child()
    plinth.set_registered_model_alias("churn", "challenger", 1)
    plinth.transition_model_version_stage("churn", 1, "Staging")

    by_alias = plinth.lineage("models:/churn@challenger")
    by_stage = plinth.lineage("models:/churn/Staging")
    by_run = plinth.lineage(f"runs:/{run_id}")

    assert by_alias.run == by_stage.run == by_run.run
    assert by_run.model_version is None
    assert by_run.params == by_alias.params


def test_a_version_registered_from_a_path_has_no_source_run(tracking: Settings) -> None:
    plinth.get_client().create_model_version("churn", "s3://bucket/models/churn")

    found = plinth.lineage("models:/churn/1")

    assert found.model_version is not None
    assert found.run is None
    assert found.parents == []


@pytest.mark.parametrize(
    ("uri", "error"),
    [
        pytest.param("s3://bucket/model", InvalidArgumentError, id="not-a-model-uri"),
        pytest.param("models:/churn", InvalidArgumentError, id="no-version"),
        pytest.param("models:/nope/1", NotFoundError, id="unknown-model"),
        pytest.param("runs:/0123456789abcdef0123456789abcdef", NotFoundError, id="unknown-run"),
    ],
)
def test_bad_or_unknown_uris_raise(tracking: Settings, uri: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        plinth.lineage(uri)


@pytest.mark.parametrize(
    ("tags", "dirty"),
    [
        pytest.param({"plinth.git.dirty": "true"}, True, id="dirty"),
        pytest.param({"plinth.git.dirty": "False"}, False, id="clean"),
        pytest.param({}, None, id="unknown"),
    ],
)
def test_code_version_reads_the_dirty_flag(tags: dict[str, str], dirty: bool | None) -> None:
    assert code_version(tags).git_dirty is dirty


def test_render_shows_every_part(tracking: Settings) -> None:
    _pipeline_with_a_registered_child()
    console = Console(record=True, width=200)

    console.print(render_lineage(plinth.lineage("models:/churn/1")))

    text = console.export_text()
    for expected in (
        "churn version 1",
        GIT_TAGS["mlflow.source.git.commit"],
        "uncommitted changes",
        "max_depth",
        "val_auc",
        "customers",
        "pipeline",
        "AUC holds on the holdout",
    ):
        assert expected in text
