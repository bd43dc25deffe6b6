"""Chain: what each address sends, judged as a path to a trusted root (guide S7, S9)."""

from __future__ import annotations

from typing import TYPE_CHECKING
import datetime as dt
from dataclasses import dataclass, replace

from cryptography import x509
from cryptography.x509.verification import Store

from exporter.pki.certinfo import describe, is_self_signed, key_family
from exporter.pki.paths import ServedShape, Verdict, complete_via_aia, parse_issuer_document, served_shape, verify
from exporter.target import Target
from exporter.checks.base import AddressFacts, CheckPlugin, Facts, NoSettings, Sample
from exporter.checks._metrics import CHAIN_NOT_AFTER
from exporter.models import CheckOutcome, FaultId, Finding
from exporter.net.http import fetch

if TYPE_CHECKING:
    from exporter.engine.context import ProbeContext

AIA_TTL_SECONDS = 3600.0
AIA_FAILURE_TTL_SECONDS = 300.0
AIA_MAX_BYTES = 64 * 1024
# Path building compares certificates pairwise: a 300-certificate "chain" must not cost seconds.
MAX_CHAIN = 16


@dataclass(frozen=True)
class AddressChain:
    address: str
    served: int  # how many certificates the server sent
    trusted: bool
    chain_not_after: float | None  # earliest notAfter on the built path, anchor excluded
    path: tuple[str, ...]  # subjects, leaf first


@dataclass(frozen=True)
class ChainResult:
    addresses: tuple[AddressChain, ...]


async def run(target: Target, settings: NoSettings, ctx: ProbeContext) -> CheckOutcome:
    served = await ctx.served_handshakes()
    store = ctx.resources.trust_store
    findings: list[Finding] = []
    results: list[AddressChain] = []
    judged: dict[tuple[bytes, ...], tuple[list[Finding], AddressChain]] = {}
    for hs in served:
        if hs.chain_der in judged:  # many addresses behind one name usually serve the same chain
            same_findings, same = judged[hs.chain_der]
            findings += [replace(f, address=hs.address) for f in same_findings]
            results.append(replace(same, address=hs.address))
            continue
        try:
            chain = [x509.load_der_x509_certificate(der) for der in hs.chain_der[:MAX_CHAIN]]
        except ValueError as exc:
            # Garbage from a broken or hostile server: no client can build a path from it.
            findings.append(Finding(FaultId.CERT_UNTRUSTED, f"the server sent a certificate that cannot be parsed: {exc}",
                                    hs.address))
            continue
        address_findings, result = await _judge(chain, hs.address, target, ctx, store)
        if len(hs.chain_der) > MAX_CHAIN:
            address_findings.append(Finding(FaultId.CHAIN_EXTRA_CERTS, f"the server sends {len(hs.chain_der)} certificates; only the first "
                f"{MAX_CHAIN} were examined (a real chain has 2 to 4)", hs.address))
        judged[hs.chain_der] = (address_findings, result)
        findings += address_findings
        results.append(result)
    return CheckOutcome(tuple(findings), ChainResult(tuple(results)))


async def _judge(
    chain: list[x509.Certificate], address: str, target: Target, ctx: ProbeContext, store: Store
) -> tuple[list[Finding], AddressChain]:
    now = ctx.now()
    leaf = chain[0]
    shape = served_shape(chain)
    findings = _shape_findings(chain, shape, address)
    expired = [chain[i] for i in shape.path[1:] if not is_self_signed(chain[i]) and chain[i].not_valid_after_utc < now]
    for cert in expired:
        findings.append(
            Finding(FaultId.CHAIN_CERT_EXPIRED,
                    f"intermediate {describe(cert)} expired {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC", address)
        )
    # Judge trust at a moment the leaf is valid, so an expired leaf is reported as expired, not untrusted.
    at = min(max(now, leaf.not_valid_before_utc + dt.timedelta(seconds=1)),
             leaf.not_valid_after_utc - dt.timedelta(seconds=1))
    verdict = verify(leaf, chain[1:], store, at, target.host)
    fetched_note = ""
    if not verdict.trusted and not _is_validity_error(verdict):
        top = chain[shape.path[-1]]
        completion = await complete_via_aia(top, lambda url: _fetch_issuer(ctx, url), ctx.limits.max_aia_fetches)
        if completion.fetched:
            completed = verify(leaf, chain[1:] + [c for c, _ in completion.fetched], store, at, target.host)
            if completed.trusted:
                findings.append(_incomplete_finding(chain, completion.fetched, address))
                verdict = completed
            else:
                fetched_note = f"; even with {len(completion.fetched)} issuer(s) fetched via AIA: {completed.error}"
        if completion.errors:
            fetched_note += "; AIA: " + "; ".join(completion.errors)
    if not verdict.trusted and not (expired and _is_validity_error(verdict)):
        findings.append(Finding(FaultId.CERT_UNTRUSTED, _untrusted_detail(chain, shape, verdict) + fetched_note, address))
    path = verdict.path or tuple(chain[i] for i in shape.path)
    non_anchor = [c for c in path[:-1]] if verdict.trusted else [c for c in path if not is_self_signed(c)]
    chain_not_after = min((c.not_valid_after_utc.timestamp() for c in non_anchor), default=None)
    result = AddressChain(address, len(chain), verdict.trusted, chain_not_after, tuple(describe(c) for c in path))
    return findings, result


