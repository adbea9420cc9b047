"""The docs' links lead somewhere: every relative link in README.md, CONTRIBUTING.md,
CHANGELOG.md and docs/ names a file or folder of the repository, and its `#anchor` a heading of
that file (GitHub's slugs). The docs point only inside the repository: no file mentions the
authors' private folder outside it, which readers do not have."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = sorted(
    [
        REPO / "README.md",
        REPO / "CONTRIBUTING.md",
        REPO / "CHANGELOG.md",
        *(REPO / "docs").rglob("*.md"),
    ]
)
# Spelt in two parts so that this file does not mention it.
OUTSIDE_FOLDER = "../" + "shared"
SKIPPED_DIRS = {".git", ".venv", ".run", ".cache", ".tools", "node_modules", "__pycache__"}
TEXT_SUFFIXES = {".md", ".py", ".yaml", ".yml", ".toml", ".txt", ".sh", ".json", ".tpl", ".cfg"}

_FENCE = re.compile(r"^(```|~~~)")
_INLINE_CODE = re.compile(r"`[^`]*`")
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def _prose(path: Path) -> Iterator[tuple[int, str]]:
    """The lines outside fenced code blocks, with their numbers."""
    fenced = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if _FENCE.match(line.lstrip()):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


def links(path: Path) -> Iterator[tuple[int, str]]:
    for number, line in _prose(path):
        text = _INLINE_CODE.sub("", line)
        for match in _LINK.finditer(text):
            yield number, match.group(1)
        reference = _REFERENCE.match(text)
        if reference:
            yield number, reference.group(1)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text without markup, lower case, punctuation dropped,
    spaces as hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").replace("*", "")
    text = re.sub(r"(?<!\w)_|_(?!\w)", "", text)
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for _, line in _prose(path):
        heading = _HEADING.match(line)
        if not heading:
            continue
        base = slug(heading.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(path: Path, root: Path = REPO) -> list[str]:
    broken = []
    for number, target in links(path):
        if _EXTERNAL.match(target):
            continue
        where = f"{path.relative_to(root)}:{number}: {target}"
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / unquote(file_part)).resolve() if file_part else path
        if not resolved.is_relative_to(root):
            broken.append(f"{where} (outside the repository)")
        elif not resolved.exists():
            broken.append(f"{where} (no such file)")
        elif anchor and resolved.suffix == ".md" and unquote(anchor) not in anchors(resolved):
            broken.append(f"{where} (no such heading)")
    return broken


def test_the_docs_are_found() -> None:
    assert REPO / "docs" / "architecture.md" in DOCS
    assert all(path.is_file() for path in DOCS)


@pytest.mark.parametrize("path", DOCS, ids=lambda path: str(path.relative_to(REPO)))
def test_every_relative_link_resolves(path: Path) -> None:
    assert broken_links(path) == []


def test_a_broken_link_or_anchor_is_reported(tmp_path: Path) -> None:
    """The check itself can fail: a missing file, a missing heading, a link out of the repo."""
    root = tmp_path.resolve()
    (root / "docs").mkdir()
    (root / "docs" / "other.md").write_text("# Other\n\n## The order saga\n", encoding="utf-8")
    page = root / "docs" / "page.md"
    page.write_text(
        "# A page\n\n## Its part (one)\n\n"
        "[ok](#its-part-one) [ok](other.md#the-order-saga) [ok](other.md)\n"
        "[gone](no-such-file.md) [gone](#no-such-part) [out](../../outside.md)\n"
        "[gone](other.md#no-such-saga)\n"
        "```\n[in a code block](ignored.md)\n```\n",
        encoding="utf-8",
    )
    assert broken_links(page, root) == [
        "docs/page.md:6: no-such-file.md (no such file)",
        "docs/page.md:6: #no-such-part (no such heading)",
        "docs/page.md:6: ../../outside.md (outside the repository)",
        "docs/page.md:7: other.md#no-such-saga (no such heading)",
    ]


def test_github_slugs() -> None:
    assert slug("Install on Kubernetes") == "install-on-kubernetes"
    assert slug("Adding an event type (or a topic)") == "adding-an-event-type-or-a-topic"
    assert slug("0001 — Outbox relay, not `CDC`") == "0001--outbox-relay-not-cdc"
    assert slug("[Layout](#layout) of the repo") == "layout-of-the-repo"


def _text_files() -> Iterator[Path]:
    for path in REPO.rglob("*"):
        relative = path.relative_to(REPO)
        if any(part in SKIPPED_DIRS for part in relative.parts):
            continue
        if path.is_file() and (path.suffix in TEXT_SUFFIXES or path.name == "Makefile"):
            yield path


def test_nothing_points_outside_the_repository_at_the_authors_folder() -> None:
    mentions = [
        str(path.relative_to(REPO))
        for path in _text_files()
        if OUTSIDE_FOLDER in path.read_text(encoding="utf-8", errors="replace")
    ]
    assert mentions == []
