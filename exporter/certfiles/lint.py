"""The lint rules across files: leaf, chain to a trusted root, order, key match, validity.

``lint_files`` is the public entry (the CLI and the daemon's watched files call it);
``analyse`` also returns the ordered chain that ``--fix`` writes. No input makes
either raise: an internal error becomes a finding on the file.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509 import verification
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID

from exporter.certfiles.parse import INVALID, CertItem, KeyItem, ParsedFile, file_finding, read_file
from exporter.pki.certinfo import (
    CertSummary,
    describe,
    is_self_signed,
    issued_by,
    key_family,
    key_type,
    policy_findings,
    summarize,
    validity_findings,
)
from exporter.catalog.faults import FaultId
from exporter.models import Finding

UTC = dt.timezone.utc


@dataclass(frozen=True)
class LintResult:
    findings: tuple[Finding, ...]
    certificates: tuple[CertSummary, ...]  # leaf first, then the others as found


@dataclass(frozen=True)
class Analysis:
    """LintResult plus what --fix needs (live objects, so not part of the public result)."""

    result: LintResult
    chain: tuple[x509.Certificate, ...] = ()  # leaf, then its issuers found in the files; no self-signed root
    dropped: int = 0  # certificates not on the leaf's path (left out of a fixed copy)
    files: tuple[ParsedFile, ...] = field(default=(), repr=False)


def lint_files(
    paths: Sequence[str],
    *,
    key_path: str | None = None,
    password: bytes | None = None,
    ca_file: str | Sequence[str] | None = None,
    use_system_roots: bool = True,
    now: dt.datetime | None = None,
    expiry_warning_days: float = 21,
) -> LintResult:
    """Lint the certificate files of one upload (cert, chain and key may be split over files).

    Never raises: unreadable or unparsable input is a cert_file_invalid_pem finding. Without any
    trust anchor (use_system_roots=False and no usable ca_file) the chain is not judged.
    """
    return analyse(paths, key_path=key_path, password=password, ca_file=ca_file,
                   use_system_roots=use_system_roots, now=now, expiry_warning_days=expiry_warning_days).result


def analyse(
    paths: Sequence[str],
    *,
    key_path: str | None = None,
    password: bytes | None = None,
    ca_file: str | Sequence[str] | None = None,
    use_system_roots: bool = True,
    now: dt.datetime | None = None,
    expiry_warning_days: float = 21,
) -> Analysis:
    now = now or dt.datetime.now(UTC)
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    paths = [os.fspath(p) for p in paths]  # pathlib.Path too; JSON data needs plain strings
    files = tuple(read_file(p, password) for p in paths)
    key_file = read_file(os.fspath(key_path), password) if key_path else None
    findings = [f for parsed in files for f in parsed.findings]
    if key_file is not None:
        findings += key_file.findings
    try:
        return _rules(files, key_file, findings, ca_file, use_system_roots, now, expiry_warning_days)
    except Exception as exc:  # noqa: BLE001 - a verdict for every input, even on our own bug
        where = paths[0] if paths else (key_path or "")
        findings.append(file_finding(INVALID, where, None, f"could not be checked ({exc.__class__.__name__})"))
        return Analysis(LintResult(tuple(findings), ()), files=files)


def _rules(files: tuple[ParsedFile, ...], key_file: ParsedFile | None, findings: list[Finding],
           ca_file: str | Sequence[str] | None, use_system_roots: bool, now: dt.datetime, warning_days: float) -> Analysis:
    items = [item for parsed in files for item in parsed.certs]
    keys = [k for parsed in files for k in parsed.keys] + (key_file.keys if key_file else [])
    findings += _misplaced(files, key_file)
    if not items:
        return Analysis(LintResult(tuple(findings), ()), files=files)
    leaf = _pick_leaf(items)
    path = _path(leaf, items)
    findings += _validity(path, now, warning_days)
    findings += _chain(path, _anchors(ca_file, use_system_roots), now, findings)
    findings += _order(files, path)
    findings += _key_match(keys, leaf, items)
    on_path = {id(i) for i in path}
    certificates = [summarize(leaf.cert)] + [summarize(i.cert) for i in items if i is not leaf]
    chain = tuple(i.cert for i in path if not (i is not leaf and is_self_signed(i.cert)))
    dropped = sum(1 for i in items if id(i) not in on_path)
    return Analysis(LintResult(tuple(findings), tuple(certificates)), chain, dropped, files)


def _misplaced(files: tuple[ParsedFile, ...], key_file: ParsedFile | None) -> list[Finding]:
    """A key where a certificate is expected, and the reverse for --key."""
    out: list[Finding] = []
    any_certs = any(parsed.certs for parsed in files)
    for parsed in files:
        if parsed.keys and not parsed.certs and (key_file is not None or not any_certs):
            hint = "; give the key with --key" if key_file is None and not any_certs else ""
            out.append(file_finding(INVALID, parsed.path, parsed.keys[0].line,
                                    f"this is a private key where a certificate was expected{hint}"))
    if key_file is not None and key_file.certs and not key_file.keys:
        out.append(file_finding(INVALID, key_file.path, key_file.certs[0].line,
                                "this is a certificate where a private key was expected"))
    return out


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except Exception:  # noqa: BLE001 - missing or damaged extension: treat as an end entity
        return False


def _pick_leaf(items: list[CertItem]) -> CertItem:
    """The first certificate that issued none of the others, preferring a non-CA one."""
    def issues_another(item: CertItem) -> bool:
        return any(other is not item and other.cert != item.cert and issued_by(other.cert, item.cert)
                   for other in items)
    candidates = [i for i in items if not issues_another(i)] or items
    return next((i for i in candidates if not _is_ca(i.cert)), candidates[0])


def _path(leaf: CertItem, items: list[CertItem]) -> list[CertItem]:
    path = [leaf]
    while not is_self_signed(path[-1].cert):
        seen = {i.cert for i in path}
        issuer = next((i for i in items if i.cert not in seen and issued_by(path[-1].cert, i.cert)), None)
        if issuer is None:
            break
        path.append(issuer)
    return path


def _where(item: CertItem) -> str:
    return f"{describe(item.cert)} ({item.file}" + (f", line {item.line})" if item.line else ")")


def _located(finding: Finding, item: CertItem, fault: str | None = None) -> Finding:
    base = file_finding(fault or finding.fault, item.file, item.line, finding.detail)
    return replace(base, data={**base.data, **finding.data})


def _validity(path: list[CertItem], now: dt.datetime, warning_days: float) -> list[Finding]:
    """certinfo's faults on the leaf; an expired intermediate is chain_cert_expired."""
    leaf = path[0]
    out = [_located(f, leaf) for f in validity_findings(leaf.cert, now, warning_days)]
    ca_leaf = _is_ca(leaf.cert)  # a chain file linted alone: CA lifetimes are not capped
    out += [_located(f, leaf) for f in policy_findings(leaf.cert)
            if not (ca_leaf and f.fault == FaultId.CERT_LIFETIME_EXCEEDS_POLICY)]
    for item in path[1:]:
        if not is_self_signed(item.cert):
            out += [_located(f, item, str(FaultId.CHAIN_CERT_EXPIRED))
                    for f in validity_findings(item.cert, now, 0) if f.fault == FaultId.CERT_EXPIRED]
    return out


