"""Lab additions for the issuance checks (guide S1, S6): CAA cases, a delegated zone, validation sites.

Attaches to a running `Lab` and uses the free addresses .3-.9 of its /24:
  .3 ns1.issuance.<domain>  authoritative for issuance.<domain>, every TXT record
  .4 ns2.issuance.<domain>  the same zone without one TXT record (a provider that lost it)
  .5 a "recursive resolver" with stale data (an old TXT value still cached)
  .6-.9 web servers for file validation: https on the lab port, http on `http_port`
  .244 http only and .245 https only (file validation passes on either scheme)
The lab's own DNS server (.1) plays the up-to-date recursive resolver: it gets the CAA
cases in the lab zone, the TLD zone (so a climb ends in NOERROR, not REFUSED) and a copy
of the delegated zone, as a resolver would have fetched it from ns1.
The case tables below are what the tests (and the Knot interop test) assert.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from exporter.config import Config
from exporter.models import CheckResult
from sslfault_lab.dns_server import Behaviour, DnsServer, RecordSpec
from sslfault_lab.lab import Lab, LabThread
from sslfault_lab.servers import (
    HttpResponse,
    HttpService,
    HttpSite,
    Service,
    TlsIdentity,
    TlsService,
    bind_tcp,
    stop_all,
)

TTL = 60
CA = "letsencrypt.org"
OTHER_CA = "pki.goog"
VALIDATION_PATH = "/.well-known/pki-validation/fileauth.txt"
FILE_TOKEN = "lab-file-token-20240101"
TXT_OK, TXT_NEW, TXT_OLD = "lab-txt-token-ok", "lab-txt-token-new", "lab-txt-token-old"
NS1, NS2, STALE, WEB_OK, WEB_404, WEB_REDIRECT, WEB_WRONG = 3, 4, 5, 6, 7, 8, 9
NOBODY = 254  # nothing listens here: connections are refused
WEB_HTTP_ONLY, WEB_HTTPS_ONLY = 244, 245  # one scheme only (a site before its first certificate; no port 80)

# -- CAA cases (names relative to caa.<domain>) -----------------------------------------------

CAA_RECORDS: dict[str, list[str]] = {
    "direct": ['0 issue "letsencrypt.org"'],
    "other-ca": ['0 issue "pki.goog"'],
    "parent": ['0 issue "pki.goog"'],
    "parent-ok": ['0 issue "letsencrypt.org"'],
    "real.other": ['0 issue "pki.goog"'],
    "other": ['0 issue "pki.goog"'],
    "wild": ['0 issuewild "letsencrypt.org"'],
    "wild-other": ['0 issue "letsencrypt.org"', '0 issuewild "pki.goog"'],
    "deny-all": ['0 issue ";"'],
    "critical": ['128 tbs "unknown"', '0 issue "letsencrypt.org"'],
    "flag1": ['1 future "x"', '0 issue "letsencrypt.org"'],
    "critical-known": ['128 issue "letsencrypt.org"'],
    "iodef-only": ['0 iodef "mailto:security@lab.test"'],
    "malformed": ['0 issue "letsencrypt.org; policy"'],
    "malformed-and-good": ['0 issue "letsencrypt.org; policy"', '0 issue "letsencrypt.org"'],
    "methods": ['0 issue "letsencrypt.org; validationmethods=dns-01"'],
    "account": ['0 issue "letsencrypt.org; accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/1"'],
    "accounts": ['0 issue "letsencrypt.org; accounturi=https://ca.test/acct/1; accounturi=https://ca.test/acct/2"'],
    "case": ['0 issue "LetsEncrypt.Org"'],
    "tag-case": ['0 ISSUE "pki.goog"'],
    "a.multi": ['0 issue "letsencrypt.org"'],
    "b.multi": ['0 issue "pki.goog"'],
    "sf-below": ['0 issue "letsencrypt.org"'],
    "host.sf-above": ['0 issue "letsencrypt.org"'],
    "refused-below": ['0 issue "letsencrypt.org"'],
    "drop": ['0 issue "letsencrypt.org"'],
}
CAA_OTHER: dict[str, list[RecordSpec]] = {
    "www.parent": [("A", TTL, "192.0.2.1")],
    "alias": [("CNAME", TTL, "real.other.caa.{domain}")],
    "alias-bare": [("CNAME", TTL, "bare.other.caa.{domain}")],
    "bare.other": [("A", TTL, "192.0.2.1")],
}
# Names whose every query fails, relative to caa.<domain>.
CAA_BEHAVIOURS: dict[str, Behaviour] = {
    "host.sf-below": "servfail", "sf-above": "servfail", "host.refused-below": "refused", "host.drop": "drop",
}


@dataclass(frozen=True)
class CaaCase:
    case: str  # the guide's words for it
    names: tuple[str, ...]  # issuance names, relative to caa.<domain>
    faults: frozenset[str]
    found_at: str | None = None  # where the relevant RRset is, relative; None: nowhere
    method: str | None = None
    ca_ids: tuple[str, ...] = (CA,)
    knot: bool = True  # Knot can serve it (it has no per-name REFUSED or silence)


_F = frozenset({"caa_forbids_issuer"})
_C = frozenset({"caa_critical_unknown_tag"})
_L = frozenset({"caa_lookup_failed"})
_OK: frozenset[str] = frozenset()
CAA_CASES: tuple[CaaCase, ...] = (
    CaaCase("CAA at the name allows the CA", ("direct",), _OK, "direct"),
    CaaCase("CAA at the name allows another CA", ("other-ca",), _F, "other-ca"),
    CaaCase("CAA at a parent allows another CA", ("www.parent",), _F, "parent"),
    CaaCase("CAA at a grandparent allows the CA", ("deep.www.parent-ok",), _OK, "parent-ok"),
    CaaCase("CAA behind a CNAME allows another CA", ("alias",), _F, "alias"),
    CaaCase("CNAME target's parent is never climbed", ("alias-bare",), _OK, None),
    CaaCase("no CAA anywhere", ("nothing-here",), _OK, None),
    CaaCase("issuewild only, non-wildcard name", ("wild",), _OK, "wild"),
    CaaCase("issuewild only, wildcard name", ("*.wild",), _OK, "wild"),
    CaaCase("issuewild takes precedence for a wildcard", ("*.wild-other",), _F, "wild-other"),
    CaaCase("issuewild ignored for a non-wildcard", ("wild-other",), _OK, "wild-other"),
    CaaCase('issue ";" forbids everyone', ("deny-all",), _F, "deny-all"),
    CaaCase("critical unknown tag (flag 128)", ("critical",), _C, "critical"),
    CaaCase("flag 1 on an unknown tag", ("flag1",), _C, "flag1"),
    CaaCase("critical flag on a known tag", ("critical-known",), _OK, "critical-known"),
    CaaCase("only iodef: unrestricted", ("iodef-only",), _OK, "iodef-only"),
    CaaCase("malformed value authorises nobody", ("malformed",), _F, "malformed"),
    CaaCase("authorisations add up past a malformed one", ("malformed-and-good",), _OK, "malformed-and-good"),
    CaaCase("validationmethods excludes file validation", ("methods",), _F, "methods", "file"),
    CaaCase("validationmethods allows DNS validation", ("methods",), _OK, "methods", "dns"),
    CaaCase("one accounturi: allowed, noted", ("account",), _OK, "account"),
    CaaCase("two accounturi: never satisfiable", ("accounts",), _F, "accounts"),
    CaaCase("issuer in another case: allowed, noted", ("case",), _OK, "case"),
    CaaCase("tags are case-insensitive", ("tag-case",), _F, "tag-case"),
    CaaCase("no single CA for all names", ("a.multi", "b.multi"), _F, "a.multi", ca_ids=(CA, OTHER_CA)),
    CaaCase("SERVFAIL below the found set", ("host.sf-below",), _L, None),
    CaaCase("SERVFAIL above the found set", ("host.sf-above",), _OK, "host.sf-above"),
    CaaCase("REFUSED below the found set", ("host.refused-below",), _L, None, knot=False),
)
TIMEOUT_CASE = CaaCase("timeout below the found set", ("host.drop",), _L, None, knot=False)

# -- DNS-TXT cases (hosts relative to issuance.<domain>) ---------------------------------------

TxtVariant = Literal["ns1", "ns2", "stale"]


@dataclass(frozen=True)
class TxtCase:
    case: str
    host: str
    value: str
    faults: frozenset[str]


# host -> values per server (ns1 and the fresh resolver, ns2, the stale resolver); None: absent
TXT_DATA: dict[str, dict[TxtVariant, tuple[str, ...] | None]] = {
    "txt-ok": {"ns1": (TXT_OK,), "ns2": (TXT_OK,), "stale": (TXT_OK,)},
    "txt-wrong": {"ns1": (TXT_OLD,), "ns2": (TXT_OLD,), "stale": (TXT_OLD,)},
    "txt-missing": {"ns1": None, "ns2": None, "stale": None},
    "txt-partial": {"ns1": (TXT_NEW,), "ns2": None, "stale": (TXT_NEW,)},
    "txt-stale": {"ns1": (TXT_NEW,), "ns2": (TXT_NEW,), "stale": (TXT_OLD,)},
    "txt-several": {"ns1": ("other-record", TXT_OK), "ns2": ("other-record", TXT_OK), "stale": (TXT_OK,)},
}
TXT_CASES: tuple[TxtCase, ...] = (
    TxtCase("TXT present everywhere", "txt-ok", TXT_OK, _OK),
    TxtCase("TXT present among other TXT records", "txt-several", TXT_OK, _OK),
    TxtCase("TXT with a wrong value", "txt-wrong", TXT_NEW, frozenset({"dns_validation_record_mismatch"})),
    TxtCase("TXT missing at every server", "txt-missing", TXT_NEW, frozenset({"dns_validation_record_missing"})),
    TxtCase("TXT missing at one authoritative server of two", "txt-partial", TXT_NEW,
            frozenset({"dns_validation_record_missing"})),
    TxtCase("TXT right at the authoritative servers, stale at a resolver", "txt-stale", TXT_NEW,
            frozenset({"dns_validation_not_propagated"})),
)
# _dnsauth.txt-cname.issuance.<domain> is a CNAME to _dnsauth.txt-cname.<domain>, a zone ns1/ns2 do
# not serve: the check must follow it to the lab zone's own server. (Knot does not chase CNAMEs
# across zones, and neither does the stale resolver, so only the lab's resolver is used for it.)
TXT_CNAME_CASE = TxtCase("TXT behind a CNAME into another zone", "txt-cname", TXT_OK, _OK)
# ACME dns-01 (RFC 8555): _acme-challenge.<host>, a new value per order and, for a certificate covering
# the name and its wildcard, two values at once; often delegated by CNAME to a zone an ACME client may
# update (acme-dns). acme.issuance.<domain> holds two tokens; acme-delegated is a CNAME out of the zone.
ACME_HOST, ACME_DELEGATED_HOST = "acme", "acme-delegated"
ACME_TOKENS = ("acme-token-for-the-name", "acme-token-for-the-wildcard")
ACME_DELEGATED_TOKEN = "acme-token-via-acme-dns"

# -- file validation cases (hosts relative to <domain>) ----------------------------------------


@dataclass(frozen=True)
class FileCase:
    case: str
    host: str
    octets: tuple[int, ...]  # the web servers it resolves to
    faults: frozenset[tuple[str, str, int]]  # (fault, scheme, octet)


FILE_CASES: tuple[FileCase, ...] = (
    FileCase("file served", "file-ok", (WEB_OK,), frozenset()),
    FileCase("file missing (404)", "file-missing", (WEB_404,), frozenset(
        {("file_validation_unreachable", "http and https", WEB_404)})),
    FileCase("served over http, nothing on 443", "file-http-only", (WEB_HTTP_ONLY,), frozenset()),
    FileCase("served over https, nothing on port 80", "file-https-only", (WEB_HTTPS_ONLY,), frozenset()),
    FileCase("file redirected (301 to https)", "file-redirect", (WEB_REDIRECT,),
             frozenset({("file_validation_redirect", "http", WEB_REDIRECT)})),
    FileCase("file with a wrong token", "file-wrong", (WEB_WRONG,), frozenset(
        {("file_validation_mismatch", "http", WEB_WRONG), ("file_validation_mismatch", "https", WEB_WRONG)})),
    FileCase("one of two addresses misses the file", "file-multi", (WEB_OK, WEB_404), frozenset(
        {("file_validation_unreachable", "http and https", WEB_404)})),
    FileCase("nothing listens", "file-down", (NOBODY,), frozenset(
        {("file_validation_unreachable", "http and https", NOBODY)})),
)

# -- zone data ----------------------------------------------------------------------------------


def caa_zone_records(domain: str) -> dict[str, list[RecordSpec]]:
    """The CAA cases, as absolute names in the lab zone."""
    base = f"caa.{domain}"
    records: dict[str, list[RecordSpec]] = {}
    for rel, values in CAA_RECORDS.items():
        records.setdefault(f"{rel}.{base}", []).extend(("CAA", TTL, v) for v in values)
    for rel, specs in CAA_OTHER.items():
        records.setdefault(f"{rel}.{base}", []).extend((t, ttl, v.format(domain=domain)) for t, ttl, v in specs)
    return records


def caa_behaviours(domain: str) -> dict[str, Behaviour]:
    return {f"{rel}.caa.{domain}": b for rel, b in CAA_BEHAVIOURS.items()}


def delegation_records(domain: str, network: str) -> dict[str, list[RecordSpec]]:
    """NS and glue for issuance.<domain> in the parent zone, the file-validation hosts, a CNAME target."""
    zone = f"issuance.{domain}"
    records: dict[str, list[RecordSpec]] = {
        zone: [("NS", TTL, f"ns1.{zone}"), ("NS", TTL, f"ns2.{zone}")],
        f"ns1.{zone}": [("A", TTL, f"{network}.{NS1}")],
        f"ns2.{zone}": [("A", TTL, f"{network}.{NS2}")],
    }
    for case in FILE_CASES:
        records[f"{case.host}.{domain}"] = [("A", TTL, f"{network}.{o}") for o in case.octets]
    records[f"_dnsauth.{TXT_CNAME_CASE.host}.{domain}"] = [("TXT", TTL, f'"{TXT_CNAME_CASE.value}"')]
    records[f"{ACME_DELEGATED_HOST}-challenge.acme-dns.{domain}"] = [("TXT", TTL, f'"{ACME_DELEGATED_TOKEN}"')]
    return records


def issuance_zone_records(domain: str, network: str, variant: TxtVariant) -> dict[str, list[RecordSpec]]:
    """The delegated zone as one server serves it."""
    zone = f"issuance.{domain}"
    records: dict[str, list[RecordSpec]] = {
        zone: [("SOA", TTL, f"ns1.{zone}. hostmaster.{zone}. 1 3600 600 86400 {TTL}"),
               ("NS", TTL, f"ns1.{zone}"), ("NS", TTL, f"ns2.{zone}")],
        f"ns1.{zone}": [("A", TTL, f"{network}.{NS1}")],
        f"ns2.{zone}": [("A", TTL, f"{network}.{NS2}")],
    }
    for host, per_server in TXT_DATA.items():
        values = per_server[variant]
        if values is not None:
            records[f"_dnsauth.{host}.{zone}"] = [("TXT", TTL, f'"{v}"') for v in values]
    cname = TXT_CNAME_CASE.host
    records[f"_dnsauth.{cname}.{zone}"] = [("CNAME", TTL, f"_dnsauth.{cname}.{domain}")]
    records[f"_acme-challenge.{ACME_HOST}.{zone}"] = [("TXT", TTL, f'"{v}"') for v in ACME_TOKENS]
    records[f"_acme-challenge.{ACME_DELEGATED_HOST}.{zone}"] = [
        ("CNAME", TTL, f"{ACME_DELEGATED_HOST}-challenge.acme-dns.{domain}")]
    return records


# -- the running additions --------------------------------------------------------------------------


@dataclass
class IssuanceLab:
    lab: Lab
    http_port: int = 0
    ns1: DnsServer = field(default_factory=DnsServer)
    ns2: DnsServer = field(default_factory=DnsServer)
    stale: DnsServer = field(default_factory=DnsServer)
    services: list[Service] = field(default_factory=list)

    def address(self, octet: int) -> str:
        return self.lab.address(octet)

    @property
    def stale_resolver(self) -> str:
        return f"{self.address(STALE)}:{self.lab.port}"

    def caa_name(self, rel: str) -> str:
        prefix = "*." if rel.startswith("*.") else ""
        return f"{prefix}{rel.removeprefix('*.')}.caa.{self.lab.domain}"

    def txt_host(self, rel: str) -> str:
        return f"{rel}.issuance.{self.lab.domain}"

    def file_host(self, rel: str) -> str:
        return f"{rel}.{self.lab.domain}"

    def config_dict(self, target: dict[str, Any], timeout: str = "4s") -> dict[str, Any]:
        """An exporter config for one target: the lab's resolver first, then the stale one."""
        lab = self.lab
        return {
            "defaults": {"timeout": timeout, "http_port": self.http_port},
            "resolver": {"nameservers": [lab.nameserver, self.stale_resolver], "timeout": "2s",
                         "authoritative_port": lab.port},
            "trust": {"use_system": False, "ca_files": [lab.root_ca_file]},
            "targets": [target],
        }

    async def stop(self) -> None:
        await stop_all(self.services)
        self.services = []
        for server in (self.ns1, self.ns2, self.stale):
            await server.stop()


