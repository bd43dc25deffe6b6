"""Side-by-side benchmark: ssl-fault-exporter vs blackbox_exporter on a loopback fleet (issue 14).

One command: `make bench` (quick: 200 targets) or, for the issue's table,
    python bench/run.py --sizes 1000,10000,50000 --throughput-targets 2000 --repeat 2 --idle --profile 2000
Starts nginx (one worker, full chain, 8 addresses), Knot (N names) and blackbox_exporter (tcp+tls module)
on 127.X.Y.0/24, then `sslfault serve` once per measurement. Prints tables; writes JSON to bench/results/.
Needs root (ports 53/80/443, a mount namespace for blackbox's resolv.conf) and the Debian packages
nginx, knot, prometheus-blackbox-exporter (scripts/install-system-deps.sh).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path[1:1] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent.parent / "lab")]

from fleet import fleet, missing_tools
from goals import goal_rows
from measure import blackbox_run, exporter_round
from spy import Recorder, summarize

THROUGHPUT_CHECKS = ["dns", "reachability", "tls", "chain"]
RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="200", help="comma-separated fleet sizes for the full-round table")
    parser.add_argument("--throughput-targets", type=int, default=200,
                        help="targets for the exporter-vs-blackbox throughput run (the issue: 2000; 0 skips it)")
    parser.add_argument("--throughput-checks", default=",".join(THROUGHPUT_CHECKS),
                        help="the exporter's checks in the throughput run (the issue's four by default)")
    parser.add_argument("--concurrency", type=int, default=50, help="probes in flight in the throughput run")
    parser.add_argument("--workers", default="1",
                        help="comma-separated --runtime.workers values to run the exporter with (e.g. 1,2)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measurement (report the range)")
    parser.add_argument("--idle", action="store_true", help="also run each size without scraping")
    parser.add_argument("--cut", type=float, default=1200.0, help="stop a round after this many seconds")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="py-spy the exporter during a full round of N targets (default checks, scraped)")
    parser.add_argument("--json", type=Path, default=None, help="where to write the results (default bench/results/)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (configs, logs)")
    parser.add_argument("--report", type=Path, nargs="+", metavar="JSON",
                        help="measure nothing: print the tables and goals of earlier results, merged")
    return parser.parse_args(argv)


def _range(values: list[float], fmt: str = "{:.0f}") -> str:
    values = [v for v in values if v == v]  # NaN: not measured by that (older) run
    if not values:
        return "-"
    lo, hi = min(values), max(values)
    return fmt.format(lo) if fmt.format(lo) == fmt.format(hi) else f"{fmt.format(lo)}-{fmt.format(hi)}"


def print_throughput(pairs: list[dict[str, Any]]) -> None:
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for pair in pairs:
        key = (*(pair["exporter"].get("checks") or THROUGHPUT_CHECKS), f"workers={pair['exporter'].get('workers', 1)}")
        groups.setdefault(key, []).append(pair)
    for key, group in groups.items():
        _print_throughput(list(key[:-1]), group)


def _print_throughput(checks: list[str], pairs: list[dict[str, Any]]) -> None:
    ex = [p["exporter"] for p in pairs]
    bb = [p["blackbox"] for p in pairs]
    n, c = ex[0]["targets"], bb[0]["concurrency"]
    print(f"\nTLS probe throughput: {n} targets, concurrency {c} (exporter: {', '.join(checks)}; "
          f"blackbox: tcp+tls module), {len(pairs)} run(s)")
    print(f"  {'':22}{'targets/s':>14}{'CPU ms/target':>16}{'failed':>8}{'nginx+knot CPU ms/target':>26}")
    workers = ex[0].get("workers", 1)
    name = "ssl-fault-exporter" if workers == 1 else f"exporter, {workers} workers"
    print(f"  {name:22}{_range([e['throughput'] for e in ex]):>14}"
          f"{_range([e['cpu_ms_per_target'] for e in ex], '{:.2f}'):>16}"
          f"{max(sum(e['check_errors'].values()) for e in ex):>8}"
          f"{_range([e.get('server_cpu_ms_per_target', float('nan')) for e in ex], '{:.2f}'):>26}")
    print(f"  {'blackbox_exporter':22}{_range([b['throughput'] for b in bb]):>14}"
          f"{_range([b['cpu_ms_per_target'] for b in bb], '{:.2f}'):>16}{max(b['failed'] for b in bb):>8}"
          f"{_range([b.get('server_cpu_ms_per_target', float('nan')) for b in bb], '{:.2f}'):>26}")
    ratios = [e["throughput"] / b["throughput"] for e, b in zip(ex, bb, strict=True)]
    print(f"  exporter/blackbox throughput: {_range(ratios, '{:.2f}')}x")


def print_rounds(rounds: list[dict[str, Any]]) -> None:
    if not rounds:
        return
    print("\nFull round, default checks (time from the first /-/healthy to /-/ready; scraped = GET /metrics every 1 s)")
    head = (f"  {'targets':>8} {'scraped':>7} {'workers':>7} {'runs':>4} {'round s':>11} {'done':>11} {'peak RSS MB':>12} "
            f"{'CPU ms/tgt':>11} {'nginx+knot':>10} {'RSS KB/tgt':>11} {'expo B/tgt':>11} {'series/tgt':>10} "
            f"{'scrape p50 ms':>13} {'p99 ms':>11} {'MB/scrape':>10} {'faults':>7} {'errors':>7}")
    print(head)
    groups: dict[tuple[int, bool, int], list[dict[str, Any]]] = {}
    for r in rounds:
        groups.setdefault((r["targets"], r["scraped"], r.get("workers", 1)), []).append(r)
    for (n, scraped, workers), rs in groups.items():
        cut = " (cut)" if any(r["cut"] for r in rs) else ""
        print(f"  {n:>8} {'yes' if scraped else 'no':>7} {workers:>7} {len(rs):>4} {_range([r['seconds'] for r in rs]) + cut:>11} "
              f"{_range([r['done'] for r in rs]):>11} {_range([r['peak_rss_mb'] for r in rs]):>12} "
              f"{_range([r['cpu_ms_per_target'] for r in rs], '{:.1f}'):>11} "
              f"{_range([r.get('server_cpu_ms_per_target', float('nan')) for r in rs], '{:.1f}'):>10} "
              f"{_range([r['rss_growth_kb_per_target'] for r in rs], '{:.1f}'):>11} "
              f"{_range([r['exposition_bytes_per_target'] for r in rs]):>11} "
              f"{_range([r['series_per_target'] for r in rs]):>10} "
              f"{_range([r['scrape_p50_ms'] for r in rs]) if scraped else '-':>13} "
              f"{_range([r['scrape_p99_ms'] for r in rs]) if scraped else '-':>11} "
              f"{_range([r['scrape_max_mb'] for r in rs], '{:.1f}') if scraped else '-':>10} "
              f"{max(sum(r['faults'].values()) for r in rs):>7} {max(sum(r['check_errors'].values()) for r in rs):>7}")
    for r in rounds:
        if r["faults"] or r["check_errors"]:
            print(f"  {r['targets']} targets{' scraped' if r['scraped'] else ''}: faults {r['faults'] or '-'}, "
                  f"failed checks {r['check_errors'] or '-'}")
            for sample in r.get("error_samples", []):
                print(f"    e.g. {sample}")


def print_profile(profile: dict[str, Any]) -> None:
    print(f"\nprofile (py-spy, {profile['targets']} targets, {profile['summary']['samples']} samples): buckets")
    for name, share in profile["summary"]["buckets"].items():
        print(f"  {share:5.1f}%  {name}")
    print("  top self time:")
    for name, share in profile["summary"]["self"]:
        print(f"  {share:5.1f}%  {name}")
    print("  top inclusive time:")
    for name, share in profile["summary"]["inclusive"]:
        print(f"  {share:5.1f}%  {name}")


def report(out: dict[str, Any]) -> None:
    print_throughput(out["throughput"])
    print_rounds(out["rounds"])
    if out["profile"]:
        print_profile(out["profile"])
    out["goals"] = goal_rows(out)
    print("\nGoals (issue 14)")
    for row in out["goals"]:
        print(f"  {row['verdict']:>8}  {row['measure']}: {row['measured']} (goal {row['goal']})")


def merged(paths: list[Path]) -> dict[str, Any]:
    out: dict[str, Any] = {"throughput": [], "rounds": [], "profile": None, "merged_from": []}
    for path in paths:
        data = json.loads(path.read_text())
        out["merged_from"].append({"file": path.name, "started": data.get("started"), "machine": data.get("machine")})
        out["throughput"] += data["throughput"]
        out["rounds"] += data["rounds"]
        out["profile"] = data["profile"] or out["profile"]
    raw = RESULTS / f"profile-{out['profile']['targets']}.raw.txt" if out["profile"] else None
    if raw is not None and raw.exists():  # summarised again: the summary may have learnt new areas since
        out["profile"]["summary"] = summarize(raw)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        earlier = merged(args.report)
        report(earlier)
        if args.json:
            args.json.write_text(json.dumps(earlier, indent=1, default=str) + "\n")
        return 0
    missing = missing_tools()
    if missing:
        print(f"bench: missing {', '.join(missing)}: run scripts/install-system-deps.sh as root", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("bench: needs root (ports 53/80/443 on loopback, a mount namespace for blackbox)", file=sys.stderr)
        return 2
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    checks = [c.strip() for c in args.throughput_checks.split(",") if c.strip()]
    worker_counts = [int(w) for w in args.workers.split(",") if w.strip()] or [1]
    names = max([*sizes, args.throughput_targets, args.profile])
    started = time.time()
    out: dict[str, Any] = {"started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                           "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                       "loadavg_start": os.getloadavg()},
                           "args": {k: str(v) for k, v in vars(args).items()},
                           "throughput": [], "rounds": [], "profile": None}
    with fleet(names, keep=args.keep) as world:
        print(f"fleet: {names} names on {world.network}.1-8 (nginx), Knot on {world.nameserver}, "
              f"blackbox on {world.blackbox_url}, workdir {world.workdir}", flush=True)
        for rep in range(args.repeat if args.throughput_targets else 0):
            # Alternate who goes first, so a noisy neighbour does not always hit the same one.
            order = ("blackbox", "exporter") if rep % 2 == 0 else ("exporter", "blackbox")
            blackbox: dict[str, Any] = {}
            exporters: list[dict[str, Any]] = []
            for who in order:
                if who == "blackbox":
                    blackbox = blackbox_run(world, args.throughput_targets, args.concurrency).summary()
                    continue
                for workers in worker_counts:
                    exporter = exporter_round(world, args.throughput_targets, scraped=False, checks=checks,
                                              workers=workers, concurrency=args.concurrency,
                                              cut_seconds=args.cut).summary()
                    exporters.append(exporter | {"checks": checks})
            for exporter in exporters:
                out["throughput"].append({"exporter": exporter, "blackbox": blackbox})
                print(f"throughput run {rep + 1}: exporter ({exporter['workers']} worker(s)) "
                      f"{exporter['throughput']:.0f}/s, blackbox {blackbox['throughput']:.0f}/s", flush=True)
        for size in sizes:
            for scraped in (True, False) if args.idle else (True,):
                for rep in range(args.repeat):
                    for workers in worker_counts:
                        r = exporter_round(world, size, scraped=scraped, workers=workers,
                                           cut_seconds=args.cut).summary()
                        out["rounds"].append(r)
                        print(f"round {size}{' scraped' if scraped else ''} ({workers} worker(s)) run {rep + 1}: "
                              f"{r['seconds']:.1f} s, {r['done']} done, peak RSS {r['peak_rss_mb']:.0f} MB", flush=True)
        if args.profile:
            raw = world.workdir / "profile.txt"
            recorder = Recorder(raw)
            try:
                profiled = exporter_round(world, args.profile, scraped=True, cut_seconds=args.cut,
                                          on_running=recorder.attach)
            finally:
                recorder.stop()
            out["profile"] = {"targets": args.profile, "round": profiled.summary(), "summary": summarize(raw)}
            RESULTS.mkdir(exist_ok=True)
            (RESULTS / f"profile-{args.profile}.raw.txt").write_text(raw.read_text())
    out["seconds"] = round(time.time() - started, 1)
    out["machine"]["loadavg_end"] = os.getloadavg()
    report(out)
    path = args.json or RESULTS / f"bench-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1, default=str) + "\n")
    print(f"\nJSON: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
