"""search indexes: (key, value, run_id) on params and tags

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 10:05:00.000000

Equality and IN filters on params and tags can start from these indexes instead of probing
every run of the searched experiments. They replace the key-only indexes, which they cover.
PostgreSQL indexes ``left(value, 200)`` (a btree entry must stay under about 2.7 kB and values
reach 8,000 characters); the expression is spelled out here rather than imported from the
models so this revision keeps its meaning if the models change.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("params", "tags")


def upgrade() -> None:
    is_postgres = op.get_bind().dialect.name == "postgresql"
    value = sa.text("left(value, 200)") if is_postgres else "value"
    for table in _TABLES:
        op.drop_index(f"ix_{table}_key", table_name=table)
        op.create_index(f"ix_{table}_key_value", table, ["key", value, "run_id"])
        if is_postgres:
            # Expression indexes get their own statistics only from ANALYZE; without them
            # the planner guesses how selective a value is.
            op.execute(f"ANALYZE {table}")


def downgrade() -> None:
    for table in _TABLES:
        op.drop_index(f"ix_{table}_key_value", table_name=table)
        op.create_index(f"ix_{table}_key", table, ["key"])
