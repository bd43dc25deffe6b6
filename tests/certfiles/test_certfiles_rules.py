"""lint-cert corpus, part 2: chain, order, key match and the certificate faults of certinfo."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from exporter.certfiles import analyse, lint_files
from sslfault_lab.pki import DAY, Issued, LabPKI
from tests.support.certfiles import faults, height, lint_upload

CHAIN, ORDER, MISMATCH = "cert_file_chain_incomplete", "cert_file_wrong_order", "cert_file_key_mismatch"


def traditional(item: Issued) -> bytes:
    return item.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.NoEncryption())


# -- cert_file_chain_incomplete -----------------------------------------------------------------------


def test_leaf_without_intermediate_names_missing_issuer_and_aia(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    result = lint_upload(pki, tmp_path, {"cert.pem": leaf.cert_pem})
    assert faults(result) == [(CHAIN, 1)]
    finding = result.findings[0]
    assert finding.data["aia_url"] == "http://aia.lab.test/ca/ecc-intermediate.p7c"
    assert finding.data["missing_issuer"] == "CN=SSL Fault Lab ECC Intermediate,O=SSL Fault Lab"
    assert "ECC Intermediate" in finding.detail and "ecc-intermediate.p7c" in finding.detail


def test_wrong_intermediate_for_leaf(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    result = lint_upload(pki, tmp_path, {"cert.pem": leaf.cert_pem + pki.rsa_intermediate.cert_pem})
    assert faults(result) == [(CHAIN, 1)]  # the RSA intermediate did not issue this ECC leaf


def test_leaf_without_aia_says_so(pki: LabPKI, tmp_path: Path) -> None:
    bare = pki.issue_leaf(["bare.lab.test"], with_aia=False)
    result = lint_upload(pki, tmp_path, {"cert.pem": bare.cert_pem})
    assert faults(result) == [(CHAIN, 1)]
    assert result.findings[0].data["aia_url"] is None and "get the intermediate from your CA" in result.findings[0].detail


def test_missing_issuer_of_an_intermediate(pki: LabPKI, tmp_path: Path) -> None:
    """Trust only a private root: the lab intermediate's issuer (the lab root) is then missing."""
    leaf = pki.issue_leaf(["deep.lab.test"])
    (tmp_path / "private.pem").write_bytes(pki.private_root.cert_pem)
    result = lint_upload(pki, tmp_path, {"cert.pem": leaf.cert_pem + pki.ecc_intermediate.cert_pem},
                 ca_file=str(tmp_path / "private.pem"))
    assert faults(result) == [(CHAIN, height(leaf.cert_pem) + 1)]
    assert "SSL Fault Lab Root CA" in result.findings[0].data["missing_issuer"]


def test_self_signed_leaf(pki: LabPKI, tmp_path: Path) -> None:
    self_signed = pki.self_signed(["self.lab.test"])
    result = lint_upload(pki, tmp_path, {"cert.pem": self_signed.cert_pem})
    assert faults(result) == [(CHAIN, 1)]
    assert "self-signed" in result.findings[0].detail
    (tmp_path / "own.pem").write_bytes(self_signed.cert_pem)  # trusted explicitly: fine
    assert faults(lint_upload(pki, tmp_path, {"cert.pem": self_signed.cert_pem}, ca_file=str(tmp_path / "own.pem"))) == []


