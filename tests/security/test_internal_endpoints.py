"""Item 4 of the hardening issue: a service's metrics, probes and version are for the cluster.
Through the gateway they told anyone the build, the dependencies' state and every route's
traffic, and each /healthz call probed the database and Kafka. Now the gateway answers them
404; Prometheus and the probes call each service on its own port, where they still work."""

from __future__ import annotations

import httpx

from devstack.attack_log import Attacks
from devstack.routes import load_routes
from devstack.stack import Stack

ENDPOINTS = ("metrics", "healthz", "readyz", "livez", "version")
TRICKS = ("/{prefix}/{endpoint}", "/{prefix}//{endpoint}", "/{prefix}/{endpoint}/?x=1")


async def test_operational_endpoints_are_not_served_through_the_gateway(
    gateway: httpx.AsyncClient, test_stack: Stack, attacks: Attacks
) -> None:
    public = [route.service for route in load_routes() if route.public]
    for service in public:
        for endpoint in ENDPOINTS:
            for trick in TRICKS:
                path = trick.format(prefix=service, endpoint=endpoint)
                response = await gateway.get(path)
                if trick == TRICKS[0] or response.status_code != 404:
                    attacks.tried(f"GET {path} through the gateway", response)
                assert response.status_code == 404, f"{path}: {response.text[:200]}"
                assert response.headers["content-type"] == "application/problem+json"
    # Inside, where Prometheus and the probes call them, they still answer.
    async with httpx.AsyncClient(base_url=test_stack.service("catalog").url) as direct:
        for endpoint in ENDPOINTS:
            assert (await direct.get(f"/{endpoint}")).status_code == 200, endpoint
