"""The ``RegistryStore`` contract, run against every backend (SQLite, PostgreSQL, REST).

Each backend module subclasses ``RegistryStoreContract`` with ``__test__ = True`` and provides
the ``stores`` (``Stores`` on a fresh backend) and ``actor`` fixtures, as for the tracking
contract. Backends may override two fixtures of the class:

* ``as_user(name)``: the registry acting as another user (default ``with_actor``); a REST
  backend returns a store authenticated as that user (with the approver role).
* ``registry_with_inspector(inspector)``: the registry with a package inspector injected
  (default: skip the signature-gate tests that need one).
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from typing import ClassVar

import pytest
from tests.store.contract import at_once

from plinth.entities import (
    LOCAL_USER,
    LoggedModelInput,
    LoggedModelOutput,
    Metric,
    Page,
    Param,
    RunStatus,
    RunTag,
)
from plinth.entities.registry import (
    DatasetFilter,
    LoggedModelOrder,
    LoggedModelStatus,
    ModelVersion,
    PackageInfo,
    PackageInspector,
    PromotionRequest,
    PromotionStatus,
    RegisteredModel,
    Stage,
)
from plinth.errors import (
    AlreadyExistsError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
)
from plinth.store.base import RegistryStore
from plinth.store.factory import Stores, open_sql_stores

T0 = 1_700_000_000_000
UNKNOWN_RUN = "0" * 32
APPROVER = "carol"
AsUser = Callable[[str], RegistryStore]
MakeRun = Callable[..., str]


def run_in_experiment(stores: Stores, make_run: MakeRun, **metrics: float) -> tuple[str, str]:
    """A new run (``make_run``'s, with these metrics) and its experiment's id."""
    run_id = make_run(**metrics)
    return run_id, stores.tracking.get_run(run_id).info.experiment_id


def stage_of(store: RegistryStore, name: str, version: str) -> Stage:
    return store.get_model_version(name, version).current_stage


def event_types(store: RegistryStore, name: str) -> list[str]:
    return [e.event_type for e in store.list_model_events(name)]


def collect(
    fetch: Callable[[str | None], Page[RegisteredModel] | Page[ModelVersion]],
) -> list[list[str]]:
    """Follow page tokens to the end: each page as names (models) or ``name/version``."""
    pages, token = [], None
    while True:
        page = fetch(token)
        pages.append([_label(item) for item in page])
        if (token := page.next_page_token) is None:
            return pages


def _label(item: RegisteredModel | ModelVersion) -> str:
    return f"{item.name}/{item.version}" if isinstance(item, ModelVersion) else item.name


def register_in_processes(uri: str, *, workers: int = 2, each: int = 20) -> None:
    """``workers`` processes register ``each`` versions of one new model at the same moment;
    every version number must be issued exactly once."""
    script = (
        "import sys, time\n"
        "from plinth.store.factory import open_sql_stores\n"
        "registry = open_sql_stores(sys.argv[1]).registry\n"
        "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"
        f"for i in range({each}): registry.create_model_version('racy', f's{{i}}')\n"
    )
    open_sql_stores(uri)  # migrate once, before the race
    start_at = str(time.time() + 2)
    procs = [
        subprocess.Popen([sys.executable, "-c", script, uri, start_at]) for _ in range(workers)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0] * workers
    registry = open_sql_stores(uri).registry
    versions = registry.search_model_versions(filter_string="name = 'racy'").items
    assert sorted(int(mv.version) for mv in versions) == list(range(1, workers * each + 1))


def make_history(store: RegistryStore, approver: RegistryStore) -> None:
    """One of every kind of change to model ``churn``, which ends renamed ``churn-v2``."""
    store.create_registered_model("churn")
    store.create_model_version("churn", "s1")
    store.create_model_version("churn", "s2")
    store.set_model_version_tag("churn", "1", RunTag("k", "v"))
    store.update_registered_model("churn", description="d")
    store.delete_model_version_tag("churn", "1", "k")
    first = store.request_promotion("churn", "1", stage=Stage.PRODUCTION, comment="go")
    approver.approve_promotion(first.request_id)
    second = store.request_promotion("churn", "2", stage=Stage.PRODUCTION)
    approver.approve_promotion(second.request_id)
    store.set_registered_model_alias("churn", "candidate", "2")
    store.delete_registered_model_alias("churn", "candidate")
    store.delete_model_version("churn", "1")
    store.record_model_event(
        "churn", "2", "deployed", comment="canary 10%", details={"endpoint": "churn"}
    )
    # A model with a version in Production cannot be renamed; leaving Production is approved.
    retire = store.request_promotion("churn", "2", stage=Stage.ARCHIVED)
    approver.approve_promotion(retire.request_id)
    store.rename_registered_model("churn", "churn-v2")


EXPECTED_HISTORY = [
    ("registered_model_created", None),
    ("model_version_created", "1"),
    ("model_version_created", "2"),
    ("tag_set", "1"),
    ("description_updated", None),
    ("tag_deleted", "1"),
    ("promotion_requested", "1"),
    ("promotion_approved", "1"),
    ("stage_transition", "1"),
    ("promotion_requested", "2"),
    ("promotion_approved", "2"),
    ("stage_transition", "2"),
    ("archived", "1"),
    ("alias_set", "2"),
    ("alias_deleted", "2"),
    ("version_deleted", "1"),
    ("deployed", "2"),
    ("promotion_requested", "2"),
    ("promotion_approved", "2"),
    ("stage_transition", "2"),
    ("renamed", None),
]


class RegistryStoreContract:
    __test__ = False
    impersonates: ClassVar[bool] = True
    """Whether ``with_actor`` changes who mutations are attributed to."""

    @pytest.fixture
    def store(self, stores: Stores) -> RegistryStore:
        return stores.registry

    @pytest.fixture
    def as_user(self, store: RegistryStore) -> AsUser:
        return store.with_actor

    @pytest.fixture
    def registry_with_inspector(self) -> Callable[[PackageInspector | None], RegistryStore]:
        pytest.skip("this backend cannot inject a package inspector")

    @pytest.fixture
    def make_run(self, stores: Stores) -> MakeRun:
        experiment_id = stores.tracking.create_experiment("registry-contract")

        def make(**metrics: float) -> str:
            run_id = stores.tracking.create_run(
                experiment_id, user_id="alice", start_time=T0
            ).info.run_id
            batch = [Metric(key=k, value=x, timestamp=T0) for k, x in metrics.items()]
            stores.tracking.log_batch(run_id, metrics=batch)
            return run_id

        return make

    @pytest.fixture
    def promote(self, store: RegistryStore, as_user: AsUser) -> Callable[..., PromotionRequest]:
        """Request a promotion as the store's actor and approve it as ``APPROVER``."""

        def run(name: str, version: str, **kwargs: object) -> PromotionRequest:
            if "alias" not in kwargs:
                kwargs.setdefault("stage", Stage.PRODUCTION)
            request = store.request_promotion(name, version, **kwargs)  # type: ignore[arg-type]
            return as_user(APPROVER).approve_promotion(request.request_id)

        return run

    # -- registered models -----------------------------------------------------------------
    def test_create_registered_model_is_readable(self, store: RegistryStore) -> None:
        created = store.create_registered_model(
            "churn", tags=[RunTag("team", "ml")], description="d"
        )
        assert (created.name, created.description, created.tags) == ("churn", "d", {"team": "ml"})
        assert created.latest_versions == [] and created.aliases == {}
        assert created.creation_timestamp > 0
        assert store.get_registered_model("churn") == created

    def test_create_registered_model_refuses_a_taken_name(self, store: RegistryStore) -> None:
        store.create_registered_model("churn")
        with pytest.raises(AlreadyExistsError):
            store.create_registered_model("churn")

    @pytest.mark.parametrize(
        "name",
        [
            pytest.param("", id="empty"),
            pytest.param("  ", id="blank"),
            pytest.param("a/b", id="slash"),
            pytest.param("a:b", id="colon"),
            pytest.param("x" * 257, id="too-long"),
        ],
    )
    def test_bad_model_names_are_invalid(self, store: RegistryStore, name: str) -> None:
        with pytest.raises(InvalidArgumentError, match="name"):
            store.create_registered_model(name)
        with pytest.raises(InvalidArgumentError, match="name"):
            store.create_model_version(name, "s3://b/m")

    def test_unknown_models_are_not_found(self, store: RegistryStore) -> None:
        for call in (
            lambda: store.get_registered_model("nope"),
            lambda: store.update_registered_model("nope", description="d"),
            lambda: store.rename_registered_model("nope", "other"),
            lambda: store.delete_registered_model("nope"),
            lambda: store.set_registered_model_tag("nope", RunTag("k", "v")),
            lambda: store.delete_registered_model_tag("nope", "k"),
            lambda: store.get_latest_versions("nope"),
            lambda: store.list_model_events("nope"),
            lambda: store.get_model_version("nope", "1"),
            lambda: store.get_model_version_by_alias("nope", "a"),
        ):
            with pytest.raises(NotFoundError):
                call()

    def test_update_registered_model_description(self, store: RegistryStore) -> None:
        before = store.create_registered_model("churn")
        updated = store.update_registered_model("churn", description="churn scorer")
        assert updated.description == "churn scorer"
        assert updated.last_updated_timestamp >= before.last_updated_timestamp
        assert store.get_registered_model("churn").description == "churn scorer"

    def test_registered_model_tags(self, store: RegistryStore) -> None:
        store.create_registered_model("churn")
        store.set_registered_model_tag("churn", RunTag("k", "1"))
        store.set_registered_model_tag("churn", RunTag("k", "2"))
        store.set_registered_model_tag("churn", RunTag("other", "x"))
        store.delete_registered_model_tag("churn", "other")
        store.delete_registered_model_tag("churn", "never-set")  # a no-op, as in MLflow
        assert store.get_registered_model("churn").tags == {"k": "2"}
        assert event_types(store, "churn").count("tag_deleted") == 1
        with pytest.raises(InvalidArgumentError):
            store.set_registered_model_tag("churn", RunTag("", "v"))

    def test_rename_carries_versions_aliases_history_and_requests(
        self, store: RegistryStore
    ) -> None:
        store.create_model_version("old", "s1", tags=[RunTag("k", "v")])
        store.set_registered_model_tag("old", RunTag("team", "ml"))
        store.set_registered_model_alias("old", "candidate", "1")
        request = store.request_promotion("old", "1", stage=Stage.STAGING)
        renamed = store.rename_registered_model("old", "new")
        assert (renamed.name, renamed.tags, renamed.aliases) == (
            "new",
            {"team": "ml"},
            {"candidate": "1"},
        )
        version = store.get_model_version("new", "1")
        assert (version.tags, version.aliases) == ({"k": "v"}, ["candidate"])
        assert store.get_promotion_request(request.request_id).name == "new"
        assert event_types(store, "new")[0] == "registered_model_created"
        assert store.list_model_events("new")[-1].details == {"from": "old", "to": "new"}
        with pytest.raises(NotFoundError):
            store.get_registered_model("old")

    def test_rename_errors(self, store: RegistryStore) -> None:
        store.create_registered_model("a")
        store.create_registered_model("b")
        with pytest.raises(AlreadyExistsError):
            store.rename_registered_model("a", "b")
        with pytest.raises(InvalidArgumentError):
            store.rename_registered_model("a", "x/y")

    def test_delete_registered_model_keeps_its_history(self, store: RegistryStore) -> None:
        store.create_model_version("churn", "s1")
        store.delete_registered_model("churn")
        with pytest.raises(NotFoundError):
            store.get_registered_model("churn")
        with pytest.raises(NotFoundError):
            store.get_model_version("churn", "1")
        assert event_types(store, "churn")[-1] == "model_deleted"
        assert store.create_registered_model("churn").latest_versions == []

    # -- versions --------------------------------------------------------------------------
    def test_versions_number_from_one_and_create_the_model(
        self, store: RegistryStore, make_run: MakeRun, actor: str
    ) -> None:
        run_id = make_run()
        first = store.create_model_version(
            "churn",
            f"runs:/{run_id}/model",
            run_id=run_id,
            tags=[RunTag("k", "v")],
            run_link="http://x",
            description="first",
        )
        assert (first.name, first.version, first.run_id) == ("churn", "1", run_id)
        assert (first.source, first.tags, first.description) == (
            f"runs:/{run_id}/model",
            {"k": "v"},
            "first",
        )
        assert (
            first.current_stage is Stage.NONE
            and first.aliases == []
            and first.run_link == "http://x"
        )
        assert first.user_id == actor
        assert [store.create_model_version("churn", f"s{i}").version for i in (2, 3)] == ["2", "3"]
        assert store.get_model_version("churn", "1") == first
        assert store.create_model_version("other", "s").version == "1"

    def test_create_model_version_checks_its_arguments(self, store: RegistryStore) -> None:
        with pytest.raises(NotFoundError):
            store.create_model_version("churn", "s", run_id=UNKNOWN_RUN)
        with pytest.raises(InvalidArgumentError):
            store.create_model_version("churn", "s", run_id="not a run id!")
        with pytest.raises(InvalidArgumentError):
            store.create_model_version("churn", "")
        with pytest.raises(NotFoundError):
            store.get_registered_model("churn")  # nothing half-created

    def test_version_numbers_are_never_reused(self, store: RegistryStore) -> None:
        store.create_model_version("churn", "s1")
        store.create_model_version("churn", "s2")
        store.delete_model_version("churn", "2")
        assert store.create_model_version("churn", "s3").version == "3"

    @pytest.mark.parametrize("version", ["abc", "0", "-1", "1.5"])
    def test_malformed_versions_are_invalid(self, store: RegistryStore, version: str) -> None:
        store.create_model_version("churn", "s1")
        with pytest.raises(InvalidArgumentError, match="version"):
            store.get_model_version("churn", version)

    def test_update_and_delete_model_version(self, store: RegistryStore) -> None:
        store.create_model_version("churn", "s1")
        assert store.update_model_version("churn", "1", description="d").description == "d"
        store.set_registered_model_alias("churn", "candidate", "1")
        store.delete_model_version("churn", "1")
        with pytest.raises(NotFoundError):
            store.get_model_version("churn", "1")
        assert store.get_registered_model("churn").aliases == {}
        with pytest.raises(NotFoundError):
            store.delete_model_version("churn", "1")
        with pytest.raises(NotFoundError):
            store.update_model_version("churn", "1", description="d")

    def test_model_version_tags(self, store: RegistryStore) -> None:
        store.create_model_version("churn", "s1")
        store.set_model_version_tag("churn", "1", RunTag("k", "1"))
        store.set_model_version_tag("churn", "1", RunTag("k", "2"))
        store.set_model_version_tag("churn", "1", RunTag("gone", "x"))
        store.delete_model_version_tag("churn", "1", "gone")
        store.delete_model_version_tag("churn", "1", "never-set")
        assert store.get_model_version("churn", "1").tags == {"k": "2"}
        with pytest.raises(NotFoundError):
            store.set_model_version_tag("churn", "9", RunTag("k", "v"))

    def test_latest_versions_are_the_newest_per_stage(self, store: RegistryStore) -> None:
        for i in range(1, 5):
            store.create_model_version("churn", f"s{i}")
        store.transition_model_version_stage("churn", "1", Stage.STAGING)
        store.transition_model_version_stage("churn", "2", Stage.ARCHIVED)
        latest = store.get_latest_versions("churn")
        assert [(mv.version, mv.current_stage) for mv in latest] == [
            ("4", Stage.NONE),
            ("1", Stage.STAGING),
            ("2", Stage.ARCHIVED),
        ]
        assert store.get_registered_model("churn").latest_versions == latest
        assert [mv.version for mv in store.get_latest_versions("churn", [Stage.STAGING])] == ["1"]

    # -- stages ----------------------------------------------------------------------------
    def test_stages_other_than_production_move_freely(self, store: RegistryStore) -> None:
        store.create_model_version("churn", "s1")
        for stage in (Stage.STAGING, Stage.ARCHIVED, Stage.NONE):
            moved = store.transition_model_version_stage("churn", "1", stage)
            assert moved.current_stage is stage
        transitions = [
            e.details
            for e in store.list_model_events("churn")
            if e.event_type == "stage_transition"
        ]
        assert transitions == [
            {"from": "None", "to": "Staging"},
            {"from": "Staging", "to": "Archived"},
            {"from": "Archived", "to": "None"},
        ]

    @pytest.mark.parametrize(
        ("archive", "expected"), [(True, Stage.ARCHIVED), (False, Stage.STAGING)]
    )
    def test_staging_archives_the_previous_staging_version_when_asked(
        self, store: RegistryStore, archive: bool, expected: Stage
    ) -> None:
        store.create_model_version("churn", "s1")
        store.create_model_version("churn", "s2")
        store.transition_model_version_stage("churn", "1", Stage.STAGING)
        store.transition_model_version_stage(
            "churn", "2", Stage.STAGING, archive_existing_versions=archive
        )
        assert stage_of(store, "churn", "1") is expected

    @pytest.mark.parametrize("stage", [Stage.PRODUCTION, "production", "Production"])
    def test_production_needs_an_approved_promotion(
        self, store: RegistryStore, stage: Stage
    ) -> None:
        store.create_model_version("churn", "s1")
        with pytest.raises(PermissionDeniedError) as denied:
            store.transition_model_version_stage("churn", "1", stage)
        message = str(denied.value)
        assert "plinth models request-promotion churn 1 --stage Production" in message
        assert "plinth models approve REQUEST_ID" in message
        assert "plinth.request_promotion" in message and "plinth.approve" in message
        assert stage_of(store, "churn", "1") is Stage.NONE
        with pytest.raises(NotFoundError):
            store.transition_model_version_stage("churn", "7", Stage.PRODUCTION)

    def test_invalid_stage_is_invalid_argument(self, store: RegistryStore) -> None:
        store.create_model_version("churn", "s1")
        with pytest.raises(InvalidArgumentError, match="stage"):
            store.transition_model_version_stage("churn", "1", "Prod")  # type: ignore[arg-type]

    # -- aliases ---------------------------------------------------------------------------
    def test_aliases_point_move_and_go(self, store: RegistryStore) -> None:
        store.create_model_version("churn", "s1")
        store.create_model_version("churn", "s2")
        store.set_registered_model_alias("churn", "candidate", "1")
        store.set_registered_model_alias("churn", "candidate", "2")
        store.set_registered_model_alias("churn", "shadow", "2")
        assert store.get_model_version_by_alias("churn", "candidate").version == "2"
        assert store.get_model_version("churn", "2").aliases == ["candidate", "shadow"]
        assert store.get_registered_model("churn").aliases == {"candidate": "2", "shadow": "2"}
        store.delete_registered_model_alias("churn", "candidate")
        store.delete_registered_model_alias("churn", "never-set")
        with pytest.raises(NotFoundError):
            store.get_model_version_by_alias("churn", "candidate")
        moves = [
            e.details for e in store.list_model_events("churn") if e.event_type.startswith("alias")
        ]
        assert moves == [
            {"alias": "candidate", "version": "1"},
            {"alias": "candidate", "version": "2", "previous": "1"},
            {"alias": "shadow", "version": "2"},
            {"alias": "candidate", "version": "2"},
        ]

    def test_latest_alias_is_the_newest_version(self, store: RegistryStore) -> None:
        store.create_model_version("churn", "s1")
        store.create_model_version("churn", "s2")
        assert store.get_model_version_by_alias("churn", "latest").version == "2"

    @pytest.mark.parametrize("alias", ["", "latest", "LATEST", "v3", "a b", "a/b"])
    def test_bad_aliases_are_invalid(self, store: RegistryStore, alias: str) -> None:
        store.create_model_version("churn", "s1")
        with pytest.raises(InvalidArgumentError, match=r"[Aa]lias"):
            store.set_registered_model_alias("churn", alias, "1")

    @pytest.mark.parametrize("alias", ["champion", "Champion", "PRODUCTION"])
    def test_protected_aliases_need_an_approved_promotion(
        self, store: RegistryStore, alias: str
    ) -> None:
        store.create_model_version("churn", "s1")
        with pytest.raises(PermissionDeniedError, match=f"--alias {alias}") as denied:
            store.set_registered_model_alias("churn", alias, "1")
        assert "plinth models approve REQUEST_ID" in str(denied.value)
        with pytest.raises(PermissionDeniedError, match="protected"):
            store.delete_registered_model_alias("churn", alias)
        assert store.get_registered_model("churn").aliases == {}

    # -- governance ------------------------------------------------------------------------
    def test_request_promotion_opens_a_pending_request(
        self, store: RegistryStore, actor: str
    ) -> None:
        store.create_model_version("churn", "s1")
        request = store.request_promotion("churn", "1", stage=Stage.PRODUCTION, comment="ready")
        assert (request.name, request.version, request.target_stage) == (
            "churn",
            "1",
            Stage.PRODUCTION,
        )
        assert (request.status, request.requested_by, request.comment) == (
            PromotionStatus.PENDING,
            actor,
            "ready",
        )
        assert request.target_alias is None and request.checks == [] and request.decided_by is None
        assert store.get_promotion_request(request.request_id) == request
        assert stage_of(store, "churn", "1") is Stage.NONE
        event = store.list_model_events("churn")[-1]
        assert (event.event_type, event.version, event.comment) == (
            "promotion_requested",
            "1",
            "ready",
        )
        assert event.details["request_id"] == request.request_id

    @pytest.mark.parametrize(
        "target",
        [
            pytest.param({}, id="none"),
            pytest.param({"stage": Stage.PRODUCTION, "alias": "champion"}, id="both"),
            pytest.param({"stage": Stage.ARCHIVED}, id="archived"),
            pytest.param({"stage": Stage.NONE}, id="stage-none"),
            pytest.param({"alias": "latest"}, id="reserved-alias"),
        ],
    )
    def test_request_promotion_needs_one_valid_target(
        self, store: RegistryStore, target: dict[str, object]
    ) -> None:
        store.create_model_version("churn", "s1")
        with pytest.raises(InvalidArgumentError):
            store.request_promotion("churn", "1", **target)  # type: ignore[arg-type]

    def test_request_promotion_errors(self, store: RegistryStore) -> None:
        store.create_model_version("churn", "s1")
        with pytest.raises(NotFoundError):
            store.request_promotion("churn", "2", stage=Stage.PRODUCTION)
        with pytest.raises(InvalidArgumentError, match="beats_production") as bad:
            store.request_promotion("churn", "1", stage=Stage.PRODUCTION, checks=["auc is great"])
        assert "metrics.<key>" in str(bad.value) and "tag:<key>" in str(bad.value)
        assert store.list_promotion_requests(name="churn") == []

    def test_approval_moves_to_production_and_archives_the_previous_one(
        self, store: RegistryStore, as_user: AsUser
    ) -> None:
        for i in (1, 2):
            store.create_model_version("churn", f"s{i}")
        first = store.request_promotion("churn", "1", stage=Stage.PRODUCTION)
        as_user(APPROVER).approve_promotion(first.request_id)
        second = store.request_promotion("churn", "2", stage=Stage.PRODUCTION)
        approved = as_user(APPROVER).approve_promotion(second.request_id, comment="better")
        assert (approved.status, approved.decision_comment, approved.override) == (
            PromotionStatus.APPROVED,
            "better",
            False,
        )
        assert approved.decided_by == (APPROVER if self.impersonates else approved.decided_by)
        assert approved.decided_at is not None
        assert (stage_of(store, "churn", "2"), stage_of(store, "churn", "1")) == (
            Stage.PRODUCTION,
            Stage.ARCHIVED,
        )
        assert event_types(store, "churn")[-3:] == [
            "promotion_approved",
            "stage_transition",
            "archived",
        ]
        archived = store.list_model_events("churn")[-1]
        assert (archived.version, archived.details["replaced_by"]) == ("1", "2")

    def test_approval_can_keep_the_previous_production_version(
        self, store: RegistryStore, promote: Callable[..., PromotionRequest]
    ) -> None:
        for i in (1, 2):
            store.create_model_version("churn", f"s{i}")
        promote("churn", "1")
        promote("churn", "2", archive_existing_versions=False)
        assert [stage_of(store, "churn", v) for v in ("1", "2")] == [Stage.PRODUCTION] * 2

    def test_leaving_production_needs_approval_and_then_deletion_is_allowed(
        self, store: RegistryStore, promote: Callable[..., PromotionRequest]
    ) -> None:
        store.create_model_version("churn", "s1")
        promote("churn", "1")
        with pytest.raises(PermissionDeniedError, match="Production"):
            store.delete_model_version("churn", "1")
        with pytest.raises(PermissionDeniedError, match="Production"):
            store.delete_registered_model("churn")
        for stage in (Stage.ARCHIVED, Stage.NONE, Stage.STAGING):
            with pytest.raises(PermissionDeniedError, match=f"--stage {stage.value}"):
                store.transition_model_version_stage("churn", "1", stage)
        assert stage_of(store, "churn", "1") is Stage.PRODUCTION
        promote("churn", "1", stage=Stage.ARCHIVED)
        assert stage_of(store, "churn", "1") is Stage.ARCHIVED
        store.delete_model_version("churn", "1")
        store.delete_registered_model("churn")

    def test_versions_holding_a_protected_alias_cannot_be_deleted(
        self, store: RegistryStore, promote: Callable[..., PromotionRequest]
    ) -> None:
        store.create_model_version("churn", "s1")
        promote("churn", "1", alias="champion")
        with pytest.raises(PermissionDeniedError, match="@champion"):
            store.delete_model_version("churn", "1")
        with pytest.raises(PermissionDeniedError, match="@champion"):
            store.delete_registered_model("churn")
        assert store.get_model_version_by_alias("churn", "champion").version == "1"

    def test_alias_promotion_moves_a_protected_alias(
        self, store: RegistryStore, promote: Callable[..., PromotionRequest]
    ) -> None:
        for i in (1, 2):
            store.create_model_version("churn", f"s{i}")
        promote("churn", "1", alias="champion")
        approved = promote("churn", "2", alias="champion")
        assert approved.target == "alias @champion"
        assert store.get_model_version_by_alias("churn", "champion").version == "2"
        assert store.list_model_events("churn")[-1].details == {
            "alias": "champion",
            "version": "2",
            "previous": "1",
            "request_id": approved.request_id,
        }
        promote("churn", "1", alias="challenger")  # unprotected aliases may be requested too
        assert store.get_registered_model("churn").aliases == {"champion": "2", "challenger": "1"}

    def test_four_eyes(self, store: RegistryStore, as_user: AsUser, actor: str) -> None:
        if not self.impersonates:
            pytest.skip("needs two identities on one backend")
        store.create_model_version("churn", "s1")
        alice = as_user("alice")
        request = alice.request_promotion("churn", "1", stage=Stage.PRODUCTION)
        with pytest.raises(PermissionDeniedError, match="four eyes"):
            alice.approve_promotion(request.request_id)
        assert store.get_promotion_request(request.request_id).status is PromotionStatus.PENDING
        assert as_user("bob").approve_promotion(request.request_id).decided_by == "bob"

    def test_the_embedded_local_user_may_approve_its_own_request(
        self, store: RegistryStore, actor: str
    ) -> None:
        if actor != LOCAL_USER:
            pytest.skip("only the embedded user 'local' is exempt from four eyes")
        store.create_model_version("churn", "s1")
        request = store.request_promotion("churn", "1", stage=Stage.PRODUCTION)
        approved = store.approve_promotion(request.request_id)
        assert (approved.requested_by, approved.decided_by) == (LOCAL_USER, LOCAL_USER)
        assert stage_of(store, "churn", "1") is Stage.PRODUCTION

    @pytest.mark.parametrize(
        ("override", "comment"),
        [
            pytest.param(False, "looks fine", id="no-override"),
            pytest.param(True, None, id="no-comment"),
            pytest.param(True, "   ", id="blank-comment"),
        ],
    )
    def test_failed_checks_need_an_override_and_a_comment(
        self,
        store: RegistryStore,
        as_user: AsUser,
        make_run: MakeRun,
        override: bool,
        comment: str | None,
    ) -> None:
        run_id = make_run(auc=0.7)
        store.create_model_version("churn", "s1", run_id=run_id)
        request = store.request_promotion(
            "churn", "1", stage=Stage.PRODUCTION, checks=["metrics.auc >= 0.8"]
        )
        assert not request.checks_passed
        with pytest.raises(PermissionDeniedError, match="override") as denied:
            as_user(APPROVER).approve_promotion(
                request.request_id, override=override, comment=comment
            )
        assert "metrics.auc >= 0.8" in str(denied.value)
        assert stage_of(store, "churn", "1") is Stage.NONE

    def test_an_explained_override_approves_failed_checks(
        self, store: RegistryStore, as_user: AsUser, make_run: MakeRun
    ) -> None:
        store.create_model_version("churn", "s1", run_id=make_run(auc=0.7))
        request = store.request_promotion(
            "churn", "1", stage=Stage.PRODUCTION, checks=["metrics.auc >= 0.8"]
        )
        approved = as_user(APPROVER).approve_promotion(
            request.request_id, override=True, comment="hotfix, CR-1"
        )
        assert (approved.override, approved.decision_comment) == (True, "hotfix, CR-1")
        event = next(
            e for e in store.list_model_events("churn") if e.event_type == "promotion_approved"
        )
        assert (event.details["override"], event.comment) == ("true", "hotfix, CR-1")
        assert stage_of(store, "churn", "1") is Stage.PRODUCTION

    def test_only_pending_requests_are_decided(self, store: RegistryStore, as_user: AsUser) -> None:
        store.create_model_version("churn", "s1")
        approver = as_user(APPROVER)
        approved = store.request_promotion("churn", "1", stage=Stage.STAGING)
        approver.approve_promotion(approved.request_id)
        rejected = store.request_promotion("churn", "1", stage=Stage.STAGING)
        approver.reject_promotion(rejected.request_id)
        for request_id in (approved.request_id, rejected.request_id):
            with pytest.raises(ConflictError):
                approver.approve_promotion(request_id)
            with pytest.raises(ConflictError):
                approver.reject_promotion(request_id)
        for call in (
            approver.approve_promotion,
            approver.reject_promotion,
            store.get_promotion_request,
        ):
            with pytest.raises(NotFoundError):
                call("f" * 32)

    def test_reject_records_the_decision_without_moving(
        self, store: RegistryStore, as_user: AsUser
    ) -> None:
        store.create_model_version("churn", "s1")
        request = store.request_promotion("churn", "1", stage=Stage.PRODUCTION)
        rejected = as_user(APPROVER).reject_promotion(request.request_id, comment="needs eval")
        assert (rejected.status, rejected.decision_comment) == (
            PromotionStatus.REJECTED,
            "needs eval",
        )
        assert rejected.decided_at is not None and stage_of(store, "churn", "1") is Stage.NONE
        event = store.list_model_events("churn")[-1]
        assert (event.event_type, event.comment) == ("promotion_rejected", "needs eval")

    def test_deleting_a_version_cancels_its_pending_requests(
        self, store: RegistryStore, as_user: AsUser
    ) -> None:
        store.create_model_version("churn", "s1")
        request = store.request_promotion("churn", "1", stage=Stage.PRODUCTION)
        store.delete_model_version("churn", "1")
        assert store.get_promotion_request(request.request_id).status is PromotionStatus.CANCELLED
        with pytest.raises(ConflictError):
            as_user(APPROVER).approve_promotion(request.request_id)

    def test_list_promotion_requests_newest_first(
        self, store: RegistryStore, as_user: AsUser
    ) -> None:
        store.create_model_version("a", "s")
        store.create_model_version("b", "s")
        first = store.request_promotion("a", "1", stage=Stage.STAGING)
        second = store.request_promotion("b", "1", stage=Stage.STAGING)
        third = store.request_promotion("a", "1", stage=Stage.PRODUCTION)
        as_user(APPROVER).reject_promotion(first.request_id)
        ids = [r.request_id for r in store.list_promotion_requests()]
        assert ids == [third.request_id, second.request_id, first.request_id]
        assert [r.request_id for r in store.list_promotion_requests(name="a")] == [
            third.request_id,
            first.request_id,
        ]
        pending = store.list_promotion_requests(name="a", status=PromotionStatus.PENDING)
        assert [r.request_id for r in pending] == [third.request_id]

    # -- gates -----------------------------------------------------------------------------
    @pytest.mark.parametrize(
        ("check", "passed", "detail"),
        [
            pytest.param("metrics.auc >= 0.80", True, "auc = 0.85", id="threshold-met"),
            pytest.param("metrics.auc > 0.9", False, "auc = 0.85", id="threshold-missed"),
            pytest.param("metrics.loss < 0.5", False, "no metric 'loss'", id="missing-metric"),
            pytest.param("tag:owner", True, "version tag owner", id="version-tag"),
            pytest.param("tag:team", True, "model tag team", id="model-tag"),
            pytest.param("tag:ticket", False, "neither", id="missing-tag"),
            pytest.param(
                "beats_production:metrics.auc", True, "no Production version", id="no-prod"
            ),
        ],
    )
    def test_checks_are_evaluated_on_request(
        self, store: RegistryStore, make_run: MakeRun, check: str, passed: bool, detail: str
    ) -> None:
        store.create_model_version(
            "churn", "s1", run_id=make_run(auc=0.85), tags=[RunTag("owner", "ana")]
        )
        store.set_registered_model_tag("churn", RunTag("team", "ml"))
        request = store.request_promotion("churn", "1", stage=Stage.PRODUCTION, checks=[check])
        (result,) = request.checks
        assert (result.check, result.passed) == (check, passed)
        assert detail in result.detail
        assert store.get_promotion_request(request.request_id).checks == [result]

    @pytest.mark.parametrize(("auc", "passed"), [(0.9, True), (0.8, False), (0.7, False)])
    def test_beats_production_is_strictly_greater(
        self,
        store: RegistryStore,
        make_run: MakeRun,
        promote: Callable[..., PromotionRequest],
        auc: float,
        passed: bool,
    ) -> None:
        store.create_model_version("churn", "s1", run_id=make_run(auc=0.8))
        promote("churn", "1")
        store.create_model_version("churn", "s2", run_id=make_run(auc=auc))
        request = store.request_promotion(
            "churn", "2", stage=Stage.PRODUCTION, checks=["beats_production:metrics.auc"]
        )
        assert request.checks[0].passed is passed
        assert "Production version 1" in request.checks[0].detail

    def test_metric_checks_fail_without_a_source_run(self, store: RegistryStore) -> None:
        store.create_model_version("churn", "s1")
        request = store.request_promotion(
            "churn", "1", alias="champion", checks=["metrics.auc > 0"]
        )
        assert not request.checks[0].passed and "no source run" in request.checks[0].detail

    def test_signature_check_without_an_inspector_fails(self, stores: Stores) -> None:
        store = stores.registry
        store.create_model_version("churn", "s1")
        request = store.request_promotion(
            "churn", "1", stage=Stage.PRODUCTION, checks=["signature"]
        )
        assert not request.checks[0].passed
        assert "cannot inspect the package" in request.checks[0].detail

    @pytest.mark.parametrize(
        ("package", "passed", "detail"),
        [
            pytest.param(
                PackageInfo(has_signature=True, flavors=("sklearn",)), True, "sklearn", id="signed"
            ),
            pytest.param(PackageInfo(has_signature=False), False, "no signature", id="unsigned"),
            pytest.param(None, False, "no MLmodel package", id="no-package"),
        ],
    )
    def test_signature_check_reads_the_package_at_the_source(
        self,
        registry_with_inspector: Callable[[PackageInspector | None], RegistryStore],
        package: PackageInfo | None,
        passed: bool,
        detail: str,
    ) -> None:
        sources: list[str] = []

        def inspect(source: str, /) -> PackageInfo | None:
            sources.append(source)
            return package

        store = registry_with_inspector(inspect)
        store.create_model_version("churn", "s3://bucket/model")
        request = store.request_promotion(
            "churn", "1", stage=Stage.PRODUCTION, checks=["signature"]
        )
        assert (request.checks[0].passed, sources) == (passed, ["s3://bucket/model"])
        assert detail in request.checks[0].detail

    # -- history and audit -----------------------------------------------------------------
    def test_history_records_every_change_in_order(
        self, store: RegistryStore, as_user: AsUser, actor: str
    ) -> None:
        make_history(store, as_user(APPROVER))
        events = store.list_model_events("churn-v2")
        assert [(e.event_type, e.version) for e in events] == EXPECTED_HISTORY
        assert [e.event_id for e in events] == sorted(e.event_id for e in events)
        assert [e.timestamp for e in events] == sorted(e.timestamp for e in events)
        assert events[6].comment == "go" and events[16].details == {"endpoint": "churn"}
        assert events[16].comment == "canary 10%"
        if self.impersonates:
            assert {e.user_name for e in events[7:9]} == {APPROVER}
            assert events[0].user_name == actor

    def test_record_model_event_checks_its_target(self, store: RegistryStore) -> None:
        store.create_model_version("churn", "s1")
        with pytest.raises(NotFoundError):
            store.record_model_event("nope", None, "deployed")
        with pytest.raises(NotFoundError):
            store.record_model_event("churn", "9", "deployed")
        for event_type in ("", "promotion_approved", "stage_transition"):
            with pytest.raises(InvalidArgumentError):
                store.record_model_event("churn", "1", event_type)

    def test_mutations_are_audited(self, stores: Stores) -> None:
        store = stores.registry
        store.create_model_version("churn", "s1")
        store.set_registered_model_alias("churn", "candidate", "1")
        request = store.request_promotion("churn", "1", stage=Stage.STAGING)
        store.with_actor(APPROVER).reject_promotion(request.request_id)
        actions = {e.action for e in stores.auth.list_audit_events()}
        assert {"create_registered_model", "create_model_version", "set_alias"} <= actions
        assert {"request_promotion", "reject_promotion"} <= actions

    # -- search ----------------------------------------------------------------------------
    @pytest.mark.parametrize(
        ("filter_string", "expected"),
        [
            pytest.param("name = 'churn-a'", ["churn-a"], id="eq"),
            pytest.param("name LIKE 'churn%'", ["churn-a", "churn-b"], id="like"),
            pytest.param("name LIKE 'CHURN%'", [], id="like-is-case-sensitive"),
            pytest.param("name ILIKE 'CHURN%'", ["churn-a", "churn-b"], id="ilike"),
            pytest.param("tags.team = 'ml' AND name != 'churn-a'", ["fraud"], id="tag-and-ne"),
            pytest.param(None, ["churn-a", "churn-b", "fraud"], id="all"),
        ],
    )
    def test_search_registered_models_filters(
        self, store: RegistryStore, filter_string: str | None, expected: list[str]
    ) -> None:
        store.create_registered_model("fraud", tags=[RunTag("team", "ml")])
        store.create_registered_model("churn-b")
        store.create_registered_model("churn-a", tags=[RunTag("team", "ml")])
        found = store.search_registered_models(filter_string=filter_string)
        assert [m.name for m in found] == expected

    def test_search_registered_models_orders_and_pages(self, store: RegistryStore) -> None:
        for name in ("b", "c", "a", "d", "e"):
            store.create_registered_model(name)
            time.sleep(0.002)  # distinct last_updated_timestamp
        pages = collect(lambda t: store.search_registered_models(max_results=2, page_token=t))
        assert pages == [["a", "b"], ["c", "d"], ["e"]]
        newest = store.search_registered_models(order_by=["last_updated_timestamp DESC"])
        assert [m.name for m in newest] == ["e", "d", "a", "c", "b"]
        assert [m.name for m in store.search_registered_models(order_by=["name DESC"])][:2] == [
            "e",
            "d",
        ]
        with pytest.raises(InvalidArgumentError):
            store.search_registered_models(filter_string="source_path = 'x'")
        with pytest.raises(InvalidArgumentError):
            store.search_registered_models(max_results=0)

    @pytest.fixture
    def versions(
        self, store: RegistryStore, make_run: MakeRun, promote: Callable[..., PromotionRequest]
    ) -> str:
        """churn 1-4 (1 from the returned run, 3 in Production, 4 tagged) and fraud 1."""
        run_id = make_run()
        store.create_model_version("churn", "s3://m/1", run_id=run_id)
        store.create_model_version("churn", "s3://m/2")
        store.create_model_version("churn", "s3://m/3")
        store.create_model_version("churn", "s3://m/4", tags=[RunTag("k", "v")])
        store.create_model_version("fraud", "s3://f/1")
        promote("churn", "3")
        return run_id

    @pytest.mark.parametrize(
        ("filter_string", "expected"),
        [
            pytest.param("name = 'churn'", ["churn/4", "churn/3", "churn/2", "churn/1"], id="name"),
            pytest.param(
                "name = 'churn' AND version_number > 2", ["churn/4", "churn/3"], id="number"
            ),
            pytest.param("source_path = 's3://m/2'", ["churn/2"], id="source"),
            pytest.param("current_stage = 'Production'", ["churn/3"], id="stage"),
            pytest.param("current_stage = 'production'", ["churn/3"], id="stage-any-case"),
            pytest.param("tags.k = 'v'", ["churn/4"], id="tag"),
            pytest.param("name IN ('fraud', 'nope')", ["fraud/1"], id="in"),
        ],
    )
    def test_search_model_versions_filters(
        self, store: RegistryStore, versions: str, filter_string: str, expected: list[str]
    ) -> None:
        found = store.search_model_versions(
            filter_string=filter_string, order_by=["name", "version_number DESC"]
        )
        assert [f"{mv.name}/{mv.version}" for mv in found] == expected

    def test_search_model_versions_by_run_and_pages(
        self, store: RegistryStore, versions: str
    ) -> None:
        found = store.search_model_versions(filter_string=f"run_id = '{versions}'")
        assert [(mv.name, mv.version) for mv in found] == [("churn", "1")]
        pages = collect(
            lambda t: store.search_model_versions(
                order_by=["name ASC", "version_number ASC"], max_results=2, page_token=t
            )
        )
        assert pages == [["churn/1", "churn/2"], ["churn/3", "churn/4"], ["fraud/1"]]
        newest = store.search_model_versions(max_results=1).items[0]
        assert (newest.name, newest.version) == ("churn", "3")  # last updated: promoted
        with pytest.raises(InvalidArgumentError):
            store.search_model_versions(filter_string="metrics.auc > 1")
        with pytest.raises(InvalidArgumentError):
            store.search_model_versions(filter_string="version_number > 'x'")

    # -- concurrency -----------------------------------------------------------------------
    def test_concurrent_registrations_get_distinct_numbers(self, store: RegistryStore) -> None:
        def register(worker: int) -> None:
            mine = store.with_actor(f"worker{worker}")
            for i in range(20):
                mine.create_model_version("racy", f"s{worker}-{i}")

        errors = at_once(lambda: register(1), lambda: register(2))
        assert errors == []
        versions = store.search_model_versions(filter_string="name = 'racy'").items
        assert sorted(int(mv.version) for mv in versions) == list(range(1, 41))
        assert event_types(store, "racy").count("registered_model_created") == 1

    # -- logged models ---------------------------------------------------------------------
    def test_create_logged_model(self, stores: Stores, make_run: MakeRun) -> None:
        run_id = make_run()
        experiment = stores.tracking.get_experiment_by_name("registry-contract")
        model = stores.registry.create_logged_model(
            experiment.experiment_id,
            name="model",
            source_run_id=run_id,
            model_type="classifier",
            tags=[RunTag("k", "v")],
            params=[Param("alpha", "0.1")],
        )
        assert model.model_id.startswith("m-") and len(model.model_id) == 34
        int(model.model_id[2:], 16)
        root = experiment.artifact_location.rstrip("/")
        assert model.artifact_location == f"{root}/models/{model.model_id}/artifacts"
        assert (model.status, model.source_run_id, model.model_type) == (
            LoggedModelStatus.PENDING,
            run_id,
            "classifier",
        )
        assert (model.tags, model.params, model.name) == ({"k": "v"}, {"alpha": "0.1"}, "model")
        assert stores.registry.get_logged_model(model.model_id) == model

    def test_create_logged_model_errors(self, stores: Stores) -> None:
        registry = stores.registry
        experiment_id = stores.tracking.create_experiment("lm")
        with pytest.raises(NotFoundError):
            registry.create_logged_model("424242", name="m")
        with pytest.raises(NotFoundError):
            registry.create_logged_model(experiment_id, name="m", source_run_id=UNKNOWN_RUN)
        for bad in ("", "a/b", "a.b", "a:b"):
            with pytest.raises(InvalidArgumentError):
                registry.create_logged_model(experiment_id, name=bad)

    def test_logged_model_lifecycle(self, stores: Stores) -> None:
        registry = stores.registry
        experiment_id = stores.tracking.create_experiment("lm")
        model_id = registry.create_logged_model(experiment_id, name="m").model_id
        assert (
            registry.finalize_logged_model(model_id, LoggedModelStatus.READY).status
            is LoggedModelStatus.READY
        )
        registry.set_logged_model_tags(model_id, [RunTag("a", "1"), RunTag("b", "2")])
        registry.delete_logged_model_tag(model_id, "b")
        with pytest.raises(NotFoundError):
            registry.delete_logged_model_tag(model_id, "b")
        registry.log_logged_model_params(model_id, [Param("p", "1")])
        registry.log_logged_model_params(model_id, [Param("p", "1"), Param("q", "2")])
        with pytest.raises(InvalidArgumentError, match="Changing param"):
            registry.log_logged_model_params(model_id, [Param("p", "9")])
        model = registry.get_logged_model(model_id)
        assert (model.tags, model.params) == ({"a": "1"}, {"p": "1", "q": "2"})
        registry.delete_logged_model(model_id)
        for call in (registry.get_logged_model, registry.delete_logged_model):
            with pytest.raises(NotFoundError):
                call(model_id)
        assert registry.search_logged_models([experiment_id]).items == []

    def test_search_logged_models_newest_first(self, stores: Stores) -> None:
        registry = stores.registry
        first = stores.tracking.create_experiment("lm-1")
        second = stores.tracking.create_experiment("lm-2")
        ids = []
        for experiment_id, name in ((first, "a"), (second, "b"), (first, "c")):
            ids.append(
                registry.create_logged_model(
                    experiment_id, name=name, tags=[RunTag("n", name)]
                ).model_id
            )
            time.sleep(0.002)
        pages = []
        token = None
        while True:
            page = registry.search_logged_models([first, second], max_results=2, page_token=token)
            pages.append([m.model_id for m in page])
            if (token := page.next_page_token) is None:
                break
        assert pages == [[ids[2], ids[1]], [ids[0]]]
        assert [m.name for m in registry.search_logged_models([first])] == ["c", "a"]
        found = registry.search_logged_models([first, second], filter_string="tags.n = 'b'")
        assert [m.model_id for m in found] == [ids[1]]

    def test_metrics_logged_with_a_model_id_belong_to_the_model(
        self, stores: Stores, make_run: MakeRun
    ) -> None:
        tracking, registry = stores.tracking, stores.registry
        run_id, experiment_id = run_in_experiment(stores, make_run)
        model_id = registry.create_logged_model(experiment_id, name="m").model_id
        batch = [
            Metric(key="acc", value=0.9, timestamp=T0 + 1, step=1, model_id=model_id),
            Metric(key="acc", value=0.8, timestamp=T0, step=0, model_id=model_id),
            Metric(
                key="auc",
                value=math.inf,
                timestamp=T0,
                model_id=model_id,
                dataset_name="eval",
                dataset_digest="d1",
            ),
            Metric(key="loss", value=math.nan, timestamp=T0, model_id=model_id),
            Metric(key="run_only", value=1.0, timestamp=T0),
        ]
        tracking.log_batch(run_id, metrics=batch)

        points = registry.get_logged_model(model_id).metrics
        assert [(m.key, m.value, m.step) for m in points[:3]] == [
            ("acc", 0.8, 0),
            ("acc", 0.9, 1),
            ("auc", math.inf, 0),
        ]
        assert (points[2].dataset_name, points[2].dataset_digest) == ("eval", "d1")
        assert points[3].key == "loss" and math.isnan(points[3].value)
        assert {(m.run_id, m.model_id) for m in points} == {(run_id, model_id)}
        run_metrics = tracking.get_run(run_id).data.metrics
        assert set(run_metrics) == {"acc", "auc", "loss", "run_only"}

    def test_a_metric_for_a_missing_model_writes_nothing(
        self, stores: Stores, make_run: MakeRun
    ) -> None:
        tracking, registry = stores.tracking, stores.registry
        run_id, experiment_id = run_in_experiment(stores, make_run)
        metric = Metric(key="acc", value=0.5, timestamp=T0, model_id="m-unknown")
        with pytest.raises(NotFoundError, match="m-unknown"):
            tracking.log_batch(run_id, metrics=[metric, Metric(key="x", value=1, timestamp=T0)])
        for name, digest in (("", "d"), ("e", "")):
            empty = Metric(
                key="acc",
                value=0.5,
                timestamp=T0,
                model_id=registry.create_logged_model(experiment_id, name="m").model_id,
                dataset_name=name,
                dataset_digest=digest,
            )
            with pytest.raises(InvalidArgumentError, match="empty"):
                tracking.log_batch(run_id, metrics=[empty])
        with pytest.raises(InvalidArgumentError, match="dataset_digest"):
            model_id = registry.create_logged_model(experiment_id, name="m").model_id
            half = Metric(key="acc", value=0.5, timestamp=T0, model_id=model_id, dataset_name="e")
            tracking.log_batch(run_id, metrics=[half])
        model_id = registry.create_logged_model(experiment_id, name="m").model_id
        for field, wrong in (("model_id", 5), ("dataset_name", 5), ("dataset_digest", 5)):
            # Embedded and over REST alike: a number is no id or name (REST used to send "5").
            named = {"model_id": model_id, "dataset_name": "e", "dataset_digest": "d"}
            odd = Metric(key="acc", value=0.5, timestamp=T0, **{**named, field: wrong})
            with pytest.raises(InvalidArgumentError, match=field):
                tracking.log_batch(run_id, metrics=[odd])
        assert tracking.get_run(run_id).data.metrics == {}

    def test_a_deleted_model_still_takes_the_metrics_of_its_run(
        self, stores: Stores, make_run: MakeRun
    ) -> None:
        # MLflow's fluent log_metric sends the id of the run's output model with every metric
        # of that step: deleting the model must not make the run's own metrics fail.
        tracking, registry = stores.tracking, stores.registry
        run_id, experiment_id = run_in_experiment(stores, make_run)
        model_id = registry.create_logged_model(experiment_id, name="gone").model_id
        tracking.log_outputs(run_id, [LoggedModelOutput(model_id=model_id)])
        registry.delete_logged_model(model_id)

        tracking.log_batch(
            run_id, metrics=[Metric(key="acc", value=0.5, timestamp=T0, model_id=model_id)]
        )

        assert tracking.get_run(run_id).data.metrics == {"acc": 0.5}

    def test_a_point_sent_again_for_a_model_is_kept_once(
        self, stores: Stores, make_run: MakeRun
    ) -> None:
        tracking, registry = stores.tracking, stores.registry
        # auc logged at T0, step 0
        run_id, experiment_id = run_in_experiment(stores, make_run, auc=0.5)
        models = [registry.create_logged_model(experiment_id, name=n).model_id for n in "ab"]
        same = [Metric(key="auc", value=0.5, timestamp=T0, model_id=m) for m in models]

        tracking.log_batch(run_id, metrics=same)  # the run's point again, for two models
        tracking.log_batch(run_id, metrics=same[:1])  # and once more for the first
        tracking.update_run_info(run_id, status=RunStatus.FINISHED, end_time=T0 + 1)
        late = registry.create_logged_model(experiment_id, name="late").model_id
        # Linking a finished run's point to a model leaves the run's record as it was ...
        tracking.log_batch(run_id, metrics=[replace(same[0], model_id=late)])
        # ... but a new point is still refused.
        with pytest.raises(ConflictError):
            new = Metric(key="auc", value=0.6, timestamp=T0, model_id=late)
            tracking.log_batch(run_id, metrics=[new])

        assert [p.value for p in tracking.get_metric_history(run_id, "auc").items] == [0.5]
        # A long batch (more steps than one IN list holds) is matched as well.
        other = make_run()
        curved = registry.create_logged_model(experiment_id, name="curved").model_id
        curve = [
            Metric(key="loss", value=1 / (i + 1), timestamp=T0 + i, step=i, model_id=curved)
            for i in range(950)
        ]
        tracking.log_batch(other, metrics=curve)
        tracking.log_batch(other, metrics=curve)
        assert len(tracking.get_metric_history(other, "loss").items) == 950
        assert len(registry.get_logged_model(curved).metrics) == 950
        # A plain repeat riding in a model-linked batch is stored as a plain batch stores
        # it: once; a plain new point is added.
        plain_repeat = replace(curve[1], model_id=None)
        plain_new = replace(curve[1], model_id=None, step=-1)
        tracking.log_batch(other, metrics=[curve[0], plain_repeat, plain_new])
        assert len(tracking.get_metric_history(other, "loss").items) == 951
        for model_id in (*models, late):
            assert [(m.key, m.value) for m in registry.get_logged_model(model_id).metrics] == [
                ("auc", 0.5)
            ]

    def test_writers_sending_the_same_model_points_at_once_store_them_once(
        self, stores: Stores, make_run: MakeRun
    ) -> None:
        tracking, registry = stores.tracking, stores.registry
        run_id, experiment_id = run_in_experiment(stores, make_run)
        model_id = registry.create_logged_model(experiment_id, name="m").model_id
        points = [
            Metric(key="loss", value=1 / (i + 1), timestamp=T0 + i, step=i, model_id=model_id)
            for i in range(30)
        ]
        assert at_once(*[lambda: tracking.log_batch(run_id, metrics=points)] * 4) == []

        assert len(tracking.get_metric_history(run_id, "loss").items) == 30
        assert len(registry.get_logged_model(model_id).metrics) == 30

    def test_a_models_output_step_gives_it_the_runs_untaken_points_of_that_step(
        self, stores: Stores, make_run: MakeRun
    ) -> None:
        tracking, registry = stores.tracking, stores.registry
        run_id, experiment_id = run_in_experiment(stores, make_run)
        tracking.log_batch(
            run_id,
            metrics=[
                Metric(key="auc", value=0.7, timestamp=T0, step=0),
                Metric(key="auc", value=0.8, timestamp=T0 + 1, step=1),
                Metric(key="auc", value=0.8, timestamp=T0 + 1, step=1),  # twice: stored once
                Metric(key="loss", value=math.nan, timestamp=T0 + 1, step=1),
            ],
        )
        first, second, third = (
            registry.create_logged_model(experiment_id, name=n).model_id for n in "abc"
        )

        tracking.log_outputs(run_id, [LoggedModelOutput(model_id=first, step=1)])
        tracking.log_outputs(run_id, [LoggedModelOutput(model_id=second, step=1)])  # all taken
        tracking.log_outputs(run_id, [LoggedModelOutput(model_id=third, step=0)])

        def points(model_id: str) -> list[tuple[str, int]]:
            return [(m.key, m.step) for m in registry.get_logged_model(model_id).metrics]

        assert points(first) == [("auc", 1), ("loss", 1)]
        assert math.isnan(registry.get_logged_model(first).metrics[1].value)
        assert points(second) == []
        assert points(third) == [("auc", 0)]
        assert len(tracking.get_metric_history(run_id, "auc").items) == 2  # the run unchanged

    def test_runs_record_the_models_they_consume_and_produce(
        self, stores: Stores, make_run: MakeRun
    ) -> None:
        tracking, registry = stores.tracking, stores.registry
        run_id, experiment_id = run_in_experiment(stores, make_run)
        produced = registry.create_logged_model(experiment_id, name="out").model_id
        consumed = registry.create_logged_model(experiment_id, name="in").model_id

        tracking.log_outputs(run_id, [LoggedModelOutput(model_id=produced, step=5)])
        tracking.log_outputs(run_id, [LoggedModelOutput(model_id=produced, step=2)])
        tracking.log_outputs(run_id, [LoggedModelOutput(model_id=produced, step=2)])  # again
        tracking.log_inputs(run_id, models=[LoggedModelInput(model_id=consumed)])
        tracking.log_inputs(run_id, models=[LoggedModelInput(model_id=consumed)])

        run = tracking.get_run(run_id)
        assert run.outputs.model_outputs == [  # in the order they were logged
            LoggedModelOutput(model_id=produced, step=5),
            LoggedModelOutput(model_id=produced, step=2),
        ]
        assert run.inputs.model_inputs == [LoggedModelInput(model_id=consumed)]
        searched = tracking.search_runs([experiment_id]).items
        assert [r.outputs for r in searched if r.info.run_id == run_id] == [run.outputs]
        with pytest.raises(NotFoundError, match="m-missing"):
            tracking.log_outputs(run_id, [LoggedModelOutput(model_id="m-missing")])
        with pytest.raises(NotFoundError):
            tracking.log_inputs(UNKNOWN_RUN, models=[LoggedModelInput(model_id=consumed)])

    def test_search_logged_models_by_metric(self, stores: Stores, make_run: MakeRun) -> None:
        tracking, registry = stores.tracking, stores.registry
        run_id, experiment_id = run_in_experiment(stores, make_run)
        ids = {}
        for name in "abcd":
            ids[name] = registry.create_logged_model(experiment_id, name=name).model_id
            time.sleep(0.002)  # distinct creation times: the default order is newest first
        points = [("a", 0.7, "eval", 1), ("a", 0.95, "eval", 2), ("b", 0.9, "eval", 1)]
        points += [("b", 0.99, "train", 2), ("c", 0.8, "eval", 1), ("d", math.nan, "eval", 1)]
        tracking.log_batch(
            run_id,
            metrics=[
                Metric(
                    key="acc",
                    value=value,
                    timestamp=T0 + t,
                    model_id=ids[name],
                    dataset_name=dataset,
                    dataset_digest="d",
                )
                for name, value, dataset, t in points
            ],
        )

        def names(**kwargs: object) -> list[str]:
            page = registry.search_logged_models([experiment_id], **kwargs)  # type: ignore[arg-type]
            return [m.name for m in page]

        assert names() == ["d", "c", "b", "a"]
        assert names(filter_string="metrics.acc > 0.85") == ["b", "a"]
        assert names(filter_string="metrics.acc >= 0.99 and name != 'a'") == ["b"]
        on_eval = [DatasetFilter(dataset_name="eval", dataset_digest="d")]
        assert names(filter_string="metrics.acc > 0.96", datasets=on_eval) == []
        assert names(datasets=[DatasetFilter(dataset_name="train")]) == ["b"]
        desc = [LoggedModelOrder(field_name="metrics.acc", ascending=False)]
        assert names(order_by=desc) == ["b", "a", "c", "d"]  # NaN has no value: last
        on_eval_asc = [LoggedModelOrder(field_name="metrics.acc", dataset_name="eval")]
        assert names(order_by=on_eval_asc) == ["c", "b", "a", "d"]
        assert names(order_by=[LoggedModelOrder(field_name="name")]) == ["a", "b", "c", "d"]
        page = registry.search_logged_models([experiment_id], order_by=desc, max_results=3)
        rest = registry.search_logged_models(
            [experiment_id], order_by=desc, max_results=3, page_token=page.next_page_token
        )
        assert [m.name for m in [*page, *rest]] == ["b", "a", "c", "d"]
        for bad in ("params.x", "nope", "metrics."):
            with pytest.raises(InvalidArgumentError, match=r"order_by\[0\]"):
                names(order_by=[LoggedModelOrder(field_name=bad)])
        with pytest.raises(InvalidArgumentError):
            names(filter_string="metrics.acc LIKE '9%'")
        with pytest.raises(InvalidArgumentError, match="dataset_name"):
            names(datasets=[DatasetFilter(dataset_name="")])
        # A digest alone narrows an ordering too: no point has digest "z", so none ranks.
        by_digest = [LoggedModelOrder(field_name="metrics.acc", dataset_digest="z")]
        assert names(order_by=by_digest) == ["d", "c", "b", "a"]
        with pytest.raises(InvalidArgumentError, match="order_by"):
            names(order_by=[LoggedModelOrder(field_name="name")] * 101)
        with pytest.raises(InvalidArgumentError, match="datasets"):
            names(datasets=[DatasetFilter(dataset_name="x")] * 101)
