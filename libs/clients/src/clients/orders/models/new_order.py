from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.new_order_line import NewOrderLine


T = TypeVar("T", bound="NewOrder")


@_attrs_define
class NewOrder:
    """
    Attributes:
        items (list[NewOrderLine]): One line per product.
        payment_method (str): The payment provider's method to charge once the stock is reserved.
    """

    items: list[NewOrderLine]
    payment_method: str

    def to_dict(self) -> dict[str, Any]:
        items = []
        for items_item_data in self.items:
            items_item = items_item_data.to_dict()
            items.append(items_item)

        payment_method = self.payment_method

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "items": items,
                "payment_method": payment_method,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.new_order_line import NewOrderLine

        d = dict(src_dict)
        items = []
        _items = d.pop("items")
        for items_item_data in _items:
            items_item = NewOrderLine.from_dict(items_item_data)

            items.append(items_item)

        payment_method = d.pop("payment_method")

        new_order = cls(
            items=items,
            payment_method=payment_method,
        )

        return new_order
