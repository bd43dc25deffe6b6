"""Metric families fed by more than one check (served certificates and certificate files)."""

from __future__ import annotations

from exporter.checks.base import MetricSpec, Sample
from exporter.pki.certinfo import CertSummary

_LATEST = "(latest scheduled run)"

CERT_NOT_AFTER = MetricSpec("sslfault_cert_not_after_timestamp_seconds",
                            f"Leaf notAfter as served on the address, even when expired or untrusted {_LATEST}.",
                            ("address",))
CERT_NOT_BEFORE = MetricSpec("sslfault_cert_not_before_timestamp_seconds",
                             f"Leaf notBefore as served on the address {_LATEST}.", ("address",))
CERT_INFO = MetricSpec("sslfault_cert", f"The leaf certificate served on the address {_LATEST}.", ("address",), "info")
CHAIN_NOT_AFTER = MetricSpec("sslfault_chain_not_after_timestamp_seconds",
                             f"Earliest notAfter on the path the exporter built, trust anchor excluded {_LATEST}.",
                             ("address",))


def leaf_samples(address: str, leaf: CertSummary) -> list[Sample]:
    """notAfter, notBefore and the info series of one leaf on one address ("" for a file)."""
    return [
        Sample(CERT_NOT_AFTER.name, (address,), leaf.not_after),
        Sample(CERT_NOT_BEFORE.name, (address,), leaf.not_before),
        Sample(CERT_INFO.name, (address,), {
            "subject": leaf.subject, "issuer": leaf.issuer, "serial": leaf.serial,
            "fingerprint_sha256": leaf.fingerprint_sha256, "key_type": leaf.key_type,
        }),
    ]
