"""Users and the rules about them; no I/O here."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "EmailAlreadyRegistered",
    "InvalidCredentials",
    "LoginThrottle",
    "LoginThrottled",
    "User",
    "account_key",
    "normalize_email",
]


@dataclass(frozen=True)
class User:
    id: str
    email: str
    name: str
    password_hash: str
    roles: tuple[str, ...]
    created_at: datetime


class EmailAlreadyRegistered(Exception):
    pass


class InvalidCredentials(Exception):
    """Deliberately says nothing about whether the email exists."""


class LoginThrottled(Exception):
    """Too many failed logins for this address lately; try again after `retry_after_s`."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(retry_after_s)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class LoginThrottle:
    """Failed logins per address, with exponential back-off: the gateway's limit is per client
    address, so a botnet guessing one account's password from many addresses is slowed here.

    The first `free_attempts` failures cost nothing; each further one locks the address for
    `base_delay_s`, doubled each time, at most `max_delay_s`. Failures older than `window_s`
    are forgotten; a success forgets them all. Unknown addresses count alike, so the throttle
    does not tell which accounts exist.
    """

    free_attempts: int = 5
    base_delay_s: float = 1.0
    max_delay_s: float = 900.0
    window_s: float = 900.0

    def lock_after(self, failures: int) -> float:
        """Seconds the address stays locked after its `failures`-th failure in the window."""
        if failures < self.free_attempts:
            return 0.0
        exponent = min(failures - self.free_attempts, 32)  # 2**32 s is past any maximum
        return float(min(self.base_delay_s * 2**exponent, self.max_delay_s))


def normalize_email(email: str) -> str:
    """One account per address, whatever its case."""
    return email.strip().lower()


def account_key(email: str) -> str:
    """What the throttle records an address by: its hash, so that the table does not keep the
    addresses (existing or guessed) that failed to log in."""
    return hashlib.sha256(normalize_email(email).encode()).hexdigest()
