"""Write deploy/prometheus/alerts_test.yml: `promtool test rules` cases for every alert in alerts.yml.

Fault-family alerts get one generated group each: every catalog fault is active on its own
target, and exactly the family's faults must fire, with the catalog severity, after `for:`
and not before, and the alert must resolve once the series goes away. Threshold and
exporter-health alerts get hand-written cases below. Expected annotations are the rule's
templates with the labels filled in, so promtool also proves every template renders.

    python tools/gen_alert_tests.py          # rewrite the file
    python tools/gen_alert_tests.py --check  # exit 1 if it is out of date
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exporter.catalog.faults import FAULTS, FaultId
from tools._generated import write_or_check

RULES = ROOT / "deploy/prometheus/alerts.yml"
OUTPUT = ROOT / "deploy/prometheus/alerts_test.yml"
JOB = {"job": "sslfault", "instance": "exporter:9793"}
DAY = 86400
FAULT_MATCHER = re.compile(r'\s*sslfault_fault\{fault(=~|=)"([^"]+)"\} == 1\s*')
TEMPLATE = re.compile(r"\{\{.*?\}\}")


def load_alerts(path: Path = RULES) -> dict[str, dict[str, Any]]:
    """Alert name -> rule, in file order."""
    groups = yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
    return {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}


def family_faults(rule: dict[str, Any]) -> list[str]:
    """The fault ids of a family alert (`sslfault_fault{fault=~"..."} == 1`); [] for other alerts."""
    match = FAULT_MATCHER.fullmatch(rule["expr"])
    if match is None:
        return []
    op, value = match.groups()
    ids = [value] if op == "=" else value.split("|")
    for fault_id in ids:
        FaultId(fault_id)  # ValueError on a typo
    return ids


def minutes(duration: str) -> int:
    match = re.fullmatch(r"(\d+)([mh])", duration)
    if match is None:
        raise ValueError(f"unsupported for: {duration!r} (use whole minutes or hours)")
    return int(match[1]) * (60 if match[2] == "h" else 1)


def render(text: str, labels: dict[str, str], value: float | None = None) -> str:
    """Fill `{{ $labels.x }}` and `{{ printf "%.1f" $value }}`; anything else is an error."""

    def one(match: re.Match[str]) -> str:
        token = match[0][2:-2].strip()
        if token.startswith("$labels."):
            return labels[token.removeprefix("$labels.")]
        if token == 'printf "%.1f" $value' and value is not None:
            return f"{value:.1f}"
        raise ValueError(f"template {match[0]!r} is not supported by the test generator")

    return TEMPLATE.sub(one, text)


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:  # write shared input lists out in full
        return True


def series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{inner}}}", "values": values}


@dataclass
class Expect:
    """One expected firing alert: the series labels it comes from, the labels the rule must add, its $value."""

    labels: dict[str, str]
    added: dict[str, str] = field(default_factory=dict)
    value: float | None = None


@dataclass
class Case:
    alert: str
    input_series: list[dict[str, str]]
    checks: list[tuple[str, list[Expect]]] = field(default_factory=list)  # (eval_time, alerts)


def expected(rule: dict[str, Any], expect: Expect) -> dict[str, Any]:
    # Expected labels come from the case, not from the rule: a wrong severity in alerts.yml fails.
    labels = {**expect.labels, **expect.added}
    annotations = {k: render(v, expect.labels, expect.value) for k, v in rule.get("annotations", {}).items()}
    return {"exp_labels": labels, "exp_annotations": annotations}


# -- fault-family alerts --------------------------------------------------------------------


def target_for(fault_id: str) -> str:
    return f"{fault_id.replace('_', '-')}.example.com"


def family_case(name: str, rule: dict[str, Any]) -> Case:
    wait = minutes(rule.get("for", "0m"))
    active_until = wait + 2  # minutes the faults stay active, then go stale
    inputs = [
        series("sslfault_fault", {**JOB, "target": target_for(f.id), "fault": f.id, "severity": f.severity},
               f"1x{active_until} stale")
        for f in FAULTS.values()
    ]
    # The exporter never exports 0, but `== 1` must not fire on it either.
    first = family_faults(rule)[0]
    inputs.append(series("sslfault_fault", {**JOB, "target": "zero.example.com", "fault": first,
                                            "severity": FAULTS[FaultId(first)].severity}, f"0x{active_until}"))
    firing = [Expect({**JOB, "target": target_for(f), "fault": f, "severity": str(FAULTS[FaultId(f)].severity)})
              for f in family_faults(rule)]
    case = Case(name, inputs)
    if wait:
        case.checks.append((f"{wait - 1}m", []))  # pending: not yet
    case.checks.append((f"{wait + 1}m", firing))
    case.checks.append((f"{active_until + 2}m", []))  # resolved once the faults are gone
    return case


# -- threshold and exporter-health alerts ---------------------------------------------------


def not_after(days: float, at_minute: int = 1) -> str:
    """A notAfter timestamp that is `days` away at `at_minute` (promtool's clock starts at 0)."""
    return f"{int(at_minute * 60 + days * DAY)}x3"


def cert(target: str, address: str = "192.0.2.1") -> dict[str, str]:
    return {**JOB, "target": target, "address": address}


def expiry_cases() -> list[Case]:
    leaf = "sslfault_cert_not_after_timestamp_seconds"
    days = {"d30": 30, "d21": 21, "d10": 10, "d7": 7, "d3": 3, "expired": -1}
    inputs = [series(leaf, cert(f"{k}.example.com"), not_after(v)) for k, v in days.items()]
    file_cert = {**JOB, "target": "file:/etc/ssl/site.pem"}  # watched files have no address label
    inputs.append(series(leaf, file_cert, not_after(2)))
    warn = {"severity": "warning", "fault": "cert_expiring_soon"}
    warning = Case("SSLCertificateExpiryWarning", inputs, [("1m", [
        Expect(cert("d10.example.com"), warn, 10.0), Expect(cert("d7.example.com"), warn, 7.0)])])
    crit = {"severity": "critical", "fault": "cert_expiring_soon"}
    critical = Case("SSLCertificateExpiryCritical", inputs, [("1m", [
        Expect(cert("d3.example.com"), crit, 3.0), Expect(file_cert, crit, 2.0)])])
    chain = "sslfault_chain_not_after_timestamp_seconds"
    pairs = {"early": (5, 60), "same": (5, 5), "far": (30, 60), "gone": (-1, 60)}  # chain, leaf days
    chain_inputs = [s for k, (c, lf) in pairs.items()
                    for s in (series(chain, cert(f"{k}.example.com"), not_after(c)),
                              series(leaf, cert(f"{k}.example.com"), not_after(lf)))]
    before_leaf = Case("SSLIntermediateExpiresBeforeLeaf", chain_inputs,
                       [("1m", [Expect(cert("early.example.com"), {"severity": "warning", "fault": "chain_cert_expired"},
                                        5.0)])])
    return [warning, critical, before_leaf]


def health_cases() -> list[Case]:
    warn = {"severity": "warning"}
    down = Case("SSLFaultExporterDown", [
        series("up", JOB, "1 1 0x10"),
        series("up", {"job": "node", "instance": "node:9100"}, "0x12"),
    ], [("6m", []), ("8m", [Expect(JOB, warn)])])

    def check(target: str, name: str) -> dict[str, str]:
        return {**JOB, "target": target, "check": name}

    def fault(target: str, fault_id: str) -> dict[str, str]:
        return {**JOB, "target": target, "fault": fault_id, "severity": str(FAULTS[FaultId(fault_id)].severity)}

    erroring = Case("SSLFaultExporterCheckErroring", [
        series("sslfault_check_success", check("caa-broken.example.com", "caa"), "0x40"),
        series("sslfault_check_success", check("expired.example.com", "tls"), "0x40"),
        series("sslfault_check_success", check("refused.example.com", "tls"), "0x40"),
        series("sslfault_check_success", check("nxdomain.example.com", "tls"), "0x40"),
        series("sslfault_check_success", check("fine.example.com", "tls"), "1x40"),
        series("sslfault_fault", fault("expired.example.com", "cert_expired"), "1x40"),  # explains nothing
        series("sslfault_fault", fault("refused.example.com", "tcp_connect_refused"), "1x40"),
        series("sslfault_fault", fault("nxdomain.example.com", "dns_resolution_failed"), "1x40"),
    ], [("29m", []), ("31m", [Expect(check("caa-broken.example.com", "caa"), warn),
                              Expect(check("expired.example.com", "tls"), warn)])])
    stale = Case("SSLFaultExporterResultsStale", [
        series("sslfault_check_last_run_timestamp_seconds", check("stuck.example.com", "tls"), "0x40"),
        series("sslfault_check_last_run_timestamp_seconds", check("fresh.example.com", "tls"), "0+60x40"),
    ], [("34m", []), ("37m", [Expect(check("stuck.example.com", "tls"), warn)])])
    reload = Case("SSLFaultExporterConfigReloadFailed", [
        series("sslfault_config_last_reload_successful", JOB, "1 1 0x10"),
        series("sslfault_config_last_reload_successful", {"job": "sslfault", "instance": "other:9793"}, "1x12"),
    ], [("6m", []), ("8m", [Expect(JOB, warn)])])
    return [down, erroring, stale, reload]


# -- output -----------------------------------------------------------------------------------


def build() -> str:
    alerts = load_alerts()
    cases = [family_case(name, rule) for name, rule in alerts.items() if family_faults(rule)]
    cases += expiry_cases() + health_cases()
    missing = set(alerts) - {c.alert for c in cases}
    if missing:
        raise SystemExit(f"no test case for alert(s): {', '.join(sorted(missing))}")
    tests = [{
        "name": case.alert,
        "interval": "1m",
        "input_series": case.input_series,
        "alert_rule_test": [
            {"eval_time": at, "alertname": case.alert, "exp_alerts": [expected(alerts[case.alert], e) for e in exp]}
            for at, exp in case.checks
        ],
    } for case in sorted(cases, key=lambda c: list(alerts).index(c.alert))]
    doc = {"rule_files": [RULES.name], "evaluation_interval": "1m", "tests": tests}
    header = ("# Generated by `python tools/gen_alert_tests.py` from alerts.yml and exporter/catalog/faults.py;\n"
              "# do not edit by hand. Run with: promtool test rules deploy/prometheus/alerts_test.yml\n")
    return header + yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1000)


def main(argv: list[str]) -> int:
    text = build()
    return write_or_check(OUTPUT, text, argv, ROOT, f"{text.count('- name: ')} alert tests")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
