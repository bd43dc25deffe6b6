"""The model of a promtool test case (input series, and the alerts expected at each minute), shared by
tools/gen_alert_tests.py and tools/alerting/health_cases.py."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tools.alerting.rules import Rule
from tools.alerting.settings import Settings, seconds

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
    rule: Rule
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
