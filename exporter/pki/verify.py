"""Trust judged as OpenSSL's default verification judges it (`openssl verify -CAfile roots -untrusted chain`).

Paths are built over cryptography's parsing with our own signature checks (cryptography's
`verify_directly_issued_by` refuses MD5 and SHA-1, which OpenSSL accepts: their rejection is
a fault of its own, `cert_crypto_rejected`, not "untrusted"). The rules are OpenSSL 3's:

- an issuer has the certificate's issuer name (compared as OpenSSL canonicalises names), an
  authorityKeyIdentifier that does not contradict it (keyIdentifier vs subjectKeyIdentifier,
  issuer and serial), a key of the signature's kind, and keyCertSign if it has keyUsage;
- every intermediate is basicConstraints CA:TRUE (critical or not) and respects pathLen; the
  trust anchor may also be a v1 root or have keyUsage without basicConstraints;
- the anchor is a self-signed certificate of the store (a non-self-signed one only extends the
  path; a self-signed leaf is trusted when the store holds it); its own signature is not checked;
- every certificate, the anchor included, is valid at the moment judged and has no critical
  extension OpenSSL does not handle.

Like OpenSSL, the path is built greedily: trusted candidates first, then the certificates sent
in the order sent, the first one valid now (else the one expiring last). Other paths are tried
only to add a note (browsers backtrack; curl and Python do not). The strict web-PKI profile
(cryptography's verifier) only adds notes too.
"""

from __future__ import annotations

import datetime as dt
import enum
import ipaddress
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtensionOID
from cryptography.x509.verification import PolicyBuilder, Store

from exporter.pki.certinfo import describe, extension, quiet, san_names, serial_of, signature_valid
from exporter.pki.constraints import violations
from exporter.pki.names import canonical_name
from exporter.pki.roots import TrustStore

MAX_DEPTH = 10  # certificates on a path; real chains have 2 to 4
MAX_PATHS = 64  # candidate paths tried per verdict, so a hostile pile of look-alike CAs stays cheap

# Critical extensions OpenSSL 3 handles (X509_supported_extension); any other critical one fails a path.
_HANDLED_CRITICAL = frozenset({
    ExtensionOID.KEY_USAGE, ExtensionOID.SUBJECT_ALTERNATIVE_NAME, ExtensionOID.BASIC_CONSTRAINTS,
    ExtensionOID.CERTIFICATE_POLICIES, ExtensionOID.CRL_DISTRIBUTION_POINTS, ExtensionOID.EXTENDED_KEY_USAGE,
    ExtensionOID.OCSP_NO_CHECK, ExtensionOID.POLICY_CONSTRAINTS, ExtensionOID.NAME_CONSTRAINTS,
    ExtensionOID.POLICY_MAPPINGS, ExtensionOID.INHIBIT_ANY_POLICY,
    x509.ObjectIdentifier("2.16.840.1.113730.1.1"),  # Netscape cert type
    x509.ObjectIdentifier("1.3.6.1.5.5.7.1.14"),  # proxyCertInfo
    x509.ObjectIdentifier("1.3.6.1.5.5.7.1.7"),  # RFC 3779 IP address blocks
    x509.ObjectIdentifier("1.3.6.1.5.5.7.1.8"),  # RFC 3779 AS identifiers
})
_NS_CERT_TYPE = x509.ObjectIdentifier("2.16.840.1.113730.1.1")
_NS_ANY_CA = 0x07  # SSL CA, S/MIME CA, object-signing CA


class Problem(enum.StrEnum):
    """Why OpenSSL would refuse a path (its error names in the comments)."""

    NO_ISSUER = "no_issuer"  # unable to get (local) issuer certificate
    SELF_SIGNED = "self_signed"  # (depth zero) self-signed certificate (in certificate chain)
    EXPIRED = "expired"  # certificate has expired
    NOT_YET_VALID = "not_yet_valid"  # certificate is not yet valid
    NOT_A_CA = "not_a_ca"  # invalid CA certificate
    NO_CERT_SIGN = "no_cert_sign"  # key usage does not include certificate signing
    PATH_LENGTH = "path_length"  # path length constraint exceeded
    CRITICAL_EXTENSION = "critical_extension"  # unhandled critical extension
    BAD_EXTENSION = "bad_extension"  # invalid or inconsistent certificate extension
    BAD_SIGNATURE = "bad_signature"  # certificate signature failure
    NAME_CONSTRAINTS = "name_constraints"  # permitted/excluded subtree violation