@functools.lru_cache(maxsize=1)
def _system_roots() -> tuple[x509.Certificate, ...]:
    try:
        import certifi

        with open(certifi.where(), "rb") as handle:
            data = handle.read()
    except Exception:  # noqa: BLE001 - no bundle: only --ca-file roots count
        return ()
    roots: list[x509.Certificate] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few public roots have non-positive serials (deprecation noise)
        for chunk in data.split(b"-----END CERTIFICATE-----")[:-1]:
            try:  # one by one, so a root that a future cryptography rejects costs only itself
                roots.append(x509.load_pem_x509_certificate(chunk + b"-----END CERTIFICATE-----\n"))
            except Exception:  # noqa: BLE001 - skip that root
                continue
    return tuple(roots)


def load_ca_file(ca_file: str) -> tuple[x509.Certificate, ...]:
    """Certificates of a CA file (PEM bundle or DER); raises OSError/ValueError (the CLI reports it)."""
    with open(ca_file, "rb") as handle:
        data = handle.read()
    if b"-----BEGIN" in data:
        return tuple(x509.load_pem_x509_certificates(data))
    return (x509.load_der_x509_certificate(data),)


def _anchors(ca_file: str | Sequence[str] | None, use_system_roots: bool) -> tuple[x509.Certificate, ...]:
    extra: tuple[x509.Certificate, ...] = ()
    for path in [ca_file] if isinstance(ca_file, str) else list(ca_file or ()):
        try:
            extra += load_ca_file(path)
        except Exception:  # noqa: BLE001 - the CLI checks it first; the daemon keeps going
            continue
    return extra + (_system_roots() if use_system_roots else ())


