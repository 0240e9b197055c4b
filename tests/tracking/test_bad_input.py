"""Bad input to the SDK: a Plinth error naming the field, the same embedded and through a
server (the ``tracking`` fixture), and nothing already written is lost or half-written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import plinth
from plinth.config import Settings
from plinth.entities import Metric, Param, RunTag
from plinth.errors import InvalidArgumentError


@pytest.mark.parametrize("artifact_file", ["", "/", ".", "./"])
def test_an_empty_artifact_file_is_refused_and_the_run_keeps_taking_artifacts(
    tracking: Settings, artifact_file: str
) -> None:
    # It used to write the file in place of the run's artifact folder, after which the run
    # could take no other artifact.
    client = plinth.get_client()
    with plinth.start_run(log_environment=False) as run:
        with pytest.raises(InvalidArgumentError, match="artifact path"):
            client.log_text(run.run_id, "x", artifact_file)
        with pytest.raises(InvalidArgumentError, match="artifact path"):
            plinth.log_dict({"a": 1}, artifact_file)
        plinth.log_text("ok", "notes/ok.txt")

    assert [f.path for f in client.list_artifacts(run.run_id)] == ["notes"]


@pytest.mark.parametrize(
    ("call", "named"),
    [
        pytest.param(lambda c, r: c.log_text(r, 5, "a.txt"), "text must be a str", id="text"),
        pytest.param(lambda c, r: c.log_text(r, "a\ud800", "a.txt"), "surrogate", id="surrogate"),
        pytest.param(lambda c, r: c.log_text(r, "x", None), "artifact_file", id="file"),
        pytest.param(lambda c, r: c.log_dict(r, [1], "a.json"), "mapping", id="dict"),
    ],
)
def test_artifact_calls_name_what_is_wrong(
    tracking: Settings, call: Callable[[Any, str], object], named: str
) -> None:
    client = plinth.get_client()
    run_id = client.create_run(client.create_experiment("e")).info.run_id
    with pytest.raises(InvalidArgumentError, match=named):
        call(client, run_id)


def test_one_bad_item_refuses_a_large_batch_before_any_of_it_is_written(
    tracking: Settings,
) -> None:
    # Sent in chunks of the store's batch limits: every item is checked before the first.
    client = plinth.get_client()
    with plinth.start_run(log_environment=False) as run:
        with pytest.raises(InvalidArgumentError, match=r"'\.\.'"):
            plinth.log_params({**{f"p{i}": i for i in range(150)}, "a/../b": 1})
        good = [Metric(key="loss", value=1.0, timestamp=1, step=i) for i in range(1500)]
        with pytest.raises(InvalidArgumentError, match="must be numbers"):
            client.log_batch(
                run.run_id, metrics=[*good, Metric(key="loss", value="x", timestamp=1, step=0)]
            )  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError, match=r"metrics\[0\] must be a Metric"):
            client.log_batch(run.run_id, metrics=[{"key": "loss", "value": 1.0}])  # type: ignore[list-item]

    stored = plinth.get_run(run.run_id).data
    assert stored.params == {} and stored.metrics == {}
    assert client.get_metric_history(run.run_id, "loss") == []


def test_a_batch_may_be_any_iterable_of_entities(tracking: Settings) -> None:
    client = plinth.get_client()
    with plinth.start_run(log_environment=False) as run:
        client.log_batch(run.run_id, params=(Param(f"p{i}", "v") for i in range(150)), tags=None)  # type: ignore[arg-type]

    assert len(plinth.get_run(run.run_id).data.params) == 150


def test_numpy_integers_are_steps_and_timestamps(tracking: Settings) -> None:
    with plinth.start_run(log_environment=False) as run:
        plinth.log_metric("auc", 0.5, step=np.int64(3), timestamp=np.int64(1_700_000_000_000))  # type: ignore[arg-type]

    (point,) = plinth.get_metric_history(run.run_id, "auc")
    assert (point.step, point.timestamp) == (3, 1_700_000_000_000)


def test_zero_is_a_timestamp_and_a_step_not_a_default(tracking: Settings) -> None:
    with plinth.start_run(log_environment=False) as run:
        plinth.log_metric("auc", 0.5, step=0, timestamp=0)

    (point,) = plinth.get_metric_history(run.run_id, "auc")
    assert (point.step, point.timestamp) == (0, 0)


@pytest.mark.parametrize(
    ("call", "named"),
    [
        pytest.param(
            lambda: plinth.log_metric("k", 1.0, timestamp=float("inf")), "timestamp", id="inf-ts"
        ),
        pytest.param(lambda: plinth.log_metric("k", 10**400), "value", id="huge-value"),
        pytest.param(lambda: plinth.log_metric("k", 1.0, step=2**70), "64 bits", id="huge-step"),
        pytest.param(lambda: plinth.log_metric("k", 1.0, step="1"), "step", id="str-step"),
        pytest.param(lambda: plinth.log_metric(["k"], 1.0), "key", id="list-key"),
        pytest.param(
            lambda: plinth.log_metric("k", 1.0, dataset="d"), "plinth.Dataset", id="dataset"
        ),
        pytest.param(lambda: plinth.log_params(["a", 1]), "log_params: params", id="params-list"),
        pytest.param(lambda: plinth.log_metrics("auc"), "log_metrics: metrics", id="metrics-str"),
        pytest.param(lambda: plinth.set_tags(5), "set_tags: tags", id="tags-int"),
    ],
)
def test_logging_calls_name_what_is_wrong(
    tracking: Settings, call: Callable[[], object], named: str
) -> None:
    with plinth.start_run(log_environment=False) as run:
        plinth.log_param("kept", "1")
        with pytest.raises(InvalidArgumentError, match=named):
            call()

    assert plinth.get_run(run.run_id).data.params == {"kept": "1"}
    assert plinth.get_run(run.run_id).data.metrics == {}


def test_start_run_tags_must_be_a_mapping(tracking: Settings) -> None:
    with pytest.raises(InvalidArgumentError, match="start_run: tags"):
        plinth.start_run(tags=["team"])  # type: ignore[arg-type]
    assert plinth.active_run() is None


def test_set_terminated_only_ends_a_run(tracking: Settings) -> None:
    client = plinth.get_client()
    experiment_id = client.create_experiment("e")
    run_id = client.create_run(experiment_id).info.run_id

    with pytest.raises(InvalidArgumentError, match="FINISHED, FAILED or KILLED"):
        client.set_terminated(run_id, "RUNNING")

    info = client.get_run(run_id).info
    assert (info.status, info.end_time) == ("RUNNING", None)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c, e, r: c.get_metric_history(r, ["loss"]), id="history-key"),
        pytest.param(lambda c, e, r: c.get_metric_history(r, 2**70), id="history-huge-key"),
        pytest.param(lambda c, e, r: c.delete_tag(r, ["t"]), id="tag-key"),
        pytest.param(lambda c, e, r: c.get_registered_model(["m"]), id="model-name"),
        pytest.param(lambda c, e, r: c.add_comment(r, 5), id="comment"),
        pytest.param(lambda c, e, r: c.search_runs([e], filter_string=5), id="filter"),
        pytest.param(lambda c, e, r: c.search_runs([e], order_by=[5]), id="order-item"),
        pytest.param(lambda c, e, r: c.search_runs([e], order_by="metrics.a"), id="order-str"),
        pytest.param(lambda c, e, r: c.search_runs([e], page_token=5), id="page-token"),
        pytest.param(lambda c, e, r: c.search_runs([e], run_view_type="SOME"), id="view-type"),
        pytest.param(lambda c, e, r: c.create_experiment("a\x00b"), id="nul-in-name"),
    ],
)
def test_wrong_types_are_invalid_arguments_on_every_backend(
    tracking: Settings, call: Callable[[Any, str, str], object]
) -> None:
    client = plinth.get_client()
    experiment_id = client.create_experiment("e")
    run_id = client.create_run(experiment_id).info.run_id

    with pytest.raises(InvalidArgumentError):
        call(client, experiment_id, run_id)


def test_a_view_type_is_taken_by_name_or_mlflows_number(tracking: Settings) -> None:
    client = plinth.get_client()
    experiment_id = client.create_experiment("e")
    run_id = client.create_run(experiment_id).info.run_id
    client.delete_run(run_id)

    for view_type in ("ALL", "deleted_only", 2, 3):
        found = client.search_runs([experiment_id], run_view_type=view_type)  # type: ignore[arg-type]
        assert [r.info.run_id for r in found] == [run_id], view_type


@pytest.mark.parametrize(
    ("call", "named"),
    [
        pytest.param(lambda c: c.create_user("eve", role="god"), "Unknown role", id="role"),
        pytest.param(lambda c: c.update_user("admin", active="no"), "active", id="active"),
        pytest.param(
            lambda c: c.list_promotion_requests(status="bogus"), "Unknown status", id="status"
        ),
        pytest.param(lambda c: c.request_promotion("m", 1, checks=5), "checks", id="checks"),
        pytest.param(
            lambda c: c.download_artifacts("0" * 32, "", dst_path=5), "dst_path", id="dst"
        ),
        pytest.param(
            lambda c: c.list_artifacts(c.create_run("0").info.run_id, ["x"]),
            "artifact path",
            id="path",
        ),
        pytest.param(lambda c: plinth.search_runs(max_results="5"), "max_results", id="max"),
        pytest.param(
            lambda c: plinth.search_registered_models(max_results="x"), "max_results", id="models"
        ),
        pytest.param(lambda c: plinth.log_config(5), "log_config: config", id="config"),
    ],
)
def test_sdk_calls_name_the_argument_that_is_wrong(
    tracking: Settings, call: Callable[[Any], object], named: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=named):
        call(plinth.get_client())


def test_a_bad_log_config_call_logs_nothing(tracking: Settings) -> None:
    with plinth.start_run(log_environment=False) as run:
        with pytest.raises(InvalidArgumentError, match="artifact_file"):
            plinth.log_config({"lr": 0.1}, artifact_file=5)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError, match="'\\.\\.'"):
            plinth.log_config({"lr": 0.1}, artifact_file="../x.json")
        with pytest.raises(InvalidArgumentError, match="log_input: tags"):
            plinth.log_input(np.zeros((2, 2)), name="d", tags=["a"])  # type: ignore[arg-type]

    assert plinth.get_run(run.run_id).data.params == {}


def test_one_experiment_name_is_not_read_letter_by_letter(tracking: Settings) -> None:
    plinth.set_experiment("rep")
    with plinth.start_run(log_environment=False) as run:
        pass

    assert list(plinth.search_runs(experiment_names="rep")["run_id"]) == [run.run_id]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("batch", "named"),
    [
        pytest.param(
            {"params": [Param(f"p{i}", "v") for i in range(150)] + [Param("p10", "other")]},
            "appears twice",
            id="param-changed-in-a-later-chunk",
        ),
        pytest.param(
            {"tags": [RunTag(f"t{i}", "v") for i in range(140)] + [RunTag("t", "x\ud800")]},
            "unpaired surrogate",
            id="tag-not-unicode",
        ),
        pytest.param(
            {
                "tags": [RunTag(f"t{i}", "v") for i in range(140)]
                + [RunTag("mlflow.runName", "x" * 300)]
            },
            "run_name",
            id="run-name-too-long",
        ),
        pytest.param(
            {"metrics": [Metric(key=["k"], value=1.0, timestamp=1, step=0)]},  # type: ignore[arg-type]
            "key",
            id="list-key",
        ),
    ],
)
def test_a_chunked_batch_is_refused_whole_for_any_rule_of_the_store(
    tracking: Settings, batch: dict[str, Any], named: str
) -> None:
    client = plinth.get_client()
    run_id = client.create_run(client.create_experiment("e")).info.run_id

    with pytest.raises(InvalidArgumentError, match=named):
        client.log_batch(run_id, **batch)

    data = client.get_run(run_id).data
    assert data.params == {} and data.metrics == {}
    assert not any(k.startswith("t") for k in data.tags)


def test_a_step_error_names_the_call(tracking: Settings) -> None:
    with (
        plinth.start_run(log_environment=False),
        pytest.raises(InvalidArgumentError, match="log_metric step must be an integer"),
    ):
        plinth.log_metric("k", 1.0, step="x")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c: c.search_runs(5), id="search-ids"),
        pytest.param(lambda c: c.search_runs("0"), id="search-one-id-str"),
        pytest.param(lambda c: c.log_artifact(c.create_run("0").info.run_id, None), id="artifact"),
        pytest.param(lambda c: c.log_artifacts(c.create_run("0").info.run_id, 5), id="artifacts"),
        pytest.param(lambda c: c.create_experiment("e", tags=["a"]), id="experiment-tags"),
        pytest.param(lambda c: c.create_run("0", tags=["a"]), id="run-tags"),
        pytest.param(lambda c: plinth.set_experiment(b"x"), id="bytes-experiment"),
    ],
)
def test_more_wrong_types_are_invalid_arguments(
    tracking: Settings, call: Callable[[Any], object]
) -> None:
    client = plinth.get_client()
    with pytest.raises(InvalidArgumentError):
        call(client)
    assert client.get_experiment_by_name("x") is None


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c: c.get_registered_model(123), id="model"),
        pytest.param(lambda c: c.get_model_version(["m"], "1"), id="version"),
        pytest.param(lambda c: c.get_model_version_by_alias("m", 5), id="alias"),
    ],
)
def test_registry_lookups_of_the_wrong_type_are_invalid_arguments(
    tracking: Settings, call: Callable[[Any], object]
) -> None:
    client = plinth.get_client()
    client.create_registered_model("m")
    with pytest.raises(InvalidArgumentError):
        call(client)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c, r: c.log_dict(r, {(1, 2): "x"}, "d.json"), id="tuple-key"),
        pytest.param(lambda c, r: c.log_dict(r, {"a": object()}, "d.yaml"), id="yaml-object"),
        pytest.param(lambda c, r: c.log_inputs(r, ["x"]), id="inputs"),
        pytest.param(lambda c, r: c.log_outputs(r, ["x"]), id="outputs"),
        pytest.param(lambda c, r: c.log_param(r, np.int64(3), "v"), id="numpy-key"),
    ],
)
def test_run_calls_with_unwritable_values_are_invalid_arguments(
    tracking: Settings, call: Callable[[Any, str], object]
) -> None:
    client = plinth.get_client()
    run_id = client.create_run("0").info.run_id
    with pytest.raises(InvalidArgumentError):
        call(client, run_id)
    assert client.list_artifacts(run_id) == []
