"""Operator features: /probe (not an open proxy), web config (TLS, basic auth), auto reload."""

from __future__ import annotations

import base64
import json
import re
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import bcrypt
import pytest
import yaml

from sslfault_lab.demo import lab_config_dict
from sslfault_lab.lab import Lab
from tests.support.processes import ROOT, http_get, start_exporter, stop_process, wait_for


@pytest.fixture(scope="module")
def exporter_url(lab: Lab, tmp_path_factory: pytest.TempPathFactory):
    workdir = tmp_path_factory.mktemp("operator")
    config = lab_config_dict(lab, interval="10m", timeout="3s")
    config["targets"] = [t for t in config["targets"] if t["name"] in ("ok", "leaf-only")]
    config["probe"] = {"allow_hosts": ["expired.lab.test", "refused.*.test"], "max_concurrent": 2}
    proc, base = start_exporter(config, workdir, extra_args=("--config.auto-reload-interval", "0.3s"))
    try:
        wait_for(lambda: http_get(f"{base}/-/ready")[0] == 200, 30, "exporter ready")
        yield base, workdir, config
    finally:
        stop_process(proc)


def test_probe_configured_target_json(lab: Lab, exporter_url) -> None:
    base, _, _ = exporter_url
    status, body = http_get(f"{base}/probe?target=leaf-only.lab.test")
    assert status == 200, body
    report = json.loads(body)
    assert [f["id"] for f in report["faults"]] == ["chain_incomplete"]
    assert report["addresses"] == list(lab.scenarios["leaf-only"].addresses)


def test_probe_prometheus_format(exporter_url) -> None:
    base, _, _ = exporter_url
    status, body = http_get(f"{base}/probe?target=leaf-only.lab.test&format=prometheus")
    assert status == 200
    assert re.search(r'sslfault_fault\{address="127[.0-9]+",fault="chain_incomplete",severity="critical",'
                     r'target="leaf-only"\} 1.0', body)
    assert "sslfault_build_info" not in body
    # blackbox_exporter-style verdict and timing: a critical fault means the probe did not succeed.
    assert "\nsslfault_probe_success 0\n" in body
    duration = float(re.search(r"\nsslfault_probe_duration_seconds ([0-9.]+)\n", body).group(1))
    assert 0 < duration < 30
    _, healthy = http_get(f"{base}/probe?target=ok.lab.test&format=prometheus")
    assert "\nsslfault_probe_success 1\n" in healthy


def test_metrics_carry_process_and_python_collectors(exporter_url) -> None:
    base, _, _ = exporter_url
    _, body = http_get(f"{base}/metrics")
    for family in ("process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds",
                   "python_info", "python_gc_objects_collected_total"):
        assert f"\n{family}" in body, family
    promtool = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, text=True, timeout=30)
    assert promtool.returncode == 0, promtool.stdout + promtool.stderr


@pytest.mark.parametrize(
    ("query", "status", "words"),
    [
        ("target=evil.example.org", 403, "not a configured target"),
        ("target=169.254.169.254", 403, "not a configured target"),
        ("target=expired.lab.test", 403, "private or loopback"),  # allowed by pattern, but resolves to 127.x
        ("", 400, "missing ?target"),
        ("target=ok.lab.test&port=x", 400, "port must be a number"),
        ("target=ok.lab.test&format=xml", 400, "format must be"),
    ],
)
def test_probe_refuses(exporter_url, query: str, status: int, words: str) -> None:
    base, _, _ = exporter_url
    got, body = http_get(f"{base}/probe?{query}")
    assert got == status and words in json.loads(body)["error"], body


def test_auto_reload_adds_and_keeps_targets(exporter_url) -> None:
    base, workdir, config = exporter_url
    new = dict(config, targets=config["targets"] + [{"host": "expired.lab.test", "port": config["targets"][0]["port"],
                                                       "name": "expired"}])
    (workdir / "sslfault.yaml").write_text(yaml.safe_dump(new))
    wait_for(lambda: 'fault="cert_expired",severity="critical",target="expired"' in http_get(f"{base}/metrics")[1],
             15, "the added target to be probed after an automatic reload")
    assert 'target="leaf-only"' in http_get(f"{base}/metrics")[1]
    (workdir / "sslfault.yaml").write_text("targets: [{host: 'bad host'}]\n")
    wait_for(lambda: "sslfault_config_last_reload_successful 0.0" in http_get(f"{base}/metrics")[1], 10,
             "a broken file to be rejected")
    assert 'target="expired"' in http_get(f"{base}/metrics")[1]


