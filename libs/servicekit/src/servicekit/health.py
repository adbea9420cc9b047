"""Liveness, readiness and detailed health.

- `/livez`: the process is up and its event loop answers. Never checks dependencies (a
  database outage must not restart every pod).
- `/readyz`: 200 when every dependency answers and the service is not shutting down; otherwise
  503 naming what failed. Kubernetes stops routing traffic while it fails.
- `/healthz`: the same checks in detail (state and latency of each), plus version, git sha and
  uptime, for humans and dashboards.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

__all__ = ["DependencyCheck", "Health", "NotReady", "health_router"]

HEALTH_JSON = "application/health+json"


class NotReady(Exception):
    """A probe's failure whose message is fit to show: its check reports it as `reason`
    (other failures show only their type, since their messages may carry addresses)."""


@dataclass(frozen=True)
class DependencyCheck:
    """A named probe of a dependency; `probe` raises when it is down."""

    name: str
    probe: Callable[[], Awaitable[object]]
    timeout_s: float = 1.0


@dataclass
class Health:
    service: str
    version: str
    git_sha: str
    checks: list[DependencyCheck] = field(default_factory=list)
    started_at: float = field(default_factory=time.monotonic)
    shutting_down: bool = False

    async def run_checks(self) -> dict[str, dict[str, Any]]:
        results = await asyncio.gather(*(self._run(check) for check in self.checks))
        return dict(zip((check.name for check in self.checks), results, strict=True))

    @staticmethod
    async def _run(check: DependencyCheck) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(check.timeout_s):
                await check.probe()
        except Exception as error:
            failed: dict[str, Any] = {
                "status": "fail",
                "latency_ms": round((time.perf_counter() - started) * 1000, 2),
                "error": type(error).__name__,
            }
            if isinstance(error, NotReady):
                failed["reason"] = str(error)
            return failed
        return {"status": "pass", "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


def health_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/livez")
    async def livez() -> JSONResponse:
        return JSONResponse({"status": "pass"}, media_type=HEALTH_JSON)

    @router.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        health: Health = request.app.state.health
        if health.shutting_down:
            return JSONResponse(
                {"status": "fail", "reason": "shutting down"},
                status_code=503,
                media_type=HEALTH_JSON,
            )
        results = await health.run_checks()
        failed = sorted(name for name, result in results.items() if result["status"] != "pass")
        body: dict[str, Any] = {"status": "fail" if failed else "pass", "checks": results}
        if failed:
            body["failed"] = failed
        return JSONResponse(body, status_code=503 if failed else 200, media_type=HEALTH_JSON)

    @router.get("/healthz")
    async def healthz(request: Request) -> JSONResponse:
        health: Health = request.app.state.health
        results = await health.run_checks()
        healthy = all(r["status"] == "pass" for r in results.values()) and not health.shutting_down
        body = {
            "status": "pass" if healthy else "fail",
            "service": health.service,
            "version": health.version,
            "git_sha": health.git_sha,
            "uptime_s": round(time.monotonic() - health.started_at, 1),
            "shutting_down": health.shutting_down,
            "checks": results,
        }
        return JSONResponse(body, status_code=200 if healthy else 503, media_type=HEALTH_JSON)

    @router.get("/version")
    async def version(request: Request) -> dict[str, str]:
        health: Health = request.app.state.health
        return {"service": health.service, "version": health.version, "git_sha": health.git_sha}

    return router
