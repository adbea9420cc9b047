"""Swagger UI's and ReDoc's files for the API docs pages (servicekit.api_docs serves them),
from their npm packages into the tool cache, so no docs page loads anything from another host.
"""

from __future__ import annotations

import tarfile
import tempfile
from pathlib import Path
from urllib.parse import quote

from devstack.toolchain.catalog import REDOC_VERSION, SWAGGER_UI_VERSION, SYSTEM_TOOLS, CachedTool
from devstack.toolchain.progress import StepFailed, run_step

__all__ = ["fetch_docs_assets"]

_REDOC_BUNDLE = "bundles/redoc.standalone.js"


def _drawn(text: str, width: int) -> bytes:
    svg = (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='20'>"
        f"<text x='0' y='15' font-family='sans-serif' font-size='14' font-weight='bold' "
        f"fill='#d41f1c'>{text}</text></svg>"
    )
    return f"data:image/svg+xml,{quote(svg)}".encode()


_REDOC_LOGOS = {
    b"https://cdn.redoc.ly/redoc/logo-mini-full.svg": _drawn("Redocly", 70),
    b"https://cdn.redoc.ly/redoc/logo-mini.svg": _drawn("R", 14),
}


# The files of each npm package the docs pages load (paths inside the package), and the folder
# of the cache entry they go to: servicekit serves the entry as /docs-assets/.
_DOCS_ASSET_FILES = {
    f"swagger-ui-dist@{SWAGGER_UI_VERSION}": (
        "swagger-ui",
        ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "LICENSE"),
    ),
    f"redoc@{REDOC_VERSION}": ("redoc", (_REDOC_BUNDLE, "LICENSE")),
}


def fetch_docs_assets(go: str, tool: CachedTool, folder: Path, estimate: str) -> None:
    """Swagger UI's and ReDoc's files from their npm packages (`npm pack` checks the registry's
    integrity hash), so no docs page ever loads a script or a style from a CDN."""
    npm = SYSTEM_TOOLS["npm"].locate()
    if npm is None:
        raise StepFailed(f"npm is missing: {SYSTEM_TOOLS['npm'].fix}")
    with tempfile.TemporaryDirectory() as scratch:
        for package, (target, files) in _DOCS_ASSET_FILES.items():
            run_step(
                [str(npm), "pack", "--silent", "--pack-destination", scratch, package],
                what=f"fetching {package} from the npm registry",
                estimate=estimate,
                cwd=Path(scratch),
            )
            name, _, version = package.rpartition("@")
            with tarfile.open(Path(scratch) / f"{name}-{version}.tgz") as archive:
                (folder / target).mkdir(parents=True, exist_ok=True)
                for relative in files:
                    member = archive.extractfile(f"package/{relative}")
                    if member is None:
                        raise StepFailed(f"{package} has no file {relative}")
                    content = member.read()
                    if relative == _REDOC_BUNDLE:
                        content = _without_remote_logo(content)
                    (folder / target / Path(relative).name).write_bytes(content)


def _without_remote_logo(bundle: bytes) -> bytes:
    """ReDoc 3 shows its maker's logo ("API docs by Redocly") as an image from cdn.redoc.ly, on
    every page, with no option to turn it off: a docs page would ask a third party for it. The
    bundle gets a drawing of the name instead, inline; the link to redocly.com stays. A new
    ReDoc that no longer names these URLs fails here, to be looked at again."""
    for remote, local in _REDOC_LOGOS.items():
        if bundle.count(remote) != 1:
            raise StepFailed(
                f"redoc@{REDOC_VERSION}'s bundle names {remote.decode()} "
                f"{bundle.count(remote)} times, not once: review {__name__}"
            )
        bundle = bundle.replace(remote, local)
    return bundle
