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
# Where the time goes, in the terms. First, areas recognised anywhere on the stack, in this order
# (a handshake reached through aiohttp is a handshake; a render in a worker thread is the exposition's).
WHOLE_STACK: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("TLS handshakes", re.compile(r"do_handshake")),
    ("legacy_tls: a new SSLContext per probe", re.compile(r"legacy_client_context|local_support_problem")),
    ("exposition render (/metrics)", re.compile(r"http/exposition\.py|http/collector\.py|prometheus_client")),
    ("chain verification", re.compile(r"checks/chain\.py|pki/paths\.py")),
    ("page parsing (html/css/title)", re.compile(r"_html|_css|_title|parse_document|selectolax|lexbor")),
    ("DNS (dnspython)", re.compile(r"\bdns/|net/dns\.py")),
    ("thread pool hops (asyncio.to_thread)", re.compile(r"concurrent/futures|run_in_executor|call_soon_threadsafe")),
)
# Then the innermost frame that names a generic area.
INNERMOST: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("HTTP client (aiohttp, not handshakes)", re.compile(r"\baiohttp/")),
    ("socket I/O (connect, TLS records, close)", re.compile(r"selector_events|selectors\.py|socket\.py|sslproto\.py|\bssl\.py")),
    ("scheduler (apscheduler)", re.compile(r"\bapscheduler/")),
    ("asyncio task machinery", re.compile(r"\basyncio/")),
    ("exporter's own code (other)", re.compile(r"\bexporter/")),
)


# Frames on (nearly) every stack: listing them as "inclusive time" says nothing.
ENTRY_FRAMES = re.compile(r"runpy|asyncio/runners\.py|run_forever|run_until_complete|_run_once|Handle\._run|threading\.py|"
                          r"exporter/cli/|exporter/__main__\.py|_worker \(|_WorkItem\.run")


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
        "inclusive": [(name, share(c)) for name, c in inclusive.most_common()
                      if not ENTRY_FRAMES.search(name)][:top],
    }


def _bucket(frames: list[tuple[str, str]]) -> str:
    texts = [f"{func} {file}" for func, file in frames]
    for name, pattern in WHOLE_STACK:
        if any(pattern.search(text) for text in texts):
            return name
    for text in reversed(texts):
        for name, pattern in INNERMOST:
            if pattern.search(text):
                return name
    return "other"
