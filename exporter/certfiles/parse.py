"""Read certificate and key files (PEM, DER, PKCS#12, PKCS#7), remembering where each item sits.

PEM is parsed here rather than by cryptography's loaders: those only say "could not
parse", while an operator needs the line and the reason. Per-file faults (markers,
base64, whitespace, DER instead of PEM, encrypted keys) are found here; rules across
files (chain, order, key match) live in ``lint``. Keys are kept in memory only to
compare public keys; no message ever quotes anything from inside a key block.
"""

from __future__ import annotations

import base64
import binascii
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from exporter.catalog.faults import FaultId
from exporter.models import Finding
from exporter.pki.certinfo import summarize

INVALID = str(FaultId.CERT_FILE_INVALID_PEM)
WHITESPACE = str(FaultId.CERT_FILE_WHITESPACE)

MAX_BYTES = 10 * 1024 * 1024  # bundles are kilobytes; do not slurp a mistaken huge file
_STRICT_MARKER = re.compile(r"^-----(BEGIN|END) ([A-Z0-9#]+(?: [A-Z0-9#]+)*)-----$")
_LOOSE_MARKER = re.compile(r"^[-\s]*(BEGIN|END)\s+([A-Za-z0-9# ]*?)[-\s]*$", re.IGNORECASE)
_LABEL_WORDS = ("CERTIFICATE", "KEY", "REQUEST", "PKCS7", "CRL", "PARAMETERS")
_B64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
_PKCS7_DATA_OID = bytes.fromhex("06092a864886f70d010701")
CERT_LABELS = {"CERTIFICATE", "X509 CERTIFICATE"}
KEY_KINDS = {"PRIVATE KEY": "PKCS#8", "ENCRYPTED PRIVATE KEY": "PKCS#8", "RSA PRIVATE KEY": "traditional RSA",
             "EC PRIVATE KEY": "traditional EC", "DSA PRIVATE KEY": "traditional DSA"}
_CSR = "a certificate signing request (CSR), not a certificate; upload the certificate the CA issued for it"
# Valid PEM, but not what a certificate upload takes: what it is and what to do.
_WRONG_KIND = {
    "CERTIFICATE REQUEST": _CSR,
    "NEW CERTIFICATE REQUEST": _CSR,
    "PUBLIC KEY": "a public key, neither a certificate nor a private key",
    "RSA PUBLIC KEY": "a public key, neither a certificate nor a private key",
    "X509 CRL": "a certificate revocation list (CRL), not a certificate",
    "TRUSTED CERTIFICATE": "OpenSSL's TRUSTED CERTIFICATE form; convert with `openssl x509 -in FILE -out cert.pem`",
    "OPENSSH PRIVATE KEY": "an OpenSSH key, not a PEM private key; convert a copy with `ssh-keygen -p -m PEM -f COPY`",
}
_IGNORED_LABELS = {"EC PARAMETERS", "DH PARAMETERS"}  # openssl writes these next to keys; harmless


@dataclass(frozen=True)
class CertItem:
    cert: x509.Certificate
    file: str
    line: int | None  # the BEGIN line; None in binary files
    source: str = "pem"  # pem, der, pkcs12, pkcs7: only PEM blocks have an order that matters


@dataclass(frozen=True)
class KeyItem:
    file: str
    line: int | None
    kind: str  # "PKCS#8", "traditional RSA", "PKCS#12", "DER"
    key: PrivateKeyTypes | None = field(default=None, repr=False)  # None: encrypted and not opened
    encrypted: bool = False


@dataclass
class ParsedFile:
    path: str
    format: str = "unknown"  # pem, der, pkcs12, pkcs7, empty, unreadable, unknown
    certs: list[CertItem] = field(default_factory=list)
    keys: list[KeyItem] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def add(self, fault: str, line: int | None, text: str) -> None:
        self.findings.append(file_finding(fault, self.path, line, text))


def file_finding(fault: str, path: str, line: int | None, text: str) -> Finding:
    """The detail names file and line too, because the text report prints only the detail."""
    where = f"{path}, line {line}" if line else path
    return Finding(FaultId(fault), f"{where}: {text}", None, {"file": path, "line": line})


