"""The local gateway: nginx in front of every service, configured from `deploy/routes.yaml`.

A request to `/<prefix>/rest` reaches its service as `/rest`. Errors the gateway produces itself
(no route, body too large, service down or slow) are RFC 9457 `application/problem+json`;
problem bodies from the services pass through untouched.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devstack.process import ManagedProcess, port_open
from devstack.profiles import REPO_ROOT, Profile

__all__ = [
    "ROUTES_FILE",
    "Gateway",
    "GatewayError",
    "RateLimit",
    "Route",
    "RouteTableError",
    "load_routes",
    "render_nginx_conf",
    "service_port",
]

ROUTES_FILE = REPO_ROOT / "deploy" / "routes.yaml"

_SERVICE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_PREFIX = re.compile(r"^/[a-z0-9][a-z0-9-]*(/[a-z0-9][a-z0-9-]*)*$")
_INTERNAL_PREFIX = "/_gateway"
# Must match what the services accept (servicekit's request-id pattern); anything else is replaced.
_REQUEST_ID_PATTERN = r"^[A-Za-z0-9._:-]{8,128}$"
# Status codes nginx itself may answer with: title (RFC 9110) and what the problem says.
# No single quotes in the texts: they end up inside a quoted nginx string.
_PROBLEMS: dict[int, tuple[str, str]] = {
    400: ("Bad Request", "The gateway could not parse the request."),
    404: ("Not Found", "No route matches this path."),
    405: ("Method Not Allowed", "The gateway does not allow this method here."),
    408: ("Request Timeout", "The client did not send the request in time."),
    413: ("Content Too Large", "The request body exceeds the gateway limit of 8 MiB."),
    414: ("URI Too Long", "The request URI is too long."),
    429: (
        "Too Many Requests",
        "This client exceeded the rate limit of this service; retry after Retry-After seconds.",
    ),
    431: ("Request Header Fields Too Large", "The request headers are too large."),
    500: ("Internal Server Error", "The gateway failed to handle the request."),
    502: ("Bad Gateway", "The service is unreachable or closed the connection."),
    503: ("Service Unavailable", "The service is unavailable."),
    504: ("Gateway Timeout", "The service did not answer in time."),
}
# Problems about a service name it (the route is known).
_UPSTREAM_PROBLEMS = frozenset({502, 503, 504})
# Below uvicorn's 5 s keep-alive, so nginx never reuses a connection the service is closing
# (a POST sent on such a connection would fail with 502 and not be retried).
_UPSTREAM_KEEPALIVE_TIMEOUT = "4s"


class RouteTableError(ValueError):
    """The route table is malformed; the message names the file and the offending entry."""


class GatewayError(RuntimeError):
    """nginx rejected its configuration or did not come up; the message carries its output."""


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
    rate_limit: RateLimit = DEFAULT_RATE_LIMIT


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
            or not {"service", "prefix"} <= set(entry)
            or set(entry) - {"service", "prefix", "rate_limit"}
        ):
            raise RouteTableError(
                f"{where}: expected the keys 'service' and 'prefix', and optionally 'rate_limit'"
            )
        service, prefix = entry["service"], entry["prefix"]
        if not isinstance(service, str) or not _SERVICE_NAME.match(service):
            raise RouteTableError(
                f"{where}: service {service!r} is not a valid name (lowercase identifier)"
            )
        if not isinstance(prefix, str) or not prefix.startswith("/"):
            raise RouteTableError(f"{where}: prefix {prefix!r} must start with '/'")
        if not _PREFIX.match(prefix) or prefix.startswith(_INTERNAL_PREFIX):
            raise RouteTableError(
                f"{where}: prefix {prefix!r} must be lowercase path segments "
                f"without a trailing slash (and not {_INTERNAL_PREFIX})"
            )
        for other in routes:
            if other.prefix == prefix:
                raise RouteTableError(f"{where}: prefix {prefix!r} is already used")
            if other.service == service:
                raise RouteTableError(f"{where}: service {service!r} already has a route")
        limit = _rate_limit(entry.get("rate_limit"), where)
        routes.append(Route(service=service, prefix=prefix, rate_limit=limit))
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


def render_nginx_conf(profile: Profile, routes: Sequence[Route], directory: Path) -> str:
    """nginx.conf for `profile`; every file nginx writes lives in `directory`."""
    temp = directory / "tmp"
    upstreams = "".join(
        f"""
    upstream {route.service} {{
        server {profile.host}:{service_port(profile, route.service, routes)} max_fails=0;
        keepalive 16;
        keepalive_timeout {_UPSTREAM_KEEPALIVE_TIMEOUT};
    }}
