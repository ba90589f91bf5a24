"""runs: the lease of the instance executing a run, and a durable cancel request

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 05:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from netra.db.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Active runs from before leases have none: any instance may claim them at once.
    op.add_column("runs", sa.Column("lease_owner", sa.String(length=32), nullable=True))
    op.add_column("runs", sa.Column("lease_expires_at", UTCDateTime(), nullable=True))
    op.add_column("runs", sa.Column("cancel_reason", sa.String(length=64), nullable=True))
    op.create_index(
        "ix_runs_active_lease",
        "runs",
        ["lease_expires_at"],
        sqlite_where=sa.text("status IN ('queued', 'running')"),
        postgresql_where=sa.text("status IN ('queued', 'running')"),
    )


def downgrade() -> None:
    op.drop_index("ix_runs_active_lease", table_name="runs")
    with op.batch_alter_table("runs") as batch:  # SQLite drops a column by copying the table
        batch.drop_column("cancel_reason")
        batch.drop_column("lease_expires_at")
        batch.drop_column("lease_owner")
