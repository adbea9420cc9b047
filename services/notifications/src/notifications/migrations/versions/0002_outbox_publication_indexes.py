"""the outbox without its publication indexes (every row in it is still to be sent)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from servicekit.events import create_outbox_publication_indexes, drop_outbox_publication_indexes

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    drop_outbox_publication_indexes()


def downgrade() -> None:
    create_outbox_publication_indexes()
