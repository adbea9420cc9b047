"""The gateway: the rendered nginx config, and a live nginx in front of a tiny upstream."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from devstack.gateway import Gateway
from devstack.nginx_conf import render_nginx_conf
from devstack.process import free_port
from devstack.profiles import Profile, profile
from devstack.routes import RateLimit, Route, load_routes, service_port


@dataclass(frozen=True)
class _TmpProfile(Profile):
    """A profile whose folder lives under pytest's tmp_path instead of the repository."""

    base: Path = Path("/nonexistent")

    @property
    def root(self) -> Path:
        return self.base / self.name


def _tmp_profile(tmp_path: Path) -> _TmpProfile:
    first_service_port = free_port()
    return _TmpProfile(
        name="gwtest",
        postgres_port=free_port(),
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        gateway_port=free_port(),
        first_service_port=first_service_port,
        smtp_port=free_port(),
        base=tmp_path,
    )


# -- rendered config ------------------------------------------------------------------------


def test_config_renders_for_the_current_routes_and_nginx_accepts_it(tmp_path: Path) -> None:
    test_profile = _tmp_profile(tmp_path)
    gateway = Gateway(test_profile)
    conf = gateway.write_config().read_text()

    assert "daemon off;" in conf
    assert f"listen 127.0.0.1:{test_profile.gateway_port};" in conf
    for route in load_routes():
        port = service_port(test_profile, route.service)
        exposed = [
            f"location {route.prefix}/ {{",
            f"proxy_pass http://{route.service}/;",
            f"server 127.0.0.1:{port} max_fails=0;",
        ]
        for line in exposed:
            assert (line in conf) == route.public, (route, line)
    # Every path nginx writes stays inside the profile folder.
    for path in re.findall(r"(?:pid|_temp_path|error_log|access_log) (/\S+?)[; ]", conf):
        assert Path(path).is_relative_to(test_profile.root), path
    gateway.validate()


def test_problem_bodies_in_the_config_are_json() -> None:
    conf = render_nginx_conf(profile("local"), load_routes(), Path("/srv/gateway"))
    bodies = re.findall(r"return (\d{3}) '(\{.*\})\\n';", conf)
    assert {int(code) for code, _ in bodies} >= {400, 404, 413, 502, 503, 504}
    for code, body in bodies:
        problem = json.loads(body.replace("$", ""))
        assert problem["status"] == int(code)
        assert {"type", "title", "detail"} <= set(problem)


# -- a live gateway -------------------------------------------------------------------------


class _Echo(BaseHTTPRequestHandler):
    """Answers with the path and headers it received."""

    def do_GET(self) -> None:
        body = json.dumps({"path": self.path, "headers": dict(self.headers)}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class _LiveGateway:
    gateway: Gateway
    client: httpx.Client


@pytest.fixture
def live(tmp_path: Path) -> Iterator[_LiveGateway]:
    test_profile = _tmp_profile(tmp_path)
    routes = [
        Route(service="echo", prefix="/echo", exposure="public"),
        Route(service="gone", prefix="/gone", exposure="public"),
        Route(
            service="limited",
            prefix="/limited",
            exposure="public",
            rate_limit=RateLimit(1, burst=2),
        ),
        Route(service="hidden", prefix="/hidden", exposure="internal"),
    ]
    upstream = ThreadingHTTPServer(("127.0.0.1", service_port(test_profile, "echo", routes)), _Echo)
    upstream.daemon_threads = True
    thread = threading.Thread(target=upstream.serve_forever, daemon=True)
    thread.start()
    gateway = Gateway(test_profile, routes)
    gateway.start()
    try:
        with httpx.Client(base_url=gateway.url, trust_env=False, timeout=10) as client:
            yield _LiveGateway(gateway, client)
    finally:
        gateway.stop()
        upstream.shutdown()
        upstream.server_close()
        thread.join(5)
    assert not gateway.is_running()


def _assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, object] = response.json()
    assert problem["status"] == status
    assert problem["request_id"] == response.headers["x-request-id"]
    return problem


def test_prefix_is_stripped(live: _LiveGateway) -> None:
    response = live.client.get("/echo/v1/things?limit=2")
    assert response.status_code == 200
    echoed = response.json()
    assert echoed["path"] == "/v1/things?limit=2"
    assert echoed["headers"]["X-Forwarded-Prefix"] == "/echo"
    assert echoed["headers"]["X-Forwarded-Proto"] == "http"
    assert echoed["headers"]["X-Forwarded-For"] == "127.0.0.1"


@pytest.mark.parametrize(
    "path",
    [
        "/echo/metrics",
        "/echo/healthz",
        "/echo/readyz?verbose=1",
        "/echo/livez/",
        "/echo/version",
        "/echo//metrics",
        "/echo/%6Detrics",
        "/echo/v1/../metrics",
    ],
)
def test_a_services_operational_endpoints_are_not_served(live: _LiveGateway, path: str) -> None:
    problem = _assert_problem(live.client.get(path), 404)
    assert problem["detail"] == "No route matches this path."


