"""Real knotd on loopback for tests: its config, a free port on several addresses, waiting for a zone."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import pytest

KNOTD = shutil.which("knotd") or ("/usr/sbin/knotd" if Path("/usr/sbin/knotd").exists() else None)


def knot_config(workdir: Path, address: str, port: int, zones: dict[str, str | None]) -> Path:
    (workdir / "zones").mkdir(parents=True)
    for sub in ("run", "db"):
        (workdir / sub).mkdir()
    for zone, text in zones.items():
        if text is not None:
            (workdir / "zones" / f"{zone}.zone").write_text(text)
    zone_list = "\n".join(f"  - domain: {zone}" for zone in zones)
    config = workdir / "knot.conf"
    config.write_text(f"""server:
    rundir: "{workdir / 'run'}"
    listen: {address}@{port}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: "{workdir / 'db'}"
template:
  - id: default
    storage: "{workdir / 'zones'}"
    file: "%s.zone"
zone:
{zone_list}
log:
  - target: stderr
    any: warning
""")
    return config


def free_port(addresses: list[str]) -> int:
    """A port free for UDP and TCP on every address (the lab /24 is ours, so a race is unlikely)."""
    for _ in range(20):
        with socket.socket() as probe:
            probe.bind((addresses[0], 0))
            port = probe.getsockname()[1]
        try:
            with contextlib.ExitStack() as stack:
                for address in addresses:
                    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                        sock = stack.enter_context(socket.socket(socket.AF_INET, kind))
                        sock.bind((address, port))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port for knotd")


def wait_for_zone(address: str, port: int, zone: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"knotd exited with {proc.returncode}: {log.read_text()}")
        with contextlib.suppress(Exception):
            response = dns.query.udp(dns.message.make_query(zone, "SOA"), address, timeout=0.3, port=port)
            if response.rcode() == dns.rcode.NOERROR and response.answer:
                return
        time.sleep(0.05)
    pytest.fail(f"knotd on {address}@{port} never served {zone}: {log.read_text()}")
