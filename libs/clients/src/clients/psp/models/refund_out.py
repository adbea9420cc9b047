from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="RefundOut")


@_attrs_define
class RefundOut:
    """
    Attributes:
        id (str):
        charge_id (str):
        amount (int): The whole charge's amount (full refunds only).
        currency (str):
        status (Literal['succeeded']):
        created_at (datetime.datetime):
    """

    id: str
    charge_id: str
    amount: int
    currency: str
    status: Literal["succeeded"]
    created_at: datetime.datetime
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        charge_id = self.charge_id

        amount = self.amount

        currency = self.currency

        status = self.status

        created_at = self.created_at.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "charge_id": charge_id,
                "amount": amount,
                "currency": currency,
                "status": status,
                "created_at": created_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        charge_id = d.pop("charge_id")

        amount = d.pop("amount")

        currency = d.pop("currency")

        status = cast(Literal["succeeded"], d.pop("status"))
        if status != "succeeded":
            raise ValueError(f"status must match const 'succeeded', got '{status}'")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        refund_out = cls(
            id=id,
            charge_id=charge_id,
            amount=amount,
            currency=currency,
            status=status,
            created_at=created_at,
        )

        refund_out.additional_properties = d
        return refund_out

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
