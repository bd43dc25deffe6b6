"""Build the Grafana dashboards in grafana/dashboards/ with grafana-foundation-sdk (typed builders).

    pip install 'grafana-foundation-sdk==1769699998!10.1.0'
    python grafana/build.py           # rewrite the JSON files
    python grafana/build.py --check   # exit 1 if they are out of date

The SDK's Grafana 10.1 schema is the oldest both supported majors read: the files import
into Grafana 10 and 11, which migrate schemaVersion 36 on load. The overview has one panel
per catalog section, built from exporter/catalog/faults.py, so every fault id has a panel; the
tests enforce it and run every query against a real Prometheus. Runbook links, expiry and
staleness thresholds and the replica labels come from deploy/alerting.yaml (tools/generate.py
runs this script with the other generators). Every dashboard has `job` and `instance`
variables, and the queries aggregate replicas away so an HA pair is not counted twice.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

from grafana_foundation_sdk.builders import bargauge, stat, table, timeseries
from grafana_foundation_sdk.builders.common import ReduceDataOptions, VizLegendOptions
from grafana_foundation_sdk.builders.dashboard import (
    AnnotationQuery,
    Dashboard,
    DashboardLink,
    DatasourceVariable,
    QueryVariable,
    Row,
    ThresholdsConfig,
)
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import (
    BigValueColorMode,
    BigValueGraphMode,
    LegendDisplayMode,
    LegendPlacement,
)
from grafana_foundation_sdk.models.dashboard import (
    DashboardLinkType,
    DataSourceRef,
    DataTransformerConfig,
    DynamicConfigValue,
    Threshold,
    ThresholdsMode,
    ValueMap,
    ValueMappingResult,
    VariableOption,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exporter.catalog.faults import FAULTS, SECTIONS  # noqa: E402 - after the sys.path line that makes the repo importable
from tools.alerting.settings import load as load_settings  # noqa: E402 - after the sys.path line that makes the repo importable
from tools.alerting.settings import seconds  # noqa: E402 - after the sys.path line that makes the repo importable

OUT = ROOT / "grafana" / "dashboards"
DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
SETTINGS = load_settings()  # deploy/alerting.yaml: runbook base URL, thresholds, replica labels
RUNBOOK = f"{SETTINGS.runbook_base_url}#${{__value.raw}}"
RUNBOOK_BY_LABEL = f"{SETTINGS.runbook_base_url}#${{__field.labels.fault}}"
TARGET_LINK = ("/d/sslfault-target/ssl-fault-target?var-target=${__value.raw}&${datasource:queryparam}"
               "&${job:queryparam}&${instance:queryparam}")
SCOPE = 'job=~"$job", instance=~"$instance"'  # which exporters: an HA pair, or one replica of it
T = f'{SCOPE}, target=~"$target"'  # multi-value target filter (overview)
T1 = f'{SCOPE}, target="$target"'  # single target (target detail)
WARN_DAYS, CRIT_DAYS = SETTINGS.expiry.warning_days, SETTINGS.expiry.critical_days
STALE_SECONDS = seconds(SETTINGS.exporter.stale_after)
REPLICAS = ", ".join(SETTINGS.replica_labels)
Panel = TypeVar("Panel", stat.Panel, table.Panel, timeseries.Panel, bargauge.Panel)


def q(expr: str, legend: str = "", ref: str = "A", *, instant: bool = True, table: bool = False) -> Dataquery:
    """A Prometheus query; tables get one row per series, the other panels one series each."""
    query = Dataquery().expr(expr).ref_id(ref).legend_format(legend or "__auto")
    query = query.instant() if instant else query.range()
    return query.format(PromQueryFormat.TABLE if table else PromQueryFormat.TIME_SERIES)


def steps(*pairs: tuple[float | None, str]) -> ThresholdsConfig:
    return ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps([Threshold(value=v, color=c) for v, c in pairs])


def one(expr: str, how: str = "max") -> str:
    """One series per target (and address) however many replicas of the exporter report it."""
    return f"{how} without ({REPLICAS}) ({expr})" if REPLICAS else expr


def n(value: float) -> str:
    return f"{value:g}"


RED_IF_ANY = steps((None, "green"), (1, "red"))
DAYS = steps((None, "red"), (CRIT_DAYS, "orange"), (WARN_DAYS, "green"))
HIDE = {"Time": True, "__name__": True, "job": True, "instance": True}


def organize(hide: dict[str, bool] | None = None, rename: dict[str, str] | None = None) -> DataTransformerConfig:
    return DataTransformerConfig(id_val="organize", options={
        "excludeByName": {**HIDE, **(hide or {})}, "renameByName": rename or {}, "indexByName": {}})


def link(title: str, url: str) -> DynamicConfigValue:
    return DynamicConfigValue(id_val="links", value=[{"title": title, "url": url, "targetBlank": url.startswith("http")}])


def with_common(panel: Panel, title: str, description: str, w: int, h: int, queries: Sequence[Dataquery]) -> Panel:
    panel = panel.title(title).description(description).datasource(DS).span(w).height(h)
    for query in queries:
        panel = panel.with_target(query)
    return panel


def stat_panel(title: str, description: str, expr: str, *, w: int = 4, h: int = 4, unit: str = "none",
               thresholds: ThresholdsConfig = RED_IF_ANY, legend: str = "") -> stat.Panel:
    panel = stat.Panel().unit(unit).thresholds(thresholds).color_mode(BigValueColorMode.BACKGROUND)
    panel = panel.graph_mode(BigValueGraphMode.NONE).reduce_options(ReduceDataOptions().calcs(["lastNotNull"]))
    return with_common(panel, title, description, w, h, [q(expr, legend)])


def table_panel(title: str, description: str, expr: str, *, w: int = 12, h: int = 8, value: str | None = None,
                unit: str = "none", thresholds: ThresholdsConfig | None = None, runbook: bool = False,
                hide: dict[str, bool] | None = None, decimals: float | None = None) -> table.Panel:
    """An instant query as a table; `value` names the value column (None hides it)."""
    rename = {"Value": value} if value else {}
    panel = table.Panel().show_header(True).unit(unit).with_transformation(
        organize({**({} if value else {"Value": True}), **(hide or {})}, rename))
    if decimals is not None:
        panel = panel.decimals(decimals)
    if thresholds is not None and value:
        panel = panel.thresholds(thresholds).override_by_name(
            value, [DynamicConfigValue(id_val="custom.cellOptions", value={"type": "color-background"})])
    if runbook:
        panel = panel.override_by_name("fault", [link("Runbook", RUNBOOK)])
    panel = panel.override_by_name("target", [link("Target detail", TARGET_LINK)])
    return with_common(panel, title, description, w, h, [q(expr, table=True)])


def series_panel(title: str, description: str, queries: Sequence[tuple[str, str]], *, w: int = 12, h: int = 8,
                 unit: str = "none") -> timeseries.Panel:
    panel = timeseries.Panel().unit(unit).fill_opacity(10).line_width(1).legend(
        VizLegendOptions().display_mode(LegendDisplayMode.TABLE).placement(LegendPlacement.BOTTOM).show_legend(True))
    refs = "ABCDEFGH"
    return with_common(panel, title, description, w, h,
                       [q(expr, legend, refs[i], instant=False) for i, (expr, legend) in enumerate(queries)])


def bar_panel(title: str, description: str, expr: str, legend: str, *, w: int = 12, h: int = 8,
              runbook: bool = False) -> bargauge.Panel:
    panel = bargauge.Panel().thresholds(steps((None, "orange"))).min(0).reduce_options(
        ReduceDataOptions().calcs(["lastNotNull"]))
    if runbook:  # each bar is one fault id: link it to its runbook
        panel = panel.data_links([DashboardLink("Runbook").type(DashboardLinkType.LINK).url(RUNBOOK_BY_LABEL)
                                  .target_blank(True)])
    return with_common(panel, title, description, w, h, [q(expr, legend)])


def datasource_var() -> DatasourceVariable:
    return DatasourceVariable("datasource").id("datasource").label("Data source").type("prometheus")


def all_var(name: str, label: str, query: str) -> QueryVariable:
    return (QueryVariable(name).id(name).label(label).datasource(DS).query(query)
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED).sort(VariableSort.ALPHABETICAL_ASC)
            .multi(True).include_all(True).all_value(".*")
            .current(VariableOption(selected=True, text=["All"], value=["$__all"])))


def scope_vars(d: Dashboard) -> Dashboard:
    """`job` and `instance`: pick one replica of an HA pair, or keep all (queries deduplicate them)."""
    return (d.with_variable(all_var("job", "Job", "label_values(sslfault_build_info, job)"))
            .with_variable(all_var("instance", "Instance", 'label_values(sslfault_build_info{job=~"$job"}, instance)')))


def target_var(multi: bool) -> QueryVariable:
    query = f"label_values(sslfault_faults_active{{{SCOPE}}}, target)"
    if multi:
        return all_var("target", "Target", query)
    return (QueryVariable("target").id("target").label("Target").datasource(DS).query(query)
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED).sort(VariableSort.ALPHABETICAL_ASC)
            .multi(False).include_all(False))


def dashboard(uid: str, title: str, description: str) -> Dashboard:
    builtin = (AnnotationQuery().name("Annotations & Alerts").datasource(DataSourceRef(type_val="grafana", uid="-- Grafana --"))
               .enable(True).hide(True).icon_color("rgba(0, 211, 255, 1)").type("dashboard"))
    return (Dashboard(title).uid(uid).description(description).tags(["sslfault"]).editable().refresh("1m")
            .time("now-6h", "now").timezone("browser").annotation(builtin)
            .link(DashboardLink("SSL fault dashboards").type(DashboardLinkType.DASHBOARDS).tags(["sslfault"])
                  .as_dropdown(True).include_vars(False).keep_time(True)))


# -- overview ---------------------------------------------------------------------------------


def section_panels() -> list[table.Panel]:
    """One table per catalog section: the fault ids come from exporter/catalog/faults.py."""
    panels = []
    for section, heading in SECTIONS.items():
        ids = [f.id for f in FAULTS.values() if f.section == section]
        if not ids:
            continue
        label = heading if section == "extra" else f"{section} {heading}"
        panels.append(table_panel(label, f"Active faults of catalog section {section}: {', '.join(ids)}.",
                                  one(f'sslfault_fault{{{T}, fault=~"{"|".join(ids)}"}}'), w=8, h=7, runbook=True))
    return panels


def overview() -> Dashboard:
    d = dashboard("sslfault-overview", "SSL fault overview",
                  "Every target's active SSL faults, expiry and check errors.").with_variable(datasource_var())
    d = scope_vars(d).with_variable(target_var(multi=True)).with_row(Row("Now").id(100))
    for severity, color in (("critical", "red"), ("warning", "orange"), ("info", "blue")):
        d = d.with_panel(stat_panel(f"{severity.capitalize()} faults", f"Active {severity} faults on the selected targets.",
                                    f'sum({one(f"sslfault_faults_active{{{T}, severity={chr(34)}{severity}{chr(34)}}}")})',
                                    thresholds=steps((None, "green"), (1, color))))
    d = d.with_panel(stat_panel("Targets with a critical fault", "Targets with at least one critical fault.",
                                f'count({one(f"sslfault_faults_active{{{T}, severity={chr(34)}critical{chr(34)}}}")} > 0)'
                                " or vector(0)"))
    d = d.with_panel(stat_panel("Targets", "Targets the exporter watches.",
                                f"count(count by (target) (sslfault_faults_active{{{T}}}))",
                                thresholds=steps((None, "blue"))))
    d = d.with_panel(stat_panel("Checks that could not judge", "Checks in error: their faults are unknown.",
                                f"count({one(f'sslfault_check_success{{{T}}}')} == 0) or vector(0)",
                                thresholds=steps((None, "green"), (1, "orange"))))
    d = d.with_row(Row("Faults").id(101))
    d = d.with_panel(table_panel("Active faults", "Every active fault; the fault links to its runbook.",
                                 f"{one(f'sslfault_fault{{{T}}}')} == 1", runbook=True))
    d = d.with_panel(bar_panel("Active faults by fault id", "How many targets have each fault; a bar links to its runbook.",
                               f"sort_desc(count by (fault) (count by (fault, target) (sslfault_fault{{{T}}})))",
                               "{{fault}}", runbook=True))
    d = d.with_panel(series_panel("Active faults by severity", "Active faults over time.",
                                  [(f"sum by (severity) ({one(f'sslfault_faults_active{{{T}}}')})", "{{severity}}")],
                                  w=24, h=7))
    d = d.with_row(Row("Expiry").id(102))
    leaf = one(f"sslfault_cert_not_after_timestamp_seconds{{{T}}}", "min")
    chain = one(f"sslfault_chain_not_after_timestamp_seconds{{{T}}}", "min")
    d = d.with_panel(table_panel("Days to expiry, soonest first", "Soonest leaf expiry of each target, in days.",
                                 f"sort((min by (target) (sslfault_cert_not_after_timestamp_seconds{{{T}}}) - time()) / 86400)",
                                 w=8, value="days left", thresholds=DAYS, decimals=1))
    d = d.with_panel(table_panel(f"Expired or expiring within {n(WARN_DAYS)} days",
                                 f"Leaf certificates per address under {n(WARN_DAYS)} days (the expiry warning).",
                                 f"({leaf} - time()) / 86400 < {n(WARN_DAYS)}",
                                 w=8, value="days left", thresholds=DAYS, decimals=1))
    d = d.with_panel(table_panel(
        "Intermediate expires before the leaf", "Days until the earliest chain certificate expires, where it is "
        "earlier than the leaf: the chain breaks then.",
        f"(({chain} < {leaf}) - time()) / 86400", w=8, value="chain days left", thresholds=DAYS, decimals=1))
    d = d.with_row(Row("Fault families by catalog section").id(103))
    for panel in section_panels():
        d = d.with_panel(panel)
    d = d.with_row(Row("Issuance, page and check problems").id(104))
    d = d.with_panel(table_panel("CAA blocks issuance", "Targets whose CAA records block every configured CA.",
                                 f"{one(f'sslfault_caa_issuance_allowed{{{T}}}')} == 0", w=8))
    d = d.with_panel(table_panel("Mixed content resources", "Insecure sub-resources on HTTPS pages, by kind.",
                                 f"{one(f'sslfault_mixed_content_resources{{{T}}}')} > 0", w=8, value="resources"))
    d = d.with_panel(table_panel("Checks that could not judge", "Checks in error; the status page says why.",
                                 f"{one(f'sslfault_check_success{{{T}}}')} == 0", w=8))
    return d


# -- target detail ----------------------------------------------------------------------------


def target_detail() -> Dashboard:
    d = dashboard("sslfault-target", "SSL fault target", "Everything the exporter knows about one target, per address.")
    d = scope_vars(d.with_variable(datasource_var())).with_variable(target_var(multi=False))
    d = d.with_row(Row("Summary").id(100))
    d = d.with_panel(stat_panel("Active faults", "Active faults by severity.",
                                one(f"sslfault_faults_active{{{T1}}}"), w=6, legend="{{severity}}"))
    d = d.with_panel(stat_panel("Days to expiry", "Soonest leaf expiry over all addresses.",
                                f"(min(sslfault_cert_not_after_timestamp_seconds{{{T1}}}) - time()) / 86400",
                                w=6, thresholds=DAYS))
    d = d.with_panel(stat_panel("Addresses", "Addresses the name resolved to, by family.",
                                one(f"sslfault_dns_addresses{{{T1}}}"), w=6, legend="{{family}}",
                                thresholds=steps((None, "blue"))))
    d = d.with_panel(stat_panel("Last run", "Seconds since the target's latest run started.",
                                f"time() - max(sslfault_last_run_timestamp_seconds{{{T1}}})", w=6, unit="s",
                                thresholds=steps((None, "green"), (STALE_SECONDS, "orange"))))
    d = d.with_row(Row("Faults and certificates").id(101))
    d = d.with_panel(table_panel("Active faults", "The fault links to its runbook.", f"{one(f'sslfault_fault{{{T1}}}')} == 1",
                                 runbook=True, hide={"target": True}))
    d = d.with_panel(table_panel("Validity per address", "Days until the leaf expires on each address.",
                                 f"({one(f'sslfault_cert_not_after_timestamp_seconds{{{T1}}}', 'min')} - time()) / 86400",
                                 value="leaf days left", thresholds=DAYS, decimals=1, hide={"target": True}))
    d = d.with_panel(table_panel("Certificate per address", "The leaf served on each address.",
                                 one(f"sslfault_cert_info{{{T1}}}"), w=24, hide={"target": True}))
    d = d.with_panel(table_panel("Chain expiry per address", "Earliest notAfter on the built path, in days.",
                                 f"({one(f'sslfault_chain_not_after_timestamp_seconds{{{T1}}}', 'min')} - time()) / 86400",
                                 w=8, value="chain days left", thresholds=DAYS, decimals=1, hide={"target": True}))
    d = d.with_panel(table_panel("Certificate age per address", "Days since the leaf's notBefore.",
                                 f"(time() - {one(f'sslfault_cert_not_before_timestamp_seconds{{{T1}}}', 'min')}) / 86400",
                                 w=8, value="days since issued", decimals=1, hide={"target": True}))
    d = d.with_panel(table_panel("TLS version per address", "Negotiated TLS version.",
                                 one(f"sslfault_tls_version_info{{{T1}}}"), w=8, hide={"target": True}))
    d = d.with_row(Row("HTTP, page and issuance").id(102))
    d = d.with_panel(table_panel("HTTP status", "Last status for the configured path, by scheme.",
                                 one(f"sslfault_http_status_code{{{T1}}}"), w=8, value="status", hide={"target": True}))
    d = d.with_panel(table_panel("Mixed content resources", "Insecure sub-resources by kind.",
                                 one(f"sslfault_mixed_content_resources{{{T1}}}"), w=8, value="resources",
                                 hide={"target": True}))
    d = d.with_panel(stat_panel("CAA allows issuance", "1 if the CAA records allow a configured CA to issue.",
                                one(f"sslfault_caa_issuance_allowed{{{T1}}}"), w=8,
                                thresholds=steps((None, "red"), (1, "green"))))
    d = d.with_row(Row("Checks").id(103))
    check_status = table_panel("Checks that could not judge", "Each check of the latest run that reached no verdict "
                               "(the others are absent: a healthy target costs no per-check series).",
                               f"{one(f'sslfault_check_success{{{T1}}}')} == 0", w=8, value="status",
                               hide={"target": True})
    check_status = check_status.mappings([ValueMap(options={"0": ValueMappingResult(text="error", color="red")})])
    d = d.with_panel(check_status)
    d = d.with_panel(series_panel("Run duration", "Seconds the target's latest run took (slowest replica).",
                                  [(one(f"sslfault_run_duration_seconds{{{T1}}}"), "run")], w=16, unit="s"))
    d = d.with_panel(series_panel("Faults over time", "Active faults by severity.",
                                  [(one(f"sslfault_faults_active{{{T1}}}"), "{{severity}}")], w=24, h=7))
    return d


# -- exporter health --------------------------------------------------------------------------


def exporter_health() -> Dashboard:
    job = SCOPE  # per instance on purpose: this dashboard is about each replica
    d = dashboard("sslfault-exporter", "SSL fault exporter health", "Is the exporter up, probing on time and healthy?")
    d = scope_vars(d.with_variable(datasource_var()))
    d = d.with_row(Row("Status").id(100))
    d = d.with_panel(stat_panel("Exporters up", "Scrape status of each exporter instance.", f"up{{{job}}}", w=6,
                                legend="{{instance}}", thresholds=steps((None, "red"), (1, "green"))))
    d = d.with_panel(stat_panel("Config reload", "1: the last configuration load succeeded.",
                                f"sslfault_config_last_reload_successful{{{job}}}", w=6, legend="{{instance}}",
                                thresholds=steps((None, "red"), (1, "green"))))
    d = d.with_panel(stat_panel("Last successful reload", "When the configuration was last loaded.",
                                f"sslfault_config_last_reload_success_timestamp_seconds{{{job}}} * 1000", w=6,
                                unit="dateTimeFromNow", legend="{{instance}}", thresholds=steps((None, "blue"))))
    age = f"time() - sslfault_last_run_timestamp_seconds{{{job}}}"
    x = SETTINGS.exporter
    d = d.with_panel(stat_panel("Stale targets",
                                f"Targets whose latest run is older than {x.stale_after} and {x.stale_intervals:g} times "
                                "their own interval (SSLFaultExporterResultsStale): a watched file re-read hourly is "
                                "not stale after 30 minutes.",
                                f"count(\n  {age} > {STALE_SECONDS}\n  unless\n  {age}\n    <= {x.stale_intervals:g} * "
                                f"sslfault_target_interval_seconds{{{job}}}\n) or vector(0)", w=6))
    d = d.with_panel(table_panel("Build", "Exporter and Python versions.", f"sslfault_build_info{{{job}}}", w=24, h=4,
                                 hide={"job": False, "instance": False}))
    d = d.with_row(Row("Checks").id(101))
    d = d.with_panel(series_panel("Check runs by status", "Runs per second, by check and outcome (all replicas).", [
        (f"sum by (check, status) (rate(sslfault_check_runs_total{{{job}}}[$__rate_interval]))", "{{check}} {{status}}")],
        unit="ops"))
    d = d.with_panel(series_panel("Run duration (slowest target)", "Slowest latest run of a target, per replica.",
                                  [(f"max by (instance) (sslfault_run_duration_seconds{{{job}}})", "{{instance}}")],
                                  unit="s"))
    d = d.with_panel(series_panel("Checks that could not judge", "Targets whose latest run of the check errored, "
                                  "per replica.",
                                  [(f"count by (check, instance) (sslfault_check_success{{{job}}} == 0)",
                                    "{{check}} {{instance}}")]))
    d = d.with_panel(bar_panel("Errored runs in range", "Errored runs per check over the dashboard's time range.",
                               f'sum by (check) (increase(sslfault_check_runs_total{{{job}, status="error"}}[$__range]))',
                               "{{check}}"))
    d = d.with_row(Row("Scrape").id(102))
    d = d.with_panel(series_panel("Scrape duration", "How long Prometheus takes to scrape /metrics.",
                                  [(f"scrape_duration_seconds{{{job}}}", "{{instance}}")], unit="s"))
    d = d.with_panel(series_panel("Samples per scrape", "Series the exporter exposes.",
                                  [(f"scrape_samples_scraped{{{job}}}", "{{instance}}")]))
    return d


# -- output -----------------------------------------------------------------------------------

DASHBOARDS = {"overview.json": overview, "target.json": target_detail, "exporter.json": exporter_health}


def render(builder: Dashboard) -> str:
    model = builder.build()
    for number, panel in enumerate(model.panels or [], start=1):
        if panel.type_val != "row":
            panel.id_val = number  # unique ids; rows keep theirs (100+)
    return json.dumps(model, cls=JSONEncoder, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    stale = []
    for name, build in DASHBOARDS.items():
        text, path = render(build()), OUT / name
        if "--check" in argv:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python grafana/build.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
