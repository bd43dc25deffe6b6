"""Write deploy/prometheus/alerts_test.yml: `promtool test rules` cases that prove the paging policy.

Built from the same rule model as alerts.yml (tools/alerting/rules.py), never by parsing PromQL:

* Fault families: every catalog fault is active on its own target, seen by two replicas, some
  with an `address` label; exactly the family's faults fire, once each, at the policy's
  severity, after `for:` and not before; they keep firing for keep_firing_for after the
  series vanish (a dead exporter) and then resolve. Faults that wait for renewal are also
  active on a second target whose certificate is due: there they page as well.
* Unreadable certificate files (policy.unreadable_files): a file whose certificate cannot be
  parsed warns, then pages after page_after; one that parses stays a warning.
* Expiry: warning and critical thresholds (strict, per address, file certificates too).
* The exporter (tools/alerting/health_cases.py): down alone (page), one of a pair down
  (warning), a whole shard down (page), one of a shard's pair down (warning), absent job
  (page), and the check, staleness (relative to each target's interval), reload, discovery,
  shard, state-file and watches-nothing warnings.

    python tools/gen_alert_tests.py          # rewrite the file
    python tools/gen_alert_tests.py --check  # exit 1 if it is out of date
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools._generated import write_or_check  # noqa: E402 - after the sys.path line that makes the repo importable
from tools.alerting import rules as model  # noqa: E402 - after the sys.path line that makes the repo importable
from tools.alerting.cases import (  # noqa: E402 - after the sys.path line that makes the repo importable
    DAY,
    REPLICAS,
    Case,
    Expect,
    minutes,
    selector_labels,
    series,
    single,
)
from tools.alerting.health_cases import health_cases  # noqa: E402 - after the sys.path line that makes the repo importable
from tools.alerting.render import dump  # noqa: E402 - after the sys.path line that makes the repo importable
from tools.alerting.settings import Settings, load, policy  # noqa: E402 - after the sys.path line that makes the repo importable

__all__ = ["OUTPUT", "Generator", "build", "main", "minutes"]
RULES = ROOT / "deploy/prometheus/alerts.yml"
OUTPUT = ROOT / "deploy/prometheus/alerts_test.yml"


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
                for instance in REPLICAS:  # both replicas parse it: the unreadable-file page stays quiet
                    inputs.append(series("sslfault_cert_not_after_timestamp_seconds",
                                         {**self.job, "instance": instance, "target": self.target(fault_id),
                                          "address": "192.0.2.1"}, f"{90 * DAY}x{long}"))
            # The exporter never exports 0, but `== 1` must not fire on it either.
            inputs.append(series("sslfault_fault", {**self.job, "instance": REPLICAS[0], "target": "zero.example.com",
                                                    "fault": fault_id, **sev}, f"0x{active}"))
        index = {f: i for i, f in enumerate(self.catalog)}
        case = Case("fault families", "", inputs)
        gone = active + 1
        for alert, rules in families.items():
            firing = []
            for rule in (r for r in rules if r.kind in ("fault", "renewal")):  # unreadable_case tests the third
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

    def unreadable_case(self, alert: str, rules: list[model.Rule]) -> Case:
        """A file whose certificate cannot be parsed warns, then pages after page_after; one that parses only
        warns; a file broken on one machine and fine on the other pages (each machine watches its own)."""
        page = next(r for r in rules if r.kind == "unreadable")
        after = minutes(page.wait)
        n = after + 10
        inputs, base, paged = [], [], []
        for fault_id in page.faults:
            sev = {"severity": self.catalog[fault_id]}
            warn = next(r for r in rules if r.kind == "fault" and fault_id in r.faults)
            stem = fault_id.replace("_", "-")
            broken, parsed, one = ({**self.job, "target": f"{stem}-{k}.example.com", "fault": fault_id}
                                   for k in ("unreadable", "parsed", "one-machine"))
            for labels in (broken, parsed, one):
                for instance in REPLICAS:
                    inputs.append(series("sslfault_fault", {**labels, "instance": instance, **sev}, f"1x{n}"))
            for labels, instances in ((parsed, REPLICAS), (one, REPLICAS[:1])):
                for instance in instances:
                    inputs.append(series("sslfault_cert_not_after_timestamp_seconds",
                                         {**self.job, "instance": instance, "target": labels["target"]},
                                         f"{90 * DAY}x{n}"))
            base += [(minutes(warn.wait), Expect(warn, labels)) for labels in (broken, parsed, one)]
            paged += [Expect(page, broken), Expect(page, one)]
        checks = [(at, [e for w, e in base if w <= at] + (paged if at >= after else [])) for at in (after - 1, after + 1)]
        return single(f"{alert}: unreadable certificate file", alert, inputs, checks)

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

    def cases(self) -> list[Case]:
        by_alert = self.by_alert()
        out: list[Case] = []
        families = {alert: rules for alert, rules in by_alert.items() if rules[0].kind == "fault"}
        out.append(self.family_case(families))
        for alert, rules in by_alert.items():
            kind = rules[0].kind
            if kind == "expiry":
                out.append(self.expiry_case(alert, rules))
            elif kind == "chain":
                out.append(self.chain_case(alert, rules))
        out += [self.unreadable_case(alert, rules) for alert, rules in by_alert.items()
                if any(r.kind == "unreadable" for r in rules)]
        out += health_cases(self.s, self.job, self.catalog, by_alert)
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
