"""``plinth demo`` end to end: embedded (PLINTH_HOME or --runs-dir) and against a server."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import serve
from tests.serving.conftest import FAST
from typer.testing import Result

from plinth.client import Client
from plinth.config import Settings
from plinth.demo.churn import EXPERIMENT_NAME
from plinth.entities import Role
from plinth.entities.registry import Stage

Cli = Callable[..., Result]
QUICK = ("demo", "--quick", "--customers", "600")


def _demo_runs(client: Client) -> list[Any]:
    experiment = client.get_experiment_by_name(EXPERIMENT_NAME)
    assert experiment is not None
    return list(client.search_runs([experiment.experiment_id], order_by=["metrics.val_auc DESC"]))


def _best_run_id(output: str) -> str:
    match = re.search(r"plinth runs show ([0-9a-f]{32})", output)
    assert match, output
    return match.group(1)


def test_demo_tracks_runs_in_plinth_home_and_prints_the_ranking(
    cli: Cli, client: Client, home: Path
) -> None:
    result = cli(*QUICK)

    assert result.exit_code == 0, result.output
    assert "Runs ranked by validation AUC" in result.stdout
    runs = _demo_runs(client)
    assert len(runs) == 3
    assert _best_run_id(result.stdout) == runs[0].info.run_id
    gbm = next(r for r in runs if r.data.tags["model_family"] == "gradient_boosting")
    assert len(client.get_metric_history(gbm.info.run_id, "val_auc")) > 1
    for run in runs:
        assert "model/MLmodel" in {f.path for f in client.list_artifacts(run.info.run_id, "model")}
    assert str(home / "plinth.db") in result.stdout
    assert "plinth server" in result.stdout


def test_demo_promotes_the_best_model_and_scores_with_it(cli: Cli, client: Client) -> None:
    result = cli(*QUICK)

    assert result.exit_code == 0, result.output
    best = _best_run_id(result.stdout)
    version = client.get_model_version("churn", 1)
    assert version.run_id == best
    assert version.current_stage is Stage.PRODUCTION
    for expected in (
        f"Registered churn version 1 from run {best}",
        "metrics.val_auc >= 0.75",
        "beats_production:metrics.val_auc",
        "Approved by local (embedded mode",
        "History of churn",
        "promotion_approved",
        "Lineage of models:/churn/1",
        "churn-train",
        "Scored with models:/churn/Production (version 1)",
        "predicted_churn",
        "plinth models show churn 1",
    ):
        assert expected in result.stdout


def test_a_second_demo_is_rejected_by_the_gate(cli: Cli, client: Client) -> None:
    cli(*QUICK)

    result = cli(*QUICK)

    assert result.exit_code == 0, result.output
    assert "Rejected by local" in result.stdout
    assert "Production stays version 1" in result.stdout
    # The first demo registered 1 (best) and 2 (its canary); the second's best is 3.
    assert client.get_model_version("churn", 3).current_stage is Stage.NONE


def test_runs_dir_keeps_the_demo_out_of_plinth_home(cli: Cli, home: Path, tmp_path: Path) -> None:
    runs_dir = tmp_path / "demo-runs"

    result = cli(*QUICK, "--runs-dir", str(runs_dir))

    assert result.exit_code == 0, result.output
    assert len(_demo_runs(Client(Settings(home=runs_dir)))) == 3
    assert not (home / "plinth.db").exists()
    assert f"PLINTH_HOME={runs_dir.resolve()} plinth runs show" in result.stdout


def test_demo_logs_to_a_server_when_plinth_uri_names_one(
    cli: Cli, live_server: Any, tmp_path: Path
) -> None:
    env = {
        "PLINTH_URI": live_server.url,
        "PLINTH_TOKEN": live_server.admin_token,
        "PLINTH_APPROVER_TOKEN": None,
    }

    result = cli(*QUICK, env=env)

    assert result.exit_code == 0, result.output
    server = Client(live_server.settings)
    runs = _demo_runs(server)
    assert len(runs) == 3
    assert _best_run_id(result.stdout) == runs[0].info.run_id
    assert "on the server" in result.stdout
    assert f"{live_server.url}/docs" in result.stdout
    # Four eyes: the demo's user requested, so it may not approve; it says who must.
    (request,) = server.list_promotion_requests(name="churn")
    assert f"plinth models approve {request.request_id}" in result.stdout
    assert "Scored with" not in result.stdout
    assert server.get_model_version("churn", 1).current_stage is Stage.NONE


def test_demo_on_a_server_approves_with_a_second_users_token(cli: Cli, tmp_path: Path) -> None:
    with serve(Settings(home=tmp_path / "server-home"), serving=FAST) as live_server:
        _approve_on_a_server(cli, live_server)


def _approve_on_a_server(cli: Cli, live_server: Any) -> None:
    """The server serves endpoints (its data plane runs), so the demo's serving part runs
    against it too."""
    server = Client(live_server.settings)
    server.create_user("carol", Role.APPROVER)
    _token, carol = server.create_token("carol")
    env = {
        "PLINTH_URI": live_server.url,
        "PLINTH_TOKEN": live_server.admin_token,
        "PLINTH_APPROVER_TOKEN": carol,
    }

    result = cli(*QUICK, env=env)

    assert result.exit_code == 0, result.output
    assert "Approved by carol" in result.stdout
    assert "embedded mode" not in result.stdout
    assert "Scored with models:/churn/Production (version 1)" in result.stdout
    assert server.get_model_version("churn", 1).current_stage is Stage.PRODUCTION
    assert "rolled back by the demo" in result.stdout
    assert server.stores.serving.get_endpoint("churn").routes[0].model_version == "churn/1"


def test_demo_with_a_bad_token_exits_5(cli: Cli, live_server: Any) -> None:
    result = cli(*QUICK, env={"PLINTH_URI": live_server.url, "PLINTH_TOKEN": "plt_wrong"})

    assert result.exit_code == 5
    assert result.stderr.startswith("Error: ")


@pytest.mark.slow
@pytest.mark.e2e
def test_full_demo_trains_eight_models_quickly(cli: Cli, client: Client) -> None:
    started = time.perf_counter()

    result = cli("demo")

    assert result.exit_code == 0, result.output
    assert time.perf_counter() - started < 90
    runs = _demo_runs(client)
    assert len(runs) == 8
    assert len({r.data.tags["model_family"] for r in runs}) == 3
