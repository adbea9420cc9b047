"""A service's manifest: the one declaration of what the platform builds and deploys for it.

Each service keeps it in its package, `services/<name>/src/<name>/service.toml`, so it ships in
the service's image. servicekit builds the app, the relay, the consumer and the lifespan from it
(`servicekit.ServiceApp`); `make deploy-generate` writes from all of them the route table, the
topic entries, the workspace and tool lists, the chart's dependencies and values, skaffold's
artifacts and the dev secrets (`devstack.manifests`), and `make lint` / `make deploy-check`
fail when one of those is stale.

This module only reads and validates the data; code references (`"catalog.api:router"`) are
strings here and resolved by servicekit, which imports them.

    name = "catalog"
    title = "Flotilla catalog"
    description = "Products, their stock, and the reservations orders hold on it."
    settings = "catalog.settings:CatalogSettings"
    routers = ["catalog.api:router"]
    slot = 4

    [http]
    prefix = "/catalog"
    exposure = "public"                  # or "internal": never served by the gateway

    [[publishes]]
    name = "catalog.stock"
    description = "Stock reservations for orders, keyed by order id."

    [consumer]
    subscribes = ["orders.order"]
    handlers = "catalog.consumers:handlers"
    retry = { delays_s = [2, 10] }
    dlq = { retention_ms = 2592000000 }
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, field_validator

from contracts._topic_file import Overrides, RetryEntry

__all__ = [
    "MANIFEST_FILE",
    "Consumer",
    "Http",
    "ManifestError",
    "PublishedTopic",
    "RateLimit",
    "ServiceManifest",
    "load_manifest",
    "load_manifests",
    "packaged_manifest",
]

MANIFEST_FILE = "service.toml"
"""Its name inside the service's package."""

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_REFERENCE = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_.]*$")

Exposure = Literal["public", "internal"]
TokenCheck = Literal["jwks", "none"]


class ManifestError(ValueError):
    """A manifest is missing or invalid; the message names the file and the entry."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class RateLimit(_Strict):
    """At the gateway, per client address: a sustained rate with a burst on top."""

    requests_per_s: PositiveInt
    burst: PositiveInt


class Http(_Strict):
    prefix: str
    """The gateway path it is served under, e.g. `/catalog` (stripped before it reaches us)."""
    exposure: Exposure
    """Required, so that nothing is exposed by omission: `internal` is never at the gateway."""
    rate_limit: RateLimit | None = None
    """None: the gateway's default (100/s, burst 200)."""

    @field_validator("prefix")
    @classmethod
    def _one_segment(cls, prefix: str) -> str:
        if not re.fullmatch(r"/[a-z][a-z0-9-]*", prefix):
            raise ValueError("must be one lower-case path segment starting with '/', e.g. /orders")
        return prefix


class PublishedTopic(Overrides):
    """A topic this service owns and alone produces to, named `<service>.<aggregate>`."""

    name: str
    description: str


class Consumer(_Strict):
    """The service's one consumer group (named after the service)."""

    subscribes: list[str] = Field(min_length=1)
    handlers: str
    """`module:function` taking the service's context and returning its HandlerRegistry."""
    retry: RetryEntry | None = None
    dlq: Overrides = Overrides()
    max_batch_size: PositiveInt | None = None
    """1 when a handler has a side effect outside the transaction (each event commits alone)."""


class ServiceManifest(_Strict):
    name: str
    title: str
    description: str
    settings: str
    """`module:Class`, a servicekit ServiceSettings subclass."""
    routers: list[str] = Field(min_length=1)
    slot: int = Field(ge=0, le=49)
    """Its place in the local stack: started in slot order, on port `first service port + slot`.
    Unique; a new service takes the next free one."""
    http: Http
    tokens: TokenCheck = "jwks"
    """`jwks`: bearer tokens are verified against identity's published keys; `none`: the service
    installs its own verifier in `wiring` (identity, which issues them)."""
    publishes: list[PublishedTopic] = []
    consumer: Consumer | None = None
    downstreams: list[str] = []
    """Services it calls over HTTP (each needs a `DOWNSTREAMS` entry in its settings)."""
    background: list[str] = []
    """`module:function`s taking the context and returning a lifespan hook (sweepers, purgers)."""
    wiring: str | None = None
    """`module:function(context, app)` for what the rest does not say (app.state, extra auth)."""
    secrets: list[str] = []
    """Platform Secrets it reads besides its database's and Kafka's, e.g. `jwt-keys`."""
    commands: dict[str, str] = {}
    """Extra `python -m <name> <command>`s: name → `module:async function(settings)`."""
    migrations: bool = True
    """Whether it owns a schema (`<name>/migrations`): bootstrap and the migration Job run."""
    production: bool = True
    """False for a stand-in of something outside the platform (psp, the payment provider
    simulator): the local stack, dev and test run it, a production release never does, and its
    callers reach the real thing there (values-prod.yaml's `downstreams`)."""

    @property
    def public(self) -> bool:
        return self.http.exposure == "public"

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(topic.name for topic in self.publishes)


