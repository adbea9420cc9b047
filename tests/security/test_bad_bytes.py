"""Item 5 of the hardening issue: a NUL character in a JSON string field or a query parameter
was a 500, and the logged error carried the SQL parameters (emails, password hashes). Each
attack below must get a 422 problem+json, and no log line of the run (every service, the
gateway) may carry the passwords and emails the attacks used."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx

from devstack.attack_log import Attacks
from devstack.shop import Shop
from devstack.stack import Stack

_NUL = "\u0000"


# The SMTP sink stands for the outside mail relay, whose job is to be told the address.
_NOT_OURS = frozenset({"smtp-sink.log"})


def _log_sizes(stack: Stack) -> dict[Path, int]:
    """Every log of the stack (services, gateway, Postgres, Kafka) and its size now."""
    files = [*stack.profile.logs.glob("*.log"), *(stack.profile.root / "gateway").glob("*.log")]
    return {
        path: path.stat().st_size for path in files if path.is_file() and path.name not in _NOT_OURS
    }


def _new_lines(before: dict[Path, int], stack: Stack) -> list[tuple[Path, str]]:
    """Every line written to a log of the stack since `before` was taken."""
    lines = []
    for path in _log_sizes(stack):
        with path.open("rb") as handle:
            handle.seek(before.get(path, 0))
            text = handle.read().decode("utf-8", "replace")
        lines += [(path, line) for line in text.splitlines()]
    return lines


async def test_nul_characters_are_refused_and_no_secret_reaches_a_log(
    gateway: httpx.AsyncClient,
    shop: Shop,
    test_stack: Stack,
    attacks: Attacks,
) -> None:
    before = _log_sizes(test_stack)
    tag = uuid.uuid4().hex[:10]
    email = f"nul-victim-{tag}@example.com"
    password = f"Pw-{tag}-correct horse"
    auth = (await shop.sign_up("Nul victim", email, password)).auth
    secrets = [email, password, f"x{_NUL}{password}", f"{tag}{_NUL}@example.com"]

    def key() -> dict[str, str]:
        return {"Idempotency-Key": str(uuid.uuid4())}

    tries: list[tuple[str, str, str, object, dict[str, str]]] = [
        ("sign up, NUL in the email", "POST", "/identity/v1/users",
         {"email": f"{tag}{_NUL}@example.com", "password": password, "name": "n"}, key()),
        ("sign up, NUL in the password", "POST", "/identity/v1/users",
         {"email": f"other-{email}", "password": f"x{_NUL}{password}", "name": "n"}, key()),
        ("sign up, NUL in the name", "POST", "/identity/v1/users",
         {"email": f"third-{email}", "password": password, "name": f"n{_NUL}"}, key()),
        ("log in, NUL in the email", "POST", "/identity/v1/tokens",
         {"email": f"{tag}{_NUL}@example.com", "password": password}, {}),
        ("log in, NUL in the password", "POST", "/identity/v1/tokens",
         {"email": email, "password": f"x{_NUL}{password}"}, {}),
        ("order, NUL in the payment method", "POST", "/orders/v1/orders",
         {"items": [{"product_id": f"prd_{_NUL}", "quantity": 1}],
          "payment_method": f"pm_card_visa{_NUL}"}, {**key(), **auth}),
        ("payments by order, NUL in the query", "GET",
         "/payments/v1/payments?order_id=ord_%00x", None, auth),
        ("products page, NUL in the cursor", "GET",
         "/catalog/v1/products?cursor=a%00b", None, {}),
        ("notifications page, NUL in the cursor", "GET",
         "/notifications/v1/notifications?cursor=%00", None, auth),
    ]  # fmt: skip
    # nginx itself refuses a NUL in the path (400, its own problem); the services would 422.
    in_path = [
        ("product by id, NUL in the path", "/catalog/v1/products/prd_%00", {}),
        ("order by id, NUL in the path", "/orders/v1/orders/ord_%00", auth),
    ]
    for what, method, path, body, headers in tries:
        response = await gateway.request(method, path, json=body, headers=headers)
        attacks.tried(f"{what}: {method} {path}", response)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json", response.text
        assert response.json()["type"] == "urn:flotilla:problem:nul-character"
    for what, path, headers in in_path:
        response = await gateway.get(path, headers=headers)
        attacks.tried(f"{what}: GET {path}", response)
        assert response.status_code == 400, response.text
        assert response.headers["content-type"] == "application/problem+json", response.text
    # The account still works: no NUL got stored anywhere.
    again = await gateway.post("/identity/v1/tokens", json={"email": email, "password": password})
    assert again.status_code == 200, again.text

    lines = _new_lines(before, test_stack)
    assert lines, "the run wrote no log line at all: the search would prove nothing"
    leaks = [
        f"{path.name}: {line[:200]}"
        for path, line in lines
        for secret in secrets
        if secret in line or secret.replace(_NUL, "\\u0000") in line
    ]
    attacks.tried(
        f"search {len(lines)} log lines of the run for the {len(secrets)} secrets used",
        f"{len(leaks)} found",
    )
    assert leaks == []
