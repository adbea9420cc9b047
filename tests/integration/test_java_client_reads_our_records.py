"""Our events as a consumer in another language sees them: Kafka's own Java console consumer
(`kafka-console-consumer`, from the broker's release) reads identity's record of a sign-up,
authenticated like any client (SASL/SCRAM), and finds a CloudEvent in binary mode whose
`ce_dataschema` names the event's JSON Schema as the gateway serves it; the record's value
validates against that schema, fetched from that URL.

Not kcat: Debian 12's kcat links librdkafka 2.0.2, whose SCRAM client sends a nonce Kafka 4.x
rightly refuses (librdkafka#4895, fixed in 2.6.1), so it cannot log in to our broker at all.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import httpx
from jsonschema import Draft7Validator

from contracts.identity import UserRegisteredV1
from devstack.profiles import Profile
from devstack.stack import Stack

_HEADERS_SEPARATOR = "|"
_FIELD_SEPARATOR = "#~#"  # between headers, key and value (Java trims a tab or spaces away)


def _client_config(stack: Stack, folder: Path) -> Path:
    env = stack.kafka_admin_env()
    password = Path(env["KAFKA_SASL_PASSWORD_FILE"]).read_text().strip()
    config = folder / "client.properties"
    config.write_text(
        f"security.protocol={env['KAFKA_SECURITY_PROTOCOL']}\n"
        f"sasl.mechanism={env['KAFKA_SASL_MECHANISM']}\n"
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{env["KAFKA_SASL_USERNAME"]}" password="{password}";\n'
    )
    config.chmod(0o600)
    return config


def _records(stack: Stack, config: Path, topic: str) -> list[tuple[dict[str, str], str, str]]:
    """(headers, key, value) of every record of the topic, read by the Java console consumer
    until the topic is quiet for 5 s."""
    java = shutil.which("java")
    assert java is not None, "java is missing: make tools TOOLS=java"
    result = subprocess.run(
        [
            java,
            "-cp",
            f"{stack.kafka.lib_dir}/*",
            "org.apache.kafka.tools.consumer.ConsoleConsumer",
            "--bootstrap-server",
            stack.kafka.bootstrap_servers,
            "--command-config",
            str(config),
            "--topic",
            topic,
            "--from-beginning",
            "--timeout-ms",
            "5000",
            "--formatter-property",
            "print.headers=true",
            "--formatter-property",
            "print.key=true",
            "--formatter-property",
            f"headers.separator={_HEADERS_SEPARATOR}",
            "--formatter-property",
            f"key.separator={_FIELD_SEPARATOR}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    records = []
    for line in result.stdout.splitlines():
        if _FIELD_SEPARATOR not in line:
            continue  # its log lines: the timeout that ends it is logged as an error
        headers, key, value = line.split(_FIELD_SEPARATOR, 2)
        pairs = (header.split(":", 1) for header in headers.split(_HEADERS_SEPARATOR))
        records.append(({name: text for name, text in pairs}, key, value))
    return records


async def test_a_java_client_reads_a_sign_up_as_a_cloudevent_valid_against_its_served_schema(
    test_stack: Stack, stack_profile: Profile, tmp_path: Path
) -> None:
    email = f"java-{uuid.uuid4().hex[:10]}@example.com"
    async with httpx.AsyncClient(base_url=stack_profile.gateway_url, timeout=10) as gateway:
        created = await gateway.post(
            "/identity/v1/users",
            json={"email": email, "password": "correct horse battery staple", "name": "Java"},
            headers={"idempotency-key": str(uuid.uuid4())},
        )
        assert created.status_code == 201, created.text
        user_id = created.json()["id"]
        config = _client_config(test_stack, tmp_path)

        # The relay publishes after the commit: read the topic again until the record is there.
        ours: list[tuple[dict[str, str], str, str]] = []
        for _ in range(10):
            ours = [
                r for r in _records(test_stack, config, UserRegisteredV1.TOPIC) if r[1] == user_id
            ]
            if ours:
                break
        assert len(ours) == 1, f"identity's record for {user_id} is not on {UserRegisteredV1.TOPIC}"
        [(headers, _, value)] = ours

        assert headers["ce_specversion"] == "1.0"
        assert headers["ce_type"] == UserRegisteredV1.EVENT_TYPE
        assert headers["ce_source"] == "/identity"
        assert headers["ce_subject"] == user_id
        assert headers["content-type"] == "application/json"
        schema_url = headers["ce_dataschema"]
        assert schema_url == (
            f"{stack_profile.gateway_url}/schemas/{UserRegisteredV1.EVENT_TYPE}.json"
        )
        served = await gateway.get(schema_url)
        assert served.status_code == 200
        errors = [
            error.message for error in Draft7Validator(served.json()).iter_errors(json.loads(value))
        ]
    assert errors == []
    assert json.loads(value)["email"] == email
