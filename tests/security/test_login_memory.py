"""Item 3 of the hardening issue: login cannot exhaust memory. Each argon2id hash holds
64 MiB; unbounded, six parallel logins took identity from 105 to 490 MiB against its 384 Mi
limit in the chart. Now at most PASSWORD_HASH_MEMORY_BUDGET_MIB (128) worth of hashes run at
once; the rest wait briefly or get a 503 with Retry-After, and the service stays up."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from pathlib import Path

import httpx

from devstack.attack_log import Attacks
from devstack.stack import Stack

PARALLEL = 50
LIMIT_MIB = 384  # identity's memory limit in the chart (deploy/helm/service/values.yaml)


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


async def test_parallel_logins_keep_identity_within_its_memory_limit(
    gateway: httpx.AsyncClient, test_stack: Stack, attacks: Attacks
) -> None:
    await asyncio.sleep(2)  # identity's gateway bucket refills after earlier tests
    identity = test_stack.service("identity")
    pid = identity.pid()
    assert pid is not None
    peak = _rss_mib(pid)
    sampling = True

    async def sample() -> None:
        nonlocal peak
        while sampling:
            peak = max(peak, _rss_mib(pid))
            await asyncio.sleep(0.02)

    async def log_in() -> int:
        email = f"flood-{uuid.uuid4().hex[:12]}@example.com"
        response = await gateway.post(
            "/identity/v1/tokens", json={"email": email, "password": "not the password"}
        )
        if response.status_code == 503:
            assert response.headers["retry-after"] == "1"
        if response.status_code == 504:
            # On a starved machine a login that got its slot late can outlive the request's
            # deadline: identity's own 504 problem, a refusal like the others.
            assert response.headers["content-type"] == "application/problem+json"
        return response.status_code

    sampler = asyncio.create_task(sample())
    statuses = Counter(await asyncio.gather(*(log_in() for _ in range(PARALLEL))))
    sampling = False
    await sampler
    attacks.tried(
        f"{PARALLEL} parallel logins through the gateway",
        f"{dict(statuses)}; identity's peak RSS {peak:.0f} MiB (limit {LIMIT_MIB} MiB)",
    )
    assert set(statuses) <= {401, 429, 503, 504}
    assert peak < LIMIT_MIB
    assert identity.is_running()
    assert identity.is_ready()
