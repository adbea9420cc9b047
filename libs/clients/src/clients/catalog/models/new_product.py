from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="NewProduct")


@_attrs_define
class NewProduct:
    """
    Attributes:
        sku (str): The stock-keeping unit: letters, digits, `.`, `_`, `-`; unique.
        name (str):
        price_cents (int): Price per unit, in cents.
        currency (str): ISO 4217 code.
        stock (int): Units available.
    """

    sku: str
    name: str
    price_cents: int
    currency: str
    stock: int

    def to_dict(self) -> dict[str, Any]:
        sku = self.sku

        name = self.name

        price_cents = self.price_cents

        currency = self.currency

        stock = self.stock

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "sku": sku,
                "name": name,
                "price_cents": price_cents,
                "currency": currency,
                "stock": stock,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        sku = d.pop("sku")

        name = d.pop("name")

        price_cents = d.pop("price_cents")

        currency = d.pop("currency")

        stock = d.pop("stock")

        new_product = cls(
            sku=sku,
            name=name,
            price_cents=price_cents,
            currency=currency,
            stock=stock,
        )

        return new_product
