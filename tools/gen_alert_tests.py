"""Write deploy/prometheus/alerts_test.yml: `promtool test rules` cases that prove the paging policy.

Built from the same rule model as alerts.yml (tools/alerting/rules.py), never by parsing PromQL:

* Fault families: every catalog fault is active on its own target, seen by two replicas, some
  with an `address` label; exactly the family's faults fire, once each, at the policy's
  severity, after `for:` and not before; they keep firing for keep_firing_for after the
  series vanish (a dead exporter) and then resolve. Faults that wait for renewal are also
  active on a second target whose certificate is due: there they page as well.
* Expiry: warning and critical thresholds (strict, per address, file certificates too).
* The exporter: down alone (page), one of a pair down (warning), absent job (page), and the
  check, staleness and reload warnings.

    python tools/gen_alert_tests.py          # rewrite the file
    python tools/gen_alert_tests.py --check  # exit 1 if it is out of date
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools._generated import write_or_check  # noqa: E402 - after the sys.path line that makes the repo importable
from tools.alerting import rules as model  # noqa: E402 - after the sys.path line that makes the repo importable
from tools.alerting.render import dump  # noqa: E402 - after the sys.path line that makes the repo importable
from tools.alerting.settings import Settings, load, policy, seconds  # noqa: E402 - after the sys.path line that makes the repo importable

RULES = ROOT / "deploy/prometheus/alerts.yml"
OUTPUT = ROOT / "deploy/prometheus/alerts_test.yml"
DAY = 86400
REPLICAS = ("exporter-a:17753", "exporter-b:17753")
TEMPLATE = re.compile(r"\{\{.*?\}\}")


def minutes(duration: str) -> int:
    value = seconds(duration)
    if value % 60:
        raise ValueError(f"the test generator needs whole minutes, got {duration!r}")
    return value // 60


def selector_labels(settings: Settings) -> dict[str, str]:
    """The selector's equality matchers as labels: the series the tests feed the rules."""
    pairs = re.findall(r'(\w+)(=~|!=|!~|=)"([^"]*)"', settings.selector)
    if any(op != "=" for _, op, _ in pairs):
        raise SystemExit("tools/gen_alert_tests.py needs a selector of equality matchers (job=\"...\")")
    return {name: value for name, _, value in pairs}


def render(text: str, labels: Mapping[str, str], value: float | None = None) -> str:
    """Fill `{{ $labels.x }}` and `{{ printf "%.1f" $value }}`; anything else is an error."""

    def one(match: re.Match[str]) -> str:
        token = match[0][2:-2].strip()
        if token.startswith("$labels."):
            return labels[token.removeprefix("$labels.")]
        if token == 'printf "%.1f" $value' and value is not None:
            return f"{value:.1f}"
        raise ValueError(f"template {match[0]!r} is not supported by the test generator")

    return TEMPLATE.sub(one, text)


def series(name: str, labels: Mapping[str, str], values: str) -> dict[str, str]:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{inner}}}", "values": values}


@dataclass
class Expect:
    rule: model.Rule
    labels: dict[str, str]  # the alert's labels without those the rule adds
    value: float | None = None

    def out(self) -> dict[str, Any]:
        # Expected labels come from the case, not the rule body: a wrong severity in alerts.yml fails.
        labels = {**self.labels, **self.rule.body["labels"], "severity": self.rule.severity}
        notes = {k: render(v, self.labels, self.value) for k, v in self.rule.body["annotations"].items()}
        return {"exp_labels": labels, "exp_annotations": notes}


@dataclass
class Case:
    name: str
    alert: str
    inputs: list[dict[str, str]]
    checks: list[tuple[int, str, list[Expect]]] = field(default_factory=list)  # (minute, alertname, firing)


def single(name: str, alert: str, inputs: list[dict[str, str]], checks: list[tuple[int, list[Expect]]]) -> Case:
    """A case about one alert name."""
    return Case(name, alert, inputs, [(at, alert, firing) for at, firing in checks])


