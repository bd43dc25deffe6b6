"""Interop: the issuance zones served by Knot DNS give the same CAA and TXT verdicts as the lab's server.

Three knotd processes stand in for the lab's three DNS servers on the same loopback
addresses (.3 ns1 and the resolver, .4 ns2, .5 the stale resolver), on a high port of
their own. Knot cannot SERVFAIL one name on purpose, so a zone whose file is missing
plays that part: Knot answers SERVFAIL for every name in a zone it could not load.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rcode
import pytest

from exporter.config import Config
from sslfault_lab.dns_server import RecordSpec, parse_records, to_name
from sslfault_lab.issuance import (
    CAA_CASES,
    NS1,
    NS2,
    STALE,
    TTL,
    TXT_CASES,
    CaaCase,
    IssuanceLab,
    TxtCase,
    caa_zone_records,
    delegation_records,
    issuance_zone_records,
    run_once,
)
from tests.support.knot import free_port, knot_config, wait_for_zone

KNOTD = shutil.which("knotd") or ("/usr/sbin/knotd" if os.access("/usr/sbin/knotd", os.X_OK) else None)
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(KNOTD is None, reason="knotd not installed (Debian package `knot`; "
                       "scripts/install-system-deps.sh installs it as root)"),
]
KNOT_CAA_CASES = [c for c in CAA_CASES if c.knot]

# -- zone files ---------------------------------------------------------------------------------


def zone_text(zone: str, records: dict[str, list[RecordSpec]]) -> str:
    """A zone file from lab records (names absolute), with SOA and NS added where the lab needs none."""
    records = {name: list(specs) for name, specs in records.items()}
    apex = records.setdefault(zone, [])
    if not any(t == "SOA" for t, _, _ in apex):
        apex.append(("SOA", TTL, f"ns.{zone}. hostmaster.{zone}. 1 3600 600 86400 {TTL}"))
    if not any(t == "NS" for t, _, _ in apex):
        apex.append(("NS", TTL, f"ns.{zone}"))
    lines = [f"$TTL {TTL}"]
    for name, specs in sorted(records.items(), key=lambda item: to_name(item[0])):
        lines += [rrset.to_text() for rrset in parse_records(to_name(name), specs).values()]
    return "\n".join(lines) + "\n"


def knot_zones(ilab: IssuanceLab) -> dict[int, dict[str, str | None]]:
    """Zone name -> zone file text (None: a configured zone without a file, which SERVFAILs), per server."""
    domain, network = ilab.lab.domain, ilab.lab.network
    caa = f"caa.{domain}"
    sf_below, sf_above, sf_host = f"host.sf-below.{caa}", f"sf-above.{caa}", f"host.sf-above.{caa}"
    main = {**caa_zone_records(domain), **delegation_records(domain, network),
            f"ns.{domain}": [("A", TTL, ilab.address(NS1))]}
    own_zone = {sf_host: main.pop(sf_host)}
    main = {n: r for n, r in main.items() if not to_name(n).is_subdomain(to_name(sf_above))}
    tld = domain.rsplit(".", 1)[-1]
    return {
        NS1: {tld: zone_text(tld, {}), domain: zone_text(domain, main),
              f"issuance.{domain}": zone_text(f"issuance.{domain}", issuance_zone_records(domain, network, "ns1")),
              sf_below: None, sf_above: None, sf_host: zone_text(sf_host, own_zone)},
        NS2: {f"issuance.{domain}": zone_text(f"issuance.{domain}", issuance_zone_records(domain, network, "ns2"))},
        STALE: {f"issuance.{domain}": zone_text(f"issuance.{domain}", issuance_zone_records(domain, network, "stale"))},
    }


# -- knotd ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def knot(ilab: IssuanceLab) -> Iterator[int]:
    """Start the three knotd servers; yields their port."""
    assert KNOTD is not None
    zones = knot_zones(ilab)
    port = free_port([ilab.address(octet) for octet in zones])
    workdir = Path(tempfile.mkdtemp(prefix="sslfault-knot-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for octet, served in zones.items():
            base = workdir / str(octet)
            config = knot_config(base, ilab.address(octet), port, served)
            log = base / "knotd.log"
            with log.open("wb") as out:
                procs.append(subprocess.Popen([KNOTD, "-c", str(config)], stdout=out, stderr=subprocess.STDOUT))
            for zone, text in served.items():
                if text is not None:
                    wait_for_zone(ilab.address(octet), port, zone, procs[-1], log)
        yield port
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def knot_config_dict(ilab: IssuanceLab, port: int, target: dict[str, Any]) -> dict[str, Any]:
    data = ilab.config_dict(target)
    data["resolver"] = {"nameservers": [f"{ilab.address(NS1)}:{port}", f"{ilab.address(STALE)}:{port}"],
                        "timeout": "2s", "authoritative_port": port}
    return data


# -- the comparisons ----------------------------------------------------------------------------------


def caa_verdict(ilab: IssuanceLab, case: CaaCase, knot_port: int | None) -> tuple[frozenset[str], str | None]:
    names = [ilab.caa_name(n) for n in case.names]
    target: dict[str, Any] = {"host": names[0].removeprefix("*."), "certificate_names": names,
                              "ca_identifiers": list(case.ca_ids), "checks": ["caa"]}
    if case.method:
        target["validation_method"] = case.method
    data = knot_config_dict(ilab, knot_port, target) if knot_port else ilab.config_dict(target)
    result = asyncio.run(run_once(Config.model_validate(data)))["caa"]
    assert result.error is None, result.error
    return frozenset(f.fault for f in result.outcome.findings), result.outcome.result.names[0].found_at


@pytest.mark.parametrize("case", KNOT_CAA_CASES, ids=[c.case for c in KNOT_CAA_CASES])
def test_caa_verdict_matches_the_lab(ilab: IssuanceLab, knot: int, case: CaaCase) -> None:
    from_knot = caa_verdict(ilab, case, knot)
    assert from_knot == caa_verdict(ilab, case, None)
    assert from_knot[0] == case.faults


def txt_verdict(ilab: IssuanceLab, case: TxtCase, knot_port: int | None) -> tuple[frozenset[str], list[Any]]:
    target = {"host": ilab.txt_host(case.host), "checks": ["dns_validation"], "dns_validation": {"value": case.value}}
    data = knot_config_dict(ilab, knot_port, target) if knot_port else ilab.config_dict(target)
    result = asyncio.run(run_once(Config.model_validate(data)))["dns_validation"]
    assert result.error is None, result.error
    views = result.outcome.result
    servers = [(v.server, v.address, v.status, v.values) for v in views.authoritative]
    resolvers = [(v.status, v.values) for v in views.recursive]
    return frozenset(f.fault for f in result.outcome.findings), [views.zone, servers, resolvers]


@pytest.mark.parametrize("case", TXT_CASES, ids=[c.case for c in TXT_CASES])
def test_txt_verdict_matches_the_lab(ilab: IssuanceLab, knot: int, case: TxtCase) -> None:
    from_knot = txt_verdict(ilab, case, knot)
    assert from_knot == txt_verdict(ilab, case, None)
    assert from_knot[0] == case.faults


def test_knot_really_answers(ilab: IssuanceLab, knot: int) -> None:
    """Guard against comparing the lab with itself: Knot's port differs and its unloaded zones SERVFAIL."""
    assert knot != ilab.lab.port
    ask = dns.message.make_query(f"sf-above.caa.{ilab.lab.domain}", "CAA")
    assert dns.query.udp(ask, ilab.address(NS1), timeout=2, port=knot).rcode() == dns.rcode.SERVFAIL
    ask = dns.message.make_query(f"_dnsauth.txt-partial.issuance.{ilab.lab.domain}", "TXT")
    assert dns.query.udp(ask, ilab.address(NS2), timeout=2, port=knot).rcode() == dns.rcode.NXDOMAIN
