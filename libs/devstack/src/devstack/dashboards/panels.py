"""The few panel shapes Flotilla's dashboards use, built with grafana-foundation-sdk (Grafana 11).

Every query goes through the `datasource` variable, which starts on Flotilla's own Prometheus
data source (`PROMETHEUS_UID`, not Grafana's default: a kube-prometheus-stack Grafana has its
own). Every selector carries `SCOPE`, the `cluster` and `namespace` variables, so that several
Flotilla installs scraped by one Prometheus never add up on a panel. Every panel can link to
the service's traces in Jaeger (`jaeger_url` variable) and, on series labelled by `job`, to
the per-service drill-down. Latency panels ask for exemplars: Prometheus keeps the trace id of
sampled requests on the histogram buckets, and Grafana's Prometheus data source links them to
the trace (`deploy/observability/grafana/datasources.yaml`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from grafana_foundation_sdk.builders import dashboard as builder
from grafana_foundation_sdk.builders import prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders.common import StackingConfig
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.variants import Dataquery
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.common import (
    BigValueGraphMode,
    GraphDrawStyle,
    StackingMode,
    VisibilityMode,
)
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    VariableOption,
    VariableRefresh,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

__all__ = [
    "API",
    "DATASOURCE",
    "JOB",
    "PROMETHEUS_UID",
    "SCOPE",
    "Query",
    "base_dashboard",
    "job_variable",
    "quantiles",
    "stat_panel",
    "table_panel",
    "timeseries_panel",
]

PROMETHEUS_UID = "flotilla-prometheus"
"""The uid of deploy/observability/grafana/datasources.yaml's Prometheus."""
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
SCOPE = 'cluster=~"$cluster",namespace=~"$namespace"'
"""In every selector. Where Prometheus has no such label (the local stack, a single cluster
without a `cluster` label), the variable is empty or `.*`, and both match a missing label."""
JOB = f'job=~"$job",{SCOPE}'
API = 'http_route!~"/livez|/readyz|/healthz|/metrics"'
"""The service's own API: probes and scrapes are not traffic."""
SERVICE_DASHBOARD = "flotilla-service"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    exemplar: bool = False
    instant: bool = False


def quantiles(
    metric: str, by: str, selector: str = "", qs: Sequence[float] = (0.5, 0.95, 0.99)
) -> list[Query]:
    """One histogram_quantile per q over `<metric>_bucket`, aggregated `by` (plus `le`)."""
    label = by.split(",")[0].strip() if by else ""
    return [
        Query(
            f"histogram_quantile({q}, sum by ({by + ', ' if by else ''}le) "
            f"(rate({metric}_bucket{{{selector}}}[$__rate_interval])))",
            f"p{round(q * 100)}" + (f" {{{{{label}}}}}" if label else ""),
            exemplar=True,
        )
        for q in qs
    ]


def base_dashboard(uid: str, title: str, description: str) -> builder.Dashboard:
    return (
        builder.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["flotilla"])
        .refresh("30s")
        .time("now-1h", "now")
        .timezone("browser")
        .with_variable(
            builder.DatasourceVariable("datasource")
            .label("Prometheus")
            .type("prometheus")
            .current(
                VariableOption(text="Flotilla Prometheus", value=PROMETHEUS_UID, selected=True)
            )
        )
        .with_variable(
            builder.TextBoxVariable("jaeger_url")
            .label("Jaeger")
            .description("Where Jaeger's UI answers (panel links open traces there).")
            .default_value("http://127.0.0.1:16686")
        )
        .with_variable(_scope_variable("cluster", "Cluster", "flotilla_build_info"))
        .with_variable(
            _scope_variable("namespace", "Namespace", 'flotilla_build_info{cluster=~"$cluster"}')
        )
        .link(
            builder.DashboardLink("Flotilla")
            .type(model.DashboardLinkType.DASHBOARDS)
            .tags(["flotilla"])
            .as_dropdown(True)
            .include_vars(False)
            .keep_time(True)
        )
    )


def _scope_variable(name: str, label: str, series: str) -> builder.QueryVariable:
    """One install at a time (no "All"): two installs' series must not be summed. A Prometheus
    without the label gives no value, and the empty matcher value selects its unlabelled series."""
    return (
        builder.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(f"label_values({series}, {name})")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
    )


def job_variable(multi: bool) -> builder.QueryVariable:
    variable = (
        builder.QueryVariable("job")
        .label("Service")
        .datasource(DATASOURCE)
        .query(f"label_values(flotilla_build_info{{{SCOPE}}}, job)")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .multi(multi)
    )
    if multi:
        variable = variable.include_all(True).all_value(".*")
    return variable


def _targets(queries: Sequence[Query]) -> list[Builder[Dataquery]]:
    targets: list[Builder[Dataquery]] = []
    for ref, query in zip("ABCDEFGHIJ", queries, strict=False):
        target = prometheus.Dataquery().expr(query.expr).ref_id(ref).legend_format(query.legend)
        if query.exemplar:
            target = target.exemplar(True)
        if query.instant:
            target = target.instant().format(PromQueryFormat.TABLE)
        targets.append(target)
    return targets


def _links(panel_title: str, job: str) -> list[Builder[model.DashboardLink]]:
    return [
        builder.DashboardLink(f"Traces of {job} in Jaeger")
        .url(f"${{jaeger_url}}/search?service={job}&lookback=1h")
        .target_blank(True)
        .tooltip(f"Recent traces behind “{panel_title}”")
    ]


def _drill_down() -> list[Builder[model.DashboardLink]]:
    return [
        builder.DashboardLink("${__field.labels.job}: service drill-down").url(
            f"/d/{SERVICE_DASHBOARD}?var-job=${{__field.labels.job}}&${{__url_time_range}}"
            # the same install: a drill-down must not open on another namespace's series
            "&var-cluster=${cluster}&var-namespace=${namespace}"
        ),
        builder.DashboardLink("${__field.labels.job}: traces in Jaeger")
        .url("${jaeger_url}/search?service=${__field.labels.job}&lookback=1h")
        .target_blank(True),
    ]


def timeseries_panel(
    title: str,
    queries: Sequence[Query],
    *,
    unit: str = "short",
    description: str = "",
    width: int = 8,
    height: int = 8,
    job: str = "$job",
    stacked: bool = False,
    bars: bool = False,
    drill_down: bool = True,
) -> timeseries.Panel:
    """`drill_down=False` for series not labelled by a service's `job` (the Kafka broker's)."""
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(width)
        .height(height)
        .targets(_targets(queries))
        .links(_links(title, job))
        .fill_opacity(10)
        .show_points(VisibilityMode.NEVER)
    )
    if drill_down:
        panel = panel.data_links(_drill_down())
    if stacked:
        panel = panel.stacking(StackingConfig().mode(StackingMode.NORMAL))
    if bars:
        panel = panel.draw_style(GraphDrawStyle.BARS)
    return panel


def stat_panel(
    title: str,
    queries: Sequence[Query],
    *,
    unit: str = "short",
    description: str = "",
    width: int = 4,
    height: int = 4,
    job: str = "$job",
) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(width)
        .height(height)
        .targets(_targets(queries))
        .links(_links(title, job))
        .graph_mode(BigValueGraphMode.AREA)
    )


def table_panel(
    title: str,
    queries: Sequence[Query],
    *,
    description: str = "",
    width: int = 12,
    height: int = 8,
    job: str = "$job",
) -> table.Panel:
    return (
        table.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .span(width)
        .height(height)
        .targets(_targets([Query(q.expr, q.legend, instant=True) for q in queries]))
        .links(_links(title, job))
        .data_links(_drill_down())
    )