@dataclass(frozen=True)
class Issue:
    problem: Problem
    depth: int  # 0 = the leaf
    cert: x509.Certificate
    detail: str


@dataclass(frozen=True)
class Verdict:
    path: tuple[x509.Certificate, ...]  # leaf first; ends at the anchor when anchored
    anchored: bool  # the path reaches a root of the store
    issues: tuple[Issue, ...]  # empty: OpenSSL's default verification says OK
    public: bool = False  # anchored at a public root (not one of the operator's CA files)
    notes: tuple[str, ...] = ()  # what the strict web-PKI profile would add (never a fault)

    @property
    def trusted(self) -> bool:
        return self.anchored and not self.issues

    @property
    def anchor(self) -> x509.Certificate | None:
        return self.path[-1] if self.anchored else None

    def only(self, *problems: Problem) -> bool:
        """Untrusted for these reasons alone (e.g. only expiry, which has its own fault ids)."""
        return self.anchored and bool(self.issues) and all(i.problem in problems for i in self.issues)

    def summary(self) -> str:
        return "; ".join(i.detail for i in self.issues) or "trusted"


# -- issuer matching -------------------------------------------------------------------------


def _key_kind(cert: x509.Certificate) -> str | None:
    try:
        key = cert.public_key()
    except Exception:  # noqa: BLE001 - unsupported or malformed key: cannot sign for anyone
        return None
    for kind, types in (("rsa", rsa.RSAPublicKey), ("ec", ec.EllipticCurvePublicKey), ("dsa", dsa.DSAPublicKey),
                        ("ed25519", ed25519.Ed25519PublicKey), ("ed448", ed448.Ed448PublicKey)):
        if isinstance(key, types):
            return kind
    return None


_SIGNATURE_KINDS = (("1.2.840.113549.1.1.", "rsa"), ("1.3.14.3.2.29", "rsa"), ("1.2.840.10045.4.", "ec"),
                    ("1.2.840.10040.4.3", "dsa"), ("1.3.14.3.2.27", "dsa"), ("1.3.101.112", "ed25519"),
                    ("1.3.101.113", "ed448"))
_NIST_SIGNATURES = {1: "dsa", 2: "dsa", 3: "dsa", 4: "dsa", 5: "dsa", 6: "dsa", 7: "dsa", 8: "dsa",
                    9: "ec", 10: "ec", 11: "ec", 12: "ec", 13: "rsa", 14: "rsa", 15: "rsa", 16: "rsa"}


def _signature_kind(cert: x509.Certificate) -> str | None:
    """The key type a signature algorithm needs (OpenSSL 3's check_sig_alg_match), by OID."""
    oid = cert.signature_algorithm_oid.dotted_string
    if oid.startswith("2.16.840.1.101.3.4.3."):
        return _NIST_SIGNATURES.get(int(oid.rsplit(".", 1)[1]))
    return next((kind for prefix, kind in _SIGNATURE_KINDS if oid == prefix or
                 (prefix.endswith(".") and oid.startswith(prefix))), None)


