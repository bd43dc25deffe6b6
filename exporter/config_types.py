"""Value types of the configuration (durations, addresses, names, files), shared by the global
config and the checks' own settings models. No models here, so checks can import it."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)(ms|s|m|h|d))+\s*$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_HOSTNAME = re.compile(r"^(?=.{1,253}$)(\*\.)?([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?)*\.?$")


def parse_duration(value: Any) -> float:
    """'30s', '5m', '1h30m', '250ms' or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 5m or 1h")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and _DURATION.match(value):
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(value))
    elif isinstance(value, str) and re.fullmatch(r"\s*\d+(\.\d+)?\s*", value):
        seconds = float(value)  # a plain number of seconds, as on the command line
    else:
        raise ValueError(f"expected a duration such as 30s, 5m or 1h, got {value!r}")
    if seconds <= 0:
        raise ValueError(f"duration must be positive, got {value!r}")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


def _check_address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"expected an IPv4 or IPv6 address, got {value!r}") from None


def parse_hostport(value: str, default_port: int) -> tuple[str, int]:
    """'1.2.3.4', '1.2.3.4:5353', '[::1]:53', '::1' -> (ip, port)."""
    text = value.strip()
    host, port = text, default_port
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"expected [IPv6]:port, got {value!r}")
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        if not port_text.isdigit():
            raise ValueError(f"expected IP[:PORT], got {value!r}")
        port = int(port_text)
    host = _check_address(host)
    if not 0 < port < 65536:
        raise ValueError(f"port must be 1-65535, got {port}")
    return host, port


def _check_nameserver(value: str) -> str:
    parse_hostport(value, 53)
    return value


MAX_CA_FILE_BYTES = 16 * 1024 * 1024  # Mozilla's whole bundle is ~250 KB


def _check_ca_file(path: str) -> str:
    """The file must hold PEM certificates now: a reload must not pass validation and then fail to apply."""
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"CA file {path!r} does not exist")
    try:
        with file.open("rb") as handle:
            data = handle.read(MAX_CA_FILE_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"CA file {path!r} cannot be read: {exc.strerror or exc}") from None
    if len(data) > MAX_CA_FILE_BYTES:
        raise ValueError(f"CA file {path!r} is larger than {MAX_CA_FILE_BYTES // (1024 * 1024)} MiB")
    if not data.strip():
        raise ValueError(f"CA file {path!r} is empty")
    from cryptography import x509  # here, so importing the config models stays cheap

    try:
        x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise ValueError(f"CA file {path!r} holds no readable PEM certificate (-----BEGIN CERTIFICATE-----): "
                         f"{str(exc).split('. See ')[0]}") from None
    return path


def check_readable(path: str, what: str) -> None:
    """ValueError unless `path` can be opened and read now (keys, password files)."""
    try:
        with Path(path).open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise ValueError(f"{what} {path!r} cannot be read: {exc.strerror or exc}") from None


def _check_pem_file(path: str) -> str:
    if not Path(path).is_file():
        raise ValueError(f"file {path!r} does not exist")
    return path


def _check_dns_name(value: str) -> str:
    name = value.strip().lower().rstrip(".")
    if not _HOSTNAME.match(name):
        raise ValueError(f"expected a DNS name (optionally *.name), got {name!r}")
    return name


# Per-item types, so a list with several bad entries gets one error per entry (with its index).
Nameserver = Annotated[str, AfterValidator(_check_nameserver)]
CaFile = Annotated[str, AfterValidator(_check_ca_file)]
PemFile = Annotated[str, AfterValidator(_check_pem_file)]
IpAddress = Annotated[str, AfterValidator(_check_address)]
DnsName = Annotated[str, AfterValidator(_check_dns_name)]


