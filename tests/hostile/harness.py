"""Measuring a running exporter: authenticated requests, a 5-per-second scraper, an RSS sampler."""

from __future__ import annotations

import base64
import itertools
import re
import statistics
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

USER, PASSWORD = "prometheus", "scrape-Secret-41b9"
_LAST_RUN = re.compile(r'^sslfault_last_run_timestamp_seconds\{target="([^"]*)"\} (\S+)$', re.MULTILINE)
_FAULT = re.compile(r'^sslfault_fault\{(?:address="[^"]*",)?fault="([^"]*)",severity="[^"]*",target="([^"]*)"\} ',
                    re.MULTILINE)


def auth_header(user: str = USER, password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def request(url: str, method: str = "GET", auth: str | None = None, timeout: float = 15.0,
            headers: dict[str, str] | None = None) -> tuple[int, str, float]:
    """(status, body, seconds); status 0 when nothing answered. `auth` None: the right credentials."""
    req = urllib.request.Request(url, method=method, headers=headers or {})
    if auth != "":
        req.add_header("Authorization", auth or auth_header())
    start = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace"), time.monotonic() - start
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace"), time.monotonic() - start
    except (OSError, ValueError):
        return 0, "", time.monotonic() - start


def last_runs(text: str) -> dict[str, float]:
    """target -> the latest check start time in a scrape."""
    out: dict[str, float] = {}
    for target, value in _LAST_RUN.findall(text):
        out[target] = max(out.get(target, 0.0), float(value))
    return out


def fault_series(text: str) -> set[tuple[str, str]]:
    return {(target, fault) for fault, target in _FAULT.findall(text)}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Scrape:
    at: float  # unix seconds when the answer arrived
    seconds: float
    status: int
    runs: dict[str, float]


@dataclass
class Scraper:
    """GET /metrics five times a second in a thread; keeps latency, status and each target's last run."""

    url: str
    every: float = 0.2
    scrapes: list[Scrape] = field(default_factory=list)
    last_text: str = ""
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Scraper:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            status, text, seconds = request(f"{self.url}/metrics", timeout=10)
            self.scrapes.append(Scrape(time.time(), seconds, status, last_runs(text) if status == 200 else {}))
            if status == 200:
                self.last_text = text
            self._stop.wait(max(0.0, self.every - seconds))

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(15)

    def latencies(self) -> list[float]:
        return [s.seconds for s in self.scrapes]

    def summary(self) -> dict[str, float]:
        values = self.latencies()
        return {"scrapes": len(values), "p50_seconds": round(statistics.median(values), 4) if values else -1,
                "p99_seconds": round(percentile(values, 0.99), 4), "max_seconds": round(max(values, default=-1), 4)}


@dataclass
class RssSampler:
    pid: int
    every: float = 0.5
    samples: list[tuple[float, int]] = field(default_factory=list)  # (unix seconds, RSS bytes)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> RssSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                status = open(f"/proc/{self.pid}/status").read()
            except OSError:
                return
            kb = int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE).group(1))
            self.samples.append((time.time(), kb * 1024))
            self._stop.wait(self.every)

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)


def freshness(scrapes: list[Scrape], targets: list[str], since: float) -> dict[str, float]:
    """Per target, the longest time between two runs seen after `since` (by their start times)."""
    out = {}
    for target in targets:
        seen = sorted({s.runs[target] for s in scrapes if target in s.runs and s.runs[target] >= since})
        gaps = [b - a for a, b in itertools.pairwise(seen)]
        out[target] = max(gaps, default=float("inf"))
    return out
