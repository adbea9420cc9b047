"""Which traces a service records: the standard `OTEL_TRACES_SAMPLER` and
`OTEL_TRACES_SAMPLER_ARG` (OpenTelemetry's SDK environment variables), read through the settings.

The SDK reads them itself only when it is given no sampler, and then answers a typo with a
warning and its default, every trace recorded; a service refuses to start instead, naming the
variable and the values it accepts. The names are the specification's; a ratio sampler's
argument is a number from 0 to 1 (1 when unset), and the others take no argument.

The access log follows the sampler (`servicekit.asgi.chassis`): a sampled request gets its line.
The chassis decides a request's sampling before its span exists (`TraceSampling.samples`,
`servicekit.observability.server_spans`), by the same rule as the SDK sampler it is paired with.
"""

from __future__ import annotations

import math

from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import SpanContext

__all__ = ["DEFAULT_SAMPLER", "SAMPLERS", "TraceSampling", "trace_sampler", "trace_sampling"]

DEFAULT_SAMPLER = "parentbased_always_on"
"""The specification's default: follow a caller's decision, record every new trace."""
_RATIO_SAMPLERS = ("traceidratio", "parentbased_traceidratio")
SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)


_TRACE_ID_LIMIT = TraceIdRatioBased.TRACE_ID_LIMIT


class TraceSampling:
    """One of the specification's samplers: whether it follows a caller's decision, and the
    share of new traces it records (1 for `always_on`, 0 for `always_off`).

    `sampler()` is the SDK's sampler; `samples()` is its decision for a new span alone, without
    the `SamplingResult` the SDK builds around it: a new trace is recorded when the low 64 bits
    of its id fall under the ratio's bound (`TraceIdRatioBased`'s rule, which `always_on` and
    `always_off` meet with a bound of all or none), a parent's trace as the parent was.
    """

    __slots__ = ("_bound", "follows_parent", "name", "ratio")

    def __init__(self, name: str, ratio: float) -> None:
        self.name = name
        self.ratio = ratio
        self.follows_parent = name.startswith("parentbased_")
        self._bound = TraceIdRatioBased.get_bound_for_rate(ratio)

    def sampler(self) -> Sampler:
        if self.name.endswith("traceidratio"):
            root: Sampler = TraceIdRatioBased(self.ratio)
        else:
            root = ALWAYS_ON if self.ratio == 1.0 else ALWAYS_OFF
        return ParentBased(root) if self.follows_parent else root

    def samples(self, parent: SpanContext, trace_id: int) -> bool:
        """Whether a span of `trace_id` under `parent` (invalid when it has none) is recorded:
        what `sampler().should_sample` decides for it."""
        if self.follows_parent and parent.is_valid:
            return parent.trace_flags.sampled
        return trace_id & _TRACE_ID_LIMIT < self._bound


def trace_sampler(name: str, arg: str | None = None) -> Sampler:
    """The SDK sampler `OTEL_TRACES_SAMPLER=name` and `OTEL_TRACES_SAMPLER_ARG=arg` ask for;
    raises `ValueError` saying what is wrong and what is accepted."""
    return trace_sampling(name, arg).sampler()


def trace_sampling(name: str, arg: str | None = None) -> TraceSampling:
    """The sampling `OTEL_TRACES_SAMPLER=name` and `OTEL_TRACES_SAMPLER_ARG=arg` ask for;
    raises `ValueError` saying what is wrong and what is accepted."""
    chosen = name.strip().lower()
    if chosen not in SAMPLERS:
        raise ValueError(
            f"OTEL_TRACES_SAMPLER={name!r} is not a sampler this service knows: "
            f"use one of {', '.join(SAMPLERS)}"
        )
    given = arg.strip() if arg is not None and arg.strip() else None
    if chosen not in _RATIO_SAMPLERS:
        if given is not None:
            raise ValueError(
                f"OTEL_TRACES_SAMPLER_ARG={arg!r} means nothing to {chosen}: unset it, or use "
                f"{' or '.join(_RATIO_SAMPLERS)} to sample that share of traces"
            )
        return TraceSampling(chosen, 1.0 if chosen.endswith("always_on") else 0.0)
    return TraceSampling(chosen, _ratio(given))


def _ratio(arg: str | None) -> float:
    if arg is None:
        return 1.0
    try:
        ratio = float(arg)
    except ValueError:
        ratio = math.nan
    if not 0.0 <= ratio <= 1.0:  # also refuses nan
        raise ValueError(
            f"OTEL_TRACES_SAMPLER_ARG={arg!r} is not a sampling ratio: use a number from 0 "
            "(no new trace) to 1 (every new trace), e.g. 0.1"
        )
    return ratio
