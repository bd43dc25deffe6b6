"""The paging policy: alert rules generated from deploy/alerting.yaml, proved by promtool, documented in docs/paging.md.

promtool's unit tests (deploy/prometheus/alerts_test.yml) prove who is told about each fault and
when; these tests prove the generated files are current, that the policy is the one the
project promises (pages only for visitors hurt now, issuance faults wait for renewal), that
the generators follow the catalog, and that the settings are the one place for their values.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.catalog.faults import FAULTS
from exporter.catalog.runbooks import anchors
from tests.support.tools import tool
from tools import gen_alert_tests, gen_alerts, gen_k8s_rules, gen_paging_doc
from tools.alerting import families as fam
from tools.alerting import rules as model
from tools.alerting.settings import (
    SettingsError,
    load,
    parse,
    policy,
    seconds,
    settings_fault_ids,
)

ROOT = Path(__file__).resolve().parents[2]
ALERTS_FILE = ROOT / "deploy/prometheus/alerts.yml"
ALERTS_TEST = ROOT / "deploy/prometheus/alerts_test.yml"
SETTINGS_TEXT = (ROOT / "deploy/alerting.yaml").read_text(encoding="utf-8")
# Fault ids the shared catalog announces and exporter/catalog/faults.py is about to gain; the
# families and settings name them already, so they alert as soon as the catalog has them.
ANNOUNCED = {"cert_crypto_rejected": "critical", "tls_modern_protocol_unsupported": "critical",
             "tls_insecure_cipher": "critical", "tls_weak_cipher": "warning", "tls_client_cert_required": "info",
             "mixed_content_form": "warning", "https_redirects_to_http": "critical"}
# What pages at any hour: visitors are hurt now (the list).
PAGE_NOW = {"cert_expired", "cert_not_yet_valid", "cert_untrusted", "cert_hostname_mismatch", "cert_revoked",
            "chain_incomplete", "chain_cert_expired", "dns_resolution_failed", "tcp_connect_refused",
            "tcp_connect_timeout", "tls_handshake_failed", "https_status_mismatch", "cert_crypto_rejected",
            "tls_modern_protocol_unsupported", "https_redirects_to_http"}
# Block the next issuance, hurt nobody today: a warning, a page once the certificate is due.
UNTIL_RENEWAL = {"caa_forbids_issuer", "caa_critical_unknown_tag", "caa_lookup_failed", "dns_validation_record_missing",
                 "dns_validation_record_mismatch", "dns_validation_not_propagated", "file_validation_redirect",
                 "file_validation_unreachable", "file_validation_mismatch", "cert_file_key_mismatch", "cert_file_invalid_pem",
                 "dns_unexpected_address"}
# Certificate-file faults that page once the file's certificate has been unparseable for a while:
# no notAfter says whether it is due, and the server fails when it next loads the file.
UNREADABLE = {"cert_file_invalid_pem", "cert_file_key_mismatch"}
NETWORK = {"dns_resolution_failed", "dns_unexpected_address", "tcp_connect_refused", "tcp_connect_timeout",
           "tls_handshake_failed", "https_error_status", "file_validation_unreachable", "caa_lookup_failed",
           "tls_modern_protocol_unsupported"}  # a handshake verdict: one lost packet must not page


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def all_rules(groups: dict[str, list[model.Rule]] | None = None) -> list[model.Rule]:
    return [r for rules in (groups or model.build(load())).values() for r in rules]


def told(fault_id: str, rules: list[model.Rule]) -> dict[str, set[str]]:
    """kind -> severities of the rules that tell about this fault."""
    out: dict[str, set[str]] = {}
    for rule in rules:
        if fault_id in rule.faults and rule.kind != "chain":
            out.setdefault(rule.kind, set()).add(rule.severity)
    return out


# -- promtool ---------------------------------------------------------------------------------


def test_promtool_check_rules() -> None:
    """Valid, and clean of promtool's lint (two rules with one alert name and label set are a duplicate)."""
    result = run(tool("promtool"), "check", "rules", "--lint=all", "--lint-fatal", str(ALERTS_FILE))
    assert result.returncode == 0 and "FAILED" not in result.stdout + result.stderr, result.stdout + result.stderr


