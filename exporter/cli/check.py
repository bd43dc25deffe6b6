"""`sslfault check --config.file FILE`: every target once, a progress line, a summary table, an exit code.

What an SRE runs in CI or before a maintenance window.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import sys
import time
from typing import Any, TextIO

from exporter.catalog.faults import Severity
from exporter.cli.common import EXIT_USAGE, add_logging, load_or_report
from exporter.config import Config, Target
from exporter.daemon.scheduler import Limits
from exporter.discovery.file_sd import discovered_targets
from exporter.engine.context import Resources
from exporter.engine.runner import run_target
from exporter.engine.store import ResultsStore
from exporter.models import CheckResult
from exporter.views import TargetView, target_view


async def check_fleet(config: Config, out: TextIO, progress: bool) -> list[dict[str, Any]]:
    # The fleet serve would run: configured targets, then what the file_sd files give now (http_sd
    # URLs are not fetched here).
    discovered, errors = discovered_targets(config)
    for error in errors:
        out.write(f"file_sd: {error}; skipped\n")
    targets = config.resolved_targets() + discovered
    store = ResultsStore()
    store.set_targets(targets)
    resources = Resources(config)
    limits = Limits(config.limits.max_concurrent_probes, config.limits.max_concurrent_per_host)
    views: list[TargetView] = []
    start = time.monotonic()

    async def one(target: Target) -> None:
        results: dict[str, CheckResult] = await limits.run(target.host, lambda: run_target(target, resources))
        store.record(target, results)
        state = store.get(target.name)
        assert state is not None  # recorded just above; nothing removes targets here
        view = target_view(state)
        views.append(view)  # built once: the progress line and the final table share it
        done = len(views)
        if progress:
            out.write(f"\r\033[K[{done}/{len(targets)}] {target.name}: {view.status}")
        else:
            out.write(f"[{done}/{len(targets)}] {target.name}: {view.status} "
                      f"({len(view.report['faults'])} fault(s))\n")
        out.flush()

    try:
        await asyncio.gather(*(one(t) for t in targets))
    finally:
        await resources.close()
    if progress:
        out.write(f"\r\033[K{len(targets)} target(s) checked in {time.monotonic() - start:.1f}s\n")
    views.sort(key=lambda v: (-v.severity_rank, v.days_to_expiry if v.days_to_expiry is not None else float("inf"),
                              v.name))
    return [v.as_json() for v in views]


_SEVERITIES = frozenset(s.value for s in Severity)


def render_table(summaries: list[dict[str, Any]]) -> str:
    rows = [("TARGET", "WORST", "DAYS LEFT", "FAULTS")]
    for s in summaries:
        days = "-" if s["days_to_expiry"] is None else f"{s['days_to_expiry']:.1f}"
        faults = ", ".join(sorted({f["id"] for f in s["faults"]})) or "-"
        errored = [n for n, c in s["checks"].items() if c["status"] != "ok"]
        if errored:
            faults += f"  (could not judge: {', '.join(errored)})"
        rows.append((s["name"], s["status"], days, faults))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}" for r in rows) + "\n"


def to_csv(summaries: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["target", "host", "port", "worst_severity", "days_to_expiry", "faults", "checks_errored"])
    for s in summaries:
        writer.writerow([s["name"], s["host"], s["port"], s["status"], s["days_to_expiry"],
                         " ".join(sorted({f["id"] for f in s["faults"]})),
                         " ".join(n for n, c in s["checks"].items() if c["status"] != "ok")])
    return buffer.getvalue()


def run_check_command(config: Config, json_path: str | None, csv_path: str | None,
                      fail_on: Severity = Severity.CRITICAL) -> int:
    progress = sys.stderr.isatty()
    summaries = asyncio.run(check_fleet(config, sys.stderr, progress))
    # With --json - or --csv -, stdout carries only that document; the table goes to stderr.
    table_out = sys.stderr if "-" in (json_path, csv_path) else sys.stdout
    table_out.write(render_table(summaries))
    if json_path:
        _write(json_path, json.dumps({"targets": summaries}, ensure_ascii=False, indent=2))
    if csv_path:
        _write(csv_path, to_csv(summaries))
    return 1 if any(s["status"] in _SEVERITIES and Severity(s["status"]).rank >= fail_on.rank for s in summaries) else 0


def _write(path: str, text: str) -> None:
    if path == "-":
        sys.stdout.write(text)
    else:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)


def add_parser(sub: Any) -> None:
    check = sub.add_parser("check", help="run every configured target once and print a summary table")
    check.add_argument("--config.file", dest="config_file", required=True)
    check.add_argument("--json", dest="json_file", metavar="FILE", help="also write the full results as JSON ('-': stdout)")
    check.add_argument("--csv", dest="csv_file", metavar="FILE", help="also write a CSV summary ('-': stdout)")
    check.add_argument("--fail-on", choices=("warning", "critical"), default="critical",
                       help="exit 1 when a target has a fault at least this severe (default critical)")
    add_logging(check, default_level="warning")


def run(args: argparse.Namespace) -> int:
    from exporter.logs import setup_logging

    setup_logging(args.log_level, args.log_format)
    config = load_or_report(args.config_file)
    if config is None:
        return EXIT_USAGE
    return run_check_command(config, args.json_file, args.csv_file, Severity(args.fail_on))
