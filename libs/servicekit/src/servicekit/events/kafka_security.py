"""How every Kafka client servicekit creates authenticates: one settings block, applied to the
relay's producer, the consumer and its forwarder, the DLQ tools and the test helpers.

    PLAINTEXT        no authentication (a broker without SASL; refused in prod)
    SASL_PLAINTEXT   SCRAM-SHA-512 over plain TCP (the local stack: loopback only)
    SASL_SSL         SCRAM-SHA-512 over TLS, the broker checked against `ca_file`

The password comes from a file (a mounted Secret: Strimzi's KafkaUser secret, or the local
stack's profile secrets), never from an environment variable, so it does not show up in a
process listing or a crash dump of the environment. It never appears in `repr`.

Services read it from their settings (`KAFKA_SECURITY_PROTOCOL`, `KAFKA_SASL_MECHANISM`,
`KAFKA_SASL_USERNAME`, `KAFKA_SASL_PASSWORD_FILE`, `KAFKA_SSL_CA_FILE`); command-line tools
read the same variables with `KafkaSecurity.from_environment()`.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

__all__ = ["KafkaSecurity", "KafkaSecurityError", "SaslMechanism", "SecurityProtocol"]

SecurityProtocol = Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["SCRAM-SHA-512"]


class KafkaSecurityError(ValueError):
    """The Kafka security settings are incomplete or contradict each other."""


@dataclass(frozen=True)
class KafkaSecurity:
    protocol: SecurityProtocol = "PLAINTEXT"
    mechanism: SaslMechanism = "SCRAM-SHA-512"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None

    def __post_init__(self) -> None:
        if self.protocol not in get_args(SecurityProtocol):
            raise KafkaSecurityError(
                f"unknown Kafka security protocol {self.protocol!r}; "
                f"expected one of {', '.join(get_args(SecurityProtocol))}"
            )
        if self.mechanism not in get_args(SaslMechanism):
            raise KafkaSecurityError(
                f"unsupported SASL mechanism {self.mechanism!r}; expected SCRAM-SHA-512"
            )
        if self.protocol.startswith("SASL_"):
            if not self.username or not self.password:
                raise KafkaSecurityError(f"{self.protocol} needs a username and a password (file)")
        elif self.username or self.password:
            # Credentials with PLAINTEXT would be silently ignored: a misconfiguration.
            raise KafkaSecurityError("a Kafka username or password is set, but PLAINTEXT")
        if self.ca_file is not None and self.protocol != "SASL_SSL":
            raise KafkaSecurityError(f"a CA file is set, but the protocol is {self.protocol}")

    @property
    def authenticated(self) -> bool:
        return self.protocol != "PLAINTEXT"

    @classmethod
    def from_files(
        cls,
        protocol: str,
        *,
        mechanism: str = "SCRAM-SHA-512",
        username: str | None = None,
        password_file: Path | None = None,
        ca_file: Path | None = None,
    ) -> KafkaSecurity:
        """Read the password from `password_file`; a missing or empty file is an error naming
        the file (never its content)."""
        password: str | None = None
        if password_file is not None:
            try:
                password = password_file.read_text(encoding="utf-8").strip()
            except OSError as error:
                raise KafkaSecurityError(
                    f"cannot read the Kafka password file {password_file}: {error.strerror}"
                ) from None
            if not password:
                raise KafkaSecurityError(f"the Kafka password file {password_file} is empty")
        if ca_file is not None and not ca_file.is_file():
            raise KafkaSecurityError(f"the Kafka CA file {ca_file} does not exist")
        return cls(
            protocol,  # type: ignore[arg-type]  # checked in __post_init__
            mechanism,  # type: ignore[arg-type]
            username or None,
            password,
            ca_file,
        )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> KafkaSecurity:
        """The same variables a service's settings read, for command-line tools."""
        env = os.environ if environ is None else environ

        def path(name: str) -> Path | None:
            value = env.get(name, "")
            return Path(value) if value else None

        return cls.from_files(
            env.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT") or "PLAINTEXT",
            mechanism=env.get("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512") or "SCRAM-SHA-512",
            username=env.get("KAFKA_SASL_USERNAME"),
            password_file=path("KAFKA_SASL_PASSWORD_FILE"),
            ca_file=path("KAFKA_SSL_CA_FILE"),
        )

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for any aiokafka client (producer, consumer, admin)."""
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.protocol.startswith("SASL_"):
            # aiokafka takes SCRAM credentials in its `sasl_plain_*` arguments too.
            options.update(
                sasl_mechanism=self.mechanism,
                sasl_plain_username=self.username,
                sasl_plain_password=self.password,
            )
        if self.protocol == "SASL_SSL":
            # Host names are checked (the default context); without a CA file the system's
            # trust store decides, as for a managed Kafka with a public certificate.
            options["ssl_context"] = ssl.create_default_context(
                cafile=str(self.ca_file) if self.ca_file else None
            )
        return options