def test_promtool_unit_tests_prove_the_policy() -> None:
    result = run(tool("promtool"), "test", "rules", str(ALERTS_TEST))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_promtool_cases() -> None:
    tests = yaml.safe_load(ALERTS_TEST.read_text(encoding="utf-8"))["tests"]
    tested = {t["alertname"] for group in tests for t in group["alert_rule_test"] if t["exp_alerts"]}
    assert tested == {r.alert for r in all_rules()}, "alerts never seen firing in alerts_test.yml"


# -- generated files --------------------------------------------------------------------------


@pytest.mark.parametrize("generator", [gen_alerts, gen_alert_tests, gen_k8s_rules, gen_paging_doc],
                         ids=lambda g: g.__name__.rsplit(".", 1)[-1])
def test_generated_files_are_current(generator: Any) -> None:
    assert generator.OUTPUT.read_text(encoding="utf-8") == generator.build(), \
        f"{generator.OUTPUT.relative_to(ROOT)} is out of date: run python tools/generate.py"


def test_prometheus_rule_carries_the_same_groups() -> None:
    rule = yaml.safe_load(gen_k8s_rules.OUTPUT.read_text(encoding="utf-8"))
    assert rule["kind"] == "PrometheusRule" and rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["spec"]["groups"] == yaml.safe_load(ALERTS_FILE.read_text(encoding="utf-8"))["groups"]


def test_the_runbook_base_url_lives_in_one_source() -> None:
    """Only deploy/alerting.yaml names it; every other file that has it is generated from there."""
    base = load().runbook_base_url
    generated = {gen_alerts.OUTPUT, gen_alert_tests.OUTPUT, gen_k8s_rules.OUTPUT, gen_paging_doc.OUTPUT,
                 *(ROOT / "grafana/dashboards").glob("*.json")}
    files = run("git", "ls-files", "-co", "--exclude-standard").stdout.split()
    holders = {ROOT / f for f in files if (ROOT / f).is_file() and base in (ROOT / f).read_text(errors="replace")}
    assert holders - generated == {ROOT / "deploy/alerting.yaml"}


# -- the policy ---------------------------------------------------------------------------------


def test_every_fault_has_exactly_one_alert() -> None:
    rules = all_rules()
    for fault_id in map(str, FAULTS):
        names = {r.alert for r in rules if fault_id in r.faults and r.kind != "chain"}
        assert len(names) == 1, f"{fault_id}: alerts {sorted(names)}"


def test_pages_only_when_visitors_are_hurt_now() -> None:
    rules = all_rules()
    for fault_id in map(str, FAULTS):
        kinds = told(fault_id, rules)
        if fault_id in PAGE_NOW:
            assert kinds == {"fault": {"critical"}}, f"{fault_id} must page, and only page: {kinds}"
        elif fault_id in UNTIL_RENEWAL:
            unreadable = {"unreadable": {"critical"}} if fault_id in UNREADABLE else {}
            assert kinds == {"fault": {"warning"}, "renewal": {"critical"}, **unreadable}, f"{fault_id}: {kinds}"
        elif fault_id == "cert_expiring_soon":
            assert kinds == {"expiry": {"warning", "critical"}}
        else:
            assert "critical" not in {s for sev in kinds.values() for s in sev}, f"{fault_id} pages: {kinds}"


def test_issuance_faults_escalate_on_the_soonest_certificate_of_the_target() -> None:
    s = load()
    for rule in (r for r in all_rules() if r.kind == "renewal"):
        expr = rule.body["expr"]
        assert "and on (target)" in expr and "min by (target) (sslfault_cert_not_after_timestamp_seconds" in expr
        assert f"< time() + {s.renewal_window_days:g} * 86400" in expr
        assert rule.wait == next(r.wait for r in all_rules() if r.alert == rule.alert and r.kind == "fault")