def _akid_matches(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """OpenSSL's X509_check_akid: the AKI may narrow the candidates, never widen them."""
    aki = extension(cert, x509.AuthorityKeyIdentifier)
    if aki is None:
        return True
    if aki.key_identifier is not None:
        ski = extension(issuer, x509.SubjectKeyIdentifier)
        if ski is not None and ski.digest != aki.key_identifier:
            return False
    if aki.authority_cert_serial_number is not None and aki.authority_cert_serial_number != serial_of(issuer):
        return False
    if aki.authority_cert_issuer:
        dirs = [n.value for n in aki.authority_cert_issuer if isinstance(n, x509.DirectoryName)]
        if dirs and not any(canonical_name(d) == canonical_name(issuer.issuer) for d in dirs):
            return False
    return True


def likely_issued(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Name, AKI and key kind fit (no signature check): OpenSSL's ossl_x509_likely_issued."""
    return (canonical_name(cert.issuer) == canonical_name(issuer.subject) and _akid_matches(cert, issuer)
            and _key_kind(issuer) is not None and _key_kind(issuer) == _signature_kind(cert))


def issued(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """`issuer` fits as the issuer of `cert` and its key verifies the signature."""
    return likely_issued(cert, issuer) and signature_valid(cert, issuer)


def self_signed(cert: x509.Certificate) -> bool:
    """OpenSSL's EXFLAG_SS: self-issued with a fitting AKI and key kind; the signature is not checked."""
    return likely_issued(cert, cert)


def _key_usage(cert: x509.Certificate) -> x509.KeyUsage | None:
    return extension(cert, x509.KeyUsage)


def _cert_sign_allowed(cert: x509.Certificate) -> bool:
    usage = _key_usage(cert)
    return usage is None or usage.key_cert_sign


# -- path building ---------------------------------------------------------------------------


class _Builder:
    def __init__(self, pool: Sequence[x509.Certificate], trust: TrustStore, at: dt.datetime) -> None:
        self.trust, self.at = trust, at
        self.pool: dict[tuple[object, ...], list[x509.Certificate]] = {}
        for cert in dict.fromkeys(pool):
            if cert not in trust:
                self.pool.setdefault(canonical_name(cert.subject), []).append(cert)
        self.budget = MAX_PATHS

    def _prefer(self, found: list[x509.Certificate]) -> list[x509.Certificate]:
        """OpenSSL's find_issuer order: the first candidate valid now, else the one that expires last."""
        valid = [c for c in found if c.not_valid_before_utc <= self.at <= c.not_valid_after_utc]
        rest = sorted((c for c in found if c not in valid), key=lambda c: c.not_valid_after_utc, reverse=True)
        return valid + rest

    def candidates(self, cert: x509.Certificate, path: list[x509.Certificate]) -> list[x509.Certificate]:
        # Trusted first (OpenSSL's default since 1.1.0), then what the server sent, in the order sent.
        trusted = [c for c in self.trust.with_subject(cert.issuer) if likely_issued(cert, c) and c not in path]
        sent = [c for c in self.pool.get(canonical_name(cert.issuer), ()) if likely_issued(cert, c) and c not in path]
        return self._prefer(trusted) + self._prefer(sent)

    def paths(self, path: list[x509.Certificate]) -> Iterator[tuple[list[x509.Certificate], bool]]:
        """Every path from path[-1] up, as (path, anchored); the first one is the path OpenSSL builds."""
        if self.budget <= 0:
            return
        top = path[-1]
        if len(path) > 1 and self_signed(top):
            self.budget -= 1
            yield path, top in self.trust
            return
        candidates = self.candidates(top, path) if len(path) < MAX_DEPTH else []
        if not candidates:
            self.budget -= 1
            yield path, False
        for issuer in candidates:
            yield from self.paths([*path, issuer])


def judge(leaf: x509.Certificate, untrusted: Sequence[x509.Certificate], trust: TrustStore,
          at: dt.datetime) -> Verdict:
    """OpenSSL's verdict on the path it builds from `leaf`; a note when another path would be trusted
    (browsers try every path; OpenSSL follows the first candidate valid now)."""
    with quiet():
        if self_signed(leaf) and leaf in trust:
            return _verdict([leaf], True, trust, at)
        if self_signed(leaf):
            issue = Issue(Problem.SELF_SIGNED, 0, leaf, f"{describe(leaf)} is self-signed and not a trusted root")
            return Verdict((leaf,), False, (issue, *_checks([leaf], at)))
        paths = _Builder(untrusted, trust, at).paths([leaf])
        first = _verdict(*next(paths), trust, at)
        if first.trusted:
            return first
        other = next((v for v in (_verdict(p, a, trust, at) for p, a in paths) if v.trusted), None)
    if other is None:
        return first
    via = " -> ".join(describe(c) for c in other.path[1:])
    note = (f"another path is trusted (via {via}); browsers find it, OpenSSL-based clients (curl, Python) "
            "take the first candidate issuer and fail")
    return replace(first, notes=(*first.notes, note))


def _verdict(path: list[x509.Certificate], anchored: bool, trust: TrustStore, at: dt.datetime) -> Verdict:
    issues = _checks(path, at)
    if not anchored:
        top = path[-1]
        if len(path) > 1 and self_signed(top):
            issues.insert(0, Issue(Problem.SELF_SIGNED, len(path) - 1, top,
                                   f"the chain ends at {describe(top)}, a self-signed certificate that is not a "
                                   "trusted root"))
        else:
            issues.insert(0, Issue(Problem.NO_ISSUER, len(path) - 1, top,
                                   f"no issuer found for {describe(top)} (issuer "
                                   f"{top.issuer.rfc4514_string() or '(empty name)'}) among the certificates sent "
                                   "and the trusted roots"))
    public = anchored and trust.is_public(path[-1])
    return Verdict(tuple(path), anchored, tuple(issues), public)


def _check_ca(cert: x509.Certificate) -> int:
    """OpenSSL's X509_check_ca: 1 a CA by basicConstraints; 3, 4, 5 tolerated for a trust anchor; 0 not a CA."""
    if not _cert_sign_allowed(cert):
        return 0
    constraints = extension(cert, x509.BasicConstraints)
    if constraints is not None:
        return 1 if constraints.ca else 0
    if cert.version == x509.Version.v1 and self_signed(cert):
        return 3
    if _key_usage(cert) is not None:
        return 4
    try:
        raw = cert.extensions.get_extension_for_oid(_NS_CERT_TYPE).value
    except (x509.ExtensionNotFound, ValueError):
        return 0
    data = raw.value if isinstance(raw, x509.UnrecognizedExtension) else b""
    return 5 if len(data) >= 4 and data[0] == 0x03 and data[3] & _NS_ANY_CA else 0


def _checks(path: list[x509.Certificate], at: dt.datetime) -> list[Issue]:
    issues: list[Issue] = []
    plen = 0  # CAs below the one being checked that are not self-issued
    for depth, cert in enumerate(path):
        name = describe(cert)
        try:
            extensions = list(cert.extensions)
        except Exception as exc:  # noqa: BLE001 - malformed extensions are an issue of the path
            issues.append(Issue(Problem.BAD_EXTENSION, depth, cert, f"{name} has malformed extensions ({exc})"))
            extensions = []
        unhandled = [e.oid.dotted_string for e in extensions if e.critical and e.oid not in _HANDLED_CRITICAL]
        if unhandled:
            issues.append(Issue(Problem.CRITICAL_EXTENSION, depth, cert,
                                f"{name} has a critical extension clients do not know ({', '.join(unhandled)})"))
        if depth > 0:
            issues += _ca_issues(cert, depth, depth == len(path) - 1, plen)
            if canonical_name(cert.subject) != canonical_name(cert.issuer):
                plen += 1
        if cert.not_valid_after_utc < at:
            issues.append(Issue(Problem.EXPIRED, depth, cert,
                                f"{name} expired {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"))
        elif cert.not_valid_before_utc > at:
            issues.append(Issue(Problem.NOT_YET_VALID, depth, cert,
                                f"{name} is valid only from {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"))
        if depth + 1 < len(path) and not signature_valid(cert, path[depth + 1]):
            issues.append(Issue(Problem.BAD_SIGNATURE, depth, cert,
                                f"the signature on {name} does not verify with the key of {describe(path[depth + 1])}"))
    for depth, reason in violations(path):
        issues.append(Issue(Problem.NAME_CONSTRAINTS, depth, path[depth], f"{describe(path[depth])}: {reason}"))
    return issues


def _ca_issues(cert: x509.Certificate, depth: int, top: bool, plen: int) -> list[Issue]:
    name, out = describe(cert), []
    kind = _check_ca(cert)
    if not _cert_sign_allowed(cert):
        out.append(Issue(Problem.NO_CERT_SIGN, depth, cert,
                         f"{name} issues certificates, but its keyUsage does not include keyCertSign"))
    elif kind == 0 or (not top and kind != 1):
        out.append(Issue(Problem.NOT_A_CA, depth, cert,
                         f"{name} issues certificates, but its basicConstraints do not say CA:TRUE"))
    constraints = extension(cert, x509.BasicConstraints)
    if depth > 1 and constraints is not None and constraints.path_length is not None \
            and plen > constraints.path_length:
        out.append(Issue(Problem.PATH_LENGTH, depth, cert,
                         f"{name} allows {constraints.path_length} CA(s) below it (pathLenConstraint), "
                         f"the path has {plen}"))
    return out


def strict_profile_note(verdict: Verdict, at: dt.datetime) -> str | None:
    """What cryptography's strict CA/B web-PKI profile says of a path OpenSSL trusts (a note only:
    private CAs routinely differ from it, and browsers accept them)."""
    if not verdict.trusted or len(verdict.path) < 2:
        return None
    leaf = verdict.path[0]
    names = san_names(leaf)
    if not names:
        return "the strict web-PKI profile needs a subjectAltName on the leaf"
    try:
        subject: x509.DNSName | x509.IPAddress = x509.IPAddress(ipaddress.ip_address(names[0]))
    except ValueError:
        subject = x509.DNSName("wildcard-probe." + names[0][2:] if names[0].startswith("*.") else names[0])
    try:
        with quiet():
            verifier = PolicyBuilder().store(Store([verdict.path[-1]])).time(at).build_server_verifier(subject)
            verifier.verify(leaf, list(verdict.path[1:-1]))
    except Exception as exc:  # noqa: BLE001 - any refusal of the strict profile is only a note
        return f"the strict CA/Browser Forum web-PKI profile would refuse this path ({exc})"
    return None
