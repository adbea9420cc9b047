from enum import StrEnum


class DeclineCode(StrEnum):
    CARD_DECLINED = "card_declined"
    INSUFFICIENT_FUNDS = "insufficient_funds"

    def __str__(self) -> str:
        return str(self.value)