def test_an_unparseable_certificate_file_pages_after_a_while() -> None:
    """The renewal join needs a notAfter, which a file whose certificate cannot be parsed does not export: those
    faults page after page_after where the replica reporting them has no notAfter for the file."""
    s = load()
    assert set(s.policy.unreadable_files.faults) == UNREADABLE
    rules = [r for r in all_rules() if r.kind == "unreadable"]
    assert {f for r in rules for f in r.faults} == UNREADABLE
    for rule in rules:
        assert rule.wait == s.policy.unreadable_files.page_after and rule.severity == s.notify.page
        assert rule.body["labels"] == {"severity": s.notify.page, "escalation": "unreadable"}
        assert "unless on (target, instance, pod)\n  sslfault_cert_not_after_timestamp_seconds{" in rule.body["expr"]
    text = gen_paging_doc.OUTPUT.read_text(encoding="utf-8")
    assert f"**A certificate file that cannot be parsed pages after {s.policy.unreadable_files.page_after}.**" in text
    for fault_id in UNREADABLE:
        row = next(line for line in text.splitlines() if line.startswith(f"| `{fault_id}` |"))
        assert f"when the file's certificate cannot be parsed for {s.policy.unreadable_files.page_after}" in row


def test_one_expiry_family_with_thresholds_from_the_settings() -> None:
    s = load()
    expiry = [r for r in all_rules() if "cert_expiring_soon" in r.faults]
    assert {r.alert for r in expiry} == {"SSLCertificateExpiringSoon"}
    assert {r.severity: r.body["expr"].rsplit("<", 1)[1].split(">")[0].strip() for r in expiry} == {
        "warning": f"{s.expiry.warning_days:g}", "critical": f"{s.expiry.critical_days:g}"}
    # A daily renewal job gets a try between "due" and the first warning.
    assert s.renewal_window_days >= s.expiry.warning_days + 1


def test_a_dead_exporter_resolves_nothing_and_pages() -> None:
    s = load()
    for rule in all_rules():
        assert rule.body.get("keep_firing_for") == (s.keep_firing_for if rule.kind != "health" else None), rule.alert
    health = {(r.alert, r.severity) for r in all_rules() if r.kind == "health"}
    assert {("SSLFaultExporterDown", "critical"), ("SSLFaultExporterAbsent", "critical")} <= health
    absent = next(r for r in all_rules() if r.alert == "SSLFaultExporterAbsent")
    assert absent.body["expr"] == f"absent(up{{{s.selector}}})"


def health(alert: str) -> list[model.Rule]:
    return [r for r in all_rules() if r.alert == alert]


def test_a_dead_shard_pages_although_other_shards_are_up() -> None:
    """Each shard watches its own part of the fleet: a replica only stands in for one of the same shard. Without
    shards the label is empty, and the job decides as before."""
    down = {r.severity: r.body["expr"] for r in health("SSLFaultExporterDown")}
    assert down == {"critical": 'up{job="sslfault"} == 0\nunless on (job, shard)\nup{job="sslfault"} == 1',
                    "warning": 'up{job="sslfault"} == 0\nand on (job, shard)\nup{job="sslfault"} == 1'}
    tests = yaml.safe_load(ALERTS_TEST.read_text(encoding="utf-8"))["tests"]
    names = {t["name"] for t in tests}
    assert {"SSLFaultExporterDown: a whole shard", "SSLFaultExporterDown: one of a shard's pair"} <= names


def test_every_fleet_metric_is_watched() -> None:
    """Discovery, shards, the state file and an empty exporter each have a warning, with a runbook entry."""
    exprs = {r.alert: r.body["expr"] for r in all_rules() if r.kind == "health"}
    assert exprs["SSLFaultExporterDiscoveryFailing"] == 'sslfault_discovery_sources_failing{job="sslfault"} > 0'
    assert exprs["SSLFaultExporterShardsDisagree"] == (
        'sum by (job) (max without (instance, pod) (sslfault_shard_targets{job="sslfault"}))\n'
        '  != max by (job) (sslfault_fleet_targets{job="sslfault"})')  # an HA pair's shard counts once
    window = load().exporter.state_save_failing_for
    assert exprs["SSLFaultExporterStateSaveFailing"] == (
        f'increase(sslfault_state_file_save_failures_total{{job="sslfault"}}[{window}]) > 0')
    assert exprs["SSLFaultExporterWatchesNothing"] == (
        'up{job="sslfault"} == 1\nunless on (job, instance, pod)\nsslfault_faults_active{job="sslfault"}')
    for alert in ("SSLFaultExporterDiscoveryFailing", "SSLFaultExporterShardsDisagree",
                  "SSLFaultExporterStateSaveFailing", "SSLFaultExporterWatchesNothing"):
        (rule,) = health(alert)
        assert rule.severity == load().notify.warn and "keep_firing_for" not in rule.body
        assert rule.body["annotations"]["runbook_url"].rsplit("#", 1)[1] in anchors()


