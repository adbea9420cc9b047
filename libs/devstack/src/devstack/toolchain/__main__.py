"""`python3 -m devstack.toolchain {doctor,ensure,path}` — what `make doctor` and every target's
install step run (standard library only: it works before the virtualenv exists).

doctor [--for TARGET]     one line per tool: needed by, from where, present, version; exits 1
                          naming each missing tool and the command that installs it
ensure (--for TARGET | TOOL...)
                          install what is missing (apt packages, Go builds into the cache)
path TOOL                 print where a tool is (exit 1 when it is not there)
"""

from __future__ import annotations

import argparse
import sys

from devstack.toolchain.cache import cache_root
from devstack.toolchain.catalog import (
    CACHED_TOOLS,
    SYSTEM_TOOLS,
    TARGETS,
    needed_by,
    tools_for,
    version_of,
)
from devstack.toolchain.install import InstallError, ensure

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m devstack.toolchain",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    doctor = sub.add_parser("doctor", help="report every tool; exit 1 if one is missing")
    doctor.add_argument("--for", dest="target", choices=sorted(TARGETS))
    install = sub.add_parser("ensure", help="install what is missing")
    install.add_argument("--for", dest="target", choices=sorted(TARGETS))
    install.add_argument("tools", nargs="*")
    where = sub.add_parser("path", help="where a tool is")
    where.add_argument("tool")
    args = parser.parse_args(argv)
    try:
        if args.command == "doctor":
            return _doctor(args.target)
        if args.command == "ensure":
            names = tools_for(args.target) if args.target else list(args.tools)
            _check_known(names)
            ensure(names)
            return _doctor(args.target, only=names, quiet=True)
        return _path(args.tool)
    except (InstallError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _check_known(names: list[str]) -> None:
    unknown = [name for name in names if name not in SYSTEM_TOOLS and name not in CACHED_TOOLS]
    if unknown:
        raise KeyError(f"unknown tools {', '.join(unknown)}; known: {', '.join(_all_tools())}")


def _all_tools() -> list[str]:
    return [*SYSTEM_TOOLS, *CACHED_TOOLS]


def _doctor(target: str | None, only: list[str] | None = None, quiet: bool = False) -> int:
    names = only if only is not None else (tools_for(target) if target else _all_tools())
    rows: list[tuple[str, str, str, str, str]] = []
    missing: list[str] = []
    for name in names:
        tool = SYSTEM_TOOLS.get(name) or CACHED_TOOLS[name]
        found = tool.locate()
        if found is None:
            missing.append(f"  {name}: {tool.fix}")
        rows.append(
            (
                name,
                ",".join(needed_by(name)),
                tool.source,
                "ok" if found else "MISSING",
                f"{version_of(name, found)}  [{found}]" if found else "",
            )
        )
    if not quiet or missing:
        header = ("tool", "needed by", "comes from", "status", "version  [path]")
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
        for row in [header, *rows]:
            print(
                "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4]
            )
        print(f"cache: {cache_root()}")
    if missing:
        print("missing, and the command that installs each:", file=sys.stderr)
        print("\n".join(missing), file=sys.stderr)
        return 1
    return 0


def _path(name: str) -> int:
    tool = SYSTEM_TOOLS.get(name) or CACHED_TOOLS.get(name)
    if tool is None:
        print(f"error: unknown tool {name!r}", file=sys.stderr)
        return 1
    found = tool.locate()
    if found is None:
        print(f"error: {name} is not there: {tool.fix}", file=sys.stderr)
        return 1
    print(found)
    return 0


if __name__ == "__main__":
    sys.exit(main())
