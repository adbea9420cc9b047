from __future__ import annotations

import re

from pydantic import Field, SecretStr, field_validator

from psp.accounts import ACCOUNT_ID, API_KEY
from servicekit import ServiceSettings
from servicekit.auth import JwksSettings

__all__ = ["PspSettings"]


class PspSettings(ServiceSettings, JwksSettings):
    """Tokens (identity's JWKS) guard only the admin-only fault knobs."""

    service_name: str = "psp"
    db_schema: str = "psp"

    api_keys: dict[str, SecretStr]
    """The merchant accounts and their secret keys, `{"acct_flotilla": "sk_test_…"}`: from the
    secret file `api_keys` in SECRETS_DIR (or API_KEYS). No default: a provider without
    accounts would answer nobody, or everybody."""

    charge_retention_s: float = Field(default=30 * 86_400, ge=2 * 86_400)
    """How long a charge (and its refund) is kept, then purged (psp.retention). A charge is
    asked for again by its idempotency key while payments retries it, and refunded when its
    order ends cancelled: both within the order's life (its deadline is at most a day) and
    payments' retry tiers, so the floor is two days."""
    purge_interval_s: float = Field(default=600.0, gt=0)

    outage_retry_after_s: int = Field(default=1, ge=1, le=3600)
    """The `Retry-After` of a 503 while the `outage` knob is on."""

    @field_validator("api_keys")
    @classmethod
    def _well_formed_accounts(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        if not value:
            raise ValueError("at least one merchant account")
        for account, key in value.items():
            if not re.match(ACCOUNT_ID, account):
                raise ValueError(f"account id {account!r} must match {ACCOUNT_ID}")
            # The message names the account, never the key.
            if not re.match(API_KEY, key.get_secret_value()):
                raise ValueError(f"the key of {account} must match sk_test_/sk_live_ + 24+ chars")
        if len({key.get_secret_value() for key in value.values()}) != len(value):
            raise ValueError("every account needs a key of its own")
        return value
