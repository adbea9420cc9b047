"""The gateway's landing page at `/`: every public service with its API docs, its OpenAPI
document and a status link, and every event's JSON Schema at `/schemas/<event type>.json`.

Plain HTML with its style inline: it loads nothing from anywhere, so it works offline. Titles
and descriptions come from the services' committed OpenAPI documents, so the page says what the
docs say. Internal services (the payment provider) are not listed: the gateway does not serve
them.

A service's status link is `/<prefix>/status`, which the gateway answers from the service's
`/livez`: a constant `{"status": "pass"}` when the process answers, the gateway's own 502/503
problem when it does not. `/healthz` and `/readyz` stay internal: they tell the build, each
dependency's state and its latency.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from pathlib import Path

from contracts.artifacts import schema_dir
from devstack.openapi import document_path
from devstack.routes import Route

__all__ = ["SCHEMAS_PATH", "STATUS_PATH", "render_portal", "schema_files"]

SCHEMAS_PATH = "/schemas"
STATUS_PATH = "status"
"""Below a public route's prefix: the gateway's safe summary of the service's liveness."""

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem;
       color: #1d2433; }
h1 { margin-bottom: 0.2rem; } h2 { margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 0.4rem 0.6rem; border-bottom: 1px solid #d8dde6;
         vertical-align: top; }
td.links a { margin-right: 0.8rem; white-space: nowrap; }
code { background: #f1f3f7; padding: 0 0.2rem; }
"""


def schema_files(folder: Path | None = None) -> list[str]:
    """The committed event schemas' file names, `<event type>.json`."""
    return sorted(path.name for path in (folder or schema_dir()).glob("*.json"))


def render_portal(routes: Sequence[Route], schemas: Sequence[str]) -> str:
    rows = "".join(_service_row(route) for route in routes if route.public)
    events = "".join(
        f'      <li><a href="{SCHEMAS_PATH}/{escape(name)}"><code>{escape(name[:-5])}</code>'
        "</a></li>\n"
        for name in schemas
    )
    return f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Flotilla APIs</title>
  <style>{_STYLE}</style>
</head>
<body>
  <h1>Flotilla</h1>
  <p>The platform's public HTTP APIs and the events its services publish.</p>
  <h2>Services</h2>
  <table>
    <tr><th>service</th><th>what it does</th><th>documents</th></tr>
{rows}  </table>
  <p>A status link answers <code>{{"status":"pass"}}</code> while the service answers, and a
  problem from the gateway when it does not.</p>
  <h2>Events (JSON Schema)</h2>
  <ul>
{events}  </ul>
</body>
</html>
"""


def _service_row(route: Route) -> str:
    title, description = _described(route.service)
    prefix = escape(route.prefix)
    links = " ".join(
        f'<a href="{prefix}/{path}">{label}</a>'
        for path, label in (
            ("docs", "Swagger UI"),
            ("redoc", "ReDoc"),
            ("openapi.json", "OpenAPI"),
            (STATUS_PATH, "status"),
        )
    )
    return (
        f'    <tr id="{escape(route.service)}"><td>{escape(title)}<br><code>{prefix}</code></td>'
        f'<td>{escape(description)}</td><td class="links">{links}</td></tr>\n'
    )


def _described(service: str) -> tuple[str, str]:
    path = document_path(service)
    if not path.exists():
        return service, ""
    info = json.loads(path.read_text()).get("info", {})
    return str(info.get("title", service)), str(info.get("description", ""))