class Generator:
    def __init__(self, settings: Settings, catalog: Mapping[str, str] | None = None) -> None:
        self.s = settings
        self.catalog = dict(catalog) if catalog is not None else model.catalog_severities()
        self.groups = model.build(settings, self.catalog)
        self.job = selector_labels(settings)
        self.keep = minutes(settings.keep_firing_for)

    def by_alert(self) -> dict[str, list[model.Rule]]:
        out: dict[str, list[model.Rule]] = {}
        for rules in self.groups.values():
            for rule in rules:
                out.setdefault(rule.alert, []).append(rule)
        return out

    # -- fault families ------------------------------------------------------------------------

    @staticmethod
    def target(fault_id: str, due: bool = False) -> str:
        return f"{fault_id.replace('_', '-')}{'-due' if due else ''}.example.com"

    def fault_labels(self, index: int, fault_id: str, due: bool = False) -> dict[str, str]:
        labels = {**self.job, "target": self.target(fault_id, due), "fault": fault_id}
        if index % 2 == 0:  # per-address faults carry the address; target-level ones have none
            labels["address"] = "192.0.2.1"
        return labels

    def family_case(self, families: dict[str, list[model.Rule]]) -> Case:
        """All fault families in one group: every fault active at once, each alert checked on its own."""
        waits = {alert: minutes(rules[0].wait) for alert, rules in families.items()}
        active = max(waits.values()) + 2  # the faults are seen for minutes 0..active, then their series go stale
        samples = f"1x{active} stale"
        long = active + self.keep + 10
        inputs = []
        for i, fault_id in enumerate(self.catalog):
            sev = {"severity": self.catalog[fault_id]}
            for instance in REPLICAS:
                inputs.append(series("sslfault_fault", {**self.fault_labels(i, fault_id), "instance": instance, **sev},
                                     samples))
            if policy(fault_id, self.catalog[fault_id], self.s).escalates:
                due = self.fault_labels(i, fault_id, due=True)
                inputs.append(series("sslfault_fault", {**due, "instance": REPLICAS[0], **sev}, samples))
                for days, address in ((10, "192.0.2.1"), (60, "192.0.2.2")):  # soonest address decides
                    inputs.append(series("sslfault_cert_not_after_timestamp_seconds",
                                         {**self.job, "instance": REPLICAS[0], "target": due["target"],
                                          "address": address}, f"{days * DAY}x{long}"))
                inputs.append(series("sslfault_cert_not_after_timestamp_seconds",
                                     {**self.job, "instance": REPLICAS[0], "target": self.target(fault_id),
                                      "address": "192.0.2.1"}, f"{90 * DAY}x{long}"))
            # The exporter never exports 0, but `== 1` must not fire on it either.
            inputs.append(series("sslfault_fault", {**self.job, "instance": REPLICAS[0], "target": "zero.example.com",
                                                    "fault": fault_id, **sev}, f"0x{active}"))
        index = {f: i for i, f in enumerate(self.catalog)}
        case = Case("fault families", "", inputs)
        gone = active + 1
        for alert, rules in families.items():
            firing = []
            for rule in rules:
                for fault_id in rule.faults:
                    if rule.kind == "fault":
                        firing.append(Expect(rule, self.fault_labels(index[fault_id], fault_id)))
                    if policy(fault_id, self.catalog[fault_id], self.s).escalates:
                        # the due target: the warning, and the page from the renewal rule
                        firing.append(Expect(rule, self.fault_labels(index[fault_id], fault_id, due=True)))
            wait = waits[alert]
            if wait:
                case.checks.append((wait - 1, alert, []))  # pending: not yet
            case.checks.append((wait + 1, alert, firing))
            if self.keep:
                case.checks.append((gone + self.keep - 2, alert, firing))  # a dead exporter does not resolve them
            case.checks.append((gone + self.keep + 2, alert, []))
        return case

    # -- expiry ------------------------------------------------------------------------------------

    def cert(self, target: str, address: str | None = "192.0.2.1") -> dict[str, str]:
        labels = {**self.job, "target": target}
        if address:
            labels["address"] = address
        return labels

    def expiry_case(self, alert: str, rules: list[model.Rule]) -> Case:
        wait = minutes(rules[0].wait)
        at, samples = wait + 1, wait + 8
        warn, crit = self.s.expiry.warning_days, self.s.expiry.critical_days
        cases = {"far": warn + 9, "edge-warning": warn, "warning": warn - 1, "edge-critical": crit,
                 "critical": crit - 1, "expired": -1}

        def ts(days: float) -> str:  # notAfter that is `days` away at minute `at`
            return f"{int(at * 60 + days * DAY)}x{samples} stale"

        leaf = "sslfault_cert_not_after_timestamp_seconds"
        inputs = [series(leaf, {**self.cert(f"{k}.example.com"), "instance": r}, ts(v))
                  for k, v in cases.items() for r in REPLICAS]
        file_days = crit / 2
        file_cert = self.cert("file:/etc/ssl/site.pem", None)  # watched files have no address
        inputs.append(series(leaf, {**file_cert, "instance": REPLICAS[0]}, ts(file_days)))
        by = {r.notify: r for r in rules}
        firing = [Expect(by["warn"], self.cert(f"{k}.example.com"), float(v)) for k, v in cases.items()
                  if 0 < v < warn]
        firing += [Expect(by["page"], self.cert(f"{k}.example.com"), float(v)) for k, v in cases.items()
                   if 0 < v < crit]
        firing += [Expect(by["warn"], file_cert, file_days), Expect(by["page"], file_cert, file_days)]
        kept = [Expect(e.rule, e.labels, e.value - (samples - at) * 60 / DAY if e.value is not None else None)
                for e in firing]  # the value of the last evaluation that saw the series
        return single(alert, alert, inputs, [(wait - 1, []), (at, firing), (samples + 1 + self.keep - 2, kept),
                                           (samples + 1 + self.keep + 2, [])])

    def chain_case(self, alert: str, rules: list[model.Rule]) -> Case:
        wait = minutes(rules[0].wait)
        at = wait + 1
        warn = self.s.expiry.warning_days
        pairs = {"early": (5, 60), "same": (5, 5), "far": (warn + 9, 60), "gone": (-1, 60)}  # chain, leaf days
        inputs = []
        for k, (chain, leaf) in pairs.items():
            for name, days in (("sslfault_chain_not_after_timestamp_seconds", chain),
                               ("sslfault_cert_not_after_timestamp_seconds", leaf)):
                for r in REPLICAS:
                    inputs.append(series(name, {**self.cert(f"{k}.example.com"), "instance": r},
                                         f"{int(at * 60 + days * DAY)}x{at + 3}"))
        firing = [Expect(rules[0], self.cert("early.example.com"), 5.0)]
        return single(alert, alert, inputs, [(wait - 1, []), (at, firing)])

    # -- the exporter itself ---------------------------------------------------------------------

    def health_cases(self, by_alert: dict[str, list[model.Rule]]) -> list[Case]:
        a, b = ({**self.job, "instance": r} for r in REPLICAS)
        other = {"job": "node", "instance": "node:9100"}
        down = {r.notify: r for r in by_alert["SSLFaultExporterDown"]}
        wait = minutes(down["page"].wait)
        cases = [
            single("SSLFaultExporterDown: the only replica", "SSLFaultExporterDown",
                 [series("up", a, f"1 1 0x{wait + 5}"), series("up", other, f"0x{wait + 7}")],
                 [(wait + 1, []), (wait + 3, [Expect(down["page"], a)])]),
            single("SSLFaultExporterDown: one of a pair", "SSLFaultExporterDown",
                 [series("up", a, f"1 1 0x{wait + 5}"), series("up", b, f"1x{wait + 7}")],
                 [(wait + 1, []), (wait + 3, [Expect(down["warn"], a)])]),
        ]
        absent = by_alert["SSLFaultExporterAbsent"][0]
        wait = minutes(absent.wait)
        cases.append(single("SSLFaultExporterAbsent", absent.alert,
                          [series("up", other, f"1x{wait + 3}"), series("up", a, f"1x{wait + 3}")],
                          [(wait + 1, [])]))
        cases.append(single("SSLFaultExporterAbsent: job gone", absent.alert,
                          [series("up", other, f"1x{wait + 3}")], [(wait - 1, []), (wait + 1, [Expect(absent, self.job)])]))

        def check(target: str, name: str) -> dict[str, str]:
            return {**a, "target": target, "check": name}

        def fault(target: str, fault_id: str) -> dict[str, str]:
            return {**a, "target": target, "fault": fault_id, "severity": self.catalog.get(fault_id, "critical")}

        erroring = by_alert["SSLFaultExporterCheckErroring"][0]
        wait = minutes(erroring.wait)
        n = wait + 10
        cases.append(single(erroring.alert, erroring.alert, [
            series("sslfault_check_success", check("caa-broken.example.com", "caa"), f"0x{n}"),
            series("sslfault_check_success", check("expired.example.com", "tls"), f"0x{n}"),
            series("sslfault_check_success", check("refused.example.com", "tls"), f"0x{n}"),
            series("sslfault_check_success", check("nxdomain.example.com", "tls"), f"0x{n}"),
            series("sslfault_fault", fault("expired.example.com", "cert_expired"), f"1x{n}"),  # explains nothing
            series("sslfault_fault", fault("refused.example.com", "tcp_connect_refused"), f"1x{n}"),
            series("sslfault_fault", fault("nxdomain.example.com", "dns_resolution_failed"), f"1x{n}"),
        ], [(wait - 1, []), (wait + 1, [Expect(erroring, check("caa-broken.example.com", "caa")),
                                         Expect(erroring, check("expired.example.com", "tls"))])]))
        stale = by_alert["SSLFaultExporterResultsStale"][0]
        after, wait = minutes(self.s.exporter.stale_after), minutes(stale.wait)
        n = after + wait + 5
        cases.append(single(stale.alert, stale.alert, [
            series("sslfault_last_run_timestamp_seconds", {**a, "target": "stuck.example.com"}, f"0x{n}"),
            series("sslfault_last_run_timestamp_seconds", {**a, "target": "fresh.example.com"}, f"0+60x{n}"),
        ], [(after + wait - 1, []), (after + wait + 2, [Expect(stale, {**a, "target": "stuck.example.com"})])]))
        reload = by_alert["SSLFaultExporterConfigReloadFailed"][0]
        wait = minutes(reload.wait)
        cases.append(single(reload.alert, reload.alert, [
            series("sslfault_config_last_reload_successful", a, f"1 1 0x{wait + 5}"),
            series("sslfault_config_last_reload_successful", b, f"1x{wait + 7}"),
        ], [(wait + 1, []), (wait + 3, [Expect(reload, a)])]))
        return cases

    def cases(self) -> list[Case]:
        by_alert = self.by_alert()
        out: list[Case] = []
        families = {alert: rules for alert, rules in by_alert.items() if rules[0].kind in ("fault", "renewal")}
        out.append(self.family_case(families))
        for alert, rules in by_alert.items():
            kind = rules[0].kind
            if kind == "expiry":
                out.append(self.expiry_case(alert, rules))
            elif kind == "chain":
                out.append(self.chain_case(alert, rules))
        out += self.health_cases(by_alert)
        missing = set(by_alert) - {alert for c in out for _, alert, _ in c.checks}
        if missing:
            raise SystemExit(f"no test case for alert(s): {', '.join(sorted(missing))}")
        return out


def build(settings: Settings | None = None) -> str:
    gen = Generator(settings or load())
    tests = [{
        "name": case.name,
        "interval": "1m",
        "input_series": case.inputs,
        "alert_rule_test": [{"eval_time": f"{at}m", "alertname": alert, "exp_alerts": [e.out() for e in exp]}
                            for at, alert, exp in case.checks],
    } for case in gen.cases()]
    doc = {"rule_files": [RULES.name], "evaluation_interval": "1m", "tests": tests}
    header = ("# Generated by `python tools/generate.py` from deploy/alerting.yaml, tools/alerting/ and the fault\n"
              "# catalog; do not edit by hand. Run with: promtool test rules deploy/prometheus/alerts_test.yml\n")
    return header + dump(doc)


def main(argv: list[str]) -> int:
    text = build()
    return write_or_check(OUTPUT, text, argv, ROOT, f"{text.count('- name: ')} test groups")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
