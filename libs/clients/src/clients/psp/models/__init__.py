"""Contains all the data models used in inputs/outputs"""

from .charge_in import ChargeIn
from .charge_out import ChargeOut
from .charge_out_status import ChargeOutStatus
from .charge_page import ChargePage
from .decline_code import DeclineCode
from .faults_in import FaultsIn
from .faults_out import FaultsOut
from .http_validation_error import HTTPValidationError
from .refund_in import RefundIn
from .refund_out import RefundOut
from .validation_error import ValidationError

__all__ = (
    "ChargeIn",
    "ChargeOut",
    "ChargeOutStatus",
    "ChargePage",
    "DeclineCode",
    "FaultsIn",
    "FaultsOut",
    "HTTPValidationError",
    "RefundIn",
    "RefundOut",
    "ValidationError",
)
