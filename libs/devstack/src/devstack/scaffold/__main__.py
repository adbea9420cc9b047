"""`python -m devstack.scaffold new NAME [--aggregate NOUN]`: write a new service and regenerate
what derives from it. Exit 2 on a name that cannot be a service's, 1 when a step fails."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from contracts.manifest import ManifestError, load_manifests
from contracts.topology import TopologyError, load_topology
from devstack.profiles import REPO_ROOT
from devstack.scaffold import generation
from devstack.scaffold.names import NameRefused, ServiceNames, service_names
from devstack.scaffold.render import REGISTRY, ScaffoldError, register_event, rendered_files
from devstack.scaffold.render import write_files as write_rendered
from devstack.toolchain.catalog import CACHED_TOOLS, SYSTEM_TOOLS

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.scaffold", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    new = commands.add_parser("new", help="write a new service and regenerate what derives from it")
    new.add_argument("name", help="lower-case letters and digits, e.g. reviews")
    new.add_argument("--aggregate", help="what it keeps one row of (default: NAME without its s)")
    new.add_argument(
        "--root", type=Path, default=REPO_ROOT, help="the repository (default: this one)"
    )
    new.add_argument("--uv", type=Path, help="uv to lock and sync with (default: the tool cache's)")
    new.add_argument("--helm", type=Path, help="helm for the chart's copies (default: the cache's)")
    new.add_argument(
        "--files-only", action="store_true", help="write the files, regenerate nothing"
    )
    args = parser.parse_args(argv)
    root: Path = args.root.resolve()
    try:
        names = _names(root, args.name, args.aggregate)
    except NameRefused as refused:
        print(f"error: {refused}", file=sys.stderr)
        return 2
    except (ManifestError, TopologyError) as error:
        print(
            f"error: the repository's manifests are broken, fix them first: {error}",
            file=sys.stderr,
        )
        return 1
    try:
        written = write_rendered(root, rendered_files(names))
        register_event(root, names)
    except ScaffoldError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    left: list[str] = []
    if not args.files_only:
        uv = args.uv or _located("uv")
        if uv is None:
            print("error: uv is not installed: run `make setup` first", file=sys.stderr)
            return 1
        new_paths = [
            root / "services" / names.name,
            root / f"libs/contracts/src/contracts/{names.name}.py",
            root / REGISTRY,
        ]
        steps, left = generation.generation_steps(
            root, new_paths, uv=uv, helm=args.helm or _located("helm")
        )
        try:
            generation.run(root, steps)
        except generation.GenerationFailed as failed:
            print(
                f"error: {failed}\nThe service's files are written ({len(written)}); fix the "
                "cause, then run this step and the ones after it by hand:\n"
                + "\n".join(f"  {' '.join(step.argv)}" for step in failed.remaining),
                file=sys.stderr,
            )
            return 1
    _report(root, names, written, left)
    return 0


def _names(root: Path, name: str, aggregate: str | None) -> ServiceNames:
    contracts_dir = root / "libs" / "contracts" / "src" / "contracts"
    clients_dir = root / "libs" / "clients" / "src" / "clients"
    taken = {p.stem for p in contracts_dir.glob("*.py")} | {
        p.name for p in clients_dir.iterdir() if p.is_dir()
    }
    operation_ids = {
        operation["operationId"]
        for document in (root / "services").glob("*/openapi.json")
        for path in json.loads(document.read_text(encoding="utf-8"))["paths"].values()
        for operation in path.values()
        if "operationId" in operation
    }
    topology = load_topology(root / "deploy" / "topics.yaml")
    return service_names(
        name,
        load_manifests(root / "services"),
        (topic.name for topic in topology.topics),
        taken_modules=taken,
        taken_operation_ids=operation_ids,
        aggregate=aggregate,
    )


def _located(tool: str) -> Path | None:
    entry = SYSTEM_TOOLS.get(tool) or CACHED_TOOLS.get(tool)
    return entry.locate() if entry is not None else None


def _report(root: Path, names: ServiceNames, written: Sequence[Path], left: Sequence[str]) -> None:
    print(f"\nNew service {names.name} (slot {names.slot}, gateway prefix /{names.name}):")
    for path in written:
        print(f"  created  {path.relative_to(root)}")
    print(f"  changed  {REGISTRY} (its event {names.aggregate_class}CreatedV1)")
    for note in left:
        print(f"  TODO     {note}")
    print(
        "\nNext:\n"
        f"  make test-unit PYTEST_ARGS=services/{names.name}   its fast tests\n"
        "  make lint                                   everything is fresh and typed\n"
        f"  make up                                     then http://127.0.0.1:8080/{names.name}/docs\n"
        "  make test                                   its stack tests with the rest\n"
        f"  git add -A && git status                    review what was generated\n"
        "Then replace the template's "
        f"{names.aggregate} with your domain: docs/adding-a-service.md."
    )


if __name__ == "__main__":
    sys.exit(main())