def test_paths_that_merely_contain_an_endpoint_name_are_served(live: _LiveGateway) -> None:
    for path in ("/echo/v1/metrics", "/echo/metricsx", "/echo/v1/version/2"):
        assert live.client.get(path).status_code == 200, path


def test_trace_context_from_outside_is_dropped(live: _LiveGateway) -> None:
    forced = {
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "tracestate": "vendor=forced",
        "baggage": "user=admin",
    }
    echoed = {k.lower() for k in live.client.get("/echo/x", headers=forced).json()["headers"]}
    assert echoed.isdisjoint(forced)
    assert "x-request-id" in echoed  # the headers nginx sets do arrive


def test_bare_prefix_redirects_to_the_slash(live: _LiveGateway) -> None:
    response = live.client.get("/echo?x=1")
    assert response.status_code == 308
    assert response.headers["location"] == "/echo/?x=1"


def test_request_id_is_generated_when_missing(live: _LiveGateway) -> None:
    response = live.client.get("/echo/")
    request_id = response.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert response.json()["headers"]["X-Request-ID"] == request_id


def test_request_id_from_the_client_is_kept(live: _LiveGateway) -> None:
    response = live.client.get("/echo/", headers={"X-Request-ID": "client-id-0001"})
    assert response.headers["x-request-id"] == "client-id-0001"
    assert response.json()["headers"]["X-Request-ID"] == "client-id-0001"


def test_malformed_request_id_is_replaced(live: _LiveGateway) -> None:
    response = live.client.get("/echo/", headers={"X-Request-ID": 'bad"id<script>'})
    forwarded = response.json()["headers"]["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", forwarded)
    assert response.headers["x-request-id"] == forwarded


def test_unknown_route_is_a_404_problem(live: _LiveGateway) -> None:
    problem = _assert_problem(live.client.get("/nowhere/at/all"), 404)
    assert problem["title"] == "Not Found"


def test_an_internal_service_is_not_served_even_when_it_runs(live: _LiveGateway) -> None:
    # The upstream of `hidden` would be its port; the gateway must not know it at all.
    problem = _assert_problem(live.client.get("/hidden/v1/charges"), 404)
    assert problem["title"] == "Not Found"
    assert "hidden" not in live.gateway.write_config().read_text()


def test_service_down_is_a_502_or_503_problem(live: _LiveGateway) -> None:
    response = live.client.get("/gone/anything")
    assert response.status_code in {502, 503}
    problem = _assert_problem(response, response.status_code)
    assert problem["service"] == "gone"


def test_a_client_over_its_rate_limit_gets_a_429_problem_whatever_bearer_it_sends(
    live: _LiveGateway,
) -> None:
    # A fresh junk token on every request must not buy a fresh bucket: the key is the address.
    statuses = [
        live.client.get("/limited/x", headers={"authorization": f"Bearer junk-{n}"}).status_code
        for n in range(8)
    ]
    assert statuses.count(429) >= 4  # 1 request/s with a burst of 2, all sent at once
    limited = live.client.get("/limited/x", headers={"authorization": "Bearer yet-another"})
    problem = _assert_problem(limited, 429)
    assert problem["type"] == "urn:flotilla:problem:rate-limited"
    assert problem["service"] == "limited"
    assert limited.headers["retry-after"] == "1"
    assert live.client.get("/echo/x").status_code == 200  # another service: its own zone


def test_too_large_body_is_a_413_problem(live: _LiveGateway) -> None:
    response = live.client.post("/echo/upload", content=b"x" * (8 * 1024 * 1024 + 1))
    _assert_problem(response, 413)


def test_access_log_is_one_json_line_per_request(live: _LiveGateway) -> None:
    live.client.get("/echo/logged", headers={"X-Request-ID": "log-check-0001"})
    live.gateway.stop()  # flushes and closes the log
    lines = live.gateway.access_log.read_text().splitlines()
    entry = json.loads(lines[-1])
    assert entry["request_id"] == "log-check-0001"
    assert entry["status"] == 200
    assert entry["service"] == "echo"
    assert entry["upstream"].startswith("127.0.0.1:")
    assert isinstance(entry["request_time"], float)


def test_changed_routes_are_reloaded_into_a_running_gateway(live: _LiveGateway) -> None:
    gateway = live.gateway
    assert not gateway.reload_if_changed()  # nothing changed
    gateway.routes = (*gateway.routes, Route(service="extra", prefix="/extra", exposure="public"))
    assert gateway.reload_if_changed()
    # Once the reload returns, no connection reaches a worker with the old table.
    # Each probe opens its own connection, as new clients do (the old workers close
    # their idle keep-alive connections as they retire).
    for _ in range(20):
        response = httpx.get(f"{gateway.url}/extra/x", trust_env=False, timeout=10)
        assert response.status_code in {502, 503}  # routed; no "extra" upstream listens
