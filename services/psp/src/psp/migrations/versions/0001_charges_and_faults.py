"""charges, the fault knobs' one row, idempotency records

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from servicekit.idempotency import create_idempotency_table, drop_idempotency_table

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "charges",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("payment_method", sa.String(100), nullable=False),
        sa.Column("reference", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("decline_code", sa.String(40)),
        sa.Column("response_status", sa.SmallInteger, nullable=False),
        sa.Column("response_body", sa.LargeBinary, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("id", name="pk_charges"),
        sa.UniqueConstraint("idempotency_key", name="uq_charges_idempotency_key"),
    )
    op.create_index("ix_charges_reference", "charges", ["reference"])
    op.create_table(
        "faults",
        sa.Column("id", sa.SmallInteger, nullable=False),
        sa.Column("latency_ms", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("error_rate", sa.Float, nullable=False, server_default=sa.text("0")),
        sa.Column("decline_rate", sa.Float, nullable=False, server_default=sa.text("0")),
        sa.Column("outage", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("id", name="pk_faults"),
        sa.CheckConstraint("id = 1", name="ck_faults_one_row"),
    )
    op.execute("INSERT INTO faults (id) VALUES (1)")
    create_idempotency_table()


def downgrade() -> None:
    drop_idempotency_table()
    op.drop_table("faults")
    op.drop_table("charges")
