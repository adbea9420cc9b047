"""`python -m contracts generate | check`.

generate   write the JSON Schemas and asyncapi.yaml from the registry and deploy/topics.yaml,
           and the package's copy of deploy/topics.yaml (topics.yaml)
check      exit 1, naming each problem, when a committed file is stale, a published schema
           changed incompatibly, or the registry and the topic file disagree; else exit 0
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from contracts.artifacts import expected_files, shown, write_files
from contracts.checks import incompatible_changes, registry_problems, stale_files
from contracts.registry import EVENT_TYPES
from contracts.topology import TopologyError, load_topology

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m contracts",
        description="Generate and check the committed event contracts (JSON Schema, AsyncAPI).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("generate", help="write schemas/*.json and asyncapi.yaml")
    commands.add_parser("check", help="fail on stale files and incompatible changes")
    command = parser.parse_args(argv).command
    try:
        topology = load_topology()
    except TopologyError as error:
        print(f"contracts: {error}", file=sys.stderr)
        return 1
    expected = expected_files(EVENT_TYPES, topology)
    if command == "generate":
        changed = write_files(expected)
        for path in changed:
            print(f"contracts: updated {shown(path)}")
        if not changed:
            print("contracts: up to date")
        return 0
    problems = [
        *registry_problems(EVENT_TYPES, topology),
        *stale_files(expected),
        *incompatible_changes(EVENT_TYPES),
    ]
    if problems:
        print(f"contracts check failed ({len(problems)}):", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        print(
            "Regenerate with `make contracts`; a breaking change is a new major version (.v2) "
            "published beside the old one.",
            file=sys.stderr,
        )
        return 1
    print(f"contracts: {len(EVENT_TYPES)} event types, {len(topology.topics)} topics: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
