"""logged-model metrics and run-model links (MLflow 3)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 16:45:00.000000

``logged_model_metrics`` keeps the points logged with a ``model_id`` (the run's own
``metrics`` table keeps them too); ``run_model_links`` records the logged models a run
consumed (``log_inputs(models=...)``) or produced (``log_outputs``, what ``log_model`` sends);
models logged before this revision become outputs of their source runs.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "logged_model_metrics",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("model_id", sa.String(length=40), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Float(precision=53), nullable=False),
        sa.Column("is_nan", sa.Boolean(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("dataset_name", sa.String(length=500), nullable=True),
        sa.Column("dataset_digest", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["model_id"], ["logged_models.model_id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_logged_model_metrics_model_key", "logged_model_metrics", ["model_id", "key"]
    )
    op.create_index(
        "ix_logged_model_metrics_run_point",
        "logged_model_metrics",
        ["run_id", "key", "step", "timestamp"],
    )
    op.create_table(
        "run_model_links",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("model_id", sa.String(length=40), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("direction IN ('input', 'output')", name="run_model_links_direction"),
        sa.ForeignKeyConstraint(["model_id"], ["logged_models.model_id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "model_id", "direction", "step", name="uq_run_model_links"),
    )
    op.create_index("ix_run_model_links_model", "run_model_links", ["model_id"])
    # Until now a logged model's run was only its source_run_id (the server took MLflow's
    # log_outputs and kept nothing more): those runs produced their models at step 0.
    op.execute(
        "INSERT INTO run_model_links (run_id, model_id, direction, step) "
        "SELECT source_run_id, model_id, 'output', 0 FROM logged_models "
        "WHERE source_run_id IN (SELECT run_id FROM runs) ORDER BY creation_time, model_id"
    )


def downgrade() -> None:
    op.drop_index("ix_run_model_links_model", table_name="run_model_links")
    op.drop_table("run_model_links")
    op.drop_index("ix_logged_model_metrics_run_point", table_name="logged_model_metrics")
    op.drop_index("ix_logged_model_metrics_model_key", table_name="logged_model_metrics")
    op.drop_table("logged_model_metrics")
