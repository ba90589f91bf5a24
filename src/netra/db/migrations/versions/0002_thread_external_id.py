"""threads.external_id: a client's own id for a thread (AG-UI threadId)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 01:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("threads", sa.Column("external_id", sa.String(length=200), nullable=True))
    op.create_index(
        "uq_threads_owner_external_id", "threads", ["owner_id", "external_id"], unique=True
    )


def downgrade() -> None:
    op.drop_index("uq_threads_owner_external_id", table_name="threads")
    with op.batch_alter_table("threads") as batch:  # SQLite drops a column by copying the table
        batch.drop_column("external_id")
