"""Read certificate and key files (PEM, DER, PKCS#12, PKCS#7) and remember where each item sits.

We parse PEM ourselves instead of calling cryptography's PEM loaders: those only say
"could not parse", while an operator needs the line and the reason. Per-file faults
(bad markers, bad base64, stray whitespace, DER instead of PEM, encrypted keys) are
found here; cross-file rules (chain, order, key match) live in ``lint``.
Key material is held in memory only to compare public keys, never put in a message.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from exporter.certinfo import summarize
from exporter.faults import FaultId
from exporter.models import Finding

INVALID = str(FaultId.CERT_FILE_INVALID_PEM)
WHITESPACE = str(FaultId.CERT_FILE_WHITESPACE)

MAX_BYTES = 10 * 1024 * 1024  # a certificate bundle is kilobytes; refuse to slurp huge files
_STRICT_MARKER = re.compile(r"^-----(BEGIN|END) ([A-Z0-9#]+(?: [A-Z0-9#]+)*)-----$")
_LOOSE_MARKER = re.compile(r"^[-\s]*(BEGIN|END)\s+([A-Za-z0-9# ]*?)[-\s]*$", re.IGNORECASE)
_LABEL_WORDS = ("CERTIFICATE", "KEY", "REQUEST", "PKCS7", "CRL", "PARAMETERS")
_B64 = re.compile(r"[A-Za-z0-9+/=]")
_PKCS7_DATA_OID = bytes.fromhex("06092a864886f70d010701")
CERT_LABELS = {"CERTIFICATE", "X509 CERTIFICATE"}
TRADITIONAL_KEYS = {"RSA PRIVATE KEY": "traditional RSA", "EC PRIVATE KEY": "traditional EC",
                    "DSA PRIVATE KEY": "traditional DSA"}
# Blocks that are valid PEM but not what a certificate upload takes: what it is, what to do.
_WRONG_KIND = {
    "CERTIFICATE REQUEST": "a certificate signing request (CSR), not a certificate; upload the certificate the CA issued for it",
    "NEW CERTIFICATE REQUEST": "a certificate signing request (CSR), not a certificate; upload the certificate the CA issued for it",
    "PUBLIC KEY": "a public key, neither a certificate nor a private key",
    "RSA PUBLIC KEY": "a public key, neither a certificate nor a private key",
    "X509 CRL": "a certificate revocation list (CRL), not a certificate",
    "TRUSTED CERTIFICATE": "OpenSSL's TRUSTED CERTIFICATE format; convert with `openssl x509 -in FILE -out cert.pem`",
    "OPENSSH PRIVATE KEY": "an OpenSSH key, not a PEM private key; convert a copy with `ssh-keygen -p -m PEM -f COPY`",
}
_IGNORED_LABELS = {"EC PARAMETERS", "DH PARAMETERS"}  # openssl writes these next to keys; harmless


@dataclass(frozen=True)
class CertItem:
    cert: x509.Certificate
    file: str
    line: int | None  # the BEGIN line; None for binary files


@dataclass(frozen=True)
class KeyItem:
    file: str
    line: int | None
    kind: str  # "PKCS#8", "traditional RSA", "PKCS#12"...
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
    """The detail names file and line because the text report prints only the detail."""
    where = f"{path}, line {line}" if line else path
    return Finding(fault, f"{where}: {text}", None, {"file": path, "line": line})


def key_description(key: PrivateKeyTypes) -> str:
    """Public facts only (algorithm and size)."""
    if isinstance(key, rsa.RSAPrivateKey):
        return f"RSA-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return f"EC-{key.curve.name}"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "Ed25519"
    if isinstance(key, ed448.Ed448PrivateKey):
        return "Ed448"
    if isinstance(key, dsa.DSAPrivateKey):
        return f"DSA-{key.key_size}"
    return type(key).__name__


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
        parsed = ParsedFile(path, "unknown")
        parsed.add(INVALID, None, f"is larger than {MAX_BYTES // 1048576} MiB; not a certificate file")
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
        return
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        parsed.add(INVALID, 1, "is saved as UTF-16 text; save it as plain ASCII (or UTF-8 without BOM)")
        return
    text = data.decode("utf-8", "surrogateescape")
    if "BEGIN" in text.upper() and any(_is_marker(line) for line in text.split("\n")):
        parsed.format = "pem"
        _parse_pem(parsed, data, text)
    elif _looks_binary(data):
        _parse_binary(parsed, data, password)
    else:
        parsed.format = "unknown"
        _no_block(parsed, text)


def _is_marker(line: str) -> bool:
    stripped = line.strip()
    if _STRICT_MARKER.match(stripped):
        return True
    match = _LOOSE_MARKER.match(stripped)
    return bool(match) and ("-" in stripped or any(w in match.group(2).upper() for w in _LABEL_WORDS))


def _looks_binary(data: bytes) -> bool:
    return data[:1] == b"\x30" or any(b < 9 or 13 < b < 32 or b == 127 for b in data[:512])


def _no_block(parsed: ParsedFile, text: str) -> None:
    """Text without any BEGIN line; say so, and recognise bare base64 of a certificate."""
    compact = "".join(text.split())
    try:
        der = base64.b64decode(compact, validate=True)
        x509.load_der_x509_certificate(der)
    except Exception:  # noqa: BLE001 - not a bare certificate: the plain message applies
        parsed.add(INVALID, None, "holds no PEM block: there is no `-----BEGIN CERTIFICATE-----` line")
        return
    parsed.add(INVALID, 1, "holds the base64 of a certificate without its `-----BEGIN CERTIFICATE-----` "
               "and `-----END CERTIFICATE-----` lines; add them around the text")


# -- binary (DER, PKCS#12, PKCS#7) ----------------------------------------------------


def _is_pkcs12(data: bytes) -> bool:
    if len(data) < 4 or data[0] != 0x30:
        return False
    header = 2 if data[1] < 0x80 else 2 + (data[1] & 0x7F)
    return data[header:header + 3] == b"\x02\x01\x03" and _PKCS7_DATA_OID in data[header:header + 40]


def _parse_binary(parsed: ParsedFile, data: bytes, password: bytes | None) -> None:
    name = Path(parsed.path).name
    if _is_pkcs12(data):
        parsed.format = "pkcs12"
        _parse_pkcs12(parsed, data, password)
        return
    try:
        cert = x509.load_der_x509_certificate(data)
        summarize(cert)  # forces lazy fields, so a damaged certificate fails here
    except Exception:  # noqa: BLE001 - not a DER certificate; try the other binary forms
        pass
    else:
        parsed.format = "der"
        parsed.certs.append(CertItem(cert, parsed.path, None))
        parsed.add(INVALID, None, "this is DER (binary), not PEM text; convert with "
                   f"`openssl x509 -inform der -in {name} -out {Path(name).stem}.pem`")
        return
    key = _der_key(parsed, data, password)
    if key is not None:
        parsed.format = "der"
        parsed.keys.append(key)
        parsed.add(INVALID, None, "this is a private key in DER (binary), not PEM text; convert with "
                   f"`openssl pkey -inform der -in {name} -out {Path(name).stem}.pem`")
        return
    try:
        certs = pkcs7.load_der_pkcs7_certificates(data)
    except Exception:  # noqa: BLE001 - not PKCS#7 either
        certs = []
    if certs:
        parsed.format = "pkcs7"
        _add_certs(parsed, certs, None)
        parsed.add(INVALID, None, "this is a PKCS#7 bundle (.p7b/.p7c), not PEM; convert with "
                   f"`openssl pkcs7 -inform der -print_certs -in {name} -out {Path(name).stem}.pem`")
        return
    parsed.format = "unknown"
    parsed.add(INVALID, None, "is binary data that is neither a DER certificate, a DER key, "
               "PKCS#7 nor PKCS#12; a certificate must be PEM text")


def _der_key(parsed: ParsedFile, data: bytes, password: bytes | None) -> KeyItem | None:
    try:
        return KeyItem(parsed.path, None, "DER", serialization.load_der_private_key(data, None))
    except TypeError:  # "password was not given but the key is encrypted"
        pass
    except Exception:  # noqa: BLE001 - not a key
        return None
    key = None
    if password is not None:
        try:
            key = serialization.load_der_private_key(data, password)
        except Exception:  # noqa: BLE001 - wrong password: still an encrypted key
            key = None
    return KeyItem(parsed.path, None, "encrypted DER", key, encrypted=True)


def _parse_pkcs12(parsed: ParsedFile, data: bytes, password: bytes | None) -> None:
    attempts = [password] if password is not None else [None, b""]
    for attempt in attempts:
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(data, attempt)
        except Exception:  # noqa: BLE001 - wrong or missing password, or damaged file
            continue
        if cert is not None:
            _add_certs(parsed, [cert], None)
        _add_certs(parsed, list(extra), None)
        if key is not None:
            parsed.keys.append(KeyItem(parsed.path, None, "PKCS#12", key))
        if not parsed.certs:
            parsed.add(INVALID, None, "is a PKCS#12 (PFX) file without any certificate")
        return
    if password is None:
        parsed.add(INVALID, None, "is a password-protected PKCS#12 (PFX) file; give the password in a file "
                   "with --password-file FILE or in the SSLFAULT_PFX_PASSWORD environment variable")
    else:
        parsed.add(INVALID, None, "is a PKCS#12 (PFX) file that the given password does not open "
                   "(wrong password, an algorithm this system no longer supports, or a damaged file)")


def _add_certs(parsed: ParsedFile, certs: list[x509.Certificate], line: int | None) -> None:
    for cert in certs:
        try:
            summarize(cert)
        except Exception:  # noqa: BLE001 - damaged inside; report instead of crashing later
            parsed.add(INVALID, line, "holds a certificate whose content cannot be decoded")
            continue
        parsed.certs.append(CertItem(cert, parsed.path, line))


# -- PEM ------------------------------------------------------------------------------


@dataclass
class _Block:
    label: str
    begin: int
    headers: list[str] = field(default_factory=list)
    body: list[str] = field(default_factory=list)
    last_content: int = 0
    bad: bool = False


class _Whitespace:
    """Collects whitespace problems; reported once per kind at the first line."""

    def __init__(self) -> None:
        self.lines: dict[str, list[int]] = {"edge": [], "inner": [], "blank": []}
        self.unusual = False  # non-ASCII spaces (full-width, no-break) from copy and paste

    def note(self, kind: str, line: int, text: str) -> None:
        self.lines[kind].append(line)
        if any(ch.isspace() and ord(ch) > 127 for ch in text):
            self.unusual = True

    def report(self, parsed: ParsedFile) -> None:
        texts = {
            "edge": "line(s) inside PEM blocks start or end with spaces or tabs",
            "inner": "line(s) of base64 contain spaces",
            "blank": "blank line(s) inside a PEM block",
        }
        for kind, text in texts.items():
            lines = self.lines[kind]
            if lines:
                extra = " (including non-breaking or full-width spaces)" if self.unusual and kind != "blank" else ""
                parsed.add(WHITESPACE, lines[0], f"{len(lines)} {text}{extra}, first here")


def _parse_pem(parsed: ParsedFile, data: bytes, text: str) -> None:
    if text.startswith("\ufeff"):
        parsed.add(WHITESPACE, 1, "the file starts with a UTF-8 byte order mark (BOM), which many servers reject")
        text = text[1:]
    raw_lines = text.split("\n")
    has_final_newline = raw_lines[-1] == ""
    if has_final_newline:
        raw_lines.pop()
    _line_endings(parsed, raw_lines, has_final_newline)
    spaces = _Whitespace()
    block: _Block | None = None
    for number, raw in enumerate(raw_lines, start=1):
        line = raw[:-1] if raw.endswith("\r") else raw
        stripped = line.strip()
        marker = _marker(stripped)
        if marker is not None and stripped != line:
            spaces.note("edge", number, line)
        if marker is not None:
            kind, label, strict = marker
            if not strict:
                parsed.add(INVALID, number, f"the marker line `{stripped}` is malformed; it must read exactly "
                           f"`-----{kind} {label}-----` (five dashes each side, upper case)")
            if kind == "BEGIN":
                if block is not None:
                    parsed.add(INVALID, block.begin, f"the {block.label} block has no END line before the next "
                               f"BEGIN at line {number}")
                block = _Block(label, number)
            elif block is None:
                parsed.add(INVALID, number, f"END {label} without a BEGIN line before it")
            else:
                if label != block.label:
                    parsed.add(INVALID, number, f"END {label} does not match BEGIN {block.label} at line "
                               f"{block.begin}")
                    block.bad = True
                _finish_block(parsed, block, number)
                block = None
            continue
        if block is None:
            continue  # text outside blocks (openssl's "subject=" lines) is allowed
        _content_line(parsed, block, number, line, stripped, spaces)
    if block is not None:
        parsed.add(INVALID, block.begin, f"the {block.label} block has no END line")
    spaces.report(parsed)
    if not parsed.certs and not parsed.keys and not any(f.fault == INVALID for f in parsed.findings):
        parsed.add(INVALID, None, "holds no certificate and no private key")


def _marker(stripped: str) -> tuple[str, str, bool] | None:
    strict = _STRICT_MARKER.match(stripped)
    if strict:
        return strict.group(1), strict.group(2), True
    loose = _LOOSE_MARKER.match(stripped)
    if loose and ("-" in stripped or any(w in loose.group(2).upper() for w in _LABEL_WORDS)):
        label = " ".join(loose.group(2).upper().split())
        if label:
            return loose.group(1).upper(), label, False
    return None


def _line_endings(parsed: ParsedFile, raw_lines: list[str], has_final_newline: bool) -> None:
    ended = raw_lines if has_final_newline else raw_lines[:-1]  # only lines that have an ending
    crlf = [i for i, raw in enumerate(ended, start=1) if raw.endswith("\r")]
    if crlf and len(crlf) != len(ended):
        first_is_crlf = ended[0].endswith("\r")
        odd = next(i for i, raw in enumerate(ended, start=1) if raw.endswith("\r") != first_is_crlf)
        parsed.add(WHITESPACE, odd, f"line endings are mixed: {len(crlf)} line(s) end in CRLF (Windows) and "
                   f"{len(ended) - len(crlf)} in LF; this line differs from line 1")


def _content_line(parsed: ParsedFile, block: _Block, number: int, line: str, stripped: str,
                  spaces: _Whitespace) -> None:
    if not stripped:
        after_headers = block.headers and not block.body and block.last_content == number - 1
        if not after_headers:
            spaces.note("blank", number, line)
        return
    if not block.body and ":" in stripped:
        block.headers.append(stripped)  # RFC 1421 headers (Proc-Type, DEK-Info) of encrypted keys
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
        if not char.isspace() and not _B64.match(char):
            parsed.add(INVALID, number, f"column {column} is not a base64 character "
                       "(only A-Z, a-z, 0-9, +, / and = may appear between the markers)")
            block.bad = True
            return
    block.body.append("".join(stripped.split()))


def _finish_block(parsed: ParsedFile, block: _Block, end: int) -> None:
    if block.bad or block.label in _IGNORED_LABELS:
        return
    try:
        der = base64.b64decode("".join(block.body), validate=True)
    except (binascii.Error, ValueError):
        parsed.add(INVALID, block.begin, f"the base64 of the {block.label} block (lines {block.begin}-{end}) "
                   "does not decode: its length or padding is wrong, so a line was probably cut or lost")
        return
    if not der:
        parsed.add(INVALID, block.begin, f"the {block.label} block (lines {block.begin}-{end}) is empty")
        return
    _decode_block(parsed, block, der)


def _decode_block(parsed: ParsedFile, block: _Block, der: bytes) -> None:
    label, line = block.label, block.begin
    encrypted = block.label == "ENCRYPTED PRIVATE KEY" or any("ENCRYPTED" in h.upper() for h in block.headers)
    if label in CERT_LABELS:
        try:
            cert = x509.load_der_x509_certificate(der)
        except Exception:  # noqa: BLE001 - cryptography's reason is too technical to help
            parsed.add(INVALID, line, f"the {label} block decodes but is not a valid certificate "
                       "(its content was changed or truncated)")
            return
        _add_certs(parsed, [cert], line)
    elif label == "PKCS7":
        try:
            certs = pkcs7.load_der_pkcs7_certificates(der)
        except Exception:  # noqa: BLE001 - damaged PKCS#7
            certs = []
        _add_certs(parsed, certs, line)
        parsed.add(INVALID, line, "this is a PKCS#7 bundle, not PEM certificates; convert with "
                   "`openssl pkcs7 -print_certs -in FILE -out chain.pem`")
    elif label == "PRIVATE KEY" or label in TRADITIONAL_KEYS or label == "ENCRYPTED PRIVATE KEY":
        kind = "PKCS#8" if label.endswith("PRIVATE KEY") and label not in TRADITIONAL_KEYS else TRADITIONAL_KEYS[label]
        _decode_key(parsed, block, der, kind, encrypted)
    elif label in _WRONG_KIND:
        parsed.add(INVALID, line, f"this {label} block is {_WRONG_KIND[label]}")
    else:
        parsed.add(INVALID, line, f"unexpected block type {label!r}; expected CERTIFICATE or a PRIVATE KEY")


def _decode_key(parsed: ParsedFile, block: _Block, der: bytes, kind: str, encrypted: bool) -> None:
    if not encrypted:
        try:
            key = serialization.load_der_private_key(der, None)
        except Exception:  # noqa: BLE001 - never echo anything from inside a key
            parsed.add(INVALID, block.begin, f"the {block.label} block is not a valid {kind} private key")
            return
        parsed.keys.append(KeyItem(parsed.path, block.begin, kind, key))
        return
    parsed.keys.append(KeyItem(parsed.path, block.begin, f"encrypted {kind}", None, encrypted=True))
    parsed.add(INVALID, block.begin, f"this {kind} private key is encrypted, but servers and upload forms need "
               "the plain key; decrypt a copy with `openssl pkey -in KEY -out plain.key` (keep it private)")
