"""The events' reference page: asyncapi.yaml rendered to one self-contained HTML file by
AsyncAPI's own generator and HTML template (`devstack.asyncapi_tools`), which the gateway serves
at `/events/` beside the landing page.

Rendering takes about a minute, so the page is kept in the tool cache under a hash of what it
is made from (the AsyncAPI document, the event schemas and the template's version) and made
again only when one of them changed. The template's `singleFile` mode inlines its scripts,
styles and icons: the page loads nothing from anywhere.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from contracts.artifacts import schema_dir
from devstack.asyncapi_tools import ASYNCAPI_DOCUMENT, asyncapi_cli
from devstack.toolchain import CacheEntry, build_once
from devstack.toolchain.catalog import CACHED_TOOLS

__all__ = ["EVENT_DOCS_FILE", "EventDocsError", "render_event_docs"]

EVENT_DOCS_FILE = "index.html"


class EventDocsError(RuntimeError):
    """The generator failed; the message carries its output."""


def _inputs_hash() -> str:
    digest = hashlib.sha256(CACHED_TOOLS["asyncapi"].version.encode())
    for path in [ASYNCAPI_DOCUMENT, *sorted(schema_dir().glob("*.json"))]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def render_event_docs() -> Path:
    """The rendered page (`<cached folder>/index.html`), rendered now if it is not cached."""
    version = _inputs_hash()
    entry = CacheEntry("data", "event-docs", version)

    def render(folder: Path) -> None:
        tool = CACHED_TOOLS["asyncapi"].locate()
        if tool is None:
            raise EventDocsError(f"the AsyncAPI CLI is missing: {CACHED_TOOLS['asyncapi'].fix}")
        # The generator transpiles a template into the template's own folder: it works on a
        # copy, so the cached entry stays as installed (its checksums are checked on use). The
        # copy finds the template's dependencies through a node_modules link beside it.
        installed = tool.parent.parent
        work = folder / "work"
        work.mkdir()
        (work / "node_modules").symlink_to(installed)
        template = work / "html-template"
        shutil.copytree(installed / "@asyncapi" / "html-template", template, symlinks=True)
        out = folder / "out"
        result = asyncapi_cli(
            "generate",
            "fromTemplate",
            str(ASYNCAPI_DOCUMENT),
            str(template),
            "--output",
            str(out),
            "--param",
            "singleFile=true",
            "--force-write",
        )
        page = out / EVENT_DOCS_FILE
        if result.returncode != 0 or not page.is_file():
            output = (result.stdout + result.stderr)[-3000:]
            raise EventDocsError(f"asyncapi generate fromTemplate failed:\n{output}")
        page.rename(folder / EVENT_DOCS_FILE)
        shutil.rmtree(out)
        shutil.rmtree(work)

    return build_once(entry.path, f"event-docs@{version}", render) / EVENT_DOCS_FILE
