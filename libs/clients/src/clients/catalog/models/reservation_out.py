from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.reservation_out_status import ReservationOutStatus

if TYPE_CHECKING:
    from ..models.stock_line_out import StockLineOut


T = TypeVar("T", bound="ReservationOut")


@_attrs_define
class ReservationOut:
    """
    Attributes:
        order_id (str):
        items (list[StockLineOut]):
        status (ReservationOutStatus):
        reserved_at (datetime.datetime):
        released_at (datetime.datetime | None):
    """

    order_id: str
    items: list[StockLineOut]
    status: ReservationOutStatus
    reserved_at: datetime.datetime
    released_at: datetime.datetime | None
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        order_id = self.order_id

        items = []
        for items_item_data in self.items:
            items_item = items_item_data.to_dict()
            items.append(items_item)

        status = self.status.value

        reserved_at = self.reserved_at.isoformat()

        released_at: None | str
        if isinstance(self.released_at, datetime.datetime):
            released_at = self.released_at.isoformat()
        else:
            released_at = self.released_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "order_id": order_id,
                "items": items,
                "status": status,
                "reserved_at": reserved_at,
                "released_at": released_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.stock_line_out import StockLineOut

        d = dict(src_dict)
        order_id = d.pop("order_id")

        items = []
        _items = d.pop("items")
        for items_item_data in _items:
            items_item = StockLineOut.from_dict(items_item_data)

            items.append(items_item)

        status = ReservationOutStatus(d.pop("status"))

        reserved_at = datetime.datetime.fromisoformat(d.pop("reserved_at"))

        def _parse_released_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                released_at_type_0 = datetime.datetime.fromisoformat(data)

                return released_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        released_at = _parse_released_at(d.pop("released_at"))

        reservation_out = cls(
            order_id=order_id,
            items=items,
            status=status,
            reserved_at=reserved_at,
            released_at=released_at,
        )

        reservation_out.additional_properties = d
        return reservation_out

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
