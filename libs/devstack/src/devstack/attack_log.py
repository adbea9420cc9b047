"""The attack suite's record (tests/security): each attack a test tried against the running
stack and the answer it got, printed together at the end of the run."""

from __future__ import annotations

from collections.abc import Callable

import httpx

__all__ = ["Attacks", "print_attacks"]

_TRIED: list[tuple[str, str, str]] = []
"""(test, attack, answer), in the order tried, for the whole run."""


class Attacks:
    """What one test tried and what it got."""

    def __init__(self, test: str) -> None:
        self._test = test

    def tried(self, attack: str, answer: httpx.Response | str) -> None:
        """Record an attempt; a response is shown as its status, problem type and detail."""
        shown = answer if isinstance(answer, str) else _shown(answer)
        _TRIED.append((self._test, attack, shown))


def print_attacks(write_line: Callable[[str], None]) -> None:
    test = None
    for name, attack, answer in _TRIED:
        if name != test:
            write_line(name)
            test = name
        write_line(f"  ATTACK {attack}")
        write_line(f"  ANSWER {answer}")


def _shown(response: httpx.Response) -> str:
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        return str(response.status_code)
    problem = response.json()
    return f"{response.status_code} {problem.get('type')}: {problem.get('detail', '')}"
