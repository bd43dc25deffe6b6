"""`sslfault lint-cert` command line: exit codes, JSON/text reports, --fix, passwords, no key material."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from exporter.certfiles import lint_files
from exporter.cli.lint_cert import main
from sslfault_lab.pki import Issued, LabPKI


@pytest.fixture()
def root(pki: LabPKI, tmp_path: Path) -> str:
    path = tmp_path / "lab-root.pem"
    path.write_bytes(pki.root_pem)
    return str(path)


def write(tmp: Path, name: str, data: bytes) -> str:
    (tmp / name).write_bytes(data)
    return str(tmp / name)


def lint_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    code = main(["lint-cert", *argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_good_file_exits_0(pki: LabPKI, leaf: Issued, tmp_path: Path, root: str,
                           capsys: pytest.CaptureFixture[str]) -> None:
    cert = write(tmp_path, "fullchain.pem", leaf.cert_pem + pki.ecc_intermediate.cert_pem)
    key = write(tmp_path, "privkey.pem", leaf.key_pem)
    assert main(["lint-cert", cert, "--key", key, "--ca-file", root]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"file:{cert}  [-]") and "No faults found." in out


def test_json_report_format(pki: LabPKI, leaf: Issued, tmp_path: Path, root: str,
                            capsys: pytest.CaptureFixture[str]) -> None:
    cert = write(tmp_path, "cert.pem", pki.ecc_intermediate.cert_pem + leaf.cert_pem)
    code, report = lint_json(capsys, cert, "--ca-file", root)
    assert code == 0  # a warning only
    assert report["target"] == f"file:{cert}" and report["port"] is None and report["addresses"] == []
    assert report["checks"] == {"cert_files": {"status": "ok", "duration_seconds": report["checks"]["cert_files"]
                                               ["duration_seconds"]}}
    [fault] = report["faults"]
    assert fault["id"] == "cert_file_wrong_order" and fault["severity"] == "warning" and fault["section"] == "S5"
    assert fault["data"] == {"file": cert, "line": 1} and fault["remedy"]["zh"]
    assert report["certificates"][0]["subject"].startswith("CN=www.lab.test")


def test_critical_exits_1_and_combined_target(pki: LabPKI, leaf: Issued, tmp_path: Path, root: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    other = pki.issue_leaf(["other.lab.test"])
    cert = write(tmp_path, "cert.pem", leaf.cert_pem)
    chain = write(tmp_path, "chain.pem", pki.ecc_intermediate.cert_pem)
    key = write(tmp_path, "key.pem", other.key_pem)
    code, report = lint_json(capsys, cert, chain, key, "--ca-file", root)
    assert code == 1
    assert report["target"] == f"file:{cert},{chain},{key}"
    assert [(f["id"], f["data"]["line"]) for f in report["faults"]] == [("cert_file_key_mismatch", 1)]


def test_chinese_text_report(pki: LabPKI, leaf: Issued, tmp_path: Path, root: str,
                             capsys: pytest.CaptureFixture[str]) -> None:
    cert = write(tmp_path, "cert.pem", leaf.cert_pem)
    assert main(["lint-cert", cert, "--ca-file", root, "--lang", "zh"]) == 0
    out = capsys.readouterr().out
    assert "警告  cert_file_chain_incomplete" in out and "处理办法" in out
    assert "ecc-intermediate.p7c" in out and f"{cert}, line 1" in out


@pytest.mark.parametrize("extra", [["--key", "nope.key"], ["--ca-file", "nope.pem"], ["--password-file", "nope"]])
def test_usage_errors_exit_2(leaf: Issued, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                             extra: list[str]) -> None:
    cert = write(tmp_path, "cert.pem", leaf.cert_pem)
    assert main(["lint-cert", str(tmp_path / "missing.pem")]) == 2
    assert "missing.pem: no such file" in capsys.readouterr().err
    assert main(["lint-cert", cert, *[str(tmp_path / a) if a.startswith("nope") else a for a in extra]]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["lint-cert"]) == 2  # argparse: FILE is required
    assert main(["lint-cert", cert, "--password", "x"]) == 2  # no password on the command line, ever


def test_bad_ca_file_exits_2(leaf: Issued, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cert = write(tmp_path, "cert.pem", leaf.cert_pem)
    bad = write(tmp_path, "ca.pem", b"not a certificate\n")
    assert main(["lint-cert", cert, "--ca-file", bad]) == 2
    assert "no readable certificate" in capsys.readouterr().err


def _pfx(pki: LabPKI, password: bytes) -> tuple[Issued, bytes]:
    item = pki.issue_leaf(["iis.lab.test"], issuer=pki.rsa_intermediate, key_type="rsa")
    encryption = (serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(2000)
                  .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC).hmac_hash(hashes.SHA1())
                  .build(password))
    return item, pkcs12.serialize_key_and_certificates(b"iis", item.key, item.cert, [pki.rsa_intermediate.cert],
                                                       encryption)


def test_pfx_password_from_file_and_env(pki: LabPKI, tmp_path: Path, root: str, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    _, data = _pfx(pki, b"s3cret")
    pfx = write(tmp_path, "site.pfx", data)
    assert main(["lint-cert", pfx, "--ca-file", root]) == 1  # no password: cannot open
    assert "--password-file" in capsys.readouterr().out
    secret = write(tmp_path, "pw.txt", b"s3cret\r\n")  # Notepad-style line ending is not part of it
    assert main(["lint-cert", pfx, "--ca-file", root, "--password-file", secret]) == 0
    monkeypatch.setenv("SSLFAULT_PFX_PASSWORD", "s3cret")
    assert main(["lint-cert", pfx, "--ca-file", root]) == 0
    assert "s3cret" not in capsys.readouterr().out


def test_fix_writes_normalised_copy(pki: LabPKI, leaf: Issued, tmp_path: Path, root: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    messy = (b"\xef\xbb\xbf" + pki.root_pem + pki.ecc_intermediate.cert_pem.replace(b"\n", b"\r\n")
             + leaf.cert_pem.replace(b"\n", b"  \n") + leaf.key_pem)
    original = write(tmp_path, "site.pem", messy)
    assert main(["lint-cert", original, "--ca-file", root, "--fix"]) == 0
    out = capsys.readouterr().out
    fixed = tmp_path / "site.fixed.pem"
    assert f"Wrote a normalised copy: {fixed}" in out and "private key was not copied" in out
    assert fixed.read_bytes() == leaf.cert_pem + pki.ecc_intermediate.cert_pem  # leaf first, no root, no key
    assert (tmp_path / "site.pem").read_bytes() == messy  # the original is untouched
    assert lint_files([str(fixed)], ca_file=root, use_system_roots=False, now=pki.now).findings == ()
    code, report = lint_json(capsys, original, "--ca-file", root, "--fix")  # never overwrite: a numbered name
    assert report["fixed_file"] == str(tmp_path / "site.fixed.1.pem") and fixed.read_bytes().startswith(b"-----")


def test_fix_from_pfx_and_without_certificates(pki: LabPKI, tmp_path: Path, root: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    item, data = _pfx(pki, b"pw")
    pfx = write(tmp_path, "site.pfx", data)
    pw = write(tmp_path, "pw", b"pw")
    assert main(["lint-cert", pfx, "--password-file", pw, "--ca-file", root, "--fix"]) == 0
    assert (tmp_path / "site.fixed.pem").read_bytes() == item.cert_pem + pki.rsa_intermediate.cert_pem
    junk = write(tmp_path, "junk.pem", b"nothing here\n")
    assert main(["lint-cert", junk, "--fix"]) == 1
    assert "Could not write a fixed copy" in capsys.readouterr().out
    assert not (tmp_path / "junk.fixed.pem").exists()


def _key_fragments(key_pem: bytes) -> set[str]:
    """Every 16-character window of the key's base64, and of its DER in hex."""
    body = "".join(key_pem.decode().splitlines()[1:-1])
    hexed = base64.b64decode(body).hex()
    return {text[i:i + 16] for text in (body, hexed) for i in range(0, len(text) - 16, 4)}


