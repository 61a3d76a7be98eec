"""customers: contact preferences and the phonebook's folded search text, trigram-indexed

Revision ID: 0005
Revises: 0002
Create Date: 2026-12-01 23:40:00.000000

PostgreSQL gets a pg_trgm GIN index on ``customers.search_text``; SQLite an
FTS5 table with the ``trigram`` tokenizer kept in step by triggers. Neither
is in the models (they are each database's own search machinery), so the
schema comparison leaves names starting with ``customers_search`` alone.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from crm_sync.phonebook import search_text

revision: str = "0005"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHANNELS = (
    "preferred_channel IS NULL OR preferred_channel IN ('phone', 'sms', 'email', 'whatsapp')"
)
_BATCH = 5000


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("preferred_channel", sa.String(16), nullable=True))
        batch.add_column(sa.Column("call_from", sa.Time(), nullable=True))
        batch.add_column(sa.Column("call_until", sa.Time(), nullable=True))
        batch.add_column(
            sa.Column("do_not_call", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("search_text", sa.Text(), nullable=False, server_default=""))
        batch.create_check_constraint("preferred_channel", _CHANNELS)
    _fill_search_text()
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            "CREATE INDEX customers_search_trgm ON customers USING gin (search_text gin_trgm_ops)"
        )
    elif bind.dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE customers_search USING fts5("
            "search_text, content='customers', content_rowid='id', tokenize='trigram')"
        )
        op.execute(
            "CREATE TRIGGER customers_search_ai AFTER INSERT ON customers BEGIN "
            "INSERT INTO customers_search(rowid, search_text) VALUES (new.id, new.search_text); END"
        )
        op.execute(
            "CREATE TRIGGER customers_search_ad AFTER DELETE ON customers BEGIN "
            "INSERT INTO customers_search(customers_search, rowid, search_text) "
            "VALUES ('delete', old.id, old.search_text); END"
        )
        op.execute(
            "CREATE TRIGGER customers_search_au AFTER UPDATE OF search_text ON customers BEGIN "
            "INSERT INTO customers_search(customers_search, rowid, search_text) "
            "VALUES ('delete', old.id, old.search_text); "
            "INSERT INTO customers_search(rowid, search_text) VALUES (new.id, new.search_text); END"
        )
        op.execute("INSERT INTO customers_search(customers_search) VALUES ('rebuild')")


def _fill_search_text() -> None:
    bind = op.get_bind()
    customers = sa.table(
        "customers",
        sa.column("id", sa.Integer),
        sa.column("name", sa.String),
        sa.column("ref", sa.String),
        sa.column("email", sa.String),
        sa.column("search_text", sa.Text),
    )
    phones = sa.table(
        "phone_numbers",
        sa.column("customer_id", sa.Integer),
        sa.column("raw", sa.String),
        sa.column("e164", sa.String),
    )
    last = 0
    while True:
        rows = bind.execute(
            sa.select(customers.c.id, customers.c.name, customers.c.ref, customers.c.email)
            .where(customers.c.id > last)
            .order_by(customers.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        ids = [row.id for row in rows]
        numbers: dict[int, list[str]] = {}
        for phone in bind.execute(
            sa.select(phones.c.customer_id, phones.c.raw, phones.c.e164).where(
                phones.c.customer_id.in_(ids)
            )
        ):
            numbers.setdefault(phone.customer_id, []).extend(
                n for n in (phone.raw, phone.e164) if n
            )
        bind.execute(
            customers.update().where(customers.c.id == sa.bindparam("row_id")),
            [
                {
                    "row_id": row.id,
                    "search_text": search_text(
                        row.name, row.ref, row.email, numbers.get(row.id, ())
                    ),
                }
                for row in rows
            ],
        )
        last = ids[-1]


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS customers_search_trgm")
    elif bind.dialect.name == "sqlite":
        for trigger in ("customers_search_ai", "customers_search_ad", "customers_search_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS customers_search")
    with op.batch_alter_table("customers") as batch:
        batch.drop_constraint("ck_customers_preferred_channel", type_="check")
        for column in (
            "search_text",
            "do_not_call",
            "call_until",
            "call_from",
            "preferred_channel",
        ):
            batch.drop_column(column)
