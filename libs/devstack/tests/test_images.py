"""`devstack.images` without podman: the refs it builds, the chart values it sets and the pins
it relies on agree with the charts and with the rest of the repository."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import yaml

from devstack import images
from devstack.kafka import KAFKA_VERSION
from devstack.profiles import REPO_ROOT
from devstack.toolchain.catalog import UV_VERSION, tools_for

UMBRELLA = REPO_ROOT / "deploy" / "helm" / "flotilla"
SERVICE_CHART = REPO_ROOT / "deploy" / "helm" / "service"


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _pom_properties(path: Path) -> dict[str, str]:
    namespace = "{http://maven.apache.org/POM/4.0.0}"
    # Our own pom files, from the repository.
    properties = ET.parse(path).getroot().find(f"{namespace}properties")  # noqa: S314
    assert properties is not None
    return {child.tag.removeprefix(namespace): child.text or "" for child in properties}


def test_every_chart_image_has_one_tag_of_version_and_revision() -> None:
    refs = images.refs("abc1234")
    names = {ref.split(":")[0] for ref in refs}
    assert names == {
        f"flotilla/{name}"
        for name in (
            *images.SERVICES,
            "gateway",
            "postgres",
            "kafka",
            "smtp-sink",
            "load-generator",
        )
    }
    assert len(refs) == len(names)
    for ref in refs:
        assert re.fullmatch(r"flotilla/[a-z][a-z-]*:[0-9][0-9.]*-abc1234", ref), ref


def test_helm_values_set_keys_the_charts_have() -> None:
    umbrella, service = _yaml(UMBRELLA / "values.yaml"), _yaml(SERVICE_CHART / "values.yaml")
    for key, value in images.helm_values("abc1234").items():
        head, *rest = key.split(".")
        node = service if head in images.SERVICES else umbrella
        for part in rest if head in images.SERVICES else [head, *rest]:
            assert isinstance(node, dict), key
            assert part in node, f"{key}: the chart has no {part!r}"
            node = node[part]
        if key.endswith(".repository"):
            assert value == f"flotilla/{head}"
        else:
            assert value.endswith("-abc1234"), (key, value)


def test_dev_values_select_our_images_at_their_versions() -> None:
    values, dev = _yaml(UMBRELLA / "values.yaml"), _yaml(UMBRELLA / "values-dev.yaml")
    for image in images.catalogue():
        if image.package_dir:  # the load generator: not dev infrastructure
            chart_image = values["loadGenerator"]["image"]
        elif not image.service:
            key = "smtpSink" if image.name == "smtp-sink" else image.name
            chart_image = values["devInfra"][key]["image"]
        else:
            continue
        assert chart_image == f"{image.repository}:{image.version}"
    assert dev["topics"]["job"]["image"] == f"flotilla/kafka:{KAFKA_VERSION}"


def test_kafka_image_resolves_the_local_brokers_versions() -> None:
    image = _pom_properties(images.IMAGES_DIR / "kafka" / "pom.xml")
    local = _pom_properties(REPO_ROOT / "deploy" / "local" / "kafka" / "pom.xml")
    for key in ("kafka.version", "log4j.version", "slf4j.version"):
        assert image[key] == local[key], key
    assert image["kafka.version"] == KAFKA_VERSION


def test_dockerfile_defaults_to_the_pinned_uv_and_takes_both_base_images() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert f"ARG UV_IMAGE=ghcr.io/astral-sh/uv:{UV_VERSION}" in dockerfile
    assert re.search(r"^ARG PYTHON_IMAGE=", dockerfile, re.MULTILINE)
    assert images.UV_VERSION == UV_VERSION


def test_the_docs_files_image_is_the_tool_caches_pinned_entry() -> None:
    # make images passes it as DOCS_ASSETS_IMAGE; its tag names the npm packages' versions.
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG DOCS_ASSETS_IMAGE=", dockerfile, re.MULTILINE)
    assert "FROM ${DOCS_ASSETS_IMAGE} AS docs-assets" in dockerfile
    recipe = (images.IMAGES_DIR / "docs-assets" / "Containerfile").read_text()
    assert "FROM scratch" in recipe
    assert {"COPY swagger-ui/ /swagger-ui/", "COPY redoc/ /redoc/"} <= set(recipe.splitlines())
    assert "docs-assets" in tools_for("images")
