"""Alert rules, their unit tests, runbooks, dashboards and deployment files: checked without a server.

Every fault id in the catalog must have exactly one fault-family alert, a runbook entry and a
dashboard panel. Tools that may be missing (promtool, amtool, hadolint, kubernetes-validate,
yamllint, systemd-analyze, grafana-foundation-sdk) make their tests skip, never fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.checks import metric_specs
from exporter.catalog.faults import FAULTS, FaultId
from exporter.catalog.runbooks import RUNBOOKS, anchors, render_markdown
from tools import dashboards, gen_alert_tests, gen_k8s_rules

ROOT = Path(__file__).resolve().parents[2]
ALERTS_FILE = ROOT / "deploy/prometheus/alerts.yml"
ALERTS_TEST = ROOT / "deploy/prometheus/alerts_test.yml"
K8S = ROOT / "deploy/kubernetes"
RUNBOOK_BASE = "https://github.com/YOUR_ORG/ssl-fault-exporter/blob/main/docs/runbooks.md#"
# Metrics other sessions are adding to the collector now; dashboards may query them already.
PENDING_METRICS = {"sslfault_http_status_code", "sslfault_mixed_content_resources", "sslfault_caa_issuance_allowed"}
PROMETHEUS_METRICS = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
# A flapping network must not page: these wait at least two default probe intervals.
NETWORK_FAULTS = {"dns_resolution_failed", "dns_unexpected_address", "tcp_connect_refused", "tcp_connect_timeout",
                  "tls_handshake_failed", "https_error_status", "file_validation_unreachable", "caa_lookup_failed"}
# A certificate that is broken for everyone pages at once.
PAGE_AT_ONCE = {"cert_expired", "cert_not_yet_valid", "cert_hostname_mismatch", "cert_untrusted", "cert_revoked",
                "chain_incomplete", "chain_cert_expired"}


def tool(name: str) -> str:
    """The tool's path; skip when it is missing or does not run (e.g. a stale pyenv shim)."""
    path = shutil.which(name) or (f"/usr/bin/{name}" if os.access(f"/usr/bin/{name}", os.X_OK) else None)
    if path is None or subprocess.run([path, "--version"], capture_output=True, check=False).returncode != 0:
        pytest.skip(f"{name} is not installed")
    return path