def read_file(path: str, password: bytes | None = None) -> ParsedFile:
    """Read and parse one file; a read error is a finding, never an exception."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        parsed = ParsedFile(path, "unreadable")
        parsed.add(INVALID, None, f"cannot be read ({exc.strerror or exc.__class__.__name__})")
        return parsed
    if len(data) > MAX_BYTES:
        parsed = ParsedFile(path)
        parsed.add(INVALID, None, f"is larger than {MAX_BYTES // 1048576} MiB, so it is not a certificate file")
        return parsed
    return parse_bytes(path, data, password)


def parse_bytes(path: str, data: bytes, password: bytes | None = None) -> ParsedFile:
    parsed = ParsedFile(path)
    try:
        _dispatch(parsed, data, password)
    except Exception as exc:  # noqa: BLE001 - every input must end in a verdict
        parsed.add(INVALID, None, f"could not be parsed ({exc.__class__.__name__})")
    return parsed


def _dispatch(parsed: ParsedFile, data: bytes, password: bytes | None) -> None:
    if not data.strip():
        parsed.format = "empty"
        parsed.add(INVALID, None, "is empty")
    elif data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        parsed.add(INVALID, 1, "is saved as UTF-16 text; save it as plain ASCII (or UTF-8 without BOM)")
    elif any(b < 9 or 13 < b < 32 or b == 127 for b in data[:1024]):  # DER always has such bytes early
        _parse_binary(parsed, data, password)
    elif b"BEGIN" in data.upper():
        parsed.format = "pem"
        _parse_pem(parsed, data.decode("utf-8", "surrogateescape"), password)
    else:
        _no_block(parsed, data.decode("utf-8", "surrogateescape"))


def _no_block(parsed: ParsedFile, text: str) -> None:
    """Text without BEGIN lines; recognise the bare base64 of a certificate (markers lost in a paste)."""
    try:
        x509.load_der_x509_certificate(base64.b64decode("".join(text.split()), validate=True))
    except Exception:  # noqa: BLE001 - not a bare certificate: the plain message applies
        parsed.add(INVALID, None, "holds no PEM block: there is no `-----BEGIN CERTIFICATE-----` line")
        return
    parsed.add(INVALID, 1, "holds the base64 of a certificate without its `-----BEGIN CERTIFICATE-----` "
               "and `-----END CERTIFICATE-----` lines; add them around the text")


# -- binary: DER, PKCS#12, PKCS#7 ------------------------------------------------------


def _is_pkcs12(data: bytes) -> bool:
    """PFX: SEQUENCE { INTEGER 3, ContentInfo { pkcs7-data ... } } (RFC 7292)."""
    if len(data) < 4 or data[0] != 0x30:
        return False
    header = 2 if data[1] < 0x80 else 2 + (data[1] & 0x7F)
    return data[header:header + 3] == b"\x02\x01\x03" and _PKCS7_DATA_OID in data[header:header + 40]


def _parse_binary(parsed: ParsedFile, data: bytes, password: bytes | None) -> None:
    name, stem = Path(parsed.path).name, Path(parsed.path).stem
    if _is_pkcs12(data):
        parsed.format = "pkcs12"
        _parse_pkcs12(parsed, data, password)
        return
    try:
        cert = x509.load_der_x509_certificate(data)
        summarize(cert)  # forces the lazy fields, so a damaged certificate fails here
    except Exception:  # noqa: BLE001 - not a DER certificate; try the other binary forms
        pass
    else:
        parsed.format = "der"
        parsed.certs.append(CertItem(cert, parsed.path, None, "der"))
        parsed.add(INVALID, None, "this is DER (binary), not PEM text; convert with "
                   f"`openssl x509 -inform der -in {name} -out {stem}.pem`")
        return
    key = _der_key(parsed.path, data, password)
    if key is not None:
        parsed.format = "der"
        parsed.keys.append(key)
        state = "an encrypted" if key.encrypted else "a"
        parsed.add(INVALID, None, f"this is {state} private key in DER (binary), not PEM text; convert with "
                   f"`openssl pkey -inform der -in {name} -out {stem}.pem`")
        return
    try:
        certs = pkcs7.load_der_pkcs7_certificates(data)
    except Exception:  # noqa: BLE001 - not PKCS#7 either
        certs = []
    if certs:
        parsed.format = "pkcs7"
        _add_certs(parsed, certs, None, "pkcs7")
        parsed.add(INVALID, None, "this is a PKCS#7 bundle (.p7b/.p7c), not PEM; convert with "
                   f"`openssl pkcs7 -inform der -print_certs -in {name} -out {stem}.pem`")
        return
    parsed.add(INVALID, None, "is binary data that is neither a DER certificate, a DER key, PKCS#7 "
               "nor PKCS#12; a certificate must be PEM text")


def _der_key(path: str, data: bytes, password: bytes | None) -> KeyItem | None:
    try:
        return KeyItem(path, None, "DER", serialization.load_der_private_key(data, None))
    except TypeError:  # "password was not given but private key is encrypted"
        key = _try_password(lambda pw: serialization.load_der_private_key(data, pw), password)
        return KeyItem(path, None, "encrypted DER", key, encrypted=True)
    except Exception:  # noqa: BLE001 - not a key
        return None


def _try_password(load: Callable[[bytes], PrivateKeyTypes], password: bytes | None) -> PrivateKeyTypes | None:
    if password is None:
        return None
    try:
        return load(password)
    except Exception:  # noqa: BLE001 - wrong password: the key stays unopened
        return None


def _parse_pkcs12(parsed: ParsedFile, data: bytes, password: bytes | None) -> None:
    for attempt in [password] if password is not None else [None, b""]:
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(data, attempt)
        except Exception:  # noqa: BLE001 - wrong or missing password, or damaged file
            continue
        _add_certs(parsed, ([cert] if cert is not None else []) + list(extra), None, "pkcs12")
        if key is not None:
            parsed.keys.append(KeyItem(parsed.path, None, "PKCS#12", key))
        if not parsed.certs:
            parsed.add(INVALID, None, "is a PKCS#12 (PFX) file without any certificate")
        return
    if password is None:
        parsed.add(INVALID, None, "is a password-protected PKCS#12 (PFX) file; give the password in a file with "
                   "--password-file FILE or in the SSLFAULT_PFX_PASSWORD environment variable")
    else:
        parsed.add(INVALID, None, "is a PKCS#12 (PFX) file that the given password does not open (wrong "
                   "password, an algorithm this system no longer supports, or a damaged file)")


def _add_certs(parsed: ParsedFile, certs: list[x509.Certificate], line: int | None, source: str = "pem") -> None:
    for cert in certs:
        try:
            summarize(cert)
        except Exception:  # noqa: BLE001 - damaged inside; report now rather than crash later
            parsed.add(INVALID, line, "holds a certificate whose content cannot be decoded")
            continue
        parsed.certs.append(CertItem(cert, parsed.path, line, source))


# -- PEM --------------------------------------------------------------------------------


@dataclass
class _Block:
    label: str
    begin: int
    headers: list[str] = field(default_factory=list)
    body: list[str] = field(default_factory=list)
    last_content: int = 0
    bad: bool = False


class _Whitespace:
    """Whitespace problems, reported once per kind at their first line (one long list helps no one)."""

    TEXTS = {"edge": "line(s) inside PEM blocks start or end with spaces or tabs",
             "inner": "line(s) of base64 contain spaces", "blank": "blank line(s) inside a PEM block"}

    def __init__(self) -> None:
        self.lines: dict[str, list[int]] = {kind: [] for kind in self.TEXTS}
        self.unusual = False  # non-ASCII spaces (full-width, no-break) come from copy and paste

    def note(self, kind: str, line: int, text: str) -> None:
        self.lines[kind].append(line)
        self.unusual = self.unusual or any(ch.isspace() and ord(ch) > 127 for ch in text)

    def report(self, parsed: ParsedFile) -> None:
        for kind, text in self.TEXTS.items():
            if lines := self.lines[kind]:
                extra = " (some are non-breaking or full-width spaces)" if self.unusual and kind != "blank" else ""
                parsed.add(WHITESPACE, lines[0], f"{len(lines)} {text}{extra}; the first is here")


def _marker(stripped: str) -> tuple[str, str, bool] | None:
    """(BEGIN|END, label, well-formed) for a marker line, also a damaged one."""
    if strict := _STRICT_MARKER.match(stripped):
        return strict.group(1), strict.group(2), True
    loose = _LOOSE_MARKER.match(stripped)
    if loose and ("-" in stripped or any(w in loose.group(2).upper() for w in _LABEL_WORDS)):
        if label := " ".join(loose.group(2).upper().split()):
            return loose.group(1).upper(), label, False
    return None


_GLUED = re.compile(r"(-----(?:BEGIN|END) [A-Z0-9#]+(?: [A-Z0-9#]+)*-----)")


def _unglue(stripped: str) -> list[str] | None:
    """The pieces of a line where well-formed markers share the line with each other or with base64
    (`-----END CERTIFICATE----------BEGIN CERTIFICATE-----`, a PEM pasted into one line); None if the
    markers on it are damaged."""
    pieces = [p.strip() for p in _GLUED.split(stripped) if p.strip()]
    if not any(_GLUED.fullmatch(p) for p in pieces) or any("-----" in p for p in pieces if not _GLUED.fullmatch(p)):
        return None
    return [p if _GLUED.fullmatch(p) else "".join(p.split()) for p in pieces]


def _parse_pem(parsed: ParsedFile, text: str, password: bytes | None) -> None:
    if text.startswith("\ufeff"):
        parsed.add(WHITESPACE, 1, "the file starts with a UTF-8 byte order mark (BOM), which many servers reject")
        text = text[1:]
    raw_lines = text.split("\n")
    ended = raw_lines[:-1]  # lines followed by "\n"; the last element has no ending
    _line_endings(parsed, ended)
    if raw_lines[-1] == "":
        raw_lines.pop()
    spaces = _Whitespace()
    block: _Block | None = None

    def handle(number: int, line: str) -> None:
        nonlocal block
        stripped = line.strip()
        marker = _marker(stripped)
        if marker is None and ("-----BEGIN" in stripped or "-----END" in stripped):
            pieces = _unglue(stripped)
            recovered = "; `--fix` writes a copy with them restored" if pieces else ""
            parsed.add(INVALID, number, "a BEGIN or END marker shares this line with other text; the markers and "
                       f"each base64 line must stand on lines of their own (line breaks were lost){recovered}")
            if pieces:
                for piece in pieces:  # read what is there, so the certificates are not lost
                    handle(number, piece)
                return
            if block is not None:
                block.bad = True
                block = None if "-----END" in stripped else block
            return
        if marker is None:
            if block is not None:
                _content_line(parsed, block, number, line, stripped, spaces)
            return  # text outside blocks (openssl's "subject=" lines) is allowed
        if stripped != line:
            spaces.note("edge", number, line)
        kind, label, strict = marker
        if not strict:
            parsed.add(INVALID, number, f"the marker line `{stripped}` is malformed; it must read exactly "
                       f"`-----{kind} {label}-----` (five dashes each side, upper case)")
        if kind == "BEGIN":
            if block is not None:
                parsed.add(INVALID, block.begin, f"the {block.label} block has no END line before the next BEGIN "
                           f"at line {number}")
            block = _Block(label, number)
        elif block is None:
            parsed.add(INVALID, number, f"END {label} without a BEGIN line before it")
        else:
            if label != block.label:
                parsed.add(INVALID, number, f"END {label} does not match BEGIN {block.label} at line {block.begin}")
                block.bad = True
            _finish_block(parsed, block, number, password)
            block = None

    for number, raw in enumerate(raw_lines, start=1):
        handle(number, raw[:-1] if raw.endswith("\r") else raw)
    if block is not None:
        parsed.add(INVALID, block.begin, f"the {block.label} block has no END line")
    spaces.report(parsed)
    if not parsed.certs and not parsed.keys and not any(f.fault == INVALID for f in parsed.findings):
        parsed.add(INVALID, None, "holds no certificate and no private key")


def _line_endings(parsed: ParsedFile, ended: list[str]) -> None:
    crlf = sum(1 for raw in ended if raw.endswith("\r"))
    if 0 < crlf < len(ended):
        first = ended[0].endswith("\r")
        odd = next(i for i, raw in enumerate(ended, start=1) if raw.endswith("\r") != first)
        parsed.add(WHITESPACE, odd, f"line endings are mixed: {crlf} line(s) end in CRLF (Windows) and "
                   f"{len(ended) - crlf} in LF; this line differs from line 1")


def _content_line(parsed: ParsedFile, block: _Block, number: int, line: str, stripped: str,
                  spaces: _Whitespace) -> None:
    if not stripped:
        if not (block.headers and not block.body and block.last_content == number - 1):
            spaces.note("blank", number, line)  # one blank line after RFC 1421 headers is the format
        return
    if not block.body and ":" in stripped:
        block.headers.append(stripped)  # Proc-Type / DEK-Info of traditional encrypted keys
        block.last_content = number
        return
    if stripped != line:
        spaces.note("edge", number, line)
    if any(ch.isspace() for ch in stripped):
        spaces.note("inner", number, line)
    block.last_content = number
    if block.bad:
        return
    for column, char in enumerate(line, start=1):
        if not char.isspace() and char not in _B64_CHARS:
            parsed.add(INVALID, number, f"column {column} is not a base64 character "
                       "(only A-Z, a-z, 0-9, +, / and = may stand between the markers)")
            block.bad = True
            return
    block.body.append("".join(stripped.split()))


def _finish_block(parsed: ParsedFile, block: _Block, end: int, password: bytes | None) -> None:
    if block.bad or block.label in _IGNORED_LABELS:
        return
    body = "".join(block.body)
    try:
        if len(body) % 4:  # PEM base64 is always padded; strict mode alone lets "QUJD=" through
            raise ValueError("length")
        der = binascii.a2b_base64(body.encode("ascii"), strict_mode=True)
    except (binascii.Error, ValueError):
        parsed.add(INVALID, block.begin, f"the base64 of this {block.label} block (lines {block.begin}-{end}) does "
                   "not decode: its length or padding is wrong, so a line was probably cut or lost")
        return
    if not der:
        parsed.add(INVALID, block.begin, f"this {block.label} block (lines {block.begin}-{end}) is empty")
        return
    label, line = block.label, block.begin
    if label in CERT_LABELS:
        try:
            cert = x509.load_der_x509_certificate(der)
        except Exception:  # noqa: BLE001 - cryptography's reason is too technical to help
            parsed.add(INVALID, line, f"this {label} block decodes, but not to a valid certificate "
                       "(its content was changed or cut)")
            return
        _add_certs(parsed, [cert], line)
    elif label == "PKCS7":
        try:
            _add_certs(parsed, pkcs7.load_der_pkcs7_certificates(der), line, "pkcs7")
        except Exception:  # noqa: BLE001 - damaged PKCS#7: the message below still applies
            pass
        parsed.add(INVALID, line, "this is a PKCS#7 bundle, not PEM certificates; convert with "
                   "`openssl pkcs7 -print_certs -in FILE -out chain.pem`")
    elif label in KEY_KINDS:
        _decode_key(parsed, block, der, password)
    elif label in _WRONG_KIND:
        parsed.add(INVALID, line, f"this {label} block is {_WRONG_KIND[label]}")
    else:
        parsed.add(INVALID, line, f"unexpected block type {label!r}; expected CERTIFICATE or a PRIVATE KEY")


def _decode_key(parsed: ParsedFile, block: _Block, der: bytes, password: bytes | None) -> None:
    kind = KEY_KINDS[block.label]
    key: PrivateKeyTypes | None
    if block.label != "ENCRYPTED PRIVATE KEY" and not any("ENCRYPTED" in h.upper() for h in block.headers):
        try:
            key = serialization.load_der_private_key(der, None)
        except Exception:  # noqa: BLE001 - never echo anything from inside a key
            parsed.add(INVALID, block.begin, f"this {block.label} block is not a valid {kind} private key")
            return
        parsed.keys.append(KeyItem(parsed.path, block.begin, kind, key))
        return
    if block.headers:  # traditional encryption needs the headers: rebuild a clean PEM
        body = "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
        pem = f"-----BEGIN {block.label}-----\n" + "\n".join(block.headers) + f"\n\n{body}\n-----END {block.label}-----\n"
        key = _try_password(lambda pw: serialization.load_pem_private_key(pem.encode(), pw), password)
    else:
        key = _try_password(lambda pw: serialization.load_der_private_key(der, pw), password)
    parsed.keys.append(KeyItem(parsed.path, block.begin, f"encrypted {kind}", key, encrypted=True))
    parsed.add(INVALID, block.begin, f"this {kind} private key is encrypted, but servers and upload forms need the "
               "plain key; decrypt a copy with `openssl pkey -in KEY -out plain.key` (and keep it private)")
