"""Interop: the lab's certificates served by a real nginx give the same chain and certificate faults.

nginx comes from Debian (installed by scripts/install-system-deps.sh when run as root) and is
started by the test on lab loopback addresses; the lab DNS is repointed at it.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.cli.diagnose import diagnose
from sslfault_lab.lab import Lab, LabThread
from tests.support.labs import config_for, run_async
from tests.support.processes import stop_process, wait_for

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx not installed (scripts/install-system-deps.sh as root)")

# Scenarios whose faults live in what the server sends (not in DNS or TCP behaviour).
SCENARIOS = [
    "ok", "ok-rsa", "leaf-only", "expired", "expiring", "not-yet-valid", "expired-intermediate", "wrong-host",
    "self-signed", "private-ca", "wrong-order", "with-anchor", "extra-certs", "long-lifetime", "weak-key",
    "sha1-intermediate",
]
FIRST_OCTET = 200


def _server_block(lab: Lab, name: str, index: int) -> str:
    scenario = lab.scenarios[name]
    return f"""
    server {{
        listen {lab.address(FIRST_OCTET + index)}:{lab.port} ssl;
        server_name {scenario.host};
        ssl_certificate {scenario.chain_file};
        ssl_certificate_key {scenario.key_file};
        # Allow the RSA-1024 leaf of weak-key to load, so it can be reported as weak.
        ssl_ciphers DEFAULT:@SECLEVEL=0;
        ssl_protocols TLSv1.2 TLSv1.3;  # Debian's nginx 1.22 also enables TLS 1.0/1.1 by default
        add_header Strict-Transport-Security "max-age=31536000" always;
        location / {{ return 200 "nginx\\n"; }}
    }}"""


@pytest.fixture(scope="module")
def nginx_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    workdir = tmp_path_factory.mktemp("nginx")
    thread = LabThread()
    lab = thread.start()
    servers = "".join(_server_block(lab, name, i) for i, name in enumerate(SCENARIOS))
    temp = " ".join(f"{kind}_temp_path {workdir}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = workdir / "nginx.conf"
    conf.write_text(f"""
daemon off;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    {temp}
    {servers}
}}
""")
    proc = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(workdir), "-e", str(workdir / "error.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for i, name in enumerate(SCENARIOS):
            thread.call_sync(lambda n=name, a=lab.address(FIRST_OCTET + i): lab.dns.update(  # noqa: B008 - bound now, on purpose
                lab.scenarios[n].host, [("A", 60, a)]))
        wait_for(lambda: proc.poll() is not None or (workdir / "nginx.pid").exists(), 10, "nginx to start")
        assert proc.poll() is None, (workdir / "error.log").read_text() if (workdir / "error.log").exists() else ""
        yield lab
    finally:
        stop_process(proc)
        thread.stop()


@pytest.mark.parametrize("name", SCENARIOS)
def test_nginx_serves_the_same_faults(nginx_lab: Lab, name: str) -> None:
    scenario = nginx_lab.scenarios[name]
    report = run_async(diagnose(config_for(nginx_lab, name)))
    nginx_address = nginx_lab.address(FIRST_OCTET + SCENARIOS.index(name))
    assert report["addresses"] == [nginx_address]
    assert {f["id"] for f in report["faults"]} == set(scenario.expected_faults), report["faults"]
    assert all(f["address"] in (None, nginx_address) for f in report["faults"])