def test_staleness_is_relative_to_each_targets_interval() -> None:
    """A watched file re-read hourly (config.example.yaml) is not stale after 30 minutes: the rule takes the larger
    of stale_after and stale_intervals times the target's own interval."""
    x = load().exporter
    (rule,) = health("SSLFaultExporterResultsStale")
    age = 'time() - sslfault_last_run_timestamp_seconds{job="sslfault"}'
    assert rule.body["expr"] == (f"{age}\n  > {seconds(x.stale_after)}\nunless\n"
                                 f'{age}\n  <= {x.stale_intervals:g} * sslfault_target_interval_seconds{{job="sslfault"}}')
    # The promtool case feeds such a file: quiet at 30 minutes, stale only after 3 of its hours.
    assert "#    interval: 1h" in (ROOT / "config.example.yaml").read_text(encoding="utf-8")
    tests = yaml.safe_load(ALERTS_TEST.read_text(encoding="utf-8"))["tests"]
    (case,) = [t for t in tests if t["name"] == rule.alert]
    assert {"series": 'sslfault_target_interval_seconds{job="sslfault",instance="exporter-a:17753",'
                      'target="file:/etc/ssl/site.pem"}', "values": f"3600x{case['input_series'][0]['values'][2:]}"} \
        in case["input_series"]


def test_for_durations() -> None:
    rules = all_rules()
    for fault_id in map(str, FAULTS):
        waits = {gen_alert_tests.minutes(r.wait) for r in rules if fault_id in r.faults and r.kind != "chain"}
        if fault_id in NETWORK:
            assert min(waits) >= 10, f"{fault_id}: network faults wait two probe intervals"
        if fault_id in PAGE_NOW - NETWORK - {"https_status_mismatch", "https_redirects_to_http"}:
            assert max(waits) <= 1, f"{fault_id}: a certificate broken for everyone pages at once"


def test_selector_and_replica_labels_apply_to_every_rule() -> None:
    s = load()
    for rule in all_rules():
        for selector in re.findall(r"\b(?:sslfault_\w+|up)(\{[^}]*\})", rule.body["expr"]):
            assert selector.startswith("{" + s.selector), f"{rule.alert}: {selector}"
        if rule.kind in ("fault", "renewal", "unreadable"):
            flat = re.sub(r"\(\s+", "(", rule.body["expr"])
            assert flat.startswith(f"max without ({', '.join(s.replica_labels)}) (sslfault_fault{{"), rule.alert


def test_annotations_and_runbook_links() -> None:
    base, known = load().runbook_base_url + "#", set(anchors())
    for rule in all_rules():
        notes = rule.body["annotations"]
        assert {"summary", "description", "runbook_url"} <= set(notes), rule.alert
        anchor = notes["runbook_url"].removeprefix(base)
        assert notes["runbook_url"].startswith(base), rule.alert
        fault_kinds = ("fault", "renewal", "unreadable")
        assert anchor == "{{ $labels.fault }}" if rule.kind in fault_kinds else anchor in known, rule.alert


def test_paging_doc_lists_every_fault_and_alert() -> None:
    text = gen_paging_doc.OUTPUT.read_text(encoding="utf-8")
    for fault_id in map(str, FAULTS):
        assert f"| `{fault_id}` |" in text
    for name in {r.alert for r in all_rules()}:
        assert f"`{name}`" in text


def test_alertmanager_sends_one_message_per_fault() -> None:
    """The inhibit rule the policy relies on: a page silences the warning for the same target and fault."""
    s = load()
    am = yaml.safe_load((ROOT / "deploy/alertmanager/alertmanager.yml").read_text(encoding="utf-8"))
    rule = next(r for r in am["inhibit_rules"] if r["source_matchers"] == [f'severity="{s.notify.page}"'])
    assert {"target", "fault"} <= set(rule["equal"])
    assert s.notify.warn in rule["target_matchers"][0]
    # A dead shard makes the shares fall short of the fleet: its page says so, the disagreement stays quiet.
    dead = next(r for r in am["inhibit_rules"] if r["target_matchers"] == ['alertname="SSLFaultExporterShardsDisagree"'])
    assert dead["source_matchers"] == ['alertname="SSLFaultExporterDown"', f'severity="{s.notify.page}"']
    assert dead["equal"] == ["job"]


