"""payments: what a cancelled order's payment came to (refunded, or nothing charged)

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
    op.add_column("payments", sa.Column("refund_status", sa.String(20)))
    op.add_column("payments", sa.Column("refund_id", sa.String(40)))
    op.add_column("payments", sa.Column("refunded_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("payments", "refunded_at")
    op.drop_column("payments", "refund_id")
    op.drop_column("payments", "refund_status")
