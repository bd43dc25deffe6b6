"""py-spy on the running exporter: record raw (collapsed) stacks, then say where the time went."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")
# Buckets in the terms, first match wins (tested on the innermost frames first, so a
# handshake reached through an asyncio helper counts as a handshake).
BUCKETS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("TLS handshake (ssl)", re.compile(r"do_handshake|sslproto\.py|ssl\.py|_ssl")),
    ("chain verification", re.compile(r"checks/chain\.py|pki/paths\.py|verify|x509")),
    ("page parsing (html/css)", re.compile(r"_html|_css|lexbor|selectolax|bounded_html")),
    ("exposition render (/metrics)", re.compile(r"http/exposition\.py|http/collector\.py|prometheus_client")),
    ("DNS (dnspython)", re.compile(r"\bdns/|net/dns\.py")),
    ("HTTP client (aiohttp)", re.compile(r"\baiohttp/")),
    ("scheduler (apscheduler)", re.compile(r"\bapscheduler/")),
    ("asyncio machinery", re.compile(r"\basyncio/")),
    ("exporter's own code (other)", re.compile(r"\bexporter/")),
)


def py_spy() -> str | None:
    return shutil.which("py-spy") or (str(Path(sys.executable).parent / "py-spy")
                                      if (Path(sys.executable).parent / "py-spy").exists() else None)


class Recorder:
    """`py-spy record` attached to a pid; stop() ends it with SIGINT so it writes its output."""

    def __init__(self, out: Path, rate: int = 100) -> None:
        self.out, self.rate = out, rate
        self.proc: subprocess.Popen[bytes] | None = None

    def attach(self, pid: int) -> None:
        tool = py_spy()
        if tool is None:
            raise RuntimeError("py-spy is not installed: pip install py-spy")
        self.proc = subprocess.Popen([tool, "record", "--pid", str(pid), "--format", "raw", "--rate",
                                      str(self.rate), "--output", str(self.out), "--nonblocking"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _frames(stack: str) -> list[tuple[str, str]]:
    out = []
    for frame in stack.split(";"):
        match = FRAME.match(frame.strip())
        out.append((match.group("func"), match.group("file")) if match else (frame, ""))
    return out


def _short(func: str, file: str) -> str:
    for marker in ("/exporter/", "site-packages/", "/lib/python3"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{func} ({file})"


def summarize(raw: Path, top: int = 15) -> dict[str, Any]:
    """Self and inclusive shares per function, and the issue's buckets (by innermost matching frame)."""
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    buckets: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = _frames(stack)
        if frames:
            self_time[_short(*frames[-1])] += count
        for name in {_short(*f) for f in frames}:
            inclusive[name] += count
        buckets[_bucket(frames)] += count
    share = (lambda c: round(100 * c / total, 1)) if total else (lambda c: 0.0)
    return {
        "samples": total,
        "buckets": {name: share(c) for name, c in buckets.most_common()},
        "self": [(name, share(c)) for name, c in self_time.most_common(top)],
        "inclusive": [(name, share(c)) for name, c in inclusive.most_common(top * 2)],
    }


def _bucket(frames: list[tuple[str, str]]) -> str:
    for func, file in reversed(frames):
        text = f"{func} {file}"
        for name, pattern in BUCKETS:
            if pattern.search(text):
                return name
    return "other"
