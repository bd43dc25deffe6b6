"""CAA: may the configured CA issue for every name the certificate needs (RFC 8659, RFC 8657)?

Each name's parents are queried in parallel (as Boulder does) and read bottom-up, so a
failure above the relevant RRset costs nothing while one at or below it fails closed.
The resolver follows CNAMEs; the climb only ever walks the original name's parents.
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dns.asyncresolver
import dns.exception
import dns.name
import dns.resolver

from exporter.checks._caa import CaaRecord, Level, Selection, Verdict, climb_names, evaluate, select_relevant
from exporter.checks.base import CheckPlugin, Flag, MetricSpec, Sample, Settings
from exporter.models import CheckOutcome, FaultId, Finding
from exporter.target import Target

if TYPE_CHECKING:
    from exporter.engine.context import ProbeContext


class CaaSettings(Settings):
    # CAA identifiers of the CAs that issue for this target (e.g. letsencrypt.org). Without them only what
    # blocks every CA (a critical unknown tag) is reported.
    ca_identifiers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CaaNameResult:
    name: str  # as the certificate needs it (may be *.example.com)
    found_at: str | None = None  # where the relevant RRset was found; None: no CAA anywhere
    canonical_name: str | None = None  # the alias target when found through a CNAME
    records: tuple[str, ...] = ()
    authorised: tuple[str, ...] = ()  # configured CA identifiers that may issue for this name
    restricted: bool = False  # False: no issue/issuewild record applies, any CA may issue
    failed_at: str | None = None
    error: str | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CaaResult:
    names: tuple[CaaNameResult, ...]
    # Some configured CA may issue for all names (sslfault_caa_issuance_allowed); None: no CA configured.
    issuance_allowed: bool | None


class _Lookups:
    """One CAA query per name per run, shared by every issuance name that climbs through it."""

    def __init__(self, resolver: dns.asyncresolver.Resolver) -> None:
        self._resolver = resolver
        self._tasks: dict[str, asyncio.Task[Level]] = {}

    def start(self, name: str) -> asyncio.Task[Level]:
        task = self._tasks.get(name)
        if task is None:
            task = asyncio.ensure_future(lookup_caa(self._resolver, name))
            self._tasks[name] = task
        return task

    def cancel(self) -> None:
        for task in self._tasks.values():
            task.cancel()


async def run(target: Target, settings: CaaSettings, ctx: ProbeContext) -> CheckOutcome:
    ca_ids = settings.ca_identifiers
    names = [n for n in dict.fromkeys(target.issuance_names) if not _is_ip(n)]  # CAA does not apply to IPs
    lookups = _Lookups(ctx.resources.resolver)
    try:
        results = await asyncio.gather(*(_check_name(n, lookups, ca_ids, target.validation_method) for n in names))
    finally:
        lookups.cancel()
    findings: list[Finding] = []
    for name_result, verdict in results:
        findings += _findings(name_result, verdict, ca_ids)
    if not ca_ids:
        # No CA to ask about: a failed lookup (often just a test DNS server refusing the TLD) is not
        # reported; a critical unknown tag blocks every CA and is.
        findings = [f for f in findings if f.fault == "caa_critical_unknown_tag"]
    per_name = tuple(r for r, _ in results)
    common = _common_authorised(per_name, ca_ids)
    if not findings and names and ca_ids and not common:
        findings.append(_no_common_ca(per_name, ca_ids))
    # Without configured CAs there is no "may our CA issue" to answer: the metric stays absent.
    allowed = (not findings) if ca_ids else None
    return CheckOutcome(tuple(findings), CaaResult(per_name, issuance_allowed=allowed))


async def _check_name(
    name: str, lookups: _Lookups, ca_ids: tuple[str, ...], method: str | None
) -> tuple[CaaNameResult, Verdict | None]:
    selection = await climb(name, lookups)
    if selection.failed is not None:
        failed = selection.failed
        return CaaNameResult(name, failed_at=failed.name, error=failed.error), None
    found = selection.found
    if found is None:
        return CaaNameResult(name, authorised=ca_ids), None
    verdict = evaluate(found.records, name.startswith("*."), ca_ids, method)
    if verdict.critical:
        authorised: tuple[str, ...] = ()
    else:
        authorised = verdict.authorised if verdict.restricted else ca_ids
    result = CaaNameResult(
        name, found_at=found.name, canonical_name=found.canonical_name,
        records=tuple(r.text() for r in found.records), authorised=authorised,
        restricted=verdict.restricted or bool(verdict.critical), notes=verdict.notes,
    )
    return result, verdict


async def climb(name: str, lookups: _Lookups) -> Selection:
    """Start every level at once, then read them from the name upwards; stop at the first verdict."""
    tasks = [lookups.start(n) for n in climb_names(name)]
    levels: list[Level] = []
    for task in tasks:
        levels.append(await asyncio.shield(task))
        selection = select_relevant(levels)
        if selection.found is not None or selection.failed is not None:
            return selection
    return select_relevant(levels)


async def lookup_caa(resolver: dns.asyncresolver.Resolver, name: str) -> Level:
    try:
        answer = await resolver.resolve(name, "CAA", search=False, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return Level(name, "nxdomain")
    except dns.resolver.NoNameservers as exc:
        return Level(name, "error", error=_rcodes(exc))
    except dns.exception.Timeout:
        return Level(name, "error", error="timeout")
    except dns.exception.DNSException as exc:
        return Level(name, "error", error=f"{type(exc).__name__}: {exc}"[:300])
    qname = dns.name.from_text(name)
    canonical = answer.canonical_name
    via = canonical.to_text(omit_final_dot=True) if canonical != qname else None
    if answer.rrset is None or len(answer.rrset) == 0:
        return Level(name, "empty", canonical_name=via)
    return Level(name, "records", _records(answer.rrset), canonical_name=via)


def _records(rrset: Any) -> tuple[CaaRecord, ...]:
    records = [CaaRecord(rd.flags, rd.tag.decode("latin-1"), rd.value.decode("latin-1")) for rd in rrset]
    return tuple(sorted(records, key=lambda r: (r.tag.lower(), r.value, r.flags)))


def _rcodes(exc: dns.resolver.NoNameservers) -> str:
    """'SERVFAIL' / 'REFUSED' (or the errors) from every resolver that was asked."""
    errors = exc.kwargs.get("errors") or []
    texts = sorted({str(err[3]) for err in errors if len(err) > 3})
    return ", ".join(texts)[:300] or "all resolvers failed"


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


# -- findings -----------------------------------------------------------------------


def _where(r: CaaNameResult) -> str:
    via = f" (through the CNAME to {r.canonical_name})" if r.canonical_name else ""
    return f"{r.found_at}{via}"


def _data(r: CaaNameResult, ca_ids: tuple[str, ...], **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"name": r.name, "found_at": r.found_at, "canonical_name": r.canonical_name,
                            "records": list(r.records), "ca_identifiers": list(ca_ids), "notes": list(r.notes)}
    data.update(extra)
    return data


def _findings(r: CaaNameResult, verdict: Verdict | None, ca_ids: tuple[str, ...]) -> list[Finding]:
    if r.error is not None:
        detail = (f"{r.name}: the CAA lookup at {r.failed_at} failed ({r.error}); CAs refuse to issue "
                  "when a lookup at or below the relevant record set fails")
        return [Finding(FaultId.CAA_LOOKUP_FAILED, detail, data=_data(r, ca_ids, failed_at=r.failed_at, error=r.error))]
    if verdict is None:
        return []
    if verdict.critical:
        shown = "; ".join(_critical_text(c) for c in verdict.critical)
        detail = f"{r.name}: CAA at {_where(r)} has {shown}: no CA may issue. Records: {', '.join(r.records)}"
        return [Finding(FaultId.CAA_CRITICAL_UNKNOWN_TAG, detail,
                        data=_data(r, ca_ids, critical=[c.text() for c in verdict.critical]))]
    if verdict.restricted and not verdict.authorised and ca_ids:
        kind = "wildcard " if verdict.selected_tag == "issuewild" or r.name.startswith("*.") else ""
        detail = (f"{r.name}: CAA at {_where(r)} does not let {' or '.join(ca_ids)} issue {kind}certificates "
                  f"({verdict.selected_tag} records: {', '.join(s.text() for s in verdict.selected)})")
        if verdict.notes:
            detail += ". " + "; ".join(verdict.notes)
        return [Finding(FaultId.CAA_FORBIDS_ISSUER, detail, data=_data(r, ca_ids, selected=verdict.selected_tag))]
    return []


def _critical_text(record: CaaRecord) -> str:
    flag = "the critical flag 128" if record.flags & 128 else (
        f"flag {record.flags}, which strict CAs (Let's Encrypt) read as critical")
    return f"{record.text()} (unknown tag {record.tag!r} with {flag})"


def _common_authorised(names: tuple[CaaNameResult, ...], ca_ids: tuple[str, ...]) -> set[str]:
    common = set(ca_ids)
    for r in names:
        common &= set(r.authorised)
    return common


def _no_common_ca(names: tuple[CaaNameResult, ...], ca_ids: tuple[str, ...]) -> Finding:
    """Every name allows some configured CA, but no single CA may issue the whole certificate."""
    parts = [f"{r.name} allows {', '.join(r.authorised)} (CAA at {r.found_at or 'none'})" for r in names]
    detail = "no single configured CA may issue for all names: " + "; ".join(parts)
    return Finding(FaultId.CAA_FORBIDS_ISSUER, detail,
                   data={"names": [{"name": r.name, "authorised": list(r.authorised), "found_at": r.found_at}
                                   for r in names], "ca_identifiers": list(ca_ids)})


CAA_ALLOWED = MetricSpec("sslfault_caa_issuance_allowed",
                         "1 if CAA lets a configured CA issue for all the target's names, 0 if not "
                         "(latest scheduled run).")


def _samples(target: Target, result: CaaResult) -> list[Sample]:
    if result.issuance_allowed is None:
        return []
    return [Sample(CAA_ALLOWED.name, (), 1.0 if result.issuance_allowed else 0.0)]


PLUGIN = CheckPlugin[CaaSettings, CaaResult](
    name="caa",
    summary="CAA records let the configured CA issue for every name of the certificate (RFC 8659)",
    run=run,
    result_type=CaaResult,
    faults=frozenset({FaultId.CAA_FORBIDS_ISSUER, FaultId.CAA_CRITICAL_UNKNOWN_TAG, FaultId.CAA_LOOKUP_FAILED}),
    settings=CaaSettings,
    defaultable=("ca_identifiers",),
    metrics=(CAA_ALLOWED,),
    samples=_samples,
    flags=(Flag("--ca-identifier", "ca_identifiers",
                "CAA identifier of the CA that issues (e.g. letsencrypt.org; repeatable); enables the CAA verdict",
                metavar="DOMAIN", repeat=True),),
)
