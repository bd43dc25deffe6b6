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
* File faults listed under policy.unreadable_files get a third, at page severity, where the
  replica that reports the fault exports no notAfter for the file (its certificate cannot be
  parsed), after policy.unreadable_files.page_after.
* The escalated pages say why in an `escalation` label (`renewal_due`, `unreadable`), which also
  keeps them apart from a family's other critical rule (promtool's duplicate-rules lint).
* Fault and expiry rules use keep_firing_for, so a dead exporter does not resolve them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from exporter.catalog.faults import FAULTS
from tools.alerting.families import EXPIRY_ALERT, Family, families
from tools.alerting.health import health_rules
from tools.alerting.settings import FaultPolicy, Notify, Settings, policy

DAY = 86400


@dataclass
class Rule:
    """One alerting rule and what it means, for the tests and the docs."""

    alert: str
    kind: str  # "fault", "renewal" (the escalation), "unreadable", "expiry", "chain" or "health"
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

    def sel_faults(self, fault_ids: tuple[str, ...]) -> str:
        return self.sel(_matcher(fault_ids))

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
            rules.append(self.rule(family.alert, "renewal", "page", expr, wait, due, escalating,
                                   {"escalation": "renewal_due"}))
        unreadable = tuple(f for f in family.faults if self.policy(f).unreadable_after)
        if unreadable:
            after = self.s.policy.unreadable_files.page_after
            notes = {**notes, "summary": f"{family.summary}; certificate unreadable for {after}",
                     "description": f"{family.description} The file's certificate cannot be parsed, and the server "
                                    "fails when it next loads the file (a reload, a restart, a renewal's deploy hook)."}
            rules.append(self.rule(family.alert, "unreadable", "page", self.unreadable_expr(unreadable), after, notes,
                                   unreadable, {"escalation": "unreadable"}))
        return rules

    def unreadable_expr(self, fault_ids: tuple[str, ...]) -> str:
        """The fault where the replica reporting it has no notAfter for the target (matched per replica:
        each machine watches its own files)."""
        on = ", ".join(("target", *self.s.replica_labels))
        inner = (f"sslfault_fault{self.sel(_matcher(fault_ids))} == 1\n"
                 f"  unless on ({on})\n  sslfault_cert_not_after_timestamp_seconds{self.sel()}")
        return self.dedup("max", f"\n  {inner}\n")

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

    def all_rules(self) -> dict[str, list[Rule]]:
        """Group name -> rules, in file order."""
        faults = [r for family in families(self.catalog) for r in self.family_rules(family)]
        return {"sslfault-faults": faults, "sslfault-expiry": [*self.expiry_rules(), self.chain_rule()],
                "sslfault-exporter": health_rules(self)}


def build(settings: Settings, catalog: Mapping[str, str] | None = None) -> dict[str, list[Rule]]:
    return Builder(settings, catalog).all_rules()


def rule_file(groups: dict[str, list[Rule]]) -> dict[str, Any]:
    return {"groups": [{"name": name, "rules": [r.body for r in rules]} for name, rules in groups.items()]}
