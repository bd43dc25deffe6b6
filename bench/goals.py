"""Issue 14's goals, judged from one benchmark's results: met, NOT MET, or n/a when the size was not run."""

from __future__ import annotations

from typing import Any

Row = dict[str, str]
ISSUE_CHECKS = ["dns", "reachability", "tls", "chain"]


def _row(measure: str, goal: str, measured: str, met: bool | None) -> Row:
    verdict = "n/a" if met is None else ("met" if met else "NOT MET")
    return {"measure": measure, "goal": goal, "measured": measured, "verdict": verdict}


def _span(values: list[float], fmt: str) -> str:
    lo, hi = fmt.format(min(values)), fmt.format(max(values))
    return lo if lo == hi else f"{lo}-{hi}"


def _rounds(results: dict[str, Any], size: int, scraped: bool = True) -> list[dict[str, Any]]:
    return [r for r in results["rounds"] if r["targets"] == size and r["scraped"] == scraped]


def _projected(r: dict[str, Any]) -> float:
    """A cut round's time projected from its pace so far."""
    return float(r["seconds"] * r["targets"] / r["done"] if r["cut"] and r["done"] else r["seconds"])


def goal_rows(results: dict[str, Any]) -> list[Row]:
    """The goals per --runtime.workers setting the results hold (labelled when there are several)."""
    settings = sorted({p["exporter"].get("workers", 1) for p in results["throughput"]}
                      | {r.get("workers", 1) for r in results["rounds"]}) or [1]
    rows: list[Row] = []
    for workers in settings:
        subset = {"throughput": [p for p in results["throughput"] if p["exporter"].get("workers", 1) == workers],
                  "rounds": [r for r in results["rounds"] if r.get("workers", 1) == workers]}
        for row in _goal_rows(subset):
            if len(settings) > 1:
                row["measure"] = f"[{workers} worker{'s' if workers > 1 else ''}] {row['measure']}"
            rows.append(row)
    return rows


def _goal_rows(results: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    # Only runs with the issue's four checks answer the throughput goal (others are what-if runs).
    pairs = [p for p in results["throughput"] if p["exporter"].get("checks") in (None, ISSUE_CHECKS)]
    if pairs:
        ratios = [p["exporter"]["throughput"] / p["blackbox"]["throughput"] for p in pairs]
        rows.append(_row("throughput vs blackbox", ">= 1.2x", f"{_span(ratios, '{:.2f}')}x", min(ratios) >= 1.2))
        ex = [p["exporter"]["cpu_ms_per_target"] for p in pairs]
        bb = [p["blackbox"]["cpu_ms_per_target"] for p in pairs]
        rows.append(_row("CPU per target vs blackbox", "<= blackbox's",
                         f"{_span(ex, '{:.2f}')} ms vs {_span(bb, '{:.2f}')} ms",
                         max(e / b for e, b in zip(ex, bb, strict=True)) <= 1.0))
    else:
        rows.append(_row("throughput vs blackbox", ">= 1.2x", "not run", None))
    ten = _rounds(results, 10000)
    if ten:
        seconds = [_projected(r) for r in ten]
        rows.append(_row("10k round, scraped", "< 120 s", f"{_span(seconds, '{:.0f}')} s", max(seconds) < 120))
        rss = [r["peak_rss_mb"] for r in ten]
        rows.append(_row("10k peak RSS, scraped", "< 300 MB", f"{_span(rss, '{:.0f}')} MB", max(rss) < 300))
        p99 = [r["scrape_p99_ms"] for r in ten]
        rows.append(_row("10k /metrics p99", "< 150 ms", f"{_span(p99, '{:.0f}')} ms", max(p99) < 150))
    else:
        rows.append(_row("10k round", "< 120 s, RSS < 300 MB, p99 < 150 ms", "not run", None))
    healthy = [r for r in results["rounds"] if r["done"] and not r["faults"] and not r["check_errors"]]
    series = [r["series_per_target"] for r in (healthy or results["rounds"])]
    if series:
        rows.append(_row("series per healthy target", "<= 15", _span(series, "{:.0f}"), max(series) <= 15))
    one, ten_cpu = _rounds(results, 1000), [r["cpu_ms_per_target"] for r in ten]
    if one and ten:
        growth = [_projected(t) / o["seconds"] for t in ten for o in one]
        cpu_ratio = max(ten_cpu) / min(r["cpu_ms_per_target"] for r in one)
        rows.append(_row("growth 1k -> 10k", "linear: round ~10x, flat CPU per target",
                         f"round {_span(growth, '{:.1f}')}x, CPU/target "
                         f"{_span([r['cpu_ms_per_target'] for r in one], '{:.1f}')} -> {_span(ten_cpu, '{:.1f}')} ms",
                         max(growth) <= 11 and cpu_ratio <= 1.15))
    fifty = _rounds(results, 50000)
    if fifty and ten:
        ratio = [_projected(f) / _projected(t) for f in fifty for t in ten]
        rows.append(_row("50k round vs 10k", "<= 5.5x", f"{_span(ratio, '{:.1f}')}x"
                         + (" (projected from a cut round)" if any(f["cut"] for f in fifty) else ""), max(ratio) <= 5.5))
        rss = [f["peak_rss_mb"] for f in fifty]
        rows.append(_row("50k peak RSS", "< 1200 MB", f"{_span(rss, '{:.0f}')} MB", max(rss) < 1200))
        p99 = [f["scrape_p99_ms"] for f in fifty]
        rows.append(_row("50k /metrics p99", "< 500 ms", f"{_span(p99, '{:.0f}')} ms", max(p99) < 500))
    else:
        rows.append(_row("50k round", "<= 5.5x the 10k round, RSS < 1.2 GB, p99 < 500 ms", "not run", None))
    false = [sum(r["faults"].values()) + sum(r["check_errors"].values()) for r in results["rounds"]]
    if false:
        rows.append(_row("false faults / failed checks (all targets healthy)", "0",
                         f"max {max(false)} in one round", max(false) == 0))
    return rows
