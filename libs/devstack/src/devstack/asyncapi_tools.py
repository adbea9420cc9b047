"""AsyncAPI's own CLI on our AsyncAPI document: `make lint` validates it with the same parser
and rules every AsyncAPI tool uses, so a consumer team's generator reads what we publish.

    python -m devstack.asyncapi_tools validate     # exit 1 with the diagnostics on any warning

The CLI comes from the tool cache (`devstack.toolchain`, entry `asyncapi`); its usage metrics
are switched off with a config file of its own (it would otherwise try to reach the internet).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from devstack.profiles import REPO_ROOT
from devstack.toolchain import cache_root
from devstack.toolchain.catalog import CACHED_TOOLS

__all__ = ["ASYNCAPI_DOCUMENT", "asyncapi_cli", "main"]

ASYNCAPI_DOCUMENT = REPO_ROOT / "libs" / "contracts" / "src" / "contracts" / "asyncapi.yaml"


class AsyncApiToolMissing(RuntimeError):
    """The CLI is not in the tool cache; the message says how to get it."""


def asyncapi_cli(*args: str, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
    """Run the cached AsyncAPI CLI with `args`, without usage metrics."""
    binary = CACHED_TOOLS["asyncapi"].locate()
    if binary is None:
        raise AsyncApiToolMissing(f"the AsyncAPI CLI is missing: {CACHED_TOOLS['asyncapi'].fix}")
    settings = cache_root() / "asyncapi-settings"
    settings.mkdir(parents=True, exist_ok=True)
    metrics = settings / "analytics.json"
    metrics.write_text(
        json.dumps({"analyticsEnabled": "false", "infoMessageShown": "true", "userID": "-"})
    )
    env = {
        **os.environ,
        "ASYNCAPI_METRICS_CONFIG_PATH": str(metrics),
        "SUPPRESS_NO_CONFIG_WARNING": "1",
        "NODE_CONFIG_DIR": str(settings),
        "HOME": str(settings),  # its context file, not the user's
    }
    return subprocess.run(
        [str(binary), *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


def validate(document: Path = ASYNCAPI_DOCUMENT) -> tuple[bool, str]:
    """(valid with no warning, the CLI's diagnostics)."""
    result = asyncapi_cli("validate", str(document), "--fail-severity=warn")
    return result.returncode == 0, (result.stdout + result.stderr).strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.asyncapi_tools")
    parser.add_argument("command", choices=["validate"])
    parser.add_argument("document", nargs="?", type=Path, default=ASYNCAPI_DOCUMENT)
    args = parser.parse_args(argv)
    try:
        valid, output = validate(args.document)
    except AsyncApiToolMissing as error:
        print(error, file=sys.stderr)
        return 1
    if not valid:
        print(f"asyncapi validate {args.document}:\n{output}", file=sys.stderr)
        return 1
    print(f"asyncapi: {args.document} is valid (AsyncAPI CLI {CACHED_TOOLS['asyncapi'].version})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
