"""refunds (one per charge, under the provider's own idempotency keys), the lose_answer_rate knob

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "refunds",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("charge_id", sa.String(40), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("response_status", sa.SmallInteger, nullable=False),
        sa.Column("response_body", sa.LargeBinary, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("id", name="pk_refunds"),
        sa.UniqueConstraint("idempotency_key", name="uq_refunds_idempotency_key"),
        sa.UniqueConstraint("charge_id", name="uq_refunds_charge_id"),
        sa.ForeignKeyConstraint(["charge_id"], ["charges.id"], name="fk_refunds_charge_id_charges"),
    )
    op.add_column(
        "faults",
        sa.Column("lose_answer_rate", sa.Float, nullable=False, server_default=sa.text("0")),
    )


def downgrade() -> None:
    op.drop_column("faults", "lose_answer_rate")
    op.drop_table("refunds")
