"""Kafka security settings: one block for every client, the password from a file, and a clear
error for every incomplete or contradictory combination (never the password itself)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from servicekit.events.kafka_security import KafkaSecurity, KafkaSecurityError
from servicekit.settings import ServiceSettings

SECRET = "s3cret-not-logged"


def _password_file(tmp_path: Path) -> Path:
    path = tmp_path / "password"
    path.write_text(SECRET + "\n")
    return path


def test_plaintext_by_default_adds_nothing_but_the_protocol() -> None:
    assert KafkaSecurity().client_options() == {"security_protocol": "PLAINTEXT"}


def test_sasl_reads_the_password_file_and_never_shows_it(tmp_path: Path) -> None:
    security = KafkaSecurity.from_files(
        "SASL_PLAINTEXT", username="orders", password_file=_password_file(tmp_path)
    )
    assert security.client_options() == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "orders",
        "sasl_plain_password": SECRET,
    }
    assert SECRET not in repr(security)


def test_sasl_ssl_checks_the_broker_against_the_ca_file(tmp_path: Path) -> None:
    ca = Path(ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt")
    if not ca.is_file():
        pytest.skip("no CA bundle on this machine")
    security = KafkaSecurity.from_files(
        "SASL_SSL", username="orders", password_file=_password_file(tmp_path), ca_file=ca
    )
    context = security.client_options()["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


@pytest.mark.parametrize(
    ("protocol", "username", "password", "ca", "message"),
    [
        ("SASL_PLAINTEXT", None, True, False, "needs a username and a password"),
        ("SASL_SSL", "orders", False, False, "needs a username and a password"),
        ("PLAINTEXT", "orders", True, False, "but PLAINTEXT"),
        ("SASL_PLAINTEXT", "orders", True, True, "CA file is set, but the protocol"),
        ("SSL", None, False, False, "unknown Kafka security protocol"),
    ],
)
def test_incomplete_or_contradictory_settings_are_refused(
    tmp_path: Path, protocol: str, username: str | None, password: bool, ca: bool, message: str
) -> None:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text("not read")
    with pytest.raises(KafkaSecurityError, match=message) as caught:
        KafkaSecurity.from_files(
            protocol,
            username=username,
            password_file=_password_file(tmp_path) if password else None,
            ca_file=ca_file if ca else None,
        )
    assert SECRET not in str(caught.value)


def test_a_missing_or_empty_password_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(KafkaSecurityError, match="cannot read the Kafka password file"):
        KafkaSecurity.from_files("SASL_PLAINTEXT", username="a", password_file=tmp_path / "x")
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(KafkaSecurityError, match="is empty"):
        KafkaSecurity.from_files("SASL_PLAINTEXT", username="a", password_file=empty)


def test_tools_read_the_same_variables_as_services(tmp_path: Path) -> None:
    env = {
        "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "KAFKA_SASL_USERNAME": "payments",
        "KAFKA_SASL_PASSWORD_FILE": str(_password_file(tmp_path)),
    }
    settings = ServiceSettings(
        service_name="payments",
        database_url="postgresql+asyncpg://u:p@h/d",
        db_schema="payments",
        **{key.lower(): value for key, value in env.items()},
    )
    assert settings.kafka_security() == KafkaSecurity.from_environment(env)


def test_prod_refuses_an_unauthenticated_bus() -> None:
    with pytest.raises(ValueError, match="PLAINTEXT in prod"):
        ServiceSettings(
            service_name="orders",
            database_url="postgresql+asyncpg://u:p@h/d",
            db_schema="orders",
            environment="prod",
            kafka_bootstrap_servers="kafka:9093",
        )
