"""What `make images` promises of every image the charts reference, checked on the images
themselves: an immutable `<version>-<git sha>` tag, a non-root user matching the chart's
`runAsUser`, nothing to build with in a service image, the API docs pages' files in every
service image, no proxy CA baked in, and each image doing its job when started the way its chart
starts it (without a network: nothing listens on the host)."""

from __future__ import annotations

import contextlib
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack import images
from devstack.podman import image_size, podman_env

CATALOGUE = {image.name: image for image in images.catalogue()}
SERVICES = [name for name, image in CATALOGUE.items() if image.service]
# The chart's pod securityContext for each (deploy/helm/service, templates/dev-*.yaml).
RUN_AS = {**dict.fromkeys(SERVICES, "10001"), "gateway": "101", "postgres": "999", "kafka": "1000",
          "smtp-sink": "10025", "load-generator": "10001"}  # fmt: skip
TAG = re.compile(r"^flotilla/[a-z][a-z0-9-]*:[0-9][0-9.]*-[0-9a-f]{7}(-dirty)?$")
# Debian's Python, the virtualenv, and ~4 MB of Swagger UI's and ReDoc's files for /docs.
SERVICE_SIZE_LIMIT = 255e6
EXTRA_CA_DIR = Path("/usr/local/share/ca-certificates")
_TMP = "/tmp"  # noqa: S108 - the container's /tmp, as the chart's emptyDir
_OWNED = "rw,U"  # a tmpfs owned by the image's user, as a volume with fsGroup is


def _name(image: str, revision: str) -> str:
    return f"docker.io/{CATALOGUE[image].ref(revision)}"


