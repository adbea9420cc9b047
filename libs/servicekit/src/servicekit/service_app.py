"""A service built from its manifest (`<name>/service.toml`, contracts.manifest): the one
composition root every service shares, so its own main.py is three lines.

    # services/<name>/src/<name>/main.py
    SERVICE = ServiceApp.from_package("<name>")
    build_app = SERVICE.build_app   # (settings, span_processors=()) -> FastAPI
    API = SERVICE.api               # title, description and routers, for the OpenAPI document

`build_app` assembles, in this order: the database; the outbox and its relay when the service
publishes; a ResilientClient per downstream; the consumer of the service's group with the
manifest's handlers (a `kafka` readiness check, and the inbox purger); identity's JWKS
verifier when `tokens = "jwks"`; each background task; then `create_app`, and on the built app
the outbox dependency, the tracer provider of the relay, consumer and clients, the token
verifier, and last the manifest's `wiring`. Lifespan hooks are entered in that order and left
in reverse: the consumer stops before the clients its handlers call are closed (and what the
handlers factory and background tasks gave to `context.at_shutdown`), and before the relay that
publishes what they wrote.

Every reference is resolved before anything is built, so a bad one (`references.py`) or a
handler registered for a topic the group does not subscribe to fails the build with a
ManifestError, at start-up rather than at the first event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, cast

from fastapi import APIRouter, FastAPI
from opentelemetry.sdk.trace import SpanProcessor

from contracts.manifest import MANIFEST_FILE, ManifestError, ServiceManifest, packaged_manifest
from contracts.topology import ConsumerGroup
from servicekit.app import LifespanHook, create_app
from servicekit.auth.jwks_tokens import JwksTokens
from servicekit.auth.settings import JwksSettings
from servicekit.cli import Command, ServiceCli
from servicekit.db.engine import Database
from servicekit.events.consumer import EventConsumer
from servicekit.events.handlers import HandlerRegistry
from servicekit.events.inbox_retention import InboxRetentionSettings, inbox_purger
from servicekit.events.outbox import Outbox
from servicekit.events.publishing import Publishing
from servicekit.health import DependencyCheck
from servicekit.http.client import ResilientClient
from servicekit.http.policy import DownstreamSettings
from servicekit.openapi import ServiceApi
from servicekit.references import (
    Reference,
    resolve_callable,
    resolve_instance,
    resolve_subclass,
)
from servicekit.service_context import ServiceContext
from servicekit.settings import ServiceSettings

__all__ = ["ServiceApp"]


@dataclass(frozen=True)
class _Factories:
    """The manifest's code references, resolved once."""

    handlers: Callable[[ServiceContext[Any]], object] | None
    background: tuple[tuple[Reference, Callable[[ServiceContext[Any]], object]], ...]
    wiring: Callable[[ServiceContext[Any], FastAPI], object] | None