def load_manifest(path: Path) -> ServiceManifest:
    """Read and validate one manifest, naming the file and entry of every problem."""
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ManifestError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as error:
        raise ManifestError(f"{path}: not valid TOML: {error}") from None
    try:
        manifest = ServiceManifest.model_validate(raw)
    except ValidationError as error:
        described = (f"{_location(e['loc'])}: {_message(e)}" for e in error.errors())
        raise ManifestError(f"{path}: " + "; ".join(described)) from None
    problems = _problems(manifest)
    if problems:
        raise ManifestError(f"{path}: " + "; ".join(problems))
    return manifest


def packaged_manifest(package: str) -> ServiceManifest:
    """The manifest shipped inside an installed service package (as in its image)."""
    resource = resources.files(package) / MANIFEST_FILE
    with resources.as_file(resource) as path:
        return load_manifest(path)


def load_manifests(services_dir: Path) -> tuple[ServiceManifest, ...]:
    """Every service's manifest under `services/`, in slot order; names must match folders."""
    manifests: list[ServiceManifest] = []
    for folder in sorted(p for p in services_dir.iterdir() if (p / "pyproject.toml").is_file()):
        path = folder / "src" / folder.name / MANIFEST_FILE
        manifest = load_manifest(path)
        if manifest.name != folder.name:
            raise ManifestError(
                f"{path}: name {manifest.name!r} is not its folder's, {folder.name!r}"
            )
        manifests.append(manifest)
    problems = _cross_problems(manifests)
    if problems:
        raise ManifestError(f"{services_dir}: " + "; ".join(problems))
    return tuple(sorted(manifests, key=lambda manifest: manifest.slot))


def _problems(manifest: ServiceManifest) -> list[str]:
    problems: list[str] = []
    if not _NAME.match(manifest.name):
        problems.append(f"name {manifest.name!r} must be lower case letters, digits and _")
    references = [
        ("settings", manifest.settings),
        *(("routers", router) for router in manifest.routers),
        *(("background", task) for task in manifest.background),
        *((f"commands.{name}", ref) for name, ref in manifest.commands.items()),
    ]
    if manifest.consumer:
        references.append(("consumer.handlers", manifest.consumer.handlers))
    if manifest.wiring:
        references.append(("wiring", manifest.wiring))
    problems.extend(
        f"{key}: {ref!r} is not a `module:attribute` reference"
        for key, ref in references
        if not _REFERENCE.match(ref)
    )
    problems.extend(
        f"publishes: topic {topic.name!r} must be named `{manifest.name}.<aggregate>`"
        for topic in manifest.publishes
        if not re.fullmatch(rf"{re.escape(manifest.name)}\.[a-z][a-z0-9_]*", topic.name)
    )
    if manifest.consumer and len(set(manifest.consumer.subscribes)) != len(
        manifest.consumer.subscribes
    ):
        problems.append("consumer.subscribes lists a topic twice")
    if manifest.name in manifest.downstreams:
        problems.append("downstreams: a service does not call itself")
    return problems


def _cross_problems(manifests: Sequence[ServiceManifest]) -> list[str]:
    names = {m.name for m in manifests}
    published = {topic: m.name for m in manifests for topic in m.topics}
    prefixes: dict[str, str] = {}
    slots: dict[int, str] = {}
    problems: list[str] = []
    for manifest in manifests:
        if manifest.http.prefix in prefixes:
            problems.append(
                f"{manifest.name} and {prefixes[manifest.http.prefix]} share the prefix "
                f"{manifest.http.prefix}"
            )
        prefixes[manifest.http.prefix] = manifest.name
        if manifest.slot in slots:
            problems.append(
                f"{manifest.name} and {slots[manifest.slot]} share slot {manifest.slot}"
            )
        slots[manifest.slot] = manifest.name
        problems.extend(
            f"{manifest.name} calls {other!r}, which is not a service"
            for other in manifest.downstreams
            if other not in names
        )
        subscribed: Iterable[str] = manifest.consumer.subscribes if manifest.consumer else ()
        problems.extend(
            f"{manifest.name} subscribes to {topic!r}, which no service publishes "
            f"(published: {', '.join(sorted(published))})"
            for topic in subscribed
            if topic not in published
        )
    return problems


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    if error["type"] == "missing":
        return "missing key"
    return str(error["msg"])


def _location(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "the file"
