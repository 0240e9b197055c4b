"""The fluent registry API (``plinth.register_model``, ``plinth.request_promotion`` ...),
embedded and against a live server (the ``tracking`` fixture)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.registry.conftest import Switch

import plinth
from plinth.config import Settings
from plinth.entities.registry import PromotionStatus, Stage
from plinth.errors import (
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
)

MakeRun = Callable[..., str]


def _promote(name: str, version: str, as_approver: Switch) -> None:
    request = plinth.request_promotion(name, version, stage="Production", comment="ship it")
    with as_approver():
        plinth.approve(request.request_id, comment="ok")


# -- registration ----------------------------------------------------------------------------
def test_register_model_from_a_run_keeps_the_run_and_its_artifact_location(
    tracking: Settings, model_run: MakeRun
) -> None:
    run_id = model_run()

    version = plinth.register_model(f"runs:/{run_id}/model", "churn")

    artifact_uri = plinth.get_run(run_id).info.artifact_uri
    assert (version.name, version.version) == ("churn", "1")
    assert version.run_id == run_id
    assert version.source == f"{artifact_uri.rstrip('/')}/model"
    assert version.current_stage is Stage.NONE


def test_versions_count_up_per_name(tracking: Settings, model_run: MakeRun) -> None:
    run_id = model_run()

    versions = [plinth.register_model(f"runs:/{run_id}/model", n) for n in ("a", "a", "b", "a")]

    assert [v.version for v in versions] == ["1", "2", "1", "3"]


def test_register_model_records_tags_and_description(
    tracking: Settings, model_run: MakeRun
) -> None:
    run_id = model_run()

    plinth.register_model(
        f"runs:/{run_id}/model", "churn", tags={"team": "risk"}, description="first cut"
    )

    version = plinth.get_model_version("churn", 1)
    assert version.tags == {"team": "risk"}
    assert version.description == "first cut"


def test_register_model_from_a_models_uri_copies_source_and_run(
    tracking: Settings, model_run: MakeRun
) -> None:
    run_id = model_run()
    first = plinth.register_model(f"runs:/{run_id}/model", "churn")

    copy = plinth.register_model("models:/churn/1", "churn-eu")

    assert (copy.source, copy.run_id) == (first.source, run_id)


def test_register_model_from_a_logged_model_keeps_its_run(
    tracking: Settings, model_run: MakeRun
) -> None:
    run_id = model_run()
    experiment_id = plinth.get_run(run_id).info.experiment_id
    registry = plinth.get_client().stores.registry
    logged = registry.create_logged_model(experiment_id, name="model", source_run_id=run_id)

    version = plinth.register_model(f"models:/{logged.model_id}", "churn")

    assert (version.source, version.run_id) == (f"models:/{logged.model_id}", run_id)


def test_register_model_from_an_unknown_run_fails(tracking: Settings) -> None:
    with pytest.raises(NotFoundError):
        plinth.register_model("runs:/0123456789abcdef0123456789abcdef/model", "churn")


# -- reading and searching -------------------------------------------------------------------
def test_get_and_search_registered_models(tracking: Settings, model_run: MakeRun) -> None:
    run_id = model_run()
    for name in ("churn", "churn-eu", "fraud"):
        plinth.register_model(f"runs:/{run_id}/model", name)

    found = plinth.search_registered_models(filter_string="name LIKE 'churn%'")

    assert sorted(m.name for m in found) == ["churn", "churn-eu"]
    assert plinth.get_registered_model("fraud").name == "fraud"
    with pytest.raises(NotFoundError):
        plinth.get_registered_model("nope")


def test_search_model_versions_by_run(tracking: Settings, model_run: MakeRun) -> None:
    first, second = model_run(), model_run()
    plinth.register_model(f"runs:/{first}/model", "churn")
    plinth.register_model(f"runs:/{second}/model", "churn")

    found = plinth.search_model_versions(f"run_id = '{second}'")

    assert [(v.name, v.version) for v in found] == [("churn", "2")]


def test_search_pages_through_to_max_results(tracking: Settings, model_run: MakeRun) -> None:
    run_id = model_run()
    for _ in range(5):
        plinth.register_model(f"runs:/{run_id}/model", "churn")

    assert len(plinth.search_model_versions("name = 'churn'", max_results=3)) == 3
    assert len(plinth.search_model_versions("name = 'churn'")) == 5


# -- stages and aliases ----------------------------------------------------------------------
def test_free_aliases_move_directly(tracking: Settings, model_run: MakeRun) -> None:
    run_id = model_run()
    plinth.register_model(f"runs:/{run_id}/model", "churn")
    plinth.register_model(f"runs:/{run_id}/model", "churn")

    plinth.set_registered_model_alias("churn", "challenger", 2)

    assert plinth.get_model_version_by_alias("churn", "challenger").version == "2"
    plinth.delete_registered_model_alias("churn", "challenger")
    with pytest.raises(NotFoundError):
        plinth.get_model_version_by_alias("churn", "challenger")


def test_staging_needs_no_approval(tracking: Settings, model_run: MakeRun) -> None:
    plinth.register_model(f"runs:/{model_run()}/model", "churn")

    version = plinth.transition_model_version_stage("churn", 1, "staging")

    assert version.current_stage is Stage.STAGING


@pytest.mark.parametrize(
    "shortcut",
    [
        pytest.param(
            lambda: plinth.transition_model_version_stage("churn", 1, Stage.PRODUCTION),
            id="stage-production",
        ),
        pytest.param(
            lambda: plinth.set_registered_model_alias("churn", "champion", 1), id="alias-champion"
        ),
        pytest.param(
            lambda: plinth.set_registered_model_alias("churn", "Production", 1),
            id="alias-production-any-case",
        ),
    ],
)
def test_production_and_protected_aliases_need_an_approved_request(
    tracking: Settings, model_run: MakeRun, shortcut: Callable[[], object]
) -> None:
    plinth.register_model(f"runs:/{model_run()}/model", "churn")

    with pytest.raises(PermissionDeniedError, match="request-promotion"):
        shortcut()

    assert plinth.get_model_version("churn", 1).current_stage is Stage.NONE


# -- governed promotion ----------------------------------------------------------------------
def test_request_promotion_is_pending_with_its_checks(
    tracking: Settings, model_run: MakeRun
) -> None:
    plinth.register_model(f"runs:/{model_run(val_auc=0.8)}/model", "churn")

    request = plinth.request_promotion(
        "churn",
        "1",
        stage="Production",
        comment="best so far",
        checks=["metrics.val_auc >= 0.75", "metrics.val_auc >= 0.9"],
    )

    assert request.status is PromotionStatus.PENDING
    assert (request.name, request.version, request.target_stage) == ("churn", "1", Stage.PRODUCTION)
    assert request.comment == "best so far"
    assert [c.passed for c in request.checks] == [True, False]
    assert plinth.get_model_version("churn", 1).current_stage is Stage.NONE


def test_approving_performs_the_promotion(
    tracking: Settings, model_run: MakeRun, as_approver: Switch
) -> None:
    plinth.register_model(f"runs:/{model_run()}/model", "churn")
    request = plinth.request_promotion("churn", 1, stage="Production")

    with as_approver():
        decided = plinth.approve(request.request_id, comment="looks good")

    assert decided.status is PromotionStatus.APPROVED
    assert decided.decision_comment == "looks good"
    assert plinth.get_model_version("churn", 1).current_stage is Stage.PRODUCTION


def test_a_new_production_version_archives_the_previous_one(
    tracking: Settings, model_run: MakeRun, as_approver: Switch
) -> None:
    run_id = model_run()
    for _ in range(2):
        plinth.register_model(f"runs:/{run_id}/model", "churn")
    _promote("churn", "1", as_approver)

    _promote("churn", "2", as_approver)

    stages = {v.version: v.current_stage for v in plinth.search_model_versions("name = 'churn'")}
    assert stages == {"1": Stage.ARCHIVED, "2": Stage.PRODUCTION}


def test_approving_an_alias_request_moves_the_protected_alias(
    tracking: Settings, model_run: MakeRun, as_approver: Switch
) -> None:
    plinth.register_model(f"runs:/{model_run()}/model", "churn")
    request = plinth.request_promotion("churn", 1, alias="champion")

    with as_approver():
        plinth.approve(request.request_id)

    assert plinth.get_model_version_by_alias("churn", "champion").version == "1"


def test_requesters_approve_their_own_requests_only_embedded(
    tracking: Settings, model_run: MakeRun
) -> None:
    plinth.register_model(f"runs:/{model_run()}/model", "churn")
    request = plinth.request_promotion("churn", 1, stage="Production")

    if tracking.is_remote:
        with pytest.raises(PermissionDeniedError, match="four eyes"):
            plinth.approve(request.request_id)
    else:
        assert plinth.approve(request.request_id).decided_by == "local"


def test_failed_checks_need_an_override_with_a_comment(
    tracking: Settings, model_run: MakeRun, as_approver: Switch
) -> None:
    plinth.register_model(f"runs:/{model_run(val_auc=0.6)}/model", "churn")
    request = plinth.request_promotion(
        "churn", 1, stage="Production", checks=["metrics.val_auc >= 0.75"]
    )

    with as_approver():
        with pytest.raises(PermissionDeniedError, match="override"):
            plinth.approve(request.request_id, comment="fine")
        with pytest.raises(PermissionDeniedError, match="override"):
            plinth.approve(request.request_id, override=True)
        decided = plinth.approve(request.request_id, override=True, comment="known dip")

    assert decided.override is True
    assert plinth.get_model_version("churn", 1).current_stage is Stage.PRODUCTION


def test_rejecting_leaves_the_version_where_it_was(
    tracking: Settings, model_run: MakeRun, as_approver: Switch
) -> None:
    plinth.register_model(f"runs:/{model_run()}/model", "churn")
    request = plinth.request_promotion("churn", 1, stage="Production")

    with as_approver():
        decided = plinth.reject(request.request_id, comment="needs a fairness review")

    assert decided.status is PromotionStatus.REJECTED
    assert decided.decision_comment == "needs a fairness review"
    assert plinth.get_model_version("churn", 1).current_stage is Stage.NONE


def test_a_decided_request_cannot_be_decided_again(
    tracking: Settings, model_run: MakeRun, as_approver: Switch
) -> None:
    plinth.register_model(f"runs:/{model_run()}/model", "churn")
    request = plinth.request_promotion("churn", 1, stage="Production")
    with as_approver():
        plinth.reject(request.request_id)

        with pytest.raises(ConflictError):
            plinth.approve(request.request_id)


@pytest.mark.parametrize(
    "target",
    [
        pytest.param({}, id="neither"),
        pytest.param({"stage": "Production", "alias": "champion"}, id="both"),
    ],
)
def test_a_request_names_exactly_one_target(
    tracking: Settings, model_run: MakeRun, target: dict[str, str]
) -> None:
    plinth.register_model(f"runs:/{model_run()}/model", "churn")

    with pytest.raises(InvalidArgumentError):
        plinth.request_promotion("churn", 1, **target)


# -- history ---------------------------------------------------------------------------------
def test_model_history_records_every_step_in_order(
    tracking: Settings, model_run: MakeRun, as_approver: Switch
) -> None:
    plinth.register_model(f"runs:/{model_run()}/model", "churn")
    plinth.get_client().set_model_version_tag("churn", 1, "reviewed", "yes")
    request = plinth.request_promotion("churn", 1, stage="Production", comment="ship it")
    with as_approver():
        plinth.approve(request.request_id, comment="approved for Q3")

    events = plinth.model_history("churn")

    types = [e.event_type for e in events]
    assert types.index("model_version_created") < types.index("promotion_requested")
    assert types.index("promotion_requested") < types.index("promotion_approved")
    assert "tag_set" in types
    assert "stage_transition" in types
    approved = next(e for e in events if e.event_type == "promotion_approved")
    assert approved.comment == "approved for Q3"
    assert approved.user_name == ("carol" if tracking.is_remote else "local")
    assert [e.timestamp for e in events] == sorted(e.timestamp for e in events)