"""
        for route in routes
    )
    service_by_uri = "".join(
        f'        "~^{re.escape(route.prefix)}(/|\\?|$)" {route.service};\n' for route in routes
    )
    locations = "".join(_route_locations(route) for route in routes)
    rate_zones = "".join(
        f"    limit_req_zone $flotilla_client zone=rate_{route.service}:10m "
        f"rate={route.rate_limit.requests_per_s}r/s;\n"
        for route in routes
    )
    error_pages = "".join(
        f"        error_page {code} {_problem_uri(code)};\n" for code in _PROBLEMS if code != 431
    )
    # nginx's own code for oversized headers is 494; answer it as 431.
    error_pages += f"        error_page 494 ={431} {_problem_uri(431)};\n"
    problems = "".join(
        _problem_location(code, title, detail) for code, (title, detail) in _PROBLEMS.items()
    )
    return f"""\
# Generated by devstack from deploy/routes.yaml for profile {profile.name!r}; do not edit.
daemon off;
worker_processes 1;
pid {directory / "nginx.pid"};
error_log {directory / "error.log"} warn;

events {{
    worker_connections 1024;
}}

http {{
    server_tokens off;
    default_type application/octet-stream;
    client_body_temp_path {temp / "client_body"};
    proxy_temp_path {temp / "proxy"};
    fastcgi_temp_path {temp / "fastcgi"};
    uwsgi_temp_path {temp / "uwsgi"};
    scgi_temp_path {temp / "scgi"};

    # The client's X-Request-ID when it is well-formed, else nginx's own random id.
    map $http_x_request_id $flotilla_request_id {{
        "~{_REQUEST_ID_PATTERN}" $http_x_request_id;
        default $request_id;
    }}
    # Which service a request was for (for the access log and problem bodies).
    map $request_uri $flotilla_service {{
{service_by_uri}        default "";
    }}

    # Rate limits are per client: its bearer token when it sends one, else its address.
    map $http_authorization $flotilla_client {{
        "" $binary_remote_addr;
        default $http_authorization;
    }}
{rate_zones}    limit_req_status 429;
    limit_req_log_level warn;

    log_format flotilla_json escape=json
        '{{"time":"$time_iso8601","request_id":"$flotilla_request_id",'
        '"remote_addr":"$remote_addr","method":"$request_method","uri":"$request_uri",'
        '"status":$status,"bytes_sent":$body_bytes_sent,"request_time":$request_time,'
        '"service":"$flotilla_service","upstream":"$upstream_addr",'
        '"upstream_status":"$upstream_status",'
        '"upstream_response_time":"$upstream_response_time",'
        '"user_agent":"$http_user_agent"}}';
    access_log {directory / "access.log"} flotilla_json;

    client_max_body_size 8m;
    # Bodies up to the limit stay in memory and responses are never spooled to disk, so
    # workers never write files (they may run as an unprivileged user).
    client_body_buffer_size 8m;
    proxy_max_temp_file_size 0;
    client_header_timeout 15s;
    client_body_timeout 30s;
    send_timeout 30s;
    keepalive_timeout 65s;
{upstreams}
    server {{
        listen {profile.host}:{profile.gateway_port};
        server_name _;
        absolute_redirect off;

        proxy_http_version 1.1;
        proxy_intercept_errors off;
        proxy_connect_timeout 5s;
        proxy_send_timeout 30s;
        proxy_read_timeout 60s;

{error_pages}
        location / {{
            return 404;
        }}
{locations}{problems}    }}
}}
"""


def _route_locations(route: Route) -> str:
    return f"""
        location = {route.prefix} {{
            return 308 {route.prefix}/$is_args$args;
        }}
        location {route.prefix}/ {{
            limit_req zone=rate_{route.service} burst={route.rate_limit.burst} nodelay;
            proxy_pass http://{route.service}/;
            proxy_set_header Connection "";
            proxy_set_header Host $host:$server_port;
            proxy_set_header X-Request-ID $flotilla_request_id;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $host:$server_port;
            proxy_set_header X-Forwarded-Prefix {route.prefix};
            proxy_hide_header X-Request-ID;
            add_header X-Request-ID $flotilla_request_id always;
        }}
