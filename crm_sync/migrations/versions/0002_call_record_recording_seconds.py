"""call records: the recording's measured length

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 19:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("call_records", sa.Column("recording_seconds", sa.Float(), nullable=True))


def downgrade() -> None:
    # Batch mode: SQLite before 3.35 cannot drop a column in place.
    with op.batch_alter_table("call_records") as batch:
        batch.drop_column("recording_seconds")
