"""administration: people with several roles and devices, queues, pause reasons,
dispositions, API tokens, the audit log

Revision ID: 0004
Revises: 0005
Create Date: 2026-12-01 23:40:00.000000

``agents.role`` and ``agents.extension`` move to ``agent_roles`` and
``devices`` (an agent may hold several of each); the panel's fixed pause
reasons and dispositions become rows.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from crm_sync.models import UtcDateTime

revision: str = "0004"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PAUSE_REASONS = (
    ("break", "استراحت", "Break"),
    ("lunch", "ناهار", "Lunch"),
    ("training", "آموزش", "Training"),
    ("meeting", "جلسه", "Meeting"),
)
_DISPOSITIONS = (
    ("resolved", "حل شد", "Resolved"),
    ("callback", "تماس مجدد", "Call back"),
    ("escalated", "ارجاع شد", "Escalated"),
    ("information", "اطلاع‌رسانی", "Information"),
    ("sale", "فروش", "Sale"),
    ("complaint", "شکایت", "Complaint"),
    ("wrong_number", "شماره اشتباه", "Wrong number"),
)


def upgrade() -> None:
    op.create_table(
        "agent_roles",
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "role IN ('agent', 'supervisor', 'admin')", name=op.f("ck_agent_roles_role")
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_agent_roles_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agent_id", "role", name=op.f("pk_agent_roles")),
    )
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("interface", sa.String(length=128), nullable=False),
        sa.Column("technology", sa.String(length=8), nullable=False),
        sa.Column("extension", sa.String(length=32), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=True),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint(
            "technology IN ('PJSIP', 'SIP', 'IAX2', 'Local')", name=op.f("ck_devices_technology")
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_devices_agent_id_agents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
        sa.UniqueConstraint("interface", name=op.f("uq_devices_interface")),
    )
    op.create_index("ix_devices_agent_id", "devices", ["agent_id"], unique=False)
    op.create_index("ix_devices_extension", "devices", ["extension"], unique=False)
    op.create_table(
        "queues",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("display_fa", sa.String(length=100), nullable=True),
        sa.Column("display_en", sa.String(length=100), nullable=True),
        sa.Column("team", sa.String(length=100), nullable=True),
        sa.Column("sla_target_percent", sa.Integer(), nullable=False),
        sa.Column("sla_threshold_seconds", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint(
            "sla_target_percent BETWEEN 0 AND 100", name=op.f("ck_queues_sla_target_percent")
        ),
        sa.CheckConstraint(
            "sla_threshold_seconds > 0", name=op.f("ck_queues_sla_threshold_seconds")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queues")),
        sa.UniqueConstraint("name", name=op.f("uq_queues_name")),
    )
    op.create_table(
        "queue_supervisors",
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_queue_supervisors_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queues.id"],
            name=op.f("fk_queue_supervisors_queue_id_queues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("queue_id", "agent_id", name=op.f("pk_queue_supervisors")),
    )
    for table in ("pause_reasons", "dispositions"):
        op.create_table(
            table,
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("code", sa.String(length=64), nullable=False),
            sa.Column("label_fa", sa.String(length=100), nullable=False),
            sa.Column("label_en", sa.String(length=100), nullable=False),
            sa.Column("position", sa.Integer(), nullable=False),
            sa.Column("active", sa.Boolean(), nullable=False),
            sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
            sa.UniqueConstraint("code", name=op.f(f"uq_{table}_code")),
        )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("last_used_at", UtcDateTime(), nullable=True),
        sa.Column("revoked_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_api_tokens_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"], unique=False)

    op.add_column("agents", sa.Column("crm_user_id", sa.String(length=64), nullable=True))
    op.add_column("agents", sa.Column("language", sa.String(length=8), nullable=True))
    op.execute("INSERT INTO agent_roles (agent_id, role) SELECT id, role FROM agents")
    # Asterisk's own channel driver by default; an admin or a PBX import corrects it.
    op.execute(
        "INSERT INTO devices (interface, technology, extension, agent_id, created_at) "
        "SELECT 'PJSIP/' || extension, 'PJSIP', extension, id, created_at "
        "FROM agents WHERE extension IS NOT NULL"
    )
    with op.batch_alter_table("agents") as batch:
        batch.drop_constraint(op.f("uq_agents_extension"), type_="unique")
        batch.drop_constraint(op.f("ck_agents_role"), type_="check")
        batch.drop_column("extension")
        batch.drop_column("role")

    for table, rows in (("pause_reasons", _PAUSE_REASONS), ("dispositions", _DISPOSITIONS)):
        op.bulk_insert(
            sa.table(
                table,
                sa.column("code", sa.String),
                sa.column("label_fa", sa.String),
                sa.column("label_en", sa.String),
                sa.column("position", sa.Integer),
                sa.column("active", sa.Boolean),
            ),
            [
                {"code": c, "label_fa": fa, "label_en": en, "position": i, "active": True}
                for i, (c, fa, en) in enumerate(rows)
            ],
        )


def downgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("extension", sa.String(length=32), nullable=True))
        batch.add_column(
            sa.Column("role", sa.String(length=16), nullable=False, server_default="agent")
        )
    # The highest role held and the lowest extension: what the old columns could say.
    op.execute(
        "UPDATE agents SET role = COALESCE((SELECT CASE MAX(CASE role WHEN 'admin' THEN 3 "
        "WHEN 'supervisor' THEN 2 ELSE 1 END) WHEN 3 THEN 'admin' WHEN 2 THEN 'supervisor' "
        "ELSE 'agent' END FROM agent_roles r WHERE r.agent_id = agents.id), 'agent'), "
        "extension = (SELECT MIN(d.extension) FROM devices d WHERE d.agent_id = agents.id)"
    )
    with op.batch_alter_table("agents") as batch:
        batch.alter_column("role", server_default=None)
        batch.create_unique_constraint("uq_agents_extension", ["extension"])
        batch.create_check_constraint("role", "role IN ('agent', 'supervisor', 'admin')")
        batch.drop_column("language")
        batch.drop_column("crm_user_id")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("api_tokens")
    op.drop_table("dispositions")
    op.drop_table("pause_reasons")
    op.drop_table("queue_supervisors")
    op.drop_table("queues")
    op.drop_index("ix_devices_extension", table_name="devices")
    op.drop_index("ix_devices_agent_id", table_name="devices")
    op.drop_table("devices")
    op.drop_table("agent_roles")
