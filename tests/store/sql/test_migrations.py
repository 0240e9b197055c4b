"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL.

Alembic's autogenerate comparison runs against a database the migrations built: any table,
column, type or index that differs from ``models.py`` is a missing or wrong migration.
"""

from __future__ import annotations

from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from plinth.entities import LoggedModelOutput, Metric
from plinth.errors import BackendUnavailableError
from plinth.store.sql import SqlTrackingStore
from plinth.store.sql.migrate import MIGRATIONS_DIR, current_revision, head_revision, upgrade
from plinth.store.sql.models import Base
from plinth.store.sql.registry import SqlRegistryStore


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty(request: pytest.FixtureRequest) -> Engine:
    """An engine on an empty database."""
    engine: Engine = request.getfixturevalue(f"{request.param}_search_engine")
    return engine


def drift(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def downgrade(engine: Engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def index_names(engine: Engine, table: str) -> set[str]:
    return {str(index["name"]) for index in inspect(engine).get_indexes(table)}


def test_migrations_build_the_schema_of_the_models(empty: Engine) -> None:
    upgrade(empty)
    assert current_revision(empty) == head_revision()
    assert drift(empty) == []


def test_search_indexes_downgrade_and_upgrade_again(empty: Engine) -> None:
    upgrade(empty)
    downgrade(empty, "0003")
    assert index_names(empty, "params") == {"ix_params_key"}
    assert index_names(empty, "tags") == {"ix_tags_key"}
    upgrade(empty)
    assert index_names(empty, "params") == {"ix_params_key_value"}
    assert drift(empty) == []


def test_logged_models_from_before_0005_become_outputs_of_their_runs(empty: Engine) -> None:
    upgrade(empty)
    tracking, registry = SqlTrackingStore(empty), SqlRegistryStore(empty)
    experiment_id = tracking.create_experiment("old")
    run_id = tracking.create_run(experiment_id, user_id="u", start_time=1).info.run_id
    produced = registry.create_logged_model(experiment_id, name="m", source_run_id=run_id)
    registry.create_logged_model(experiment_id, name="orphan")  # no run: no link

    downgrade(empty, "0004")  # the links table goes; runs and logged models stay
    upgrade(empty)

    outputs = tracking.get_run(run_id).outputs.model_outputs
    assert outputs == [LoggedModelOutput(model_id=produced.model_id, step=0)]
    with empty.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM run_model_links")).scalar() == 1


def test_points_stored_twice_before_0006_are_folded_into_one(empty: Engine) -> None:
    upgrade(empty)
    tracking = SqlTrackingStore(empty)
    run_id = tracking.create_run(tracking.create_experiment("e"), user_id="u", start_time=1)
    run_id = run_id.info.run_id
    downgrade(empty, "0005")  # as Plinth kept every copy of a point before 0006
    point = {"run_id": run_id, "key": "m", "timestamp": 5, "is_nan": False}
    rows = [
        {**point, "value": 0.5, "step": 1},
        {**point, "value": 0.5, "step": 1},
        {**point, "value": 0.25, "step": 1},
        {**point, "value": 0.0, "step": 2, "is_nan": True},
        {**point, "value": 0.0, "step": 2, "is_nan": True},
    ]
    with empty.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO metrics (run_id, key, value, is_nan, timestamp, step) "
                "VALUES (:run_id, :key, :value, :is_nan, :timestamp, :step)"
            ),
            rows,
        )

    upgrade(empty)

    history = tracking.get_metric_history(run_id, "m").items
    assert [(m.step, m.value) for m in history[:2]] == [(1, 0.5), (1, 0.25)]
    assert len(history) == 3 and history[2].step == 2
    assert "ux_metrics_point" in index_names(empty, "metrics")
    tracking.log_batch(run_id, metrics=[Metric(key="m", value=0.5, timestamp=5, step=1)])
    assert len(tracking.get_metric_history(run_id, "m").items) == 3
    assert drift(empty) == []


@pytest.mark.parametrize(
    "change",
    [
        pytest.param("DROP TABLE run_model_links", id="table"),
        pytest.param("ALTER TABLE runs DROP COLUMN end_time", id="column"),
    ],
)
def test_a_schema_from_another_version_is_named_as_such(empty: Engine, change: str) -> None:
    upgrade(empty)
    tracking = SqlTrackingStore(empty)
    run_id = tracking.create_run(tracking.create_experiment("e"), user_id="u", start_time=1)
    with empty.begin() as conn:  # as a database another Plinth built would lack it
        conn.execute(text(change))

    with pytest.raises(BackendUnavailableError, match="schema does not match"):
        tracking.get_run(run_id.info.run_id)
