"""Contains all the data models used in inputs/outputs"""

from .history_out import HistoryOut
from .history_out_status import HistoryOutStatus
from .http_validation_error import HTTPValidationError
from .new_order import NewOrder
from .new_order_line import NewOrderLine
from .order_accepted import OrderAccepted
from .order_line_out import OrderLineOut
from .order_out import OrderOut
from .order_out_status import OrderOutStatus
from .order_page import OrderPage
from .validation_error import ValidationError

__all__ = (
    "HTTPValidationError",
    "HistoryOut",
    "HistoryOutStatus",
    "NewOrder",
    "NewOrderLine",
    "OrderAccepted",
    "OrderLineOut",
    "OrderOut",
    "OrderOutStatus",
    "OrderPage",
    "ValidationError",
)
