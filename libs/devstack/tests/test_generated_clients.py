"""The generated clients as contracts: each committed `libs/clients/src/clients/<service>/` is what
openapi-python-client makes of the service's committed openapi.json, and a client that is not —
its document changed since, or its code edited by hand — is named by the check `make lint` runs.
The stale cases are tried on a copy of orders' document and client in a folder of their own."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from devstack.generated_clients import CONFIG, client_path, stale, write
from devstack.profiles import REPO_ROOT
from devstack.routes import load_routes

ORDERS_DOCUMENT = Path("services", "orders", "openapi.json")
STALE_ORDERS = "libs/clients/src/clients/orders is stale"


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A folder with orders' committed document and client, and the generator's settings."""
    for relative in (ORDERS_DOCUMENT, CONFIG):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / relative, tmp_path / relative)
    shutil.copytree(
        client_path("orders"),
        client_path("orders", tmp_path),
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return tmp_path


def _add_a_field_to_order_out(root: Path) -> None:
    document = json.loads((root / ORDERS_DOCUMENT).read_text())
    document["components"]["schemas"]["OrderOut"]["properties"]["note"] = {"type": "string"}
    (root / ORDERS_DOCUMENT).write_text(json.dumps(document, indent=2) + "\n")


def test_every_committed_client_is_the_one_its_document_generates() -> None:
    assert stale([route.service for route in load_routes()]) == []


def test_a_client_behind_its_document_is_named_with_the_file_that_changed(copy: Path) -> None:
    _add_a_field_to_order_out(copy)

    assert stale(["orders"], copy) == [f"{STALE_ORDERS}: models/order_out.py differs"]


def test_a_client_edited_by_hand_is_named(copy: Path) -> None:
    module = client_path("orders", copy) / "api" / "orders" / "create_order.py"
    module.write_text(module.read_text().replace('"/v1/orders"', '"/v2/orders"'))
    (client_path("orders", copy) / "models" / "extra.py").write_text("EXTRA = 1\n")
    (client_path("orders", copy) / "models" / "order_page.py").unlink()

    assert stale(["orders"], copy) == [
        f"{STALE_ORDERS}: api/orders/create_order.py differs; "
        "models/extra.py is not generated (edited in by hand?); models/order_page.py is missing"
    ]


def test_a_missing_client_is_named(copy: Path) -> None:
    shutil.rmtree(client_path("orders", copy))

    assert stale(["orders"], copy) == ["libs/clients/src/clients/orders is missing"]


def test_generating_replaces_a_stale_client(copy: Path) -> None:
    _add_a_field_to_order_out(copy)
    (client_path("orders", copy) / "models" / "extra.py").write_text("EXTRA = 1\n")

    assert write(["orders"], copy) == ["libs/clients/src/clients/orders"]
    assert stale(["orders"], copy) == []
    assert "note: str | Unset" in (client_path("orders", copy) / "models/order_out.py").read_text()
    assert not (client_path("orders", copy) / "models" / "extra.py").exists()
    assert write(["orders"], copy) == []
