"""charges and refunds belong to a merchant account; idempotency keys are scoped to it

Rows made before accounts existed are given `acct_flotilla`, the one account the local stack
and the chart configure for payments, so a charge made then can still be looked up and
refunded by the merchant that made it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_EARLIER_ROWS = "acct_flotilla"


def upgrade() -> None:
    for table in ("charges", "refunds"):
        op.add_column(
            table,
            sa.Column("account", sa.String(45), nullable=False, server_default=_EARLIER_ROWS),
        )
        # Only the backfill needs the default: a new row always names its account.
        op.alter_column(table, "account", server_default=None)
        op.drop_constraint(f"uq_{table}_idempotency_key", table, type_="unique")
        op.create_unique_constraint(
            f"uq_{table}_account_idempotency_key", table, ["account", "idempotency_key"]
        )
    op.drop_index("ix_charges_reference", "charges")
    op.create_index("ix_charges_account_reference", "charges", ["account", "reference"])


def downgrade() -> None:
    op.drop_index("ix_charges_account_reference", "charges")
    op.create_index("ix_charges_reference", "charges", ["reference"])
    for table in ("refunds", "charges"):
        op.drop_constraint(f"uq_{table}_account_idempotency_key", table, type_="unique")
        op.create_unique_constraint(f"uq_{table}_idempotency_key", table, ["idempotency_key"])
        op.drop_column(table, "account")