async def start_issuance_lab(lab: Lab) -> IssuanceLab:
    """Start the issuance servers next to a running lab and add the cases to its DNS."""
    ilab = IssuanceLab(lab)
    try:
        await _start_dns(ilab)
        await _start_web(ilab)
    except BaseException:
        await ilab.stop()
        raise
    _extend_lab_dns(ilab)
    return ilab


def start_issuance_lab_on(thread: LabThread) -> IssuanceLab:
    """The same for a lab running on a LabThread; stop with `thread.call(ilab.stop)`."""
    assert thread.lab is not None, "LabThread not started"
    lab = thread.lab
    return thread.call(lambda: start_issuance_lab(lab))


async def run_once(config: Config) -> dict[str, CheckResult]:
    """Every enabled check on the config's first target, once (what tests and the Knot test compare)."""
    from exporter.engine.runner import run_first_target

    return await run_first_target(config)


@contextlib.contextmanager
def issuance_lab_thread(**lab_kwargs: Any) -> Iterator[IssuanceLab]:
    """A lab without TLS scenarios plus the issuance additions, on its own thread (for tests)."""
    thread = LabThread(**{"specs": (), **lab_kwargs})
    thread.start()
    try:
        ilab = start_issuance_lab_on(thread)
        try:
            yield ilab
        finally:
            thread.call(ilab.stop)
    finally:
        thread.stop()


