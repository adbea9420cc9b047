"""Flotilla's Grafana dashboards as code (grafana-foundation-sdk, Grafana 11).

`python -m devstack.dashboards generate` writes them to deploy/observability/dashboards/*.json,
which are committed (the Helm chart ships them as ConfigMaps for Grafana's sidecar);
`python -m devstack.dashboards check` fails when a committed file differs from what the code
generates (tests/observability runs it).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from devstack.dashboards.drilldown import service
from devstack.dashboards.flows import event_pipeline
from devstack.dashboards.funnel import order_funnel
from devstack.dashboards.overview import overview
from devstack.profiles import REPO_ROOT

__all__ = ["DASHBOARDS", "DASHBOARDS_DIR", "render"]

DASHBOARDS_DIR = REPO_ROOT / "deploy" / "observability" / "dashboards"
DASHBOARDS: dict[str, Callable[[], Dashboard]] = {
    "platform-overview.json": overview,
    "service.json": service,
    "event-pipeline.json": event_pipeline,
    "order-funnel.json": order_funnel,
}


def render() -> dict[str, str]:
    """File name → the dashboard's JSON text, exactly as committed."""
    rendered = {}
    for name, build in DASHBOARDS.items():
        document = json.loads(json.dumps(build().build(), cls=JSONEncoder))
        for number, panel in enumerate(document["panels"], start=1):
            panel["id"] = number  # stable ids: Grafana keeps panel links and state by id
        rendered[name] = json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    return rendered
