"""DNS-TXT domain validation: does every authoritative server, and every resolver, serve the value?

The CA asks the zone's authoritative servers (any of them, from several places), so
each one is queried directly; the configured recursive resolvers show what stale
caches still hand out (guide S1 and S6).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import dns.exception
import dns.message
import dns.name
import dns.rdatatype
from pydantic import Field

from exporter.checks.base import CheckPlugin, Flag, Settings
from exporter.errors import CannotJudge, DependencyError
from exporter.models import CheckOutcome, ErrorKind, FaultId, Finding
from exporter.net.authoritative import (
    ServerAnswer,
    ZoneServers,
    ask_servers,
    authoritative_targets,
    find_zone_servers,
)
from exporter.target import Target

if TYPE_CHECKING:
    from exporter.engine.context import ProbeContext

MAX_CNAME_HOPS = 3
Status = Literal["match", "mismatch", "absent", "error"]


class ValidationLookupError(dns.exception.DNSException):
    """No authoritative server gave an answer, so there is no verdict."""


class DnsValidationConfig(Settings):
    """DNS-TXT domain validation: the record the CA will look up and the value it expects."""

    value: str = Field(min_length=1)
    record: str | None = None  # default: _dnsauth.<host>


class DnsValidationSettings(Settings):
    dns_validation: DnsValidationConfig | None = None


@dataclass(frozen=True, slots=True)
class ServerView:
    server: str  # the name server's name, or ip[:port] of a recursive resolver
    address: str
    status: Status
    values: tuple[str, ...] = ()
    error: str | None = None

    def describe(self) -> str:
        shown = ", ".join(repr(v) for v in self.values) if self.values else "no TXT record"
        label = self.server if self.address in self.server else f"{self.server} ({self.address})"
        return f"{label}: {self.error or shown}"


@dataclass(frozen=True, slots=True)
class DnsValidationResult:
    record: str  # the name queried
    queried: str  # where the TXT lives (the record, or its CNAME target)
    zone: str
    name_servers: str  # zone servers as text, for the JSON view
    authoritative: tuple[ServerView, ...]
    recursive: tuple[ServerView, ...]


def record_name(target: Target, config: DnsValidationConfig) -> str:
    record = config.record or f"_dnsauth.{target.host}"
    return record.strip().rstrip(".").lower()


async def run(target: Target, settings: DnsValidationSettings, ctx: ProbeContext) -> CheckOutcome:
    if settings.dns_validation is None:
        raise DependencyError("no dns_validation value configured")
    expected = settings.dns_validation.value
    record = record_name(target, settings.dns_validation)
    resolver = ctx.resources.config.resolver
    queried, zone, auth = await _authoritative(ctx, record, resolver.authoritative_port, resolver.timeout)
    auth_views = tuple(_view(a, expected) for a in auth)
    if all(v.status == "error" for v in auth_views):
        raise ValidationLookupError(  # type: ignore[no-untyped-call]  # dnspython's exception __init__ is untyped
            f"no authoritative server of {zone.zone} answered for {queried}: "
            + "; ".join(v.describe() for v in auth_views)
        )
    recursive = await ask_servers(_recursive_targets(ctx), record, "TXT", resolver.timeout, recursive=True)
    rec_views = tuple(_view(a, expected) for a in recursive)
    result = DnsValidationResult(record, queried, zone.zone, zone.describe(), auth_views, rec_views)
    findings = _findings(result, expected)
    if zone.omitted and not findings:
        # The servers not asked may lack the record, and the CA may ask any of them.
        raise CannotJudge(ErrorKind.INCOMPLETE, f"{zone.zone} has {len(zone.servers) + zone.omitted} name servers; "
                          f"only the first {len(zone.servers)} were asked, and they all serve the record")
    return CheckOutcome(tuple(findings), result)


async def _authoritative(
    ctx: ProbeContext, record: str, port: int, timeout: float
) -> tuple[str, ZoneServers, list[ServerAnswer]]:
    """Ask the zone's servers; when they all answer with a CNAME, ask the target's zone instead."""
    name = record
    for _ in range(MAX_CNAME_HOPS + 1):
        zone = await find_zone_servers(ctx.resources.resolver, name)
        targets = authoritative_targets(zone, port)
        if not targets:
            raise ValidationLookupError(f"no name server of {zone.zone} has an address: {zone.describe()}")  # type: ignore[no-untyped-call]  # dnspython's exception __init__ is untyped
        answers = await ask_servers(targets, name, "TXT", timeout)
        alias = _common_alias(answers, name)
        if alias is None:
            return name, zone, answers
        name = alias
    raise CannotJudge(ErrorKind.INCOMPLETE, f"{record}: more than {MAX_CNAME_HOPS} CNAMEs; where they lead was not read")


def _common_alias(answers: list[ServerAnswer], name: str) -> str | None:
    """The CNAME target when every answering server says `name` is an alias with no TXT in its zone."""
    targets: set[str] = set()
    for answer in answers:
        if answer.response is None or answer.error:
            continue
        chain = answer.response.resolve_chaining()  # type: ignore[attr-defined]  # dnspython's typing omits resolve_chaining
        if chain.answer is not None or chain.canonical_name == dns.name.from_text(name):
            return None
        targets.add(chain.canonical_name.to_text(omit_final_dot=True).lower())
    return targets.pop() if len(targets) == 1 else None


def _view(answer: ServerAnswer, expected: str) -> ServerView:
    if answer.error or answer.response is None:
        return ServerView(answer.server, answer.address, "error", error=answer.error)
    values = _txt_values(answer.response)
    if not values:
        return ServerView(answer.server, answer.address, "absent")
    status: Status = "match" if expected in values else "mismatch"
    return ServerView(answer.server, answer.address, status, values)


def _txt_values(response: dns.message.Message) -> tuple[str, ...]:
    """Each TXT record's strings joined, as CAs read them; through any CNAME chain in the answer."""
    try:
        chain = response.resolve_chaining()  # type: ignore[attr-defined]  # dnspython's typing omits resolve_chaining
    except dns.exception.DNSException:
        return ()
    if chain.answer is None or chain.answer.rdtype != dns.rdatatype.TXT:
        return ()
    values = [b"".join(rd.strings).decode("utf-8", "replace") for rd in chain.answer]
    return tuple(sorted(values))


