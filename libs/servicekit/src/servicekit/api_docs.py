"""The API docs pages, /docs (Swagger UI) and /redoc (ReDoc), with every script and style served
by the service itself from `/docs-assets/`, never from a CDN: the pages work offline and a
reader's browser tells no third party which API it is reading.

The files come from the npm packages swagger-ui-dist and redoc (pinned in devstack's tool
catalogue, fetched into its cache); `DOCS_ASSETS_DIR` names that folder. Without it the pages
are still served, and still name no outside host, but have no scripts to load.
"""

from __future__ import annotations

import json
import logging
from html import escape
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

__all__ = ["ASSETS_PATH", "install_api_docs"]

log = logging.getLogger(__name__)

ASSETS_PATH = "/docs-assets"
"""Where the docs pages' files are served, below the service's root path."""
_SWAGGER_UI = f"{ASSETS_PATH}/swagger-ui"
_REDOC = f"{ASSETS_PATH}/redoc"
# The only files served: the pages below load these and nothing else.
_FILES = {
    ("swagger-ui", "swagger-ui-bundle.js"): "text/javascript",
    ("swagger-ui", "swagger-ui.css"): "text/css",
    ("swagger-ui", "favicon-32x32.png"): "image/png",
    ("redoc", "redoc.standalone.js"): "text/javascript",
}


def install_api_docs(app: FastAPI, assets: Path | None) -> None:
    """Serve /docs, /redoc and their files on `app` (made with docs_url=redoc_url=None)."""
    if assets is None:
        log.warning("DOCS_ASSETS_DIR is not set: /docs and /redoc have no scripts to load")

    # A route per file rather than a static mount: Starlette's mount looks files up by the
    # path below the app's root path, which a gateway that strips its prefix never sends.
    @app.get(ASSETS_PATH + "/{package}/{name}", include_in_schema=False)
    async def docs_asset(package: str, name: str) -> FileResponse:
        media_type = _FILES.get((package, name))
        path = assets / package / name if assets is not None else None
        if media_type is None or path is None or not path.is_file():
            raise HTTPException(status_code=404, detail="No such docs file.")
        return FileResponse(
            path, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"}
        )

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = _root(request)
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{_SWAGGER_UI}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{_SWAGGER_UI}/swagger-ui.css",
            swagger_favicon_url=f"{root}{_SWAGGER_UI}/favicon-32x32.png",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = _root(request)
        return _redoc_page(
            title=f"{app.title} - ReDoc",
            openapi_url=f"{root}{app.openapi_url}",
            script_url=f"{root}{_REDOC}/redoc.standalone.js",
            favicon_url=f"{root}{_SWAGGER_UI}/favicon-32x32.png",
        )


def _redoc_page(*, title: str, openapi_url: str, script_url: str, favicon_url: str) -> HTMLResponse:
    """ReDoc 3's bundle is an ES module (it uses `import.meta`): loaded as a classic script, as
    FastAPI's `get_redoc_html` loads it, it fails to parse and the page stays blank. Imported
    here as a module and started with `disableTelemetry`: by default ReDoc 3 sends usage traces
    to Redocly's collector (otel.cloud.redocly.com), which a docs page must not do."""
    options = {"disableTelemetry": True}
    return HTMLResponse(
        f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<link rel="shortcut icon" href="{escape(favicon_url)}">
<link rel="modulepreload" href="{escape(script_url)}">
<style>body {{ margin: 0; padding: 0; }}</style>
</head>
<body>
<noscript>ReDoc needs JavaScript to show this document: read {escape(openapi_url)}.</noscript>
<div id="redoc"></div>
<script type="module">
import {{ init }} from {_script_string(script_url)};
init({_script_string(openapi_url)}, {json.dumps(options)}, document.getElementById("redoc"));
</script>
</body>
</html>
"""
    )


def _script_string(value: str) -> str:
    """`value` as a JavaScript string literal that cannot end the <script> element."""
    return json.dumps(value).replace("<", "\\u003c")


def _root(request: Request) -> str:
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/")
