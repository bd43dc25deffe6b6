"""Grafana dashboards and runbooks: generated, valid, scoped by job and instance, linked to runbooks.

The end-to-end test runs every query against a real Prometheus; these run without a server.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

from exporter.catalog.faults import FAULTS, FaultId
from exporter.catalog.runbooks import RUNBOOKS, anchors, render_markdown
from exporter.checks import metric_specs
from tests.support.tools import module, tool
from tools import dashboards
from tools.alerting import rules as model
from tools.alerting.settings import load

ROOT = Path(__file__).resolve().parents[2]
# Metrics other sessions are adding to the collector now; dashboards may query them already.
PENDING_METRICS = {"sslfault_http_status_code", "sslfault_mixed_content_resources", "sslfault_caa_issuance_allowed"}
PROMETHEUS_METRICS = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
VALUES = {"target": "x", "job": "sslfault", "instance": "exporter:17753"}


def exported_metrics() -> set[str]:
    """Every metric name the exporter package defines (counters get _total, info families _info)."""
    names: set[str] = set()
    for path in (ROOT / "exporter").rglob("*.py"):
        for kind, name in re.findall(r'(Gauge|Counter|Info)MetricFamily\(\s*"(\w+)"', path.read_text(encoding="utf-8")):
            names.add(name + {"Gauge": "", "Counter": "_total", "Info": "_info"}[kind])
    # The families the checks declare in their plugins.
    names |= {s.name + ("_info" if s.kind == "info" else "") for s in metric_specs()}
    return names


def test_alerts_and_dashboards_use_only_real_metrics() -> None:
    known = exported_metrics() | PENDING_METRICS | PROMETHEUS_METRICS
    assert {"sslfault_fault", "sslfault_check_runs_total", "sslfault_cert_info"} <= exported_metrics()
    exprs = [r.body["expr"] for rules in model.build(load()).values() for r in rules]
    exprs += [q.expr for d in dashboards.load_all().values() for q in dashboards.queries(d)]
    unknown = {m for e in exprs for m in dashboards.metric_names(e)} - known
    assert not unknown, f"metrics no code exports: {sorted(unknown)}"


def test_runbooks_are_generated_from_the_catalog() -> None:
    text = (ROOT / "docs/runbooks.md").read_text(encoding="utf-8")
    assert text == render_markdown(), "docs/runbooks.md is out of date: python -m exporter.docs runbooks > docs/runbooks.md"
    for anchor in anchors():
        assert f'<a id="{anchor}"></a>' in text
    for fault in FAULTS.values():
        entry = RUNBOOKS[fault.id]
        assert re.search(r"\b(openssl|dig|curl|nc|sslfault)\b", entry.confirm), fault.id
        assert entry.meaning_zh and entry.look_zh and re.search(r"[\u4e00-\u9fff]", entry.meaning_zh), fault.id


def test_dashboards_are_valid_grafana_json() -> None:
    found = dashboards.load_all()
    assert set(found) == {"overview.json", "target.json", "exporter.json"}
    for name, dashboard in found.items():
        assert dashboards.problems(dashboard) == [], name
    uids = [d["uid"] for d in found.values()]
    assert len(set(uids)) == len(uids)
    assert {"datasource", "job", "instance", "target"} <= set(dashboards.variables(found["overview.json"]))
    assert {"datasource", "job", "instance", "target"} <= set(dashboards.variables(found["target.json"]))
    assert {"datasource", "job", "instance"} <= set(dashboards.variables(found["exporter.json"]))


def test_every_query_is_scoped_to_the_chosen_exporters() -> None:
    """Each series selector filters on $job and $instance, and sums never add up an HA pair's replicas."""
    replicas = ", ".join(load().replica_labels)
    for name, dashboard in dashboards.load_all().items():
        for query in dashboards.queries(dashboard):
            for selector in dashboards.selectors(query.expr):
                assert 'job=~"$job"' in selector and 'instance=~"$instance"' in selector, f"{name}: {selector}"
            if name == "exporter.json":
                continue  # per replica on purpose
            for agg in re.finditer(r"\b(sum|count)( by \([^)]*\))? \(", query.expr):
                inner = query.expr[agg.end():]
                distinct = agg[1] == "count" and bool(agg[2])  # counts distinct label values, e.g. targets
                deduped = distinct or inner.startswith((f"max without ({replicas})", "count by ("))
                assert deduped, f"{name}/{query.panel}: {query.expr} would count each replica"


def test_every_fault_links_to_its_runbook() -> None:
    base = load().runbook_base_url
    overview = dashboards.load_all()["overview.json"]
    covered: set[str] = set()
    for panel in dashboards.panels(overview):
        exprs = [t.get("expr", "") for t in panel.get("targets", [])]
        if not any("sslfault_fault{" in e for e in exprs):
            continue
        links = json.dumps(panel.get("fieldConfig", {}))
        assert f"{base}#${{__value.raw}}" in links or f"{base}#${{__field.labels.fault}}" in links, panel["title"]
        for expr in exprs:
            for op, value in re.findall(r'fault(=~|=)"([^"]+)"', expr):
                covered |= {f for f in map(str, FaultId) if re.fullmatch(value if op == "=~" else re.escape(value), f)}
    assert covered == {str(f) for f in FaultId}, f"no panel for: {sorted(set(map(str, FaultId)) - covered)}"


def test_thresholds_come_from_the_settings() -> None:
    s = load()
    text = (ROOT / "grafana/dashboards/overview.json").read_text(encoding="utf-8")
    assert f"Expired or expiring within {s.expiry.warning_days:g} days" in text
    steps = [step.get("value") for p in dashboards.panels(json.loads(text)) if p.get("title") == "Days to expiry, soonest first"
             for step in p["fieldConfig"]["defaults"]["thresholds"]["steps"]]
    assert steps == [None, s.expiry.critical_days, s.expiry.warning_days]


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query (variables filled in) as a recording rule."""
    rules = [{"record": f"check:q{i}", "expr": dashboards.substitute(q.expr, VALUES)}
             for i, q in enumerate(q for d in dashboards.load_all().values() for q in dashboards.queries(d))]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}), encoding="utf-8")
    result = subprocess.run([tool("promtool"), "check", "rules", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboards_are_built_by_the_sdk_script() -> None:
    module("grafana_foundation_sdk", "pip install 'grafana-foundation-sdk==1769699998!10.1.0'")
    result = subprocess.run([sys.executable, "grafana/build.py", "--check"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr


def test_dashboards_parse_into_the_sdk_models() -> None:
    module("grafana_foundation_sdk", "pip install 'grafana-foundation-sdk==1769699998!10.1.0'")
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models.dashboard import Dashboard

    for name, data in dashboards.load_all().items():
        model_ = Dashboard.from_json(data)
        again = json.loads(json.dumps(model_, cls=JSONEncoder))
        assert again == data, f"{name}: fields the Grafana schema does not know, or lost in a round trip"


def test_grafana_provisioning_points_at_a_directory() -> None:
    provider = yaml.safe_load((ROOT / "grafana/provisioning/dashboards/sslfault.yaml").read_text(encoding="utf-8"))
    assert provider["providers"][0]["type"] == "file"
    source = yaml.safe_load((ROOT / "grafana/provisioning/datasources/prometheus.yaml").read_text(encoding="utf-8"))
    assert source["datasources"][0]["type"] == "prometheus"
