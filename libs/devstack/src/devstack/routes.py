"""The route table, `deploy/routes.yaml`: which service answers under which path prefix, whether
the gateway exposes it (`public`) or not (`internal`), with which rate limit, and on which
loopback port the local stack runs it.

The gateway (local nginx, and the HTTPRoutes of the Helm chart) and the stack read it from here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import yaml

from devstack.profiles import REPO_ROOT, Profile

__all__ = [
    "DEFAULT_RATE_LIMIT",
    "EXPOSURES",
    "INTERNAL_PREFIX",
    "ROUTES_FILE",
    "Exposure",
    "RateLimit",
    "Route",
    "RouteTableError",
    "load_routes",
    "service_port",
]

ROUTES_FILE = REPO_ROOT / "deploy" / "routes.yaml"

_SERVICE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_PREFIX = re.compile(r"^/[a-z0-9][a-z0-9-]*(/[a-z0-9][a-z0-9-]*)*$")
# The gateway's own locations (its problem pages) live under this prefix; no route may.
INTERNAL_PREFIX = "/_gateway"


Exposure = Literal["public", "internal"]
EXPOSURES: tuple[Exposure, ...] = ("public", "internal")
"""Required on every route, so that a new service is never exposed by omission."""


class RouteTableError(ValueError):
    """The route table is malformed; the message names the file and the offending entry."""


@dataclass(frozen=True)
class RateLimit:
    """Per client and service: a sustained rate with a burst on top (a token bucket)."""

    requests_per_s: int
    burst: int


DEFAULT_RATE_LIMIT = RateLimit(requests_per_s=100, burst=200)


@dataclass(frozen=True)
class Route:
    service: str
    prefix: str
    """Starts with `/`, no trailing slash, e.g. `/identity`."""
    exposure: Exposure
    rate_limit: RateLimit = DEFAULT_RATE_LIMIT

    @property
    def public(self) -> bool:
        """Whether the gateway serves it; an internal service is reached only inside."""
        return self.exposure == "public"


def load_routes(path: Path = ROUTES_FILE) -> tuple[Route, ...]:
    """Read and validate the route table."""
    try:
        document: Any = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise RouteTableError(f"{path}: no such file") from None
    except yaml.YAMLError as error:
        raise RouteTableError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("routes"), list):
        raise RouteTableError(f"{path}: expected a mapping with a 'routes' list")
    routes: list[Route] = []
    for index, entry in enumerate(document["routes"]):
        where = f"{path}: routes[{index}]"
        if (
            not isinstance(entry, dict)
            or not {"service", "prefix", "exposure"} <= set(entry)
            or set(entry) - {"service", "prefix", "exposure", "rate_limit"}
        ):
            raise RouteTableError(
                f"{where}: expected the keys 'service', 'prefix' and 'exposure' "
                f"(public or internal), and optionally 'rate_limit'"
            )
        service, prefix = entry["service"], entry["prefix"]
        if not isinstance(service, str) or not _SERVICE_NAME.match(service):
            raise RouteTableError(
                f"{where}: service {service!r} is not a valid name (lowercase identifier)"
            )
        if not isinstance(prefix, str) or not prefix.startswith("/"):
            raise RouteTableError(f"{where}: prefix {prefix!r} must start with '/'")
        if not _PREFIX.match(prefix) or prefix.startswith(INTERNAL_PREFIX):
            raise RouteTableError(
                f"{where}: prefix {prefix!r} must be lowercase path segments "
                f"without a trailing slash (and not {INTERNAL_PREFIX})"
            )
        exposure = entry["exposure"]
        if exposure not in EXPOSURES:
            raise RouteTableError(
                f"{where}: exposure {exposure!r} must be 'public' (served by the gateway) or "
                f"'internal' (reached only inside the platform)"
            )
        for other in routes:
            if other.prefix == prefix:
                raise RouteTableError(f"{where}: prefix {prefix!r} is already used")
            if other.service == service:
                raise RouteTableError(f"{where}: service {service!r} already has a route")
        limit = _rate_limit(entry.get("rate_limit"), where)
        routes.append(
            Route(
                service=service,
                prefix=prefix,
                exposure=cast(Exposure, exposure),
                rate_limit=limit,
            )
        )
    return tuple(routes)


def _rate_limit(entry: Any, where: str) -> RateLimit:
    if entry is None:
        return DEFAULT_RATE_LIMIT
    if not isinstance(entry, dict) or set(entry) != {"requests_per_s", "burst"}:
        raise RouteTableError(f"{where}: rate_limit needs exactly 'requests_per_s' and 'burst'")
    rate, burst = entry["requests_per_s"], entry["burst"]
    if not all(isinstance(value, int) and not isinstance(value, bool) for value in (rate, burst)):
        raise RouteTableError(f"{where}: rate_limit values must be integers")
    if rate < 1 or burst < 0:
        raise RouteTableError(f"{where}: rate_limit needs requests_per_s >= 1 and burst >= 0")
    return RateLimit(requests_per_s=rate, burst=burst)


def service_port(profile: Profile, service: str, routes: Sequence[Route] | None = None) -> int:
    """The loopback port of `service`: the i-th route gets `first_service_port + i`."""
    table = load_routes() if routes is None else routes
    for index, route in enumerate(table):
        if route.service == service:
            return profile.first_service_port + index
    raise KeyError(f"no route for service {service!r} in the route table")
