"""The lint rules across files: leaf, chain to a trusted root, order, key match, validity.

``lint_files`` is the public entry (the CLI and the daemon's watched files call it);
``analyse`` also returns the ordered chain that ``--fix`` writes. No input makes
either raise: an internal error becomes a finding on the file.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from exporter.catalog.faults import FaultId
from exporter.certfiles.parse import INVALID, CertItem, KeyItem, ParsedFile, file_finding, read_file
from exporter.models import Finding
from exporter.pki.aia import ca_issuers_urls
from exporter.pki.certinfo import (
    CertSummary,
    crypto_findings,
    describe,
    extension,
    key_family,
    key_type,
    lifetime_finding,
    quiet,
    summarize,
    validity_findings,
)
from exporter.pki.roots import TrustStore, load_ca_file, system_roots
from exporter.pki.verify import Problem, Verdict, issued, judge, self_signed

__all__ = ["Analysis", "LintResult", "analyse", "lint_files"]

UTC = dt.UTC


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
    private_ca_max_lifetime_days: int | None = None,
) -> LintResult:
    """Lint the certificate files of one upload (cert, chain and key may be split over files).

    Never raises: unreadable or unparsable input is a cert_file_invalid_pem finding. Without any
    trust anchor (use_system_roots=False and no usable ca_file) the chain is not judged.
    """
    return analyse(paths, key_path=key_path, password=password, ca_file=ca_file,
                   use_system_roots=use_system_roots, now=now, expiry_warning_days=expiry_warning_days,
                   private_ca_max_lifetime_days=private_ca_max_lifetime_days).result


def analyse(
    paths: Sequence[str],
    *,
    key_path: str | None = None,
    password: bytes | None = None,
    ca_file: str | Sequence[str] | None = None,
    use_system_roots: bool = True,
    now: dt.datetime | None = None,
    expiry_warning_days: float = 21,
    private_ca_max_lifetime_days: int | None = None,
) -> Analysis:
    now = now or dt.datetime.now(UTC)
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    paths = [os.fspath(p) for p in paths]  # pathlib.Path too; JSON data needs plain strings
    with quiet():  # real roots with non-positive serials (Mozilla has some) must not print warnings
        files = tuple(read_file(p, password) for p in paths)
        key_file = read_file(os.fspath(key_path), password) if key_path else None
    findings = [f for parsed in files for f in parsed.findings]
    if key_file is not None:
        findings += [_about_key(f) for f in key_file.findings]
    try:
        with quiet():
            return _rules(files, key_file, findings, _trust(ca_file, use_system_roots), now,
                          (expiry_warning_days, private_ca_max_lifetime_days))
    except Exception as exc:  # noqa: BLE001 - lint-cert promises a report for any bytes, never a traceback
        where = paths[0] if paths else (key_path or "")
        findings.append(file_finding(INVALID, where, None, f"could not be checked ({exc.__class__.__name__})"))
        return Analysis(LintResult(tuple(findings), ()), files=files)


def _rules(files: tuple[ParsedFile, ...], key_file: ParsedFile | None, findings: list[Finding],
           trust: TrustStore, now: dt.datetime, limits: tuple[float, int | None]) -> Analysis:
    items = [item for parsed in files for item in parsed.certs]
    keys = [k for parsed in files for k in parsed.keys] + (key_file.keys if key_file else [])
    findings += _misplaced(files, key_file)
    if not items:
        return Analysis(LintResult(tuple(findings), ()), files=files)
    leaf = _pick_leaf(items)
    # The daemon's engine: the path OpenSSL would build from the files' certificates and the roots.
    verdict = judge(leaf.cert, [i.cert for i in items if i is not leaf], trust, now)
    path = _path(leaf, items, verdict)
    findings += _validity(path, verdict, now, *limits)
    findings += _chain(path, verdict, trust)
    findings += _order(files, path)
    findings += _key_match(keys, leaf, items)
    on_path = {id(i) for i in path}
    certificates = [summarize(leaf.cert)] + [summarize(i.cert) for i in items if i is not leaf]
    chain = tuple(i.cert for i in path if not (i is not leaf and self_signed(i.cert)))
    dropped = sum(1 for i in items if id(i) not in on_path)
    return Analysis(LintResult(tuple(findings), tuple(certificates)), chain, dropped, files)


KEY_REMEDY = {
    "en": "Give --key the private key as PEM: base64 text between `-----BEGIN PRIVATE KEY-----` and "
          "`-----END PRIVATE KEY-----` (convert a DER key with `openssl pkey -inform der -in key.der -out "
          "key.pem`, decrypt an encrypted one with `openssl pkey -in key.pem -out plain.key`). It must be the "
          "key the certificate was issued for; keep it in its own file.",
    "zh": "请用 --key 提供 PEM 格式的私钥：即位于 `-----BEGIN PRIVATE KEY-----` 和 `-----END PRIVATE KEY-----` "
          "之间的 base64 文本（DER 格式的私钥可用 `openssl pkey -inform der -in key.der -out key.pem` 转换，"
          "加密的私钥可用 `openssl pkey -in key.pem -out plain.key` 解密）。它必须是签发证书时所用的私钥，"
          "并单独存放在自己的文件中。",
}


def _about_key(finding: Finding) -> Finding:
    """A problem with the --key file: its fix speaks about the key, not about certificates."""
    if finding.fault != INVALID:
        return finding
    return replace(finding, data={**finding.data, "remedy": KEY_REMEDY})


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
        out.append(_about_key(file_finding(INVALID, key_file.path, key_file.certs[0].line,
                                           "this is a certificate where a private key was expected")))
    return out


def _is_ca(cert: x509.Certificate) -> bool:
    constraints = extension(cert, x509.BasicConstraints)
    return bool(constraints and constraints.ca)


def _pick_leaf(items: list[CertItem]) -> CertItem:
    """The first certificate that issued none of the others, preferring a non-CA one."""
    def issues_another(item: CertItem) -> bool:
        return any(other is not item and other.cert != item.cert and issued(other.cert, item.cert)
                   for other in items)
    candidates = [i for i in items if not issues_another(i)] or items
    return next((i for i in candidates if not _is_ca(i.cert)), candidates[0])


def _path(leaf: CertItem, items: list[CertItem], verdict: Verdict) -> list[CertItem]:
    """The verdict's path as far as the files hold it (a trusted root need not be in them)."""
    by_cert: dict[x509.Certificate, CertItem] = {}
    for item in items:
        by_cert.setdefault(item.cert, item)
    path = [leaf]
    for cert in verdict.path[1:]:
        if cert not in by_cert:
            break
        path.append(by_cert[cert])
    return path


