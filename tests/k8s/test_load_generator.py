"""The umbrella chart's load generator on the dev install (`loadGenerator.enabled`, off by
default): turned on with a `helm upgrade`, its pod places orders through the in-cluster gateway
and says so in its JSON progress lines; turned off again, it lets the journeys under way finish
and logs its summary before the pod goes. Short and bounded: the rest of the platform's tests
share the install (and its demo catalog's stock)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from devstack.cluster.kubectl import Kubectl
from tests.k8s.conftest import CHART, RELEASE, Helm, diagnose, seed_demo_catalog

DEPLOYMENT = f"{RELEASE}-load-generator"
SELECTOR = "app.kubernetes.io/name=load-generator"
CONFIRMED_WANTED = 2
PLACING_TIMEOUT_S = 180.0


def _records(text: str) -> list[dict[str, Any]]:
    """The JSON lines of the generator's log (anything else is a failure of its log format)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _logs(kubectl: Kubectl, namespace: str) -> list[dict[str, Any]]:
    logs = kubectl.run("logs", "-n", namespace, f"deploy/{DEPLOYMENT}", check=False, timeout=30)
    return _records(logs.stdout) if logs.returncode == 0 else []


def _upgrade(helm: Helm, namespace: str, *sets: str) -> None:
    args = [arg for assignment in sets for arg in ("--set", assignment)]
    helm.run("upgrade", RELEASE, str(CHART), "-n", namespace, "--reuse-values", *args,
             "--wait", "--timeout", "180s", timeout=210)  # fmt: skip


def test_turned_on_it_places_orders_and_turned_off_it_sums_up(
    platform: str, kubectl: Kubectl, helm: Helm, tmp_path: Path
) -> None:
    seed_demo_catalog(kubectl, platform)  # without an admin password it orders what is in stock
    _upgrade(helm, platform, "loadGenerator.enabled=true", "loadGenerator.rate=2",
             "loadGenerator.progressEverySeconds=5")  # fmt: skip
    follower: subprocess.Popen[bytes] | None = None
    try:
        (pod,) = kubectl.json("pods", "-n", platform, "-l", SELECTOR)["items"]
        spec = pod["spec"]["containers"][0]
        assert spec["securityContext"]["readOnlyRootFilesystem"] is True
        deadline = time.monotonic() + PLACING_TIMEOUT_S
        while True:
            progress = [r for r in _logs(kubectl, platform) if r["event"] == "load.progress"]
            confirmed = progress[-1]["orders"].get("confirmed", 0) if progress else 0
            if confirmed >= CONFIRMED_WANTED:
                break
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no {CONFIRMED_WANTED} confirmed orders in {PLACING_TIMEOUT_S:.0f}s: "
                    f"{progress[-1:]}\n{diagnose(kubectl, platform)}"
                )
            time.sleep(2)
        assert sum(r["failed"] for r in progress) == 0, progress
        # Follow the log through the shutdown: the summary is the pod's last word.
        log = tmp_path / "generator.log"
        with log.open("wb") as out:
            follower = subprocess.Popen(
                [kubectl.binary, "--kubeconfig", str(kubectl.lay.kubeconfig), "logs", "-f",
                 "-n", platform, pod["metadata"]["name"]],
                stdout=out, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        _upgrade(helm, platform, "loadGenerator.enabled=false")
        kubectl.run("wait", "--for=delete", "pod", "-n", platform, "-l", SELECTOR,
                    "--timeout=120s", timeout=130)  # fmt: skip
        follower.wait(timeout=30)
        records = _records(log.read_text())
        summary = records[-1]
        assert summary["event"] == "load.summary", records[-3:]
        assert summary["orders"].get("confirmed", 0) >= CONFIRMED_WANTED, summary
        # Every order it placed was followed to its end before the pod went.
        assert set(summary["orders"]) <= {"confirmed", "cancelled", "rejected"}, summary
        assert summary["operations"]["POST /orders"]["failed"] == 0, summary
    finally:
        if follower is not None and follower.poll() is None:
            follower.kill()
            follower.wait(timeout=10)
        deployments = kubectl.json("deploy", "-n", platform)["items"]
        if any(d["metadata"]["name"] == DEPLOYMENT for d in deployments):
            _upgrade(helm, platform, "loadGenerator.enabled=false")  # the test failed midway
