"""Our events as a consumer in another language sees them: Debian's kcat (librdkafka, C) reads
identity's record of a sign-up from the broker, authenticated like any client (SASL/SCRAM),
and finds a CloudEvent in binary mode whose `ce_dataschema` names the event's published JSON
Schema, against which the record's value validates."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
from jsonschema import Draft7Validator

from contracts.artifacts import schema_path
from contracts.identity import UserRegisteredV1
from devstack.profiles import Profile
from devstack.stack import Stack


def _kcat_config(stack: Stack, folder: Path) -> Path:
    env = stack.kafka_admin_env()
    password = Path(env["KAFKA_SASL_PASSWORD_FILE"]).read_text().strip()
    config = folder / "kcat.conf"
    config.write_text(
        "\n".join(
            [
                f"bootstrap.servers={env['KAFKA_BOOTSTRAP_SERVERS']}",
                f"security.protocol={env['KAFKA_SECURITY_PROTOCOL']}",
                f"sasl.mechanisms={env['KAFKA_SASL_MECHANISM']}",
                f"sasl.username={env['KAFKA_SASL_USERNAME']}",
                f"sasl.password={password}",
            ]
        )
        + "\n"
    )
    config.chmod(0o600)
    return config


def _records(config: Path, topic: str) -> list[dict[str, Any]]:
    """Every record of the topic, as kcat's JSON envelope (-J), headers as a name→value map."""
    result = subprocess.run(
        ["kcat", "-F", str(config), "-C", "-t", topic, "-o", "beginning", "-e", "-J", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    records = []
    for line in result.stdout.splitlines():
        record = json.loads(line)
        pairs = record.get("headers") or []
        record["headers"] = dict(zip(pairs[::2], pairs[1::2], strict=True))
        records.append(record)
    return records


async def test_kcat_reads_a_sign_up_as_a_cloudevent_whose_value_matches_its_schema(
    test_stack: Stack, stack_profile: Profile, tmp_path: Path
) -> None:
    email = f"kcat-{uuid.uuid4().hex[:10]}@example.com"
    async with httpx.AsyncClient(base_url=stack_profile.gateway_url, timeout=10) as gateway:
        created = await gateway.post(
            "/identity/v1/users",
            json={"email": email, "password": "correct horse battery staple", "name": "Kcat"},
            headers={"idempotency-key": str(uuid.uuid4())},
        )
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    config = _kcat_config(test_stack, tmp_path)

    # The relay publishes after the commit; kcat reads to the end of the topic each time.
    ours: list[dict[str, Any]] = []
    for _ in range(100):
        ours = [r for r in _records(config, UserRegisteredV1.TOPIC) if r["key"] == user_id]
        if ours:
            break
    assert len(ours) == 1, f"identity's record for {user_id} not on {UserRegisteredV1.TOPIC}"
    [record] = ours

    headers = record["headers"]
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_type"] == UserRegisteredV1.EVENT_TYPE
    assert headers["ce_source"] == "/identity"
    assert headers["ce_subject"] == user_id
    assert headers["content-type"] == "application/json"
    assert headers["ce_dataschema"] == (
        f"{stack_profile.gateway_url}/schemas/{UserRegisteredV1.EVENT_TYPE}.json"
    )
    schema = json.loads(schema_path(UserRegisteredV1.EVENT_TYPE).read_text())
    value = json.loads(record["payload"])
    errors = [error.message for error in Draft7Validator(schema).iter_errors(value)]
    assert errors == []
    assert value["email"] == email
