"""One timed request through the gateway, recorded in the run's tally.

The load generator makes its own requests rather than going through `devstack.shop`, whose
calls wait out 429s and 503s without a trace: here every answer is counted as it came.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from devstack.load.tally import Tally

__all__ = ["Answer", "Traffic"]

Json = dict[str, Any]

RETRIES = 3
MAX_WAIT_S = 5.0


@dataclass(frozen=True)
class Answer:
    status: int
    """0 when no answer came (connection refused or reset, timeout)."""
    body: Json

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class Traffic:
    def __init__(self, http: httpx.AsyncClient, tally: Tally) -> None:
        self.http = http
        self.tally = tally

    async def send(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: Json | None = None,
        params: Mapping[str, str] | None = None,
        expect: tuple[int, ...] = (200,),
    ) -> Answer:
        """Send one request; `operation` names it in the summary (e.g. "POST /orders").

        A 429 or 503 with `Retry-After` is the platform shedding load as it promises: it is
        counted as shed, and the request is sent again after the wait (at most `RETRIES`
        times, with the same idempotency key), as a well-behaved client does.
        """
        headers = {"authorization": f"Bearer {token}"} if token else {}
        if method != "GET":
            headers["idempotency-key"] = str(uuid.uuid4())
        for attempt in range(RETRIES + 1):
            started = time.perf_counter()
            try:
                response = await self.http.request(
                    method, path, headers=headers, json=json, params=params
                )
            except httpx.TransportError:
                self.tally.request(operation, "no answer", _ms_since(started), expected=False)
                return Answer(0, {})
            latency_ms = _ms_since(started)
            wait_s = _retry_after(response)
            if wait_s is not None and attempt < RETRIES:
                self.tally.request(operation, str(response.status_code), latency_ms, expected=True)
                self.tally.shed[operation] += 1
                await asyncio.sleep(wait_s)
                continue
            break
        expected = response.status_code in expect
        self.tally.request(operation, str(response.status_code), latency_ms, expected=expected)
        body: Json = {}
        if expected and response.content:
            try:
                parsed = response.json()
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                body = parsed
        return Answer(response.status_code, body)


def _retry_after(response: httpx.Response) -> float | None:
    """The wait a 429 or 503 asks for, capped at `MAX_WAIT_S`; None for other answers."""
    if response.status_code not in (429, 503):
        return None
    try:
        return min(float(response.headers["retry-after"]), MAX_WAIT_S)
    except (KeyError, ValueError):
        return None


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
