"""What the CLI reports about one profile's stack: each component's state (`devstack status`)
and, once `up` is done, where everything is and how to log in and stop it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from devstack.profiles import Profile
from devstack.routes import service_port
from devstack.stack import ADMIN_EMAIL, IDENTITY, Stack

__all__ = ["ComponentStatus", "component_statuses", "down_command", "up_summary"]


@dataclass(frozen=True)
class ComponentStatus:
    """One line of `devstack status`."""

    name: str
    running: bool
    pid: int | None
    port: int


def component_statuses(stack: Stack) -> list[ComponentStatus]:
    """Each component of the stack: running or not, its pid and port (`devstack status`)."""
    profile = stack.profile
    if not profile.root.exists():  # never started: do not create secrets just to look
        ports = [
            ("postgres", profile.postgres_port),
            ("kafka", profile.kafka_port),
            ("smtp-sink", profile.smtp_port),
        ]
        ports += [(name, service_port(profile, name, stack.routes)) for name in stack.service_names]
        ports.append(("gateway", profile.gateway_port))
        return [ComponentStatus(name, False, None, port) for name, port in ports]
    components = [
        ComponentStatus(
            "postgres", stack.postgres.is_running(), stack.postgres.pid(), profile.postgres_port
        ),
        ComponentStatus(
            "kafka",
            stack.kafka.is_running(),
            _pid_from(profile.pids / "kafka.pid") if stack.kafka.is_running() else None,
            profile.kafka_port,
        ),
        ComponentStatus(
            "smtp-sink", stack.smtp_sink.is_running(), stack.smtp_sink.pid(), profile.smtp_port
        ),
    ]
    for name in stack.service_names:
        service = stack.service(name)
        components.append(ComponentStatus(name, service.is_running(), service.pid(), service.port))
    components.append(
        ComponentStatus(
            "gateway", stack.gateway.is_running(), stack.gateway.pid(), profile.gateway_port
        )
    )
    if stack.observability or stack.prometheus.is_running() or stack.jaeger.is_running():
        components += [
            ComponentStatus(
                "prometheus",
                stack.prometheus.is_running(),
                stack.prometheus.pid(),
                profile.prometheus_port,
            ),
            ComponentStatus(
                "jaeger", stack.jaeger.is_running(), stack.jaeger.pid(), profile.jaeger_query_port
            ),
        ]
    return components


def up_summary(stack: Stack) -> str:
    """What `up` prints at the end: URLs, the admin login, where the logs are."""
    gateway = stack.gateway.url
    lines = [f"Flotilla is up (profile {stack.profile.name}).", "", f"  gateway   {gateway}"]
    lines += [
        f"  {r.service:<9} {gateway}{r.prefix}/docs"
        if r.public
        else f"  {r.service:<9} {stack.service(r.service).url}/docs  (internal: not at the gateway)"
        for r in stack.routes
    ]
    identity = next((r for r in stack.routes if r.service == IDENTITY), None)
    if identity is not None:
        body = f'{{"email":"{ADMIN_EMAIL}","password":"{stack.admin_password}"}}'
        lines += [
            "",
            "Admin login",
            f"  email     {ADMIN_EMAIL}",
            f"  password  {stack.admin_password}",
            f"  token     curl -s -X POST {gateway}{identity.prefix}/v1/tokens "
            f"-H 'content-type: application/json' -d '{body}'",
        ]
    if stack.observability:
        lines += [
            "",
            "Observability (docs/runbooks/, deploy/observability/)",
            f"  prometheus {stack.prometheus.url}  (alerts: {stack.prometheus.url}/alerts)",
            f"  kafka      {stack.kafka.metrics_url}  (broker metrics, Prometheus job kafka)",
            f"  jaeger     {stack.jaeger.url}/api/traces?service=orders  (query API)",
            f"  otlp       {stack.jaeger.otlp_endpoint}  (OTLP/HTTP, the services export here)",
        ]
    lines += [
        "",
        f"Logs        {stack.profile.logs}/  (gateway access log: {stack.gateway.access_log})",
        f"Stop        {down_command(stack.profile)}",
    ]
    return "\n".join(lines)


def down_command(profile: Profile) -> str:
    if profile.name == "local":
        return "make down"
    return f"python -m devstack down --profile {profile.name}"


def _pid_from(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
