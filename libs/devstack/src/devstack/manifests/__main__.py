"""`python -m devstack.manifests generate | check [--root <repository>]`.

generate   rewrite the generated files and blocks that differ from the manifests
check      exit 1 naming each stale file or block (fixed by `make deploy-generate`), else 0
An invalid manifest or a missing marker line exits 1 with its message.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from contracts.manifest import ManifestError
from devstack.manifests.blocks import BlockError
from devstack.manifests.files import ManifestSetError, expected_files, stale_files, write_files
from devstack.profiles import REPO_ROOT

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.manifests",
        description="Generate and check what the platform lists per service, from the "
        "services' manifests (services/<name>/src/<name>/service.toml).",
    )
    parser.add_argument("command", choices=["generate", "check"])
    parser.add_argument(
        "--root", type=Path, default=REPO_ROOT, help="the repository (default: this one)"
    )
    args = parser.parse_args(argv)
    try:
        files = expected_files(args.root)
    except (ManifestError, ManifestSetError, BlockError) as error:
        print(f"manifests: {error}", file=sys.stderr)
        return 1
    if args.command == "generate":
        for shown in write_files(files):
            print(f"manifests: updated {shown}")
        return 0
    problems = stale_files(files)
    if problems:
        print(f"manifests check failed ({len(problems)}):", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        print("Regenerate with `make deploy-generate`.", file=sys.stderr)
        return 1
    print(f"manifests: {len(files)} generated files are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
