"""Helpers for tests that run real processes: free ports, polling, process cleanup."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], T | None], timeout: float, what: str, interval: float = 0.2) -> T:
    """Poll until predicate returns a truthy value; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def start_exporter(
    config: dict[str, Any], workdir: Path, port: int | None = None, extra_args: tuple[str, ...] = (),
    scheme: str = "http",
) -> tuple[subprocess.Popen[bytes], str]:
    """`sslfault serve` as a real subprocess; returns the process and its base URL."""
    port = port or free_port()
    config_file = workdir / "sslfault.yaml"
    config_file.write_text(yaml.safe_dump(config))
    log = (workdir / "sslfault.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporter", "serve", "--config.file", str(config_file),
         "--web.listen-address", f"127.0.0.1:{port}", "--log.level", "debug", *extra_args],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )
    return proc, f"{scheme}://127.0.0.1:{port}"


def stop_process(proc: subprocess.Popen[Any]) -> None:
    stop_processes([proc])


def stop_processes(procs: Iterable[subprocess.Popen[Any]]) -> None:
    """SIGTERM to all first, then wait for each (killed after 5 s): they shut down side by side."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
