"""Read the dashboards in grafana/dashboards/: panels, their PromQL, and Grafana's variables filled in.

Used by the tests (structure, coverage, PromQL syntax) and the end-to-end test (every query
against a real Prometheus). Plain JSON handling: no Grafana SDK needed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = ROOT / "grafana" / "dashboards"
GRID_WIDTH = 24
PANEL_TYPES = {"row", "stat", "table", "timeseries", "bargauge"}
# Grafana's global variables the queries may use, with values for an instant query.
BUILTINS = {"__range": "5m", "__rate_interval": "1m", "__interval": "15s"}
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")
# A metric name (the exporter's, or Prometheus' own scrape series) with its optional {matchers}.
_SELECTOR = re.compile(r"\b(sslfault_[a-z0-9_]+|up|scrape_[a-z_]+)\b(\{[^}]*\})?(?=\s*[{\[)=<>!*/+-]|\s*$)")


@dataclass(frozen=True)
class Query:
    dashboard: str  # uid
    panel: str  # title
    ref_id: str
    expr: str


def load_all() -> dict[str, dict[str, Any]]:
    """File name -> dashboard JSON."""
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(DASHBOARDS.glob("*.json"))}


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those inside collapsed rows; rows themselves too."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def queries(dashboard: Mapping[str, Any]) -> Iterator[Query]:
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            yield Query(dashboard["uid"], panel.get("title", ""), target.get("refId", ""), target.get("expr", ""))


def variables(dashboard: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in dashboard.get("templating", {}).get("list", [])}


def used_variables(expr: str) -> set[str]:
    return {a or b for a, b in _VARIABLE.findall(expr)}


def selectors(expr: str) -> list[str]:
    """The series selectors in a PromQL expression, e.g. `sslfault_fault{target=~"$target"}`."""
    return [name + (matchers or "") for name, matchers in _SELECTOR.findall(expr)]


def metric_names(expr: str) -> set[str]:
    return {name for name, _ in _SELECTOR.findall(expr)}


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """Fill `$name` and `${name}` the way Grafana does for a single value (regex-escaped by the caller)."""
    merged = {**BUILTINS, **values}

    def one(match: re.Match[str]) -> str:
        name = match[1] or match[2]
        if name not in merged:
            raise KeyError(f"no value for ${name} in {expr!r}")
        return merged[name]

    return _VARIABLE.sub(one, expr)


def problems(dashboard: Mapping[str, Any]) -> list[str]:
    """What would stop the JSON importing cleanly into Grafana 10/11, or make a panel misbehave."""
    out: list[str] = []
    uid = dashboard.get("uid", "")
    for key, kind in (("title", str), ("uid", str), ("schemaVersion", int), ("panels", list), ("templating", dict),
                      ("annotations", dict), ("time", dict)):
        if not isinstance(dashboard.get(key), kind):
            out.append(f"{uid}: top-level {key!r} must be a {kind.__name__}")
    if out:
        return out
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", uid):
        out.append(f"{uid}: uid must be 1-40 characters of [A-Za-z0-9_-]")
    if not 36 <= dashboard["schemaVersion"] <= 41:
        out.append(f"{uid}: schemaVersion {dashboard['schemaVersion']} is outside what Grafana 10 and 11 read")
    if not isinstance(dashboard["annotations"].get("list"), list):
        out.append(f"{uid}: annotations.list must be a list")
    declared = variables(dashboard)
    for name, var in declared.items():
        if var.get("id", name) != name:
            out.append(f"{uid}: variable {name} has id {var.get('id')!r}; Grafana keys variables by id")
        if var.get("type") == "query" and var.get("datasource", {}).get("uid") != "${datasource}":
            out.append(f"{uid}: variable {name} must query the ${{datasource}} variable")
    ids: set[int] = set()
    cells: set[tuple[int, int]] = set()
    for panel in panels(dashboard):
        title = f"{uid}/{panel.get('title', '?')}"
        if panel.get("type") not in PANEL_TYPES:
            out.append(f"{title}: unknown panel type {panel.get('type')!r}")
        if not isinstance(panel.get("id"), int) or panel["id"] in ids:
            out.append(f"{title}: panel id must be a unique integer")
        ids.add(panel.get("id", -1))
        pos = panel.get("gridPos", {})
        if not all(isinstance(pos.get(k), int) for k in "hwxy") or pos["x"] + pos["w"] > GRID_WIDTH or pos["h"] < 1:
            out.append(f"{title}: gridPos {pos} does not fit the 24-column grid")
            continue
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                if (x, y) in cells:
                    out.append(f"{title}: overlaps another panel at {x},{y}")
                    break
                cells.add((x, y))
        if panel["type"] == "row":
            continue
        if panel.get("datasource") != {"type": "prometheus", "uid": "${datasource}"}:
            out.append(f"{title}: datasource must be the ${{datasource}} variable")
        if not isinstance(panel.get("options"), dict) or not isinstance(panel.get("fieldConfig"), dict):
            out.append(f"{title}: options and fieldConfig must be objects")
        targets = panel.get("targets") or []
        refs = [t.get("refId") for t in targets]
        if not targets or not all(refs) or len(set(refs)) != len(refs):
            out.append(f"{title}: needs targets with unique, non-empty refIds")
        for target in targets:
            expr = target.get("expr", "")
            if not expr.strip():
                out.append(f"{title}: empty expr")
            unknown = used_variables(expr) - set(declared) - set(BUILTINS)
            if unknown:
                out.append(f"{title}: undefined variable(s) {sorted(unknown)}")
    return out
