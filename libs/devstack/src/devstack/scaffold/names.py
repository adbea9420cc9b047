"""Which names a new service may take, and every name derived from it.

A service's name becomes its Python package, its folder, its gateway prefix, its database
schema, its Kafka consumer group, its topic's first segment and its Kubernetes objects' names,
so it has to be valid in all of them at once: lower-case letters and digits only (Kubernetes
refuses `_`, Python refuses `-`), and free in each of those namespaces.
"""

from __future__ import annotations

import importlib.util
import keyword
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass

from contracts.manifest import ServiceManifest

__all__ = ["RESERVED", "NameRefused", "ServiceNames", "service_names"]

_NAME = re.compile(r"^[a-z]{2}[a-z0-9]{0,18}$")
"""At most 20 characters: the template's lines that spell it twice stay within 100."""

RESERVED = frozenset(
    {
        # the workspace's own packages and folders
        "servicekit",
        "contracts",
        "clients",
        "devstack",
        "flotilla",
        "tests",
        "conftest",
        "services",
        "libs",
        "deploy",
        # the gateway's own paths (devstack.portal, devstack.routes.INTERNAL_PREFIX)
        "schemas",
        "events",
    }
)
"""Names that are not a service's to take, though no service has them."""

_TEMPLATE_IDENTIFIERS = frozenset(
    {
        # the template's own variables and parameters, which an aggregate's name would shadow
        "body",
        "cls",
        "context",
        "event",
        "found",
        "handlers",
        "log",
        "outbox",
        "principal",
        "router",
        "row",
        "self",
        "session",
        "title",
        # what it imports, capitalised as the aggregate's class would be
        "any",
        "annotated",
        "column",
        "field",
        "path",
        "string",
        "table",
        "text",
    }
)


class NameRefused(ValueError):
    """The name cannot be a new service's; the message says why and what would do."""


@dataclass(frozen=True)
class ServiceNames:
    """Everything the template spells with the service's name."""

    name: str
    """`reviews`: package, folder, prefix, schema, group."""
    aggregate: str
    """`review`: what the service keeps one row of; its topic is `<name>.<aggregate>`."""
    slot: int
    """Its place in the local stack (port = first service port + slot)."""
    subscribed_topic: str
    """The existing topic the template's consumer reads (`orders.order`)."""

    @property
    def title_name(self) -> str:
        """`Reviews`, as in `ReviewsSettings`."""
        return self.name.capitalize()

    @property
    def aggregate_class(self) -> str:
        """`Review`, as in `ReviewCreatedV1`."""
        return self.aggregate.capitalize()

    @property
    def collection(self) -> str:
        """`reviews`: the table and the route's path segment (`/v1/reviews`)."""
        return self.aggregate + ("es" if self.aggregate.endswith("s") else "s")

    @property
    def topic(self) -> str:
        return f"{self.name}.{self.aggregate}"

    @property
    def id_prefix(self) -> str:
        """`rev`: the prefix of its ids (`rev_01jz…`, servicekit.new_id)."""
        return "".join(c for c in self.aggregate if c.isalpha())[:3]

    def placeholders(self) -> dict[str, str]:
        """What `{{key}}` stands for in the template's files and paths."""
        return {
            "name": self.name,
            "Name": self.title_name,
            "aggregate": self.aggregate,
            "Aggregate": self.aggregate_class,
            "collection": self.collection,
            "topic": self.topic,
            "id_prefix": self.id_prefix,
            "slot": str(self.slot),
            "subscribed_topic": self.subscribed_topic,
        }


def service_names(
    name: str,
    existing: Iterable[ServiceManifest],
    topics: Iterable[str],
    *,
    taken_modules: Iterable[str] = (),
    taken_operation_ids: Iterable[str] = (),
    aggregate: str | None = None,
    subscribed_topic: str = "orders.order",
) -> ServiceNames:
    """Validate `name` against the services, topics and modules there are; raise NameRefused.

    `existing` are the current manifests, `topics` every topic of the topic file,
    `taken_modules` the names already used by a module the new package would clash with
    (the contracts' and the clients' modules: `contracts/<name>.py`, `clients/<name>/`),
    `taken_operation_ids` the HTTP operations' ids (unique across the platform).
    """
    manifests = list(existing)
    known_topics = set(topics) | {t for m in manifests for t in m.topics}
    if not _NAME.match(name):
        raise NameRefused(
            f"{name!r} is not a service name: use 2 to 20 lower-case letters and digits, "
            "starting with two letters (no '-' or '_': the name is a Python package and a "
            "Kubernetes name at once), e.g. reviews"
        )
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise NameRefused(f"{name!r} is a Python keyword: choose another name")
    if name in sys.stdlib_module_names:
        raise NameRefused(
            f"{name!r} is a module of Python's standard library: the service's package would "
            "hide it; choose another name"
        )
    if name in RESERVED:
        raise NameRefused(f"{name!r} is reserved for the platform: choose another name")
    for manifest in manifests:
        if manifest.name == name:
            raise NameRefused(f"{name!r} is already a service (services/{name})")
        if manifest.http.prefix == f"/{name}":
            raise NameRefused(f"the prefix /{name} is already {manifest.name}'s")
    if name in set(taken_modules):
        raise NameRefused(
            f"{name!r} is already a module of contracts or clients: choose another name"
        )
    owned = sorted(t for t in known_topics if t.split(".", 1)[0] == name)
    if owned:
        raise NameRefused(f"topics named after {name!r} exist already: {', '.join(owned)}")
    if importlib.util.find_spec(name) is not None:
        raise NameRefused(
            f"{name!r} is already an installed Python package: the service's package would "
            "clash with it; choose another name"
        )
    chosen = aggregate if aggregate is not None else _singular(name)
    if not _NAME.match(chosen):
        raise NameRefused(
            f"aggregate {chosen!r}: use 2 to 20 lower-case letters and digits, starting with "
            "two letters, e.g. review"
        )
    if (
        keyword.iskeyword(chosen)
        or keyword.issoftkeyword(chosen)
        or chosen in _TEMPLATE_IDENTIFIERS
    ):
        raise NameRefused(
            f"aggregate {chosen!r} would clash with a name in the template's code: "
            "choose another with --aggregate"
        )
    clashing = sorted(
        {f"create{chosen.capitalize()}", f"get{chosen.capitalize()}"} & set(taken_operation_ids)
    )
    if clashing:
        raise NameRefused(
            f"the operation ids {', '.join(clashing)} are another service's already: "
            "choose another aggregate with --aggregate"
        )
    if subscribed_topic not in known_topics:
        raise NameRefused(
            f"the template subscribes to {subscribed_topic!r}, which no service publishes "
            f"(published: {', '.join(sorted(known_topics)) or 'none'})"
        )
    slots = {m.slot for m in manifests}
    slot = max(slots, default=-1) + 1
    if slot > 49:
        raise NameRefused("the local stack has no free slot left (0-49 are taken)")
    return ServiceNames(name=name, aggregate=chosen, slot=slot, subscribed_topic=subscribed_topic)


def _singular(name: str) -> str:
    """`reviews` → `review`; a name that does not end in one `s` is its own aggregate."""
    if name.endswith("s") and not name.endswith("ss") and len(name) > 3:
        return name[:-1]
    return name
