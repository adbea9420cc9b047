"""SIGTERM: readiness fails first, in-flight requests finish, then the process exits 0."""

from __future__ import annotations

import asyncio
import signal
import sys
import time

import httpx

from devstack.process import free_port

_APP = """
import asyncio, sys
from fastapi import APIRouter
from servicekit.app import create_app
from servicekit.server import serve
from servicekit.settings import ServiceSettings

router = APIRouter()

@router.get("/slow")
async def slow() -> dict[str, bool]:
    await asyncio.sleep(2.0)
    return {"done": True}

settings = ServiceSettings(
    service_name="drain", db_schema="drain",
    database_url="postgresql+asyncpg://drain:pw@127.0.0.1:9/drain",
    http_port=int(sys.argv[1]), shutdown_drain_delay_s=1.0, request_timeout_s=10,
)
serve(create_app(settings, routers=[router]), settings)
"""


async def _wait_until_live(client: httpx.AsyncClient, process: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.returncode is None, "the server exited during start-up"
        try:
            if (await client.get("/livez")).status_code == 200:
                return
        except httpx.TransportError:
            await asyncio.sleep(0.05)
    raise AssertionError("the server never became live")


async def test_sigterm_drains_in_flight_requests_and_exits_zero() -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _APP,
        str(port),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            await _wait_until_live(client, process)
            in_flight = asyncio.create_task(client.get("/slow"))
            await asyncio.sleep(0.3)  # let the slow request reach its handler
            process.send_signal(signal.SIGTERM)

            readiness = await client.get("/readyz")
            while readiness.json().get("reason") != "shutting down":
                readiness = await client.get("/readyz")
            assert readiness.status_code == 503

            finished = await in_flight
            assert finished.status_code == 200
            assert finished.json() == {"done": True}
        async with asyncio.timeout(15):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
