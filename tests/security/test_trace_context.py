"""Item 7 of the hardening issue: trace context from outside is not trusted. A client sending
a sampled `traceparent` could force every request of its own into the traces and access logs
(a span and a log line each, past the sampler's ratio), and `baggage` would ride along to
every downstream call. The gateway drops all three headers; the service starts a trace of its
own. Inside the network, the same header is honoured (that is how one trace spans services)."""

from __future__ import annotations

import asyncio
import secrets

import httpx

from devstack.attack_log import Attacks
from devstack.stack import Stack


def _forced() -> tuple[str, dict[str, str]]:
    trace_id = secrets.token_hex(16)
    return trace_id, {
        "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01",
        "tracestate": "attacker=1",
        "baggage": "role=admin",
    }


async def _logged(stack: Stack, service: str, trace_id: str) -> bool:
    # The access line is written when the response is sent: give it a moment.
    for _ in range(20):
        if trace_id in stack.service(service).log_file.read_text():
            return True
        await asyncio.sleep(0.1)
    return False


async def test_a_forced_traceparent_from_outside_is_not_followed(
    gateway: httpx.AsyncClient, test_stack: Stack, attacks: Attacks
) -> None:
    outside, headers = _forced()
    response = await gateway.get("/catalog/v1/products", headers=headers)
    assert response.status_code == 200, response.text
    followed = await _logged(test_stack, "catalog", outside)
    attacks.tried(
        f"GET /catalog/v1/products through the gateway with a sampled traceparent {outside}",
        f"{response.status_code}; the trace id in catalog's log: {'yes' if followed else 'no'}",
    )
    assert not followed
    assert outside not in response.headers.get("traceparent", "")

    # The control: the same header straight at the service (inside the network) is followed,
    # so the search above could have found it.
    inside, headers = _forced()
    async with httpx.AsyncClient(base_url=test_stack.service("catalog").url) as direct:
        assert (await direct.get("/v1/products", headers=headers)).status_code == 200
    assert await _logged(test_stack, "catalog", inside)
