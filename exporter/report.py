"""The JSON report (diagnose --json, lint-cert --json, /probe) and its plain-text rendering."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from exporter.catalog.faults import get_fault
from exporter.models import CheckResult, CheckStatus, Finding, Severity


def fault_entry(finding: Finding) -> dict[str, Any]:
    fault = get_fault(finding.fault)
    entry: dict[str, Any] = {
        "id": str(fault.id),
        "severity": str(fault.severity),
        "section": fault.section,
        "title": fault.title,
        "title_zh": fault.title_zh,
        "address": finding.address,
        "detail": finding.detail,
        # A finding may carry its own remedy (e.g. a bad key file: the fix is about the key).
        "remedy": finding.data.get("remedy") or {"en": fault.remedy_en, "zh": fault.remedy_zh},
    }
    data = {k: v for k, v in finding.data.items() if k != "remedy"}
    if data:
        entry["data"] = data
    return entry


def check_entry(result: CheckResult) -> dict[str, Any]:
    entry: dict[str, Any] = {"status": str(result.status), "duration_seconds": round(result.duration_seconds, 4)}
    if result.status is CheckStatus.ERROR:
        entry["error"] = str(result.error_kind) if result.error_kind else "internal"
        if result.error:
            entry["message"] = result.error
    return entry


def build_report(
    target: str,
    port: int | None,
    addresses: Iterable[str],
    results: Mapping[str, CheckResult],
) -> dict[str, Any]:
    """One target's report: faults sorted worst first, then every check's status."""
    faults = [fault_entry(f) for r in results.values() for f in r.outcome.findings]
    faults.sort(key=lambda f: (-Severity(f["severity"]).rank, f["id"], f["address"] or ""))
    return {
        "target": target,
        "port": port,
        "addresses": list(addresses),
        "faults": faults,
        "checks": {name: check_entry(r) for name, r in results.items()},
    }


def worst_severity(report: Mapping[str, Any]) -> Severity | None:
    severities = [Severity(f["severity"]) for f in report["faults"]]
    return max(severities, key=lambda s: s.rank) if severities else None


def exit_code(report: Mapping[str, Any], fail_on: Severity = Severity.CRITICAL) -> int:
    """0: no fault as severe as `fail_on` (default critical); 1: at least one."""
    return 1 if any(Severity(f["severity"]).rank >= fail_on.rank for f in report["faults"]) else 0


_LABELS = {
    "en": {"ok": "No faults found.", "remedy": "Fix", "checks": "Checks that reached a verdict", "could_not": "could not judge",
           "faults": "faults", "on": "on",
           "partial": "No faults found by the checks that reached a verdict, but {n} check(s) could not judge: "
                      "this is not a clean bill of health."},
    "zh": {"ok": "未发现问题。", "remedy": "处理办法", "checks": "已完成判断的检查项", "could_not": "无法判断",
           "faults": "个问题", "on": "地址",
           "partial": "已完成的检查未发现问题，但有 {n} 项检查无法判断，不能据此认为没有问题。"},
}
_SEVERITY_WORDS = {
    "en": {"critical": "CRITICAL", "warning": "WARNING", "info": "INFO"},
    "zh": {"critical": "严重", "warning": "警告", "info": "提示"},
}
_COLORS = {"critical": "\033[31;1m", "warning": "\033[33;1m", "info": "\033[36m"}


def render_text(report: Mapping[str, Any], lang: str = "en", color: bool = False) -> str:
    """Plain words for a person: each fault, where, why, and how to fix it."""
    words, sev_words = _LABELS[lang], _SEVERITY_WORDS[lang]
    port = f":{report['port']}" if report.get("port") else ""
    addresses = ", ".join(report.get("addresses") or []) or "-"
    lines = [f"{report['target']}{port}  [{addresses}]", ""]
    errored = {n: c for n, c in report["checks"].items() if c["status"] != "ok"}
    if not report["faults"]:
        lines.append(words["partial"].format(n=len(errored)) if errored else words["ok"])
    for fault in report["faults"]:
        severity = fault["severity"]
        tag = sev_words[severity]
        if color:
            tag = f"{_COLORS[severity]}{tag}\033[0m"
        where = f"  ({words['on']} {fault['address']})" if fault.get("address") else ""
        title = fault.get("title_zh") if lang == "zh" and fault.get("title_zh") else fault["title"]
        lines.append(f"{tag}  {fault['id']}  [{fault['section']}] {title}{where}")
        lines.append(f"    {fault['detail']}")
        lines.append(f"    {words['remedy']}: {fault['remedy'][lang]}")
        lines.append("")
    # "ok" beside a critical fault read as "passed": name the checks that judged, then those that could not.
    judged = [n for n in report["checks"] if n not in errored]
    lines.append(f"{words['checks']}: " + (", ".join(judged) or "-"))
    if errored:
        lines.append(f"{words['could_not']}: " + ", ".join(f"{n} ({c['error']})" for n, c in errored.items()))
    for name, check in errored.items():
        if check.get("message"):
            lines.append(f"    {name}: {check['message']}")
    return "\n".join(lines).rstrip() + "\n"
