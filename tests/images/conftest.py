"""The built images, inspected with podman: `make images-check` runs these after `make images`
(FLOTILLA_IMAGES=1); `make test` skips them, since it builds no image. By hand:
`FLOTILLA_IMAGES=1 pytest tests/images` after `make images` in the same tree."""

from __future__ import annotations

import os

import pytest

from devstack import images

_SIZES: dict[str, int] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("FLOTILLA_IMAGES") == "1":
        return
    skip = pytest.mark.skip(reason="inspects built images: `make images-check` runs it")
    for item in items:
        if item.path.is_relative_to(os.path.dirname(__file__)):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def revision() -> str:
    """This tree's images; FLOTILLA_IMAGES_REVISION=<sha> checks those of another commit."""
    return os.environ.get("FLOTILLA_IMAGES_REVISION") or images.revision()


@pytest.fixture(scope="session")
def sizes() -> dict[str, int]:
    """Each image's size in bytes, filled by the size test, printed after the run."""
    return _SIZES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _SIZES:
        return
    terminalreporter.section("image sizes")
    for ref, size in _SIZES.items():
        terminalreporter.write_line(f"{ref:<48} {size / 1e6:7.1f} MB")
