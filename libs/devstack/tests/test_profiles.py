"""The stacks' ports: distinct across profiles (they run side by side), and below the kernel's
ephemeral port range, so an outgoing connection can never be holding one of them when a stack
starts (Postgres or nginx would then fail with "address already in use", once in a while). The
bench stack samples traces as production does, so `make bench` measures what production runs."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from devstack.profiles import REPO_ROOT, Profile, profile, profile_names
from devstack.services import service_environment

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
SERVICES_PER_STACK = 10  # room for the route table's services above first_service_port


def _ports(stack: Profile) -> set[int]:
    ports = {getattr(stack, field.name) for field in fields(stack) if field.name.endswith("_port")}
    ports |= set(range(stack.first_service_port, stack.first_service_port + SERVICES_PER_STACK))
    return ports - {0}


def test_no_two_profiles_share_a_port() -> None:
    seen: dict[int, str] = {}
    for name in profile_names():
        for port in _ports(profile(name)):
            assert port not in seen, f"port {port} of {name} is also {seen[port]}'s"
            seen[port] = name


@pytest.mark.skipif(not EPHEMERAL_RANGE.exists(), reason="Linux only")
def test_every_port_is_below_the_ephemeral_range() -> None:
    low = int(EPHEMERAL_RANGE.read_text().split()[0])
    for name in profile_names():
        inside = sorted(port for port in _ports(profile(name)) if port >= low)
        assert not inside, f"{name} listens on ephemeral ports {inside} (range starts at {low})"


def _production_sampling() -> tuple[str, str]:
    """The sampler and its ratio of the production Helm values."""
    values = yaml.safe_load((REPO_ROOT / "deploy/helm/flotilla/values-prod.yaml").read_text())
    flotilla = values["global"]["flotilla"]
    return flotilla["tracesSampler"], flotilla["tracesSamplerArg"]


def _environment_on(profile_name: str) -> dict[str, str]:
    """What a service of the `profile_name` stack runs with."""
    return service_environment(
        profile=profile(profile_name),
        service="orders",
        port=1,
        prefix="/orders",
        database_password="unused",
        identity_port=2,
        git_sha="unused",
    )


def test_the_bench_stack_samples_traces_as_production_does() -> None:
    env = _environment_on("bench")
    assert (env["OTEL_TRACES_SAMPLER"], env["OTEL_TRACES_SAMPLER_ARG"]) == _production_sampling()


def test_a_developer_stack_samples_every_trace() -> None:
    assert "OTEL_TRACES_SAMPLER" not in _environment_on("local")  # servicekit's default
