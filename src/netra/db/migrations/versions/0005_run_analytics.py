"""run_analytics: one record per finished run, for the SQL analytics sink

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 10:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from netra.db.types import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_analytics",
        sa.Column("run_id", sa.String(length=32), primary_key=True),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("thread_id", sa.String(length=32), nullable=False),
        sa.Column("agent", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("tokens_in", sa.BigInteger(), nullable=False),
        sa.Column("tokens_out", sa.BigInteger(), nullable=False),
        sa.Column("tool_calls", sa.Integer(), nullable=False),
        sa.Column("first_event_ms", sa.Float(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
    )
    op.create_index("ix_run_analytics_user_day", "run_analytics", ["user_id", "day"])
    op.create_index("ix_run_analytics_day", "run_analytics", ["day"])


def downgrade() -> None:
    op.drop_index("ix_run_analytics_day", table_name="run_analytics")
    op.drop_index("ix_run_analytics_user_day", table_name="run_analytics")
    op.drop_table("run_analytics")
