"""`python3 -m devstack.toolchain.step --what W --estimate E -- COMMAND...`: run one long make
step with a start line and a heartbeat (see `progress.run_step`); exits with 1 and the log's tail
when the command fails."""

from __future__ import annotations

import argparse
import sys

from devstack.toolchain.progress import StepFailed, run_step

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m devstack.toolchain.step")
    parser.add_argument("--what", required=True)
    parser.add_argument("--estimate", required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command after --")
    try:
        run_step(command, what=args.what, estimate=args.estimate)
    except StepFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