def test_untrusted_root_in_file(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    (tmp_path / "private.pem").write_bytes(pki.private_root.cert_pem)
    bundle = leaf.cert_pem + pki.ecc_intermediate.cert_pem + pki.root_pem
    result = lint_upload(pki, tmp_path, {"cert.pem": bundle}, ca_file=str(tmp_path / "private.pem"))
    root_line = height(leaf.cert_pem + pki.ecc_intermediate.cert_pem) + 1
    assert faults(result) == [(CHAIN, root_line)]
    assert "not a trusted root" in result.findings[0].detail


def test_no_trust_anchor_means_no_chain_verdict(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    assert faults(lint_upload(pki, tmp_path, {"cert.pem": leaf.cert_pem}, ca_file=None)) == []


def test_chain_split_over_two_files(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    files = {"cert.pem": leaf.cert_pem, "chain.pem": pki.ecc_intermediate.cert_pem, "privkey.pem": leaf.key_pem}
    assert faults(lint_upload(pki, tmp_path, files)) == []


def test_expired_intermediate_is_chain_cert_expired(pki: LabPKI, tmp_path: Path) -> None:
    leaf = pki.issue_leaf(["old.lab.test"], issuer=pki.expired_intermediate)
    result = lint_upload(pki, tmp_path, {"cert.pem": leaf.cert_pem + pki.expired_intermediate.cert_pem})
    assert faults(result) == [("chain_cert_expired", height(leaf.cert_pem) + 1)]


# -- cert_file_wrong_order ---------------------------------------------------------------------------


def test_intermediate_before_leaf(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    result = lint_upload(pki, tmp_path, {"cert.pem": pki.ecc_intermediate.cert_pem + leaf.cert_pem})
    assert faults(result) == [(ORDER, 1)]
    assert "leaf first" in result.findings[0].detail


def test_root_before_intermediate(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    bundle = leaf.cert_pem + pki.root_pem + pki.ecc_intermediate.cert_pem
    assert faults(lint_upload(pki, tmp_path, {"cert.pem": bundle})) == [(ORDER, height(leaf.cert_pem) + 1)]


def test_key_first_then_reversed_chain(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    bundle = leaf.key_pem + pki.ecc_intermediate.cert_pem + leaf.cert_pem
    assert faults(lint_upload(pki, tmp_path, {"all.pem": bundle})) == [(ORDER, height(leaf.key_pem) + 1)]


def test_unrelated_certificate_between_leaf_and_issuer(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    bundle = leaf.cert_pem + pki.rsa_intermediate.cert_pem + pki.ecc_intermediate.cert_pem
    assert faults(lint_upload(pki, tmp_path, {"cert.pem": bundle})) == [(ORDER, height(leaf.cert_pem) + 1)]


# -- cert_file_key_mismatch ---------------------------------------------------------------------------


def test_mismatched_key_file(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    other = pki.issue_leaf(["other.lab.test"])
    result = lint_upload(pki, tmp_path, {"cert.pem": leaf.cert_pem + pki.ecc_intermediate.cert_pem}, key=other.key_pem)
    assert faults(result) == [(MISMATCH, 1)]
    assert result.findings[0].data["file"].endswith("given.key")
    assert "does not belong to the leaf CN=www.lab.test" in result.findings[0].detail


def test_mismatched_key_in_combined_file(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    other = pki.issue_leaf(["other.lab.test"])
    bundle = leaf.cert_pem + pki.ecc_intermediate.cert_pem + other.key_pem
    line = height(leaf.cert_pem + pki.ecc_intermediate.cert_pem) + 1
    assert faults(lint_upload(pki, tmp_path, {"all.pem": bundle})) == [(MISMATCH, line)]


def test_key_of_the_intermediate_is_named(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    result = lint_upload(pki, tmp_path, {"cert.pem": leaf.cert_pem + pki.ecc_intermediate.cert_pem},
                 key=pki.ecc_intermediate.key_pem)
    assert faults(result) == [(MISMATCH, 1)]
    assert "it belongs to CN=SSL Fault Lab ECC Intermediate" in result.findings[0].detail


@pytest.mark.parametrize("key_type,marker", [("rsa", b"BEGIN RSA PRIVATE KEY"), ("ec", b"BEGIN EC PRIVATE KEY")])
def test_traditional_keys(pki: LabPKI, tmp_path: Path, key_type: str, marker: bytes) -> None:
    issuer = pki.rsa_intermediate if key_type == "rsa" else pki.ecc_intermediate
    mine = pki.issue_leaf(["t.lab.test"], issuer=issuer, key_type=key_type)
    other = pki.issue_leaf(["u.lab.test"], issuer=issuer, key_type=key_type)
    files = {"cert.pem": mine.cert_pem + issuer.cert_pem}
    assert marker in traditional(mine)
    assert faults(lint_upload(pki, tmp_path, files, key=traditional(mine))) == []
    assert faults(lint_upload(pki, tmp_path, files, key=b"\n\n" + traditional(other))) == [(MISMATCH, 3)]


def test_der_key(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    der = leaf.key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    result = lint_upload(pki, tmp_path, {"cert.pem": leaf.cert_pem + pki.ecc_intermediate.cert_pem}, key=der)
    assert faults(result) == [("cert_file_invalid_pem", None)]  # DER, but it matches
    assert "openssl pkey -inform der" in result.findings[0].detail


# -- certificate faults from certinfo ------------------------------------------------------------------


def _dated(pki: LabPKI, days_before: float, days_after: float, **kw: Any) -> Issued:
    return pki.issue_leaf(["dated.lab.test"], not_before=pki.now + days_before * DAY,
                          not_after=pki.now + days_after * DAY, **kw)


@pytest.mark.parametrize("before,after,fault", [
    (-100, -10, "cert_expired"),
    (5, 60, "cert_not_yet_valid"),
    (-80, 10, "cert_expiring_soon"),
])
def test_validity(pki: LabPKI, tmp_path: Path, before: float, after: float, fault: str) -> None:
    item = _dated(pki, before, after)
    bundle = b"# leaf\n" + item.cert_pem + pki.ecc_intermediate.cert_pem
    assert faults(lint_upload(pki, tmp_path, {"cert.pem": bundle})) == [(fault, 2)]


@pytest.mark.parametrize("private_max,expected", [(None, []), (398, [("cert_lifetime_exceeds_policy", 2)])])
def test_lifetime_of_a_private_ca_only_against_the_operators_cap(
        pki: LabPKI, tmp_path: Path, private_max: int | None, expected: list[tuple[str, int]]) -> None:
    """The lab root is a --ca-file root (private): the CA/B caps do not bind it (issue 11), only the
    operator's own maximum does. (Changed on purpose: a 500-day private leaf used to be flagged.)"""
    bundle = b"# leaf\n" + _dated(pki, -1, 500).cert_pem + pki.ecc_intermediate.cert_pem
    result = lint_upload(pki, tmp_path, {"cert.pem": bundle}, private_ca_max_lifetime_days=private_max)
    assert faults(result) == expected


def test_expiry_threshold_is_configurable(pki: LabPKI, tmp_path: Path) -> None:
    item = _dated(pki, -80, 10)
    files = {"cert.pem": item.cert_pem + pki.ecc_intermediate.cert_pem}
    assert faults(lint_upload(pki, tmp_path, files, expiry_warning_days=5)) == []


def test_weak_rsa_key(pki: LabPKI, tmp_path: Path) -> None:
    weak = pki.issue_leaf(["weak.lab.test"], issuer=pki.rsa_intermediate, key_type="rsa", rsa_bits=1024)
    result = lint_upload(pki, tmp_path, {"cert.pem": weak.cert_pem + pki.rsa_intermediate.cert_pem}, key=weak.key_pem)
    assert faults(result) == [("cert_weak_crypto", 1)]
    assert "RSA key of 1024 bits" in result.findings[0].detail


def test_chain_file_alone_is_not_judged_as_a_leaf_lifetime(pki: LabPKI, tmp_path: Path) -> None:
    assert faults(lint_upload(pki, tmp_path, {"chain.pem": pki.ecc_intermediate.cert_pem})) == []


def test_naive_now_and_summaries(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    naive = pki.now.astimezone(dt.UTC).replace(tzinfo=None)
    bundle = pki.root_pem + leaf.cert_pem + pki.ecc_intermediate.cert_pem
    result = lint_upload(pki, tmp_path, {"cert.pem": bundle}, now=naive)
    assert faults(result) == [(ORDER, 1)]
    assert [c.subject.split(",")[0] for c in result.certificates] == [
        "CN=www.lab.test", "CN=SSL Fault Lab Root CA", "CN=SSL Fault Lab ECC Intermediate"]


def test_symlink_swap_is_followed(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    """certbot's live/ layout: the path is a symlink into archive/, swapped at renewal."""
    archive, live = tmp_path / "archive", tmp_path / "live"
    archive.mkdir()
    live.mkdir()
    (archive / "fullchain1.pem").write_bytes(leaf.cert_pem)
    (archive / "fullchain2.pem").write_bytes(leaf.cert_pem + pki.ecc_intermediate.cert_pem)
    link = live / "fullchain.pem"
    os.symlink(archive / "fullchain1.pem", link)
    (tmp_path / "root.pem").write_bytes(pki.root_pem)
    kw: dict[str, Any] = {"ca_file": str(tmp_path / "root.pem"), "use_system_roots": False, "now": pki.now}
    assert faults(lint_files([str(link)], **kw)) == [(CHAIN, 1)]
    os.symlink(archive / "fullchain2.pem", live / "tmp-link")
    os.replace(live / "tmp-link", link)
    assert faults(lint_files([str(link)], **kw)) == []
    assert len(analyse([str(link)], **kw).chain) == 2
