"""How a failed outgoing call reaches the caller's own client: as a problem (RFC 9457).

Both are `ProblemError`s, so a handler that lets them propagate answers 503 or 504 without
any handler of its own.
"""

from __future__ import annotations

import math

from servicekit.errors import ProblemError, ServiceUnavailable

__all__ = ["DeadlineExceeded", "DownstreamTimeout", "DownstreamUnavailable"]


class DownstreamUnavailable(ServiceUnavailable):
    """503: the breaker is open, or the downstream could not be reached or kept failing."""

    def __init__(self, downstream: str, detail: str, *, retry_after_s: float = 1.0) -> None:
        seconds = max(1, math.ceil(retry_after_s))
        super().__init__(
            detail,
            headers={"Retry-After": str(seconds)},
            extensions={"dependency": downstream},
        )
        self.downstream = downstream
        self.retry_after_s = retry_after_s


class DownstreamTimeout(ProblemError):
    """504: the downstream did not answer within the attempt's timeout."""

    status = 504
    slug = "dependency-timeout"

    def __init__(self, downstream: str, detail: str) -> None:
        super().__init__(detail, extensions={"dependency": downstream})
        self.downstream = downstream


class DeadlineExceeded(DownstreamTimeout):
    """504: the call's overall deadline (or the caller's own budget) was spent."""

    slug = "deadline-exceeded"
