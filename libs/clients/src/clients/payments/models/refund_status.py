from enum import StrEnum


class RefundStatus(StrEnum):
    NOTHING_CHARGED = "nothing_charged"
    REFUNDED = "refunded"

    def __str__(self) -> str:
        return str(self.value)
