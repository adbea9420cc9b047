from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="ProductChange")


@_attrs_define
class ProductChange:
    """
    Attributes:
        price_cents (int | None | Unset):
        stock_adjustment (int | None | Unset): Units to add (positive) or remove (negative); stock never goes below 0.
    """

    price_cents: int | None | Unset = UNSET
    stock_adjustment: int | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        price_cents: int | None | Unset
        if isinstance(self.price_cents, Unset):
            price_cents = UNSET
        else:
            price_cents = self.price_cents

        stock_adjustment: int | None | Unset
        if isinstance(self.stock_adjustment, Unset):
            stock_adjustment = UNSET
        else:
            stock_adjustment = self.stock_adjustment

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if price_cents is not UNSET:
            field_dict["price_cents"] = price_cents
        if stock_adjustment is not UNSET:
            field_dict["stock_adjustment"] = stock_adjustment

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)

        def _parse_price_cents(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        price_cents = _parse_price_cents(d.pop("price_cents", UNSET))

        def _parse_stock_adjustment(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        stock_adjustment = _parse_stock_adjustment(d.pop("stock_adjustment", UNSET))

        product_change = cls(
            price_cents=price_cents,
            stock_adjustment=stock_adjustment,
        )

        return product_change
