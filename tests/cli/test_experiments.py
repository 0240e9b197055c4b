"""``plinth experiments``."""

from __future__ import annotations

import json
from collections.abc import Callable

from typer.testing import Result

from plinth.client import Client

Cli = Callable[..., Result]


def test_create_then_list_shows_the_experiment(cli: Cli) -> None:
    created = cli("experiments", "create", "churn")
    listed = cli("experiments", "list")

    assert created.exit_code == 0, created.output
    assert "Created experiment 'churn' with id" in created.stdout
    assert listed.exit_code == 0
    assert "churn" in listed.stdout
    assert "Default" in listed.stdout


def test_list_as_json_is_parseable(cli: Cli, client: Client) -> None:
    experiment_id = client.create_experiment("churn")

    result = cli("experiments", "list", "--output", "json")

    experiments = {e["name"]: e for e in json.loads(result.stdout)}
    assert experiments["churn"]["experiment_id"] == experiment_id
    assert experiments["churn"]["lifecycle_stage"] == "active"


def test_creating_a_duplicate_name_exits_4(cli: Cli, client: Client) -> None:
    client.create_experiment("churn")

    result = cli("experiments", "create", "churn")

    assert result.exit_code == 4
    assert result.stderr.startswith("Error: Experiment 'churn' already exists")


def test_deleted_experiments_show_only_with_all(cli: Cli, client: Client) -> None:
    experiment_id = client.create_experiment("old")

    deleted = cli("experiments", "delete", experiment_id)
    active = cli("experiments", "list", "-o", "json")
    everything = cli("experiments", "list", "--all", "-o", "json")

    assert deleted.exit_code == 0, deleted.output
    assert "old" not in {e["name"] for e in json.loads(active.stdout)}
    stages = {e["name"]: e["lifecycle_stage"] for e in json.loads(everything.stdout)}
    assert stages["old"] == "deleted"


def test_restore_brings_a_deleted_experiment_back(cli: Cli, client: Client) -> None:
    experiment_id = client.create_experiment("old")
    client.delete_experiment(experiment_id)

    result = cli("experiments", "restore", experiment_id)

    assert result.exit_code == 0, result.output
    assert client.get_experiment(experiment_id).lifecycle_stage == "active"


def test_delete_and_restore_take_the_experiment_name_too(cli: Cli, client: Client) -> None:
    experiment_id = client.create_experiment("churn")

    assert cli("experiments", "delete", "churn").exit_code == 0
    assert client.get_experiment(experiment_id).lifecycle_stage == "deleted"
    restored = cli("experiments", "restore", "churn")

    assert restored.exit_code == 0, restored.output
    assert f"'churn' ({experiment_id})" in restored.stdout
    assert client.get_experiment(experiment_id).lifecycle_stage == "active"


def test_deleting_a_deleted_experiment_says_so(cli: Cli, client: Client) -> None:
    client.delete_experiment(client.create_experiment("churn"))

    result = cli("experiments", "delete", "churn")

    assert result.exit_code == 3
    assert "already deleted" in result.stderr
    assert "is active" in cli("experiments", "restore", "Default").stderr


def test_a_name_that_is_another_experiments_id_is_refused(cli: Cli, client: Client) -> None:
    first = client.create_experiment("a")
    client.create_experiment(first)  # an experiment named like the first one's id

    result = cli("experiments", "delete", first)

    assert result.exit_code != 0
    assert "rename one of them" in result.stderr
    assert all(e.lifecycle_stage == "active" for e in client.search_experiments())


def test_the_default_experiment_cannot_be_deleted(cli: Cli) -> None:
    result = cli("experiments", "delete", "Default")

    assert result.exit_code != 0
    assert "cannot be deleted" in result.stderr


def test_deleting_an_unknown_experiment_exits_3(cli: Cli) -> None:
    result = cli("experiments", "delete", "424242")

    assert result.exit_code == 3
    assert result.stderr.startswith("Error: ")
    assert "424242" in result.stderr
