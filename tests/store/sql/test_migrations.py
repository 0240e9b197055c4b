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
from sqlalchemy import Engine, inspect

from plinth.store.sql.migrate import MIGRATIONS_DIR, current_revision, head_revision, upgrade
from plinth.store.sql.models import Base


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
