"""Trust anchors: the public roots (certifi's Mozilla bundle) and the operator's own CA files.

One loader for the daemon and `lint-cert`. It is tolerant where the input is not ours (a
public root that a future cryptography refuses costs only itself) and quiet: cryptography
warns about roots with non-positive serials (several Mozilla roots), and those warnings must
not reach a command's stderr. Roots from CA files are "private": the CA/Browser Forum rules
(lifetime caps) bind only chains that end at a public root.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from exporter.pki.certinfo import quiet
from exporter.pki.names import canonical_name

_END = b"-----END CERTIFICATE-----"


def load_pem_bundle(data: bytes, strict: bool = False) -> tuple[x509.Certificate, ...]:
    """Every certificate of a PEM bundle; one by one, so a bad block costs only itself unless strict."""
    certs: list[x509.Certificate] = []
    with quiet():
        for chunk in data.split(_END)[:-1]:
            if b"-----BEGIN CERTIFICATE-----" not in chunk:
                continue
            try:
                certs.append(x509.load_pem_x509_certificate(chunk + _END + b"\n"))
            except ValueError:
                if strict:
                    raise
    return tuple(certs)


@functools.lru_cache(maxsize=1)
def system_roots() -> tuple[x509.Certificate, ...]:
    """Mozilla's roots as certifi ships them (read once per process)."""
    try:
        import certifi

        data = Path(certifi.where()).read_bytes()
    except (ImportError, OSError):
        return ()
    return load_pem_bundle(data)


def load_ca_file(path: str) -> tuple[x509.Certificate, ...]:
    """The certificates of an operator's CA file (PEM bundle or one DER certificate).

    Raises OSError or ValueError: a CA file the operator named must not be silently ignored.
    """
    data = Path(path).read_bytes()
    with quiet():
        if b"-----BEGIN" in data:
            certs = load_pem_bundle(data, strict=True)
        else:
            certs = (x509.load_der_x509_certificate(data),)
    if not certs:
        raise ValueError(f"{path}: no certificate in it")
    return certs


@dataclass(frozen=True)
class TrustStore:
    """The roots a verdict is judged against, and which of them are public."""

    public: tuple[x509.Certificate, ...] = ()
    private: tuple[x509.Certificate, ...] = ()
    _by_subject: dict[tuple[object, ...], tuple[x509.Certificate, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False)
    _public_set: frozenset[x509.Certificate] = field(default=frozenset(), init=False, repr=False, compare=False)
    _all_set: frozenset[x509.Certificate] = field(default=frozenset(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[tuple[object, ...], list[x509.Certificate]] = {}
        for cert in self.certificates:
            index.setdefault(canonical_name(cert.subject), []).append(cert)
        object.__setattr__(self, "_by_subject", {k: tuple(v) for k, v in index.items()})
        object.__setattr__(self, "_public_set", frozenset(self.public))
        object.__setattr__(self, "_all_set", frozenset(self.certificates))

    @property
    def certificates(self) -> tuple[x509.Certificate, ...]:
        return self.private + self.public

    def __bool__(self) -> bool:
        return bool(self.public or self.private)

    def __contains__(self, cert: object) -> bool:
        return cert in self._all_set

    def with_subject(self, name: x509.Name) -> tuple[x509.Certificate, ...]:
        return self._by_subject.get(canonical_name(name), ())

    def is_public(self, anchor: x509.Certificate) -> bool:
        """A root from the public bundle (a CA file may repeat one: it stays public)."""
        return anchor in self._public_set


def load_trust(use_system: bool, ca_files: Sequence[str] = ()) -> TrustStore:
    """The store for a config or a `lint-cert` run; CA files are read each time (a reload sees edits)."""
    private: list[x509.Certificate] = []
    for path in ca_files:
        private += load_ca_file(path)
    return TrustStore(public=system_roots() if use_system else (), private=tuple(private))
