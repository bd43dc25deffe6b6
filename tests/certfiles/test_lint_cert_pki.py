"""lint-cert on the one PKI engine, and issue 11 section 5: glued PEM blocks, quiet Mozilla roots,
a key-file remedy about the key, and --fail-on for CI."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from exporter.certfiles import lint_files
from exporter.cli.lint_cert import main
from exporter.pki.certinfo import serial_of
from exporter.pki.roots import system_roots
from sslfault_lab.pki import Issued, LabPKI
from tests.support.certmaker import leaf as make_leaf
from tests.support.certmaker import make
from tests.support.processes import ROOT

NOW = dt.datetime.now(dt.UTC)
LIVE = {"not_before": NOW - dt.timedelta(days=10), "not_after": NOW + dt.timedelta(days=80)}


@pytest.fixture()
def root(pki: LabPKI, tmp_path: Path) -> str:
    path = tmp_path / "lab-root.pem"
    path.write_bytes(pki.root_pem)
    return str(path)


def _write(tmp: Path, name: str, data: bytes) -> str:
    (tmp / name).write_bytes(data)
    return str(tmp / name)


def test_private_ca_without_keyusage_complete_chain_is_clean(tmp_path: Path) -> None:
    """The daemon and lint-cert share the engine: a complete private chain is not "incomplete"."""
    ca_root = make("Files Private Root", ku=None, bc_critical=False, **LIVE)
    issuing = make("Files Issuing CA", ca_root, ku=None, bc_critical=False, aki="issuer_serial", **LIVE)
    end = make_leaf("files.corp.test", issuing, **LIVE)
    chain = _write(tmp_path, "fullchain.pem", end.pem + issuing.pem)
    ca_file = _write(tmp_path, "root.pem", ca_root.pem)
    result = lint_files([chain], ca_file=ca_file, use_system_roots=False)
    assert result.findings == ()
    assert main(["lint-cert", chain, "--ca-file", ca_file, "--fail-on", "warning"]) == 0


def test_sha1_intermediate_is_crypto_rejected_not_incomplete(pki: LabPKI, root: str, tmp_path: Path) -> None:
    end = pki.issue_leaf(["sha1.lab.test"], issuer=pki.sha1_intermediate)
    chain = _write(tmp_path, "fullchain.pem", end.cert_pem + pki.sha1_intermediate.cert_pem)
    result = lint_files([chain], ca_file=root, use_system_roots=False, now=pki.now)
    assert [f.fault for f in result.findings] == ["cert_crypto_rejected"]
    assert main(["lint-cert", chain, "--ca-file", root]) == 1


def test_fix_recovers_blocks_glued_without_a_line_break(pki: LabPKI, leaf: Issued, root: str, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    glued = leaf.cert_pem.rstrip(b"\n") + pki.ecc_intermediate.cert_pem  # ...END CERTIFICATE----------BEGIN...
    assert b"-----END CERTIFICATE----------BEGIN CERTIFICATE-----" in glued
    original = _write(tmp_path, "glued.pem", glued)
    result = lint_files([original], ca_file=root, use_system_roots=False, now=pki.now)
    assert [f.fault for f in result.findings] == ["cert_file_invalid_pem"]
    assert "--fix" in result.findings[0].detail and len(result.certificates) == 2
    assert main(["lint-cert", original, "--ca-file", root, "--fix"]) == 1  # the original is broken (critical)
    fixed = tmp_path / "glued.fixed.pem"
    assert fixed.read_bytes() == leaf.cert_pem + pki.ecc_intermediate.cert_pem
    capsys.readouterr()
    assert main(["lint-cert", str(fixed), "--ca-file", root, "--fail-on", "warning"]) == 0


def test_mozilla_roots_with_negative_serials_print_no_warnings(tmp_path: Path) -> None:
    odd = [c for c in system_roots() if serial_of(c) <= 0]
    assert odd, "certifi no longer ships a root with a non-positive serial; pick another sample"
    bundle = tmp_path / "odd-roots.pem"
    from cryptography.hazmat.primitives.serialization import Encoding
    bundle.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in odd))
    import certifi

    for target in (str(bundle), certifi.where()):
        done = subprocess.run([sys.executable, "-W", "default", "-m", "exporter", "lint-cert", target, "--json"],
                              capture_output=True, text=True, cwd=ROOT, timeout=120,
                              env={**os.environ, "PYTHONWARNINGS": "default"})
        assert done.returncode in (0, 1), done.stderr
        assert done.stderr == "", done.stderr


def test_bad_key_file_fix_line_speaks_about_the_key(pki: LabPKI, leaf: Issued, root: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    cert = _write(tmp_path, "fullchain.pem", leaf.cert_pem + pki.ecc_intermediate.cert_pem)
    for bad in (b"not a key at all\n", leaf.cert_pem):  # garbage, and a certificate given as the key
        key = _write(tmp_path, "bad.key", bad)
        assert main(["lint-cert", cert, "--key", key, "--ca-file", root]) == 1
        out = capsys.readouterr().out
        fix = [line.strip() for line in out.splitlines() if line.strip().startswith("Fix:")]
        assert fix and all("private key" in line and "--key" in line for line in fix), out
        assert not any("Supply the certificate" in line for line in fix), out


def test_fail_on_warning_gates_a_missing_intermediate(leaf: Issued, root: str, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    leaf_only = _write(tmp_path, "cert.pem", leaf.cert_pem)  # cert_file_chain_incomplete: a warning
    assert main(["lint-cert", leaf_only, "--ca-file", root]) == 0
    assert main(["lint-cert", leaf_only, "--ca-file", root, "--fail-on", "critical"]) == 0
    assert main(["lint-cert", leaf_only, "--ca-file", root, "--fail-on", "warning"]) == 1
    assert main(["lint-cert", leaf_only, "--fail-on", "info"]) == 2  # not a choice: usage error
    assert "cert_file_chain_incomplete" in capsys.readouterr().out
