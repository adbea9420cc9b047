"""The platform on a real cluster, the way a platform team meets it (issue 12, item 3): the
umbrella chart installed with helm and the dev values into a PodSecurity-restricted namespace,
the migration Jobs run as helm hooks, every pod Ready, orders and payments at two replicas; the
README's shop flow through the in-cluster nginx gateway (port-forwarded to loopback); and
`helm uninstall` leaving no workload behind.

The install is two helm steps (conftest.install): the dev Postgres is an ordinary object of the
release, and helm runs pre-install hooks before it creates any of those, so a single `helm
install` would run the migration Jobs against a Postgres that does not exist yet. The first step
installs the infrastructure (every service disabled); the second, an
upgrade, runs the migration Jobs as real pre-upgrade hooks against the running Postgres.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from devstack.cluster.kubectl import Kubectl
from devstack.shop import Shop
from tests.k8s.conftest import RELEASE, SCALED, SERVICES, Helm, diagnose

ORDER_TIMEOUT_S = 60.0


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


def _seed_demo_catalog(kubectl: Kubectl, namespace: str) -> None:
    kubectl.run(
        "exec",
        "-n",
        namespace,
        "deploy/catalog",
        "--",
        "python",
        "-m",
        "catalog",
        "seed-demo",
        timeout=60,
    )


async def _mug(shop: Shop) -> dict[str, object]:
    return next(p for p in await shop.products() if p["sku"] == "DEMO-MUG")


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
    pods = kubectl.json("pods", "-n", platform)["items"]
    not_ready = [
        p["metadata"]["name"]
        for p in pods
        if p["status"].get("phase") != "Succeeded"
        and {c["type"]: c["status"] for c in p["status"].get("conditions", [])}.get("Ready")
        != "True"
    ]
    assert not_ready == [], diagnose(kubectl, platform)
    # The migration hooks ran (and, having succeeded, were deleted by their delete policy): each
    # service's tables exist, so its readiness (which checks its database) passed.
    assert {"flotilla-postgres-0", "flotilla-kafka-0"} <= {p["metadata"]["name"] for p in pods}


async def test_an_order_is_confirmed_and_a_declined_card_cancels_it(
    platform: str, kubectl: Kubectl, shop: Shop
) -> None:
    _seed_demo_catalog(kubectl, platform)
    customer = await shop.sign_up("K8s Shopper")
    mug = await _mug(shop)

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