def test_key_material_never_printed(pki: LabPKI, leaf: Issued, tmp_path: Path, root: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    other = pki.issue_leaf(["other.lab.test"], issuer=pki.rsa_intermediate, key_type="rsa")
    lines = other.key_pem.split(b"\n")
    damaged_key = b"\n".join(lines[:3] + [lines[3][:10] + b"!" + lines[3][11:], lines[4] + b"  "] + lines[5:])
    encrypted = other.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.BestAvailableEncryption(b"pw"))
    files = [write(tmp_path, "all.pem", leaf.cert_pem + other.key_pem),  # mismatched key in the cert file
             write(tmp_path, "damaged.key", damaged_key),
             write(tmp_path, "enc.key", encrypted),
             write(tmp_path, "key.pem", other.key_pem)]
    outputs = []
    for args in (files[:1], [files[0], "--key", files[1]], [files[0], "--key", files[2]],
                 [files[3]], [files[0], "--key", files[3], "--fix"]):
        for fmt in ([], ["--json"], ["--lang", "zh"]):
            main(["lint-cert", *args, "--ca-file", root, *fmt])
            captured = capsys.readouterr()
            outputs.append(captured.out + captured.err)
    fixed = [p.read_text() for p in tmp_path.glob("*.fixed*.pem")]
    assert fixed and all("PRIVATE KEY" not in text for text in fixed)
    text = "\n".join(outputs + fixed)
    assert "cert_file_key_mismatch" in text and "cert_file_invalid_pem" in text
    leaked = {fragment for fragment in _key_fragments(other.key_pem) if fragment in text}
    assert not leaked
