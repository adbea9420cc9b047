"""Per-request values that logs, errors and outgoing calls read without passing them around."""

from __future__ import annotations

import time
from contextvars import ContextVar

__all__ = [
    "current_request_id",
    "deadline_var",
    "remaining_budget_s",
    "request_id_var",
]

request_id_var: ContextVar[str | None] = ContextVar("flotilla_request_id", default=None)
deadline_var: ContextVar[float | None] = ContextVar("flotilla_deadline", default=None)


def current_request_id() -> str | None:
    return request_id_var.get()


def remaining_budget_s() -> float | None:
    deadline = deadline_var.get()
    if deadline is None:
        return None
    return max(0.0, deadline - time.monotonic())
