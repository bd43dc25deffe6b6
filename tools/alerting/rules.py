"""Build the Prometheus alert rules from the settings, the families and the fault catalog.

Each rule is returned with what the test generator and the policy page need to know about it
(`Rule`), so nothing downstream parses PromQL back. Conventions of every fault rule:

* Alerts keep `target`, `fault` and (when the series has one) `address`; the replica labels
  (settings.replica_labels) are aggregated away with `max without (...)`, so an HA pair or a
  restarted pod yields one alert. `severity` is the policy's, not the series' catalog label.
* A family whose faults are told in different ways gets one rule per way, under one alert name.
* Faults that wait for renewal get a second rule at page severity, joined with the soonest
  leaf notAfter of the target; Alertmanager's critical-inhibits-warning rule (same target and
  fault) then leaves one message.
* Fault and expiry rules use keep_firing_for, so a dead exporter does not resolve them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from exporter.catalog.faults import FAULTS
from tools.alerting.families import EXPIRY_ALERT, Family, families
from tools.alerting.settings import FaultPolicy, Notify, Settings, policy, seconds

DAY = 86400
# Faults that explain a check error on their own: SSLFaultExporterCheckErroring leaves them out.
EXPLAINED_ERRORS = ("dns_resolution_failed", "tcp_connect_refused", "tcp_connect_timeout", "tls_handshake_failed")


@dataclass
class Rule:
    """One alerting rule and what it means, for the tests and the docs."""

    alert: str
    kind: str  # "fault", "renewal" (the escalation), "expiry", "chain" or "health"
    severity: str
    notify: Notify
    wait: str
    faults: tuple[str, ...] = ()
    keep: str = ""
    body: dict[str, Any] = field(default_factory=dict)


def catalog_severities() -> dict[str, str]:
    return {str(f.id): str(f.severity) for f in FAULTS.values()}


def _num(value: float) -> str:
    return f"{value:g}"


def _matcher(fault_ids: tuple[str, ...]) -> str:
    return f'fault="{fault_ids[0]}"' if len(fault_ids) == 1 else f'fault=~"{"|".join(fault_ids)}"'


class Builder:
    def __init__(self, settings: Settings, catalog: Mapping[str, str] | None = None) -> None:
        self.s = settings
        self.catalog = dict(catalog) if catalog is not None else catalog_severities()
        self.replicas = ", ".join(settings.replica_labels)

    def sel(self, *extra: str) -> str:
        return "{" + ", ".join((self.s.selector, *extra)) + "}"

    def dedup(self, how: str, expr: str) -> str:
        return f"{how} without ({self.replicas}) ({expr})" if self.replicas else expr

    def policy(self, fault_id: str) -> FaultPolicy:
        return policy(fault_id, self.catalog[fault_id], self.s)

    def due_for_renewal(self) -> str:
        return (f"min by (target) (sslfault_cert_not_after_timestamp_seconds{self.sel()})\n"
                f"  < time() + {_num(self.s.renewal_window_days)} * {DAY}")

    def fault_expr(self, fault_ids: tuple[str, ...]) -> str:
        return self.dedup("max", f"sslfault_fault{self.sel(_matcher(fault_ids))} == 1")

    def rule(self, alert: str, kind: str, notify: Notify, expr: str, wait: str, annotations: dict[str, str],
             faults: tuple[str, ...] = (), labels: dict[str, str] | None = None, keep: bool = True) -> Rule:
        severity = getattr(self.s.notify, notify)
        body: dict[str, Any] = {"alert": alert, "expr": expr, "for": wait}
        if keep:
            body["keep_firing_for"] = self.s.keep_firing_for
        body["labels"] = {"severity": severity, **(labels or {})}
        body["annotations"] = annotations
        return Rule(alert, kind, severity, notify, wait, faults, self.s.keep_firing_for if keep else "", body)

    # -- fault families ---------------------------------------------------------------------

    def family_rules(self, family: Family) -> list[Rule]:
        wait = self.s.wait(family.wait)
        notes = {"summary": family.summary, "description": family.description,
                 "runbook_url": self.s.runbook("{{ $labels.fault }}")}
        by_notify: dict[Notify, list[str]] = {}
        for fault_id in family.faults:
            by_notify.setdefault(self.policy(fault_id).notify, []).append(fault_id)
        rules = []
        order: tuple[Notify, ...] = ("page", "warn", "ticket")
        for notify in order:
            ids = tuple(by_notify.get(notify, ()))
            if ids:
                rules.append(self.rule(family.alert, "fault", notify, self.fault_expr(ids), wait, notes, ids))
        escalating = tuple(f for f in family.faults if self.policy(f).escalates)
        if escalating:
            days = _num(self.s.renewal_window_days)
            due = {**notes, "summary": f"{family.summary}; renewal due",
                   "description": f"{family.description} Its certificate expires within {days} days, so the "
                                  "renewal this fault blocks is due now."}
            expr = f"{self.fault_expr(escalating)}\nand on (target)\n{self.due_for_renewal()}"
            rules.append(self.rule(family.alert, "renewal", "page", expr, wait, due, escalating))
        return rules

    # -- expiry ------------------------------------------------------------------------------

    def expiry_rules(self) -> list[Rule]:
        e = self.s.expiry
        days_left = f"(\n  {self.dedup('min', f'sslfault_cert_not_after_timestamp_seconds{self.sel()}')}\n  - time()\n) / {DAY}"
        out = []
        levels: tuple[tuple[Notify, float], ...] = (("warn", e.warning_days), ("page", e.critical_days))
        for notify, limit in levels:
            notes = {
                "summary": "{{ $labels.target }}: certificate expires in {{ printf \"%.1f\" $value }} days",
                "description": ("The leaf certificate of {{ $labels.target }} (on the address in the `address` label) "
                                f"expires in under {_num(limit)} days. "
                                + ("Renew and deploy it now, while there is time to test." if notify == "warn" else
                                   "Renew and deploy it today; after expiry every visitor gets an error.")),
                "runbook_url": self.s.runbook("cert_expiring_soon"),
            }
            out.append(self.rule(EXPIRY_ALERT, "expiry", notify, f"{days_left} < {_num(limit)} > 0", e.for_, notes,
                                 ("cert_expiring_soon",), {"fault": "cert_expiring_soon"}))
        return out

    def chain_rule(self) -> Rule:
        chain = self.dedup("min", f"sslfault_chain_not_after_timestamp_seconds{self.sel()}")
        leaf = self.dedup("min", f"sslfault_cert_not_after_timestamp_seconds{self.sel()}")
        limit = _num(self.s.expiry.warning_days)
        notes = {
            "summary": "{{ $labels.target }}: an intermediate expires in {{ printf \"%.1f\" $value }} days, before the leaf",
            "description": ("A certificate in the chain of {{ $labels.target }} (on the address in the `address` label) "
                            "expires before the leaf, and the chain breaks when it does. Install the CA's current "
                            "intermediate for your certificate before then."),
            "runbook_url": self.s.runbook("chain_cert_expired"),
        }
        expr = f"(\n  ({chain}\n    < {leaf})\n  - time()\n) / {DAY} < {limit} > 0"
        return self.rule("SSLIntermediateExpiresBeforeLeaf", "chain", "warn", expr, self.s.expiry.for_, notes,
                         ("chain_cert_expired",), {"fault": "chain_cert_expired"})

    # -- the exporter itself ---------------------------------------------------------------------

    def health_rules(self) -> list[Rule]:
        x, up = self.s.exporter, f"up{self.sel()}"
        down_notes = {
            "summary": "ssl-fault-exporter {{ $labels.instance }} is down",
            "description": ("Prometheus cannot scrape ssl-fault-exporter on {{ $labels.instance }}, so no certificate "
                            "fault can alert from it. Check the service (systemctl status sslfault, kubectl get pods) "
                            "and its log."),
            "runbook_url": self.s.runbook("exporter-down"),
        }
        stale = f"time() - sslfault_check_last_run_timestamp_seconds{self.sel()}\n  > {seconds(x.stale_after)}"
        return [
            # No replica of the job is up: nothing watches the certificates. One of a pair down: a warning.
            self.rule("SSLFaultExporterDown", "health", "page", f"{up} == 0\nunless on (job)\n{up} == 1", x.down_for,
                      down_notes, keep=False),
            self.rule("SSLFaultExporterDown", "health", "warn", f"{up} == 0\nand on (job)\n{up} == 1", x.down_for,
                      down_notes, keep=False),
            self.rule("SSLFaultExporterAbsent", "health", "page", f"absent({up})", x.absent_for, {
                "summary": "ssl-fault-exporter: Prometheus scrapes no exporter for {{ $labels.job }}",
                "description": ("Prometheus has no scrape target for the exporter's job, so no certificate fault can "
                                "alert. Restore the scrape config, ServiceMonitor or Service and check the job name "
                                "matches the selector in deploy/alerting.yaml."),
                "runbook_url": self.s.runbook("exporter-down")}, keep=False),
            self.rule("SSLFaultExporterCheckErroring", "health", "warn",
                      f"sslfault_check_success{self.sel()} == 0\nunless on (target)\n"
                      f"sslfault_fault{self.sel(_matcher(EXPLAINED_ERRORS))}",
                      x.check_erroring_for, {
                          "summary": "{{ $labels.target }}: check {{ $labels.check }} cannot reach a verdict",
                          "description": ("The {{ $labels.check }} check for {{ $labels.target }} has errored for "
                                          f"{x.check_erroring_for}, so its faults are unknown (not absent). Open the "
                                          "exporter's status page or run sslfault diagnose on the host to see the error."),
                          "runbook_url": self.s.runbook("check-erroring")}, keep=False),
            self.rule("SSLFaultExporterResultsStale", "health", "warn", stale, x.stale_for, {
                "summary": "{{ $labels.target }}: check {{ $labels.check }} results are stale",
                "description": ("The {{ $labels.check }} check for {{ $labels.target }} has not run for longer than "
                                f"{x.stale_after}, so alerts about it are out of date. Check the exporter's log for "
                                "stuck probes or an overloaded scheduler."),
                "runbook_url": self.s.runbook("results-stale")}, keep=False),
            self.rule("SSLFaultExporterConfigReloadFailed", "health", "warn",
                      f"sslfault_config_last_reload_successful{self.sel()} == 0", x.reload_failed_for, {
                          "summary": "ssl-fault-exporter {{ $labels.instance }}: configuration reload failed",
                          "description": ("The last configuration reload on {{ $labels.instance }} failed and the "
                                          "exporter still runs the old configuration. Run sslfault check-config on the "
                                          "file, fix every error it lists and reload again."),
                          "runbook_url": self.s.runbook("config-reload-failed")}, keep=False),
        ]

    def all_rules(self) -> dict[str, list[Rule]]:
        """Group name -> rules, in file order."""
        faults = [r for family in families(self.catalog) for r in self.family_rules(family)]
        return {"sslfault-faults": faults, "sslfault-expiry": [*self.expiry_rules(), self.chain_rule()],
                "sslfault-exporter": self.health_rules()}


def build(settings: Settings, catalog: Mapping[str, str] | None = None) -> dict[str, list[Rule]]:
    return Builder(settings, catalog).all_rules()


def rule_file(groups: dict[str, list[Rule]]) -> dict[str, Any]:
    return {"groups": [{"name": name, "rules": [r.body for r in rules]} for name, rules in groups.items()]}
