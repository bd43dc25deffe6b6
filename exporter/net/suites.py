"""TLS 1.0-1.2 cipher suites by what they do, from this machine's OpenSSL table (plus the export suites
OpenSSL 3 no longer knows), for the ClientHello probes of `hello`.

OpenSSL's own table gives the key exchange, authentication and AEAD property of every suite it can
name, so the classes below cannot drift from the library. PSK and SRP suites are left out: they need a
shared secret a server never offers to strangers.
"""

from __future__ import annotations

import functools
import ssl
from dataclasses import dataclass


@dataclass(frozen=True)
class Suite:
    code: int  # the two-byte IANA value
    name: str  # OpenSSL's name, e.g. DHE-RSA-AES128-GCM-SHA256
    kx: str  # rsa, dhe, ecdhe
    anonymous: bool
    null: bool  # no encryption at all
    export: bool
    aead: bool

    @property
    def forward_secret(self) -> bool:
        return self.kx in ("dhe", "ecdhe")


# Export-grade suites (40/56-bit keys), removed from OpenSSL 1.1: offered by code only (RFC 2246, RFC 4346).
_EXPORT = {
    0x0003: "EXP-RC4-MD5", 0x0006: "EXP-RC2-CBC-MD5", 0x0008: "EXP-DES-CBC-SHA", 0x000B: "EXP-DH-DSS-DES-CBC-SHA",
    0x000E: "EXP-DH-RSA-DES-CBC-SHA", 0x0011: "EXP-EDH-DSS-DES-CBC-SHA", 0x0014: "EXP-EDH-RSA-DES-CBC-SHA",
    0x0017: "EXP-ADH-RC4-MD5", 0x0019: "EXP-ADH-DES-CBC-SHA", 0x0062: "EXP1024-DES-CBC-SHA",
    0x0063: "EXP1024-DHE-DSS-DES-CBC-SHA", 0x0064: "EXP1024-RC4-SHA", 0x0065: "EXP1024-DHE-DSS-RC4-SHA",
}
_KX = {"kx-rsa": "rsa", "kx-dhe": "dhe", "kx-ecdhe": "ecdhe"}


@functools.cache
def all_suites() -> dict[int, Suite]:
    """Every TLS 1.0-1.2 suite this OpenSSL can name, and the export suites, by code (built once)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.set_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0")
    suites: dict[int, Suite] = {}
    for info in ctx.get_ciphers():
        kx = _KX.get(str(info["kea"]))
        if info["protocol"] == "TLSv1.3" or kx is None:
            continue
        code = int(info["id"]) & 0xFFFF
        suites[code] = Suite(code, str(info["name"]), kx, info["auth"] == "auth-null", info["symmetric"] is None,
                             False, bool(info["aead"]))
    for code, name in _EXPORT.items():
        kx = "dhe" if "DH" in name else "rsa"
        suites[code] = Suite(code, name, kx, "ADH" in name, False, True, False)
    return suites


def select(*, insecure: bool | None = None, kx: tuple[str, ...] | None = None, aead: bool | None = None) -> tuple[int, ...]:
    """Codes of the suites matching every given property (insecure: NULL, anonymous or export)."""
    out = []
    for suite in all_suites().values():
        bad = suite.null or suite.anonymous or suite.export
        if insecure is not None and bad != insecure:
            continue
        if kx is not None and suite.kx not in kx:
            continue
        if aead is not None and suite.aead != aead:
            continue
        out.append(suite.code)
    return tuple(out)


def name_of(code: int) -> str:
    suite = all_suites().get(code)
    return suite.name if suite else f"0x{code:04X}"


def why_insecure(code: int) -> str | None:
    suite = all_suites().get(code)
    if suite is None:
        return None
    if suite.null:
        return "no encryption (NULL)"
    if suite.anonymous:
        return "no server authentication (anonymous)"
    if suite.export:
        return "export-grade keys"
    return None