def _run(image_ref: str, *args: str, entrypoint: str | None = None, timeout: float = 120) -> str:
    argv = ["podman", "run", "--rm", "--pull=never", "--network=none"]
    argv += ["--entrypoint", entrypoint] if entrypoint else []
    result = subprocess.run(
        [*argv, image_ref, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=podman_env(),
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _exit(image_ref: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The image run read-only as its chart runs it, whatever its exit code."""
    argv = ["podman", "run", "--rm", "--pull=never", "--network=none", "--read-only"]
    return subprocess.run(
        [*argv, image_ref, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=podman_env(),
        check=False,
    )


def _inspect(image_ref: str, template: str) -> str:
    result = subprocess.run(
        ["podman", "image", "inspect", "--format", template, image_ref],
        capture_output=True,
        text=True,
        env=podman_env(),
        check=False,
    )
    assert result.returncode == 0, f"{image_ref} is not built: {result.stderr}"
    return result.stdout.strip()


@pytest.mark.parametrize("image", list(CATALOGUE))
def test_tag_is_version_and_commit_and_user_is_the_charts(
    image: str, revision: str, sizes: dict[str, int]
) -> None:
    ref = CATALOGUE[image].ref(revision)
    assert TAG.match(ref), ref
    name = _name(image, revision)
    user = _inspect(name, "{{.Config.User}}")
    assert user.split(":")[0] == RUN_AS[image], f"{ref} runs as {user!r}"
    sizes[ref] = image_size(name)


@pytest.mark.parametrize("service", SERVICES)
def test_service_image_has_nothing_to_build_with_and_starts(service: str, revision: str) -> None:
    name = _name(service, revision)
    tools = "uv uvx pip pip3 gcc cc c++ make apt-get-build"
    found = _run(name, "-c", f"for t in {tools}; do command -v $t || true; done", entrypoint="sh")
    assert found.strip() == "", f"{service} image holds build tools: {found}"
    assert "serve" in _run(name, "--help")
    size = int(_inspect(name, "{{.Size}}"))
    assert size < SERVICE_SIZE_LIMIT, f"{service}: {size / 1e6:.0f} MB"


@pytest.mark.parametrize("service", SERVICES)
def test_service_image_reads_the_topic_file_its_contracts_ship(service: str, revision: str) -> None:
    # An image has no deploy/: a consumer's group (topics, retry delays) comes from the copy
    # of deploy/topics.yaml inside the installed contracts package.
    script = "from contracts.topology import load_topology as t; print(t().source, t().groups)"
    found = _run(_name(service, revision), "-c", script, entrypoint="python")
    assert "site-packages/contracts/topics.yaml" in found, found
    assert "ConsumerGroup(name='payments'" in found, found


@pytest.mark.parametrize("service", SERVICES)
def test_service_image_holds_the_docs_pages_files(service: str, revision: str) -> None:
    # servicekit.api_docs serves these from DOCS_ASSETS_DIR: without them /docs is blank.
    script = (
        "import os, pathlib; root = pathlib.Path(os.environ['DOCS_ASSETS_DIR']); "
        "print(sorted(str(p.relative_to(root)) for p in root.rglob('*') if p.is_file()))"
    )
    found = _run(_name(service, revision), "-c", script, entrypoint="python")
    for name in ("swagger-ui/swagger-ui-bundle.js", "swagger-ui/swagger-ui.css",
                 "swagger-ui/favicon-32x32.png", "redoc/redoc.standalone.js"):  # fmt: skip
        assert f"'{name}'" in found, found


def test_load_generator_image_refuses_bad_settings_and_names_an_absent_gateway(
    revision: str,
) -> None:
    name = _name("load-generator", revision)
    found = _run(name, "-c", "for t in uv pip gcc; do command -v $t || true; done", entrypoint="sh")
    assert found.strip() == "", found
    bad = _exit(name, "--rate", "0")
    assert bad.returncode == 2
    assert "--rate and --duration must be positive" in bad.stderr
    # As the chart runs it: read-only, a gateway that never answers, then the reason and exit 1.
    absent = _exit(name, "--gateway", "http://127.0.0.1:9", "--continuous", "--log-format=json")
    assert absent.returncode == 1, absent.stdout + absent.stderr
    assert "the gateway does not answer" in absent.stderr


@pytest.mark.parametrize("image", list(CATALOGUE))
def test_no_proxy_certificate_is_baked_in(image: str, revision: str) -> None:
    extra = sorted(EXTRA_CA_DIR.glob("*.crt")) if EXTRA_CA_DIR.is_dir() else []
    if not extra:
        pytest.skip("this host trusts no extra CA certificate")
    bundle = _run(_name(image, revision), "/etc/ssl/certs/ca-certificates.crt", entrypoint="cat")
    for cert in extra:
        body = "".join(cert.read_text().split("-----")[2].split())
        assert body[:200] not in "".join(bundle.split()), f"{cert.name} is in {image}"


def test_gateway_serves_its_health_path_read_only_as_non_root(revision: str) -> None:
    request = (
        'exec 3<>/dev/tcp/127.0.0.1/8080; printf "GET /_gateway/livez HTTP/1.0\\r\\n\\r\\n" >&3'
    )
    with _container(_name("gateway", revision), "--read-only", "--tmpfs", _TMP) as cid:
        answer = _exec_until(cid, f"{request}; cat <&3")
    assert answer.startswith("HTTP/1.1 200")
    assert answer.endswith("ok\n")


def test_postgres_initialises_and_requires_the_password(revision: str) -> None:
    # Writable folders as the chart mounts them (volumes, emptyDirs); the root is read-only.
    args = [
        "--read-only",
        "--tmpfs",
        _TMP,
        "--tmpfs",
        f"/var/lib/postgresql/data:{_OWNED}",
        "--tmpfs",
        f"/var/run/postgresql:{_OWNED}",
        "-e",
        "POSTGRES_DB=flotilla",
        "-e",
        "POSTGRES_PASSWORD=image-test",
    ]
    with _container(_name("postgres", revision), *args) as cid:
        _exec_until(cid, "pg_isready -U postgres -h 127.0.0.1")
        query = "psql -h 127.0.0.1 -U postgres -d flotilla -Atc 'select current_database()'"
        assert _exec(cid, f"PGPASSWORD=image-test {query}").strip() == "flotilla"
        assert "password" in _exec(cid, f"{query} 2>&1 || true", env={"PGPASSWORD": ""})


def test_kafka_starts_from_the_environment_and_creates_topics(revision: str) -> None:
    env = {
        "CLUSTER_ID": "ZmxvdGlsbGEtZGV2LWtmaw",
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": "PLAINTEXT://:9092,CONTROLLER://127.0.0.1:9093",
        "KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://127.0.0.1:9092",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@127.0.0.1:9093",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_HEAP_OPTS": "-Xmx384m",
    }
    args = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
    args += ["--tmpfs", f"/var/lib/kafka/data:{_OWNED}"]
    with _container(_name("kafka", revision), *args) as cid:
        topics = "/opt/kafka/bin/kafka-topics.sh --bootstrap-server 127.0.0.1:9092"
        _exec_until(
            cid,
            f"{topics} --create --if-not-exists --topic images.test "
            "--partitions 1 --replication-factor 1",
            timeout=120,
        )
        assert "images.test" in _exec(cid, f"{topics} --list").split()


@contextlib.contextmanager
def _container(image_ref: str, *args: str) -> Iterator[str]:
    """A detached container, removed on exit; yields its id."""
    argv = ["podman", "run", "-d", "--pull=never", "--network=none", *args, image_ref]
    result = subprocess.run(argv, capture_output=True, text=True, env=podman_env(), check=True)
    cid = result.stdout.strip()
    try:
        yield cid
    finally:
        subprocess.run(
            ["podman", "rm", "-f", cid], capture_output=True, env=podman_env(), check=False
        )


def _exec(cid: str, script: str, env: dict[str, str] | None = None) -> str:
    envs = [arg for key, value in (env or {}).items() for arg in ("-e", f"{key}={value}")]
    result = subprocess.run(
        ["podman", "exec", *envs, cid, "bash", "-c", script],
        capture_output=True,
        text=True,
        env=podman_env(),
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}: {result.stdout}{result.stderr}")
    return result.stdout


def _exec_until(cid: str, script: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return _exec(cid, script)
        except AssertionError:
            if time.monotonic() > deadline:
                logs = subprocess.run(
                    ["podman", "logs", cid],
                    capture_output=True,
                    text=True,
                    env=podman_env(),
                    check=False,
                )
                tail = (logs.stdout + logs.stderr)[-3000:]
                raise AssertionError(f"{script!r} never succeeded; logs:\n{tail}") from None
            time.sleep(1)
