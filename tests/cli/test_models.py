"""``plinth models``: listing, versions, lineage, history, aliases and governed promotion."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from typer.testing import Result

from plinth.client import Client
from plinth.entities import Role
from plinth.entities.registry import PromotionStatus, Stage

Cli = Callable[..., Result]
MakeRun = Callable[..., str]


@pytest.fixture
def run_id(client: Client, make_run: MakeRun) -> str:
    experiment_id = client.create_experiment("churn")
    run = make_run(
        experiment_id,
        name="gbm",
        params={"max_depth": "3"},
        metrics={"val_auc": [0.7, 0.82]},
        tags={"mlflow.source.git.commit": "abc123def", "plinth.git.dirty": "false"},
    )
    client.log_text(run, "flavors: {}\n", "model/MLmodel")
    return run


@pytest.fixture
def churn(client: Client, run_id: str) -> str:
    """``churn`` with versions 1 and 2 of the same run."""
    for _ in range(2):
        client.create_model_version("churn", f"runs-source/{run_id}", run_id=run_id)
    return "churn"


def _request_id(output: str) -> str:
    match = re.search(r"Promotion request (\S+):", output)
    assert match, output
    return match.group(1)


# -- registering and reading -----------------------------------------------------------------
def test_register_keeps_the_source_run(cli: Cli, client: Client, run_id: str) -> None:
    result = cli("models", "register", f"runs:/{run_id}/model", "churn")

    assert result.exit_code == 0, result.output
    assert "Registered churn version 1" in result.stdout
    assert client.get_model_version("churn", 1).run_id == run_id


def test_list_shows_models_with_their_versions(cli: Cli, churn: str) -> None:
    result = cli("models", "list")

    assert result.exit_code == 0, result.output
    assert "churn" in result.stdout
    assert "v2 None" in result.stdout


def test_list_as_json(cli: Cli, churn: str) -> None:
    result = cli("models", "list", "-o", "json")

    assert result.exit_code == 0, result.output
    assert [m["name"] for m in json.loads(result.stdout)] == ["churn"]


def test_versions_lists_newest_first(cli: Cli, churn: str, run_id: str) -> None:
    result = cli("models", "versions", "churn", "-o", "json")

    assert result.exit_code == 0, result.output
    versions = json.loads(result.stdout)
    assert [v["version"] for v in versions] == ["2", "1"]
    assert {v["run_id"] for v in versions} == {run_id}


def test_show_without_version_lists_model_and_versions(cli: Cli, churn: str) -> None:
    result = cli("models", "show", "churn")

    assert result.exit_code == 0, result.output
    assert "Name" in result.stdout
    assert "Version" in result.stdout
    assert "runs-source/" in result.stdout


@pytest.mark.parametrize(
    "version",
    [pytest.param("1", id="number"), pytest.param("@challenger", id="alias")],
)
def test_show_with_version_prints_the_lineage(
    cli: Cli, client: Client, churn: str, run_id: str, version: str
) -> None:
    client.set_registered_model_alias("churn", "challenger", 1)

    result = cli("models", "show", "churn", version)

    assert result.exit_code == 0, result.output
    for expected in ("churn version 1", run_id, "abc123def", "max_depth", "val_auc", "churn"):
        assert expected in result.stdout


def test_show_lineage_as_json(cli: Cli, churn: str, run_id: str) -> None:
    result = cli("models", "show", "churn", "2", "-o", "json")

    assert result.exit_code == 0, result.output
    lineage = json.loads(result.stdout)
    assert lineage["model_version"]["version"] == "2"
    assert lineage["run"]["run_id"] == run_id
    assert lineage["code"]["git_dirty"] is False
    assert lineage["metrics"] == {"val_auc": 0.82}


def test_show_unknown_model_exits_3(cli: Cli) -> None:
    result = cli("models", "show", "nope")

    assert result.exit_code == 3
    assert result.stderr.startswith("Error: ")


# -- aliases ---------------------------------------------------------------------------------
def test_alias_points_a_free_alias_at_a_version(cli: Cli, client: Client, churn: str) -> None:
    result = cli("models", "alias", "churn", "challenger", "2")

    assert result.exit_code == 0, result.output
    assert client.get_model_version_by_alias("churn", "challenger").version == "2"


def test_a_protected_alias_exits_5_explaining_how_to_promote(cli: Cli, churn: str) -> None:
    result = cli("models", "alias", "churn", "champion", "2")

    assert result.exit_code == 5
    assert result.stderr.startswith("Error: ")
    assert "request-promotion" in result.stderr


# -- governed promotion ----------------------------------------------------------------------
def test_request_promotion_shows_the_request_and_its_checks(
    cli: Cli, client: Client, churn: str
) -> None:
    result = cli(
        "models", "request-promotion", "churn", "2", "--stage", "Production",
        "--comment", "best so far",
        "--check", "metrics.val_auc >= 0.8", "--check", "metrics.val_auc >= 0.9",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    request_id = _request_id(result.stdout)
    assert "PENDING" in result.stdout
    assert "passed" in result.stdout
    assert "FAILED" in result.stdout
    assert f"plinth models approve {request_id}" in result.stdout
    assert "--override" in result.stdout
    assert client.get_promotion_request(request_id).comment == "best so far"


def test_keep_existing_leaves_the_current_production_version_in_place(
    cli: Cli, client: Client, churn: str
) -> None:
    first = client.request_promotion("churn", 1, stage="Production")
    client.approve_promotion(first.request_id)
    result = cli(
        "models", "request-promotion", "churn", "2", "--stage", "Production", "--keep-existing"
    )  # fmt: skip
    request_id = _request_id(result.stdout)

    approved = cli("models", "approve", request_id, "--comment", "side by side")

    assert result.exit_code == 0, result.output
    assert "keeps the versions now in Production" in result.stdout
    assert approved.exit_code == 0, approved.output
    assert client.get_promotion_request(request_id).archive_existing_versions is False
    assert client.get_model_version("churn", 1).current_stage is Stage.PRODUCTION
    assert client.get_model_version("churn", 2).current_stage is Stage.PRODUCTION


@pytest.mark.parametrize("target", [("--alias", "champion"), ("--stage", "Archived")])
def test_keep_existing_where_nothing_is_archived_exits_2(
    cli: Cli, churn: str, target: tuple[str, str]
) -> None:
    result = cli("models", "request-promotion", "churn", "2", *target, "--keep-existing")

    assert result.exit_code == 2
    assert "--stage Production" in result.stderr


def test_a_bad_check_exits_2(cli: Cli, churn: str) -> None:
    result = cli(
        "models", "request-promotion", "churn", "1", "--stage", "Production",
        "--check", "accuracy is great",
    )  # fmt: skip

    assert result.exit_code == 2
    assert "accuracy is great" in result.stderr


def test_approve_moves_the_version_to_production(cli: Cli, client: Client, churn: str) -> None:
    request = client.request_promotion("churn", 2, stage="Production")

    result = cli("models", "approve", request.request_id, "--comment", "ship it")

    assert result.exit_code == 0, result.output
    assert "Approved" in result.stdout
    assert client.get_model_version("churn", 2).current_stage is Stage.PRODUCTION


def test_approving_failed_checks_needs_override(cli: Cli, client: Client, churn: str) -> None:
    request = client.request_promotion(
        "churn", 1, stage="Production", checks=["metrics.val_auc >= 0.9"]
    )

    refused = cli("models", "approve", request.request_id, "--comment", "ok")
    forced = cli("models", "approve", request.request_id, "--override", "-m", "known gap")

    assert refused.exit_code == 5
    assert "override" in refused.stderr
    assert forced.exit_code == 0, forced.output
    assert "--override" in forced.stdout
    assert client.get_promotion_request(request.request_id).override is True


def test_reject_keeps_the_version_out_of_production(cli: Cli, client: Client, churn: str) -> None:
    request = client.request_promotion("churn", 2, alias="champion")

    result = cli("models", "reject", request.request_id, "--comment", "needs review")

    assert result.exit_code == 0, result.output
    assert "Rejected" in result.stdout
    decided = client.get_promotion_request(request.request_id)
    assert decided.status is PromotionStatus.REJECTED
    assert decided.decision_comment == "needs review"


def test_approving_twice_exits_6(cli: Cli, client: Client, churn: str) -> None:
    request = client.request_promotion("churn", 2, stage="Production")
    cli("models", "approve", request.request_id)

    result = cli("models", "approve", request.request_id)

    assert result.exit_code == 6


def test_requests_lists_pending_ones_by_model(cli: Cli, client: Client, churn: str) -> None:
    decided = client.request_promotion("churn", 1, stage="Staging")
    client.reject_promotion(decided.request_id)
    pending = client.request_promotion("churn", 2, stage="Production")

    everything = cli("models", "requests", "--name", "churn")
    only_pending = cli("models", "requests", "--pending", "-o", "json")

    assert everything.exit_code == 0, everything.output
    assert decided.request_id in everything.stdout
    assert pending.request_id in everything.stdout
    assert [r["request_id"] for r in json.loads(only_pending.stdout)] == [pending.request_id]


# -- history ---------------------------------------------------------------------------------
def test_history_lists_the_events_with_comments(cli: Cli, client: Client, churn: str) -> None:
    request = client.request_promotion("churn", 2, stage="Production", comment="ready")
    client.approve_promotion(request.request_id, comment="approved for Q3")

    result = cli("models", "history", "churn")

    assert result.exit_code == 0, result.output
    for expected in ("model_version_created", "promotion_requested", "approved for Q3", "local"):
        assert expected in result.stdout


# -- against a server: four eyes -------------------------------------------------------------
def test_on_a_server_the_requester_cannot_approve_but_an_approver_can(
    cli: Cli, live_server: Any
) -> None:
    admin = Client(live_server.settings)
    admin.create_user("carol", Role.APPROVER)
    _token, carol = admin.create_token("carol")
    experiment_id = admin.create_experiment("churn")
    run_id = admin.create_run(experiment_id).info.run_id
    admin.create_model_version("churn", f"runs-source/{run_id}", run_id=run_id)
    as_admin = {"PLINTH_URI": live_server.url, "PLINTH_TOKEN": live_server.admin_token}
    requested = cli(
        "models", "request-promotion", "churn", "1", "--stage", "Production", env=as_admin
    )
    request_id = _request_id(requested.stdout)

    own = cli("models", "approve", request_id, env=as_admin)
    other = cli("models", "approve", request_id, env={**as_admin, "PLINTH_TOKEN": carol})

    assert requested.exit_code == 0, requested.output
    assert own.exit_code == 5
    assert "four eyes" in own.stderr
    assert other.exit_code == 0, other.output
    assert admin.get_model_version("churn", 1).current_stage is Stage.PRODUCTION
