"""The per-service lists generated from the services' manifests (`python -m devstack.manifests`):
fresh in the repository; a manifest added or changed in a copy makes `check` name each stale
file and block, and `generate` brings them back; a broken manifest is refused with its message.
"""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest
import yaml

from contracts.manifest import load_manifests
from contracts.topology import load_topology
from devstack.manifests import expected_files, stale_files
from devstack.manifests.__main__ import main
from devstack.manifests.blocks import (
    BlockError,
    begin_marker,
    end_marker,
    replace_blocks,
    sections,
)
from devstack.profiles import REPO_ROOT, profile
from devstack.routes import load_routes

pytestmark = pytest.mark.unit

REVIEWS = """\
name = "reviews"
title = "Flotilla reviews"
description = "Customers' reviews of products."
settings = "reviews.settings:ReviewsSettings"
routers = ["reviews.api:router"]
slot = 6

[http]
prefix = "/reviews"
exposure = "public"
rate_limit = { requests_per_s = 20, burst = 40 }

[[publishes]]
name = "reviews.review"
description = "Reviews: written, withdrawn; keyed by review id."

[consumer]
subscribes = ["orders.order"]
handlers = "reviews.consumers:handlers"
retry = { delays_s = [1.5, 10] }
dlq = { retention_ms = 1209600000 }
"""


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """A copy of what the generator reads and writes: the manifests and the generated files."""
    for file in expected_files(REPO_ROOT):
        _copy(REPO_ROOT / file.shown, tmp_path / file.shown)
    for folder in (REPO_ROOT / "services").iterdir():
        if (folder / "pyproject.toml").is_file():
            _copy(folder / "pyproject.toml", tmp_path / "services" / folder.name / "pyproject.toml")
            manifest = Path("src") / folder.name / "service.toml"
            _copy(folder / manifest, tmp_path / "services" / folder.name / manifest)
    return tmp_path


def add_service(root: Path, name: str, manifest: str) -> None:
    folder = root / "services" / name
    (folder / "src" / name).mkdir(parents=True)
    (folder / "pyproject.toml").write_text(f'[project]\nname = "{name}"\n')
    (folder / "src" / name / "service.toml").write_text(manifest)


