"""dns_validation asks at most MAX_NAME_SERVERS name servers: with more, a record served by all those asked
is "could not judge" (the others may lack it), and a fault among those asked is still reported."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from exporter.config import Config
from exporter.engine.runner import run_first_target
from exporter.models import CheckStatus, ErrorKind
from exporter.net.authoritative import MAX_NAME_SERVERS
from sslfault_lab.dns_server import DnsServer

ZONE = "big.test"
SERVERS = MAX_NAME_SERVERS + 2


@pytest.fixture
async def server() -> AsyncIterator[DnsServer]:
    names = [f"ns{i:02}.{ZONE}" for i in range(SERVERS)]
    records = {ZONE: [("SOA", 60, f"{names[0]}. hostmaster.{ZONE}. 1 3600 600 86400 60"),
                      *(("NS", 60, n) for n in names)],
               **{n: [("A", 60, "127.0.0.1")] for n in names},
               f"_dnsauth.www.{ZONE}": [("TXT", 60, '"token"')]}
    dns = DnsServer([ZONE, "test"], records)
    await dns.start("127.0.0.1", 0)
    try:
        yield dns
    finally:
        await dns.stop()


def _config(dns: DnsServer, value: str) -> Config:
    return Config.model_validate({
        "resolver": {"nameservers": [f"127.0.0.1:{dns.port}"], "timeout": "2s", "authoritative_port": dns.port},
        "targets": [{"host": f"www.{ZONE}", "checks": ["dns_validation"], "dns_validation": {"value": value}}]})


async def test_a_record_served_by_every_server_asked_is_no_verdict_when_some_were_not(server: DnsServer) -> None:
    result = (await run_first_target(_config(server, "token")))["dns_validation"]
    assert (result.status, result.error_kind) == (CheckStatus.ERROR, ErrorKind.INCOMPLETE), result
    assert f"has {SERVERS} name servers; only the first {MAX_NAME_SERVERS} were asked" in (result.error or "")


async def test_a_wrong_value_among_those_asked_is_still_reported(server: DnsServer) -> None:
    result = (await run_first_target(_config(server, "other")))["dns_validation"]
    assert result.status is CheckStatus.OK, result.error
    assert [f.fault for f in result.outcome.findings] == ["dns_validation_record_mismatch"]