def run_command(*args: str, cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


def alerts() -> dict[str, dict[str, Any]]:
    return gen_alert_tests.load_alerts(ALERTS_FILE)


def family_of() -> dict[str, list[str]]:
    """Fault id -> the fault-family alerts that select it."""
    out: dict[str, list[str]] = {str(f): [] for f in FaultId}
    for name, rule in alerts().items():
        for fault_id in gen_alert_tests.family_faults(rule):
            out[fault_id].append(name)
    return out


def minutes(rule: dict[str, Any]) -> int:
    return gen_alert_tests.minutes(rule.get("for", "0m"))


# -- alert rules --------------------------------------------------------------------------


def test_promtool_check_rules() -> None:
    result = run_command(tool("promtool"), "check", "rules", str(ALERTS_FILE))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass() -> None:
    result = run_command(tool("promtool"), "test", "rules", str(ALERTS_TEST))
    assert result.returncode == 0, result.stdout + result.stderr


def test_unit_tests_are_generated_from_the_current_rules() -> None:
    assert ALERTS_TEST.read_text(encoding="utf-8") == gen_alert_tests.build(), \
        "alerts_test.yml is out of date: run python tools/gen_alert_tests.py"


def test_unit_tests_cover_every_alert() -> None:
    tested = {t["name"] for t in yaml.safe_load(ALERTS_TEST.read_text(encoding="utf-8"))["tests"]}
    assert tested == set(alerts())


def test_every_fault_has_exactly_one_alert() -> None:
    missing = [f for f, names in family_of().items() if not names]
    twice = {f: names for f, names in family_of().items() if len(names) > 1}
    assert not missing, f"fault ids without an alert: {missing}"
    assert not twice, f"fault ids paged by several alerts: {twice}"


def test_alert_severity_comes_from_the_catalog() -> None:
    for name, rule in alerts().items():
        faults = gen_alert_tests.family_faults(rule)
        if not faults:
            assert rule.get("labels", {}).get("severity") in {"critical", "warning", "info"}, name
            continue
        severities = {str(FAULTS[FaultId(f)].severity) for f in faults}
        static = rule.get("labels", {}).get("severity")
        if len(severities) == 1:
            assert static == severities.pop(), f"{name}: severity must be the catalog's"
        else:
            assert static is None, f"{name} mixes {severities}: keep each fault's own severity label"


def test_annotations_and_runbook_links() -> None:
    known = set(anchors())
    for name, rule in alerts().items():
        notes = rule.get("annotations", {})
        assert {"summary", "description", "runbook_url"} <= set(notes), name
        assert 1 <= notes["description"].count(". ") + 1 <= 3, f"{name}: description is one or two sentences"
        url = notes["runbook_url"]
        assert url.startswith(RUNBOOK_BASE), f"{name}: runbook_url must use the documented placeholder base"
        anchor = url.removeprefix(RUNBOOK_BASE)
        if anchor == "{{ $labels.fault }}":
            assert gen_alert_tests.family_faults(rule), f"{name}: only fault-family alerts have a fault label"
            assert set(gen_alert_tests.family_faults(rule)) <= known
        else:
            assert anchor in known, f"{name}: no runbook entry #{anchor}"


def test_for_durations() -> None:
    for name, rule in alerts().items():
        faults = set(gen_alert_tests.family_faults(rule))
        if faults & NETWORK_FAULTS:
            assert minutes(rule) >= 10, f"{name}: network faults must wait for: 10m"
        if faults & PAGE_AT_ONCE:
            assert minutes(rule) <= 1, f"{name}: must page at once"
    rules = alerts()
    assert minutes(rules["SSLFaultExporterCheckErroring"]) >= 30
    assert 'job="sslfault"' in rules["SSLFaultExporterDown"]["expr"]


def test_every_alert_is_documented() -> None:
    readme = (ROOT / "deploy/README.md").read_text(encoding="utf-8")
    missing = [name for name in alerts() if f"| `{name}` |" not in readme]
    assert not missing, f"deploy/README.md does not list: {missing}"


def test_thresholds_are_recording_rules() -> None:
    groups = yaml.safe_load(ALERTS_FILE.read_text(encoding="utf-8"))["groups"]
    records = {r["record"]: r["expr"] for g in groups for r in g["rules"] if "record" in r}
    assert records == {"sslfault:cert_expiry_warning_days": "vector(21)", "sslfault:cert_expiry_critical_days": "vector(7)",
                       "sslfault:results_stale_after_seconds": "vector(1800)"}


# -- metric names ---------------------------------------------------------------------------


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
    exprs = [r["expr"] for r in alerts().values()]
    exprs += [q.expr for d in dashboards.load_all().values() for q in dashboards.queries(d)]
    unknown = {m for e in exprs for m in dashboards.metric_names(e)} - known
    assert not unknown, f"metrics no code exports: {sorted(unknown)}"


# -- runbooks -------------------------------------------------------------------------------


def test_runbooks_are_generated_from_the_catalog() -> None:
    text = (ROOT / "docs/runbooks.md").read_text(encoding="utf-8")
    assert text == render_markdown(), "docs/runbooks.md is out of date: python -m exporter.docs runbooks > docs/runbooks.md"
    for anchor in anchors():
        assert f'<a id="{anchor}"></a>' in text
    for fault in FAULTS.values():
        entry = RUNBOOKS[fault.id]
        assert re.search(r"\b(openssl|dig|curl|nc|sslfault)\b", entry.confirm), fault.id
        assert entry.meaning_zh and entry.look_zh and re.search(r"[\u4e00-\u9fff]", entry.meaning_zh), fault.id


# -- dashboards -----------------------------------------------------------------------------


def test_dashboards_are_valid_grafana_json() -> None:
    found = dashboards.load_all()
    assert set(found) == {"overview.json", "target.json", "exporter.json"}
    for name, dashboard in found.items():
        assert dashboards.problems(dashboard) == [], name
    uids = [d["uid"] for d in found.values()]
    assert len(set(uids)) == len(uids)
    overview = found["overview.json"]
    assert {"datasource", "target"} <= set(dashboards.variables(overview))
    assert {"datasource", "target"} <= set(dashboards.variables(found["target.json"]))


def test_every_fault_has_a_dashboard_panel() -> None:
    covered: set[str] = set()
    for query in dashboards.queries(dashboards.load_all()["overview.json"]):
        for op, value in re.findall(r'fault(=~|=)"([^"]+)"', query.expr):
            covered |= {f for f in map(str, FaultId) if re.fullmatch(value if op == "=~" else re.escape(value), f)}
    assert covered == {str(f) for f in FaultId}, f"no panel for: {sorted(set(map(str, FaultId)) - covered)}"


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query (variables filled in) as a recording rule."""
    rules = [{"record": f"check:q{i}", "expr": dashboards.substitute(q.expr, {"target": "x", "job": "sslfault"})}
             for i, q in enumerate(q for d in dashboards.load_all().values() for q in dashboards.queries(d))]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}), encoding="utf-8")
    result = run_command(tool("promtool"), "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboards_are_built_by_the_sdk_script() -> None:
    pytest.importorskip("grafana_foundation_sdk", reason="pip install 'grafana-foundation-sdk==1769699998!10.1.0'")
    result = run_command(sys.executable, "grafana/build.py", "--check")
    assert result.returncode == 0, result.stderr


def test_dashboards_parse_into_the_sdk_models() -> None:
    pytest.importorskip("grafana_foundation_sdk")
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models.dashboard import Dashboard

    for name, data in dashboards.load_all().items():
        model = Dashboard.from_json(data)
        again = json.loads(json.dumps(model, cls=JSONEncoder))
        assert again == data, f"{name}: fields the Grafana schema does not know, or lost in a round trip"


# -- deployment files -------------------------------------------------------------------------


def test_prometheus_rule_is_in_sync_with_alerts() -> None:
    assert gen_k8s_rules.main(["--check"]) == 0
    rule = yaml.safe_load((K8S / "prometheusrule.yaml").read_text(encoding="utf-8"))
    assert rule["kind"] == "PrometheusRule" and rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["spec"]["groups"] == yaml.safe_load(ALERTS_FILE.read_text(encoding="utf-8"))["groups"]


def test_kubernetes_manifests() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files
    docs = {d["kind"]: d for f in files for d in yaml.safe_load_all((K8S / f).read_text(encoding="utf-8"))}
    assert set(docs) == {"ConfigMap", "Deployment", "Service", "ServiceMonitor", "PrometheusRule"}
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] and container["securityContext"]["readOnlyRootFilesystem"]
    port = container["ports"][0]["name"]
    assert docs["Service"]["metadata"]["name"] == "sslfault", "the scrape job (service name) must be sslfault"
    assert docs["Service"]["spec"]["ports"][0]["targetPort"] == port
    assert docs["ServiceMonitor"]["spec"]["endpoints"][0]["port"] == docs["Service"]["spec"]["ports"][0]["name"]
    selector = docs["ServiceMonitor"]["spec"]["selector"]["matchLabels"]
    assert selector.items() <= docs["Service"]["metadata"]["labels"].items()
    config_name = next(v["configMap"]["name"] for v in pod["volumes"] if "configMap" in v)
    assert config_name == docs["ConfigMap"]["metadata"]["name"]
    from exporter.config import Config

    Config.model_validate(yaml.safe_load(docs["ConfigMap"]["data"]["config.yaml"]))


def test_kubernetes_validate() -> None:
    validate = tool("kubernetes-validate")
    result = run_command(validate, "--strict", "-k", "1.28", "configmap.yaml", "deployment.yaml", "service.yaml", cwd=K8S)
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_and_alertmanager_examples() -> None:
    result = run_command(tool("promtool"), "check", "config", "deploy/prometheus/prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    amtool = tool("amtool")
    config = "--config.file=deploy/alertmanager/alertmanager.yml"
    result = run_command(amtool, "check-config", "deploy/alertmanager/alertmanager.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    for severity, receiver in (("critical", "pager"), ("warning", "team-chat"), ("info", "ticket-queue")):
        routed = run_command(amtool, "config", "routes", "test", config, f"severity={severity}", "alertname=SSLCertificateExpired")
        assert routed.stdout.strip() == receiver, routed.stdout + routed.stderr


def test_yamllint() -> None:
    rules = ("{extends: default, rules: {line-length: disable, document-start: disable, "
             "comments: {min-spaces-from-content: 1}, indentation: {indent-sequences: consistent}}}")
    result = run_command(tool("yamllint"), "-f", "parsable", "-d", rules, "deploy", "grafana/provisioning")
    assert result.returncode == 0 and not result.stdout, result.stdout + result.stderr


def test_hadolint() -> None:
    result = run_command(tool("hadolint"), "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_systemd_unit(tmp_path: Path) -> None:
    analyze = tool("systemd-analyze")
    unit = (ROOT / "deploy/systemd/sslfault.service").read_text(encoding="utf-8")
    assert "NoNewPrivileges=yes" in unit and "ProtectSystem=strict" in unit and "ExecReload=" in unit
    local = tmp_path / "sslfault.service"  # verify needs the ExecStart binary to exist
    local.write_text(unit.replace("/opt/ssl-fault-exporter/bin/sslfault", "/bin/true"), encoding="utf-8")
    result = run_command(analyze, "verify", str(local))
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    security = run_command(analyze, "security", "--offline=true", str(local))
    match = re.search(r"Overall exposure level for \S+: ([\d.]+)", security.stdout)
    if match is None:
        pytest.skip("this systemd-analyze cannot score units offline")
    assert float(match[1]) <= 2.0, security.stdout


def test_docker_install_steps_work_in_a_clean_venv(tmp_path: Path) -> None:
    """What the Dockerfile does, without Docker: COPY, pip install, then CMD and HEALTHCHECK."""
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    build_stage = next(stage for stage in dockerfile.split("\nFROM ") if " AS build" in stage.splitlines()[0])
    context = tmp_path / "src"
    for line in build_stage.splitlines():
        if line.startswith("COPY "):
            *sources, dest = line.split()[1:]
            for source in sources:
                target = context / dest / source if dest.endswith("/") else context / dest
                if (ROOT / source).is_dir():
                    shutil.copytree(ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(ROOT / source, target)
    venv = tmp_path / "venv"
    assert run_command(sys.executable, "-m", "venv", str(venv)).returncode == 0
    install = run_command(str(venv / "bin/pip"), "install", "--no-cache-dir", "--disable-pip-version-check", "-q", ".",
                  cwd=context, timeout=300)
    assert install.returncode == 0, install.stderr[-3000:]
    config = tmp_path / "config.yaml"
    config.write_text("targets:\n  - host: 127.0.0.1\n    checks: [dns]\n", encoding="utf-8")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd: list[str] = json.loads(re.search(r"^CMD (\[.*\])$", dockerfile, re.MULTILINE)[1])  # type: ignore[index]
    args = [a.replace("/etc/sslfault/config.yaml", str(config)).replace("=:9793", f"=127.0.0.1:{port}") for a in cmd]
    server = subprocess.Popen([str(venv / "bin/sslfault"), *args], cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        healthcheck = re.search(r"urlopen\('([^']+)'", dockerfile)[1].replace("9793", str(port))  # type: ignore[index]
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(healthcheck, timeout=2) as response:
                    assert response.status == 200
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
                assert time.monotonic() < deadline, "the HEALTHCHECK URL never answered"
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(10)


def test_grafana_provisioning_points_at_a_directory() -> None:
    provider = yaml.safe_load((ROOT / "grafana/provisioning/dashboards/sslfault.yaml").read_text(encoding="utf-8"))
    assert provider["providers"][0]["type"] == "file"
    source = yaml.safe_load((ROOT / "grafana/provisioning/datasources/prometheus.yaml").read_text(encoding="utf-8"))
    assert source["datasources"][0]["type"] == "prometheus"

