"""The benchmark's world on loopback: a generated chain, nginx on 8 addresses, Knot serving N names,
blackbox_exporter with a tcp+tls module. Real daemons only, all on one 127.X.Y.0/24 of our own.

Addresses: .1-.8 nginx (443 with the full chain and HSTS, 80 redirecting to HTTPS), .53 Knot on
port 53 (blackbox_exporter resolves through /etc/resolv.conf, which has no port, so it runs in a
private mount namespace whose resolv.conf names Knot), .60 blackbox_exporter, .61 the exporter.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dns.message
import dns.query
import dns.rcode

from sslfault_lab.pki import LabPKI

NGINX = "/usr/sbin/nginx"
KNOTD = "/usr/sbin/knotd"
BLACKBOX = "/usr/bin/prometheus-blackbox-exporter"
DOMAIN = "fleet.test"
WEB_ADDRESSES = 8
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Fleet member</title>
<link rel="stylesheet" href="/style.css"></head>
<body><h1>Fleet member</h1><p>{filler}</p><img src="/logo.svg" alt="logo"></body></html>
"""
LOGO = '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>'


def host_name(index: int) -> str:
    return f"s{index:05d}.{DOMAIN}"


def _free_network() -> str:
    """A 127.X.Y prefix whose .53:53 and .1:443 are free (the lab's tests use 127.100-250.*)."""
    for _ in range(50):
        network = f"127.{random.randint(60, 99)}.{random.randint(0, 255)}"
        try:
            with contextlib.ExitStack() as stack:
                for address, port, kind in ((f"{network}.53", 53, socket.SOCK_DGRAM),
                                            (f"{network}.53", 53, socket.SOCK_STREAM),
                                            (f"{network}.1", 443, socket.SOCK_STREAM)):
                    sock = stack.enter_context(socket.socket(socket.AF_INET, kind))
                    sock.bind((address, port))
            return network
        except OSError:
            continue
    raise RuntimeError("no free 127.X.Y.0/24 for the benchmark")


def _accepts(address: str, port: int) -> bool:
    with socket.create_connection((address, port), timeout=0.2):
        return True


def _wait(check: object, what: str, proc: subprocess.Popen[bytes], log: Path, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}: {log.read_text()[-2000:]}")
        with contextlib.suppress(Exception):
            if check():  # type: ignore[operator]
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not come up in {seconds:g}s: {log.read_text()[-2000:]}")


