"""lint-cert corpus, part 1: PEM structure (cert_file_invalid_pem) and whitespace (cert_file_whitespace).

Every broken file is made here from a freshly generated lab PKI; each test asserts
the exact fault id and the line where it applies.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from exporter.certfiles import lint_files
from sslfault_lab.pki import Issued, LabPKI
from tests.support.certfiles import faults, height, lint_upload

INVALID, WHITESPACE = "cert_file_invalid_pem", "cert_file_whitespace"


def edit(pem: bytes, line: int, change: Callable[[bytes], bytes]) -> bytes:
    """Apply `change` to 1-based line `line` of a PEM text."""
    lines = pem.split(b"\n")
    lines[line - 1] = change(lines[line - 1])
    return b"\n".join(lines)


def chain(pki: LabPKI, leaf: Issued) -> bytes:
    return leaf.cert_pem + pki.ecc_intermediate.cert_pem


# -- good files ------------------------------------------------------------------------


def test_good_fullchain_has_no_fault(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    result = lint_upload(pki, tmp_path, {"fullchain.pem": chain(pki, leaf)}, key=leaf.key_pem)
    assert faults(result) == []
    assert [c.subject for c in result.certificates][0] == "CN=www.lab.test,O=SSL Fault Lab"


def test_good_all_in_one_any_order_with_root_and_crlf(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    bundle = leaf.key_pem + chain(pki, leaf) + pki.root_pem
    assert faults(lint_upload(pki, tmp_path, {"all.pem": bundle})) == []
    assert faults(lint_upload(pki, tmp_path, {"crlf.pem": bundle.replace(b"\n", b"\r\n")})) == []  # CRLF alone is fine


def test_explanatory_text_outside_blocks_is_allowed(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    text = b"subject=CN = www.lab.test\nissuer=CN = x\n" + leaf.cert_pem + b"\n\n" + pki.ecc_intermediate.cert_pem
    assert faults(lint_upload(pki, tmp_path, {"openssl-out.pem": text})) == []


# -- cert_file_invalid_pem -------------------------------------------------------------------


def test_empty_file(pki: LabPKI, tmp_path: Path) -> None:
    assert faults(lint_upload(pki, tmp_path, {"empty.pem": b"\n  \n"})) == [(INVALID, None)]


def test_no_pem_block(pki: LabPKI, tmp_path: Path) -> None:
    result = lint_upload(pki, tmp_path, {"notes.txt": b"please find the certificate attached\n"})
    assert faults(result) == [(INVALID, None)]
    assert "no PEM block" in result.findings[0].detail


def test_base64_without_markers(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    body = b"\n".join(leaf.cert_pem.splitlines()[1:-1]) + b"\n"
    result = lint_upload(pki, tmp_path, {"body.pem": body})
    assert faults(result) == [(INVALID, 1)]
    assert "without its `-----BEGIN CERTIFICATE-----`" in result.findings[0].detail


@pytest.mark.parametrize("marker", [b"----BEGIN CERTIFICATE-----", b"-----begin certificate-----",
                                    b"----- BEGIN CERTIFICATE -----", b"-----BEGIN CERTIFICATE----"])
def test_broken_begin_marker(pki: LabPKI, leaf: Issued, tmp_path: Path, marker: bytes) -> None:
    result = lint_upload(pki, tmp_path, {"cert.pem": edit(chain(pki, leaf), 1, lambda _: marker)})
    assert faults(result) == [(INVALID, 1)]  # the certificate is still read, so the chain is judged fine
    assert "-----BEGIN CERTIFICATE-----" in result.findings[0].detail


def test_broken_end_marker(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    end = height(leaf.cert_pem)
    pem = edit(chain(pki, leaf), end, lambda _: b"-----END CERTIFICATE----")
    assert faults(lint_upload(pki, tmp_path, {"cert.pem": pem})) == [(INVALID, end)]


def test_missing_end_line(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    pem = leaf.cert_pem.replace(b"-----END CERTIFICATE-----\n", b"")
    result = lint_upload(pki, tmp_path, {"cert.pem": pem})
    assert faults(result) == [(INVALID, 1)]
    assert "no END line" in result.findings[0].detail


def test_missing_end_before_next_begin(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    pem = leaf.cert_pem.replace(b"-----END CERTIFICATE-----\n", b"") + pki.ecc_intermediate.cert_pem
    result = lint_upload(pki, tmp_path, {"cert.pem": pem})
    assert (INVALID, 1) in faults(result)
    assert f"before the next BEGIN at line {height(leaf.cert_pem)}" in result.findings[0].detail


def test_end_without_begin(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    pem = edit(chain(pki, leaf), height(leaf.cert_pem) + 1, lambda _: b"")  # the intermediate's BEGIN is gone
    found = faults(lint_upload(pki, tmp_path, {"cert.pem": pem}))
    assert found[0] == (INVALID, height(chain(pki, leaf)))


def test_mismatched_markers(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    pem = edit(leaf.cert_pem, height(leaf.cert_pem), lambda _: b"-----END RSA PRIVATE KEY-----")
    result = lint_upload(pki, tmp_path, {"cert.pem": pem})
    assert faults(result) == [(INVALID, height(leaf.cert_pem))]
    assert "does not match BEGIN CERTIFICATE at line 1" in result.findings[0].detail


def test_markers_joined_with_base64_on_one_line(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    one_line = leaf.cert_pem.replace(b"\n", b" ").strip() + b"\n"  # pasted into a single-line field
    result = lint_upload(pki, tmp_path, {"cert.pem": one_line})
    # The certificate is read all the same (issue 11: --fix recovers it), so the missing intermediate
    # shows too; it used to be lost with the line.
    assert faults(result) == [(INVALID, 1), ("cert_file_chain_incomplete", 1)]
    assert "line breaks were lost" in result.findings[0].detail


@pytest.mark.parametrize("bad", [b"!", b"*", b"\xe2\x80\x9c", b"-"])
def test_bad_base64_character(pki: LabPKI, leaf: Issued, tmp_path: Path, bad: bytes) -> None:
    pem = edit(chain(pki, leaf), 5, lambda line: line[:10] + bad + line[11:])
    result = lint_upload(pki, tmp_path, {"cert.pem": pem})
    assert faults(result)[0] == (INVALID, 5)
    assert "column 11 is not a base64 character" in result.findings[0].detail


def test_truncated_base64_padding(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    pem = edit(chain(pki, leaf), 6, lambda line: line[:-3])
    result = lint_upload(pki, tmp_path, {"cert.pem": pem})
    assert faults(result)[0] == (INVALID, 1)
    assert "does not decode" in result.findings[0].detail


def test_lost_base64_line_breaks_the_certificate(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    pem = b"\n".join(line for n, line in enumerate(leaf.cert_pem.split(b"\n"), 1) if n != 6)
    result = lint_upload(pki, tmp_path, {"cert.pem": pem + pki.ecc_intermediate.cert_pem})
    assert faults(result)[0] == (INVALID, 1)
    assert "not to a valid certificate" in result.findings[0].detail


def test_der_where_pem_expected(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    result = lint_upload(pki, tmp_path, {"cert.der": leaf.cert_der})
    assert faults(result) == [(INVALID, None), ("cert_file_chain_incomplete", None)]
    detail = result.findings[0].detail
    assert "this is DER (binary)" in detail and "openssl x509 -inform der -in cert.der" in detail
    assert result.certificates[0].subject.startswith("CN=www.lab.test")  # still judged


def test_key_where_certificate_expected(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    result = lint_upload(pki, tmp_path, {"cert.pem": leaf.key_pem})
    assert faults(result) == [(INVALID, 1)]
    assert "private key where a certificate was expected" in result.findings[0].detail


def test_key_where_certificate_expected_when_key_given(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    files = {"cert.pem": chain(pki, leaf), "also.pem": b"# the key\n" + leaf.key_pem}
    assert faults(lint_upload(pki, tmp_path, files)) == []  # cert + key in two files: the second is the key
    assert faults(lint_upload(pki, tmp_path, files, key=leaf.key_pem)) == [(INVALID, 2)]


def test_certificate_where_key_expected(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    result = lint_upload(pki, tmp_path, {"cert.pem": chain(pki, leaf)}, key=leaf.cert_pem)
    assert faults(result) == [(INVALID, 1)]
    assert result.findings[0].data["file"].endswith("given.key")


def test_encrypted_pkcs8_key(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    encrypted = leaf.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.BestAvailableEncryption(b"pw"))
    result = lint_upload(pki, tmp_path, {"cert.pem": chain(pki, leaf)}, key=b"\n" + encrypted)
    assert faults(result) == [(INVALID, 2)]
    assert "encrypted" in result.findings[0].detail and "plain key" in result.findings[0].detail


def test_encrypted_traditional_key_headers_and_password(pki: LabPKI, tmp_path: Path) -> None:
    rsa_leaf = pki.issue_leaf(["rsa.lab.test"], issuer=pki.rsa_intermediate, key_type="rsa")
    other = pki.issue_leaf(["other.lab.test"], issuer=pki.rsa_intermediate, key_type="rsa")
    def enc(item: Issued) -> bytes:
        return item.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                      serialization.BestAvailableEncryption(b"pw"))
    assert b"Proc-Type: 4,ENCRYPTED" in enc(rsa_leaf)
    files = {"cert.pem": rsa_leaf.cert_pem + pki.rsa_intermediate.cert_pem}
    # The blank line after the RFC 1421 headers is the format, not stray whitespace.
    assert faults(lint_upload(pki, tmp_path, files, key=enc(rsa_leaf))) == [(INVALID, 1)]
    assert faults(lint_upload(pki, tmp_path, files, key=enc(rsa_leaf), password=b"pw")) == [(INVALID, 1)]
    found = faults(lint_upload(pki, tmp_path, files, key=enc(other), password=b"pw"))
    assert found == [(INVALID, 1), ("cert_file_key_mismatch", 1)]  # opened with the password, then compared


@pytest.mark.parametrize("label,wanted", [(b"CERTIFICATE REQUEST", "CSR"), (b"PUBLIC KEY", "public key"),
                                          (b"X509 CRL", "CRL"), (b"FOO BAR", "unexpected block type")])
def test_wrong_kind_of_block(pki: LabPKI, leaf: Issued, tmp_path: Path, label: bytes, wanted: str) -> None:
    block = leaf.cert_pem.replace(b"CERTIFICATE", label)
    result = lint_upload(pki, tmp_path, {"cert.pem": chain(pki, leaf) + block})
    assert faults(result) == [(INVALID, height(chain(pki, leaf)) + 1)]
    assert wanted in result.findings[0].detail


def test_utf16_and_binary_junk(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    utf16 = leaf.cert_pem.decode().encode("utf-16")
    assert faults(lint_upload(pki, tmp_path, {"notepad.pem": utf16})) == [(INVALID, 1)]
    assert faults(lint_upload(pki, tmp_path, {"junk.bin": b"\x00\x01\x02garbage\xff"})) == [(INVALID, None)]


def test_unreadable_path_is_a_finding(pki: LabPKI, tmp_path: Path) -> None:
    result = lint_files([str(tmp_path / "missing.pem")], use_system_roots=False)
    assert faults(result) == [(INVALID, None)]
    assert "cannot be read" in result.findings[0].detail


# -- cert_file_whitespace -----------------------------------------------------------------------


@pytest.mark.parametrize("line,change", [
    (3, lambda s: s + b"  "),  # trailing spaces
    (4, lambda s: s + b"\t"),  # trailing tab
    (1, lambda s: b" " + s),  # leading space on the BEGIN line
    (-1, lambda s: s + b" "),  # trailing space on the leaf's END line
    (5, lambda s: s[:20] + b" " + s[20:]),  # space inside the base64
    (6, lambda s: s[:20] + "\u3000".encode() + s[20:]),  # full-width space from a Chinese IME
    (7, lambda s: s + b"\n"),  # a blank line inside the block (after line 7, so at line 8)
])
def test_whitespace(pki: LabPKI, leaf: Issued, tmp_path: Path, line: int,
                    change: Callable[[bytes], bytes]) -> None:
    line = height(leaf.cert_pem) if line == -1 else line
    result = lint_upload(pki, tmp_path, {"cert.pem": edit(chain(pki, leaf), line, change)})
    expected = line + 1 if line == 7 else line
    assert faults(result) == [(WHITESPACE, expected)]


def test_full_width_space_is_named(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    pem = edit(chain(pki, leaf), 6, lambda s: s[:20] + "\u3000".encode() + s[20:])
    assert "full-width" in lint_upload(pki, tmp_path, {"cert.pem": pem}).findings[0].detail


def test_whitespace_counted_once_per_kind(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    second = height(leaf.cert_pem) + 3  # inside the intermediate
    pem = edit(edit(chain(pki, leaf), 3, lambda s: s + b" "), second, lambda s: s + b" ")
    result = lint_upload(pki, tmp_path, {"cert.pem": pem})
    assert faults(result) == [(WHITESPACE, 3)]
    assert result.findings[0].detail.endswith("2 line(s) inside PEM blocks start or end with spaces or tabs; "
                                              "the first is here")


def test_mixed_line_endings(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    pem = chain(pki, leaf).replace(b"\n", b"\r\n", 3)  # lines 1-3 CRLF, the rest LF
    result = lint_upload(pki, tmp_path, {"cert.pem": pem})
    assert faults(result) == [(WHITESPACE, 4)]
    assert "mixed" in result.findings[0].detail


def test_utf8_bom(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    result = lint_upload(pki, tmp_path, {"cert.pem": b"\xef\xbb\xbf" + chain(pki, leaf)})
    assert faults(result) == [(WHITESPACE, 1)]
    assert "BOM" in result.findings[0].detail


def test_whitespace_in_key_file(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    key = edit(leaf.key_pem, 2, lambda s: s + b"   ")
    result = lint_upload(pki, tmp_path, {"cert.pem": chain(pki, leaf)}, key=key)
    assert faults(result) == [(WHITESPACE, 2)]
    assert result.findings[0].data["file"].endswith("given.key")
