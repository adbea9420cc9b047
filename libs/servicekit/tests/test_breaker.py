"""The circuit breaker's state machine, on a fake clock: no sleeps, no network."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from prometheus_client import REGISTRY

from servicekit.resilience.breaker import (
    BreakerPolicy,
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
    StateChange,
)

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Boom(Exception):
    pass


class Answered(Exception):
    """The downstream answered, unhappily (think HTTP 404): not its failure."""


POLICY = BreakerPolicy(
    window_s=10.0,
    minimum_calls=4,
    failure_rate_threshold=0.5,
    open_wait_s=5.0,
    open_wait_jitter=0.2,
    half_open_max_calls=2,
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def changes() -> list[StateChange]:
    return []


def _breaker(
    clock: FakeClock, changes: list[StateChange], policy: BreakerPolicy = POLICY
) -> CircuitBreaker:
    return CircuitBreaker(
        f"test-{uuid.uuid4().hex[:8]}",
        policy,
        is_failure=lambda error: not isinstance(error, Answered),
        on_state_change=changes.append,
        clock=clock,
        rng=lambda: 1.0,  # the longest wait: open_wait_s * (1 + jitter)
    )


async def _succeed(breaker: CircuitBreaker, clock: FakeClock, duration_s: float = 0.0) -> None:
    async with breaker.guard():
        clock.advance(duration_s)


async def _fail(
    breaker: CircuitBreaker, clock: FakeClock, error: Exception | None = None, duration_s: float = 0
) -> None:
    async def failing() -> None:
        clock.advance(duration_s)
        raise error or Boom

    with pytest.raises(type(error) if error else Boom):
        await breaker.call(failing)


def _metric(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def _open(breaker: CircuitBreaker, clock: FakeClock) -> None:
    for _ in range(POLICY.minimum_calls):
        await _fail(breaker, clock)
    assert breaker.state is CircuitState.OPEN


async def test_failures_below_the_minimum_number_of_calls_never_open_it(
    clock: FakeClock, changes: list[StateChange]
) -> None:
    breaker = _breaker(clock, changes)
    for _ in range(POLICY.minimum_calls - 1):
        await _fail(breaker, clock)
    assert breaker.state is CircuitState.CLOSED
    assert breaker.snapshot().failure_rate == 1.0
    await _fail(breaker, clock)
    assert breaker.state is CircuitState.OPEN
    assert [(c.from_state, c.to_state) for c in changes] == [
        (CircuitState.CLOSED, CircuitState.OPEN)
    ]


async def test_it_opens_at_the_failure_rate_threshold_not_below(
    clock: FakeClock, changes: list[StateChange]
) -> None:
    breaker = _breaker(clock, changes)
    for _ in range(3):
        await _succeed(breaker, clock)
    await _fail(breaker, clock)
    await _fail(breaker, clock)  # 2 of 5: 40 %
    assert breaker.state is CircuitState.CLOSED
    await _fail(breaker, clock)  # 3 of 6: 50 %
    assert breaker.state is CircuitState.OPEN


async def test_outcomes_older_than_the_window_are_forgotten(
    clock: FakeClock, changes: list[StateChange]
) -> None:
    breaker = _breaker(clock, changes)
    for _ in range(3):
        await _fail(breaker, clock)
    clock.advance(POLICY.window_s + 1)
    assert breaker.snapshot().calls == 0
    await _fail(breaker, clock)
    assert breaker.state is CircuitState.CLOSED


async def test_an_open_breaker_fails_fast_without_calling(
    clock: FakeClock, changes: list[StateChange]
) -> None:
    breaker = _breaker(clock, changes)
    await _open(breaker, clock)
    rejected_before = _metric(
        "flotilla_circuit_breaker_calls_total", {"name": breaker.name, "outcome": "rejected"}
    )
    calls = 0

    async def downstream() -> str:
        nonlocal calls
        calls += 1
        return "answer"

    clock.advance(1.0)
    with pytest.raises(CircuitOpenError) as refused:
        await breaker.call(downstream)
    assert calls == 0
    assert refused.value.retry_after_s == pytest.approx(5.0 * 1.2 - 1.0)
    assert breaker.retry_after_s() == pytest.approx(5.0)
    after = _metric(
        "flotilla_circuit_breaker_calls_total", {"name": breaker.name, "outcome": "rejected"}
    )
    assert after == rejected_before + 1
    assert _metric("flotilla_circuit_breaker_state", {"name": breaker.name}) == 1


async def test_the_open_wait_is_jittered(clock: FakeClock, changes: list[StateChange]) -> None:
    waits = []
    for draw in (0.0, 0.5, 1.0):
        breaker = CircuitBreaker("jitter", POLICY, clock=clock, rng=lambda d=draw: d)
        await _open(breaker, clock)
        waits.append(breaker.retry_after_s())
    assert waits == pytest.approx([4.0, 5.0, 6.0])


async def test_successful_probes_close_it(clock: FakeClock, changes: list[StateChange]) -> None:
    breaker = _breaker(clock, changes)
    await _open(breaker, clock)
    clock.advance(6.0)
    assert breaker.state is CircuitState.HALF_OPEN

    assert await breaker.call(asyncio.sleep, 0, "probe") == "probe"
    assert breaker.state is CircuitState.HALF_OPEN  # one probe of two so far
    await _succeed(breaker, clock)
    assert breaker.state is CircuitState.CLOSED
    assert breaker.snapshot().calls == 0  # a fresh start
    assert [(c.from_state, c.to_state) for c in changes] == [
        (CircuitState.CLOSED, CircuitState.OPEN),
        (CircuitState.OPEN, CircuitState.HALF_OPEN),
        (CircuitState.HALF_OPEN, CircuitState.CLOSED),
    ]
    closed = {"name": breaker.name, "from_state": "half_open", "to_state": "closed"}
    assert _metric("flotilla_circuit_breaker_transitions_total", closed) == 1
    assert _metric("flotilla_circuit_breaker_state", {"name": breaker.name}) == 0


async def test_a_failed_probe_reopens_it(clock: FakeClock, changes: list[StateChange]) -> None:
    breaker = _breaker(clock, changes)
    await _open(breaker, clock)
    clock.advance(6.0)
    await _succeed(breaker, clock)
    await _fail(breaker, clock)
    assert breaker.state is CircuitState.OPEN
    assert breaker.retry_after_s() == pytest.approx(6.0)
    assert changes[-1].from_state is CircuitState.HALF_OPEN


async def test_half_open_admits_only_the_allowed_number_of_probes(
    clock: FakeClock, changes: list[StateChange]
) -> None:
    breaker = _breaker(clock, changes)
    await _open(breaker, clock)
    clock.advance(6.0)
    release = asyncio.Event()

    async def probe() -> None:
        async with breaker.guard():
            await release.wait()

    probes = [asyncio.create_task(probe()) for _ in range(POLICY.half_open_max_calls)]
    await asyncio.sleep(0)
    with pytest.raises(CircuitOpenError):
        await _succeed(breaker, clock)
    release.set()
    await asyncio.gather(*probes)
    assert breaker.state is CircuitState.CLOSED


async def test_a_cancelled_probe_gives_its_slot_back(
    clock: FakeClock, changes: list[StateChange]
) -> None:
    breaker = _breaker(clock, changes)
    await _open(breaker, clock)
    clock.advance(6.0)

    async def hang() -> None:
        async with breaker.guard():
            await asyncio.Event().wait()

    hung = [asyncio.create_task(hang()) for _ in range(POLICY.half_open_max_calls)]
    await asyncio.sleep(0)
    for task in hung:
        task.cancel()
    await asyncio.gather(*hung, return_exceptions=True)
    assert breaker.state is CircuitState.HALF_OPEN
    await _succeed(breaker, clock)
    await _succeed(breaker, clock)
    assert breaker.state is CircuitState.CLOSED


async def test_slow_calls_open_it_through_the_slow_call_rate(
    clock: FakeClock, changes: list[StateChange]
) -> None:
    policy = BreakerPolicy(
        window_s=60.0,
        minimum_calls=4,
        slow_call_duration_s=2.0,
        slow_call_rate_threshold=0.75,
        open_wait_s=5.0,
    )
    breaker = _breaker(clock, changes, policy)
    await _succeed(breaker, clock, duration_s=0.1)
    await _succeed(breaker, clock, duration_s=2.5)
    await _succeed(breaker, clock, duration_s=3.0)
    assert breaker.state is CircuitState.CLOSED  # 3 calls: below the minimum
    await _succeed(breaker, clock, duration_s=2.0)  # 3 slow of 4: 75 %
    assert breaker.state is CircuitState.OPEN
    assert breaker.snapshot().failures == 0
    slow = _metric(
        "flotilla_circuit_breaker_calls_total", {"name": breaker.name, "outcome": "slow"}
    )
    assert slow == 3


async def test_a_slow_probe_reopens_it(clock: FakeClock, changes: list[StateChange]) -> None:
    policy = BreakerPolicy(minimum_calls=1, slow_call_duration_s=1.0, open_wait_s=5.0)
    breaker = _breaker(clock, changes, policy)
    await _fail(breaker, clock)
    clock.advance(6.0)
    await _succeed(breaker, clock, duration_s=1.5)
    assert breaker.state is CircuitState.OPEN


async def test_excluded_exceptions_do_not_count_as_failures(
    clock: FakeClock, changes: list[StateChange]
) -> None:
    breaker = _breaker(clock, changes)
    for _ in range(10):
        await _fail(breaker, clock, Answered())
    assert breaker.state is CircuitState.CLOSED
    window = breaker.snapshot()
    assert (window.calls, window.failures) == (10, 0)
    assert changes == []


async def test_an_excluded_exception_is_a_successful_probe(
    clock: FakeClock, changes: list[StateChange]
) -> None:
    breaker = _breaker(clock, changes)
    await _open(breaker, clock)
    clock.advance(6.0)
    await _fail(breaker, clock, Answered())
    await _fail(breaker, clock, Answered())
    assert breaker.state is CircuitState.CLOSED


async def test_late_outcomes_of_calls_admitted_before_opening_do_not_decide_the_state(
    clock: FakeClock, changes: list[StateChange]
) -> None:
    breaker = _breaker(clock, changes)
    release = asyncio.Event()

    async def slow_failure() -> None:
        async with breaker.guard():
            await release.wait()
            raise Boom

    straggler = asyncio.create_task(slow_failure())
    await asyncio.sleep(0)
    await _open(breaker, clock)
    clock.advance(6.0)
    await _succeed(breaker, clock)  # a probe
    release.set()
    with pytest.raises(Boom):
        await straggler
    assert breaker.state is CircuitState.HALF_OPEN
    await _succeed(breaker, clock)
    assert breaker.state is CircuitState.CLOSED


async def test_a_failing_state_change_callback_does_not_break_the_breaker(
    clock: FakeClock,
) -> None:
    def explode(change: StateChange) -> None:
        raise RuntimeError("observer bug")

    breaker = CircuitBreaker("callback", POLICY, on_state_change=explode, clock=clock)
    await _open(breaker, clock)
    assert breaker.state is CircuitState.OPEN


@pytest.mark.parametrize(
    "kwargs",
    [
        {"window_s": 0},
        {"bucket_s": 20.0, "window_s": 10.0},
        {"minimum_calls": 0},
        {"failure_rate_threshold": 0},
        {"slow_call_rate_threshold": 1.5},
        {"slow_call_duration_s": -1.0},
        {"open_wait_jitter": 1.0},
        {"half_open_max_calls": 0},
    ],
)
def test_nonsensical_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must|need"):
        BreakerPolicy(**kwargs)  # type: ignore[arg-type]
