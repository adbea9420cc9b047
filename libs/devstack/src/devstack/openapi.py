"""The services' HTTP contracts: each service's committed `services/<name>/openapi.json`.

`python -m devstack.openapi generate | check | breaking`

generate   write every service's OpenAPI document from its declared API (`<name>.main.API`),
           then its typed Python client from that document (devstack.generated_clients)
check      exit 1, naming each problem, when a committed document or client is stale or an
           operation has no explicit operation id or shares one with another operation of the
           platform
breaking   compare each regenerated document against the one committed at a base revision
           with oasdiff (built into the tool cache, see devstack.toolchain.catalog), and exit 1
           on a breaking change: a response field removed, a type narrowed, a new required
           parameter. oasdiff's message names the operation and the field.

The base is `--base REF`, else the merge base with `main` on a branch, else `HEAD`: a change
that is breaking fails `make lint` on its branch, before it is merged. A deliberate break is
listed in `services/<name>/openapi-breaking-allowed.txt` (oasdiff's `--err-ignore` format: one
line per change, `METHOD /path` then the message), and reviewed like any other change.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from devstack import generated_clients
from devstack.profiles import REPO_ROOT
from devstack.routes import load_routes
from servicekit.openapi import ServiceApi, operation_id_problems

__all__ = [
    "breaking_changes",
    "document_path",
    "expected_documents",
    "main",
    "operation_problems",
    "rendered",
    "service_api",
]


def service_api(service: str) -> ServiceApi:
    api = importlib.import_module(f"{service}.main").API
    if not isinstance(api, ServiceApi):
        raise TypeError(f"{service}.main.API is not a servicekit.openapi.ServiceApi")
    return api


def document_path(service: str, root: Path = REPO_ROOT) -> Path:
    return root / "services" / service / "openapi.json"


def rendered(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def expected_documents() -> dict[str, str]:
    """Every service of the route table, public or internal: its document as committed."""
    return {
        route.service: rendered(service_api(route.service).document()) for route in load_routes()
    }


def operation_problems() -> list[str]:
    """Operations without an explicit id, and ids used twice anywhere on the platform (a
    client generator for the whole platform would clash on them)."""
    problems: list[str] = []
    owner: dict[str, tuple[str, str]] = {}  # operation id -> (service, where)
    for route in load_routes():
        api = service_api(route.service)
        routes = [each for router in api.routers for each in router.routes]
        problems += [f"{route.service}: {problem}" for problem in operation_id_problems(routes)]
        for path, item in api.document()["paths"].items():
            for method, operation in item.items():
                where = f"{route.service} {method.upper()} {path}"
                operation_id = operation.get("operationId")
                first = owner.setdefault(operation_id, (route.service, where))
                if first[0] != route.service:
                    problems.append(f"{where}: operationId {operation_id!r} is also {first[1]}")
    return problems


def stale_documents(expected: dict[str, str]) -> list[str]:
    problems = []
    for service, text in expected.items():
        path = document_path(service)
        if not path.exists():
            problems.append(f"{path.relative_to(REPO_ROOT)} is missing")
        elif path.read_text() != text:
            problems.append(f"{path.relative_to(REPO_ROOT)} is stale")
    return problems


def default_base() -> str:
    """The merge base with `main` on a branch; `HEAD` on main itself (or without a main)."""
    head = _git("rev-parse", "HEAD")
    base = _git("merge-base", "HEAD", "main") if _git("rev-parse", "-q", "--verify", "main") else ""
    return base if base and base != head else "HEAD"


def committed_document(service: str, base: str) -> str | None:
    """The document at revision `base`, or None when it did not exist there yet."""
    relative = document_path(service).relative_to(REPO_ROOT).as_posix()
    result = subprocess.run(
        ["git", "show", f"{base}:{relative}"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout if result.returncode == 0 else None


def breaking_changes(
    oasdiff: Path, base_text: str, revision_text: str, allowed: Path | None = None
) -> tuple[bool, str]:
    """(breaking?, oasdiff's report) for two documents' texts."""
    with tempfile.TemporaryDirectory(prefix="flotilla-oasdiff-") as scratch:
        base_file = Path(scratch, "committed.json")
        revision_file = Path(scratch, "regenerated.json")
        base_file.write_text(base_text)
        revision_file.write_text(revision_text)
        argv = [str(oasdiff), "breaking", str(base_file), str(revision_file)]
        argv += ["--fail-on", "ERR", "--format", "text", "--color", "never"]
        if allowed is not None and allowed.exists():
            argv += ["--err-ignore", str(allowed)]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode not in (0, 1):
        raise RuntimeError(f"oasdiff failed ({result.returncode}): {result.stderr.strip()}")
    return result.returncode == 1, (result.stdout + result.stderr).strip()


def _git(*args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    return result.stdout.strip() if result.returncode == 0 else ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.openapi",
        description="Generate and check the services' committed OpenAPI documents.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("generate", help="write services/<name>/openapi.json and the clients")
    commands.add_parser("check", help="fail on stale documents or clients, missing or shared ids")
    breaking = commands.add_parser("breaking", help="fail on a breaking change (oasdiff)")
    breaking.add_argument("--oasdiff", type=Path, required=True, help="the oasdiff binary")
    breaking.add_argument("--base", help="the revision to compare with (default: see module)")
    args = parser.parse_args(argv)
    expected = expected_documents()
    if args.command == "generate":
        for service, text in expected.items():
            path = document_path(service)
            if not path.exists() or path.read_text() != text:
                path.write_text(text)
                print(f"openapi: updated {path.relative_to(REPO_ROOT)}")
        try:
            updated = generated_clients.write(expected)
        except RuntimeError as error:
            print(f"openapi: cannot generate the clients: {error}", file=sys.stderr)
            return 1
        for client in updated:
            print(f"openapi: updated {client}")
        return 0
    if args.command == "check":
        problems = [*operation_problems(), *stale_documents(expected)]
        try:
            problems += generated_clients.stale(expected)
        except RuntimeError as error:
            problems.append(f"cannot generate the clients to compare: {error}")
        if problems:
            print(f"openapi check failed ({len(problems)}):", file=sys.stderr)
            for problem in problems:
                print(f"  - {problem}", file=sys.stderr)
            print("Regenerate with `make contracts`.", file=sys.stderr)
            return 1
        print(f"openapi: {len(expected)} services' documents and clients: ok")
        return 0
    base = args.base or default_base()
    failed = []
    for service, text in expected.items():
        committed = committed_document(service, base)
        if committed is None:
            print(f"openapi: {service} has no document at {base[:12]} (new): nothing to compare")
            continue
        allowed = document_path(service).with_name("openapi-breaking-allowed.txt")
        broken, report = breaking_changes(args.oasdiff, committed, text, allowed)
        if broken:
            failed.append(service)
            print(f"openapi: {service} breaks its API against {base[:12]}:\n{report}\n")
    if failed:
        print(
            f"openapi: breaking changes in {', '.join(failed)}. Keep the old field or "
            "parameter (or add a new version of the operation); a deliberate break goes in "
            "services/<name>/openapi-breaking-allowed.txt.",
            file=sys.stderr,
        )
        return 1
    print(f"openapi: no breaking change against {base[:12]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