@dataclass
class Fleet:
    """Started by `fleet(names)`; everything lives under workdir and stops with the context."""

    names: int
    workdir: Path
    network: str = ""
    root_pem: Path = field(default_factory=Path)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def address(self, octet: int) -> str:
        return f"{self.network}.{octet}"

    @property
    def nameserver(self) -> str:
        return self.address(53)

    @property
    def blackbox_url(self) -> str:
        return f"http://{self.address(60)}:9115"

    @property
    def exporter_listen(self) -> str:
        return f"{self.address(61)}:17753"

    def pid(self, name: str) -> int:
        return self.procs[name].pid

    def server_pids(self) -> list[int]:
        """nginx's worker(s) and knotd: the targets' side of every probe."""
        master = self.pid("nginx")
        workers = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        return [*map(int, workers), self.pid("knot")]

    # -- start ---------------------------------------------------------------------------------

    def start(self) -> None:
        self.network = _free_network()
        self._pki()
        self._nginx()
        self._knot()
        self._blackbox()

    def _pki(self) -> None:
        pki = LabPKI(f"http://pki.{DOMAIN}")
        leaf = pki.issue_leaf([f"*.{DOMAIN}", DOMAIN], issuer=pki.ecc_intermediate, with_aia=False)
        tls = self.workdir / "tls"
        tls.mkdir()
        (tls / "fullchain.pem").write_bytes(leaf.cert_pem + pki.ecc_intermediate.cert_pem)
        (tls / "leaf.key").write_bytes(leaf.key_pem)
        self.root_pem = tls / "root.pem"
        self.root_pem.write_bytes(pki.root_pem)

    def _nginx(self) -> None:
        www = self.workdir / "www"
        www.mkdir()
        (www / "index.html").write_text(PAGE.format(filler="healthy " * 200))
        (www / "style.css").write_text("body { font-family: sans-serif; }\nh1 { color: #333; }\n")
        (www / "logo.svg").write_text(LOGO)
        tls = self.workdir / "tls"
        listens_80 = "\n".join(f"    listen {self.address(i)}:80;" for i in range(1, WEB_ADDRESSES + 1))
        listens_443 = "\n".join(f"    listen {self.address(i)}:443 ssl;" for i in range(1, WEB_ADDRESSES + 1))
        temp = self.workdir / "nginx-tmp"
        temp.mkdir()
        conf = self.workdir / "nginx.conf"
        conf.write_text(f"""user root;
worker_processes 1;
worker_rlimit_nofile 65536;
daemon off;
pid {self.workdir}/nginx.pid;
error_log {self.workdir}/nginx.log warn;
events {{ worker_connections 16384; }}
http {{
  access_log off;
  types {{ text/html html; text/css css; image/svg+xml svg; }}
  client_body_temp_path {temp}/body; proxy_temp_path {temp}/proxy; fastcgi_temp_path {temp}/fastcgi;
  uwsgi_temp_path {temp}/uwsgi; scgi_temp_path {temp}/scgi;
  server {{
{listens_80}
    return 301 https://$host$request_uri;
  }}
  server {{
{listens_443}
    ssl_certificate {tls}/fullchain.pem;
    ssl_certificate_key {tls}/leaf.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    add_header Strict-Transport-Security "max-age=31536000" always;
    root {www};
    index index.html;
  }}
}}
""")
        log = self.workdir / "nginx.log"
        with log.open("ab") as out:
            self.procs["nginx"] = subprocess.Popen([NGINX, "-c", str(conf), "-e", str(log)],
                                                   stdout=out, stderr=subprocess.STDOUT)
        address = self.address(WEB_ADDRESSES)
        _wait(lambda: _accepts(address, 443), "nginx", self.procs["nginx"], log)

    def _knot(self) -> None:
        base = self.workdir / "knot"
        for sub in ("zones", "run", "db"):
            (base / sub).mkdir(parents=True)
        lines = ["$TTL 300", "test. 300 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 300",
                 "test. 300 IN NS ns.test.", f"ns.test. 300 IN A {self.nameserver}"]
        lines += [f"{host_name(i)}. 300 IN A {self.address(i % WEB_ADDRESSES + 1)}" for i in range(self.names)]
        (base / "zones" / "test.zone").write_text("\n".join(lines) + "\n")
        conf = base / "knot.conf"
        conf.write_text(f"""server:
    rundir: "{base / 'run'}"
    listen: {self.nameserver}@53
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: "{base / 'db'}"
template:
  - id: default
    storage: "{base / 'zones'}"
    file: "%s.zone"
zone:
  - domain: test
log:
  - target: stderr
    any: warning
""")
        log = base / "knotd.log"
        with log.open("wb") as out:
            self.procs["knot"] = subprocess.Popen([KNOTD, "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT)
        last = dns.message.make_query(host_name(self.names - 1), "A")
        _wait(lambda: dns.query.udp(last, self.nameserver, timeout=0.3).rcode() == dns.rcode.NOERROR,
              "knotd", self.procs["knot"], log, seconds=60)

    def _blackbox(self) -> None:
        conf = self.workdir / "blackbox.yml"
        conf.write_text(f"""modules:
  tls:
    prober: tcp
    timeout: 10s
    tcp:
      tls: true
      tls_config:
        ca_file: {self.root_pem}
""")
        resolv = self.workdir / "resolv.conf"
        resolv.write_text(f"nameserver {self.nameserver}\noptions timeout:3 attempts:1\n")
        log = self.workdir / "blackbox.log"
        # unshare execs (no fork), then sh execs blackbox: the pid we hold is blackbox's own.
        script = (f'mount --bind "{resolv}" /etc/resolv.conf && exec "{BLACKBOX}" --config.file="{conf}" '
                  f'--web.listen-address="{self.address(60)}:9115" --log.level=warn')
        with log.open("wb") as out:
            self.procs["blackbox"] = subprocess.Popen(["unshare", "--mount", "--propagation", "private",
                                                       "sh", "-c", script], stdout=out, stderr=subprocess.STDOUT)
        _wait(lambda: urllib.request.urlopen(f"{self.blackbox_url}/-/healthy", timeout=0.5).status == 200,
              "blackbox_exporter", self.procs["blackbox"], log)

    # -- stop ----------------------------------------------------------------------------------

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def missing_tools() -> list[str]:
    return [path for path in (NGINX, KNOTD, BLACKBOX) if not os.access(path, os.X_OK)]


@contextlib.contextmanager
def fleet(names: int, keep: bool = False) -> Iterator[Fleet]:
    workdir = Path(tempfile.mkdtemp(prefix="sslfault-bench-"))
    workdir.chmod(0o755)
    world = Fleet(names, workdir)
    try:
        world.start()
        yield world
    finally:
        world.stop()
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
