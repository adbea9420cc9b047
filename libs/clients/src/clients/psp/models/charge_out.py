from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.charge_out_status import ChargeOutStatus
from ..models.decline_code import DeclineCode

if TYPE_CHECKING:
    from ..models.refund_out import RefundOut


T = TypeVar("T", bound="ChargeOut")


@_attrs_define
class ChargeOut:
    """
    Attributes:
        id (str):
        amount (int):
        currency (str):
        payment_method (str):
        reference (str):
        status (ChargeOutStatus):
        decline_code (DeclineCode | None): Why a failed charge was declined; null when it succeeded.
        created_at (datetime.datetime):
        refunded (bool): Whether the charge was refunded (in full). A charge's own POST answer, and its replays, show it
            as it was when made.
        refund (None | RefundOut): The charge's refund, once refunded.
    """

    id: str
    amount: int
    currency: str
    payment_method: str
    reference: str
    status: ChargeOutStatus
    decline_code: DeclineCode | None
    created_at: datetime.datetime
    refunded: bool
    refund: None | RefundOut
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.refund_out import RefundOut

        id = self.id

        amount = self.amount

        currency = self.currency

        payment_method = self.payment_method

        reference = self.reference

        status = self.status.value

        decline_code: None | str
        if isinstance(self.decline_code, DeclineCode):
            decline_code = self.decline_code.value
        else:
            decline_code = self.decline_code

        created_at = self.created_at.isoformat()

        refunded = self.refunded

        refund: dict[str, Any] | None
        if isinstance(self.refund, RefundOut):
            refund = self.refund.to_dict()
        else:
            refund = self.refund

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "amount": amount,
                "currency": currency,
                "payment_method": payment_method,
                "reference": reference,
                "status": status,
                "decline_code": decline_code,
                "created_at": created_at,
                "refunded": refunded,
                "refund": refund,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.refund_out import RefundOut

        d = dict(src_dict)
        id = d.pop("id")

        amount = d.pop("amount")

        currency = d.pop("currency")

        payment_method = d.pop("payment_method")

        reference = d.pop("reference")

        status = ChargeOutStatus(d.pop("status"))

        def _parse_decline_code(data: object) -> DeclineCode | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                decline_code_type_0 = DeclineCode(data)

                return decline_code_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(DeclineCode | None, data)

        decline_code = _parse_decline_code(d.pop("decline_code"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        refunded = d.pop("refunded")

        def _parse_refund(data: object) -> None | RefundOut:
            if data is None:
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                refund_type_0 = RefundOut.from_dict(data)

                return refund_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | RefundOut, data)

        refund = _parse_refund(d.pop("refund"))

        charge_out = cls(
            id=id,
            amount=amount,
            currency=currency,
            payment_method=payment_method,
            reference=reference,
            status=status,
            decline_code=decline_code,
            created_at=created_at,
            refunded=refunded,
            refund=refund,
        )

        charge_out.additional_properties = d
        return charge_out

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
