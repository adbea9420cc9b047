"""The route table, deploy/routes.yaml: it loads, gives each service its port, and refuses a
malformed entry (an exposure is required) with a message naming the file and the entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.profiles import profile
from devstack.routes import RouteTableError, load_routes, service_port


def test_current_route_table_loads() -> None:
    routes = load_routes()
    assert routes
    assert all(route.prefix.startswith("/") for route in routes)
    assert ("identity", "/identity") in {(route.service, route.prefix) for route in routes}


def test_service_ports_follow_the_route_order() -> None:
    local = profile("local")
    routes = load_routes()
    for index, route in enumerate(routes):
        assert service_port(local, route.service) == local.first_service_port + index
    with pytest.raises(KeyError, match="nope"):
        service_port(local, "nope")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "routes: [{service: identity, prefix: identity, exposure: public}]",
            "must start with '/'",
        ),
        ("routes: [{service: identity, prefix: /identity/, exposure: public}]", "trailing slash"),
        (
            "routes: [{service: Identity-x, prefix: /identity, exposure: public}]",
            "not a valid name",
        ),
        (
            "routes: [{service: a, prefix: /x, exposure: public},"
            " {service: b, prefix: /x, exposure: public}]",
            r"routes\[1\]: prefix '/x' is already used",
        ),
        (
            "routes: [{service: a, prefix: /a, exposure: public, port: 1}]",
            "optionally 'rate_limit'",
        ),
        ("routes: [{service: a, prefix: /a}]", "'exposure' \\(public or internal\\)"),
        (
            "routes: [{service: a, prefix: /a, exposure: private}]",
            "exposure 'private' must be 'public'",
        ),
        (
            "routes: [{service: a, prefix: /a, exposure: public, rate_limit: {burst: 1}}]",
            "needs exactly",
        ),
        (
            "routes: [{service: a, prefix: /a, exposure: public,"
            " rate_limit: {requests_per_s: 0, burst: 1}}]",
            "requests_per_s >= 1",
        ),
        ("routes: {service: a}", "a 'routes' list"),
        ("routes: [", "not valid YAML"),
    ],
)
def test_invalid_route_table_is_refused_clearly(tmp_path: Path, text: str, message: str) -> None:
    routes_file = tmp_path / "routes.yaml"
    routes_file.write_text(text)
    with pytest.raises(RouteTableError, match=message) as caught:
        load_routes(routes_file)
    assert str(routes_file) in str(caught.value)
