"""A login for an unknown email is checked against a decoy hash with the hasher's own
parameters, so it costs what a wrong password for a known email costs and does not tell the
two apart; the decoy is written out, not hashed, so building identity hashes nothing."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, extract_parameters

from identity.passwords import Passwords

pytestmark = pytest.mark.unit


class _CountingHasher(PasswordHasher):
    def __init__(self) -> None:
        super().__init__(memory_cost=8 * 1024, time_cost=2, parallelism=2)
        self.hashed = 0
        self.verified: list[str] = []

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self.hashed += 1
        return super().hash(password, salt=salt)

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verified.append(str(hash))
        return super().verify(hash, password)


async def test_an_unknown_email_is_verified_against_a_hash_like_a_real_one() -> None:
    hasher = _CountingHasher()
    passwords = Passwords(hasher)
    assert hasher.hashed == 0  # nothing hashed to build it
    stored = await passwords.hash("a real password")

    assert not await passwords.verify(None, "a real password")
    assert not await passwords.verify(stored, "a wrong password")

    decoy, real = hasher.verified
    assert extract_parameters(decoy) == extract_parameters(real)


async def test_no_password_matches_the_decoy() -> None:
    passwords = Passwords(_CountingHasher())

    assert not await passwords.verify(None, "")
    assert not await passwords.verify(None, "decoy password that never matches")
