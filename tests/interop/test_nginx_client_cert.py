"""Interop: nginx with `ssl_verify_client on` (the case that was diagnosed as https_status_mismatch).

Over HTTPS without a client certificate nginx completes the handshake and answers 400 ("No required
SSL certificate was sent") while plain HTTP redirects to HTTPS: the exporter must report
tls_client_cert_required and leave the HTTP layer "could not judge"; with the target's client
certificate configured, everything is judged and nothing is wrong.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from exporter.cli.diagnose import diagnose
from exporter.config import Config
from sslfault_lab.demo import lab_config_dict
from sslfault_lab.lab import Lab, LabThread
from sslfault_lab.tls_configs import ClientIdentity, client_identity
from tests.support.labs import run_async
from tests.support.processes import free_port, stop_process, wait_for

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx not installed (scripts/install-system-deps.sh as root)")
OCTET = 230
CHECKS = ["reachability", "tls", "chain", "http", "mixed_content"]


@dataclass(frozen=True)
class Site:
    lab: Lab
    host: str
    http_port: int
    client: ClientIdentity

    def config(self, **target: Any) -> Config:
        data = lab_config_dict(self.lab)
        data["targets"] = [{"host": self.host, "port": self.lab.port, "http_port": self.http_port, "checks": CHECKS,
                            **target}]
        return Config.model_validate(data)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    workdir = tmp_path_factory.mktemp("nginx-client-cert")
    thread = LabThread(specs=())
    lab = thread.start()
    host, address, http_port = lab.host("mtls"), lab.address(OCTET), free_port()
    leaf = lab.pki.issue_leaf([host], issuer=lab.pki.rsa_intermediate, key_type="rsa")
    (workdir / "chain.pem").write_bytes(leaf.cert_pem + lab.pki.rsa_intermediate.cert_pem)
    (workdir / "key.pem").write_bytes(leaf.key_pem)
    client = client_identity(workdir, lab.pki.now)
    temp = " ".join(f"{kind}_temp_path {workdir}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (workdir / "nginx.conf").write_text(f"""
daemon off;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    {temp}
    server {{
        listen {address}:{lab.port} ssl;
        server_name {host};
        ssl_certificate {workdir}/chain.pem;
        ssl_certificate_key {workdir}/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_client_certificate {client.ca_file};
        ssl_verify_client on;
        add_header Strict-Transport-Security "max-age=31536000" always;
        location / {{ default_type text/html; return 200 "<!doctype html><title>mtls</title><p>hello</p>"; }}
    }}
    server {{
        listen {address}:{http_port};
        server_name {host};
        location / {{ return 301 https://{host}:{lab.port}$request_uri; }}
    }}
}}
""")
    proc = subprocess.Popen([NGINX, "-c", str(workdir / "nginx.conf"), "-p", str(workdir), "-e",
                             str(workdir / "error.log")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        thread.call_sync(lambda: lab.dns.update(host, [("A", 60, address)]))
        wait_for(lambda: proc.poll() is not None or (workdir / "nginx.pid").exists(), 10, "nginx to start")
        assert proc.poll() is None, (workdir / "error.log").read_text() if (workdir / "error.log").exists() else ""
        yield Site(lab, host, http_port, client)
    finally:
        stop_process(proc)
        thread.stop()


def test_without_a_client_certificate_the_http_layer_cannot_judge(site: Site) -> None:
    report = run_async(diagnose(site.config()))
    assert {f["id"] for f in report["faults"]} == {"tls_client_cert_required"}, report["faults"]
    for check in ("http", "mixed_content"):
        assert (report["checks"][check]["status"], report["checks"][check]["error"]) == ("error", "client_cert")
    assert {report["checks"][c]["status"] for c in ("reachability", "tls", "chain")} == {"ok"}


def test_with_the_client_certificate_everything_is_judged(site: Site) -> None:
    report = run_async(diagnose(site.config(client_cert=site.client.cert_file, client_key=site.client.key_file)))
    assert report["faults"] == [], report["faults"]
    assert {c["status"] for c in report["checks"].values()} == {"ok"}, report["checks"]
