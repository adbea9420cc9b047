from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="RefundIn")


@_attrs_define
class RefundIn:
    """
    Attributes:
        charge_id (str): The succeeded charge to refund in full.
    """

    charge_id: str

    def to_dict(self) -> dict[str, Any]:
        charge_id = self.charge_id

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "charge_id": charge_id,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        charge_id = d.pop("charge_id")

        refund_in = cls(
            charge_id=charge_id,
        )

        return refund_in
