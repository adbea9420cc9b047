"""Contains all the data models used in inputs/outputs"""

from .http_validation_error import HTTPValidationError
from .new_product import NewProduct
from .product_change import ProductChange
from .product_out import ProductOut
from .product_page import ProductPage
from .reservation_list import ReservationList
from .reservation_out import ReservationOut
from .reservation_out_status import ReservationOutStatus
from .stock_line_out import StockLineOut
from .validation_error import ValidationError

__all__ = (
    "HTTPValidationError",
    "NewProduct",
    "ProductChange",
    "ProductOut",
    "ProductPage",
    "ReservationList",
    "ReservationOut",
    "ReservationOutStatus",
    "StockLineOut",
    "ValidationError",
)
