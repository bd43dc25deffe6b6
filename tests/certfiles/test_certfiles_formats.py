"""lint-cert corpus, part 3: input formats (PKCS#12 as IIS exports it, DER, PKCS#7, PKCS#8, encrypted)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from sslfault_lab.pki import Issued, LabPKI
from tests.support.certfiles import faults, lint_upload

INVALID = "cert_file_invalid_pem"


@pytest.fixture(scope="module")
def rsa_leaf(pki: LabPKI) -> Issued:
    return pki.issue_leaf(["iis.lab.test"], issuer=pki.rsa_intermediate, key_type="rsa")


def iis_pfx(pki: LabPKI, leaf: Issued, password: bytes, aes: bool = False, with_chain: bool = True) -> bytes:
    """What the IIS / Windows certificate export wizard writes: 3DES + SHA-1 MAC (or AES-256 + SHA-256)."""
    builder = serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(2000)
    if aes:
        builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC).hmac_hash(hashes.SHA256())
    else:
        builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC).hmac_hash(hashes.SHA1())
    extra = [pki.rsa_intermediate.cert, pki.root.cert] if with_chain else []
    return pkcs12.serialize_key_and_certificates(b"iis.lab.test", leaf.key, leaf.cert, extra,
                                                 builder.build(password))


@pytest.mark.parametrize("aes", [False, True], ids=["3des-sha1", "aes256-sha256"])
def test_pkcs12_with_password(pki: LabPKI, rsa_leaf: Issued, tmp_path: Path, aes: bool) -> None:
    pfx = iis_pfx(pki, rsa_leaf, b"Passw0rd!", aes)
    result = lint_upload(pki, tmp_path, {"site.pfx": pfx}, password=b"Passw0rd!")
    assert faults(result) == []
    assert [c.subject.split(",")[0] for c in result.certificates] == [
        "CN=iis.lab.test", "CN=SSL Fault Lab RSA Intermediate", "CN=SSL Fault Lab Root CA"]


def test_pkcs12_without_or_with_wrong_password(pki: LabPKI, rsa_leaf: Issued, tmp_path: Path) -> None:
    pfx = iis_pfx(pki, rsa_leaf, b"Passw0rd!")
    missing = lint_upload(pki, tmp_path, {"site.pfx": pfx})
    assert faults(missing) == [(INVALID, None)]
    assert "--password-file" in missing.findings[0].detail and "SSLFAULT_PFX_PASSWORD" in missing.findings[0].detail
    wrong = lint_upload(pki, tmp_path, {"site.pfx": pfx}, password=b"nope")
    assert faults(wrong) == [(INVALID, None)] and "does not open" in wrong.findings[0].detail


def test_pkcs12_without_chain_and_other_key(pki: LabPKI, rsa_leaf: Issued, tmp_path: Path) -> None:
    pfx = iis_pfx(pki, rsa_leaf, b"pw", with_chain=False)
    other = pki.issue_leaf(["x.lab.test"], issuer=pki.rsa_intermediate, key_type="rsa")
    result = lint_upload(pki, tmp_path, {"site.pfx": pfx}, key=other.key_pem, password=b"pw")
    assert sorted(faults(result), key=str) == [("cert_file_chain_incomplete", None), ("cert_file_key_mismatch", 1)]


def test_pkcs12_unencrypted(pki: LabPKI, rsa_leaf: Issued, tmp_path: Path) -> None:
    pfx = pkcs12.serialize_key_and_certificates(b"x", rsa_leaf.key, rsa_leaf.cert, [pki.rsa_intermediate.cert],
                                                serialization.NoEncryption())
    assert faults(lint_upload(pki, tmp_path, {"plain.p12": pfx})) == []


def test_der_certificate_with_pem_chain(pki: LabPKI, rsa_leaf: Issued, tmp_path: Path) -> None:
    files = {"leaf.cer": rsa_leaf.cert_der, "chain.pem": pki.rsa_intermediate.cert_pem}
    result = lint_upload(pki, tmp_path, files, key=rsa_leaf.key_pem)
    assert faults(result) == [(INVALID, None)]
    assert result.findings[0].data["file"].endswith("leaf.cer")


def test_pkcs7_bundles(pki: LabPKI, rsa_leaf: Issued, tmp_path: Path) -> None:
    certs = [rsa_leaf.cert, pki.rsa_intermediate.cert]
    der = pkcs7.serialize_certificates(certs, serialization.Encoding.DER)
    pem = pkcs7.serialize_certificates(certs, serialization.Encoding.PEM)
    binary = lint_upload(pki, tmp_path, {"bundle.p7b": der})
    assert faults(binary) == [(INVALID, None)] and "PKCS#7" in binary.findings[0].detail
    assert len(binary.certificates) == 2
    assert faults(lint_upload(pki, tmp_path, {"bundle.p7c.pem": pem})) == [(INVALID, 1)]


def test_encrypted_der_key(pki: LabPKI, rsa_leaf: Issued, tmp_path: Path) -> None:
    der = rsa_leaf.key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                     serialization.BestAvailableEncryption(b"pw"))
    result = lint_upload(pki, tmp_path, {"cert.pem": rsa_leaf.cert_pem + pki.rsa_intermediate.cert_pem}, key=der)
    assert faults(result) == [(INVALID, None)]
    assert "encrypted private key in DER" in result.findings[0].detail


def test_pkcs8_and_ec_parameters(pki: LabPKI, tmp_path: Path) -> None:
    """`openssl ecparam -genkey` writes an EC PARAMETERS block before the key; it is harmless."""
    leaf = pki.issue_leaf(["ec.lab.test"])
    params = b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
    sec1 = leaf.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.NoEncryption())
    files = {"cert.pem": leaf.cert_pem + pki.ecc_intermediate.cert_pem}
    assert faults(lint_upload(pki, tmp_path, files, key=params + sec1)) == []
    assert faults(lint_upload(pki, tmp_path, files, key=leaf.key_pem)) == []
