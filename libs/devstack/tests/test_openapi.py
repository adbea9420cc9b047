"""The services' OpenAPI documents as contracts: explicit operation ids unique across the
platform, committed documents that match the code, and a breaking-change gate that names the
field (real oasdiff, from the tool cache)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter

from devstack.openapi import (
    breaking_changes,
    document_path,
    expected_documents,
    main,
    operation_problems,
    rendered,
)
from devstack.routes import load_routes
from devstack.toolchain.catalog import CACHED_TOOLS
from servicekit.openapi import OPERATION_ID, operation_id_problems

# What FastAPI generates when a route names no id: function name, path and method.
_FASTAPI_DEFAULT = re.compile(r"_(get|post|put|patch|delete)$|__")


def _documents() -> dict[str, dict[str, Any]]:
    return {service: json.loads(text) for service, text in expected_documents().items()}


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_every_operation_has_an_explicit_id_unique_across_the_platform() -> None:
    owners: dict[str, str] = {}
    documents = _documents()
    assert set(documents) == {route.service for route in load_routes()}
    for service, document in documents.items():
        operations = _operations(document)
        assert operations, f"{service} documents no operation"
        for method, path, operation in operations:
            operation_id = operation.get("operationId", "")
            where = f"{service} {method} {path}"
            assert OPERATION_ID.match(operation_id), f"{where}: {operation_id!r}"
            assert not _FASTAPI_DEFAULT.search(operation_id), f"{where}: {operation_id!r}"
            assert operation_id not in owners, f"{where} reuses {owners.get(operation_id)}"
            owners[operation_id] = where
    assert operation_problems() == []
    assert {"createOrder", "getOrder", "signUp", "createCharge"} <= set(owners)


def test_a_route_without_an_id_or_with_a_shared_one_is_named() -> None:
    router = APIRouter()

    @router.get("/v1/things")
    async def list_things() -> list[str]:
        return []

    @router.get("/v1/things/{thing_id}", operation_id="getThing")
    async def get_thing(thing_id: str) -> str:
        return thing_id

    @router.get("/v1/other/{thing_id}", operation_id="getThing")
    async def other(thing_id: str) -> str:
        return thing_id

    @router.get("/v1/odd", operation_id="get_odd")
    async def odd() -> str:
        return ""

    assert operation_id_problems(router.routes) == [
        "GET /v1/things declares no operation_id",
        "GET /v1/other/{thing_id}: operation_id 'getThing' is also GET /v1/things/{thing_id}",
        "GET /v1/odd: operation_id 'get_odd' is not lowerCamelCase",
    ]


def test_the_committed_documents_are_the_ones_the_code_declares() -> None:
    for service, text in expected_documents().items():
        assert document_path(service).read_text() == text, f"run `make contracts` ({service})"


@pytest.fixture(scope="module")
def oasdiff() -> Path:
    binary = CACHED_TOOLS["oasdiff"].locate()
    if binary is None:
        pytest.fail("oasdiff is not in the tool cache: make tools TOOLS=oasdiff")
    return binary


@pytest.fixture
def orders() -> dict[str, Any]:
    """orders' document as committed."""
    document: dict[str, Any] = json.loads(document_path("orders").read_text())
    return document


def test_an_unchanged_document_passes_the_gate(oasdiff: Path, orders: dict[str, Any]) -> None:
    broken, report = breaking_changes(oasdiff, rendered(orders), rendered(orders))
    assert not broken, report


def test_a_removed_response_field_fails_the_gate_naming_it(
    oasdiff: Path, orders: dict[str, Any]
) -> None:
    revision = copy.deepcopy(orders)
    del revision["components"]["schemas"]["OrderOut"]["properties"]["deadline_at"]
    revision["components"]["schemas"]["OrderOut"]["required"].remove("deadline_at")
    broken, report = breaking_changes(oasdiff, rendered(orders), rendered(revision))
    assert broken
    assert "GET /v1/orders/{order_id}" in report
    assert "removed the required property `deadline_at` from the response" in report


def test_a_narrowed_parameter_fails_the_gate_naming_it(
    oasdiff: Path, orders: dict[str, Any]
) -> None:
    revision = copy.deepcopy(orders)
    (order_id,) = revision["paths"]["/v1/orders/{order_id}"]["get"]["parameters"]
    order_id["schema"] = {"type": "integer"}  # was a string of at most 40 characters
    broken, report = breaking_changes(oasdiff, rendered(orders), rendered(revision))
    assert broken
    assert "`order_id`" in report
    assert "the `type` was changed from `string` to `integer`" in report


def test_a_new_required_parameter_fails_the_gate_naming_it(
    oasdiff: Path, orders: dict[str, Any]
) -> None:
    revision = copy.deepcopy(orders)
    revision["paths"]["/v1/orders"]["get"]["parameters"].append(
        {"name": "shop", "in": "query", "required": True, "schema": {"type": "string"}}
    )
    broken, report = breaking_changes(oasdiff, rendered(orders), rendered(revision))
    assert broken
    assert "added the new required `query` request parameter `shop`" in report


def test_a_new_optional_field_is_not_breaking(oasdiff: Path, orders: dict[str, Any]) -> None:
    revision = copy.deepcopy(orders)
    revision["components"]["schemas"]["OrderOut"]["properties"]["note"] = {"type": "string"}
    broken, report = breaking_changes(oasdiff, rendered(orders), rendered(revision))
    assert not broken, report


def test_the_gate_passes_on_the_committed_tree(
    oasdiff: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["breaking", "--oasdiff", str(oasdiff), "--base", "HEAD"]) == 0
    assert "no breaking change against HEAD" in capsys.readouterr().out
