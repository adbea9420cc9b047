"""Who is calling the provider: a merchant account, proven by its secret API key.

A real provider is reached over the internet by many merchants, so psp authenticates every
charge, refund and look-up the way they do: `Authorization: Bearer sk_test_…`, one secret key
per merchant account, configured from a secret file (`API_KEYS`, a JSON object
`{"acct_flotilla": "sk_test_…"}`). What an account made (charges, refunds, their idempotency
keys) is visible to that account only, so one merchant can neither read nor refund another's
charges, nor take an idempotency key the other will use.

The presented key is hashed before it is compared, so every comparison has the same length,
and compared in constant time with every configured key (no early exit), so the answer's
timing does not tell how much of a key was right. The key never appears in an answer or a log.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from servicekit import ProblemError, ServiceContext

if TYPE_CHECKING:
    from psp.settings import PspSettings  # which imports this module's ACCOUNT_ID and API_KEY

__all__ = ["ACCOUNT_ID", "API_KEY", "MerchantAccount", "MerchantKeys", "wire"]

ACCOUNT_ID = r"^acct_[a-z0-9_]{1,40}$"
API_KEY = r"^sk_(test|live)_[A-Za-z0-9]{24,100}$"

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiKey",
    description="The merchant account's secret API key (`sk_test_…`).",
)


class MerchantKeys:
    """The configured accounts, each known by the SHA-256 of its key."""

    def __init__(self, keys: Mapping[str, SecretStr]) -> None:
        self._digests = [
            (account, _digest(key.get_secret_value())) for account, key in keys.items()
        ]

    def account_for(self, presented: str) -> str | None:
        digest = _digest(presented)
        found = None
        for account, expected in self._digests:  # all of them, whatever matched before
            if hmac.compare_digest(digest, expected):
                found = account
        return found


def wire(context: ServiceContext[PspSettings], app: FastAPI) -> None:
    """service.toml's `wiring`: the configured accounts, for `MerchantAccount`."""
    app.state.merchant_keys = MerchantKeys(context.settings.api_keys)


async def _merchant_account(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    keys: MerchantKeys = request.app.state.merchant_keys
    account = None
    if credentials is not None and credentials.scheme.lower() == "bearer":
        account = keys.account_for(credentials.credentials)
    if account is None:
        # One answer for a missing, malformed and unknown key: which one it was is no help
        # to a legitimate caller and some help to a guesser.
        raise ProblemError(
            "A valid secret API key is required: Authorization: Bearer sk_test_…",
            status=401,
            slug="invalid-api-key",
            headers={"WWW-Authenticate": 'Bearer realm="psp"'},
        )
    return account


MerchantAccount = Annotated[str, Depends(_merchant_account)]
"""The calling merchant account's id (`acct_…`), or a 401 problem."""


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()
