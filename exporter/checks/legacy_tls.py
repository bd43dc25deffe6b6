"""Protocols and cipher suites browsers refuse or frown upon.

Protocols: each address that handed over its certificate is offered TLS 1.0 and TLS 1.1 alone
(contexts of their own at OpenSSL security level 0, see net/legacy). The capture handshake offers
TLS 1.0 to 1.3 and the server picks its highest: when that is 1.0 or 1.1, one more handshake
offering only TLS 1.2 and 1.3 confirms that no current browser can connect.

Cipher suites: TLS 1.2 ClientHellos offering one class of suites each (net/hello), read off the
wire since up to TLS 1.2 the server's choice and its Diffie-Hellman group travel in clear:
insecure suites (NULL, anonymous, export), DHE suites (the group size), forward-secret suites,
AEAD suites. At most six probes per address, all at once, within the check's timeout. Every
address that accepts TCP is probed, so a server offering only NULL suites (whose capture
handshake fails) is still named for what it offers.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from exporter.checks.base import CheckPlugin, NoSettings
from exporter.errors import CannotJudge, UnsupportedProbe
from exporter.models import CheckOutcome, ErrorKind, FaultId, Finding
from exporter.net import hello
from exporter.net.legacy import (
    LEGACY_VERSIONS,
    legacy_client_context,
    local_support_known,
    local_support_problem,
)
from exporter.net.suites import name_of, select, why_insecure
from exporter.net.tls import (
    LEGACY_NAMES,
    ConnectStatus,
    Handshake,
    handshake,
    modern_context,
)
from exporter.target import Target

if TYPE_CHECKING:
    from exporter.engine.context import ProbeContext

SHARE = 0.3  # of the target's timeout, for each probe (they run concurrently)
MAX_INSECURE_ROUNDS = 3  # insecure suites named per address (each found one is left out of the next offer)
DH_INSECURE, DH_WEAK = 1024, 2048


@dataclass(frozen=True, slots=True)
class AddressLegacy:
    address: str
    accepted: tuple[str, ...]  # e.g. ("TLS 1.0", "TLS 1.1")
    modern: bool | None = None  # accepts TLS 1.2 or 1.3; None: not probed (its handshake failed)
    insecure_suites: tuple[str, ...] = ()  # e.g. ("NULL-SHA256 (no encryption (NULL))",)
    dh_bits: int | None = None  # DHE group size, when it accepts a DHE suite
    forward_secrecy: bool | None = None  # None: not judged (TLS 1.3, or no secure TLS 1.2 suite)
    aead: bool | None = None


@dataclass(frozen=True, slots=True)
class LegacyTlsResult:
    addresses: tuple[AddressLegacy, ...]


async def run(target: Target, settings: NoSettings, ctx: ProbeContext) -> CheckOutcome:
    # Answered once per process (an in-memory handshake, in a thread the first time); cached after that.
    problem = local_support_problem() if local_support_known() else await asyncio.to_thread(local_support_problem)
    if problem:
        raise UnsupportedProbe(f"cannot judge legacy TLS: {problem}")
    addresses = await ctx.addresses()
    handshakes = await asyncio.gather(*(ctx.handshake(a, ctx.default_sni()) for a in addresses))
    # Addresses where TCP worked: a failed handshake may still be a server offering only insecure suites.
    reachable = [h for h in handshakes if h.status in (ConnectStatus.OK, ConnectStatus.HANDSHAKE_FAILED)]
    if not reachable:
        raise CannotJudge(ErrorKind.DEPENDENCY, "no address accepted a TCP connection; see the reachability check")
    per_address = await asyncio.gather(*(_probe_address(target, ctx, h) for h in reachable))
    findings = [f for r in per_address for f in _findings(r)]
    return CheckOutcome(tuple(findings), LegacyTlsResult(tuple(per_address)))


async def _probe_address(target: Target, ctx: ProbeContext, hs: Handshake) -> AddressLegacy:
    if hs.status is not ConnectStatus.OK or not hs.chain_der:
        return await _probe_now(target, ctx, hs)
    # Protocols and suites are the server's configuration: one probe set per address, port, name (the probes
    # send it as SNI, and a server may set protocols per name while serving one wildcard), negotiated
    # version and certificate serves the runs of the next 15 minutes, and every target with that name.
    key = (f"legacy|{hs.address}|{target.port}|{ctx.default_sni()}|{hs.version}|"
           f"{hashlib.sha256(hs.chain_der[0]).hexdigest()}")
    return await ctx.across_runs(key, lambda: _probe_now(target, ctx, hs))


async def _probe_now(target: Target, ctx: ProbeContext, hs: Handshake) -> AddressLegacy:
    # Shared with other runs: uses nothing memoised in this run's context, which ends with the run.
    served = hs.status is ConnectStatus.OK
    legacy = _legacy_versions(target, ctx, hs.address) if served else _none()
    modern = _modern(target, ctx, hs) if served else _none()
    accepted, is_modern, ciphers = await asyncio.gather(legacy, modern, _ciphers(target, ctx, hs))
    insecure, dh_bits, fs, aead = ciphers
    return AddressLegacy(hs.address, accepted or (), is_modern, insecure, dh_bits, fs, aead)


async def _none() -> None:
    return None


def _connect_failure(address: str, hs: Handshake) -> Exception:
    if hs.status is ConnectStatus.HANDSHAKE_TIMEOUT:
        # Silence is not a refusal: a server (or middlebox) that stalls hellos gives no verdict.
        return CannotJudge(ErrorKind.TIMEOUT, f"{address}: {hs.error}")
    return CannotJudge(ErrorKind.NETWORK, f"{address}: {hs.error}")


async def _legacy_versions(target: Target, ctx: ProbeContext, address: str) -> tuple[str, ...]:
    handshakes = await asyncio.gather(*(
        handshake(address, target.port, ctx.default_sni(), connect_timeout=target.timeout * SHARE,
                  handshake_timeout=target.timeout * SHARE, context=legacy_client_context(attr))
        for _, attr in LEGACY_VERSIONS))
    for hs in handshakes:
        if hs.status not in (ConnectStatus.OK, ConnectStatus.HANDSHAKE_FAILED):
            # Could not even connect this time: no verdict, rather than a false "refuses TLS 1.0".
            raise _connect_failure(address, hs)
    return tuple(label for (label, _), hs in zip(LEGACY_VERSIONS, handshakes, strict=True)
                 if hs.status is ConnectStatus.OK)


async def _modern(target: Target, ctx: ProbeContext, captured: Handshake) -> bool:
    """Whether the server speaks TLS 1.2 or 1.3: known from the capture unless it chose a legacy version."""
    if captured.version not in LEGACY_NAMES:
        return True
    hs = await handshake(captured.address, target.port, ctx.default_sni(), connect_timeout=target.timeout * SHARE,
                         handshake_timeout=target.timeout * SHARE, context=modern_context())
    if hs.status not in (ConnectStatus.OK, ConnectStatus.HANDSHAKE_FAILED):
        raise _connect_failure(captured.address, hs)
    return hs.status is ConnectStatus.OK


async def _offer(target: Target, ctx: ProbeContext, address: str, codes: tuple[int, ...]) -> hello.Flight:
    try:
        return await hello.probe(address, target.port, ctx.default_sni(), codes, target.timeout * SHARE)
    except TimeoutError:
        raise CannotJudge(ErrorKind.TIMEOUT, f"{address}: no answer to a ClientHello within "
                          f"{target.timeout * SHARE:g}s") from None
    except ValueError as exc:
        raise CannotJudge(ErrorKind.PROTOCOL, f"{address}: {exc}") from None
    except OSError as exc:
        raise CannotJudge(ErrorKind.NETWORK, f"{address}: {exc.strerror or exc}") from None


async def _insecure_suites(target: Target, ctx: ProbeContext, address: str) -> tuple[str, ...]:
    offer, named = list(select(insecure=True)), []
    for _ in range(MAX_INSECURE_ROUNDS):
        flight = await _offer(target, ctx, address, tuple(offer))
        if flight.outcome != "accepted" or flight.suite is None or flight.suite not in offer:
            break
        extra = f", DH {flight.dh_bits} bits" if flight.dh_bits else ""
        named.append(f"{name_of(flight.suite)} ({why_insecure(flight.suite)}{extra})")
        offer.remove(flight.suite)
    return tuple(named)


async def _ciphers(target: Target, ctx: ProbeContext,
                   hs: Handshake) -> tuple[tuple[str, ...], int | None, bool | None, bool | None]:
    """(insecure suites, DHE group bits, forward secrecy, AEAD) the server accepts over TLS up to 1.2."""
    address = hs.address
    secure, insecure, dhe, fs, aead = await asyncio.gather(
        _offer(target, ctx, address, select(insecure=False)), _insecure_suites(target, ctx, address),
        _offer(target, ctx, address, select(insecure=False, kx=("dhe",))),
        _offer(target, ctx, address, select(insecure=False, kx=("dhe", "ecdhe"))),
        _offer(target, ctx, address, select(insecure=False, aead=True)))
    dh_bits = dhe.dh_bits if dhe.outcome == "accepted" else None
    if secure.outcome != "accepted" or hs.version == "TLSv1.3":
        # No secure suite up to TLS 1.2 (a TLS 1.3-only server: every suite is AEAD and forward secret;
        # or a server offering only insecure suites, named above), or TLS 1.3 spoken: nothing more to judge.
        return insecure, dh_bits, None, None
    return insecure, dh_bits, fs.outcome == "accepted", aead.outcome == "accepted"


def _findings(r: AddressLegacy) -> list[Finding]:
    findings = []
    if r.modern is False:
        findings.append(Finding(FaultId.TLS_MODERN_PROTOCOL_UNSUPPORTED,
            f"the server accepts neither TLS 1.2 nor TLS 1.3 (only {' and '.join(r.accepted) or 'a legacy version'}): "
            "current browsers refuse to connect", r.address, {"versions": list(r.accepted)}))
    if r.accepted:
        findings.append(Finding(FaultId.TLS_LEGACY_PROTOCOL,
                                f"the server completes a {' and a '.join(r.accepted)} handshake", r.address,
                                {"versions": list(r.accepted)}))
    insecure = list(r.insecure_suites)
    if r.dh_bits is not None and r.dh_bits < DH_INSECURE:
        insecure.append(f"a {r.dh_bits}-bit DH group (under {DH_INSECURE} bits)")
    if insecure:
        findings.append(Finding(FaultId.TLS_INSECURE_CIPHER, f"the server accepts {'; '.join(insecure)}", r.address,
                                {"suites": list(r.insecure_suites), "dh_bits": r.dh_bits}))
    weak = []
    if r.dh_bits is not None and DH_INSECURE <= r.dh_bits < DH_WEAK:
        weak.append(f"a {r.dh_bits}-bit DH group (under {DH_WEAK} bits)")
    if r.forward_secrecy is False:
        weak.append("no forward secrecy: static RSA key exchange only")
    if r.aead is False and r.modern is not False:  # without TLS 1.2 there is no AEAD suite: reported above
        weak.append("no AEAD suite (CBC or RC4 only)")
    if weak:
        findings.append(Finding(FaultId.TLS_WEAK_CIPHER, f"the server offers {'; '.join(weak)}", r.address,
                                {"dh_bits": r.dh_bits, "forward_secrecy": r.forward_secrecy, "aead": r.aead}))
    return findings


PLUGIN = CheckPlugin[NoSettings, LegacyTlsResult](
    name="legacy_tls",
    summary="protocols and cipher suites browsers refuse: TLS 1.0/1.1, no TLS 1.2+, NULL/anonymous/export, weak DH",
    run=run,
    result_type=LegacyTlsResult,
    faults=frozenset({FaultId.TLS_LEGACY_PROTOCOL, FaultId.TLS_MODERN_PROTOCOL_UNSUPPORTED,
                      FaultId.TLS_INSECURE_CIPHER, FaultId.TLS_WEAK_CIPHER}),
)
