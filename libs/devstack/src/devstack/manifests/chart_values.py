"""The umbrella chart's per-service values: each service's section of values.yaml (what its
manifest says), the dev and prod values' service entries, and values.schema.json's."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import yaml

from contracts.manifest import ServiceManifest
from devstack.manifests.blocks import BlockError, begin_marker, end_marker, replace_blocks
from devstack.manifests.delivery import PLACEHOLDER_DIGEST, uses_kafka

__all__ = ["schema", "values", "values_dev", "values_prod"]

_SERVICE_SCHEMA = "flotilla-service values"
"""The description that marks a generated entry of values.schema.json."""


def values(manifests: Sequence[ServiceManifest], text: str, where: str) -> str:
    """values.yaml: `global.flotilla.services` and a generated block in each service's section
    (a new service's section is appended; hand-written keys may follow the block)."""
    bodies = {"services": _service_list("    services", manifests)}
    bodies.update({f"service {m.name}": _service_values(m) for m in manifests})

    def section(name: str, body: str) -> str:
        service = name.removeprefix("service ")
        return f"\n{service}:\n{begin_marker(name, '  ')}{body}{end_marker(name, '  ')}"

    return replace_blocks(text, bodies, where, missing=section)


def values_dev(manifests: Sequence[ServiceManifest], text: str, where: str) -> str:
    """values-dev.yaml: every service without a section of its own gets the dev settings."""
    by_hand = _hand_written_keys(text, {"services": ""}, where)
    lines = "".join(f"{m.name}: *dev\n" for m in manifests if m.name not in by_hand)
    return replace_blocks(text, {"services": lines}, where)


def values_prod(manifests: Sequence[ServiceManifest], text: str, where: str) -> str:
    """values-prod.yaml: the production services' list and entries; the others are off."""
    blocks = {"production services": "", "services": ""}
    by_hand = _hand_written_keys(text, blocks, where)
    entries = []
    for manifest in manifests:
        if manifest.name in by_hand:
            continue
        if manifest.production:
            entries.append(
                f'{manifest.name}:\n  <<: *prod\n  image: {{digest: "{PLACEHOLDER_DIGEST}"}}\n'
            )
        else:
            entries.append(
                "# Not a production service (its manifest says `production = false`): off, and no "
                f"route to it anywhere.\n{manifest.name}:\n  enabled: false\n"
            )
    production = [m for m in manifests if m.production]
    bodies = {
        "production services": _service_list("    services", production),
        "services": "".join(entries),
    }
    return replace_blocks(text, bodies, where)


def schema(manifests: Sequence[ServiceManifest], text: str, where: str) -> str:
    """values.schema.json: one entry per service (JSON has no comments: the generated entries
    are the ones whose description starts with "flotilla-service values"), where they were."""
    try:
        document: dict[str, Any] = json.loads(text)
    except json.JSONDecodeError as error:
        raise BlockError(f"{where}: not valid JSON: {error}") from None
    properties: dict[str, Any] = document.get("properties", {})
    generated = [
        key
        for key, entry in properties.items()
        if str(entry.get("description", "")).startswith(_SERVICE_SCHEMA)
    ]
    keys = list(properties)
    at = keys.index(generated[0]) if generated else len(keys)
    before = {k: properties[k] for k in keys[:at] if k not in generated}
    after = {k: properties[k] for k in keys[at:] if k not in generated}
    services = {
        m.name: {
            "type": "object",
            "properties": {"enabled": {"type": "boolean"}},
            "description": f"{_SERVICE_SCHEMA} (deploy/helm/service/values.schema.json); "
            f"generated from its manifest by make deploy-generate",
        }
        for m in manifests
    }
    document["properties"] = before | services | after
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _service_values(manifest: ServiceManifest) -> str:
    body = f"  enabled: true\n  service: {manifest.name}\n"
    if uses_kafka(manifest):
        body += f"  kafka:\n    username: {manifest.name}\n"
    if manifest.public:
        body += f"  rootPath: {manifest.http.prefix}\n"
    else:
        body += (
            "  # Called at its own root (no gateway prefix), so its /docs find its /openapi.json.\n"
            '  rootPath: ""\n'
        )
    return body


def _service_list(key: str, manifests: Sequence[ServiceManifest]) -> str:
    return f"{key}: [{', '.join(m.name for m in manifests)}]\n"


def _hand_written_keys(text: str, empty_blocks: dict[str, str], where: str) -> set[str]:
    """The top-level keys of `text` outside its generated blocks."""
    try:
        document = yaml.safe_load(replace_blocks(text, empty_blocks, where))
    except yaml.YAMLError as error:
        raise BlockError(f"{where}: not valid YAML: {error}") from None
    return set(document or {})
