"""Contains all the data models used in inputs/outputs"""

from .notification_out import NotificationOut
from .notification_out_status import NotificationOutStatus
from .notification_page import NotificationPage

__all__ = (
    "NotificationOut",
    "NotificationOutStatus",
    "NotificationPage",
)