def _where(item: CertItem) -> str:
    return f"{describe(item.cert)} ({item.file}" + (f", line {item.line})" if item.line else ")")


def _located(finding: Finding, item: CertItem, fault: str | None = None) -> Finding:
    base = file_finding(fault or finding.fault, item.file, item.line, finding.detail)
    return replace(base, data={**base.data, **finding.data})


def _validity(path: list[CertItem], verdict: Verdict, now: dt.datetime, warning_days: float,
              private_max_days: int | None) -> list[Finding]:
    """certinfo's faults on the leaf; an expired intermediate is chain_cert_expired; weak crypto on both."""
    leaf = path[0]
    out = [_located(f, leaf) for f in validity_findings(leaf.cert, now, warning_days)]
    out += [_located(f, leaf) for f in crypto_findings(leaf.cert)]
    # The CA/B caps bind chains to public roots; a chain file linted alone (a CA as "leaf") is not capped.
    lifetime = None if _is_ca(leaf.cert) or not verdict.anchored else \
        lifetime_finding(leaf.cert, verdict.public, private_max_days)
    out += [_located(lifetime, leaf)] if lifetime else []
    for item in path[1:]:
        if not self_signed(item.cert):
            out += [_located(f, item, str(FaultId.CHAIN_CERT_EXPIRED))
                    for f in validity_findings(item.cert, now, 0) if f.fault == FaultId.CERT_EXPIRED]
            out += [_located(f, item) for f in crypto_findings(item.cert, "intermediate ")]
    return out


