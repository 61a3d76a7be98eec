"""call records: transfers and wrap-up counted; quarter-hour rollups for reports

Revision ID: 0007
Revises: 0004
Create Date: 2026-12-01 23:55:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REPORT_COLUMNS = (
    "started_at",
    "queue",
    "agent",
    "direction",
    "disposition",
    "wait_seconds",
    "talk_seconds",
    "wrapup_seconds",
    "transfer_count",
)

TALLY_COLUMNS = (
    "calls",
    "offered",
    "answered",
    "direct_answered",
    "abandoned",
    "short_abandoned",
    "answered_in_threshold",
    "abandoned_in_threshold",
    "answer_wait_sum",
    "abandon_wait_sum",
    "handled",
    "handle_sum",
    "talk_sum",
    "longest_wait",
    "transfers",
    "outbound",
    "outbound_answered",
)


def upgrade() -> None:
    op.add_column(
        "call_records",
        sa.Column("transfer_count", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("call_records", sa.Column("wrapup_seconds", sa.Integer(), nullable=True))
    # Covering: a month's report reads this index alone, never the wide rows.
    op.create_index("ix_call_records_report", "call_records", list(REPORT_COLUMNS))
    op.create_table(
        "call_rollups",
        sa.Column("grain", sa.String(8), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in TALLY_COLUMNS),
        sa.PrimaryKeyConstraint("grain", "slot", "name", "direction", name="pk_call_rollups"),
    )
    op.create_table(
        "call_rollup_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_call_id", sa.Integer(), nullable=False),
        sa.Column("targets", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_call_rollup_state"),
    )


def downgrade() -> None:
    op.drop_table("call_rollup_state")
    op.drop_table("call_rollups")
    op.drop_index("ix_call_records_report", table_name="call_records")
    with op.batch_alter_table("call_records") as batch:
        batch.drop_column("wrapup_seconds")
        batch.drop_column("transfer_count")
