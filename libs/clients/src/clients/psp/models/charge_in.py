from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="ChargeIn")


@_attrs_define
class ChargeIn:
    """
    Attributes:
        amount (int): In the currency's minor units (cents).
        currency (str): ISO 4217, e.g. `EUR`.
        payment_method (str): `pm_card_visa`, `pm_card_mastercard` and `pm_card_amex` are approved; `pm_card_declined`
            and `pm_card_insufficient_funds` are always declined.
        reference (str): The caller's own id for what is paid for.
    """

    amount: int
    currency: str
    payment_method: str
    reference: str

    def to_dict(self) -> dict[str, Any]:
        amount = self.amount

        currency = self.currency

        payment_method = self.payment_method

        reference = self.reference

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "amount": amount,
                "currency": currency,
                "payment_method": payment_method,
                "reference": reference,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        amount = d.pop("amount")

        currency = d.pop("currency")

        payment_method = d.pop("payment_method")

        reference = d.pop("reference")

        charge_in = cls(
            amount=amount,
            currency=currency,
            payment_method=payment_method,
            reference=reference,
        )

        return charge_in
