from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.notification_out_status import NotificationOutStatus

T = TypeVar("T", bound="NotificationOut")


@_attrs_define
class NotificationOut:
    """
    Attributes:
        id (str):
        channel (Literal['email']):
        template (str):
        recipient (str): Where it was delivered: the email address.
        subject (str):
        body (str): The plain-text content that was sent.
        status (NotificationOutStatus): `sent`: the mail server accepted it. `unconfirmed`: a crash hid whether it was
            sent, and it is never sent twice. `pending`/`sending`: not yet, or in progress.
        created_at (datetime.datetime):
        sent_at (datetime.datetime | None):
    """

    id: str
    channel: Literal["email"]
    template: str
    recipient: str
    subject: str
    body: str
    status: NotificationOutStatus
    created_at: datetime.datetime
    sent_at: datetime.datetime | None
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        channel = self.channel

        template = self.template

        recipient = self.recipient

        subject = self.subject

        body = self.body

        status = self.status.value

        created_at = self.created_at.isoformat()

        sent_at: None | str
        if isinstance(self.sent_at, datetime.datetime):
            sent_at = self.sent_at.isoformat()
        else:
            sent_at = self.sent_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "channel": channel,
                "template": template,
                "recipient": recipient,
                "subject": subject,
                "body": body,
                "status": status,
                "created_at": created_at,
                "sent_at": sent_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        channel = cast(Literal["email"], d.pop("channel"))
        if channel != "email":
            raise ValueError(f"channel must match const 'email', got '{channel}'")

        template = d.pop("template")

        recipient = d.pop("recipient")

        subject = d.pop("subject")

        body = d.pop("body")

        status = NotificationOutStatus(d.pop("status"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        def _parse_sent_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                sent_at_type_0 = datetime.datetime.fromisoformat(data)

                return sent_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        sent_at = _parse_sent_at(d.pop("sent_at"))

        notification_out = cls(
            id=id,
            channel=channel,
            template=template,
            recipient=recipient,
            subject=subject,
            body=body,
            status=status,
            created_at=created_at,
            sent_at=sent_at,
        )

        notification_out.additional_properties = d
        return notification_out

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
