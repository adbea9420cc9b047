"""Which traces a service records: the standard `OTEL_TRACES_SAMPLER` and
`OTEL_TRACES_SAMPLER_ARG` (OpenTelemetry's SDK environment variables), read through the settings.

The SDK reads them itself only when it is given no sampler, and then answers a typo with a
warning and its default, every trace recorded; a service refuses to start instead, naming the
variable and the values it accepts. The names are the specification's; a ratio sampler's
argument is a number from 0 to 1 (1 when unset), and the others take no argument.

The access log follows the sampler (`servicekit.asgi.chassis`): a sampled request gets its line.
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

__all__ = ["DEFAULT_SAMPLER", "SAMPLERS", "trace_sampler"]

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


def trace_sampler(name: str, arg: str | None = None) -> Sampler:
    """The SDK sampler `OTEL_TRACES_SAMPLER=name` and `OTEL_TRACES_SAMPLER_ARG=arg` ask for;
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
        on_own = ALWAYS_ON if chosen.endswith("always_on") else ALWAYS_OFF
        return ParentBased(on_own) if chosen.startswith("parentbased_") else on_own
    ratio = TraceIdRatioBased(_ratio(given))
    return ParentBased(ratio) if chosen.startswith("parentbased_") else ratio


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
