"""Run a service under uvicorn with Kubernetes-friendly shutdown.

On SIGTERM (or SIGINT): readiness fails at once, so the endpoint is taken out of rotation;
after `shutdown_drain_delay_s` (time for the load balancer to notice) uvicorn stops
accepting, in-flight requests drain for up to `shutdown_timeout_s`, then the lifespan closes
consumers, producers and the pool, and the process exits 0.

Once started, the objects start-up made (every library's modules, the app, the pools) are
frozen out of the garbage collector's reach (`settle_start_up_heap`): a full collection then
walks only what the service made since. Without it each full collection walked them all, and a
service under load stopped for 70 to 290 ms every 15 to 35 s (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket
import time
from types import FrameType

import uvicorn
from fastapi import FastAPI
from opentelemetry import trace

from servicekit.health import Health
from servicekit.settings import ServiceSettings

__all__ = ["serve", "server_config", "settle_start_up_heap"]

log = logging.getLogger(__name__)


class _DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, health: Health, drain_delay_s: float) -> None:
        super().__init__(config)
        self._health = health
        self._drain_delay_s = drain_delay_s
        self._exit_scheduled = False

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.should_exit:
            settle_start_up_heap()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._exit_scheduled:
            # A second signal means "now": skip the drain delay and cut in-flight work.
            super().handle_exit(sig, frame)
            return
        self._exit_scheduled = True
        self._health.shutting_down = True
        log.info("shutdown requested", extra={"signal": signal.Signals(sig).name})
        loop = asyncio.get_event_loop()
        loop.call_later(self._drain_delay_s, self._begin_exit)

    def _begin_exit(self) -> None:
        self.should_exit = True


def settle_start_up_heap() -> None:
    """Collect start-up's garbage, then freeze what is left (`gc.freeze`): those objects live
    as long as the process and are never walked again by a collection. Objects made later are
    collected as before; a frozen object that loses its last reference is still freed, but a
    cycle of frozen objects that becomes garbage stays (start-up's objects rarely do)."""
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    log.info(
        "start-up heap frozen",
        extra={"objects": gc.get_freeze_count(), "took_s": round(time.perf_counter() - started, 3)},
    )


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    trace.set_tracer_provider(app.state.tracer_provider)
    server = _DrainingServer(
        server_config(app, settings), app.state.health, settings.shutdown_drain_delay_s
    )
    server.run()


def server_config(app: FastAPI, settings: ServiceSettings) -> uvicorn.Config:
    """How uvicorn serves a service."""
    return uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,  # servicekit.logging owns the handlers
        access_log=False,
        # A trusted proxy's X-Forwarded-* are applied by the chassis (servicekit.asgi.chassis),
        # for the requests that carry them, not by uvicorn for every request.
        proxy_headers=False,
        ws="none",  # no service takes WebSockets: uvicorn neither loads nor offers them
        server_header=False,
        timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
        lifespan="on",
    )
