"""The app factory: every Flotilla service is `create_app(...)` plus its own routers.

Every mutating route must be an `IdempotentRoute` (or declare itself exempt): the app refuses
to build otherwise. The chassis (`servicekit.asgi.chassis`) is one ASGI layer around FastAPI's
routing and its problem+json handlers: the server span, request id, metrics, access log,
body size limit (413), NUL characters (422), request deadline (504) and the catch-all 500.
The API docs pages (servicekit.api_docs) load their scripts from the service, never from a CDN.
The lifespan opens the database pool and closes it after the server has drained; its "service
started" line says what each hook took to enter (`hooks_s`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

from fastapi import APIRouter, FastAPI
from opentelemetry.sdk.trace import SpanProcessor

from servicekit.api_docs import install_api_docs
from servicekit.asgi.chassis import Chassis
from servicekit.db.engine import Database
from servicekit.errors import install_problem_handlers
from servicekit.health import DependencyCheck, Health, health_router
from servicekit.idempotency.key_locks import KeyLocks
from servicekit.idempotency.purge import IdempotencyPurger
from servicekit.idempotency.route import guarded_routes, unguarded_mutating_routes
from servicekit.logging import configure_logging
from servicekit.observability.loop_lag import EventLoopLagMonitor
from servicekit.observability.metrics import BUILD_INFO, metrics_endpoint
from servicekit.observability.sampling import trace_sampling
from servicekit.observability.server_spans import ServerSpans
from servicekit.observability.tracing import build_tracer_provider
from servicekit.openapi import ServiceApi
from servicekit.route_order import service_routes_first
from servicekit.settings import ServiceSettings

__all__ = ["LifespanHook", "create_app"]

log = logging.getLogger(__name__)

LifespanHook = Callable[[FastAPI], AbstractAsyncContextManager[None]]
"""Extra start-up/shutdown work (consumers, relays, key loading), entered after the database."""


def create_app(
    settings: ServiceSettings,
    *,
    api: ServiceApi | None = None,
    routers: Sequence[APIRouter] = (),
    lifespan_hooks: Sequence[LifespanHook] = (),
    extra_checks: Sequence[DependencyCheck] = (),
    title: str | None = None,
    description: str = "",
    span_processors: Sequence[SpanProcessor] = (),
    database: Database | None = None,
) -> FastAPI:
    if api is not None:  # a service's declared API: every operation has its id
        problems = api.operation_id_problems()
        if problems:
            raise TypeError(f"{api.title}: {'; '.join(problems)}")
        routers, title, description = (*routers, *api.routers), api.title, api.description
    configure_logging(
        settings.service_name, settings.service_version, settings.log_level, settings.log_format
    )
    BUILD_INFO.info(
        {
            "service": settings.service_name,
            "version": settings.service_version,
            "git_sha": settings.git_sha,
        }
    )
    db = database or Database.from_settings(settings)
    health = Health(
        service=settings.service_name,
        version=settings.service_version,
        git_sha=settings.git_sha,
        checks=[DependencyCheck("database", db.ping), *extra_checks],
    )

    provider = build_tracer_provider(settings, tuple(span_processors))
    hooks: list[LifespanHook] = list(lifespan_hooks)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            stack.callback(provider.shutdown)  # flushes spans still buffered for export
            stack.push_async_callback(db.dispose)
            await stack.enter_async_context(EventLoopLagMonitor().running())
            # What each hook took to enter, in the start-up line: start-up time is a target
            # (docs/performance.md), and this says which hook to look at.
            entered_s: dict[str, float] = {}
            for hook in hooks:
                started = time.perf_counter()
                await stack.enter_async_context(hook(app))
                name = _hook_name(hook)
                name = f"{name}#{len(entered_s)}" if name in entered_s else name
                entered_s[name] = round(time.perf_counter() - started, 3)
            log.info("service started", extra={"port": settings.http_port, "hooks_s": entered_s})
            yield
            health.shutting_down = True
            log.info("service stopping")

    app = FastAPI(
        title=title or settings.service_name,
        version=settings.service_version,
        description=description,
        lifespan=lifespan,
        root_path=settings.root_path,
        docs_url=None,  # servicekit.api_docs serves both pages, with their files
        redoc_url=None,
        openapi_url="/openapi.json" if settings.api_docs else None,
    )
    app.state.settings = settings
    app.state.database = db
    app.state.health = health
    install_problem_handlers(app)
    if settings.api_docs:
        install_api_docs(app, settings.docs_assets_dir)
    app.include_router(health_router())
    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)
    chassis_routes = len(app.router.routes)
    for router in routers:
        app.include_router(router)
    service_routes_first(app.router.routes, chassis_routes)
    unguarded = unguarded_mutating_routes(app.routes)
    if unguarded:
        raise TypeError(
            "mutating routes must use servicekit.idempotency.IdempotentRoute "
            f"(or declare idempotency_exempt(reason)): {', '.join(unguarded)}"
        )
    app.state.idempotency_key_locks = KeyLocks()
    if guarded_routes(app.routes):
        purger = IdempotencyPurger(db, interval_s=settings.idempotency_purge_interval_s)
        hooks.append(purger.lifespan)

    app.add_middleware(
        Chassis,
        spans=ServerSpans(
            provider, trace_sampling(settings.otel_traces_sampler, settings.otel_traces_sampler_arg)
        ),
        max_body_bytes=settings.max_body_bytes,
        request_timeout_s=settings.request_timeout_s,
        slow_request_s=settings.slow_request_s,
    )
    app.state.tracer_provider = provider
    return app


def _hook_name(hook: LifespanHook) -> str:
    """`OutboxRelay` for a bound method's hook (`relay.lifespan`), else the function's name."""
    owner = getattr(hook, "__self__", None)
    if owner is not None:
        return type(owner).__name__
    return getattr(hook, "__qualname__", type(hook).__name__)
