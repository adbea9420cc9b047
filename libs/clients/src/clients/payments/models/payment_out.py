from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.payment_out_status import PaymentOutStatus
from ..models.payment_reason import PaymentReason
from ..models.refund_status import RefundStatus

T = TypeVar("T", bound="PaymentOut")


@_attrs_define
class PaymentOut:
    """
    Attributes:
        id (str):
        order_id (str):
        user_id (str):
        amount_cents (int):
        currency (str):
        status (PaymentOutStatus): `refunded`: it succeeded, then its order was cancelled and the charge given back (see
            `refund_id`).
        reason (None | PaymentReason): Why a failed payment failed; null otherwise.
        charge_id (None | str): The provider's charge, once it succeeded.
        attempts (int): Charge attempts it took to reach the status.
        created_at (datetime.datetime):
        updated_at (datetime.datetime):
        refund_status (None | RefundStatus): What the order's cancellation found: `refunded`, or `nothing_charged` (a
            `provider_unavailable` payment the provider turned out not to have charged); null while the order is not
            cancelled or nothing could have been charged.
        refund_id (None | str): The provider's refund (`re_…`), once refunded.
        refunded_at (datetime.datetime | None): When the charge was refunded (UTC).
    """

    id: str
    order_id: str
    user_id: str
    amount_cents: int
    currency: str
    status: PaymentOutStatus
    reason: None | PaymentReason
    charge_id: None | str
    attempts: int
    created_at: datetime.datetime
    updated_at: datetime.datetime
    refund_status: None | RefundStatus
    refund_id: None | str
    refunded_at: datetime.datetime | None
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        order_id = self.order_id

        user_id = self.user_id

        amount_cents = self.amount_cents

        currency = self.currency

        status = self.status.value

        reason: None | str
        if isinstance(self.reason, PaymentReason):
            reason = self.reason.value
        else:
            reason = self.reason

        charge_id: None | str
        charge_id = self.charge_id

        attempts = self.attempts

        created_at = self.created_at.isoformat()

        updated_at = self.updated_at.isoformat()

        refund_status: None | str
        if isinstance(self.refund_status, RefundStatus):
            refund_status = self.refund_status.value
        else:
            refund_status = self.refund_status

        refund_id: None | str
        refund_id = self.refund_id

        refunded_at: None | str
        if isinstance(self.refunded_at, datetime.datetime):
            refunded_at = self.refunded_at.isoformat()
        else:
            refunded_at = self.refunded_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "order_id": order_id,
                "user_id": user_id,
                "amount_cents": amount_cents,
                "currency": currency,
                "status": status,
                "reason": reason,
                "charge_id": charge_id,
                "attempts": attempts,
                "created_at": created_at,
                "updated_at": updated_at,
                "refund_status": refund_status,
                "refund_id": refund_id,
                "refunded_at": refunded_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        order_id = d.pop("order_id")

        user_id = d.pop("user_id")

        amount_cents = d.pop("amount_cents")

        currency = d.pop("currency")

        status = PaymentOutStatus(d.pop("status"))

        def _parse_reason(data: object) -> None | PaymentReason:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                reason_type_0 = PaymentReason(data)

                return reason_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | PaymentReason, data)

        reason = _parse_reason(d.pop("reason"))

        def _parse_charge_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        charge_id = _parse_charge_id(d.pop("charge_id"))

        attempts = d.pop("attempts")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))

        def _parse_refund_status(data: object) -> None | RefundStatus:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                refund_status_type_0 = RefundStatus(data)

                return refund_status_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | RefundStatus, data)

        refund_status = _parse_refund_status(d.pop("refund_status"))

        def _parse_refund_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        refund_id = _parse_refund_id(d.pop("refund_id"))

        def _parse_refunded_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                refunded_at_type_0 = datetime.datetime.fromisoformat(data)

                return refunded_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        refunded_at = _parse_refunded_at(d.pop("refunded_at"))

        payment_out = cls(
            id=id,
            order_id=order_id,
            user_id=user_id,
            amount_cents=amount_cents,
            currency=currency,
            status=status,
            reason=reason,
            charge_id=charge_id,
            attempts=attempts,
            created_at=created_at,
            updated_at=updated_at,
            refund_status=refund_status,
            refund_id=refund_id,
            refunded_at=refunded_at,
        )

        payment_out.additional_properties = d
        return payment_out

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
