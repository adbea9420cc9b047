"""A real HTTP server for a test: an ASGI app under uvicorn on a free loopback port, or under
the uvicorn configuration given (`servicekit.server.server_config`, a service as it is served).

async with serving(app) as url:
    response = await httpx.AsyncClient().get(f"{url}/ping")
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.types import ASGIApp

__all__ = ["serving"]


@asynccontextmanager
async def serving(served: ASGIApp | uvicorn.Config) -> AsyncIterator[str]:
    """Yields the server's base URL once it accepts connections; stops it (lifespan included)
    on the way out."""
    if isinstance(served, uvicorn.Config):
        config = served
    else:
        config = uvicorn.Config(
            served, host="127.0.0.1", port=0, log_level="warning", lifespan="on", ws="none"
        )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()  # the server's own error, if it failed to start
                raise RuntimeError("the test server stopped before it started")
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
