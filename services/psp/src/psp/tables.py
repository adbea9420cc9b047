"""psp's tables (in the `psp` schema, reached through the search_path)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
    func,
    text,
)

from servicekit.db import new_metadata
from servicekit.idempotency import add_idempotency_table

__all__ = ["FAULTS_ROW", "charges", "faults", "idempotency_records", "metadata", "refunds"]

metadata = new_metadata()

charges = Table(
    "charges",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account", String(45), nullable=False),
    # The provider's own idempotency: one charge per account and key, holding the key's first
    # answer (keys are scoped to the account: another merchant cannot take one).
    Column("idempotency_key", String(255), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("payment_method", String(100), nullable=False),
    Column("reference", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("decline_code", String(40)),
    Column("response_status", SmallInteger, nullable=False),
    Column("response_body", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("account", "idempotency_key", name="uq_charges_account_idempotency_key"),
    Index("ix_charges_account_reference", "account", "reference"),
    Index("ix_charges_created_at", "created_at"),  # the retention purge (psp.retention)
)

refunds = Table(
    "refunds",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account", String(45), nullable=False),
    Column("idempotency_key", String(255), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    # Full refunds only: at most one per charge, whatever key asks for it.
    Column("charge_id", String(40), ForeignKey("charges.id"), nullable=False, unique=True),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("response_status", SmallInteger, nullable=False),
    Column("response_body", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("account", "idempotency_key", name="uq_refunds_account_idempotency_key"),
    Index("ix_refunds_created_at", "created_at"),
)

FAULTS_ROW = 1
"""The one row of `faults`."""

faults = Table(
    "faults",
    metadata,
    Column("id", SmallInteger, primary_key=True),
    Column("latency_ms", Integer, nullable=False, server_default=text("0")),
    Column("error_rate", Float, nullable=False, server_default=text("0")),
    Column("decline_rate", Float, nullable=False, server_default=text("0")),
    Column("outage", Boolean, nullable=False, server_default=text("false")),
    Column("lose_answer_rate", Float, nullable=False, server_default=text("0")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint(f"id = {FAULTS_ROW}", name="one_row"),
)

idempotency_records = add_idempotency_table(metadata)
