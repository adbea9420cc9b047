"""Kubernetes delivery's per-service lists: skaffold's images and port forwards, the umbrella
chart's dependencies, the dev Secrets script and the kustomize overlays' service patterns."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from contracts.manifest import ServiceManifest
from devstack.manifests.blocks import replace_blocks
from devstack.profiles import profile

__all__ = [
    "HTTP_PORT",
    "chart_dependencies",
    "dev_overlay",
    "dev_secrets",
    "k8s_name",
    "prod_overlay",
    "skaffold",
    "uses_kafka",
]

HTTP_PORT = 8000
"""Every service's container and Service port (deploy/helm/service: `http.port`)."""
PLACEHOLDER_DIGEST = "sha256:" + "0" * 64
"""Until a release's digests are set: a pull fails rather than run an unpinned image."""


def k8s_name(manifest: ServiceManifest) -> str:
    """Its Kubernetes objects' name (the chart's `svc.fullname`: no `_` in a DNS label)."""
    return manifest.name.replace("_", "-")


def uses_kafka(manifest: ServiceManifest) -> bool:
    """Whether it has a KafkaUser and Kafka credentials: it publishes or consumes."""
    return bool(manifest.publishes) or manifest.consumer is not None


def skaffold(manifests: Sequence[ServiceManifest], text: str, where: str) -> str:
    first_port = profile("local").first_service_port  # as `make up`'s, by position
    return replace_blocks(
        text,
        {
            "images": "".join(
                f"    - image: flotilla/{m.name}\n"
                "      context: .\n"
                f"      docker: {{dockerfile: Dockerfile, buildArgs: {{SERVICE: {m.name}}}}}\n"
                for m in manifests
            ),
            "image values": "".join(
                f'          {m.name}.image.repository: "{{{{.IMAGE_REPO_flotilla_{m.name}}}}}"\n'
                f'          {m.name}.image.tag: "{{{{.IMAGE_TAG_flotilla_{m.name}}}}}"\n'
                for m in manifests
            ),
            "port forwards": "".join(
                f"      - {{resourceType: service, resourceName: {k8s_name(m)}, namespace: "
                f"flotilla-dev, port: {HTTP_PORT}, localPort: {first_port + index}}}\n"
                for index, m in enumerate(manifests)
            ),
        },
        where,
    )


def chart_dependencies(manifests: Sequence[ServiceManifest], text: str, where: str) -> str:
    entries = "".join(
        '  - {name: flotilla-service, version: 0.1.0, repository: "file://../service", '
        f"alias: {m.name}, condition: {m.name}.enabled}}\n"
        for m in manifests
    )
    return replace_blocks(text, {"services": entries}, where)


def dev_secrets(manifests: Sequence[ServiceManifest], text: str, where: str) -> str:
    names = " ".join(m.name for m in manifests)
    return replace_blocks(text, {"services": f"services=({names})\n"}, where)


def dev_overlay(manifests: Sequence[ServiceManifest], text: str, where: str) -> str:
    kafka = _pattern(m for m in manifests if uses_kafka(m))
    every = _pattern(manifests)
    return replace_blocks(
        text,
        {
            "kafka clients": f'  - target: {{kind: ConfigMap, name: "^({kafka})$"}}\n',
            "services": f'  - target: {{kind: NetworkPolicy, name: "^({every})$"}}\n',
        },
        where,
    )


def prod_overlay(
    manifests: Sequence[ServiceManifest],
    text: str,
    where: str,
    *,
    prod_values: Mapping[str, Any],
    version: str,
) -> str:
    """The prod overlay as values-prod.yaml: only production services, their images pinned,
    their DOWNSTREAMS without the others (with values-prod.yaml's `downstreams` on top)."""
    production = [m for m in manifests if m.production]
    names = _pattern(production)
    images = "".join(
        f"  - {{name: flotilla/{m.name}, newName: registry.example.com/flotilla/{m.name}, "
        f"newTag: {version}, digest: {PLACEHOLDER_DIGEST}}}\n"
        for m in production
    )
    removed = "".join(
        f'  - target: {{labelSelector: "app.kubernetes.io/name={m.name}"}}\n'
        "    patch: |-\n"
        "      $patch: delete\n"
        "      apiVersion: v1\n"
        "      kind: Any\n"
        "      metadata: {name: any}\n"
        for m in manifests
        if not m.production
    )
    downstreams = []
    for manifest in production:
        calls: dict[str, Any] = {
            other.name: {"base_url": f"http://{k8s_name(other)}:{HTTP_PORT}"}
            for other in production
            if other.name != manifest.name
        }
        calls.update((prod_values.get(manifest.name) or {}).get("downstreams") or {})
        value = json.dumps(calls, sort_keys=True, separators=(",", ":"))
        downstreams.append(
            f"  - target: {{kind: ConfigMap, name: {k8s_name(manifest)}}}\n"
            "    patch: |-\n"
            "      - op: replace\n"
            "        path: /data/DOWNSTREAMS\n"
            f"        value: '{value}'\n"
        )
    return replace_blocks(
        text,
        {
            "images": images,
            "database clients": (
                f'  - target: {{kind: NetworkPolicy, name: "^({names})(-migration)?$"}}\n'
            ),
            "database configs": f'  - target: {{kind: ConfigMap, name: "^({names})$"}}\n',
            "not in production": removed,
            "downstreams": "".join(downstreams),
        },
        where,
    )


def _pattern(manifests: Any) -> str:
    return "|".join(k8s_name(m) for m in manifests)
