"""The platform on a real cluster, the way a platform team meets it (issue 12, item 3): the
umbrella chart installed with one plain `helm install --wait` and the dev values into a
PodSecurity-restricted namespace, every pod Ready, orders and payments at two replicas; the
README's shop flow through the in-cluster nginx gateway (port-forwarded to loopback), the
welcome email read from the in-cluster SMTP sink; each service's /docs and /redoc loading
Swagger UI's and ReDoc's files from the service itself; one service's own chart installed alone
into a namespace of its own against the platform's Postgres; a rolling `helm upgrade` of every
service under a stream of orders (no failed request, every order final, then `helm rollback`); a
payments pod deleted mid-stream (every order final, one payment per confirmed order); and `helm
uninstall` leaving no workload behind.

The dev values migrate in each service pod's init container (`migration.mode: initContainer`),
which waits for the release's own Postgres, and create the topics with an ordinary Job beside
the release's own Kafka: a pre-install hook would run before that Postgres exists, and helm runs
post-install hooks only once every pod is Ready. Production keeps the migration hook (a failed
migration fails the release before any pod changes): test_prod_values.py renders it.
"""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import json
import re
import secrets
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage

import httpx
import pytest

from devstack.cluster.kubectl import Kubectl
from devstack.routes import load_routes
from devstack.shop import Customer, Shop, ShopError
from tests.k8s.conftest import (
    CHART,
    RELEASE,
    SCALED,
    SERVICES,
    Helm,
    diagnose,
    image_flags,
    seed_demo_catalog,
    wait_for_jobs,
)

ORDER_TIMEOUT_S = 60.0
# The orders' own deadline is 2 minutes: each ends by then, cancelled if nothing else.
FINAL_TIMEOUT_S = 150.0
# Orders of one sticker pack each: the demo catalog has 500 of them, enough for two streams.
STREAM_MAX = 100


