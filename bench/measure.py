"""What the benchmark measures: process CPU and memory from /proc, an exporter round, blackbox probes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from fleet import Fleet, host_name

TICKS = os.sysconf("SC_CLK_TCK")
REPO = Path(__file__).resolve().parent.parent
SAMPLE_LINE = re.compile(rb'^[a-zA-Z_:][a-zA-Z0-9_:]*\{[^}\n]*?\btarget="([^"]*)"', re.M)


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process (all its threads), from /proc/<pid>/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def memory_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) in MB, from /proc/<pid>/status."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def tree(pid: int) -> list[int]:
    """The process and its children (the probe workers of `--runtime.workers`)."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            pids += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return pids


def tree_cpu_seconds(pid: int) -> float:
    total = 0.0
    for each in tree(pid):
        try:
            total += cpu_seconds(each)
        except OSError:
            continue  # exited meanwhile
    return total


def tree_memory_mb(pid: int) -> tuple[float, float]:
    """(RSS, peak RSS) summed over the process and its workers; the summed peaks bound the real peak."""
    rss = peak = 0.0
    for each in tree(pid):
        try:
            now, high = memory_mb(each)
        except (OSError, KeyError):
            continue
        rss, peak = rss + now, peak + high
    return rss, peak


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# -- the exporter ----------------------------------------------------------------------------------


def exporter_config(world: Fleet, targets: int, checks: list[str] | None, concurrency: int | None) -> dict[str, Any]:
    defaults: dict[str, Any] = {"interval": "24h", "jitter": "1ms", "timeout": "10s"}
    if checks:
        defaults["checks"] = checks
    data: dict[str, Any] = {
        "defaults": defaults,
        "resolver": {"nameservers": [world.nameserver], "timeout": "3s", "authoritative_port": 53},
        "trust": {"use_system": False, "ca_files": [str(world.root_pem)]},
        "targets": [{"host": host_name(i)} for i in range(targets)],
    }
    if concurrency:
        data["limits"] = {"max_concurrent_probes": concurrency}
    return data


@dataclass
class Round:
    targets: int
    scraped: bool
    workers: int = 1  # --runtime.workers: CPU and memory are summed over the process and its workers
    done: int = 0
    seconds: float = 0.0  # from the first /-/healthy answer until /-/ready (or the cut)
    startup_seconds: float = 0.0  # spawn to the first /-/healthy answer (config load, imports)
    cut: bool = False
    cpu_seconds: float = 0.0
    server_cpu_seconds: float = 0.0  # nginx worker + knotd, for the same span
    rss_start_mb: float = 0.0
    rss_end_mb: float = 0.0
    peak_rss_mb: float = 0.0  # VmHWM at the end of the round, before the final scrape
    peak_after_scrape_mb: float = 0.0  # VmHWM after one more full scrape
    scrape_ms: list[float] = field(default_factory=list)
    scrape_bytes: list[int] = field(default_factory=list)
    final_bytes: int = 0
    final_series: int = 0
    series_per_target: float = 0.0
    faults: dict[str, int] = field(default_factory=dict)
    check_errors: dict[str, int] = field(default_factory=dict)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (target, check), the first few
    error_samples: list[str] = field(default_factory=list)  # why, from /api/targets/NAME

    @property
    def throughput(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_target(self) -> float:
        return 1000 * self.cpu_seconds / self.done if self.done else float("nan")

    def summary(self) -> dict[str, Any]:
        out = asdict(self)
        del out["scrape_ms"], out["scrape_bytes"]
        out.update(throughput=self.throughput, cpu_ms_per_target=self.cpu_ms_per_target,
                   server_cpu_ms_per_target=1000 * self.server_cpu_seconds / self.done if self.done else float("nan"),
                   scrapes=len(self.scrape_ms), scrape_p50_ms=percentile(self.scrape_ms, 0.5),
                   scrape_p99_ms=percentile(self.scrape_ms, 0.99),
                   scrape_max_mb=max(self.scrape_bytes, default=0) / 1e6,
                   exposition_bytes_per_target=self.final_bytes / self.targets,
                   rss_growth_kb_per_target=1024 * (self.rss_end_mb - self.rss_start_mb) / self.targets)
        return out


def read_exposition(text: bytes, round_: Round) -> None:
    """Series per target, faults and failed checks, from the last scrape."""
    per_target: dict[bytes, int] = {}
    for match in SAMPLE_LINE.finditer(text):
        per_target[match.group(1)] = per_target.get(match.group(1), 0) + 1
    round_.final_bytes = len(text)
    round_.final_series = sum(per_target.values())
    # Targets not probed yet (a cut round) have only their zeroed fault counts: not a healthy target's series.
    probed = set(re.findall(rb'^sslfault_last_run_timestamp_seconds\{[^}\n]*?\btarget="([^"]*)"', text, re.M))
    counts = [n for name, n in per_target.items() if name in probed]
    round_.series_per_target = statistics.median(counts) if counts else 0.0
    for line in text.decode().splitlines():
        if line.startswith("sslfault_fault{"):
            fault = re.search(r'\bfault="([^"]+)"', line)
            if fault:
                round_.faults[fault.group(1)] = round_.faults.get(fault.group(1), 0) + 1
        elif line.startswith("sslfault_check_success{") and line.endswith(" 0.0"):
            check = re.search(r'\bcheck="([^"]+)"', line)
            target = re.search(r'\btarget="([^"]+)"', line)
            if check and target:
                round_.check_errors[check.group(1)] = round_.check_errors.get(check.group(1), 0) + 1
                if len(round_.failed) < 5:
                    round_.failed.append((target.group(1), check.group(1)))


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[int, bytes]:
    async with session.get(url) as resp:
        return resp.status, await resp.read()


async def _watch_round(world: Fleet, proc: subprocess.Popen[bytes], round_: Round, cut_seconds: float,
                       started: float, on_running: Any) -> None:
    base = f"http://{world.exporter_listen}"
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the exporter exited with {proc.returncode}")
            try:
                if (await _get(session, f"{base}/-/healthy"))[0] == 200:
                    break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
        t0 = time.monotonic()
        round_.startup_seconds = t0 - started
        cpu0 = tree_cpu_seconds(proc.pid)
        servers0 = sum(cpu_seconds(pid) for pid in world.server_pids())
        round_.rss_start_mb = tree_memory_mb(proc.pid)[0]
        if on_running:
            on_running(proc.pid)
        stop = asyncio.Event()

        async def scrape() -> None:
            while not stop.is_set():
                begin = time.monotonic()
                _, body = await _get(session, f"{base}/metrics")
                round_.scrape_ms.append(1000 * (time.monotonic() - begin))
                round_.scrape_bytes.append(len(body))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), max(0.0, 1.0 - (time.monotonic() - begin)))

        scraper = asyncio.create_task(scrape()) if round_.scraped else None
        waiting = round_.targets
        while True:
            status, body = await _get(session, f"{base}/-/ready")
            if status == 200:
                waiting = 0
            else:
                found = re.search(rb"(\d+) target", body)
                waiting = int(found.group(1)) if found else waiting
            elapsed = time.monotonic() - t0
            if waiting == 0 or elapsed > cut_seconds:
                break
            await asyncio.sleep(0.25)
        round_.seconds = time.monotonic() - t0
        round_.cpu_seconds = tree_cpu_seconds(proc.pid) - cpu0
        round_.server_cpu_seconds = sum(cpu_seconds(pid) for pid in world.server_pids()) - servers0
        round_.done = round_.targets - waiting
        round_.cut = waiting > 0
        round_.rss_end_mb, round_.peak_rss_mb = tree_memory_mb(proc.pid)
        stop.set()
        if scraper:
            await scraper
        _, body = await _get(session, f"{base}/metrics")
        (world.workdir / f"metrics-{round_.targets}.txt").write_bytes(body)
        read_exposition(body, round_)
        for target, check in round_.failed:
            _, detail = await _get(session, f"{base}/api/targets/{target}")
            result = json.loads(detail)["results"][check]
            round_.error_samples.append(f"{target} {check}: {result['error_kind']}: {result['error']} "
                                        f"(after {result['duration_seconds']:.2f} s)")
        # Kept apart from the round's peak: in an unscraped round this one render is the only scrape.
        round_.peak_after_scrape_mb = tree_memory_mb(proc.pid)[1]


