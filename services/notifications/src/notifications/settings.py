from __future__ import annotations

from email.headerregistry import Address
from email.utils import parseaddr
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from servicekit import BreakerPolicy, ServiceSettings
from servicekit.auth import JwksSettings
from servicekit.events import InboxRetentionSettings

__all__ = ["NotificationsSettings"]


class NotificationsSettings(ServiceSettings, JwksSettings, InboxRetentionSettings):
    service_name: str = "notifications"
    db_schema: str = "notifications"

    kafka_bootstrap_servers: str

    smtp_host: str
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_from: str = "Flotilla <no-reply@flotilla.local>"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_tls: Literal["auto", "starttls", "implicit", "off"] = "auto"
    """`auto`: STARTTLS when the server offers it; `implicit`: TLS from the first byte (465)."""
    smtp_timeout_s: float = Field(default=5.0, gt=0, le=60)
    """Per attempt: connecting, every reply, and the attempt as a whole (with its wait for the
    connection while another email's transaction holds it)."""
    smtp_max_attempts: int = Field(default=3, ge=1, le=10)
    smtp_backoff_initial_s: float = Field(default=0.2, gt=0)
    smtp_backoff_max_s: float = Field(default=2.0, gt=0)
    smtp_idle_close_s: float = Field(default=5.0, gt=0, le=300)
    """The SMTP connection stays open between emails; this long without one, it is closed
    (QUIT). Below the server's own idle timeout (Postfix's is 10 s when busy), so that it is
    rarely the server that closes it."""

    smtp_breaker_window_s: float = Field(default=30.0, gt=0)
    smtp_breaker_minimum_calls: int = Field(default=5, ge=1)
    smtp_breaker_failure_rate: float = Field(default=0.5, gt=0, le=1)
    smtp_breaker_slow_call_s: float = Field(default=3.0, gt=0)
    smtp_breaker_slow_call_rate: float = Field(default=0.8, gt=0, le=1)
    smtp_breaker_open_wait_s: float = Field(default=15.0, gt=0)
    smtp_breaker_half_open_calls: int = Field(default=1, ge=1)

    @field_validator("smtp_from")
    @classmethod
    def _a_sender_address(cls, value: str) -> str:
        _, address = parseaddr(value)
        if "@" not in address or any(char in value for char in "\r\n"):
            raise ValueError("must be an address such as 'Flotilla <no-reply@example.com>'")
        return value

    @property
    def sender(self) -> Address:
        name, address = parseaddr(self.smtp_from)
        username, _, domain = address.rpartition("@")
        return Address(display_name=name, username=username, domain=domain)

    def smtp_breaker_policy(self) -> BreakerPolicy:
        return BreakerPolicy(
            window_s=self.smtp_breaker_window_s,
            bucket_s=min(1.0, self.smtp_breaker_window_s),
            minimum_calls=self.smtp_breaker_minimum_calls,
            failure_rate_threshold=self.smtp_breaker_failure_rate,
            slow_call_duration_s=self.smtp_breaker_slow_call_s,
            slow_call_rate_threshold=self.smtp_breaker_slow_call_rate,
            open_wait_s=self.smtp_breaker_open_wait_s,
            half_open_max_calls=self.smtp_breaker_half_open_calls,
        )
