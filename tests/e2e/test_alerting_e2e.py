"""The shipped alerts through the real stack: fault lab -> sslfault serve -> Prometheus -> Alertmanager -> webhook.

Debian's prometheus and prometheus-alertmanager run on loopback with fresh data dirs, 1 s
scrape and evaluation intervals, alerts.yml as shipped except `for:` set to 0s (and no
keep_firing_for on the one alert the lab repairs), and alertmanager.yml's inhibit rules. The
exporter watches every lab scenario, every issuance case (CAA, DNS-TXT, file validation)
and a directory of broken certificate files. The tests assert that each fault the lab
reproduces arrives at the webhook as its family's alert with the right fault, target and
severity labels (the paging policy's: deploy/alerting.yaml), one message per fault (a page
silences its warning; a certificate file that cannot be parsed pages), that nothing else arrives (the healthy targets stay silent, the
check-erroring alert stays quiet), that an alert resolves when the lab repairs its fault,
that every dashboard query returns data against this Prometheus, that the exporter-health
alerts fire for a failed reload and a dead exporter, and that a dead exporter resolves no
fault alert (keep_firing_for).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from exporter.catalog.faults import FAULTS, FaultId
from sslfault_lab.demo import FullLab, start_full_lab_on
from sslfault_lab.lab import Lab, LabThread
from tests.support.processes import stop_processes
from tools import dashboards
from tools.alerting import rules as model
from tools.alerting.settings import load, policy

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = Path("/usr/bin/prometheus")
ALERTMANAGER = Path("/usr/bin/prometheus-alertmanager")
HEALTHY = ("ok", "ok-rsa")
SETTINGS = load()
WARNING_DAYS, CRITICAL_DAYS = SETTINGS.expiry.warning_days, SETTINGS.expiry.critical_days
REPAIRED_ALERT = "SSLDnsResolutionFailed"  # the lab repairs this one: it must resolve at once
T = TypeVar("T")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not (os.access(PROMETHEUS, os.X_OK) and os.access(ALERTMANAGER, os.X_OK)),
                       reason="needs Debian's prometheus and prometheus-alertmanager (scripts/install-system-deps.sh)"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], T | None], timeout: float, what: str, detail: Callable[[], str] = str) -> T:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except (OSError, urllib.error.URLError, ValueError):
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{detail()}")
        time.sleep(0.2)


def get_json(url: str, timeout: float = 5) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.load(response)


# -- webhook receiver ---------------------------------------------------------------------------

AlertKey = tuple[tuple[str, str], ...]  # the alert's full label set, sorted


class Webhook:
    """Alertmanager's webhook receiver: remembers the latest status of every alert it was told about."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latest: dict[AlertKey, dict[str, Any]] = {}
        self.notifications = 0
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with webhook.lock:
                    webhook.notifications += 1
                    for alert in body["alerts"]:
                        webhook.latest[tuple(sorted(alert["labels"].items()))] = alert
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, name="webhook", daemon=True).start()

    def alerts(self, status: str = "firing") -> list[dict[str, Any]]:
        with self.lock:
            return [a for a in self.latest.values() if a["status"] == status]

    def find(self, status: str = "firing", **labels: str) -> dict[str, Any] | None:
        return next((a for a in self.alerts(status) if labels.items() <= a["labels"].items()), None)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- the stack --------------------------------------------------------------------------------