"""


def _problem_uri(code: int) -> str:
    return f"{_INTERNAL_PREFIX}/problem/{code}"


def _problem_location(code: int, title: str, detail: str) -> str:
    # Only variables whose values are known to be JSON-safe go into the body: the request id
    # is validated by the map above, the service name comes from the route table.
    service = ',"service":"$flotilla_service"' if code in _UPSTREAM_PROBLEMS | {429} else ""
    problem_type = "urn:flotilla:problem:rate-limited" if code == 429 else "about:blank"
    retry_after = "            add_header Retry-After 1 always;\n" if code == 429 else ""
    body = (
        f'{{"type":"{problem_type}","title":"{title}","status":{code},"detail":"{detail}"'
        f'{service},"request_id":"$flotilla_request_id"}}'
    )
    return f"""
        location = {_problem_uri(code)} {{
            internal;
            default_type application/problem+json;
            add_header X-Request-ID $flotilla_request_id always;
            add_header Cache-Control no-store always;
{retry_after}            return {code} '{body}\\n';
        }}
"""


class Gateway:
    """nginx for one profile, its files under `<profile root>/gateway/`."""

    def __init__(self, profile: Profile, routes: Sequence[Route] | None = None) -> None:
        self.profile = profile
        self.routes = tuple(load_routes() if routes is None else routes)
        self.directory = profile.root / "gateway"
        self.conf_file = self.directory / "nginx.conf"
        self.access_log = self.directory / "access.log"
        self.error_log = self.directory / "error.log"
        self.process = ManagedProcess(
            name="gateway",
            pid_file=profile.pids / "gateway.pid",
            log_file=profile.logs / "gateway.log",
        )

    @property
    def url(self) -> str:
        return self.profile.gateway_url

    def write_config(self) -> Path:
        for folder in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.directory / "tmp" / folder).mkdir(parents=True, exist_ok=True)
        self.conf_file.write_text(render_nginx_conf(self.profile, self.routes, self.directory))
        return self.conf_file

    def validate(self) -> None:
        """`nginx -t` on the written config; raises GatewayError with nginx's output."""
        result = subprocess.run(
            self._argv("-t", "-q"), capture_output=True, text=True, timeout=30, check=False
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip()
            raise GatewayError(f"nginx rejected {self.conf_file}:\n{output}")

    def start(self, timeout: float = 15.0) -> None:
        """Write and validate the config, start nginx, wait until its port accepts connections.

        When nginx already runs, a changed route table is applied with a reload.
        """
        if self.is_running():
            self.reload_if_changed()
            return
        self.write_config()
        self.validate()
        if port_open(self.profile.host, self.profile.gateway_port):
            raise GatewayError(
                f"port {self.profile.gateway_port} is already in use by another process"
            )
        self.process.start(self._argv())
        deadline = time.monotonic() + timeout
        while not port_open(self.profile.host, self.profile.gateway_port):
            if not self.process.is_running():
                raise GatewayError(f"nginx exited at start:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.process.stop()
                raise GatewayError(
                    f"nginx did not listen on port {self.profile.gateway_port} "
                    f"within {timeout:.0f}s:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def reload_if_changed(self) -> bool:
        """Rewrite the config and reload a running nginx when it changed; True if reloaded."""
        wanted = render_nginx_conf(self.profile, self.routes, self.directory)
        if self.conf_file.exists() and self.conf_file.read_text() == wanted:
            return False
        self.write_config()
        self.validate()
        result = subprocess.run(
            self._argv("-s", "reload"), capture_output=True, text=True, timeout=30, check=False
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip()
            raise GatewayError(f"nginx did not reload {self.conf_file}:\n{output}")
        return True

    def stop(self, timeout: float = 10.0) -> None:
        self.process.stop(timeout)

    def kill(self) -> None:
        self.process.kill()

    def is_running(self) -> bool:
        return self.process.is_running()

    def pid(self) -> int | None:
        return self.process.pid()

    def log_tail(self, lines: int = 30) -> str:
        parts = [self.process.log_tail(lines)]
        if self.error_log.exists():
            parts.append(
                "\n".join(self.error_log.read_text(errors="replace").splitlines()[-lines:])
            )
        return "\n".join(part for part in parts if part and part != "(no log)") or "(no log)"

    def _argv(self, *extra: str) -> list[str]:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        return [nginx, "-p", f"{self.directory}/", "-c", str(self.conf_file), *extra]