def _shape_findings(chain: list[x509.Certificate], shape: ServedShape, address: str) -> list[Finding]:
    findings = []
    if shape.wrong_order:
        sent = ", ".join(describe(c) for c in chain)
        findings.append(Finding(FaultId.CHAIN_WRONG_ORDER, f"sent in this order: {sent}; each certificate must be "
                                "followed by its issuer", address))
    if shape.root_index is not None:
        findings.append(Finding(FaultId.CHAIN_CONTAINS_ROOT,
                                f"the server also sends the self-signed {describe(chain[shape.root_index])}", address))
    if shape.extra:
        extra = ", ".join(f"#{i + 1} {describe(chain[i])}" for i in shape.extra)
        findings.append(Finding(FaultId.CHAIN_EXTRA_CERTS, f"certificates not on the path: {extra}", address))
    return findings


def _incomplete_finding(
    chain: list[x509.Certificate], fetched: tuple[tuple[x509.Certificate, str], ...], address: str
) -> Finding:
    missing = [c for c, _ in fetched if not is_self_signed(c)] or [fetched[0][0]]
    parts = [f"{describe(c)} ({key_family(c)}) from {url}" for c, url in fetched if c in missing]
    detail = (f"server sends {len(chain)} certificate{'s' if len(chain) != 1 else ''}; missing issuer "
              + "; ".join(parts))
    data = {"missing": [{"subject": c.subject.rfc4514_string(), "key_type": key_family(c), "url": url}
                        for c, url in fetched if c in missing]}
    return Finding(FaultId.CHAIN_INCOMPLETE, detail, address, data)


def _is_validity_error(verdict: Verdict) -> bool:
    return bool(verdict.error) and "validation time" in (verdict.error or "")


def _untrusted_detail(chain: list[x509.Certificate], shape: ServedShape, verdict: Verdict) -> str:
    top = chain[shape.path[-1]]
    if len(shape.path) == 1 and is_self_signed(top):
        reason = f"{describe(top)} is self-signed"
    elif is_self_signed(top):
        reason = f"the chain ends at {describe(top)}, which is not a trusted root"
    else:
        reason = f"no trusted root found for issuer {top.issuer.rfc4514_string()}"
    return f"{reason} ({verdict.error})"


async def _fetch_issuer(ctx: ProbeContext, url: str) -> list[x509.Certificate]:
    cache = ctx.resources.aia_cache
    cached = cache.get(url)
    if cached is not None:
        if isinstance(cached, str):
            raise OSError(cached)
        return cached
    try:
        response = await fetch(ctx.resources.session, url, timeout=min(5.0, ctx.target.timeout / 2),
                               max_bytes=AIA_MAX_BYTES, allow_redirects=True)
        if response.status != 200:
            raise OSError(f"HTTP {response.status}")
        certs = parse_issuer_document(response.body)
        if not certs:
            raise OSError("not a certificate (DER, PKCS#7 or PEM)")
    except Exception as exc:
        cache.put(url, str(exc) or type(exc).__name__, AIA_FAILURE_TTL_SECONDS)
        raise
    cache.put(url, certs, AIA_TTL_SECONDS)
    return certs


def _samples(target: Target, result: ChainResult) -> list[Sample]:
    return [Sample(CHAIN_NOT_AFTER.name, (c.address,), c.chain_not_after)
            for c in result.addresses if c.chain_not_after is not None]


def _facts(result: ChainResult) -> Facts:
    return Facts(addresses=tuple(AddressFacts(c.address, trusted=c.trusted, chain_path=c.path,
                                              chain_not_after=c.chain_not_after)
                                 for c in result.addresses))


PLUGIN = CheckPlugin[NoSettings, ChainResult](
    name="chain",
    summary="what each address sends, judged as a path to a trusted root (AIA completion as browsers do)",
    run=run,
    result_type=ChainResult,
    faults=frozenset({FaultId.CERT_UNTRUSTED, FaultId.CHAIN_CERT_EXPIRED, FaultId.CHAIN_INCOMPLETE,
                      FaultId.CHAIN_WRONG_ORDER, FaultId.CHAIN_CONTAINS_ROOT, FaultId.CHAIN_EXTRA_CERTS}),
    metrics=(CHAIN_NOT_AFTER,),
    samples=_samples,
    facts=_facts,
)
