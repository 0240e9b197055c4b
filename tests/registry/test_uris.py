"""``models:/`` and ``runs:/`` URIs: parsing is pure; resolving follows aliases and stages."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import plinth
from plinth.config import Settings
from plinth.entities.registry import Stage
from plinth.errors import InvalidArgumentError, NotFoundError
from plinth.registry.uris import (
    ModelUri,
    RunsUri,
    logged_model_id,
    parse_model_uri,
    parse_runs_uri,
    resolve_model_version,
)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        pytest.param("models:/churn/3", ModelUri(name="churn", version="3"), id="version"),
        pytest.param("models:/churn/03", ModelUri(name="churn", version="3"), id="leading-zero"),
        pytest.param(
            "models:/churn/production",
            ModelUri(name="churn", stage=Stage.PRODUCTION),
            id="stage-any-case",
        ),
        pytest.param("models:/churn/None", ModelUri(name="churn", stage=Stage.NONE), id="none"),
        pytest.param("models:/churn/latest", ModelUri(name="churn", latest=True), id="latest"),
        pytest.param("models:/churn@latest", ModelUri(name="churn", latest=True), id="@latest"),
        pytest.param("models:/churn@champion", ModelUri(name="churn", alias="champion"), id="@"),
        pytest.param("models:/churn-eu.v2/1", ModelUri(name="churn-eu.v2", version="1"), id="dots"),
    ],
)
def test_model_uris_parse(uri: str, expected: ModelUri) -> None:
    assert parse_model_uri(uri) == expected


@pytest.mark.parametrize(
    "uri",
    [
        pytest.param("models:/churn", id="no-version"),
        pytest.param("models:/churn/Prod", id="unknown-stage"),
        pytest.param("models:/churn/1/extra", id="extra-part"),
        pytest.param("models:/", id="empty"),
        pytest.param("runs:/abc/model", id="other-scheme"),
    ],
)
def test_malformed_model_uris_are_invalid(uri: str) -> None:
    with pytest.raises(InvalidArgumentError, match="Bad model URI"):
        parse_model_uri(uri)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        pytest.param("runs:/abc/model", RunsUri(run_id="abc", path="model"), id="path"),
        pytest.param("runs:/abc/a/b/", RunsUri(run_id="abc", path="a/b"), id="nested"),
        pytest.param("runs:/abc", RunsUri(run_id="abc"), id="run-only"),
    ],
)
def test_runs_uris_parse(uri: str, expected: RunsUri) -> None:
    assert parse_runs_uri(uri) == expected


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        pytest.param("models:/m-0a1b2c", "m-0a1b2c", id="logged-model"),
        pytest.param("models:/m-churn/1", None, id="registered-name-with-m-"),
        pytest.param("models:/m-churn@champion", None, id="alias"),
        pytest.param("runs:/m-0a1b2c", None, id="runs-uri"),
    ],
)
def test_logged_model_ids_are_told_from_registered_names(uri: str, expected: str | None) -> None:
    assert logged_model_id(uri) == expected


def test_an_empty_runs_uri_is_invalid() -> None:
    with pytest.raises(InvalidArgumentError):
        parse_runs_uri("runs:/")


def test_resolving_follows_aliases_stages_and_latest(
    tracking: Settings, model_run: Callable[..., str]
) -> None:
    run_id = model_run()
    for _ in range(3):
        plinth.register_model(f"runs:/{run_id}/model", "churn")
    plinth.transition_model_version_stage("churn", 2, "Staging")
    plinth.set_registered_model_alias("churn", "challenger", 1)
    client = plinth.get_client()

    def version_of(uri: str) -> str:
        return resolve_model_version(client, uri).version

    assert version_of("models:/churn/2") == "2"
    assert version_of("models:/churn/Staging") == "2"
    assert version_of("models:/churn@challenger") == "1"
    assert version_of("models:/churn/latest") == "3"
    with pytest.raises(NotFoundError, match="no version in stage Production"):
        version_of("models:/churn/Production")