@pytest.fixture(scope="module")
def gateway(
    platform: str, kubectl: Kubectl, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """`kubectl port-forward` to the gateway Service on a free loopback port (kubectl picks it),
    stopped afterwards whatever happens. Its output goes to a file (a pipe nobody reads would
    fill with "Handling connection" lines and stall it). Yields the base URL."""
    log = tmp_path_factory.mktemp("port-forward") / "out.log"
    with log.open("w") as out:
        forward = subprocess.Popen(
            [
                kubectl.binary,
                "--kubeconfig",
                str(kubectl.lay.kubeconfig),
                "port-forward",
                "-n",
                platform,
                "--address",
                "127.0.0.1",
                f"svc/{RELEASE}-gateway",
                ":8080",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while (found := re.search(r"127\.0\.0\.1:(\d+)", log.read_text())) is None:
            if forward.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"kubectl port-forward to the gateway: {log.read_text()}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{found.group(1)}"
    finally:
        forward.terminate()
        try:
            forward.wait(timeout=10)
        except subprocess.TimeoutExpired:
            forward.kill()
            forward.wait(timeout=10)


@pytest.fixture
async def shop(gateway: str) -> AsyncIterator[Shop]:
    async with httpx.AsyncClient(base_url=gateway, timeout=15.0) as http:
        yield Shop(http)


def _sink_mail(kubectl: Kubectl, namespace: str) -> list[EmailMessage]:
    """What the in-cluster SMTP sink stored: each .eml file of its maildir, read with exec."""
    sink = f"deploy/{RELEASE}-smtp-sink"
    listed = kubectl.run("exec", "-n", namespace, sink, "--", "ls", "/var/mail/sink", timeout=30)
    messages = []
    for name in sorted(n for n in listed.stdout.split() if n.endswith(".eml")):
        raw = kubectl.run(
            "exec", "-n", namespace, sink, "--", "cat", f"/var/mail/sink/{name}", timeout=30
        )
        parsed = email.message_from_string(raw.stdout, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        messages.append(parsed)
    return messages


async def _mug(shop: Shop, sku: str = "DEMO-MUG") -> dict[str, object]:
    return next(p for p in await shop.products() if p["sku"] == sku)


async def _eventually(what: str, probe, timeout_s: float = 30.0):  # type: ignore[no-untyped-def]
    """Poll `probe` (an async callable returning a value or None) until it returns a value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:.0f}s")
        await asyncio.sleep(0.2)


def test_install_runs_every_pod_ready_in_a_restricted_namespace(
    platform: str, kubectl: Kubectl, helm: Helm
) -> None:
    namespace = kubectl.json("namespace", platform)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    status = helm.run("status", RELEASE, "-n", platform, "-o", "json").stdout
    assert '"status":"deployed"' in status.replace(" ", "")
    deployments = {
        d["metadata"]["name"]: d for d in kubectl.json("deploy", "-n", platform)["items"]
    }
    for service in SERVICES:
        want = SCALED.get(service, 1)
        ready = deployments[service]["status"].get("readyReplicas", 0)
        assert ready == want, f"{service}: {ready}/{want} ready\n{diagnose(kubectl, platform)}"
    wait_for_jobs(kubectl, platform, 300)  # the topics Job
    pods = kubectl.json("pods", "-n", platform)["items"]
    not_ready = [
        p["metadata"]["name"]
        for p in pods
        if p["status"].get("phase") != "Succeeded"
        and {c["type"]: c["status"] for c in p["status"].get("conditions", [])}.get("Ready")
        != "True"
    ]
    assert not_ready == [], diagnose(kubectl, platform)
    assert {"flotilla-postgres-0", "flotilla-kafka-0"} <= {p["metadata"]["name"] for p in pods}
    # Every service pod migrated in its init container (concurrently for the two replicas of
    # orders and payments, one after the other under bootstrap's advisory lock); no Job did.
    migrated = {}
    for pod in pods:
        service = pod["metadata"]["labels"].get("app.kubernetes.io/name")
        if service not in SERVICES:
            continue
        (init,) = pod["status"]["initContainerStatuses"]
        assert init["name"] == "bootstrap", init
        assert init["state"]["terminated"]["exitCode"] == 0, init
        migrated[service] = migrated.get(service, 0) + 1
    assert migrated == {service: SCALED.get(service, 1) for service in SERVICES}
    jobs = kubectl.json("jobs", "-n", platform)["items"]
    assert {j["metadata"]["labels"].get("app.kubernetes.io/component") for j in jobs} <= {"topics"}


async def test_an_order_is_confirmed_and_a_declined_card_cancels_it(
    platform: str, kubectl: Kubectl, shop: Shop
) -> None:
    seed_demo_catalog(kubectl, platform)
    customer = await shop.sign_up("K8s Shopper")
    mug = await _mug(shop)

    async def welcomed() -> EmailMessage | None:
        found = [m for m in await asyncio.to_thread(_sink_mail, kubectl, platform)
                 if m["To"] == customer.email]  # fmt: skip
        return found[0] if found else None

    welcome = await _eventually(f"the welcome email to {customer.email}", welcomed)
    assert welcome["Subject"] == "Welcome to Flotilla", welcome

    paid = await shop.place_order(customer, {str(mug["id"]): 2}, "pm_card_visa")
    order = await shop.until_final(customer, paid, timeout_s=ORDER_TIMEOUT_S)
    assert order["status"] == "confirmed", order
    payments = await shop.payments(customer, paid)
    assert len(payments) == 1, payments
    assert payments[0]["status"] == "succeeded", payments

    before = (await shop.product(str(mug["id"])))["stock"]
    declined = await shop.place_order(customer, {str(mug["id"]): 3}, "pm_card_declined")
    order = await shop.until_final(customer, declined, timeout_s=ORDER_TIMEOUT_S)
    assert order["status"] == "cancelled", order

    async def restocked() -> int | None:
        stock = (await shop.product(str(mug["id"])))["stock"]
        return stock if stock == before else None

    await _eventually(f"the mug's stock back at {before}", restocked)


async def test_each_services_docs_pages_load_their_files_from_the_service(gateway: str) -> None:
    """Swagger UI's and ReDoc's files are in every service image (DOCS_ASSETS_DIR, put there by
    `make images` from the tool cache's docs-assets entry): each file /docs and /redoc name is
    below the service's own prefix, and answers 200 through the gateway."""
    public = [route for route in load_routes() if route.public]
    async with httpx.AsyncClient(base_url=gateway, timeout=30.0) as http:
        for route in public:
            for page in ("docs", "redoc"):
                html = await http.get(f"{route.prefix}/{page}")
                assert html.status_code == 200, (route.prefix, page, html.status_code)
                files = set(re.findall(r'"(/[^"]*/docs-assets/[^"]+)"', html.text))
                assert files, f"{route.prefix}/{page} names no docs file: {html.text[:400]}"
                for file in files:
                    assert file.startswith(f"{route.prefix}/docs-assets/"), file
                    served = await http.get(file)
                    assert served.status_code == 200, (file, served.status_code, served.text[:200])
                    kind = {"js": "javascript", "css": "text/css", "png": "image/png"}
                    wanted = kind[file.rpartition(".")[2]]
                    assert wanted in served.headers["content-type"], (file, served.headers)
                    assert served.content, file


async def _stream(
    shop: Shop,
    customer: Customer,
    product_id: str,
    *,
    until: asyncio.Future[object],
    least: int,
    few_placed: asyncio.Event | None = None,
) -> tuple[list[str], list[str]]:
    """Place orders one a second (each a single attempt: no retry hides a failure) until `until`
    is done and at least `least` were placed, at most STREAM_MAX; the placed ids and the
    failures."""
    placed: list[str] = []
    failed: list[str] = []
    while len(placed) + len(failed) < STREAM_MAX and (len(placed) < least or not until.done()):
        try:
            placed.append(await shop.place_order(customer, {product_id: 1}, "pm_card_visa"))
            if few_placed is not None and len(placed) >= 5:
                few_placed.set()
        except (ShopError, httpx.TransportError) as error:
            failed.append(f"{type(error).__name__}: {error}")
        await asyncio.sleep(1.0)
    return placed, failed


async def _all_final_with_one_payment(shop: Shop, customer: Customer, placed: list[str]) -> None:
    for order_id in placed:
        order = await shop.until_final(customer, order_id, timeout_s=FINAL_TIMEOUT_S)
        assert order["status"] in ("confirmed", "cancelled"), order
        payments = await shop.payments(customer, order_id)
        if order["status"] == "confirmed":
            assert [p["status"] for p in payments] == ["succeeded"], (order_id, payments)
        else:
            assert len(payments) <= 1, (order_id, payments)


async def test_a_rolling_upgrade_under_a_stream_of_orders_fails_no_request_then_rolls_back(
    platform: str, kubectl: Kubectl, helm: Helm, shop: Shop
) -> None:
    customer = await shop.sign_up("K8s Upgrader")
    mug = await _mug(shop, "DEMO-STICKERS")
    before = json.loads(helm.run("status", RELEASE, "-n", platform, "-o", "json").stdout)
    # A new pod template for every service (what a new image tag does): a full rolling update.
    rollout = []
    for service in SERVICES:
        rollout += ["--set", f"{service}.podAnnotations.flotilla\\.dev/rollout=k8s-test"]
    upgrade = asyncio.ensure_future(
        asyncio.to_thread(
            helm.run,
            "upgrade",
            RELEASE,
            str(CHART),
            "-n",
            platform,
            "--reuse-values",
            *rollout,
            "--wait",
            "--timeout",
            "300s",
            timeout=330,
        )
    )
    placed, failed = await _stream(shop, customer, str(mug["id"]), until=upgrade, least=30)
    await upgrade
    assert failed == [], f"{len(failed)} of {len(placed) + len(failed)} orders failed: {failed}"
    await _all_final_with_one_payment(shop, customer, placed)
    helm.run(
        "rollback",
        RELEASE,
        str(before["version"]),
        "-n",
        platform,
        "--wait",
        "--timeout",
        "300s",
        timeout=330,
    )
    after = json.loads(helm.run("status", RELEASE, "-n", platform, "-o", "json").stdout)
    assert after["info"]["status"] == "deployed"
    assert after["version"] == before["version"] + 2


async def test_a_payments_pod_deleted_mid_stream_loses_no_order(
    platform: str, kubectl: Kubectl, shop: Shop
) -> None:
    customer = await shop.sign_up("K8s Survivor")
    mug = await _mug(shop, "DEMO-STICKERS")
    pods = kubectl.json("pods", "-n", platform, "-l", "app.kubernetes.io/name=payments")["items"]
    # A serving replica: the rollback before may leave its old pods terminating, gone by the
    # time the delete comes.
    serving = [
        p for p in pods
        if "deletionTimestamp" not in p["metadata"]
        and {c["type"]: c["status"] for c in p["status"].get("conditions", [])}.get("Ready")
        == "True"
    ]  # fmt: skip
    assert len(serving) == SCALED["payments"], diagnose(kubectl, platform)
    victim = serving[0]["metadata"]["name"]

    few_placed = asyncio.Event()

    async def delete_after_a_few() -> None:
        await few_placed.wait()  # a few orders in flight first
        await asyncio.to_thread(
            kubectl.run, "delete", "pod", "-n", platform, victim, "--wait=false"
        )

    deleted = asyncio.ensure_future(delete_after_a_few())
    placed, failed = await _stream(
        shop, customer, str(mug["id"]), until=deleted, least=20, few_placed=few_placed
    )
    await deleted
    assert failed == [], failed
    await _all_final_with_one_payment(shop, customer, placed)


def _secret_value(kubectl: Kubectl, namespace: str, name: str, key: str) -> str:
    data = kubectl.json("secret", "-n", namespace, name)["data"]
    return base64.b64decode(data[key]).decode()


def test_one_services_chart_installs_alone_into_its_own_namespace(
    platform: str, kubectl: Kubectl, helm: Helm, namespace: str
) -> None:
    """psp's own chart (deploy/helm/service), its own release in a namespace of its own, against
    the platform's Postgres by its cluster DNS name, with a role and schema of its own: the
    migration runs as the production default, a pre-install hook Job, since the database is
    already there."""
    release, service = "psp-alone", "psp"
    postgres = f"{RELEASE}-postgres.{platform}.svc:5432"
    admin_password = _secret_value(
        kubectl, platform, "flotilla-postgres-admin", "postgres_password"
    )
    password = secrets.token_hex(16)
    urls = {
        "flotilla-postgres-admin": ("admin_database_url", "postgres", admin_password),
        "flotilla-psp-db": ("database_url", "psp_alone", password),
    }
    for secret, (key, user, secret_password) in urls.items():
        url = f"postgresql+asyncpg://{user}:{secret_password}@{postgres}/flotilla"
        kubectl.run("create", "secret", "generic", "-n", namespace, secret,
                    f"--from-literal={key}={url}")  # fmt: skip
    api_keys = json.dumps({"acct_alone": f"sk_test_{secrets.token_hex(16)}"})
    kubectl.run("create", "secret", "generic", "-n", namespace, "flotilla-psp-api-keys",
                f"--from-literal=api_keys={api_keys}")  # fmt: skip
    chart = CHART.parent / "service"
    images = dict(flag.split("=", 1) for flag in image_flags() if "=" in flag)
    settings = {
        "service": service,
        "image.repository": images[f"{service}.image.repository"],
        "image.tag": images[f"{service}.image.tag"],
        "database.schema": "psp_alone",
        "secretFiles[0].setting": "api_keys",
        "secretFiles[0].secretName": "flotilla-psp-api-keys",
        "secretFiles[0].key": "api_keys",
        "global.flotilla.environment": "dev",
        # As values-dev.yaml: the dev broker has no SASL (psp itself uses no Kafka).
        "global.flotilla.kafka.securityProtocol": "PLAINTEXT",
        "global.flotilla.kafka.bootstrapServers": f"{RELEASE}-kafka.{platform}.svc:9092",
        "replicaCount": "1",
        "autoscaling.enabled": "false",
        "serviceMonitor.enabled": "false",
    }
    sets = [arg for key, value in settings.items() for arg in ("--set", f"{key}={value}")]
    try:
        helm.run("install", release, str(chart), "-n", namespace, *sets, "--wait",
                 "--timeout", "240s", timeout=270)  # fmt: skip
        deployment = kubectl.json("deploy", "-n", namespace, service)
        assert deployment["status"].get("readyReplicas") == 1, diagnose(kubectl, namespace)
        selector = f"app.kubernetes.io/name={service},app.kubernetes.io/component=api"
        (pod,) = kubectl.json("pods", "-n", namespace, "-l", selector)["items"]
        assert "initContainers" not in pod["spec"]  # the hook Job migrated, then was deleted
        probe = (
            "import urllib.request; "
            "print(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=5)"
            ".read().decode())"
        )
        health = json.loads(
            kubectl.run(
                "exec",
                "-n",
                namespace,
                f"deploy/{service}",
                "--",
                "python",
                "-c",
                probe,
                timeout=30,
            ).stdout
        )
        assert health["status"] == "pass", health
        assert "database" in health["checks"], health
        # Its tables are in its own schema of the shared database, beside the platform's psp.
        tables = kubectl.run(
            "exec", "-n", platform, f"{RELEASE}-postgres-0", "--", "env",
            f"PGPASSWORD={admin_password}", "psql", "-U", "postgres",
            "-h", "127.0.0.1", "-d", "flotilla", "-tAc",
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'psp_alone'", timeout=30,
        ).stdout  # fmt: skip
        assert int(tables.strip()) > 0, tables
    finally:
        helm.run("uninstall", release, "-n", namespace, "--wait", "--timeout", "120s",
                 timeout=150, check=False)  # fmt: skip


def test_uninstall_leaves_no_workload_behind(platform: str, kubectl: Kubectl, helm: Helm) -> None:
    helm.run("uninstall", RELEASE, "-n", platform, "--wait", "--timeout", "180s", timeout=200)
    kinds = "deploy,statefulset,replicaset,daemonset,job,cronjob,pod,service,pvc"

    async def gone() -> str | None:
        left = kubectl.run("get", kinds, "-n", platform, "-o", "name").stdout.split()
        # The StatefulSets' claims are kept by design (Kubernetes keeps volumeClaimTemplates'
        # claims); the namespace's deletion removes them.
        workloads = [name for name in left if not name.startswith("persistentvolumeclaim/")]
        return "gone" if not workloads else None

    asyncio.run(_eventually(f"every workload of {RELEASE} deleted", gone, timeout_s=60))
