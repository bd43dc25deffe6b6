"""Chain: what each address sends, judged as a path to a trusted root (guide S7, S9).

Trust is OpenSSL's default verification (the pki engine); each problem that has a fault id of
its own is reported under it and never also as cert_untrusted: an expired or not yet valid
leaf is the tls check's, an expired intermediate is chain_cert_expired, MD5/SHA-1 signatures
and tiny RSA keys on intermediates are cert_crypto_rejected (OpenSSL accepts them, browsers
do not). What the strict web-PKI profile alone objects to is only a note in the result.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from cryptography import x509

from exporter.checks._metrics import CHAIN_NOT_AFTER
from exporter.checks.base import AddressFacts, CheckPlugin, Facts, NoSettings, Sample
from exporter.models import CheckOutcome, FaultId, Finding
from exporter.pki.certinfo import crypto_findings, describe, key_family, load_der
from exporter.pki.paths import MAX_SERVED, Judgement, ServedShape, served_shape
from exporter.pki.verify import Issue, Problem, self_signed
from exporter.target import Target

if TYPE_CHECKING:
    from exporter.engine.context import ProbeContext
    from exporter.net.tls import Handshake

_VALIDITY = (Problem.EXPIRED, Problem.NOT_YET_VALID)


@dataclass(frozen=True, slots=True)
class AddressChain:
    address: str
    served: int  # how many certificates the server sent
    trusted: bool  # a path to a root with no problem but those reported under their own ids (expiry, crypto)
    chain_not_after: float | None  # earliest notAfter on the built path, anchor excluded
    path: tuple[str, ...]  # subjects, leaf first
    notes: tuple[str, ...] = ()  # what stricter or more lenient clients would say; never a fault
    leaf_not_after: float | None = None  # the served leaf's, to tell when the chain runs out first


@dataclass(frozen=True, slots=True)
class ChainResult:
    addresses: tuple[AddressChain, ...]


async def run(target: Target, settings: NoSettings, ctx: ProbeContext) -> CheckOutcome:
    findings: list[Finding] = []
    results: list[AddressChain] = []
    for hs in await ctx.served_handshakes():
        try:
            judgement = await ctx.judged_chain(hs)
        except ValueError as exc:
            # Garbage from a broken or hostile server: no client can build a path from it.
            findings.append(Finding(FaultId.CERT_UNTRUSTED,
                                    f"the server sent a certificate that cannot be parsed: {exc}", hs.address))
            continue
        # Judged once per chain and verdict (shared by every address and target sending it), then given
        # this address. The verdict is keyed by the examined certificates only; how many were sent in all
        # is part of what is judged here, so it is part of this key.
        derived_key = f"chain|{len(hs.chain_der)}"
        derived = judgement.derived.get(derived_key)
        if derived is None:
            chain = [load_der(der) for der in hs.chain_der[:MAX_SERVED]]
            derived = judgement.derived[derived_key] = _judge(chain, judgement, hs)
        address_findings = [replace(f, address=hs.address) for f in derived[0]]
        result = replace(derived[1], address=hs.address)
        findings += address_findings
        results.append(result)
    return CheckOutcome(tuple(findings), ChainResult(tuple(results)))


def _judge(chain: list[x509.Certificate], judgement: Judgement, hs: Handshake) -> tuple[list[Finding], AddressChain]:
    address, verdict = hs.address, judgement.verdict
    shape = served_shape(chain)
    findings = _shape_findings(chain, shape, address)
    if len(hs.chain_der) > MAX_SERVED:
        findings.append(Finding(FaultId.CHAIN_EXTRA_CERTS, f"the server sends {len(hs.chain_der)} certificates; "
                                f"only the first {MAX_SERVED} were examined (a real chain has 2 to 4)", address))
    if judgement.incomplete and judgement.completion is not None:
        findings.append(_incomplete_finding(chain, judgement.completion.fetched, address))
    anchor_depth = len(verdict.path) - 1 if verdict.anchored else len(verdict.path)
    intermediates = verdict.path[1:anchor_depth]
    for cert in intermediates:
        findings += crypto_findings(cert, "intermediate ", address)
    untrusted: list[Issue] = []
    for issue in verdict.issues:
        if issue.problem in _VALIDITY and issue.depth == 0:
            continue  # the tls check reports the leaf's own validity
        if issue.problem is Problem.EXPIRED and 0 < issue.depth < anchor_depth:
            findings.append(Finding(FaultId.CHAIN_CERT_EXPIRED, f"intermediate {issue.detail}", address))
            continue
        untrusted.append(issue)
    if untrusted:
        findings.append(Finding(FaultId.CERT_UNTRUSTED, _untrusted_detail(untrusted, judgement), address,
                                {"problems": sorted({str(i.problem) for i in untrusted})}))
    # Chain expiry: the earliest notAfter on the path, the anchor (or any self-signed top) excluded.
    non_anchor = [c for c in verdict.path[:anchor_depth] if verdict.anchored or not self_signed(c)]
    chain_not_after = min((c.not_valid_after_utc.timestamp() for c in non_anchor), default=None)
    leaf_not_after = verdict.path[0].not_valid_after_utc.timestamp() if verdict.path else None
    result = AddressChain(address, len(hs.chain_der), verdict.anchored and not untrusted, chain_not_after,
                          tuple(describe(c) for c in verdict.path), verdict.notes, leaf_not_after)
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
    missing = [(c, url) for c, url in fetched if c.subject != c.issuer] or [fetched[0]]
    parts = [f"{describe(c)} ({key_family(c)}) from {url}" for c, url in missing]
    detail = (f"server sends {len(chain)} certificate{'s' if len(chain) != 1 else ''}; missing issuer "
              + "; ".join(parts))
    data = {"missing": [{"subject": c.subject.rfc4514_string(), "key_type": key_family(c), "url": url}
                        for c, url in missing]}
    return Finding(FaultId.CHAIN_INCOMPLETE, detail, address, data)


def _untrusted_detail(issues: list[Issue], judgement: Judgement) -> str:
    detail = "; ".join(dict.fromkeys(i.detail for i in issues))
    completion = judgement.completion
    if completion is not None and completion.fetched and not judgement.verdict.anchored:
        detail += f" (even with {len(completion.fetched)} issuer(s) fetched via AIA)"
    if completion is not None and completion.errors:
        detail += "; AIA: " + "; ".join(completion.errors)
    return detail


def _samples(target: Target, result: ChainResult) -> list[Sample]:
    # Only where an intermediate runs out before the leaf: otherwise the leaf's own series says it all.
    return [Sample(CHAIN_NOT_AFTER.name, (c.address,), c.chain_not_after)
            for c in result.addresses
            if c.chain_not_after is not None and (c.leaf_not_after is None or c.chain_not_after < c.leaf_not_after)]


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
                      FaultId.CHAIN_WRONG_ORDER, FaultId.CHAIN_CONTAINS_ROOT, FaultId.CHAIN_EXTRA_CERTS,
                      # on intermediates (the tls check judges the leaf)
                      FaultId.CERT_CRYPTO_REJECTED, FaultId.CERT_WEAK_CRYPTO}),
    metrics=(CHAIN_NOT_AFTER,),
    samples=_samples,
    facts=_facts,
)
