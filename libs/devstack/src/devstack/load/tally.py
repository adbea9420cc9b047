"""What the load did: each request's latency by operation, and each outcome counted."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

__all__ = ["Tally", "Window", "percentile"]


def percentile(sorted_values: list[float], q: float) -> float:
    """The nearest-rank percentile `q` (0 to 100) of already sorted values; NaN when empty."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class Window:
    """Requests since the last progress line."""

    latencies_ms: list[float] = field(default_factory=list)
    failures: int = 0


@dataclass
class Tally:
    """Every request and journey of a run. Not thread-safe: one event loop records into it."""

    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    """Operation (e.g. "POST /orders") → each answer's latency."""
    answers: Counter[str] = field(default_factory=Counter)
    """"200", "429", "503", "no answer" … → how many requests got it."""
    failures: Counter[str] = field(default_factory=Counter)
    """Operation → requests that got no answer or an answer it did not expect."""
    shed: Counter[str] = field(default_factory=Counter)
    """Operation → 429/503 answers with Retry-After (sent again after the wait)."""
    journeys: Counter[str] = field(default_factory=Counter)
    """Journey name → how many started."""
    orders: Counter[str] = field(default_factory=Counter)
    """Final order status (or "still open", "refused") → how many."""
    order_final_ms: list[float] = field(default_factory=list)
    """Each final order's time from its POST to its final state (the order's own history)."""
    dropped: int = 0
    """Arrivals not started because too many journeys were still in flight."""
    window: Window = field(default_factory=Window)

    def request(self, operation: str, answer: str, latency_ms: float, *, expected: bool) -> None:
        self.latencies_ms.setdefault(operation, []).append(latency_ms)
        self.answers[answer] += 1
        self.window.latencies_ms.append(latency_ms)
        if not expected:
            self.failures[operation] += 1
            self.window.failures += 1

    def take_window(self) -> Window:
        window, self.window = self.window, Window()
        return window

    @property
    def requests(self) -> int:
        return sum(self.answers.values())
