"""A service records the traces the standard OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG ask
for, and refuses to start on a sampler, an argument or the old variable it cannot honour."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import Decision, Sampler
from opentelemetry.trace import (
    INVALID_SPAN_CONTEXT,
    NonRecordingSpan,
    SpanContext,
    TraceFlags,
    set_span_in_context,
)
from pydantic import ValidationError

from servicekit.observability.sampling import (
    DEFAULT_SAMPLER,
    SAMPLERS,
    trace_sampler,
    trace_sampling,
)
from servicekit.observability.tracing import build_tracer_provider
from servicekit.settings import ServiceSettings, load_settings

ROOTS = 2_000  # new traces per check: enough that a tenth is 200 ± a few dozen


def _recorded(sampler: Sampler) -> int:
    """How many of ROOTS new traces (no parent) the sampler records; the trace ids spread
    evenly over the id space, as random ids do."""
    step = (1 << 64) // ROOTS
    return sum(
        sampler.should_sample(None, (n * step) | (1 << 64), "GET /").decision
        == Decision.RECORD_AND_SAMPLE
        for n in range(ROOTS)
    )


@pytest.mark.parametrize(
    ("name", "arg", "description", "share"),
    [
        ("always_on", None, "AlwaysOnSampler", 1.0),
        ("always_off", None, "AlwaysOffSampler", 0.0),
        ("traceidratio", "0.1", "TraceIdRatioBased{0.1}", 0.1),
        ("parentbased_always_on", None, "ParentBased{root:AlwaysOnSampler,", 1.0),
        ("parentbased_always_off", None, "ParentBased{root:AlwaysOffSampler,", 0.0),
        ("parentbased_traceidratio", "0.25", "ParentBased{root:TraceIdRatioBased{0.25},", 0.25),
    ],
)
def test_each_standard_sampler_records_its_share_of_new_traces(
    name: str, arg: str | None, description: str, share: float
) -> None:
    sampler = trace_sampler(name, arg)
    assert sampler.get_description().startswith(description)
    assert _recorded(sampler) == pytest.approx(share * ROOTS, abs=ROOTS * 0.02)


PARENTS = {
    "none": INVALID_SPAN_CONTEXT,
    **{
        f"{'remote' if remote else 'local'} {'sampled' if flags else 'unsampled'}": SpanContext(
            0x5CE1E, 0xB0A7, is_remote=remote, trace_flags=TraceFlags(flags)
        )
        for remote in (True, False)
        for flags in (TraceFlags.SAMPLED, TraceFlags.DEFAULT)
    },
}


@pytest.mark.parametrize("name", SAMPLERS)
@pytest.mark.parametrize("parent", PARENTS)
def test_the_decision_alone_is_the_sdk_samplers_decision(name: str, parent: str) -> None:
    sampling = trace_sampling(name, "0.3" if name.endswith("traceidratio") else None)
    sampler = sampling.sampler()
    parent_context = set_span_in_context(NonRecordingSpan(PARENTS[parent]))
    step = (1 << 64) // 512
    for n in range(512):
        trace_id = (n * step) | (7 << 64)
        decided = sampler.should_sample(parent_context, trace_id, "GET /").decision
        assert sampling.samples(PARENTS[parent], trace_id) == decided.is_sampled(), trace_id


def test_every_sampler_the_specification_names_is_known() -> None:
    assert set(SAMPLERS) == {
        "always_on", "always_off", "traceidratio",
        "parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio",
    }  # fmt: skip


def test_a_ratio_sampler_without_an_argument_records_every_trace() -> None:
    assert trace_sampler("traceidratio").get_description() == "TraceIdRatioBased{1.0}"
    assert trace_sampler("traceidratio", "  ").get_description() == "TraceIdRatioBased{1.0}"


def test_sampler_names_are_read_regardless_of_case_and_spaces() -> None:
    described = trace_sampler(" ParentBased_TraceIdRatio ", "0.5").get_description()
    assert described.startswith("ParentBased{root:TraceIdRatioBased{0.5},")


def test_an_unknown_sampler_names_the_ones_it_accepts() -> None:
    with pytest.raises(ValueError, match="OTEL_TRACES_SAMPLER='jaeger_remote'") as raised:
        trace_sampler("jaeger_remote")
    assert all(name in str(raised.value) for name in SAMPLERS)


@pytest.mark.parametrize("arg", ["a tenth", "1.5", "-0.1", "nan", "inf"])
def test_a_ratio_outside_zero_to_one_is_refused(arg: str) -> None:
    with pytest.raises(ValueError, match="is not a sampling ratio: use a number from 0"):
        trace_sampler("parentbased_traceidratio", arg)


@pytest.mark.parametrize("name", ["always_on", "parentbased_always_off"])
def test_an_argument_to_a_sampler_that_takes_none_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match=f"OTEL_TRACES_SAMPLER_ARG='0.1' means nothing to {name}"):
        trace_sampler(name, "0.1")


@pytest.fixture
def service_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("SERVICE_NAME", "probe")
    monkeypatch.setenv("DB_SCHEMA", "probe")
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://probe:pw@127.0.0.1:9/probe")
    for name in ("OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "OTEL_TRACES_SAMPLER_RATIO"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _provider_sampler(settings: ServiceSettings) -> str:
    provider: TracerProvider = build_tracer_provider(settings)
    try:
        return provider.sampler.get_description()
    finally:
        provider.shutdown()


def test_without_the_variables_a_service_follows_callers_and_records_every_new_trace(
    service_env: pytest.MonkeyPatch,
) -> None:
    settings = load_settings(ServiceSettings)
    assert settings.otel_traces_sampler == DEFAULT_SAMPLER
    assert _provider_sampler(settings).startswith("ParentBased{root:AlwaysOnSampler,")


def test_the_tracer_provider_samples_as_the_environment_says(
    service_env: pytest.MonkeyPatch,
) -> None:
    service_env.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    service_env.setenv("OTEL_TRACES_SAMPLER_ARG", "0.1")
    described = _provider_sampler(load_settings(ServiceSettings))
    assert described.startswith("ParentBased{root:TraceIdRatioBased{0.1},")


def test_an_unknown_sampler_in_the_environment_stops_the_start(
    service_env: pytest.MonkeyPatch,
) -> None:
    service_env.setenv("OTEL_TRACES_SAMPLER", "sometimes")
    with pytest.raises(ValidationError, match="OTEL_TRACES_SAMPLER='sometimes' is not a sampler"):
        load_settings(ServiceSettings)


def test_the_old_ratio_variable_stops_the_start_and_names_its_replacement(
    service_env: pytest.MonkeyPatch,
) -> None:
    service_env.setenv("OTEL_TRACES_SAMPLER_RATIO", "0.1")
    with pytest.raises(ValidationError) as raised:
        load_settings(ServiceSettings)
    message = str(raised.value)
    assert "OTEL_TRACES_SAMPLER_RATIO='0.1' is no longer read" in message
    assert "OTEL_TRACES_SAMPLER=parentbased_traceidratio" in message
    assert "OTEL_TRACES_SAMPLER_ARG=0.1" in message
