"""products, reservations, outbox, inbox and idempotency records

Revision ID: 0001
Revises:
Create Date: 2026-11-24
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
        "products",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("price_cents", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("stock", sa.BigInteger, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("id", name="pk_products"),
        sa.UniqueConstraint("sku", name="uq_products_sku"),
        sa.CheckConstraint("stock >= 0", name="ck_products_stock_not_negative"),
        sa.CheckConstraint("price_cents >= 0", name="ck_products_price_not_negative"),
    )
    op.create_table(
        "reservations",
        sa.Column("order_id", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reserved_at", sa.DateTime(timezone=True)),
        sa.Column("released_at", sa.DateTime(timezone=True)),
        sa.Column(
            "decided_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("order_id", name="pk_reservations"),
        sa.CheckConstraint(
            "status IN ('reserved', 'released', 'rejected', 'voided')",
            name="ck_reservations_status_known",
        ),
    )
    op.create_table(
        "reservation_lines",
        sa.Column("order_id", sa.String(40), nullable=False),
        sa.Column("product_id", sa.String(40), nullable=False),
        sa.Column("quantity", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("order_id", "product_id", name="pk_reservation_lines"),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["reservations.order_id"],
            name="fk_reservation_lines_order_id_reservations",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name="fk_reservation_lines_product_id_products"
        ),
        sa.CheckConstraint("quantity > 0", name="ck_reservation_lines_quantity_positive"),
    )
    create_event_tables()
    create_idempotency_table()


def downgrade() -> None:
    drop_idempotency_table()
    drop_event_tables()
    op.drop_table("reservation_lines")
    op.drop_table("reservations")
    op.drop_table("products")