class ServiceApp:
    def __init__(self, manifest: ServiceManifest, *, source: str | None = None) -> None:
        """`source` names the manifest in errors (default: `<name>/service.toml`)."""
        self.manifest = manifest
        self._source = source or f"{manifest.name}/{MANIFEST_FILE}"

    @classmethod
    def from_package(cls, package: str) -> ServiceApp:
        """The service whose manifest ships in `package` (as in its image)."""
        return cls(packaged_manifest(package), source=f"{package}/{MANIFEST_FILE}")

    # -- what the manifest declares, resolved ------------------------------------------------

    @cached_property
    def settings_type(self) -> type[ServiceSettings]:
        settings_type = resolve_subclass(
            self._at("settings", self.manifest.settings), ServiceSettings
        )
        self._check_settings_type(settings_type)
        return settings_type

    @cached_property
    def api(self) -> ServiceApi:
        """The HTTP API: built from the manifest alone (no settings), for its OpenAPI document."""
        routers = tuple(
            resolve_instance(self._at("routers", router), APIRouter)
            for router in self.manifest.routers
        )
        return ServiceApi(self.manifest.title, self.manifest.description, routers)

    def cli(self) -> ServiceCli[Any]:
        """`python -m <name> {serve,bootstrap,<commands>}`."""
        commands: dict[str, Command[Any]] = {
            name: resolve_callable(self._at(f"commands.{name}", reference), coroutine=True)
            for name, reference in self.manifest.commands.items()
        }
        return ServiceCli(
            settings_type=self.settings_type,
            build_app=self.build_app,
            migrations=f"{self.manifest.name}:migrations" if self.manifest.migrations else None,
            commands=commands,
            program=f"python -m {self.manifest.name}",
        )

    @cached_property
    def _factories(self) -> _Factories:
        manifest = self.manifest
        handlers = (
            resolve_callable(self._at("consumer.handlers", manifest.consumer.handlers))
            if manifest.consumer
            else None
        )
        background = tuple(
            (where, resolve_callable(where))
            for where in (self._at("background", task) for task in manifest.background)
        )
        wiring = resolve_callable(self._at("wiring", manifest.wiring)) if manifest.wiring else None
        return _Factories(handlers, background, wiring)

    # -- building ----------------------------------------------------------------------------

    def build_app(
        self, settings: ServiceSettings, span_processors: Sequence[SpanProcessor] = ()
    ) -> FastAPI:
        """The app `serve` runs (see the module docstring for what it holds, in which order)."""
        if not isinstance(settings, self.settings_type):
            raise TypeError(
                f"{self.manifest.name} is built from {self.settings_type.__name__}, "
                f"not {type(settings).__name__}"
            )
        factories, api = self._factories, self.api  # every reference resolves, or nothing is built
        manifest = self.manifest
        database = Database.from_settings(settings)
        publishing = Publishing.for_service(settings, database) if manifest.publishes else None
        downstream = {
            name: ResilientClient.from_settings(name, cast(DownstreamSettings, settings))
            for name in manifest.downstreams
        }
        context: ServiceContext[Any] = ServiceContext(
            manifest, settings, database, publishing.outbox if publishing else None, downstream
        )
        hooks: list[LifespanHook] = []
        checks: list[DependencyCheck] = []
        if publishing:
            hooks.append(publishing.relay.lifespan)
        hooks.extend(client.lifespan for client in downstream.values())
        hooks.append(context.lifespan)  # what the factories below hand to `at_shutdown`
        consumer = self.consumer(context) if manifest.consumer else None
        if consumer:
            checks.append(DependencyCheck("kafka", consumer.probe))
            purger = inbox_purger(
                database,
                cast(InboxRetentionSettings, settings),
                retry_delays_s=consumer.policy.retry_delays_s,
            )
            hooks.extend([consumer.lifespan, purger.lifespan])
        tokens = _jwks_tokens(settings) if manifest.tokens == "jwks" else None
        if tokens:
            hooks.append(tokens.lifespan)
        hooks.extend(
            self._background_hook(where, task, context) for where, task in factories.background
        )
        app = create_app(
            settings,
            api=api,
            database=database,
            extra_checks=checks,
            lifespan_hooks=hooks,
            span_processors=span_processors,
        )
        provider = app.state.tracer_provider
        if publishing:
            publishing.install(app)
        if consumer:
            consumer.use_tracer_provider(provider)
        for client in downstream.values():
            client.use_tracer_provider(provider)
        if tokens:
            tokens.install(app)
        if factories.wiring:
            factories.wiring(context, app)
        return app

    def consumer(
        self,
        context: ServiceContext[Any],
        registry: HandlerRegistry | None = None,
        *,
        group: ConsumerGroup | None = None,
    ) -> EventConsumer:
        """The consumer `build_app` runs: the manifest's handlers on the service's group as the
        topic file declares it, with the manifest's batch size and the settings' concurrency
        and in-place attempts. A test passes a `registry` built with collaborators of its own,
        or a `group` of its own (`ConsumerGroup.declare`: a scratch topic, short delays)."""
        declared = self.manifest.consumer
        if declared is None:
            raise ManifestError(f"{self._source}: declares no [consumer]")
        if registry is None:
            registry = self._registry(context)
        settings = context.settings
        if not settings.kafka_bootstrap_servers:
            raise ValueError("KAFKA_BOOTSTRAP_SERVERS must be set for a service that consumes")
        options: dict[str, Any] = {}
        if declared.max_batch_size is not None:
            options["max_batch_size"] = declared.max_batch_size
        return EventConsumer.for_group(
            group or self.manifest.name,
            registry,
            database=context.database,
            # A consumer that publishes nothing still hands its handlers an outbox.
            outbox=context.outbox or Outbox(settings.service_name, settings.events_schema_base_url),
            bootstrap_servers=settings.kafka_bootstrap_servers,
            security=settings.kafka_security(),
            max_concurrency=settings.consumer_max_concurrency,
            in_place_attempts=settings.consumer_in_place_attempts,
            **options,
        )

    def _registry(self, context: ServiceContext[Any]) -> HandlerRegistry:
        declared = self.manifest.consumer
        factory = self._factories.handlers
        assert declared is not None
        assert factory is not None
        where = self._at("consumer.handlers", declared.handlers)
        registry = factory(context)
        if not isinstance(registry, HandlerRegistry):
            raise where.error(f"returned a {type(registry).__name__}, not a HandlerRegistry")
        unsubscribed = sorted(registry.topics - set(declared.subscribes))
        if unsubscribed:
            raise where.error(
                f"registers handlers for {', '.join(map(repr, unsubscribed))}, which group "
                f"{self.manifest.name!r} does not subscribe to (consumer.subscribes: "
                f"{', '.join(declared.subscribes)})"
            )
        return registry

    def _background_hook(
        self,
        where: Reference,
        task: Callable[[ServiceContext[Any]], object],
        context: ServiceContext[Any],
    ) -> LifespanHook:
        hook = task(context)
        if not callable(hook):
            raise where.error(f"returned a {type(hook).__name__}, not a lifespan hook")
        return cast(LifespanHook, hook)

    # -- checks ------------------------------------------------------------------------------

    def _at(self, key: str, reference: str) -> Reference:
        return Reference(self._source, key, reference)

    def _check_settings_type(self, settings_type: type[ServiceSettings]) -> None:
        """What the manifest asks of the settings, said at build instead of as an
        AttributeError in a lifespan."""
        manifest = self.manifest
        needs: list[str] = []
        if manifest.tokens == "jwks" and not issubclass(settings_type, JwksSettings):
            needs.append("servicekit.auth.JwksSettings mixed in (tokens = 'jwks')")
        if manifest.consumer and not issubclass(settings_type, InboxRetentionSettings):
            needs.append("servicekit.events.InboxRetentionSettings mixed in ([consumer])")
        if manifest.downstreams and not issubclass(settings_type, DownstreamSettings):
            needs.append("servicekit.http.DownstreamSettings mixed in (downstreams)")
        if needs:
            raise ManifestError(
                f"{self._source}: settings: {settings_type.__name__} needs " + "; ".join(needs)
            )


def _jwks_tokens(settings: ServiceSettings) -> JwksTokens:
    if not isinstance(settings, JwksSettings):  # _check_settings_type said so at build
        raise TypeError(f"{type(settings).__name__} has no JwksSettings mixed in")
    return JwksTokens(
        settings.jwks_url,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        max_key_age_s=settings.jwks_max_key_age_s,
    )
