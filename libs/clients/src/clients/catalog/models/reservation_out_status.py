from enum import StrEnum


class ReservationOutStatus(StrEnum):
    RELEASED = "released"
    RESERVED = "reserved"

    def __str__(self) -> str:
        return str(self.value)
