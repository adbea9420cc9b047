"""Users and the rules about them; no I/O here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["EmailAlreadyRegistered", "InvalidCredentials", "User", "normalize_email"]


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


def normalize_email(email: str) -> str:
    """One account per address, whatever its case."""
    return email.strip().lower()
