"""Contains all the data models used in inputs/outputs"""

from .http_validation_error import HTTPValidationError
from .jwks import Jwks
from .new_user import NewUser
from .token_request import TokenRequest
from .token_response import TokenResponse
from .user_out import UserOut
from .validation_error import ValidationError

__all__ = (
    "HTTPValidationError",
    "Jwks",
    "NewUser",
    "TokenRequest",
    "TokenResponse",
    "UserOut",
    "ValidationError",
)