def check(root: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["check", "--root", str(root)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_the_repository_lists_every_service_as_its_manifests_say() -> None:
    assert stale_files(expected_files(REPO_ROOT)) == []


def test_no_hand_written_line_lists_the_services() -> None:
    """Outside the generated blocks (and the copies rendered from them), no line names every
    service: such a list would need a hand edit for each new service."""
    names = [m.name for m in load_manifests(REPO_ROOT / "services")]
    rendered = (
        "deploy/k8s/base/",
        "deploy/k8s/overlays/dev/infra.yaml",
        "deploy/helm/flotilla/files/",
    )
    candidates = [REPO_ROOT / "Makefile", REPO_ROOT / "pyproject.toml", REPO_ROOT / "skaffold.yaml"]
    candidates += [
        path
        for path in sorted((REPO_ROOT / "deploy").rglob("*"))
        if path.suffix in {".yaml", ".sh", ".txt", ".tpl", ".json"}
        and not str(path.relative_to(REPO_ROOT)).startswith(rendered)
    ]
    listing = []
    for path in candidates:
        shown = str(path.relative_to(REPO_ROOT))
        text = path.read_text(encoding="utf-8")
        text = replace_blocks(text, {name: "" for name, _ in sections(text, shown)}, shown)
        listing += [
            f"{shown}: {line}" for line in text.splitlines() if all(n in line for n in names)
        ]
    assert listing == []


def test_a_new_service_is_stale_everywhere_until_generated(
    repository: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_service(repository, "reviews", REVIEWS)

    code, out = check(repository, capsys)

    assert code == 1
    for stale in [
        "pyproject.toml: block `services` is stale",
        "pyproject.toml: block `service sources` is stale",
        "deploy/routes.yaml: block `routes` is stale",
        "deploy/topics.yaml: block `groups` is stale",
        "libs/contracts/src/contracts/topics.yaml: block `topics` is stale",
        "skaffold.yaml: block `port forwards` is stale",
        "deploy/helm/flotilla/Chart.yaml: block `services` is stale",
        "deploy/helm/flotilla/values.yaml: block `service reviews` is stale",
        "deploy/helm/flotilla/values-dev.yaml: block `services` is stale",
        "deploy/helm/flotilla/values-prod.yaml: block `production services` is stale",
        "deploy/helm/flotilla/values.schema.json is stale",
        "deploy/k8s/dev-secrets.sh: block `services` is stale",
        "deploy/k8s/overlays/dev/kustomization.yaml: block `kafka clients` is stale",
        "deploy/k8s/overlays/prod/kustomization.yaml: block `downstreams` is stale",
        "deploy/observability/rules/platform.yaml: block `service jobs` is stale",
    ]:
        assert stale in out
    assert "make deploy-generate" in out

    assert main(["generate", "--root", str(repository)]) == 0
    assert check(repository, capsys)[0] == 0

    route = load_routes(repository / "deploy" / "routes.yaml")[-1]
    assert (route.service, route.prefix, route.rate_limit.requests_per_s) == (
        "reviews",
        "/reviews",
        20,
    )
    topology = load_topology(repository / "deploy" / "topics.yaml")
    group = next(g for g in topology.groups if g.name == "reviews")
    assert (group.subscribes, group.retry_delays_s) == (("orders.order",), (1.5, 10.0))
    assert "reviews.review" in {t.name for t in topology.topics}
    pyproject = tomllib.loads((repository / "pyproject.toml").read_text())
    assert "reviews" in pyproject["project"]["dependencies"]
    assert "services/reviews/src" in pyproject["tool"]["mypy"]["files"]
    assert "reviews" in pyproject["tool"]["importlinter"]["contracts"][0]["modules"]
    umbrella = repository / "deploy" / "helm" / "flotilla"
    values = yaml.safe_load((umbrella / "values.yaml").read_text())
    assert values["reviews"] == {
        "enabled": True,
        "service": "reviews",
        "kafka": {"username": "reviews"},
        "rootPath": "/reviews",
    }
    assert "reviews" in values["global"]["flotilla"]["services"]
    assert (
        yaml.safe_load((umbrella / "values-dev.yaml").read_text())["reviews"]["replicaCount"] == 1
    )
    prod = yaml.safe_load((umbrella / "values-prod.yaml").read_text())
    assert prod["reviews"]["autoscaling"]["minReplicas"] == 3
    assert "reviews" in prod["global"]["flotilla"]["services"]
    assert "reviews" in json.loads((umbrella / "values.schema.json").read_text())["properties"]
    skaffold = yaml.safe_load((repository / "skaffold.yaml").read_text())
    forward = skaffold["profiles"][0]["portForward"][-1]
    assert (forward["resourceName"], forward["localPort"]) == (
        "reviews",
        profile("local").first_service_port + 6,  # as `make up` runs it: the 7th port
    )


def test_a_changed_prefix_is_stale_where_it_is_listed(
    repository: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = repository / "services" / "catalog" / "src" / "catalog" / "service.toml"
    manifest.write_text(manifest.read_text().replace('prefix = "/catalog"', 'prefix = "/shop"'))

    code, out = check(repository, capsys)

    assert code == 1
    assert "deploy/routes.yaml: block `routes` is stale" in out
    assert "deploy/helm/flotilla/values.yaml: block `service catalog` is stale" in out
    assert "skaffold.yaml" not in out  # nothing there depends on the prefix
    assert main(["generate", "--root", str(repository)]) == 0
    values = yaml.safe_load((repository / "deploy/helm/flotilla/values.yaml").read_text())
    assert values["catalog"]["rootPath"] == "/shop"
    assert values["catalog"]["enabled"] is True  # the hand-written rest of its section is kept


def test_a_service_not_for_production_is_left_out_of_the_prod_release(
    repository: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_service(repository, "reviews", REVIEWS.replace("slot = 6", "slot = 6\nproduction = false"))

    assert main(["generate", "--root", str(repository)]) == 0

    umbrella = repository / "deploy" / "helm" / "flotilla"
    prod = yaml.safe_load((umbrella / "values-prod.yaml").read_text())
    assert prod["reviews"] == {"enabled": False}
    assert "reviews" not in prod["global"]["flotilla"]["services"]
    overlay = (repository / "deploy/k8s/overlays/prod/kustomization.yaml").read_text()
    assert 'labelSelector: "app.kubernetes.io/name=reviews"' in overlay
    assert "flotilla/reviews" not in overlay  # no image to pin
    assert yaml.safe_load((umbrella / "values-dev.yaml").read_text())["reviews"]["enabled"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('exposure = "public"', 'exposure = "open"'), "http.exposure"),
        (("slot = 6", "slot = 7"), "slot 7 leaves slot 6 free"),
        (('prefix = "/reviews"', 'prefix = "/orders"'), "reviews and orders share the prefix"),
    ],
)
def test_a_broken_manifest_is_refused_with_its_message(
    repository: Path,
    capsys: pytest.CaptureFixture[str],
    change: tuple[str, str],
    message: str,
) -> None:
    add_service(repository, "reviews", REVIEWS.replace(*change))
    before = (repository / "deploy" / "routes.yaml").read_text()

    for command in ("check", "generate"):
        code = main([command, "--root", str(repository)])
        err = capsys.readouterr().err
        assert code == 1
        assert message in err
        assert "Traceback" not in err
    assert (repository / "deploy" / "routes.yaml").read_text() == before


def test_a_file_without_its_markers_is_named(
    repository: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    routes = repository / "deploy" / "routes.yaml"
    routes.write_text(routes.read_text().replace("<<< generated routes", "the end"))

    code, out = check(repository, capsys)

    assert code == 1
    assert "deploy/routes.yaml" in out
    assert "block routes has no `<<< generated` line" in out


def test_a_block_is_rewritten_and_the_lines_around_it_kept() -> None:
    text = f"a: 1\n{begin_marker('x')}old\n{end_marker('x')}b: 2\n"

    assert replace_blocks(text, {"x": "new\n"}, "f") == text.replace("old", "new")
    with pytest.raises(BlockError, match="f: no generated block y"):
        replace_blocks(text, {"x": "", "y": ""}, "f")


def test_a_removed_service_loses_its_section_and_a_new_one_gets_one() -> None:
    text = f"gone:\n{begin_marker('service gone', '  ')}  a: 1\n{end_marker('service gone', '  ')}"

    result = replace_blocks(
        text, {"service new": "  b: 2\n"}, "f", missing=lambda name, body: f"new:\n{body}"
    )

    assert result == "gone:\nnew:\n  b: 2\n"


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)
