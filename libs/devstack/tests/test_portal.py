"""The gateway's landing page as rendered, and the config lines that serve it."""

from __future__ import annotations

import re
from pathlib import Path

from contracts.artifacts import schema_dir
from devstack.nginx_conf import INTERNAL_ENDPOINTS, render_nginx_conf
from devstack.portal import render_portal, schema_files
from devstack.profiles import profile
from devstack.routes import load_routes


def test_the_page_links_every_public_service_and_every_schema_and_no_other_host() -> None:
    routes = load_routes()
    page = render_portal(routes, schema_files())
    for route in routes:
        for link in ("docs", "redoc", "openapi.json", "status"):
            assert (f'href="{route.prefix}/{link}"' in page) == route.public, (route, link)
    assert "Flotilla orders" in page  # titles from the committed OpenAPI documents
    for name in schema_files():
        assert f'href="/schemas/{name}"' in page
    assert len(schema_files()) == len(list(schema_dir().glob("*.json"))) > 0
    assert re.findall(r"(?:https?:)?//", page) == []


def test_status_is_the_only_operational_path_the_edge_serves() -> None:
    conf = render_nginx_conf(profile("local"), load_routes(), Path("/srv/gateway"))
    for route in load_routes():
        if not route.public:
            assert f"location = {route.prefix}/status" not in conf
            continue
        assert f"location = {route.prefix}/status {{" in conf
        assert f"proxy_pass http://{route.service}/livez;" in conf
        assert f"({'|'.join(INTERNAL_ENDPOINTS)})" in conf
    assert f"alias {schema_dir()}/$1;" in conf
