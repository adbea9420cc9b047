"""The API docs pages, /docs (Swagger UI) and /redoc (ReDoc), with every script and style served
by the service itself from `/docs-assets/`, never from a CDN: the pages work offline and a
reader's browser tells no third party which API it is reading.

The files come from the npm packages swagger-ui-dist and redoc (pinned in devstack's tool
catalogue, fetched into its cache); `DOCS_ASSETS_DIR` names that folder. Without it the pages
are still served, and still name no outside host, but have no scripts to load.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["ASSETS_PATH", "install_api_docs"]

log = logging.getLogger(__name__)

ASSETS_PATH = "/docs-assets"
"""Where the docs pages' files are served, below the service's root path."""
_SWAGGER_UI = f"{ASSETS_PATH}/swagger-ui"
_REDOC = f"{ASSETS_PATH}/redoc"


def install_api_docs(app: FastAPI, assets: Path | None) -> None:
    """Serve /docs, /redoc and their files on `app` (made with docs_url=redoc_url=None)."""
    if assets is not None:
        app.mount(ASSETS_PATH, StaticFiles(directory=assets, check_dir=False), name="docs-assets")
    else:
        log.warning("DOCS_ASSETS_DIR is not set: /docs and /redoc have no scripts to load")

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
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{_REDOC}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{_SWAGGER_UI}/favicon-32x32.png",
            with_google_fonts=False,
        )


def _root(request: Request) -> str:
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/")