# -- data-driven: the catalog and the settings decide -----------------------------------------------


def test_settings_name_only_catalog_ids() -> None:
    unknown = (settings_fault_ids(load()) | fam.declared_fault_ids()) - set(map(str, FAULTS))
    assert unknown <= set(ANNOUNCED), f"not fault ids: {sorted(unknown - set(ANNOUNCED))}"


def test_new_catalog_faults_alert_without_code_changes(tmp_path: Path) -> None:
    """The announced ids and an unknown one, as if the catalog had them: rules, tests and docs follow."""
    catalog = {**model.catalog_severities(), **ANNOUNCED, "zz_new_fault": "critical"}
    s = load()
    groups = model.build(s, catalog)
    rules = all_rules(groups)
    for fault_id, severity in {**ANNOUNCED, "zz_new_fault": "critical"}.items():
        p = policy(fault_id, severity, s)
        assert {r.severity for r in rules if fault_id in r.faults} == {getattr(s.notify, p.notify)}, fault_id
    assert told("tls_insecure_cipher", rules) == {"fault": {"warning"}}  # an override: nobody hurt now
    assert told("https_redirects_to_http", rules) == {"fault": {"critical"}}
    assert any(r.alert == "SSLZzNewFault" for r in rules)
    assert "SSLMixedContent" in {r.alert for r in rules if "mixed_content_form" in r.faults}
    (tmp_path / "alerts.yml").write_text(gen_alerts.HEADER + yaml.safe_dump(model.rule_file(groups)))
    gen = gen_alert_tests.Generator(s, catalog)
    doc = {"rule_files": ["alerts.yml"], "evaluation_interval": "1m", "tests": [
        {"name": c.name, "interval": "1m", "input_series": c.inputs, "alert_rule_test": [
            {"eval_time": f"{at}m", "alertname": a, "exp_alerts": [e.out() for e in exp]} for at, a, exp in c.checks]}
        for c in gen.cases()]}
    (tmp_path / "alerts_test.yml").write_text(yaml.safe_dump(doc, width=1000))
    result = run(tool("promtool"), "test", "rules", "alerts_test.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert "| `zz_new_fault` | critical | `SSLZzNewFault` | **page**" in gen_paging_doc.build(s, catalog)


def test_settings_change_every_output() -> None:
    text = (SETTINGS_TEXT.replace(load().runbook_base_url, "https://wiki.example.net/sslfault")
            .replace("warning_days: 21", "warning_days: 14").replace('job="sslfault"', 'job="certs"'))
    s = parse(text)
    alerts, doc = gen_alerts.build(s), gen_paging_doc.build(s)
    assert "YOUR_ORG" not in alerts and "https://wiki.example.net/sslfault#{{ $labels.fault }}" in alerts
    assert 'job="sslfault"' not in alerts and "< 14 > 0" in alerts
    assert "under 14 days left" in doc
    assert 'job="certs"' in gen_alert_tests.build(s)


@pytest.mark.parametrize(("change", "words"), [
    (("critical_days: 7", "critical_days: 30"), "expiry: critical_days must be below warning_days"),
    (("renewal_window_days: 30", "renewal_window_days: 21"), "renewal_window_days must be at least"),
    (("keep_firing_for: 30m", "keep_firing_for: half an hour"), "keep_firing_for: expected a duration"),
    (("selector: job=\"sslfault\"", "selector: sslfault"), "selector: String should match pattern"),
    (("  warn: warning", "  warn: warning\n  shout: critical"), "notify.shout: Extra inputs are not permitted"),
    (("shard_labels: [shard]", "shard_labels: [instance]"), "instance: a label tells either replicas or shards apart"),
    (("page_after: 1h", "page_after: soon"), "policy.unreadable_files.page_after: expected a duration"),
    (("faults: [cert_file_invalid_pem,", "faults: [Cert-File,"), "'Cert-File' is not a fault id"),
])
def test_bad_settings_are_named(change: tuple[str, str], words: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(words)):
        parse(SETTINGS_TEXT.replace(*change))
