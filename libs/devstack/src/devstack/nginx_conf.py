"""The local gateway's nginx.conf, rendered from the route table for one profile.

A request to `/<prefix>/rest` reaches its service as `/rest`, for the table's `public` routes
only: an `internal` service (the payment provider) gets no location, upstream or rate zone, so
the gateway answers its paths with the 404 of any unknown path. A service's own operational
endpoints (`INTERNAL_ENDPOINTS`: metrics, probes, version) are the same 404 at the edge: they
are for Prometheus and the probes, which call the service directly. Errors the gateway
produces itself (no route, body too large, rate limited, service down or slow) are RFC 9457
`application/problem+json`; problem bodies from the services pass through untouched.

`/` is the landing page (devstack.portal, written beside the config), `/schemas/<type>.json`
each event's JSON Schema from libs/contracts, and `/<prefix>/status` a service's liveness as a
constant body (its `/livez`), the one operational answer the edge gives.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from contracts.artifacts import schema_dir
from devstack.portal import SCHEMAS_PATH, STATUS_PATH
from devstack.profiles import Profile
from devstack.routes import INTERNAL_PREFIX, Route, service_port

__all__ = ["INTERNAL_ENDPOINTS", "PORTAL_FILE", "render_nginx_conf"]

PORTAL_FILE = "portal.html"
"""The landing page's file in the gateway's folder."""

INTERNAL_ENDPOINTS = ("metrics", "healthz", "readyz", "livez", "version")
"""Served by every service for the cluster (scrapes, probes), never through the gateway: they
tell an outsider the build and the dependencies' state, and /healthz probes each dependency."""

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
# Trace context from outside is not trusted: a client could force every request of its own into
# the sampled 100 % (each sampled trace costs a span and an access line) or smuggle baggage into
# every downstream call. An empty value makes nginx drop the header; the service starts a trace.
_UNTRUSTED_TRACE_CONTEXT = "".join(
    f'            proxy_set_header {header} "";\n'
    for header in ("traceparent", "tracestate", "baggage")
)
# Below uvicorn's 5 s keep-alive, so nginx never reuses a connection the service is closing
# (a POST sent on such a connection would fail with 502 and not be retried).
_UPSTREAM_KEEPALIVE_TIMEOUT = "4s"


def render_nginx_conf(
    profile: Profile, routes: Sequence[Route], directory: Path, schemas: Path | None = None
) -> str:
    """nginx.conf for `profile`; every file nginx writes lives in `directory`, the landing
    page is read from there, the event schemas from `schemas` (libs/contracts' folder)."""
    schemas = schemas or schema_dir()
    temp = directory / "tmp"
    table = routes  # ports follow the whole table's order, internal routes included
    routes = [route for route in routes if route.public]
    upstreams = "".join(
        f"""
    upstream {route.service} {{
        server {profile.host}:{service_port(profile, route.service, table)} max_fails=0;
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
        f"    limit_req_zone $binary_remote_addr zone=rate_{route.service}:10m "
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

    # Rate limits are per client address, never per bearer token: nginx cannot verify a
    # token's signature, so a bucket per Authorization value would give every invented value
    # a fresh bucket (300 junk tokens all passed where 300 anonymous requests got 191 x 429).
    # A limit per verified subject belongs behind the signature check, in the service.
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
        location = / {{
            types {{ }}
            default_type "text/html; charset=utf-8";
            add_header Cache-Control no-cache always;
            root {directory};
            try_files /{PORTAL_FILE} =404;
        }}
        location ~ ^{SCHEMAS_PATH}/([a-z0-9][a-z0-9._-]*\\.json)$ {{
            types {{ }}
            default_type application/schema+json;
            add_header Access-Control-Allow-Origin * always;
            alias {schemas}/$1;
        }}
{locations}{problems}    }}
}}
"""


def _route_locations(route: Route) -> str:
    return f"""
        location = {route.prefix} {{
            return 308 {route.prefix}/$is_args$args;
        }}
        location ~ ^{re.escape(route.prefix)}/+({"|".join(INTERNAL_ENDPOINTS)})/*$ {{
            return 404;
        }}
        location = {route.prefix}/{STATUS_PATH} {{
            limit_req zone=rate_{route.service} burst={route.rate_limit.burst} nodelay;
            proxy_method GET;
            proxy_pass http://{route.service}/livez;
            proxy_pass_request_body off;
            proxy_pass_request_headers off;
            proxy_set_header Connection "";
            proxy_set_header X-Request-ID $flotilla_request_id;
            add_header X-Request-ID $flotilla_request_id always;
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
{_UNTRUSTED_TRACE_CONTEXT}            proxy_hide_header X-Request-ID;
            add_header X-Request-ID $flotilla_request_id always;
        }}
"""


def _problem_uri(code: int) -> str:
    return f"{INTERNAL_PREFIX}/problem/{code}"


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
