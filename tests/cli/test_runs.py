"""``plinth runs``: list, show, compare, comments and lifecycle."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from plinth.cli.runs import MAX_MODELS_LOOKED_UP, column_keys, referenced_keys
from plinth.client import Client
from plinth.entities import (
    Dataset,
    DatasetInput,
    LoggedModelInput,
    LoggedModelOutput,
    RunTag,
)

Cli = Callable[..., Result]
MakeRun = Callable[..., str]


@pytest.fixture
def experiment_id(client: Client) -> str:
    return client.create_experiment("churn")


@pytest.fixture
def two_runs(experiment_id: str, make_run: MakeRun) -> tuple[str, str]:
    """A strong and a weak run differing in ``C`` and ``auc``, equal in ``solver``."""
    strong = make_run(
        experiment_id,
        name="strong",
        params={"C": "1.0", "solver": "lbfgs"},
        metrics={"auc": [0.7, 0.91]},
    )
    weak = make_run(
        experiment_id,
        name="weak",
        params={"C": "0.1", "solver": "lbfgs"},
        metrics={"auc": [0.6, 0.72]},
    )
    return strong, weak


# -- list ------------------------------------------------------------------------------------
def test_list_shows_runs_with_their_key_metrics(cli: Cli, two_runs: tuple[str, str]) -> None:
    result = cli("runs", "list", "--experiment", "churn")

    assert result.exit_code == 0, result.output
    for run_id in two_runs:
        assert run_id in result.stdout
    assert "auc" in result.stdout
    assert "0.91" in result.stdout
    assert "FINISHED" in result.stdout


def test_list_filters_and_orders(cli: Cli, two_runs: tuple[str, str]) -> None:
    strong, _weak = two_runs

    result = cli(
        "runs", "list", "-e", "churn", "--filter", "metrics.auc > 0.8",
        "--order-by", "metrics.auc DESC", "-o", "json",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert [run["info"]["run_id"] for run in json.loads(result.stdout)] == [strong]


def test_list_order_by_is_repeatable(cli: Cli, experiment_id: str, make_run: MakeRun) -> None:
    first = make_run(experiment_id, name="a", params={"C": "1"}, metrics={"auc": [0.8]})
    second = make_run(experiment_id, name="b", params={"C": "2"}, metrics={"auc": [0.8]})

    result = cli(
        "runs", "list", "-e", "churn", "--order-by", "metrics.auc DESC",
        "--order-by", "params.C DESC", "-o", "json",
    )  # fmt: skip

    assert [r["info"]["run_id"] for r in json.loads(result.stdout)] == [second, first]


def test_list_accepts_an_experiment_id(
    cli: Cli, experiment_id: str, two_runs: tuple[str, str]
) -> None:
    result = cli("runs", "list", "--experiment", experiment_id, "-o", "json")

    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)) == 2


def test_list_caps_results_and_says_so(cli: Cli, two_runs: tuple[str, str]) -> None:
    result = cli("runs", "list", "-e", "churn", "--max-results", "1")

    assert result.exit_code == 0, result.output
    assert "More runs match" in result.stdout


def test_list_of_an_unknown_experiment_exits_3(cli: Cli) -> None:
    result = cli("runs", "list", "--experiment", "nope")

    assert result.exit_code == 3
    assert result.stderr.startswith("Error: No experiment is named 'nope'")


def test_list_with_a_malformed_filter_exits_2(cli: Cli, two_runs: tuple[str, str]) -> None:
    result = cli("runs", "list", "-e", "churn", "--filter", "metrics.auc >>> 1")

    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ")
    assert "Traceback" not in result.output


# -- show ------------------------------------------------------------------------------------
def test_show_prints_info_params_metrics_tags_inputs_models_comments_and_artifacts(
    cli: Cli, client: Client, experiment_id: str, make_run: MakeRun, tmp_path: Path
) -> None:
    run_id = make_run(
        experiment_id,
        name="full",
        params={"C": "1.0"},
        metrics={"auc": [0.5, 0.93]},
        tags={"team": "growth", "mlflow.source.name": "train.py"},
    )
    dataset = Dataset(name="customers", digest="abc123", source_type="code", source="in-memory")
    context = RunTag("mlflow.data.context", "training")
    client.log_inputs(run_id, [DatasetInput(dataset=dataset, tags=[context])])
    client.add_comment(run_id, "looks promising")
    client.log_text(run_id, "weights", "model/weights.txt")
    produced = client.stores.registry.create_logged_model(experiment_id, name="clf").model_id
    consumed = client.stores.registry.create_logged_model(experiment_id, name="base").model_id
    client.log_outputs(run_id, [LoggedModelOutput(model_id=produced, step=3)])
    client.log_inputs(run_id, models=[LoggedModelInput(model_id=consumed)])

    result = cli("runs", "show", run_id)

    assert result.exit_code == 0, result.output
    out = result.stdout
    for expected in (run_id, "full", "FINISHED", "C", "1.0", "0.93", "team", "growth"):
        assert expected in out
    assert "customers" in out and "abc123" in out and "training" in out
    assert "looks promising" in out
    assert "model/weights.txt" in out
    assert "Logged models (2)" in out
    assert f"models:/{produced}" in out and f"models:/{consumed}" in out
    assert "mlflow.source.name" not in out
    assert "system tags (mlflow.*, plinth.*) hidden" in out


def test_show_names_each_logged_model_and_marks_a_deleted_one(
    cli: Cli, client: Client, experiment_id: str, make_run: MakeRun
) -> None:
    run_id = make_run(experiment_id, name="r")
    registry = client.stores.registry
    kept = registry.create_logged_model(experiment_id, name="kept-clf").model_id
    gone = registry.create_logged_model(experiment_id, name="gone-clf").model_id
    client.log_outputs(run_id, [LoggedModelOutput(model_id=kept, step=1)])
    client.log_outputs(run_id, [LoggedModelOutput(model_id=gone, step=2)])
    registry.delete_logged_model(gone)

    out = cli("runs", "show", run_id).stdout

    assert "kept-clf" in line_with(out, kept) and "PENDING" in line_with(out, kept)
    assert "deleted" in line_with(out, gone) and "gone-clf" not in line_with(out, gone)


def test_show_looks_each_model_up_once_however_many_steps_link_it(
    cli: Cli, client: Client, experiment_id: str, make_run: MakeRun
) -> None:
    run_id = make_run(experiment_id, name="r")
    registry = client.stores.registry
    curve = registry.create_logged_model(experiment_id, name="curve").model_id
    last = registry.create_logged_model(experiment_id, name="last").model_id
    steps = [LoggedModelOutput(model_id=curve, step=s) for s in range(MAX_MODELS_LOOKED_UP)]
    client.log_outputs(run_id, [*steps, LoggedModelOutput(model_id=last, step=999)])

    out = cli("runs", "show", run_id).stdout

    assert "last" in line_with(out, last) and "PENDING" in line_with(out, last)


def line_with(output: str, text: str) -> str:
    """The first line of ``output`` holding ``text``."""
    return next(line for line in output.splitlines() if text in line)


def test_show_all_tags_includes_system_tags(
    cli: Cli, experiment_id: str, make_run: MakeRun
) -> None:
    run_id = make_run(experiment_id, name="r", tags={"mlflow.source.name": "train.py"})

    result = cli("runs", "show", run_id, "--all-tags")

    assert "mlflow.source.name" in result.stdout
    assert "train.py" in result.stdout


def test_show_as_json_has_run_comments_and_artifacts(
    cli: Cli, client: Client, experiment_id: str, make_run: MakeRun
) -> None:
    run_id = make_run(experiment_id, name="r", params={"C": "1"})
    client.add_comment(run_id, "hi")

    result = cli("runs", "show", run_id, "-o", "json")

    shown = json.loads(result.stdout)
    assert shown["run"]["info"]["run_id"] == run_id
    assert shown["run"]["data"]["params"] == {"C": "1"}
    assert [c["text"] for c in shown["comments"]] == ["hi"]
    assert isinstance(shown["artifacts"], list)


def test_json_output_writes_non_finite_metrics_as_strings(
    cli: Cli, experiment_id: str, make_run: MakeRun
) -> None:
    run_id = make_run(experiment_id, name="r", metrics={"loss": [float("nan")], "m": [1e999]})

    for args in (("runs", "show", run_id), ("runs", "list", "--experiment", experiment_id)):
        result = cli(*args, "-o", "json")
        assert result.exit_code == 0, result.output

        def refuse(token: str) -> None:
            raise AssertionError(f"bare {token} is not JSON")

        json.loads(result.stdout, parse_constant=refuse)
        assert '"NaN"' in result.stdout and '"Infinity"' in result.stdout


def test_show_of_an_unknown_run_exits_3_with_the_message(cli: Cli) -> None:
    result = cli("runs", "show", "0123456789abcdef0123456789abcdef")

    assert result.exit_code == 3
    assert result.stderr.startswith("Error: ")
    assert "0123456789abcdef0123456789abcdef" in result.stderr
    assert "Traceback" not in result.output


# -- compare ---------------------------------------------------------------------------------
def test_compare_shows_both_runs_params_side_by_side(cli: Cli, two_runs: tuple[str, str]) -> None:
    result = cli("runs", "compare", *two_runs)

    assert result.exit_code == 0, result.output
    rows = {
        row.lstrip("≠ ").split()[0]: row.strip()
        for row in result.stdout.splitlines()
        if row.strip()
    }
    assert "1.0" in rows["params.C"] and "0.1" in rows["params.C"]
    assert rows["params.C"].startswith("≠")
    assert rows["params.solver"].count("lbfgs") == 2
    assert not rows["params.solver"].startswith("≠")
    assert "0.91" in rows["metrics.auc"] and "0.72" in rows["metrics.auc"]


def test_compare_only_diff_hides_equal_rows(cli: Cli, two_runs: tuple[str, str]) -> None:
    result = cli("runs", "compare", *two_runs, "--only-diff", "-o", "json")

    rows = {row["key"]: row for row in json.loads(result.stdout)["rows"]}
    assert "params.solver" not in rows
    assert rows["params.C"]["values"] == ["1.0", "0.1"]
    assert rows["params.C"]["differs"] is True


def test_compare_needs_two_runs(cli: Cli, two_runs: tuple[str, str]) -> None:
    result = cli("runs", "compare", two_runs[0])

    assert result.exit_code == 2
    assert "at least two run ids" in result.stderr


def test_compare_with_an_unknown_run_exits_3(cli: Cli, two_runs: tuple[str, str]) -> None:
    result = cli("runs", "compare", two_runs[0], "f" * 32)

    assert result.exit_code == 3


# -- comments --------------------------------------------------------------------------------
def test_comment_then_comments_lists_it(cli: Cli, two_runs: tuple[str, str]) -> None:
    run_id = two_runs[0]

    added = cli("runs", "comment", run_id, "ship it?")
    listed = cli("runs", "comments", run_id)

    assert added.exit_code == 0, added.output
    assert "Commented on run" in added.stdout
    assert "ship it?" in listed.stdout


def test_comments_as_json(cli: Cli, client: Client, two_runs: tuple[str, str]) -> None:
    client.add_comment(two_runs[0], "first")
    client.add_comment(two_runs[0], "second")

    result = cli("runs", "comments", two_runs[0], "-o", "json")

    assert [c["text"] for c in json.loads(result.stdout)] == ["first", "second"]


def test_an_empty_comment_exits_2(cli: Cli, two_runs: tuple[str, str]) -> None:
    result = cli("runs", "comment", two_runs[0], "")

    assert result.exit_code == 2


def test_comments_of_an_unknown_run_exit_3(cli: Cli) -> None:
    result = cli("runs", "comments", "nope")

    assert result.exit_code == 3


# -- delete and restore ----------------------------------------------------------------------
def test_delete_then_restore_a_run(cli: Cli, client: Client, two_runs: tuple[str, str]) -> None:
    run_id = two_runs[0]

    deleted = cli("runs", "delete", run_id)
    stage_after_delete = client.get_run(run_id).info.lifecycle_stage
    listed = cli("runs", "list", "-e", "churn", "-o", "json")
    restored = cli("runs", "restore", run_id)

    assert deleted.exit_code == 0, deleted.output
    assert stage_after_delete == "deleted"
    assert run_id not in {r["info"]["run_id"] for r in json.loads(listed.stdout)}
    assert restored.exit_code == 0, restored.output
    assert client.get_run(run_id).info.lifecycle_stage == "active"


def test_deleting_an_unknown_run_exits_3(cli: Cli) -> None:
    result = cli("runs", "delete", "nope")

    assert result.exit_code == 3
    assert result.stderr.startswith("Error: ")


# -- choosing columns ------------------------------------------------------------------------
def test_a_narrow_terminal_keeps_run_ids_whole(cli: Cli, two_runs: tuple[str, str]) -> None:
    result = cli("runs", "list", "-e", "churn", env={"COLUMNS": "80"})

    assert result.exit_code == 0, result.output
    for run_id in two_runs:
        assert run_id in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 80


@pytest.mark.parametrize(
    ("expressions", "metrics", "params"),
    [
        pytest.param(["metrics.auc > 0.8"], ["auc"], [], id="filter"),
        pytest.param(["metrics.auc DESC", "params.C"], ["auc"], ["C"], id="order-by"),
        pytest.param(["params.`model.depth` = '3'"], [], ["model.depth"], id="backticks"),
        pytest.param(['metrics."val loss" < 1'], ["val loss"], [], id="quoted"),
        pytest.param(["attributes.status = 'FINISHED'"], [], [], id="no-keys"),
    ],
)
def test_referenced_keys_come_from_filter_and_order_by(
    expressions: list[str], metrics: list[str], params: list[str]
) -> None:
    assert referenced_keys(expressions) == {"metrics": metrics, "params": params}


def test_columns_prefer_named_then_varying_then_common_keys() -> None:
    maps = [{"a": "1", "b": "1", "z": "1"}, {"a": "1", "b": "2", "z": "2"}, {"a": "1"}]

    assert column_keys(maps, ["a"], 2) == ["a", "b"]
    assert column_keys(maps, [], 2) == ["b", "z"]
    assert column_keys(maps, ["missing"], 1) == ["b"]
