"""All of psp's SQL."""

from __future__ import annotations

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from psp.domain import Charge, Faults, KeyBusy, Refund
from psp.tables import FAULTS_ROW, charges, faults, refunds
from servicekit.db import direct

__all__ = ["ChargeRepository", "FaultRepository", "RefundRepository"]

_LOCK_NOT_AVAILABLE = "55P03"

# The statements of every charge, built once and run on the driver (servicekit.db.direct):
# building a statement costs more CPU than its round trip, and SQLAlchemy's execution of one
# about twice its round trip.
_CHARGE_COLUMNS = (
    "id",
    "account",
    "idempotency_key",
    "fingerprint",
    "amount",
    "currency",
    "payment_method",
    "reference",
    "status",
    "decline_code",
    "response_status",
    "response_body",
    "created_at",
)
_ADD_CHARGE_ONCE = direct(
    insert(charges)
    .values({name: bindparam(name) for name in _CHARGE_COLUMNS})
    .on_conflict_do_nothing(index_elements=[charges.c.account, charges.c.idempotency_key])
    .returning(*charges.c)
)
_CHARGE_BY_KEY = direct(
    select(charges).where(
        charges.c.account == bindparam("account"),
        charges.c.idempotency_key == bindparam("idempotency_key"),
    )
)
_FAULTS = select(faults).where(faults.c.id == FAULTS_ROW)


class ChargeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def by_key(self, account: str, idempotency_key: str) -> Charge | None:
        row = (
            await _CHARGE_BY_KEY.run(
                self._session, {"account": account, "idempotency_key": idempotency_key}
            )
        ).first()
        return _charge(row) if row else None

    async def add_once(self, charge: Charge) -> tuple[Charge, bool]:
        """Insert `charge` unless its key already has one; return the stored charge and whether
        it is this one. A concurrent insert of the same key waits for the first transaction
        (up to the lock timeout: `KeyBusy`) and then gets the first one's charge."""
        values = {name: getattr(charge, name) for name in _CHARGE_COLUMNS}
        try:
            inserted = (await _ADD_CHARGE_ONCE.run(self._session, values)).first()
        except DBAPIError as error:
            if getattr(error.orig, "sqlstate", None) == _LOCK_NOT_AVAILABLE:
                raise KeyBusy(charge.idempotency_key) from error
            raise
        if inserted is not None:
            return _charge(inserted), True
        existing = await self.by_key(charge.account, charge.idempotency_key)
        assert existing is not None  # the conflicting row committed before we were let through
        return existing, False

    async def by_id(self, account: str, charge_id: str) -> Charge | None:
        """Another account's charge is not found, as if it did not exist."""
        row = (
            await self._session.execute(
                select(charges).where(charges.c.account == account, charges.c.id == charge_id)
            )
        ).first()
        return _charge(row) if row else None

    async def by_reference(self, account: str, reference: str, *, limit: int) -> list[Charge]:
        """Oldest first (ids are time-ordered)."""
        rows = await self._session.execute(
            select(charges)
            .where(charges.c.account == account, charges.c.reference == reference)
            .order_by(charges.c.id)
            .limit(limit)
        )
        return [_charge(row) for row in rows]


class RefundRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def by_key(self, account: str, idempotency_key: str) -> Refund | None:
        row = (
            await self._session.execute(
                select(refunds).where(
                    refunds.c.account == account, refunds.c.idempotency_key == idempotency_key
                )
            )
        ).first()
        return _refund(row) if row else None

    async def for_charges(self, charge_ids: list[str]) -> dict[str, Refund]:
        """The refunds of these charges, by charge id (a charge has at most one)."""
        if not charge_ids:
            return {}
        rows = await self._session.execute(
            select(refunds).where(refunds.c.charge_id.in_(charge_ids))
        )
        return {refund.charge_id: refund for refund in map(_refund, rows)}

    async def add_once(self, refund: Refund) -> Refund | None:
        """Insert `refund` unless its key or its charge already has one; return it, or None
        when another row won (the caller looks up which). A concurrent insert with the same key
        or charge waits for the first transaction (up to the lock timeout: `KeyBusy`)."""
        statement = (
            insert(refunds)
            .values(
                id=refund.id,
                account=refund.account,
                idempotency_key=refund.idempotency_key,
                fingerprint=refund.fingerprint,
                charge_id=refund.charge_id,
                amount=refund.amount,
                currency=refund.currency,
                response_status=refund.response_status,
                response_body=refund.response_body,
                created_at=refund.created_at,
            )
            .on_conflict_do_nothing()
            .returning(*refunds.c)
        )
        try:
            inserted = (await self._session.execute(statement)).first()
        except DBAPIError as error:
            if getattr(error.orig, "sqlstate", None) == _LOCK_NOT_AVAILABLE:
                raise KeyBusy(refund.idempotency_key) from error
            raise
        return _refund(inserted) if inserted is not None else None


class FaultRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self) -> Faults:
        row = (await self._session.execute(_FAULTS)).first()
        if row is None:  # the migration inserts it; a missing row means "no faults"
            return Faults()
        return _faults(row)

    async def set(self, wanted: Faults) -> Faults:
        row = (
            await self._session.execute(
                update(faults)
                .where(faults.c.id == FAULTS_ROW)
                .values(
                    latency_ms=wanted.latency_ms,
                    error_rate=wanted.error_rate,
                    decline_rate=wanted.decline_rate,
                    outage=wanted.outage,
                    lose_answer_rate=wanted.lose_answer_rate,
                    updated_at=func.now(),
                )
                .returning(*faults.c)
            )
        ).one()
        return _faults(row)


def _charge(row: object) -> Charge:
    mapping = row._mapping  # type: ignore[attr-defined]
    return Charge(
        id=mapping["id"],
        account=mapping["account"],
        idempotency_key=mapping["idempotency_key"],
        fingerprint=mapping["fingerprint"],
        amount=mapping["amount"],
        currency=mapping["currency"],
        payment_method=mapping["payment_method"],
        reference=mapping["reference"],
        status=mapping["status"],
        decline_code=mapping["decline_code"],
        response_status=mapping["response_status"],
        response_body=bytes(mapping["response_body"]),
        created_at=mapping["created_at"],
    )


def _faults(row: object) -> Faults:
    mapping = row._mapping  # type: ignore[attr-defined]
    return Faults(
        latency_ms=mapping["latency_ms"],
        error_rate=mapping["error_rate"],
        decline_rate=mapping["decline_rate"],
        outage=mapping["outage"],
        lose_answer_rate=mapping["lose_answer_rate"],
    )


def _refund(row: object) -> Refund:
    mapping = row._mapping  # type: ignore[attr-defined]
    return Refund(
        id=mapping["id"],
        account=mapping["account"],
        idempotency_key=mapping["idempotency_key"],
        fingerprint=mapping["fingerprint"],
        charge_id=mapping["charge_id"],
        amount=mapping["amount"],
        currency=mapping["currency"],
        response_status=mapping["response_status"],
        response_body=bytes(mapping["response_body"]),
        created_at=mapping["created_at"],
    )
