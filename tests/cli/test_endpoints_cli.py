"""``plinth endpoints`` on an embedded store: every command, governed refusals as exit 5,
and the data it shows once a data plane served traffic."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from tests.cli.conftest import Cli
from tests.serving.conftest import FAST, register_models

from plinth.client import Client
from plinth.config import Settings
from plinth.entities.registry import Stage
from plinth.server.serving import create_serving_app
from plinth.server.threaded import serve_in_thread


@pytest.fixture
def registered(home: Path) -> Settings:
    settings = Settings(home=home)
    register_models(settings)
    return settings


def test_create_show_traffic_and_delete(cli: Cli, registered: Settings) -> None:
    created = cli(
        "endpoints",
        "create",
        "churn",
        "--model",
        "churn/1",
        "--slo-p99-ms",
        "100",
        "--reason",
        "launch",
    )
    assert created.exit_code == 0, created.output
    assert "churn/1 100%" in created.output
    shown = cli("endpoints", "show", "churn")
    assert shown.exit_code == 0 and "p99_ms" in shown.output and "no traffic" in shown.output
    ab = cli(
        "endpoints",
        "ab",
        "churn",
        "--variant",
        "a=churn/1:50",
        "--variant",
        "b=churn/2:50",
        "--sticky-key",
        "customer_id",
    )
    assert ab.exit_code == 0, ab.output
    listed = cli("endpoints", "list", "-o", "json")
    [endpoint] = json.loads(listed.output)
    assert endpoint["sticky_key"] == "customer_id" and len(endpoint["routes"]) == 2
    assert cli("endpoints", "rollback", "churn").exit_code == 0
    events = cli("endpoints", "events", "churn")
    assert "endpoint_created" in events.output and "rolled_back" in events.output
    assert cli("endpoints", "delete", "churn", "--yes").exit_code == 0
    assert cli("endpoints", "show", "churn").exit_code == 3


def test_unapproved_versions_are_refused_with_exit_5(cli: Cli, registered: Settings) -> None:
    refused = cli("endpoints", "create", "churn", "--model", "churn/2")
    assert refused.exit_code == 5 and "request-promotion churn 2" in refused.output
    cli("endpoints", "create", "churn", "--model", "churn/1")
    split = cli("endpoints", "traffic", "churn", "churn/1=90", "churn/2=10")
    assert split.exit_code == 5


def test_bad_arguments_exit_2(cli: Cli, registered: Settings) -> None:
    cli("endpoints", "create", "churn", "--model", "churn/1")
    assert cli("endpoints", "traffic", "churn", "churn/1").exit_code == 2
    assert cli("endpoints", "ab", "churn", "--variant", "a=churn/1").exit_code == 2
    steps = cli("endpoints", "canary", "churn", "--model", "churn/2", "--steps", "5,x")
    assert steps.exit_code == 2 and "--steps" in steps.output
    assert (
        cli("endpoints", "canary", "churn", "--model", "churn/2", "--interval", "soon").exit_code
        == 2
    )


def test_canary_promote_and_shadow(cli: Cli, registered: Settings) -> None:
    cli("endpoints", "create", "churn", "--model", "churn/1")
    started = cli(
        "endpoints",
        "canary",
        "churn",
        "--model",
        "churn/2",
        "--steps",
        "5,25,100",
        "--interval",
        "30m",
        "--max-error-rate",
        "0.01",
        "--max-p99-ms",
        "100",
        "--min-requests",
        "500",
    )
    assert started.exit_code == 0, started.output
    assert "canary churn/2 5%" in started.output
    assert "[5%]" in cli("endpoints", "show", "churn").output
    advance = cli("endpoints", "advance", "churn")
    assert advance.exit_code == 0 and "wait" in advance.output
    refused = cli("endpoints", "promote", "churn", "-m", "looks good")
    assert refused.exit_code == 5 and "approved for Production" in refused.output
    registry = Client(registered).stores.registry
    request = registry.request_promotion(
        "churn", "2", stage=Stage.PRODUCTION, archive_existing_versions=False
    )
    registry.approve_promotion(request.request_id)
    assert cli("endpoints", "promote", "churn", "-m", "looks good").exit_code == 0
    assert registry.get_model_version("churn", "1").current_stage is Stage.ARCHIVED
    shadow = cli("endpoints", "shadow", "churn", "--model", "churn/3")
    assert shadow.exit_code == 0 and "churn/3" in shadow.output
    removed = cli("endpoints", "shadow", "churn", "--model", "churn/3", "--remove")
    assert removed.exit_code == 0


def test_predictions_feedback_and_ab_report_after_traffic(cli: Cli, registered: Settings) -> None:
    cli("endpoints", "create", "churn", "--model", "churn/1")
    cli(
        "endpoints",
        "ab",
        "churn",
        "--variant",
        "a=churn/1:50",
        "--variant",
        "b=churn/2:50",
        "--sticky-key",
        "customer_id",
    )
    client = Client(registered)
    app = create_serving_app(client, options=FAST, auth=False)
    served: list[tuple[str, str]] = []
    with serve_in_thread(app) as url, httpx.Client(base_url=url) as http:
        deadline = time.monotonic() + 10
        while http.get("/v2/models/churn/versions/2/ready").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        for i in range(60):
            record = {"customer_id": f"c{i}", "tenure": 10.0, "calls": 3}
            response = http.post(
                "/endpoints/churn/invocations", json={"dataframe_records": [record]}
            )
            served.append((response.headers["x-request-id"], response.headers["x-plinth-variant"]))
    for request_id, variant in served:
        converted = "1" if variant == "b" else "0"
        result = cli(
            "endpoints",
            "feedback",
            "churn",
            "--request-id",
            request_id,
            "--outcome",
            f"converted={converted}",
            "--label",
            "1",
        )
        assert result.exit_code == 0, result.output
    predictions = cli("endpoints", "predictions", "churn", "--since", "1h", "--limit", "5")
    assert predictions.exit_code == 0 and predictions.output.count("ms") >= 5
    report = cli("endpoints", "ab-report", "churn", "--outcome", "converted", "--baseline", "a")
    assert report.exit_code == 0, report.output
    assert "two-proportion z-test" in report.output and "baseline" in report.output
    bad = cli("endpoints", "feedback", "churn", "--request-id", "x", "--outcome", "converted")
    assert bad.exit_code == 2
