"""The local stack's merchant account at the payment provider: the secret API key psp accepts
and payments sends, generated once per profile, and the secret files each service reads it
from (its SECRETS_DIR, as the chart mounts a Kubernetes Secret).

Tests, the demo and the shop's checks call psp directly on its loopback port with the same key
(`provider_client`): psp is internal, not behind the gateway.
"""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING

import httpx

from devstack.secret_store import SecretStore

if TYPE_CHECKING:
    from devstack.stack import Stack

__all__ = ["MERCHANT_ACCOUNT", "provider_client", "psp_api_key", "service_secret_files"]

MERCHANT_ACCOUNT = "acct_flotilla"
"""The shop's one account at the provider (psp's migration 0003 gives earlier charges to it)."""
PSP = "psp"
PAYMENTS = "payments"


def psp_api_key(store: SecretStore) -> str:
    """`sk_test_` and 48 hex digits, the form psp requires."""
    return store.get("psp-api-key", generate=lambda: f"sk_test_{secrets.token_hex(24)}")


def service_secret_files(store: SecretStore, service: str) -> dict[str, str]:
    """The secret settings of `service` as files (name → content); empty for most services."""
    if service == PSP:
        return {"api_keys": json.dumps({MERCHANT_ACCOUNT: psp_api_key(store)})}
    if service == PAYMENTS:
        return {"psp_api_key": psp_api_key(store)}
    return {}


def provider_client(stack: Stack, timeout: float = 10.0) -> httpx.AsyncClient:
    """A client of the stack's psp, on its own port, as the shop's merchant account (a request's
    own Authorization header, e.g. an admin token for the fault knobs, replaces the key)."""
    return httpx.AsyncClient(
        base_url=stack.service(PSP).url,
        headers={"authorization": f"Bearer {psp_api_key(stack.secrets)}"},
        timeout=timeout,
        trust_env=False,
    )