def _trust(ca_file: str | Sequence[str] | None, use_system_roots: bool) -> TrustStore:
    private: tuple[x509.Certificate, ...] = ()
    for path in [ca_file] if isinstance(ca_file, str) else list(ca_file or ()):
        try:
            private += load_ca_file(path)
        except (OSError, ValueError):
            continue  # the CLI checks it first; the daemon keeps going
    return TrustStore(public=system_roots() if use_system_roots else (), private=private)


# Problems that have findings of their own (validity), so the path is not also called incomplete.
_EXPLAINED = (Problem.EXPIRED, Problem.NOT_YET_VALID)


def _chain(path: list[CertItem], verdict: Verdict, trust: TrustStore) -> list[Finding]:
    """cert_file_chain_incomplete, naming the missing issuer and where to download it."""
    if not trust or verdict.trusted:
        return []  # nothing to trust: we cannot judge (documented); or nothing to say
    fault = str(FaultId.CERT_FILE_CHAIN_INCOMPLETE)
    last = path[-1]
    if not verdict.anchored:
        if self_signed(last.cert):
            text = (f"{describe(last.cert)} is self-signed and is not a trusted root"
                    if last is path[0] else
                    f"the chain ends at the root {describe(last.cert)}, which is not a trusted root")
            return [file_finding(fault, last.file, last.line, text + "; if it is your private CA, pass it "
                                 "with --ca-file, otherwise use a certificate from a public CA")]
        return [_missing_issuer(path, last)]
    rejected = [i.detail for i in verdict.issues if i.problem not in _EXPLAINED]
    if not rejected:
        return []  # the validity findings already say why the path fails
    anchor = verdict.path[-1]
    return [file_finding(fault, path[0].file, path[0].line,
                         f"the certificates reach the trusted root {describe(anchor)}, but the path is "
                         f"rejected: {'; '.join(rejected)}")]


def _missing_issuer(path: list[CertItem], last: CertItem) -> Finding:
    urls = ca_issuers_urls(last.cert)
    url = urls[0] if urls else None
    issuer = last.cert.issuer.rfc4514_string() or "(empty name)"
    text = (f"no path to a trusted root: {describe(last.cert)} is issued by '{issuer}', which is neither in "
            f"the file(s) nor a trusted root")
    text += f"; download the missing issuer from {url}" if url else "; the certificate names no download " \
        "(AIA caIssuers) URL, get the intermediate from your CA"
    if last is path[0]:
        text += f" (the leaf's key is {key_family(last.cert)}: {key_type(last.cert)}; use the matching intermediate)"
    finding = file_finding(str(FaultId.CERT_FILE_CHAIN_INCOMPLETE), last.file, last.line, text)
    return replace(finding, data={**finding.data, "missing_issuer": issuer, "aia_url": url})


def _order(files: tuple[ParsedFile, ...], path: list[CertItem]) -> list[Finding]:
    """Within each file: leaf first, each followed by its issuer; other certificates last."""
    rank = {item.cert: n for n, item in enumerate(path)}
    out: list[Finding] = []
    for parsed in files:
        found = [i for i in parsed.certs if i.source == "pem"]  # PKCS#12 and PKCS#7 are sets: no order
        if len(found) < 2:
            continue
        expected = sorted(found, key=lambda i: rank.get(i.cert, len(path)))
        wrong = next((n for n, (a, b) in enumerate(zip(found, expected, strict=True)) if a.cert != b.cert), None)
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
    return public_key.public_bytes(  # type: ignore[attr-defined, no-any-return]  # every key type has public_bytes
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
