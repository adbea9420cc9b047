"""An authenticated, authorised local broker: SASL/SCRAM-SHA-512 and KRaft's StandardAuthorizer.

    clients      SASL_PLAINTEXT listener on loopback; one SCRAM principal per service, plus
                 `admin` (devstack itself and the tests: topics, ACLs) — a super user
    controller   its own listener, SASL/PLAIN with a `controller` principal (SCRAM cannot
                 authenticate the controller: its credentials live in the metadata log the
                 controller serves) — a super user, so the node can talk to itself
    everyone     else is refused: `allow.everyone.if.no.acl.found=false`

SCRAM credentials are written into the metadata log when storage is formatted
(`kafka-storage format --add-scram`), so they exist before the broker accepts a connection;
the principals formatted are recorded in `scram-users`, and a principal added later (a new
service) needs a fresh broker (`python -m devstack reset`). ACLs come from the topic file
(`contracts.acls`) and are synchronised with the admin principal on every `up`: missing ones
created, any other deleted.

No TLS locally: the listener binds loopback only, and SCRAM never sends the password (a
salted challenge-response), so TLS would add a CA and certificates to manage while protecting
nothing that leaves this machine. The Kubernetes chart uses SASL_SSL with Strimzi's cluster CA.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import for_code
from aiokafka.protocol.admin import (
    CreateAclsRequest_v1,
    DeleteAclsRequest_v1,
    DescribeAclsRequest_v1,
)

from contracts.acls import Grant

__all__ = [
    "ADMIN",
    "CONTROLLER",
    "MECHANISM",
    "BrokerAuth",
    "password_secret",
    "service_kafka_env",
    "sync_acls",
]

ADMIN = "admin"
CONTROLLER = "controller"
MECHANISM = "SCRAM-SHA-512"
SCRAM_USERS_FILE = "scram-users"

# Kafka's wire codes (org.apache.kafka.common.acl / resource): the ACL API takes numbers.
_RESOURCE_TYPE = {"topic": 2, "group": 3, "cluster": 4}
_OPERATION = {"Read": 3, "Write": 4, "Describe": 8, "IdempotentWrite": 12}
_PATTERN_LITERAL = 3
_PERMISSION_ALLOW = 3


@dataclass(frozen=True)
class BrokerAuth:
    """The broker's principals and their passwords (never shown by `repr`)."""

    admin_password: str = field(repr=False)
    controller_password: str = field(repr=False)
    users: Mapping[str, str] = field(repr=False)
    """Service principal → password."""

    def __post_init__(self) -> None:
        for name, password in {ADMIN: self.admin_password, **self.users}.items():
            # `--add-scram` parses `[name=...,password=...]`: these would end the value.
            if not password or any(c in password for c in ',[]="\\ '):
                raise ValueError(f'the Kafka password of {name!r} is empty or has , [ ] = " \\')
        if ADMIN in self.users or CONTROLLER in self.users:
            raise ValueError(f"{ADMIN!r} and {CONTROLLER!r} are reserved principal names")

    @classmethod
    def from_secrets(cls, secret: Callable[[str], str], services: Iterable[str]) -> BrokerAuth:
        """Passwords from the profile's secret store (`secret(name)` generates a missing one)."""
        return cls(
            admin_password=secret(password_secret(ADMIN)),
            controller_password=secret(password_secret(CONTROLLER)),
            users={service: secret(password_secret(service)) for service in services},
        )

    @property
    def scram_users(self) -> list[str]:
        return sorted({ADMIN, *self.users})

    def client_options(self, user: str = ADMIN) -> dict[str, Any]:
        """aiokafka keyword arguments to connect as `user`."""
        password = self.admin_password if user == ADMIN else self.users[user]
        return {
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": MECHANISM,
            "sasl_plain_username": user,
            "sasl_plain_password": password,
        }

    def server_properties(self, host: str, port: int, controller_port: int) -> dict[str, str]:
        """What replaces the PLAINTEXT listeners of an open broker."""
        scram = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{ADMIN}" password="{self.admin_password}";'
        )
        plain = (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="{CONTROLLER}" password="{self.controller_password}" '
            f'user_{CONTROLLER}="{self.controller_password}";'
        )
        return {
            "listeners": f"SASL_PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}",
            "advertised.listeners": f"SASL_PLAINTEXT://{host}:{port}",
            "listener.security.protocol.map": (
                "SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT"
            ),
            "inter.broker.listener.name": "SASL_PLAINTEXT",
            "sasl.enabled.mechanisms": MECHANISM,
            "sasl.mechanism.inter.broker.protocol": MECHANISM,
            "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config": scram,
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config": plain,
            "sasl.mechanism.controller.protocol": "PLAIN",
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": f"User:{ADMIN};User:{CONTROLLER}",
            "allow.everyone.if.no.acl.found": "false",
        }

    def check_formatted(self, data_dir: Path, log_dir: Path) -> None:
        """SCRAM credentials are created only when storage is formatted: a broker formatted
        before a principal existed (or without authentication) cannot let it in."""
        try:
            formatted = set((data_dir / SCRAM_USERS_FILE).read_text().split())
        except FileNotFoundError:
            formatted = set()
        missing = sorted(set(self.scram_users) - formatted)
        if missing:
            raise ValueError(
                f"the Kafka storage in {log_dir} was formatted without the SCRAM principals "
                f"{', '.join(missing)} (an older, unauthenticated broker?): stop the stack and "
                "wipe its data (`python -m devstack reset --profile <name>`)"
            )

    def redact(self, text: str) -> str:
        """`text` without any of the passwords (a tool's output we show on failure)."""
        for secret in (self.admin_password, self.controller_password, *self.users.values()):
            text = text.replace(secret, "***")
        return text

    def format_args(self) -> list[str]:
        """`kafka-storage format` arguments that create every SCRAM credential."""
        args: list[str] = []
        for user in self.scram_users:
            password = self.admin_password if user == ADMIN else self.users[user]
            args += ["--add-scram", f"{MECHANISM}=[name={user},password={password}]"]
        return args