async def _start_dns(ilab: IssuanceLab) -> None:
    lab, zone = ilab.lab, f"issuance.{ilab.lab.domain}"
    for server, octet, variant in ((ilab.ns1, NS1, "ns1"), (ilab.ns2, NS2, "ns2"), (ilab.stale, STALE, "stale")):
        server.set_zones([zone])
        server.set_records(issuance_zone_records(lab.domain, lab.network, variant))  # type: ignore[arg-type]  # the variant literal comes from a checked table
        await server.start(ilab.address(octet), lab.port)


def _extend_lab_dns(ilab: IssuanceLab) -> None:
    lab, dns = ilab.lab, ilab.lab.dns
    tld = lab.domain.rsplit(".", 1)[-1]
    dns.add_zone(tld)
    dns.add_zone(f"issuance.{lab.domain}")
    extra = {**caa_zone_records(lab.domain), **delegation_records(lab.domain, lab.network),
             **issuance_zone_records(lab.domain, lab.network, "ns1")}
    for name, records in extra.items():
        dns.add(name, records)
    for name, behaviour in caa_behaviours(lab.domain).items():
        dns.set_behaviour(name, behaviour)


def _sites(ilab: IssuanceLab) -> dict[int, tuple[HttpSite | None, HttpSite | None]]:
    """(http site, https site) per web server address; None: nothing listens for that scheme."""
    hsts = (("Strict-Transport-Security", "max-age=300"),)
    token = HttpResponse(200, f"{FILE_TOKEN}\n".encode(), headers=hsts)
    home = f"https://{ilab.file_host('file-ok')}:{ilab.lab.port}/"
    # A healthy site: http redirects to https except for the validation file, as a CA needs.
    ok_http = HttpSite({VALIDATION_PATH: token}, default=HttpResponse(301, b"", headers=(("Location", home),)))
    ok_https = HttpSite({VALIDATION_PATH: token}, default=HttpResponse(200, b"welcome\n", headers=hsts))
    missing = HttpSite(default=HttpResponse(404, b"not found\n"))
    https_url = f"https://{ilab.file_host('file-redirect')}:{ilab.lab.port}{VALIDATION_PATH}"
    redirect = HttpSite(default=HttpResponse(301, b"", headers=(("Location", https_url),)))
    wrong = HttpSite({VALIDATION_PATH: HttpResponse(200, b"lab-file-token-from-an-older-order\n")})
    token_only = HttpSite({VALIDATION_PATH: token}, default=HttpResponse(200, b"welcome\n"))
    return {WEB_OK: (ok_http, ok_https), WEB_404: (missing, missing), WEB_REDIRECT: (redirect, ok_https),
            WEB_WRONG: (wrong, wrong), WEB_HTTP_ONLY: (token_only, None), WEB_HTTPS_ONLY: (None, token_only)}


