"""The ``TrackingStore`` contract, run against every backend (SQLite, PostgreSQL, REST).

Each backend module subclasses ``TrackingStoreContract`` with ``__test__ = True`` and
provides two fixtures: ``stores`` (``Stores`` on a fresh backend) and ``actor`` (the user the
store's mutations are attributed to).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import replace
from typing import ClassVar

import pytest
from tests.store.contract import at_once

from plinth.entities import (
    Dataset,
    DatasetInput,
    LifecycleStage,
    Metric,
    Page,
    Param,
    Run,
    RunStatus,
    RunTag,
    ViewType,
)
from plinth.errors import (
    AlreadyExistsError,
    ConflictError,
    ExperimentNotFoundError,
    InvalidArgumentError,
    NotFoundError,
    PayloadTooLargeError,
    RunNotFoundError,
)
from plinth.store.base import TrackingStore
from plinth.store.factory import Stores

T0 = 1_700_000_000_000
UNKNOWN_RUN = "0" * 32
UNKNOWN_EXPERIMENT = "424242"


def make_run(store: TrackingStore, experiment_id: str, **kwargs: object) -> Run:
    options: dict[str, object] = {"user_id": "alice", "start_time": T0, **kwargs}
    return store.create_run(experiment_id, **options)  # type: ignore[arg-type]


def metric(key: str, value: float, *, step: int = 0, timestamp: int = T0) -> Metric:
    return Metric(key=key, value=value, timestamp=timestamp, step=step)


def dataset_input(name: str, digest: str, context: str) -> DatasetInput:
    dataset = Dataset(name=name, digest=digest, source_type="local", source=f"/data/{name}")
    return DatasetInput(dataset=dataset, tags=[RunTag("mlflow.data.context", context)])


def collect(fetch: Callable[[str | None], Page[Run]]) -> list[list[str]]:
    """Follow page tokens to the end; the run ids of each page."""
    pages, token = [], None
    while True:
        page = fetch(token)
        pages.append([r.info.run_id for r in page])
        token = page.next_page_token
        if token is None:
            return pages


class TrackingStoreContract:
    __test__ = False
    impersonates: ClassVar[bool] = True
    """Whether ``with_actor`` changes who mutations are attributed to (remote stores act as
    their token's user)."""

    @pytest.fixture
    def store(self, stores: Stores) -> TrackingStore:
        return stores.tracking

    @pytest.fixture
    def exp(self, store: TrackingStore) -> str:
        return store.create_experiment("exp-main")

    @pytest.fixture
    def run(self, store: TrackingStore, exp: str) -> Run:
        return make_run(store, exp, run_name="main-run")

    # -- experiments -----------------------------------------------------------------------
    def test_create_experiment_is_readable_by_id_and_name(self, store: TrackingStore) -> None:
        experiment_id = store.create_experiment("exp-a", tags=[RunTag("team", "ml")])
        experiment = store.get_experiment(experiment_id)
        assert (experiment.experiment_id, experiment.name) == (experiment_id, "exp-a")
        assert experiment.tags == {"team": "ml"}
        assert experiment.lifecycle_stage is LifecycleStage.ACTIVE
        assert experiment.artifact_location and experiment.creation_time
        assert store.get_experiment_by_name("exp-a") == experiment

    def test_create_experiment_keeps_an_explicit_artifact_location(
        self, store: TrackingStore
    ) -> None:
        experiment_id = store.create_experiment("exp-a", artifact_location="s3://bucket/a")
        assert store.get_experiment(experiment_id).artifact_location == "s3://bucket/a"

    @pytest.mark.parametrize(
        "location",
        [
            "mlflow-artifacts:/../../etc",
            "mlflow-artifacts:/%2e%2e/x",
            "mlflow-artifacts:/a\\b",
            "mlflow-artifacts://other-host/x",
            "MLFLOW-ARTIFACTS://other-host/x",
            "Mlflow-Artifacts:/../../etc",
            "mlflow-artifacts:",
        ],
    )
    def test_create_experiment_refuses_a_proxied_location_outside_the_store(
        self, store: TrackingStore, location: str
    ) -> None:
        # Every run of such an experiment would fail its artifact calls, naming a path the
        # client never sent.
        with pytest.raises(InvalidArgumentError, match="artifact_location"):
            store.create_experiment("e", artifact_location=location)
        assert store.find_experiment_by_name("e") is None
        inside = store.create_experiment("e", artifact_location="Mlflow-Artifacts:/team//e")
        assert store.get_experiment(inside).artifact_location == "mlflow-artifacts:/team/e"

    def test_create_experiment_refuses_a_taken_name_even_if_deleted(
        self, store: TrackingStore, exp: str
    ) -> None:
        with pytest.raises(AlreadyExistsError):
            store.create_experiment("exp-main")
        store.delete_experiment(exp)
        with pytest.raises(AlreadyExistsError):
            store.create_experiment("exp-main")

    @pytest.mark.parametrize(
        "name", [pytest.param("", id="empty"), pytest.param("  ", id="blank"), "x" * 257]
    )
    def test_create_experiment_refuses_bad_names(self, store: TrackingStore, name: str) -> None:
        with pytest.raises(InvalidArgumentError, match=r"[Ee]xperiment name"):
            store.create_experiment(name)

    def test_get_experiment_unknown_raises_not_found(self, store: TrackingStore) -> None:
        with pytest.raises(NotFoundError):
            store.get_experiment(UNKNOWN_EXPERIMENT)

    @pytest.mark.parametrize("experiment_id", ["not-a-number", "", "by-name", "1/2", "-1"])
    def test_get_experiment_malformed_id_raises_invalid_argument(
        self, store: TrackingStore, experiment_id: str
    ) -> None:
        with pytest.raises(InvalidArgumentError, match="experiment ID"):
            store.get_experiment(experiment_id)

    def test_find_experiment_by_name_returns_none_when_missing(self, store: TrackingStore) -> None:
        assert store.find_experiment_by_name("nope") is None
        with pytest.raises(NotFoundError):
            store.get_experiment_by_name("nope")

    def test_find_experiment_by_name_finds_deleted_ones(
        self, store: TrackingStore, exp: str
    ) -> None:
        store.delete_experiment(exp)
        found = store.find_experiment_by_name("exp-main")
        assert found is not None and found.lifecycle_stage is LifecycleStage.DELETED

    def test_rename_experiment(self, store: TrackingStore, exp: str) -> None:
        store.rename_experiment(exp, "exp-renamed")
        assert store.get_experiment(exp).name == "exp-renamed"
        assert store.find_experiment_by_name("exp-main") is None

    def test_rename_experiment_errors(self, store: TrackingStore, exp: str) -> None:
        other = store.create_experiment("exp-other")
        with pytest.raises(AlreadyExistsError):
            store.rename_experiment(exp, "exp-other")
        with pytest.raises(InvalidArgumentError):
            store.rename_experiment(exp, "")
        with pytest.raises(NotFoundError):
            store.rename_experiment(UNKNOWN_EXPERIMENT, "x")
        store.delete_experiment(other)
        with pytest.raises(ConflictError):
            store.rename_experiment(other, "exp-new")

    def test_delete_and_restore_experiment_cascade_to_runs(
        self, store: TrackingStore, exp: str, run: Run
    ) -> None:
        store.delete_experiment(exp)
        assert store.get_experiment(exp).lifecycle_stage is LifecycleStage.DELETED
        assert store.get_run(run.info.run_id).info.lifecycle_stage is LifecycleStage.DELETED
        store.restore_experiment(exp)
        assert store.get_experiment(exp).lifecycle_stage is LifecycleStage.ACTIVE
        assert store.get_run(run.info.run_id).info.lifecycle_stage is LifecycleStage.ACTIVE

    def test_delete_and_restore_unknown_experiment_raise_not_found(
        self, store: TrackingStore
    ) -> None:
        with pytest.raises(NotFoundError):
            store.delete_experiment(UNKNOWN_EXPERIMENT)
        with pytest.raises(NotFoundError):
            store.restore_experiment(UNKNOWN_EXPERIMENT)

    def test_deleting_twice_or_restoring_an_active_experiment_is_not_found(
        self, store: TrackingStore, exp: str
    ) -> None:
        # As MLflow: delete looks among active experiments, restore among deleted ones.
        with pytest.raises(ExperimentNotFoundError, match="is active"):
            store.restore_experiment(exp)
        store.delete_experiment(exp)
        deleted_at = store.get_experiment(exp).last_update_time
        with pytest.raises(ExperimentNotFoundError, match="already deleted"):
            store.delete_experiment(exp)
        assert store.get_experiment(exp).last_update_time == deleted_at

    def test_unknown_runs_and_experiments_raise_their_own_classes(
        self, store: TrackingStore
    ) -> None:
        # The REST store rebuilds the finer class the server names, as raised embedded.
        with pytest.raises(RunNotFoundError):
            store.get_run(UNKNOWN_RUN)
        with pytest.raises(ExperimentNotFoundError):
            store.get_experiment(UNKNOWN_EXPERIMENT)

    def test_the_default_experiment_cannot_be_deleted(self, store: TrackingStore) -> None:
        with pytest.raises(InvalidArgumentError, match="Default experiment"):
            store.delete_experiment("0")
        assert store.get_experiment("0").lifecycle_stage is LifecycleStage.ACTIVE

    def test_create_run_in_deleted_experiment_raises_conflict(
        self, store: TrackingStore, exp: str
    ) -> None:
        store.delete_experiment(exp)
        with pytest.raises(ConflictError):
            make_run(store, exp)

    def test_set_experiment_tag_upserts(self, store: TrackingStore, exp: str) -> None:
        store.set_experiment_tag(exp, RunTag("stage", "dev"))
        store.set_experiment_tag(exp, RunTag("stage", "prod"))
        store.set_experiment_tag(exp, RunTag("notes/owner", "team a.b"))
        assert store.get_experiment(exp).tags == {"stage": "prod", "notes/owner": "team a.b"}

    def test_set_experiment_tag_errors(self, store: TrackingStore, exp: str) -> None:
        with pytest.raises(NotFoundError):
            store.set_experiment_tag(UNKNOWN_EXPERIMENT, RunTag("k", "v"))
        with pytest.raises(InvalidArgumentError, match="key"):
            store.set_experiment_tag(exp, RunTag("", "v"))
        with pytest.raises(InvalidArgumentError, match=re.escape("bad..key!")):
            store.set_experiment_tag(exp, RunTag("bad..key!", "v"))
        store.delete_experiment(exp)
        with pytest.raises(ConflictError):
            store.set_experiment_tag(exp, RunTag("k", "v"))

    def test_delete_experiment_tag(self, store: TrackingStore, exp: str) -> None:
        store.set_experiment_tag(exp, RunTag("a/b", "1"))
        store.delete_experiment_tag(exp, "a/b")
        assert store.get_experiment(exp).tags == {}
        with pytest.raises(NotFoundError):
            store.delete_experiment_tag(exp, "a/b")
        with pytest.raises(NotFoundError):
            store.delete_experiment_tag(UNKNOWN_EXPERIMENT, "a")

    def test_search_experiments_by_view_type(self, store: TrackingStore) -> None:
        kept, gone = store.create_experiment("exp-kept"), store.create_experiment("exp-gone")
        store.delete_experiment(gone)

        def ids(view_type: ViewType) -> set[str]:
            page = store.search_experiments(view_type=view_type, filter_string="name LIKE 'exp-%'")
            return {e.experiment_id for e in page}

        assert ids(ViewType.ACTIVE_ONLY) == {kept}
        assert ids(ViewType.DELETED_ONLY) == {gone}
        assert ids(ViewType.ALL) == {kept, gone}

    def test_search_experiments_filters_and_orders(self, store: TrackingStore) -> None:
        for name, team in (("exp-b", "x"), ("exp-a", "x"), ("exp-c", "y")):
            store.create_experiment(name, tags=[RunTag("team", team)])
        page = store.search_experiments(filter_string="tags.team = 'x'", order_by=["name DESC"])
        assert [e.name for e in page] == ["exp-b", "exp-a"]
        page = store.search_experiments(filter_string="name LIKE 'exp-%'", order_by=["name"])
        assert [e.name for e in page] == ["exp-a", "exp-b", "exp-c"]

    def test_search_experiments_pages_through_everything_once(self, store: TrackingStore) -> None:
        for i in range(5):
            store.create_experiment(f"exp-{i}")
        names, token = [], None
        for _ in range(3):
            page = store.search_experiments(
                max_results=2,
                filter_string="name LIKE 'exp-%'",
                order_by=["name"],
                page_token=token,
            )
            names.append([e.name for e in page])
            token = page.next_page_token
        assert names == [["exp-0", "exp-1"], ["exp-2", "exp-3"], ["exp-4"]]
        assert token is None

    @pytest.mark.parametrize(
        "kwargs",
        [
            pytest.param({"filter_string": "name ~ 'x'"}, id="filter"),
            pytest.param({"order_by": ["nosuchcolumn"]}, id="order_by"),
            pytest.param({"page_token": "garbage!"}, id="page_token"),
            pytest.param({"max_results": 0}, id="max_results"),
        ],
    )
    def test_search_experiments_rejects_bad_arguments(
        self, store: TrackingStore, kwargs: dict[str, object]
    ) -> None:
        with pytest.raises(InvalidArgumentError):
            store.search_experiments(**kwargs)  # type: ignore[arg-type]

    # -- runs ------------------------------------------------------------------------------
    def test_create_run_records_info_tags_and_name(
        self, store: TrackingStore, exp: str, actor: str
    ) -> None:
        run = make_run(store, exp, tags=[RunTag("team", "ml")], run_name="first")
        info = run.info
        # A remote store's runs belong to its token's user: the claimed user_id is ignored.
        owner = "alice" if self.impersonates else actor
        assert (info.experiment_id, info.user_id, info.start_time) == (exp, owner, T0)
        assert (info.status, info.end_time, info.run_name) == (RunStatus.RUNNING, None, "first")
        assert info.lifecycle_stage is LifecycleStage.ACTIVE
        assert info.run_id in info.artifact_uri
        assert run.data.tags == {"team": "ml", "mlflow.runName": "first"}
        assert store.get_run(info.run_id) == run

    def test_create_run_without_name_generates_one(self, store: TrackingStore, exp: str) -> None:
        run = make_run(store, exp)
        assert run.info.run_name and run.data.tags["mlflow.runName"] == run.info.run_name

    def test_create_run_takes_its_name_from_the_run_name_tag(
        self, store: TrackingStore, exp: str
    ) -> None:
        run = make_run(store, exp, tags=[RunTag("mlflow.runName", "tagged")])
        assert run.info.run_name == "tagged"
        with pytest.raises(InvalidArgumentError):
            make_run(store, exp, tags=[RunTag("mlflow.runName", "a")], run_name="b")

    def test_create_run_in_unknown_experiment_raises_not_found(self, store: TrackingStore) -> None:
        with pytest.raises(NotFoundError):
            make_run(store, UNKNOWN_EXPERIMENT)

    @pytest.mark.parametrize("run_id", ["not a run id!", "", "a/b", "../" + UNKNOWN_RUN])
    def test_get_run_malformed_id_raises_invalid_argument(
        self, store: TrackingStore, run_id: str
    ) -> None:
        with pytest.raises(InvalidArgumentError, match="run ID"):
            store.get_run(run_id)

    def test_get_run_unknown_raises_not_found(self, store: TrackingStore) -> None:
        with pytest.raises(NotFoundError):
            store.get_run(UNKNOWN_RUN)

    def test_get_run_info_is_the_runs_info(self, store: TrackingStore, run: Run) -> None:
        store.log_batch(run.info.run_id, params=[Param("lr", "0.1")])
        store.update_run_info(run.info.run_id, status=RunStatus.FINISHED, end_time=T0 + 5)

        assert store.get_run_info(run.info.run_id) == store.get_run(run.info.run_id).info
        with pytest.raises(NotFoundError):
            store.get_run_info(UNKNOWN_RUN)
        with pytest.raises(InvalidArgumentError, match="run ID"):
            store.get_run_info("not a run id!")

    def test_update_run_info_finishes_and_renames(self, store: TrackingStore, run: Run) -> None:
        run_id = run.info.run_id
        info = store.update_run_info(run_id, status=RunStatus.FINISHED, end_time=T0 + 5)
        assert (info.status, info.end_time) == (RunStatus.FINISHED, T0 + 5)
        info = store.update_run_info(run_id, run_name="renamed")
        assert info.run_name == "renamed" and info.status is RunStatus.FINISHED
        assert store.get_run(run_id).data.tags["mlflow.runName"] == "renamed"

    def test_update_run_info_to_running_clears_end_time(
        self, store: TrackingStore, run: Run
    ) -> None:
        store.update_run_info(run.info.run_id, status=RunStatus.FAILED, end_time=T0 + 1)
        info = store.update_run_info(run.info.run_id, status=RunStatus.RUNNING)
        assert (info.status, info.end_time) == (RunStatus.RUNNING, None)

    def test_update_run_info_errors(self, store: TrackingStore, run: Run) -> None:
        with pytest.raises(NotFoundError):
            store.update_run_info(UNKNOWN_RUN, status=RunStatus.FINISHED)
        with pytest.raises(InvalidArgumentError, match="end_time"):
            store.update_run_info(run.info.run_id, end_time=-1)

    def test_delete_and_restore_run(self, store: TrackingStore, exp: str, run: Run) -> None:
        store.delete_run(run.info.run_id)
        assert store.get_run(run.info.run_id).info.lifecycle_stage is LifecycleStage.DELETED
        assert list(store.search_runs([exp])) == []
        store.restore_run(run.info.run_id)
        assert store.get_run(run.info.run_id).info.lifecycle_stage is LifecycleStage.ACTIVE
        with pytest.raises(NotFoundError):
            store.delete_run(UNKNOWN_RUN)
        with pytest.raises(NotFoundError):
            store.restore_run(UNKNOWN_RUN)

    @pytest.mark.parametrize(
        "write",
        [
            pytest.param(lambda s, r: s.log_batch(r, tags=[RunTag("k", "v")]), id="log_batch"),
            pytest.param(lambda s, r: s.update_run_info(r, status=RunStatus.KILLED), id="update"),
            pytest.param(lambda s, r: s.delete_tag(r, "mlflow.runName"), id="delete_tag"),
            pytest.param(lambda s, r: s.log_inputs(r, [dataset_input("d", "1", "t")]), id="inputs"),
            pytest.param(lambda s, r: s.add_comment(r, "hi"), id="comment"),
        ],
    )
    def test_writes_to_a_deleted_run_raise_conflict(
        self, store: TrackingStore, run: Run, write: Callable[[TrackingStore, str], object]
    ) -> None:
        store.delete_run(run.info.run_id)
        with pytest.raises(ConflictError):
            write(store, run.info.run_id)

    # -- log_batch -------------------------------------------------------------------------
    def test_log_batch_appends_metrics_and_keeps_the_latest(
        self, store: TrackingStore, run: Run
    ) -> None:
        run_id = run.info.run_id
        store.log_batch(run_id, metrics=[metric("loss", 0.5, step=2), metric("loss", 0.9, step=1)])
        store.log_batch(run_id, metrics=[metric("loss", 0.7, step=2, timestamp=T0 + 1)])
        store.log_batch(run_id, metrics=[metric("loss", 0.1, step=1, timestamp=T0 + 9)])
        data = store.get_run(run_id).data
        assert data.metrics == {"loss": 0.7}
        assert (data.metric_timestamps, data.metric_steps) == ({"loss": T0 + 1}, {"loss": 2})
        assert len(store.get_metric_history(run_id, "loss")) == 4

    def test_log_batch_keeps_the_greatest_point_of_each_key_in_one_batch(
        self, store: TrackingStore, run: Run
    ) -> None:
        # Interleaved keys; ties on (step, timestamp) go to the greater value, NaN lowest.
        store.log_batch(
            run.info.run_id,
            metrics=[
                metric("a", 0.3, step=1),
                metric("b", 2.0, step=5),
                metric("a", 0.1, step=3),
                metric("b", math.nan, step=5),
                metric("a", 0.2, step=3),
            ],
        )
        assert store.get_run(run.info.run_id).data.metrics == {"a": 0.2, "b": 2.0}

    def test_text_with_an_unpaired_surrogate_is_refused(
        self, store: TrackingStore, run: Run, exp: str
    ) -> None:
        # JSON's "\ud800" escape decodes to such a string; no driver can store it.
        run_id = run.info.run_id
        store.log_batch(run_id, params=[Param("kept", "1")])
        with pytest.raises(InvalidArgumentError, match="unpaired surrogate"):
            store.log_batch(run_id, params=[Param("p", "caf\udce9")], tags=[RunTag("t", "1")])
        with pytest.raises(InvalidArgumentError, match="unpaired surrogate"):
            store.create_experiment("x\ud800")
        with pytest.raises(InvalidArgumentError, match="unpaired surrogate"):
            store.get_experiment_by_name("x\ud800")  # in a URL, remotely
        assert store.get_run(run_id).data.params == {"kept": "1"}
        assert "t" not in store.get_run(run_id).data.tags

    def test_log_batch_params_are_immutable(self, store: TrackingStore, run: Run) -> None:
        run_id = run.info.run_id
        store.log_batch(run_id, params=[Param("lr", "0.1")])
        store.log_batch(run_id, params=[Param("lr", "0.1")])
        with pytest.raises(InvalidArgumentError, match="lr"):
            store.log_batch(run_id, params=[Param("lr", "0.2")])
        with pytest.raises(InvalidArgumentError, match="depth"):
            store.log_batch(run_id, params=[Param("depth", "1"), Param("depth", "2")])
        assert store.get_run(run_id).data.params == {"lr": "0.1"}

    def test_log_batch_tags_last_write_wins(self, store: TrackingStore, run: Run) -> None:
        run_id = run.info.run_id
        store.log_batch(run_id, tags=[RunTag("team", "a")])
        store.log_batch(run_id, tags=[RunTag("team", "b"), RunTag("mlflow.runName", "new")])
        fetched = store.get_run(run_id)
        assert fetched.data.tags["team"] == "b"
        assert fetched.info.run_name == "new"

    def test_log_batch_writes_nothing_when_one_item_is_invalid(
        self, store: TrackingStore, run: Run
    ) -> None:
        with pytest.raises(InvalidArgumentError):
            store.log_batch(
                run.info.run_id, metrics=[metric("ok", 1.0)], params=[Param("bad key!", "1")]
            )
        assert store.get_run(run.info.run_id).data.metrics == {}

    @pytest.mark.parametrize(
        ("metrics", "params", "tags"),
        [
            pytest.param(1001, 0, 0, id="metrics"),
            pytest.param(0, 101, 0, id="params"),
            pytest.param(0, 0, 101, id="tags"),
            pytest.param(901, 100, 0, id="total"),
        ],
    )
    def test_log_batch_limits_raise_payload_too_large(
        self, store: TrackingStore, run: Run, metrics: int, params: int, tags: int
    ) -> None:
        with pytest.raises(PayloadTooLargeError):
            store.log_batch(
                run.info.run_id,
                metrics=[metric(f"m{i}", 1.0) for i in range(metrics)],
                params=[Param(f"p{i}", "1") for i in range(params)],
                tags=[RunTag(f"t{i}", "1") for i in range(tags)],
            )

    @pytest.mark.parametrize(
        ("batch", "named"),
        [
            pytest.param({"metrics": [metric("bad..key!", 1.0)]}, "bad..key!", id="metric-key"),
            pytest.param({"params": [Param("", "1")]}, "Param key", id="param-key"),
            pytest.param({"tags": [RunTag("/abs", "1")]}, "may not start with '/'", id="tag-key"),
            pytest.param(
                {"metrics": [metric("a/../b", 1.0)]}, "'..' between slashes", id="dotdot-key"
            ),
            pytest.param({"params": [Param("a//b", "1")]}, "use 'a/b'", id="double-slash-key"),
            pytest.param({"metrics": [metric("./a", 1.0)]}, "use 'a'", id="dot-slash-key"),
            pytest.param({"tags": [RunTag("a/", "1")]}, "resolve to other names", id="slash-end"),
            pytest.param(
                {"metrics": [metric("m", 1.0, timestamp=-1)]}, "timestamp", id="timestamp"
            ),
            pytest.param(
                {"metrics": [metric("m", 1.0, timestamp=T0 * 1000)]}, "timestamp", id="ns"
            ),
            pytest.param({"metrics": [metric("m", 1.0, step=2**63)]}, "step", id="step"),
            pytest.param({"params": [Param("p", "x" * 6001)]}, "'p'", id="param-value"),
            pytest.param({"tags": [RunTag("t", "x" * 8001)]}, "'t'", id="tag-value"),
        ],
    )
    def test_log_batch_invalid_items_raise_naming_them(
        self, store: TrackingStore, run: Run, batch: dict[str, list[object]], named: str
    ) -> None:
        with pytest.raises(InvalidArgumentError) as excinfo:
            store.log_batch(run.info.run_id, **batch)  # type: ignore[arg-type]
        assert named in str(excinfo.value)

    def test_finished_run_refuses_metrics_and_params_but_takes_tags(
        self, store: TrackingStore, run: Run
    ) -> None:
        run_id = run.info.run_id
        store.update_run_info(run_id, status=RunStatus.FINISHED, end_time=T0 + 1)
        with pytest.raises(ConflictError):
            store.log_batch(run_id, metrics=[metric("m", 1.0)])
        with pytest.raises(ConflictError):
            store.log_batch(run_id, params=[Param("p", "1")])
        store.log_batch(run_id, tags=[RunTag("note", "late")])
        assert store.get_run(run_id).data.tags["note"] == "late"

    def test_log_batch_unknown_run_raises_not_found(self, store: TrackingStore) -> None:
        with pytest.raises(NotFoundError):
            store.log_batch(UNKNOWN_RUN, tags=[RunTag("k", "v")])

    def test_derived_conveniences_log_through_log_batch(
        self, store: TrackingStore, run: Run
    ) -> None:
        run_id = run.info.run_id
        store.log_metric(run_id, metric("acc", 0.9))
        store.log_param(run_id, Param("lr", "0.1"))
        store.set_tag(run_id, RunTag("team", "ml"))
        data = store.get_run(run_id).data
        assert (data.metrics, data.params, data.tags["team"]) == ({"acc": 0.9}, {"lr": "0.1"}, "ml")

    def test_delete_tag(self, store: TrackingStore, run: Run) -> None:
        store.set_tag(run.info.run_id, RunTag("a/b c", "1"))
        store.delete_tag(run.info.run_id, "a/b c")
        assert "a/b c" not in store.get_run(run.info.run_id).data.tags
        with pytest.raises(NotFoundError):
            store.delete_tag(run.info.run_id, "a/b c")
        with pytest.raises(NotFoundError):
            store.delete_tag(run.info.run_id, "")
        with pytest.raises(NotFoundError):
            store.delete_tag(UNKNOWN_RUN, "a")

    # -- metric history and NaN ------------------------------------------------------------
    def test_metric_history_is_ordered_by_step_then_timestamp(
        self, store: TrackingStore, run: Run
    ) -> None:
        points = [(3, T0), (1, T0 + 5), (1, T0 + 2), (2, T0)]
        store.log_batch(
            run.info.run_id, metrics=[metric("m", s, step=s, timestamp=t) for s, t in points]
        )
        history = store.get_metric_history(run.info.run_id, "m")
        assert [(m.step, m.timestamp) for m in history] == sorted(points)
        assert history.next_page_token is None

    def test_a_point_logged_again_is_stored_once(self, store: TrackingStore, run: Run) -> None:
        # As MLflow's server stores it: a client retrying a batch whose answer it lost
        # does not double the history. Points differing in any of key, value, step or
        # timestamp all stay; NaN equals NaN here, as in MLflow's key.
        run_id = run.info.run_id
        batch = [metric("m", 0.5, step=1), metric("m", math.nan, step=2), metric("m", 0.5, step=1)]
        store.log_batch(run_id, metrics=batch)
        store.log_batch(run_id, metrics=batch)
        store.log_metric(run_id, metric("m", 0.5, step=1))
        store.log_batch(
            run_id,
            metrics=[
                metric("m", 0.25, step=1),  # another value
                metric("m", 0.5, step=1, timestamp=T0 + 1),  # another time
                metric("m", 0.5, step=3),  # another step
                metric("n", 0.5, step=1),  # another key
            ],
        )
        history = [(m.step, m.timestamp, m.value) for m in store.get_metric_history(run_id, "m")]
        assert [(s, t) for s, t, _ in history] == [(1, T0), (1, T0), (1, T0 + 1), (2, T0), (3, T0)]
        assert sorted(x for s, t, x in history if (s, t) == (1, T0)) == [0.25, 0.5]
        assert math.isnan(history[3][2])
        assert len(store.get_metric_history(run_id, "n")) == 1
        assert store.get_run(run_id).data.metrics["m"] == 0.5  # the latest point: step 3
        store.log_batch(run_id, metrics=[metric("z", -0.0), metric("z", 0.0)])
        (zero,) = store.get_metric_history(run_id, "z")
        latest = store.get_run(run_id).data.metrics["z"]
        assert math.copysign(1, zero.value) == math.copysign(1, latest) == 1  # one spelling

    def test_writers_sending_the_same_points_in_any_order_store_them_once(
        self, store: TrackingStore, run: Run
    ) -> None:
        # Two retries racing, one holding the points reversed: on PostgreSQL each would
        # wait on the unique index for a point the other inserted (a deadlock) unless
        # writers of a run take turns.
        run_id = run.info.run_id
        points = [metric("loss", 1 / (i + 1), step=i) for i in range(1_000)]
        errors: list[BaseException] = []
        for _ in range(3):
            errors += at_once(
                lambda: store.log_batch(run_id, metrics=points),
                lambda: store.log_batch(run_id, metrics=points[::-1]),
            )
        assert errors == []
        assert len(store.get_metric_history(run_id, "loss")) == 1_000

    def test_metric_history_pages(self, store: TrackingStore, run: Run) -> None:
        store.log_batch(run.info.run_id, metrics=[metric("m", i, step=i) for i in range(5)])
        steps, token = [], None
        for _ in range(3):
            page = store.get_metric_history(run.info.run_id, "m", max_results=2, page_token=token)
            steps.append([m.step for m in page])
            token = page.next_page_token
        assert (steps, token) == ([[0, 1], [2, 3], [4]], None)

    def test_metric_history_of_unknown_run_or_key(self, store: TrackingStore, run: Run) -> None:
        assert list(store.get_metric_history(run.info.run_id, "never-logged")) == []
        with pytest.raises(NotFoundError):
            store.get_metric_history(UNKNOWN_RUN, "m")

    def test_non_finite_metrics_round_trip(self, store: TrackingStore, run: Run) -> None:
        values = {"nan": math.nan, "inf": math.inf, "ninf": -math.inf, "big": 1e308}
        store.log_batch(run.info.run_id, metrics=[metric(k, x) for k, x in values.items()])
        latest = store.get_run(run.info.run_id).data.metrics
        assert math.isnan(latest.pop("nan"))
        assert latest == {"inf": math.inf, "ninf": -math.inf, "big": 1e308}
        (point,) = store.get_metric_history(run.info.run_id, "nan")
        assert math.isnan(point.value)
        assert store.get_metric_history(run.info.run_id, "ninf").items[0].value == -math.inf

    def test_metric_points_are_the_history_as_tuples(self, store: TrackingStore, run: Run) -> None:
        run_id = run.info.run_id
        store.log_batch(run_id, metrics=[metric("m", i / 4, step=9 - i) for i in range(5)])
        store.log_batch(run_id, metrics=[metric("m", math.nan, step=1, timestamp=T0 + 1)])
        history = store.get_metric_history(run_id, "m")
        points = store.get_metric_points(run_id, "m")
        assert [(p[1], p[2]) for p in points] == [(m.timestamp, m.step) for m in history]
        values = [p[0] for p in points]
        assert math.isnan(values[0]) and values[1:] == [1.0, 0.75, 0.5, 0.25, 0.0]
        page = store.get_metric_points(run_id, "m", max_results=4)
        assert len(page.items) == 4 and page.next_page_token is not None
        rest = store.get_metric_points(run_id, "m", page_token=page.next_page_token)
        assert [p[2] for p in rest] == [8, 9]
        with pytest.raises(NotFoundError):
            store.get_metric_points(UNKNOWN_RUN, "m")

    # -- search_runs -----------------------------------------------------------------------
    @pytest.fixture
    def five_runs(self, store: TrackingStore, exp: str) -> list[str]:
        ids = []
        for i in range(5):
            run = make_run(store, exp, run_name=f"run-{i}", start_time=T0 + i)
            store.log_batch(
                run.info.run_id,
                metrics=[metric("acc", i / 10)],
                params=[Param("lr", "0.1" if i % 2 else "0.2")],
                tags=[RunTag("team", "a" if i < 3 else "b")],
            )
            ids.append(run.info.run_id)
        store.update_run_info(ids[4], status=RunStatus.FINISHED, end_time=T0 + 10)
        return ids

    @pytest.mark.parametrize(
        ("filter_string", "expected"),
        [
            pytest.param("metrics.acc > 0.15", [4, 3, 2], id="metric"),
            pytest.param("params.lr = '0.1'", [3, 1], id="param"),
            pytest.param("tags.team = 'b'", [4, 3], id="tag"),
            pytest.param("attributes.status = 'FINISHED'", [4], id="status"),
            pytest.param(
                "attributes.run_name LIKE 'run-%' and metrics.acc < 0.15", [1, 0], id="and"
            ),
            pytest.param("tags.team != 'a' and params.lr = '0.2'", [4], id="tag-param"),
        ],
    )
    def test_search_runs_filters(
        self,
        store: TrackingStore,
        exp: str,
        five_runs: list[str],
        filter_string: str,
        expected: list[int],
    ) -> None:
        page = store.search_runs([exp], filter_string=filter_string)
        assert [r.info.run_id for r in page] == [five_runs[i] for i in expected]

    @pytest.mark.parametrize(
        ("order_by", "expected"),
        [
            pytest.param([], [4, 3, 2, 1, 0], id="default-newest-first"),
            pytest.param(["metrics.acc ASC"], [0, 1, 2, 3, 4], id="metric"),
            pytest.param(["params.lr DESC", "start_time"], [0, 2, 4, 1, 3], id="param-then-time"),
            pytest.param(["tags.team", "attributes.run_name DESC"], [2, 1, 0, 4, 3], id="tag"),
        ],
    )
    def test_search_runs_orders(
        self,
        store: TrackingStore,
        exp: str,
        five_runs: list[str],
        order_by: list[str],
        expected: list[int],
    ) -> None:
        page = store.search_runs([exp], order_by=order_by)
        assert [r.info.run_id for r in page] == [five_runs[i] for i in expected]

    def test_search_runs_returns_whole_runs(
        self, store: TrackingStore, exp: str, five_runs: list[str]
    ) -> None:
        (run,) = store.search_runs([exp], filter_string="attributes.run_name = 'run-3'")
        assert run == store.get_run(five_runs[3])
        assert run.data.metrics == {"acc": 0.3} and run.data.params == {"lr": "0.1"}

    def test_search_runs_pages_with_tokens(
        self, store: TrackingStore, exp: str, five_runs: list[str]
    ) -> None:
        pages = collect(lambda token: store.search_runs([exp], max_results=2, page_token=token))
        assert pages == [[five_runs[4], five_runs[3]], [five_runs[2], five_runs[1]], [five_runs[0]]]

    def test_search_runs_view_types(
        self, store: TrackingStore, exp: str, five_runs: list[str]
    ) -> None:
        store.delete_run(five_runs[0])

        def found(view_type: ViewType) -> set[str]:
            return {r.info.run_id for r in store.search_runs([exp], view_type=view_type)}

        assert found(ViewType.ACTIVE_ONLY) == set(five_runs[1:])
        assert found(ViewType.DELETED_ONLY) == {five_runs[0]}
        assert found(ViewType.ALL) == set(five_runs)

    def test_search_runs_spans_experiments(self, store: TrackingStore, exp: str, run: Run) -> None:
        other = store.create_experiment("exp-other")
        other_run = make_run(store, other, start_time=T0 + 1)
        found = store.search_runs([exp, other])
        assert [r.info.run_id for r in found] == [other_run.info.run_id, run.info.run_id]
        assert list(store.search_runs([other])) == [other_run]

    @pytest.mark.parametrize(
        "kwargs",
        [
            pytest.param({"filter_string": "metrics.acc >"}, id="filter"),
            pytest.param({"filter_string": "foo.bar = 1"}, id="entity"),
            pytest.param({"order_by": ["metrics.acc SIDEWAYS"]}, id="order_by"),
            pytest.param({"page_token": "%%%"}, id="page_token"),
            pytest.param({"max_results": 50001}, id="max_results"),
        ],
    )
    def test_search_runs_rejects_bad_arguments(
        self, store: TrackingStore, exp: str, kwargs: dict[str, object]
    ) -> None:
        with pytest.raises(InvalidArgumentError):
            store.search_runs([exp], **kwargs)  # type: ignore[arg-type]

    def test_search_runs_treats_nan_and_infinities_like_mlflow(
        self, store: TrackingStore, exp: str
    ) -> None:
        values = {"nan": math.nan, "one": 1.0, "zero": 0.0, "inf": math.inf, "ninf": -math.inf}
        for i, (name, value) in enumerate(values.items()):
            run = make_run(store, exp, run_name=name, start_time=T0 - i)
            store.log_metric(run.info.run_id, metric("m", value))

        def names(**kwargs: object) -> list[str]:
            return [r.info.run_name for r in store.search_runs([exp], **kwargs)]  # type: ignore[arg-type]

        assert names(filter_string="metrics.m < 0.5") == ["zero", "ninf"]
        assert names(filter_string="metrics.m = 0") == ["zero"]
        assert names(order_by=["metrics.m ASC"]) == ["ninf", "zero", "one", "inf", "nan"]
        assert names(order_by=["metrics.m DESC"]) == ["inf", "one", "zero", "ninf", "nan"]

    # -- inputs and comments ---------------------------------------------------------------
    def test_log_inputs_records_datasets(self, store: TrackingStore, run: Run) -> None:
        train = dataset_input("train", "d1", "training")
        store.log_inputs(run.info.run_id, [train, dataset_input("eval", "d2", "eval")])
        store.log_inputs(run.info.run_id, [train])
        inputs = store.get_run(run.info.run_id).inputs.dataset_inputs
        assert [(i.dataset.name, i.dataset.digest, i.context) for i in inputs] == [
            ("eval", "d2", "eval"),
            ("train", "d1", "training"),
        ]
        assert inputs[1] == train

    def test_a_dataset_logged_again_keeps_its_first_tags(
        self, store: TrackingStore, run: Run
    ) -> None:
        # MLflow's rule: a run's input is written once; logging it again changes nothing.
        store.log_inputs(run.info.run_id, [dataset_input("train", "d1", "training")])
        store.log_inputs(run.info.run_id, [dataset_input("train", "d1", "eval")])
        (only,) = store.get_run(run.info.run_id).inputs.dataset_inputs
        assert only.context == "training"

    @pytest.mark.parametrize(
        "filter_string",
        ["dataset.name = 'train'", "dataset.digest = 'd1'", "dataset.context = 'training'"],
    )
    def test_search_runs_filters_on_datasets(
        self, store: TrackingStore, exp: str, run: Run, filter_string: str
    ) -> None:
        store.log_inputs(run.info.run_id, [dataset_input("train", "d1", "training")])
        other = make_run(store, exp)
        store.log_inputs(other.info.run_id, [dataset_input("eval", "d2", "eval")])
        assert [r.info.run_id for r in store.search_runs([exp], filter_string=filter_string)] == [
            run.info.run_id
        ]

    def test_log_inputs_errors(self, store: TrackingStore, run: Run) -> None:
        with pytest.raises(NotFoundError):
            store.log_inputs(UNKNOWN_RUN, [dataset_input("d", "1", "t")])
        with pytest.raises(InvalidArgumentError, match="name"):
            store.log_inputs(run.info.run_id, [dataset_input("", "1", "t")])
        big = dataset_input("d", "1", "t")
        big = replace(big, dataset=replace(big.dataset, schema="x" * (1 << 20)))
        with pytest.raises(InvalidArgumentError, match="schema"):
            store.log_inputs(run.info.run_id, [big])

    def test_an_input_tag_that_is_not_unicode_is_refused_and_the_run_stays_readable(
        self, store: TrackingStore, run: Run
    ) -> None:
        # Stored as JSON, where json.dumps would have hidden the surrogate in an escape that
        # every later read of the run failed on.
        with pytest.raises(InvalidArgumentError, match="unpaired surrogate"):
            store.log_inputs(run.info.run_id, [dataset_input("d", "1", "x\ud800")])

        assert store.get_run(run.info.run_id).inputs.dataset_inputs == []
        assert len(store.search_runs([run.info.experiment_id])) == 1

    def test_comments_are_listed_oldest_first_by_actor(
        self, store: TrackingStore, run: Run, actor: str
    ) -> None:
        first = store.add_comment(run.info.run_id, "looks good")
        second = store.add_comment(run.info.run_id, "but check the **loss**")
        assert (first.run_id, first.user_id, first.text) == (run.info.run_id, actor, "looks good")
        assert store.list_comments(run.info.run_id) == [first, second]

    def test_comments_of_one_millisecond_keep_the_order_they_were_written(
        self, store: TrackingStore, run: Run
    ) -> None:
        texts = [f"c{i}" for i in range(30)]
        for text in texts:
            store.add_comment(run.info.run_id, text)
        assert [c.text for c in store.list_comments(run.info.run_id)] == texts

    def test_comment_errors(self, store: TrackingStore, run: Run) -> None:
        with pytest.raises(InvalidArgumentError):
            store.add_comment(run.info.run_id, "   ")
        with pytest.raises(NotFoundError):
            store.add_comment(UNKNOWN_RUN, "hi")
        with pytest.raises(NotFoundError):
            store.list_comments(UNKNOWN_RUN)

    def test_with_actor_attributes_mutations(
        self, store: TrackingStore, run: Run, actor: str
    ) -> None:
        comment = store.with_actor("alice").add_comment(run.info.run_id, "hi")
        assert comment.user_id == ("alice" if self.impersonates else actor)

    # -- values the database cannot hold ------------------------------------------------------
    @pytest.mark.parametrize(
        "write",
        [
            pytest.param(lambda s, e, r: make_run(s, e, run_name="x" * 251), id="run_name"),
            pytest.param(lambda s, e, r: s.update_run_info(r, run_name="x" * 251), id="rename"),
            pytest.param(
                lambda s, e, r: s.set_tag(r, RunTag("mlflow.runName", "x" * 251)), id="name-tag"
            ),
            pytest.param(
                lambda s, e, r: s.create_experiment("e2", artifact_location="x" * 1001),
                id="artifact_location",
            ),
            pytest.param(
                lambda s, e, r: s.log_inputs(r, [dataset_input("d", "x" * 65, "t")]), id="digest"
            ),
            pytest.param(
                lambda s, e, r: s.log_batch(r, metrics=[metric("m", 1.0, step=2**70)]),
                id="step-beyond-64-bits",
            ),
            pytest.param(
                lambda s, e, r: s.log_batch(r, metrics=[metric("m", 1.0, timestamp=2**70)]),
                id="timestamp-beyond-64-bits",
            ),
            pytest.param(lambda s, e, r: make_run(s, e, start_time=2**70), id="start-beyond"),
            pytest.param(
                lambda s, e, r: s.update_run_info(r, end_time=2**70), id="end-time-beyond"
            ),
            pytest.param(lambda s, e, r: s.set_tag(r, RunTag("k", "a\x00b")), id="nul-tag"),
            pytest.param(lambda s, e, r: s.log_param(r, Param("k", "a\x00b")), id="nul-param"),
            pytest.param(lambda s, e, r: s.add_comment(r, "a\x00b"), id="nul-comment"),
        ],
    )
    def test_values_the_database_cannot_hold_raise_invalid_argument(
        self,
        store: TrackingStore,
        exp: str,
        run: Run,
        write: Callable[[TrackingStore, str, str], object],
    ) -> None:
        with pytest.raises(InvalidArgumentError):
            write(store, exp, run.info.run_id)

    def test_an_overlong_user_id_is_refused_or_not_taken(
        self, store: TrackingStore, exp: str, actor: str
    ) -> None:
        if self.impersonates:
            with pytest.raises(InvalidArgumentError):
                make_run(store, exp, user_id="x" * 257)
        else:  # the server takes the owner from the token, never from the claim
            assert make_run(store, exp, user_id="x" * 257).info.user_id == actor

    def test_create_experiment_with_a_repeated_tag_key_keeps_the_last(
        self, store: TrackingStore
    ) -> None:
        experiment_id = store.create_experiment("e", tags=[RunTag("a", "1"), RunTag("a", "2")])
        assert store.get_experiment(experiment_id).tags == {"a": "2"}