def password_secret(principal: str) -> str:
    """The name of the profile secret holding `principal`'s Kafka password."""
    return f"kafka-{principal}-password"


def service_kafka_env(service: str, password_file: Path) -> dict[str, str]:
    """A service's Kafka settings (servicekit's `KAFKA_*`): its own principal, whose ACLs let
    it publish its topics and consume its subscriptions, nothing more (contracts.acls); the
    password stays in its file."""
    return {
        "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "KAFKA_SASL_MECHANISM": MECHANISM,
        "KAFKA_SASL_USERNAME": service,
        "KAFKA_SASL_PASSWORD_FILE": str(password_file),
    }


async def sync_acls(
    bootstrap_servers: str, admin_options: Mapping[str, Any], grants: Mapping[str, Sequence[Grant]]
) -> tuple[int, int]:
    """Make the broker's ACLs exactly `grants` (one ACL per operation, literal names, any host):
    create the missing ones, delete the rest — a subscription dropped from the topic file must
    not stay readable. Returns (ACLs now, ACLs deleted). Only devstack manages ACLs on its
    broker, so every ACL there is one of these. aiokafka 0.12 (pinned) has no public ACL call:
    this sends the protocol's own Describe/Create/DeleteAcls requests (v1, which every Kafka
    4.x broker accepts)."""
    wanted = {
        (
            _RESOURCE_TYPE[grant.resource_type],
            grant.name,
            _PATTERN_LITERAL,
            f"User:{principal}",
            "*",
            _OPERATION[operation],
            _PERMISSION_ALLOW,
        )
        for principal, granted in grants.items()
        for grant in granted
        for operation in grant.operations
    }
    client = AIOKafkaClient(
        bootstrap_servers=bootstrap_servers, client_id="devstack-acls", **admin_options
    )
    try:
        await client.bootstrap()
        node = client.get_random_node()
        described = await client.send(node, DescribeAclsRequest_v1(*_ANY_ACL))
        _raise_for(described.error_code, "listing the ACLs", described.error_message)
        existing = {
            (kind, name, pattern, *acl)
            for kind, name, pattern, acls in described.resources
            for acl in acls
        }
        missing, extra = sorted(wanted - existing), sorted(existing - wanted)
        if missing:
            created = await client.send(node, CreateAclsRequest_v1(missing))
            for acl, (code, message) in zip(missing, created.creation_responses, strict=True):
                _raise_for(code, f"creating the ACL {acl}", message)
        if extra:
            deleted = await client.send(node, DeleteAclsRequest_v1(extra))
            for acl, (code, message, _) in zip(extra, deleted.filter_responses, strict=True):
                _raise_for(code, f"deleting the ACL {acl}", message)
    finally:
        await client.close()
    return len(wanted), len(extra)


# A filter matching every ACL: resource type, name, pattern, principal, host, operation and
# permission all ANY (1 is ANY in each of Kafka's ACL enums; None matches any name).
_ANY_ACL = (1, None, 1, None, None, 1, 1)


def _raise_for(code: int, what: str, message: str | None) -> None:
    if code != 0:
        raise for_code(code)(f"{what} failed: {message}")