async def _start_web(ilab: IssuanceLab) -> None:
    lab = ilab.lab
    names = [ilab.file_host(c.host) for c in FILE_CASES]
    identity = await asyncio.to_thread(_write_identity, lab, names)
    sites = _sites(ilab)
    # Sites with both schemes first: the first http socket picks the one http port every site shares.
    for octet, (http_site, https_site) in sorted(sites.items(), key=lambda item: None in item[1]):
        address = ilab.address(octet)
        # https first, so the kernel's pick for http cannot take the lab port.
        https_sock = bind_tcp(address, lab.port) if https_site is not None else None
        try:
            http_sock = bind_tcp(address, ilab.http_port) if http_site is not None else None
        except OSError:
            if https_sock is not None:
                https_sock.close()
            raise
        if http_sock is not None:
            ilab.http_port = http_sock.getsockname()[1]
        services: list[tuple[Service, Any]] = []
        if http_site is not None:
            services.append((HttpService(http_site), http_sock))
        if https_site is not None:
            services.append((TlsService(identity, https_site), https_sock))
        for service, sock in services:
            ilab.services.append(service)
            await service.start(sock)


def _write_identity(lab: Lab, names: list[str]) -> TlsIdentity:
    issued = lab.pki.issue_leaf(names)
    chain, key = Path(lab.workdir, "issuance.chain.pem"), Path(lab.workdir, "issuance.key.pem")
    chain.write_bytes(issued.cert_pem + lab.pki.ecc_intermediate.cert_pem)
    key.write_bytes(issued.key_pem)
    key.chmod(0o600)
    return TlsIdentity(str(chain), str(key))


def exporter_targets(ilab: IssuanceLab) -> dict[str, tuple[dict[str, Any], frozenset[str]]]:
    """Target name -> (exporter target, faults it must show) for every CAA, DNS-TXT and file-validation case."""
    out: dict[str, tuple[dict[str, Any], frozenset[str]]] = {}
    for case in CAA_CASES:
        names = [ilab.caa_name(n) for n in case.names]
        target = {"host": names[0].removeprefix("*."), "certificate_names": names, "ca_identifiers": list(case.ca_ids),
                  "checks": ["caa"], **({"validation_method": case.method} if case.method else {})}
        out[f"caa: {case.case}"] = (target, case.faults)
    for txt in TXT_CASES:
        out[f"txt: {txt.case}"] = ({"host": ilab.txt_host(txt.host), "checks": ["dns_validation"],
                                    "dns_validation": {"value": txt.value}}, txt.faults)
    for file in FILE_CASES:
        out[f"file: {file.case}"] = ({"host": ilab.file_host(file.host), "port": ilab.lab.port, "http_port": ilab.http_port,
                                      "checks": ["file_validation"], "file_validation": {"token": FILE_TOKEN}},
                                     frozenset(fault for fault, _, _ in file.faults))
    return out
