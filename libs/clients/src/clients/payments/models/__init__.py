"""Contains all the data models used in inputs/outputs"""

from .payment_out import PaymentOut
from .payment_out_status import PaymentOutStatus
from .payment_page import PaymentPage
from .payment_reason import PaymentReason
from .refund_status import RefundStatus

__all__ = (
    "PaymentOut",
    "PaymentOutStatus",
    "PaymentPage",
    "PaymentReason",
    "RefundStatus",
)
