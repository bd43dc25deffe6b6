"""Real nginx serving private-CA and weak-crypto chains: each problem is its own fault id, nothing else.

A private CA whose basicConstraints are not critical, without keyUsage, with an AKI lacking a
keyIdentifier is trusted (OpenSSL, curl and browsers accept it): no fault. An expired leaf is
only cert_expired, a leaf without SAN only cert_hostname_mismatch, MD5 and SHA-1 signatures and
RSA-512 keys only cert_crypto_rejected (never also cert_untrusted). nginx serves the weak ones at
OpenSSL security level 0 (set through OPENSSL_CONF, so it applies when nginx loads the keys).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from exporter.cli.diagnose import diagnose
from exporter.config import Config
from tests.support.certmaker import Made, leaf, make
from tests.support.labs import run_async
from tests.support.processes import free_port, stop_process, wait_for

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx not installed (scripts/install-system-deps.sh as root)")

NOW = dt.datetime.now(dt.UTC)
DAY = dt.timedelta(days=1)
LIVE = {"not_before": NOW - 30 * DAY, "not_after": NOW + 60 * DAY}


@dataclass(frozen=True)
class Site:
    name: str
    address: str
    chain: tuple[Made, ...]  # leaf first, as served
    expected: frozenset[str]
    protocols: str = "TLSv1.2 TLSv1.3"


def _sites() -> tuple[list[Site], Made]:
    # A private CA as many companies run one: nothing critical, no keyUsage, AKI without keyIdentifier.
    root = make("Corp Private Root", key_kind="rsa2048", bc_critical=False, ku=None, **LIVE)
    issuing = make("Corp Issuing CA", root, key_kind="rsa2048", bc_critical=False, ku=None, aki="issuer_serial",
                   **LIVE)
    sha1_issuing = make("Corp SHA-1 Issuing CA", root, key_kind="rsa2048", hash_name="sha1", **LIVE)
    small_issuing = make("Corp RSA-512 Issuing CA", root, key_kind="rsa512", **LIVE)
    sites = []

    def site(name: str, expected: set[str], *cas: Made, protocols: str = "TLSv1.2 TLSv1.3", **leaf_kw: object) -> None:
        address = f"127.77.0.{len(sites) + 10}"
        options = {**LIVE, "sans": (address,), **leaf_kw}
        end = leaf(f"{name}.corp.test", cas[0] if cas else root, **options)
        sites.append(Site(name, address, (end, *cas), frozenset(expected), protocols))

    site("private-ca-profile", set(), issuing)
    site("expired", {"cert_expired"}, issuing, not_before=NOW - 100 * DAY, not_after=NOW - DAY)
    site("no-san", {"cert_hostname_mismatch"}, issuing, sans=())
    site("md5-leaf", {"cert_crypto_rejected"}, issuing, key_kind="rsa2048", hash_name="md5")
    site("sha1-intermediate", {"cert_crypto_rejected"}, sha1_issuing)
    # RSA-512 cannot make the RSA-PSS signatures TLS 1.3 needs: the capture falls back to TLS 1.2.
    site("rsa512-leaf", {"cert_crypto_rejected"}, issuing, key_kind="rsa512")  # TLS 1.3 fails; 1.2 serves it
    site("rsa512-intermediate", {"cert_crypto_rejected"}, small_issuing)
    return sites, root


@pytest.fixture(scope="module")
def nginx_sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[Site], Path, int]]:
    workdir = tmp_path_factory.mktemp("nginx-pki")
    sites, root = _sites()
    (workdir / "root.pem").write_bytes(root.pem)
    port = free_port()
    blocks = []
    for site in sites:
        (workdir / f"{site.name}.pem").write_bytes(b"".join(m.pem for m in site.chain))
        (workdir / f"{site.name}.key").write_bytes(site.chain[0].key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        blocks.append(f"""
    server {{
        listen {site.address}:{port} ssl;
        ssl_certificate {workdir}/{site.name}.pem;
        ssl_certificate_key {workdir}/{site.name}.key;
        ssl_ciphers DEFAULT:@SECLEVEL=0;
        ssl_protocols {site.protocols};
        location / {{ return 200 "ok\\n"; }}
    }}""")
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    temp = " ".join(f"{kind}_temp_path {workdir}/{kind};" for kind in kinds)
    (workdir / "nginx.conf").write_text(f"""
daemon off;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    {temp}
    {"".join(blocks)}
}}
""")
    # Security level 0 from the start: nginx checks key and signature strength when it loads them.
    (workdir / "openssl.cnf").write_text("openssl_conf = init\n[init]\nssl_conf = ssl\n[ssl]\n"
                                         "system_default = tls\n[tls]\nCipherString = DEFAULT:@SECLEVEL=0\n")
    env = {**os.environ, "OPENSSL_CONF": str(workdir / "openssl.cnf")}
    proc = subprocess.Popen([str(NGINX), "-c", str(workdir / "nginx.conf"), "-p", str(workdir), "-e",
                             str(workdir / "error.log")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        wait_for(lambda: proc.poll() is not None or (workdir / "nginx.pid").exists(), 10, "nginx to start")
        assert proc.poll() is None, (workdir / "error.log").read_text() if (workdir / "error.log").exists() else ""
        yield sites, workdir, port
    finally:
        stop_process(proc)


def _config(site: Site, workdir: Path, port: int, **defaults: object) -> Config:
    return Config.model_validate({
        "defaults": {"timeout": "5s", **defaults},
        "trust": {"use_system": False, "ca_files": [str(workdir / "root.pem")]},
        "targets": [{"host": site.address, "port": port, "checks": ["reachability", "tls", "chain"]}],
    })


@pytest.mark.parametrize("name", ["private-ca-profile", "expired", "no-san", "md5-leaf", "sha1-intermediate",
                                  "rsa512-leaf", "rsa512-intermediate"])
def test_each_problem_is_its_own_fault(nginx_sites: tuple[list[Site], Path, int], name: str) -> None:
    sites, workdir, port = nginx_sites
    site = next(s for s in sites if s.name == name)
    report = run_async(diagnose(_config(site, workdir, port)))
    assert all(c["status"] == "ok" for c in report["checks"].values()), report["checks"]
    assert {f["id"] for f in report["faults"]} == site.expected, report["faults"]


def test_private_ca_lifetime_only_against_the_operators_cap(nginx_sites: tuple[list[Site], Path, int]) -> None:
    """The leaf lives 90 days: over a 30-day cap set for the private CA, under the (absent) default."""
    sites, workdir, port = nginx_sites
    site = next(s for s in sites if s.name == "private-ca-profile")
    capped = run_async(diagnose(_config(site, workdir, port, private_ca_max_lifetime_days=30)))
    assert {f["id"] for f in capped["faults"]} == {"cert_lifetime_exceeds_policy"}, capped["faults"]