def exporter_round(world: Fleet, targets: int, *, scraped: bool, checks: list[str] | None = None, workers: int = 1,
                   concurrency: int | None = None, cut_seconds: float = 1200.0,
                   on_running: Any = None) -> Round:
    """Start `sslfault serve` on `targets` fleet names, wait for one full round, stop it."""
    config = world.workdir / f"exporter-{targets}.yaml"
    config.write_text(yaml.safe_dump(exporter_config(world, targets, checks, concurrency), sort_keys=False))
    log = world.workdir / f"exporter-{targets}.log"
    round_ = Round(targets, scraped, workers)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "lab")])}
    started = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "exporter", "serve", "--config.file", str(config),
                                 "--web.listen-address", world.exporter_listen, "--log.level", "warning",
                                 "--runtime.workers", str(workers)],
                                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        asyncio.run(_watch_round(world, proc, round_, cut_seconds, started, on_running))
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return round_


# -- blackbox_exporter -----------------------------------------------------------------------------


@dataclass
class BlackboxRun:
    targets: int
    concurrency: int
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    server_cpu_seconds: float = 0.0  # nginx worker + knotd
    failed: int = 0

    @property
    def throughput(self) -> float:
        return self.targets / self.seconds

    @property
    def cpu_ms_per_target(self) -> float:
        return 1000 * self.cpu_seconds / self.targets

    def summary(self) -> dict[str, Any]:
        return {**asdict(self), "throughput": self.throughput, "cpu_ms_per_target": self.cpu_ms_per_target,
                "server_cpu_ms_per_target": 1000 * self.server_cpu_seconds / self.targets}


async def _drive_blackbox(world: Fleet, run: BlackboxRun) -> None:
    slots = asyncio.Semaphore(run.concurrency)
    connector = aiohttp.TCPConnector(limit=run.concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        async def probe(i: int) -> bool:
            async with slots:
                status, body = await _get(session, f"{world.blackbox_url}/probe?module=tls&target={host_name(i)}:443")
                return status == 200 and b"\nprobe_success 1" in body

        pid, servers = world.pid("blackbox"), world.server_pids()
        cpu0, servers0, t0 = cpu_seconds(pid), sum(map(cpu_seconds, servers)), time.monotonic()
        results = await asyncio.gather(*(probe(i) for i in range(run.targets)))
        run.seconds = time.monotonic() - t0
        run.cpu_seconds = cpu_seconds(pid) - cpu0
        run.server_cpu_seconds = sum(map(cpu_seconds, servers)) - servers0
        run.failed = results.count(False)


def blackbox_run(world: Fleet, targets: int, concurrency: int) -> BlackboxRun:
    run = BlackboxRun(targets, concurrency)
    asyncio.run(_drive_blackbox(world, run))
    return run
