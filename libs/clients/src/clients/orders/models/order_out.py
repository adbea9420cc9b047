from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.order_out_status import OrderOutStatus

if TYPE_CHECKING:
    from ..models.history_out import HistoryOut
    from ..models.order_line_out import OrderLineOut


T = TypeVar("T", bound="OrderOut")


@_attrs_define
class OrderOut:
    """
    Attributes:
        id (str):
        status (OrderOutStatus):
        items (list[OrderLineOut]):
        total_cents (int):
        currency (str):
        payment_method (str):
        reason (None | str): Why a cancelled or rejected order ended so: `payment_declined`, `insufficient_funds`,
            `payment_failed`, `timeout`; `out_of_stock`, `unknown_product`, `currency_mismatch`. Null otherwise.
        created_at (datetime.datetime):
        updated_at (datetime.datetime):
        deadline_at (datetime.datetime): An order not final by then is cancelled (reason `timeout`).
        history (list[HistoryOut]): Every status the order entered, oldest first.
    """

    id: str
    status: OrderOutStatus
    items: list[OrderLineOut]
    total_cents: int
    currency: str
    payment_method: str
    reason: None | str
    created_at: datetime.datetime
    updated_at: datetime.datetime
    deadline_at: datetime.datetime
    history: list[HistoryOut]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        status = self.status.value

        items = []
        for items_item_data in self.items:
            items_item = items_item_data.to_dict()
            items.append(items_item)

        total_cents = self.total_cents

        currency = self.currency

        payment_method = self.payment_method

        reason: None | str
        reason = self.reason

        created_at = self.created_at.isoformat()

        updated_at = self.updated_at.isoformat()

        deadline_at = self.deadline_at.isoformat()

        history = []
        for history_item_data in self.history:
            history_item = history_item_data.to_dict()
            history.append(history_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "status": status,
                "items": items,
                "total_cents": total_cents,
                "currency": currency,
                "payment_method": payment_method,
                "reason": reason,
                "created_at": created_at,
                "updated_at": updated_at,
                "deadline_at": deadline_at,
                "history": history,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.history_out import HistoryOut
        from ..models.order_line_out import OrderLineOut

        d = dict(src_dict)
        id = d.pop("id")

        status = OrderOutStatus(d.pop("status"))

        items = []
        _items = d.pop("items")
        for items_item_data in _items:
            items_item = OrderLineOut.from_dict(items_item_data)

            items.append(items_item)

        total_cents = d.pop("total_cents")

        currency = d.pop("currency")

        payment_method = d.pop("payment_method")

        def _parse_reason(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        reason = _parse_reason(d.pop("reason"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))

        deadline_at = datetime.datetime.fromisoformat(d.pop("deadline_at"))

        history = []
        _history = d.pop("history")
        for history_item_data in _history:
            history_item = HistoryOut.from_dict(history_item_data)

            history.append(history_item)

        order_out = cls(
            id=id,
            status=status,
            items=items,
            total_cents=total_cents,
            currency=currency,
            payment_method=payment_method,
            reason=reason,
            created_at=created_at,
            updated_at=updated_at,
            deadline_at=deadline_at,
            history=history,
        )

        order_out.additional_properties = d
        return order_out

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
