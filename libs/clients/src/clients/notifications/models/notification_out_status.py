from enum import StrEnum


class NotificationOutStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    UNCONFIRMED = "unconfirmed"

    def __str__(self) -> str:
        return str(self.value)
