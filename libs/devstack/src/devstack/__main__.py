"""`python -m devstack {up,down,reset,status,restart,dev} [--profile P]` (also the `devstack`
script)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from devstack.devloop import dev, restart
from devstack.profiles import profile, profile_names
from devstack.reset import reset
from devstack.routes import RouteTableError
from devstack.stack import Stack, StackError
from devstack.status import component_statuses, down_command, up_summary

__all__ = ["main"]

_DESCRIPTION = """\
Run Flotilla's local platform without Docker: Postgres, Kafka, every service in
deploy/routes.yaml and the nginx gateway, all on 127.0.0.1, with data, logs, pid files and
secrets under .run/<profile>/.

up      start whatever is not running yet and wait until the gateway serves every route;
        safe to run again. On a failure it stops at the failing step with a one-line reason
        and the last log lines, exits 1, and leaves what already runs in place for
        inspection: `make down` (or `devstack down --profile ...`) cleans up.
down    stop the gateway, the services, Kafka and Postgres, in that order; nothing is left
        running, also when some components had already died. Data is kept.
reset   down, then delete the stack's data (Postgres, Kafka, mail, secrets); logs stay.
status  one line per component; exits 0 when everything runs, 3 otherwise.

up --without orders[,payments]   (or FLOTILLA_WITHOUT=orders; `make up WITHOUT=orders`)
        the stack without those services (stopped if they run); the gateway answers their
        routes with a 502 problem.
restart SERVICE   stop one service of the running stack and start it again from the current
        code; returns once its /readyz answers (`make restart SERVICE=orders`).
dev SERVICE       run one service from source in the foreground with uvicorn --reload, on the
        port and with the environment and secrets the stack gives it, so the gateway routes
        to it; Ctrl-C stops it (`make dev SERVICE=orders`). The stack's copy is stopped first
        and not started again afterwards: `restart` does that.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="devstack",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["up", "down", "reset", "status", "restart", "dev"])
    parser.add_argument("service", nargs="?", help="the service of `restart` and `dev`")
    parser.add_argument(
        "--without",
        default=os.environ.get("FLOTILLA_WITHOUT", ""),
        help="`up` only: services to leave out, comma-separated (default: $FLOTILLA_WITHOUT)",
    )
    parser.add_argument(
        "--profile",
        default="local",
        choices=profile_names(),
        help="which stack: `local` (make up), `test` (make test), `bench` (make bench), "
        "or the spares `dev-a` to `dev-d`",
    )
    parser.add_argument(
        "--watch",
        action="append",
        default=[],
        type=Path,
        help="`dev` only: a further folder whose changes reload the service (repeatable)",
    )
    args = parser.parse_args(argv)
    chosen = profile(args.profile)
    needs_service = args.command in ("restart", "dev")
    if needs_service and not args.service:
        parser.error(f"`{args.command}` needs a service, e.g. `{args.command} orders`")
    if args.service and not needs_service:
        parser.error(f"`{args.command}` takes no service")
    try:
        stack = Stack(chosen)
        if args.command == "up":
            return _up(
                stack, frozenset(name.strip() for name in args.without.split(",") if name.strip())
            )
        if args.command == "restart":
            restart(stack, args.service, progress=_say)
            return 0
        if args.command == "dev":
            return dev(stack, args.service, progress=_say, watch=args.watch)
        if args.command == "down":
            return _down(stack)
        if args.command == "reset":
            deleted = reset(stack, progress=_say)
            print(f"the {chosen.name} stack is stopped and its data deleted ({len(deleted)} items)")
            return 0
        return _status(stack)
    except (RouteTableError, StackError) as error:
        _fail(str(error))
        return 1
    except KeyboardInterrupt:
        _fail(f"interrupted; `{down_command(chosen)}` stops what already started")
        return 130


def _up(stack: Stack, without: frozenset[str]) -> int:
    try:
        stack.up(progress=_say, without=without)
    except StackError as error:
        _fail(str(error))
        print(
            f"what already started is still running for inspection; "
            f"`{down_command(stack.profile)}` stops it",
            file=sys.stderr,
        )
        return 1
    print()
    print(up_summary(stack))
    return 0


def _down(stack: Stack) -> int:
    stack.down(progress=_say)
    kept = {stack.profile.root, stack.profile.server_dir("postgres")}
    print(
        f"the {stack.profile.name} stack is stopped (data kept in "
        f"{' and '.join(str(folder) for folder in sorted(kept))}; `make reset` deletes it)"
    )
    return 0


def _status(stack: Stack) -> int:
    components = component_statuses(stack)
    for component in components:
        state = "running" if component.running else "stopped"
        pid = f"pid {component.pid}" if component.pid is not None else "-"
        print(f"{component.name:<10} {state:<8} {pid:<11} port {component.port}")
    return 0 if all(component.running for component in components) else 3


def _say(line: str) -> None:
    print(line, flush=True)


def _fail(message: str) -> None:
    first, _, rest = message.partition("\n")
    print(f"error: {first}", file=sys.stderr)
    if rest:
        print(rest, file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