@dataclass
class Stack:
    tmp: Path
    lab_thread: LabThread = field(default_factory=LabThread)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    lab: Lab | None = None
    full: FullLab | None = None
    expected_faults: dict[str, frozenset[str]] = field(default_factory=dict)  # target -> what the lab reproduces
    webhook: Webhook | None = None
    exporter_url: str = ""
    prometheus_url: str = ""
    config_file: Path | None = None

    def spawn(self, name: str, *args: str, env: dict[str, str] | None = None) -> None:
        log = open(self.tmp / f"{name}.log", "wb")
        self.procs[name] = subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} (tail)\n{p.read_text(errors='replace')[-2000:]}" for p in self.tmp.glob("*.log"))

    def wait_ready(self, name: str, url: str) -> None:
        def ready() -> bool:
            assert self.procs[name].poll() is None, f"{name} exited early\n{self.logs()}"
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status == 200

        wait_for(ready, 30, f"{name} at {url}", self.logs)

    def start(self) -> None:
        self.lab = self.lab_thread.start()
        self.full = start_full_lab_on(self.lab_thread)
        self.webhook = Webhook()
        exporter_port, am_port, prom_port = free_port(), free_port(), free_port()
        # Every lab target: TLS scenarios, issuance cases, web-layer cases.
        config = self.full.config_dict(interval="5s", timeout="4s")
        self.expected_faults = {name: faults for name, (_, faults) in self.full.expected().items()}
        self.expected_faults.update(self.full.expected_files()[1])
        # A certificate file whose key does not match and whose certificate is due for renewal (5 days
        # left): the issuance fault pages, and its warning is silenced by the inhibit rule.
        due = self.tmp / "renewal-due"
        due.mkdir()
        (due / "site.pem").write_text(Path(str(self.lab.scenarios["expiring"].chain_file)).read_text())
        (due / "site.key").write_text(Path(str(self.lab.scenarios["ok-rsa"].key_file)).read_text())
        config["cert_files"].append({"path": f"{due}/*.pem", "key": "{dir}/{stem}.key", "poll": "1s"})
        self.expected_faults[f"file:{due}/site.pem"] = frozenset({"cert_file_key_mismatch"})
        self.config_file = self.tmp / "sslfault.yml"
        self.config_file.write_text(yaml.safe_dump(config))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        self.spawn("exporter", sys.executable, "-m", "exporter", "serve", "--config.file", str(self.config_file),
                   "--web.listen-address", f"127.0.0.1:{exporter_port}", "--log.level", "warning", env=env)
        self.exporter_url = f"http://127.0.0.1:{exporter_port}"

        am_config = self.tmp / "alertmanager.yml"
        shipped = yaml.safe_load((ROOT / "deploy/alertmanager/alertmanager.yml").read_text(encoding="utf-8"))
        am_config.write_text(yaml.safe_dump({
            "route": {"receiver": "webhook", "group_by": ["..."], "group_wait": "1s", "group_interval": "1s",
                      "repeat_interval": "1h"},
            "receivers": [{"name": "webhook", "webhook_configs": [{"url": self.webhook.url, "send_resolved": True}]}],
            "inhibit_rules": shipped["inhibit_rules"],
        }))
        self.spawn("alertmanager", str(ALERTMANAGER), f"--config.file={am_config}",
                   f"--storage.path={self.tmp / 'am-data'}", f"--web.listen-address=127.0.0.1:{am_port}",
                   "--cluster.listen-address=", "--log.level=warn")

        rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text(encoding="utf-8"))
        for group in rules["groups"]:
            for rule in group["rules"]:
                if "for" in rule:
                    rule["for"] = "0s"
                if rule.get("alert") == REPAIRED_ALERT:
                    rule.pop("keep_firing_for", None)
        (self.tmp / "alerts.yml").write_text(yaml.safe_dump(rules, sort_keys=False))
        prom_config = self.tmp / "prometheus.yml"
        prom_config.write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": ["alerts.yml"],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
            "scrape_configs": [{"job_name": "sslfault", "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}]}],
        }))
        self.spawn("prometheus", str(PROMETHEUS), f"--config.file={prom_config}",
                   f"--storage.tsdb.path={self.tmp / 'prom-data'}", f"--web.listen-address=127.0.0.1:{prom_port}",
                   "--rules.alert.resend-delay=1s", "--log.level=warn")
        self.prometheus_url = f"http://127.0.0.1:{prom_port}"
        self.wait_ready("exporter", f"{self.exporter_url}/-/healthy")
        self.wait_ready("alertmanager", f"http://127.0.0.1:{am_port}/-/ready")
        self.wait_ready("prometheus", f"{self.prometheus_url}/-/ready")

    def stop(self) -> None:
        stop_processes(self.procs.values())
        if self.webhook is not None:
            self.webhook.close()
        if self.full is not None:
            self.lab_thread.call(self.full.stop)
        self.lab_thread.stop()

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query; raises on a PromQL error."""
        url = f"{self.prometheus_url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
        try:
            body = get_json(url)
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{expr}: {exc.read().decode(errors='replace')}") from None
        assert body["status"] == "success", body
        return body["data"]["result"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    started = time.monotonic()
    stack = Stack(tmp_path_factory.mktemp("alerting-e2e"))
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        print(f"\nalerting e2e: stack ran {time.monotonic() - started:.1f}s")


# -- what the lab should raise ----------------------------------------------------------------


def fault_alert_names() -> dict[str, str]:
    """Fault id -> the alert of its family (tests/deploy/test_alerts.py proves each has exactly one)."""
    return {f: r.alert for rules in model.build(SETTINGS).values() for r in rules if r.kind == "fault" for f in r.faults}


Expected = tuple[str, str, str, str, str]  # alertname, target, fault, severity, address ("" when none)


def key(alert: dict[str, Any]) -> Expected:
    labels = alert["labels"]
    return (labels["alertname"], labels.get("target", ""), labels.get("fault", ""), labels["severity"],
            labels.get("address", ""))


def reported_faults(stack: Stack) -> set[tuple[str, str, str]]:
    """(target, fault, address) for every active fault the exporter exports."""
    return {(r["metric"]["target"], r["metric"]["fault"], r["metric"].get("address", ""))
            for r in stack.query("sslfault_fault")}


def expected_alerts(stack: Stack, reported: set[tuple[str, str, str]]) -> set[Expected]:
    """Each reported fault as its family's alert at the policy's severity, the issuance faults also
    paged where the certificate is due for renewal, and the expiry alerts computed here from the raw
    timestamps; then what Alertmanager's inhibit rule leaves: no warning beside a page for the same
    target and fault."""
    names, notify = fault_alert_names(), SETTINGS.notify
    now = time.time()
    leaf = {(r["metric"]["target"], r["metric"].get("address", "")): float(r["value"][1])
            for r in stack.query("sslfault_cert_not_after_timestamp_seconds")}
    soonest: dict[str, float] = {}
    for (target, _), not_after in leaf.items():
        soonest[target] = min(not_after, soonest.get(target, not_after))
    expected: set[Expected] = set()
    for target, fault_id, address in reported:
        if fault_id not in names:
            continue  # cert_expiring_soon: alerted from the timestamps below
        p = policy(fault_id, str(FAULTS[FaultId(fault_id)].severity), SETTINGS)
        expected.add((names[fault_id], target, fault_id, getattr(notify, p.notify), address))
        if p.escalates and soonest.get(target, float("inf")) < now + SETTINGS.renewal_window_days * 86400:
            expected.add((names[fault_id], target, fault_id, notify.page, address))
        if p.unreadable_after and target not in soonest:  # a file whose certificate cannot be parsed (`for` is 0s)
            expected.add((names[fault_id], target, fault_id, notify.page, address))
    for (target, address), not_after in leaf.items():
        days = (not_after - now) / 86400
        for limit, severity in ((WARNING_DAYS, notify.warn), (CRITICAL_DAYS, notify.page)):
            if 0 < days < limit:
                expected.add(("SSLCertificateExpiringSoon", target, "cert_expiring_soon", severity, address))
    for r in stack.query("sslfault_chain_not_after_timestamp_seconds"):
        target, address, chain = r["metric"]["target"], r["metric"].get("address", ""), float(r["value"][1])
        if chain < leaf.get((target, address), chain) and 0 < (chain - now) / 86400 < WARNING_DAYS:
            expected.add(("SSLIntermediateExpiresBeforeLeaf", target, "chain_cert_expired", notify.warn, address))
    paged = {(target, fault) for _, target, fault, severity, _ in expected if severity == notify.page}
    return {e for e in expected if e[3] == notify.page or (e[1], e[2]) not in paged}


def all_probed(stack: Stack) -> bool:
    with urllib.request.urlopen(f"{stack.exporter_url}/-/ready", timeout=2) as response:
        return response.status == 200


# -- the tests (they share one stack and run in file order) -------------------------------------


def test_each_lab_fault_alerts_with_the_right_labels(stack: Stack) -> None:
    assert stack.lab is not None and stack.webhook is not None
    webhook = stack.webhook
    wait_for(lambda: all_probed(stack), 30, "the exporter's first run of every lab target", stack.logs)
    # A scrape taken after every target's first run: which targets have a notAfter decides the escalations.
    with urllib.request.urlopen(f"{stack.exporter_url}/metrics", timeout=5) as response:
        exported = response.read().decode().count("\nsslfault_cert_not_after_timestamp_seconds{")
    wait_for(lambda: len(stack.query("sslfault_cert_not_after_timestamp_seconds")) == exported, 15,
             "a scrape with every target's first results", stack.logs)
    reported = reported_faults(stack)
    for target, faults in stack.expected_faults.items():  # the lab reproduces each of its faults
        missing = {f for f in faults if (target, f) not in {(t, f) for t, f, _ in reported}}
        assert not missing, f"{target}: the exporter does not report {sorted(missing)}"
    lab_faults = {f for faults in stack.expected_faults.values() for f in faults}
    print(f"\nlab faults that reach the webhook: {len(lab_faults)} of {len(FAULTS)} fault ids; "
          f"alerts: {sorted({fault_alert_names().get(f, 'SSLCertificateExpiringSoon') for f in lab_faults})}")
    expected = expected_alerts(stack, reported)
    with_cert = {r["metric"]["target"] for r in stack.query("sslfault_cert_not_after_timestamp_seconds")}
    paged = {e for e in expected if e[3] == SETTINGS.notify.page}
    escalated = {e for e in paged if e[2] in SETTINGS.policy.until_renewal and e[1] in with_cert}
    assert escalated, "no issuance fault on a certificate due for renewal: the escalation is not exercised"
    unreadable = {e[1] for e in paged if e[2] in SETTINGS.policy.unreadable_files.faults and e[1] not in with_cert}
    assert any(t.endswith("/invalid.pem") for t in unreadable), "the unparseable-file page is not exercised"

    def firing() -> set[Expected]:
        return {key(a) for a in webhook.alerts()}

    wait_for(lambda: expected <= firing(), 45, "every lab fault's alert at the webhook",
             lambda: f"missing: {sorted(expected - firing())}\n{stack.logs()}")
    time.sleep(3)  # a few more evaluation and notification rounds: anything unexpected shows up now
    assert firing() == expected, f"unexpected: {sorted(firing() - expected)}"
    for alert in webhook.alerts():
        notes = alert["annotations"]
        assert {"summary", "description", "runbook_url"} <= set(notes), alert
        assert "<no value>" not in json.dumps(notes), alert
        anchor = notes["runbook_url"].rsplit("#", 1)[1]
        assert anchor in (alert["labels"]["fault"], "cert_expiring_soon", "chain_cert_expired"), alert


def test_healthy_targets_raise_no_alert(stack: Stack) -> None:
    assert stack.webhook is not None
    wait_for(lambda: stack.webhook.notifications if stack.webhook else 0, 30, "the first notification")
    for name in HEALTHY:
        assert stack.query(f'sslfault_faults_active{{target="{name}"}} > 0') == []
        assert [a["labels"] for a in stack.webhook.alerts() if a["labels"].get("target") == name] == []


# `selector <op> number`: a plain value filter over one selector (e.g. mixed content > 0).
FILTER = re.compile(r"\s*(\w+\{[^}]*\})\s*(?:==|!=|>=|<=|>|<)\s*-?[\d.]+\s*")


def test_every_dashboard_query_returns_data(stack: Stack) -> None:
    """Each panel query runs; it must return data unless one of its selectors selects nothing in the lab."""
    wait_for(lambda: stack.query("rate(sslfault_check_runs_total[1m])"), 30, "two scrapes for rate()")
    scope = {"job": ".*", "instance": ".*"}
    values = {"overview.json": {**scope, "target": ".*"}, "exporter.json": scope,
              "target.json": {**scope, "target": "multi"}}
    empty_allowed, failures = [], []
    for name, dashboard in dashboards.load_all().items():
        for variable in dashboards.variables(dashboard).values():
            query = dashboards.substitute(str(variable.get("query", "")), values[name]) if "query" in variable else ""
            match = re.fullmatch(r"label_values\((\w+(?:\{[^}]*\})?), (\w+)\)", query)
            if match:
                selector = urllib.parse.quote(match[1])
                url = f"{stack.prometheus_url}/api/v1/label/{match[2]}/values?match[]={selector}"
                assert get_json(url)["data"], f"{name}: variable {variable['name']} has no values"
        for query in dashboards.queries(dashboard):
            expr = dashboards.substitute(query.expr, values[name])
            where = f"{query.dashboard} / {query.panel} / {query.ref_id}: {expr}"
            if stack.query(expr):
                continue
            filtered = FILTER.fullmatch(expr)
            if any(not stack.query(f"count({s})") for s in dashboards.selectors(expr)):
                empty_allowed.append(f"{where}  (no such series: a check the lab does not run)")
            elif filtered and stack.query(filtered[1]):
                empty_allowed.append(f"{where}  (series exist, no lab value passes the filter)")
            else:
                failures.append(where)
    print("\npanels without lab data (allowed):\n  " + "\n  ".join(empty_allowed))
    assert not failures, "panels that returned nothing although their series exist:\n" + "\n".join(failures)


def test_alert_resolves_after_the_lab_repairs_the_fault(stack: Stack) -> None:
    assert stack.lab is not None and stack.webhook is not None
    lab, webhook = stack.lab, stack.webhook
    broken = {"alertname": "SSLDnsResolutionFailed", "target": "unresolvable"}
    wait_for(lambda: webhook.find(**broken), 30, "SSLDnsResolutionFailed for unresolvable")
    healthy_address = lab.scenarios["ok"].addresses[0]
    stack.lab_thread.call_sync(lambda: lab.dns.update(lab.host("unresolvable"), [("A", 60, healthy_address)]))
    resolved = wait_for(lambda: webhook.find("resolved", **broken), 30, "the resolved notification",
                        lambda: json.dumps(webhook.alerts(), indent=1)[-3000:])
    assert resolved["labels"]["fault"] == "dns_resolution_failed" and resolved["labels"]["severity"] == "critical"
    assert resolved["endsAt"] >= resolved["startsAt"]


def test_failed_config_reload_alerts(stack: Stack) -> None:
    assert stack.config_file is not None and stack.webhook is not None
    stack.config_file.write_text("targets: [\n")
    request = urllib.request.Request(f"{stack.exporter_url}/-/reload", method="POST")
    with pytest.raises(urllib.error.HTTPError) as failed:
        urllib.request.urlopen(request, timeout=5)
    assert failed.value.code == 500  # like Prometheus: the running config stays
    alert = wait_for(lambda: stack.webhook.find(alertname="SSLFaultExporterConfigReloadFailed") if stack.webhook
                     else None, 20, "SSLFaultExporterConfigReloadFailed")
    assert alert["labels"]["job"] == "sslfault" and alert["labels"]["severity"] == "warning"


def test_exporter_down_pages_and_resolves_no_fault(stack: Stack) -> None:
    assert stack.webhook is not None
    webhook = stack.webhook
    firing = {key(a) for a in webhook.alerts() if a["labels"]["alertname"] != REPAIRED_ALERT
              and not a["labels"]["alertname"].startswith("SSLFaultExporter")}
    assert firing, "no fault alert was firing"
    stack.procs["exporter"].terminate()
    stack.procs["exporter"].wait(10)
    alert = wait_for(lambda: webhook.find(alertname="SSLFaultExporterDown"), 20, "SSLFaultExporterDown")
    assert alert["labels"]["instance"] == stack.exporter_url.removeprefix("http://")
    assert alert["labels"]["severity"] == SETTINGS.notify.page  # the only replica: nothing watches the certificates
    # Its series are stale now; keep_firing_for holds every fault alert. A few more rounds for stray notifications.
    time.sleep(3)
    assert not stack.query("sslfault_fault"), "the exporter's series should be stale"
    resolved = {key(a) for a in webhook.alerts("resolved")} & firing
    assert not resolved, f"a dead exporter resolved {sorted(resolved)}"