def _chain(path: list[CertItem], anchors: tuple[x509.Certificate, ...], now: dt.datetime,
           earlier: list[Finding]) -> list[Finding]:
    """cert_file_chain_incomplete, naming the missing issuer and where to download it."""
    if not anchors:
        return []  # nothing to trust: we cannot judge (documented)
    fault = str(FaultId.CERT_FILE_CHAIN_INCOMPLETE)
    anchor_set = set(anchors)
    if any(i.cert in anchor_set for i in path):
        return []  # the files themselves reach a trusted certificate
    last = path[-1]
    anchor = next((a for a in anchors if issued_by(last.cert, a)), None)
    if anchor is None:
        if is_self_signed(last.cert):
            text = (f"{describe(last.cert)} is self-signed and is not a trusted root"
                    if last is path[0] else
                    f"the chain ends at the root {describe(last.cert)}, which is not a trusted root")
            return [file_finding(fault, last.file, last.line, text + "; if it is your private CA, pass it "
                                 "with --ca-file, otherwise use a certificate from a public CA")]
        return [_missing_issuer(path, last)]
    try:
        policy = verification.PolicyBuilder().store(verification.Store(list(anchors))).time(now)
        policy = policy.extension_policies(ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
                                           ee_policy=verification.ExtensionPolicy.permit_all())
        policy.build_client_verifier().verify(path[0].cert, [i.cert for i in path[1:]])
        return []
    except Exception as exc:  # noqa: BLE001 - the path reaches a root but is rejected; say why below
        reason = str(exc)
    explained = {str(FaultId.CERT_EXPIRED), str(FaultId.CERT_NOT_YET_VALID), str(FaultId.CHAIN_CERT_EXPIRED)}
    if any(f.fault in explained for f in earlier):
        return []  # the validity finding already says why the path fails
    return [file_finding(fault, path[0].file, path[0].line,
                         f"the certificates reach the trusted root {describe(anchor)}, but the path is "
                         f"rejected: {reason}")]


def _missing_issuer(path: list[CertItem], last: CertItem) -> Finding:
    url = _ca_issuers_url(last.cert)
    issuer = last.cert.issuer.rfc4514_string() or "(empty name)"
    text = (f"no path to a trusted root: {describe(last.cert)} is issued by '{issuer}', which is neither in "
            f"the file(s) nor a trusted root")
    text += f"; download the missing issuer from {url}" if url else "; the certificate names no download " \
        "(AIA caIssuers) URL, get the intermediate from your CA"
    if last is path[0]:
        text += f" (the leaf's key is {key_family(last.cert)}: {key_type(last.cert)}; use the matching intermediate)"
    finding = file_finding(str(FaultId.CERT_FILE_CHAIN_INCOMPLETE), last.file, last.line, text)
    return replace(finding, data={**finding.data, "missing_issuer": issuer, "aia_url": url})


def _ca_issuers_url(cert: x509.Certificate) -> str | None:
    try:
        aia = cert.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_INFORMATION_ACCESS).value
    except Exception:  # noqa: BLE001 - absent or damaged: no URL to offer
        return None
    for access in aia:
        if access.access_method == AuthorityInformationAccessOID.CA_ISSUERS:
            return str(access.access_location.value)
    return None


def _order(files: tuple[ParsedFile, ...], path: list[CertItem]) -> list[Finding]:
    """Within each file: leaf first, each followed by its issuer; other certificates last."""
    rank = {item.cert: n for n, item in enumerate(path)}
    out: list[Finding] = []
    for parsed in files:
        found = [i for i in parsed.certs if i.source == "pem"]  # PKCS#12 and PKCS#7 are sets: no order
        if len(found) < 2:
            continue
        expected = sorted(found, key=lambda i: rank.get(i.cert, len(path)))
        wrong = next((n for n, (a, b) in enumerate(zip(found, expected)) if a.cert != b.cert), None)
        if wrong is None:
            continue
        order = ", ".join(describe(i.cert) for i in expected)
        out.append(file_finding(str(FaultId.CERT_FILE_WRONG_ORDER), parsed.path, found[wrong].line,
                                f"{describe(found[wrong].cert)} stands where {_where(expected[wrong])} belongs; "
                                f"the order must be leaf first, then each issuer: {order}"))
    return out


def _key_description(key: PrivateKeyTypes) -> str:
    """Public facts only, named like certinfo.key_type: "RSA-2048", "EC-P256", "Ed25519"."""
    public = key.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        return "EC-" + public.curve.name.replace("secp", "P").replace("r1", "").replace("prime256v1", "P256")
    size = getattr(public, "key_size", None)
    name = type(public).__name__.replace("PublicKey", "").lstrip("_")
    return f"{name}-{size}" if size else name


def _spki(public_key: object) -> bytes:
    return public_key.public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _key_match(keys: list[KeyItem], leaf: CertItem, items: list[CertItem]) -> list[Finding]:
    """Compare public keys only; the message names key types, never key content."""
    out: list[Finding] = []
    leaf_spki = _spki(leaf.cert.public_key())
    for item in keys:
        if item.key is None:
            continue  # encrypted and not opened: already a finding of its own
        spki = _spki(item.key.public_key())
        if spki == leaf_spki:
            continue
        owner = next((i for i in items if _spki(i.cert.public_key()) == spki), None)
        text = (f"the {item.kind} private key ({_key_description(item.key)}) does not belong to the leaf "
                f"{describe(leaf.cert)} ({key_type(leaf.cert)})")
        text += f"; it belongs to {_where(owner)}" if owner else ""
        out.append(file_finding(str(FaultId.CERT_FILE_KEY_MISMATCH), item.file, item.line, text))
    return out