def _make_tls_files(lab: Lab, workdir: Path) -> tuple[str, str]:
    issued = lab.pki.issue_leaf(["127.0.0.1", "localhost"])
    cert, key = workdir / "web.crt", workdir / "web.key"
    cert.write_bytes(issued.cert_pem + lab.pki.ecc_intermediate.cert_pem)
    key.write_bytes(issued.key_pem)
    return str(cert), str(key)


def test_web_config_tls_and_basic_auth(lab: Lab, tmp_path: Path) -> None:
    cert, key = _make_tls_files(lab, tmp_path)
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()
    web = tmp_path / "web.yml"
    web.write_text(yaml.safe_dump({"tls_server_config": {"cert_file": cert, "key_file": key},
                                   "basic_auth_users": {"prometheus": hashed}}))
    config = lab_config_dict(lab, interval="10m")
    config["targets"] = config["targets"][:1]
    proc, base = start_exporter(config, tmp_path, extra_args=("--web.config.file", str(web)), scheme="https")
    ctx = ssl.create_default_context(cafile=lab.root_ca_file)

    def get(path: str, password: str | None) -> int:
        request = urllib.request.Request(base + path)
        if password is not None:
            token = base64.b64encode(f"prometheus:{password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, context=ctx, timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return 0

    try:
        wait_for(lambda: get("/-/healthy", "s3cret") == 200, 20, "TLS exporter up")
        assert get("/metrics", None) == 401
        assert get("/metrics", "wrong") == 401
        assert get("/metrics", "s3cret") == 200
        assert get("/probe?target=x", None) == 401
        # Plain HTTP is not served on the TLS port.
        assert http_get(base.replace("https", "http") + "/metrics")[0] != 200
    finally:
        stop_process(proc)


@pytest.mark.parametrize(
    ("web", "words"),
    [
        ({"basic_auth_users": {"u": "plaintext"}}, "expected a bcrypt hash"),
        ({"tls_server_config": {"cert_file": "/nonexistent.crt", "key_file": "/nonexistent.key"}}, "does not exist"),
        ({"tls_sever_config": {}}, "Extra inputs are not permitted"),
    ],
)
def test_bad_web_config_refuses_to_start(tmp_path: Path, web: dict, words: str) -> None:
    (tmp_path / "web.yml").write_text(yaml.safe_dump(web))
    (tmp_path / "c.yml").write_text("targets: []\n")
    proc = subprocess.run([sys.executable, "-m", "exporter", "serve", "--config.file", str(tmp_path / "c.yml"),
                           "--web.config.file", str(tmp_path / "web.yml")],
                          capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert proc.returncode == 2 and words in proc.stderr, proc.stderr


def test_check_command_summary_json_csv_and_exit_code(lab: Lab, tmp_path: Path) -> None:
    config = lab_config_dict(lab, timeout="3s")
    config["targets"] = [t for t in config["targets"] if t["name"] in ("ok", "expiring", "leaf-only", "refused")]
    (tmp_path / "c.yml").write_text(yaml.safe_dump(config))
    proc = subprocess.run([sys.executable, "-m", "exporter", "check", "--config.file", str(tmp_path / "c.yml"),
                           "--json", str(tmp_path / "out.json"), "--csv", str(tmp_path / "out.csv")],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # leaf-only and refused are critical
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["TARGET", "WORST", "DAYS", "LEFT", "FAULTS"]
    order = [line.split()[0] for line in lines[1:]]
    assert order[-1] == "ok" and order.index("expiring") > order.index("leaf-only")
    assert "[4/4]" in proc.stderr  # plain progress lines when stderr is not a terminal
    data = json.loads((tmp_path / "out.json").read_text())
    by_name = {t["name"]: t for t in data["targets"]}
    assert by_name["expiring"]["status"] == "warning" and 4 < by_name["expiring"]["days_to_expiry"] < 6
    assert "tcp_connect_refused" in (tmp_path / "out.csv").read_text()
    healthy = dict(config, targets=[t for t in config["targets"] if t["name"] == "ok"])
    (tmp_path / "ok.yml").write_text(yaml.safe_dump(healthy))
    proc = subprocess.run([sys.executable, "-m", "exporter", "check", "--config.file", str(tmp_path / "ok.yml")],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _client_cert(lab: Lab, workdir: Path) -> tuple[str, str]:
    """A client certificate (clientAuth) from the lab's ECC intermediate, chain included."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    from sslfault_lab.pki import new_key

    issuer = lab.pki.ecc_intermediate
    key = new_key("ec")
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "prometheus")]))
            .issuer_name(issuer.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(issuer.key, hashes.SHA256()))
    from sslfault_lab.pki import Issued

    issued = Issued(cert, key)
    cert_file, key_file = workdir / "client.crt", workdir / "client.key"
    cert_file.write_bytes(issued.cert_pem + issuer.cert_pem)
    key_file.write_bytes(issued.key_pem)
    return str(cert_file), str(key_file)


def test_web_config_mutual_tls(lab: Lab, tmp_path: Path) -> None:
    cert, key = _make_tls_files(lab, tmp_path)
    client_cert, client_key = _client_cert(lab, tmp_path)
    web = tmp_path / "web.yml"
    web.write_text(yaml.safe_dump({"tls_server_config": {
        "cert_file": cert, "key_file": key, "client_auth_type": "RequireAndVerifyClientCert",
        "client_ca_file": lab.root_ca_file, "min_version": "TLS13"}}))
    config = lab_config_dict(lab, interval="10m")
    config["targets"] = config["targets"][:1]
    proc, base = start_exporter(config, tmp_path, extra_args=("--web.config.file", str(web)), scheme="https")

    def get(with_client_cert: bool) -> int | str:
        ctx = ssl.create_default_context(cafile=lab.root_ca_file)
        if with_client_cert:
            ctx.load_cert_chain(client_cert, client_key)
        try:
            with urllib.request.urlopen(base + "/metrics", context=ctx, timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except (OSError, ssl.SSLError) as exc:
            return type(exc).__name__

    try:
        wait_for(lambda: get(True) == 200, 20, "mTLS exporter up")
        # TLS 1.3 reports a missing client certificate after the handshake, as a failed read.
        assert get(False) != 200
    finally:
        stop_process(proc)


def test_probe_accepts_blackbox_style_host_port(lab: Lab, exporter_url) -> None:
    base, _, _ = exporter_url
    scenario = lab.scenarios["leaf-only"]
    status, body = http_get(f"{base}/probe?target={scenario.host}:{scenario.port}")
    assert status == 200, body
    assert [f["id"] for f in json.loads(body)["faults"]] == ["chain_incomplete"]


def test_probe_takes_a_configured_target_by_its_name(exporter_url) -> None:
    """The `target` label an alert or the status page shows works as ?target= too."""
    base, _, _ = exporter_url
    status, body = http_get(f"{base}/probe?target=leaf-only")
    assert status == 200, body
    assert [f["id"] for f in json.loads(body)["faults"]] == ["chain_incomplete"]


def test_check_command_json_to_stdout_is_pure_json(lab: Lab, tmp_path: Path) -> None:
    config = lab_config_dict(lab, timeout="3s")
    config["targets"] = [t for t in config["targets"] if t["name"] in ("ok", "expired")]
    (tmp_path / "c.yml").write_text(yaml.safe_dump(config))
    proc = subprocess.run([sys.executable, "-m", "exporter", "check", "--config.file", str(tmp_path / "c.yml"),
                           "--json", "-"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 1
    assert {t["name"] for t in json.loads(proc.stdout)["targets"]} == {"ok", "expired"}
    assert "TARGET" in proc.stderr  # the table moved to stderr
