"""orders, their lines and history; outbox, inbox and idempotency records

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from servicekit.events import create_event_tables, drop_event_tables
from servicekit.idempotency import create_idempotency_table, drop_idempotency_table

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("total_cents", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("payment_method", sa.String(100), nullable=False),
        sa.Column("reason", sa.String(40)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_orders"),
        sa.CheckConstraint(
            "status IN ('pending', 'awaiting_payment', 'confirmed', 'cancelled', 'rejected')",
            name="ck_orders_status",
        ),
    )
    op.create_index("ix_orders_user_id_id", "orders", ["user_id", "id"])
    op.create_index(
        "ix_orders_open_deadline_at",
        "orders",
        ["deadline_at"],
        postgresql_where=sa.text("status IN ('pending', 'awaiting_payment')"),
    )
    op.create_table(
        "order_lines",
        sa.Column("order_id", sa.String(40), nullable=False),
        sa.Column("line_no", sa.Integer, nullable=False),
        sa.Column("product_id", sa.String(40), nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("unit_price_cents", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("order_id", "line_no", name="pk_order_lines"),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_order_lines_order_id_orders", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "order_history",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), nullable=False),
        sa.Column("order_id", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cause", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_order_history"),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_order_history_order_id_orders", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_order_history_order_id_id", "order_history", ["order_id", "id"])
    create_event_tables()
    create_idempotency_table()


def downgrade() -> None:
    drop_idempotency_table()
    drop_event_tables()
    op.drop_table("order_history")
    op.drop_table("order_lines")
    op.drop_table("orders")
