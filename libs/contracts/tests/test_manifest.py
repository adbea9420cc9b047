"""Service manifests: the repository's own, and every kind of broken one named precisely."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from contracts.manifest import ManifestError, load_manifest, load_manifests, packaged_manifest

pytestmark = pytest.mark.unit

# libs/contracts/tests/test_manifest.py -> the repository root, three levels up
SERVICES = Path(__file__).resolve().parents[3] / "services"

VALID = """\
name = "reviews"
title = "Flotilla reviews"
description = "Customers' reviews of products."
settings = "reviews.settings:ReviewsSettings"
routers = ["reviews.api:router"]
slot = 6

[http]
prefix = "/reviews"
exposure = "public"

[[publishes]]
name = "reviews.review"
description = "Reviews, keyed by review id."

[consumer]
subscribes = ["orders.order"]
handlers = "reviews.consumers:handlers"
retry = { delays_s = [2, 10] }
"""


def write(tmp_path: Path, text: str, name: str = "reviews") -> Path:
    folder = tmp_path / "services" / name
    (folder / "src" / name).mkdir(parents=True)
    (folder / "pyproject.toml").write_text("")
    path = folder / "src" / name / "service.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_every_service_of_the_repository_has_a_valid_manifest() -> None:
    manifests = load_manifests(SERVICES)

    folders = sorted(p.name for p in SERVICES.iterdir() if (p / "pyproject.toml").is_file())
    assert sorted(m.name for m in manifests) == folders
    assert [m.slot for m in manifests] == sorted(m.slot for m in manifests)


def test_an_installed_service_reads_the_manifest_shipped_in_its_package() -> None:
    manifest = packaged_manifest("orders")

    assert manifest.http.prefix == "/orders"
    assert manifest.consumer is not None
    assert "catalog.stock" in manifest.consumer.subscribes


def test_a_valid_manifest_is_read_with_its_defaults(tmp_path: Path) -> None:
    manifest = load_manifest(write(tmp_path, VALID))

    assert manifest.public
    assert manifest.topics == ("reviews.review",)
    assert manifest.tokens == "jwks"
    assert manifest.http.rate_limit is None
    assert manifest.migrations
    assert manifest.production


def test_a_stand_in_for_the_outside_world_is_kept_out_of_production(tmp_path: Path) -> None:
    manifest = load_manifest(
        write(tmp_path, VALID.replace("slot = 6", "slot = 6\nproduction = false"))
    )

    assert not manifest.production
    assert not packaged_manifest("psp").production  # the payment provider simulator


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (('exposure = "public"', 'exposure = "open"'), "http.exposure"),
        (('exposure = "public"\n', ""), "http.exposure: missing key"),
        (('prefix = "/reviews"', 'prefix = "reviews/"'), "http.prefix"),
        (("slot = 6", "slot = 6\ncolour = 1"), "colour: unknown key"),
        (('name = "reviews.review"', 'name = "orders.review"'), "must be named `reviews."),
        (('handlers = "reviews.consumers:handlers"', 'handlers = "handlers"'), "consumer.handlers"),
        (("delays_s = [2, 10]", "delays_s = []"), "consumer.retry.delays_s"),
        (('title = "Flotilla reviews"', "title = "), "not valid TOML"),
    ],
)
def test_a_broken_manifest_names_its_file_and_entry(
    tmp_path: Path, change: tuple[str, str], named: str
) -> None:
    path = write(tmp_path, VALID.replace(*change))

    with pytest.raises(ManifestError) as raised:
        load_manifest(path)

    assert str(path) in str(raised.value)
    assert named in str(raised.value)


def test_manifests_must_agree_with_each_other(tmp_path: Path) -> None:
    write(tmp_path, VALID)
    write(tmp_path, VALID.replace("reviews", "ratings"), name="ratings")  # the same slot

    with pytest.raises(ManifestError) as raised:
        load_manifests(tmp_path / "services")

    problems = str(raised.value)
    assert "share slot 6" in problems
    assert "subscribes to 'orders.order', which no service publishes" in problems


def test_a_manifest_named_unlike_its_folder_is_refused(tmp_path: Path) -> None:
    write(tmp_path, VALID, name="opinions")

    with pytest.raises(ManifestError, match="is not its folder's, 'opinions'"):
        load_manifests(tmp_path / "services")