def _recursive_targets(ctx: ProbeContext) -> list[tuple[str, str, int]]:
    endpoints = ctx.resources.config.resolver.endpoints()
    if not endpoints:  # the system's resolvers (/etc/resolv.conf)
        resolver = ctx.resources.resolver
        for item in resolver.nameservers:
            if isinstance(item, str):
                endpoints.append((item, resolver.port))
            elif hasattr(item, "address"):
                endpoints.append((item.address, getattr(item, "port", 53)))
    return [(f"{ip}:{port}" if port != 53 else ip, ip, port) for ip, port in endpoints]


# -- findings -------------------------------------------------------------------------


def _data(result: DnsValidationResult, expected: str, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "record": result.record, "queried": result.queried, "expected": expected, "zone": result.zone,
        "name_servers": result.name_servers,
        "authoritative": [v.describe() for v in result.authoritative],
        "recursive": [v.describe() for v in result.recursive],
    }
    data.update(extra)
    return data


def _findings(result: DnsValidationResult, expected: str) -> list[Finding]:
    findings: list[Finding] = []
    auth = result.authoritative
    absent = [v for v in auth if v.status == "absent"]
    wrong = [v for v in auth if v.status == "mismatch"]
    alias = f" (a CNAME to {result.queried})" if result.queried != result.record else ""
    if absent:
        having = [v for v in auth if v.status in ("match", "mismatch")]
        detail = (f"TXT {result.record}{alias} is absent at {len(absent)} of {len(auth)} authoritative "
                  f"server address(es) of {result.zone}: {', '.join(_label(v) for v in absent)}")
        if having:
            detail += f"; present at {', '.join(_label(v) for v in having)}"
        detail += (f". The zone's name servers are {result.name_servers}: if this DNS host cannot serve TXT "
                   "records, move the zone or use file validation")
        findings.append(Finding(FaultId.DNS_VALIDATION_RECORD_MISSING, detail, data=_data(result, expected)))
    if wrong:
        shown = "; ".join(v.describe() for v in wrong)
        detail = f"TXT {result.record}{alias} does not hold the expected value {expected!r}: {shown}"
        hint = _near_miss(wrong, expected)
        if hint:
            detail += f" ({hint})"
        findings.append(Finding(FaultId.DNS_VALIDATION_RECORD_MISMATCH, detail, data=_data(result, expected)))
    if findings or not any(v.status == "match" for v in auth):
        return findings
    stale = [v for v in result.recursive if v.status in ("absent", "mismatch")]
    if stale:
        detail = (f"the authoritative servers of {result.zone} serve the expected TXT {result.record}, but "
                  f"resolver(s) still answer otherwise: {'; '.join(v.describe() for v in stale)}")
        findings.append(Finding(FaultId.DNS_VALIDATION_NOT_PROPAGATED, detail, data=_data(result, expected)))
    return findings


def _label(view: ServerView) -> str:
    return f"{view.server} ({view.address})"


def _near_miss(views: list[ServerView], expected: str) -> str | None:
    """Point at the usual typing slips: quotes or spaces around the value, a different case."""
    for view in views:
        for value in view.values:
            if _loose(value) == _loose(expected):
                return "a value differs only by quotes or spaces"
            if value.lower() == expected.lower():
                return "a value differs only in letter case"
    return None


def _loose(text: str) -> str:
    return text.strip().strip('"').strip()


PLUGIN = CheckPlugin[DnsValidationSettings, DnsValidationResult](
    name="dns_validation",
    summary="the DNS-TXT validation record is served by every authoritative server and resolver (S1, S6)",
    run=run,
    result_type=DnsValidationResult,
    faults=frozenset({FaultId.DNS_VALIDATION_RECORD_MISSING, FaultId.DNS_VALIDATION_RECORD_MISMATCH,
                      FaultId.DNS_VALIDATION_NOT_PROPAGATED}),
    settings=DnsValidationSettings,
    applies=lambda target, settings: settings.dns_validation is not None,
    flags=(Flag("--dns-validation-value", "dns_validation.value", "expected TXT value; enables the DNS-TXT check",
                metavar="V"),
           Flag("--dns-validation-record", "dns_validation.record", "TXT record name (default _dnsauth.HOST)",
                metavar="NAME")),
)
