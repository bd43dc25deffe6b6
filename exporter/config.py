"""Configuration: pydantic models with unknown keys rejected, loaded and validated at start.

Errors are reported with the file, the line (where YAML tells us) and the key path.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

# Must equal the keys of exporter.checks.CHECKS (a test keeps them in step; no import here to avoid a cycle).
CHECK_NAMES = (
    "dns", "reachability", "tls", "chain",
    "caa", "dns_validation", "file_validation", "domain_review",
    "http", "mixed_content", "revocation", "legacy_tls",
)
DEFAULT_CHECKS = CHECK_NAMES
DEFAULT_VALIDATION_PATH = "/.well-known/pki-validation/fileauth.txt"

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


def _check_readable(path: str, what: str) -> None:
    try:
        with Path(path).open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise ValueError(f"{what} {path!r} cannot be read: {exc.strerror or exc}") from None


def _check_dns_name(value: str) -> str:
    name = value.strip().lower().rstrip(".")
    if not _HOSTNAME.match(name):
        raise ValueError(f"expected a DNS name (optionally *.name), got {name!r}")
    return name


# Per-item types, so a list with several bad entries gets one error per entry (with its index).
Nameserver = Annotated[str, AfterValidator(_check_nameserver)]
CaFile = Annotated[str, AfterValidator(_check_ca_file)]
IpAddress = Annotated[str, AfterValidator(_check_address)]
DnsName = Annotated[str, AfterValidator(_check_dns_name)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ResolverConfig(_Model):
    """Recursive resolvers the checks use; empty means the system's (/etc/resolv.conf)."""

    nameservers: tuple[Nameserver, ...] = ()
    timeout: Duration = 3.0
    # Port to query a zone's authoritative servers on directly: 53 on the Internet; another port for a
    # split-horizon or test DNS setup whose authoritative servers listen elsewhere.
    authoritative_port: int = Field(default=53, ge=1, le=65535)

    def endpoints(self) -> list[tuple[str, int]]:
        return [parse_hostport(n, 53) for n in self.nameservers]


class TrustConfig(_Model):
    """Roots that count as trusted: Mozilla's (certifi) and/or your own CA files."""

    use_system: bool = True
    ca_files: tuple[CaFile, ...] = ()

    @model_validator(mode="after")
    def _some_roots(self) -> TrustConfig:
        if not self.use_system and not self.ca_files:
            raise ValueError("use_system is false and no ca_files are given: nothing would be trusted")
        return self


class LimitsConfig(_Model):
    max_concurrent_probes: int = Field(default=32, ge=1, le=10000)
    max_concurrent_per_host: int = Field(default=2, ge=1, le=100)
    # Caps on what one probe may read, so a hostile target cannot exhaust memory.
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    max_aia_fetches: int = Field(default=4, ge=0, le=16)


class ProbeEndpointConfig(_Model):
    """Who may be probed on demand through GET /probe (it must never become an open proxy)."""

    # Besides the configured targets, host names matching these shell patterns, e.g. "*.example.com".
    allow_hosts: tuple[str, ...] = ()
    # Pattern-matched hosts resolving to private, loopback or link-local addresses are refused unless true.
    allow_private_addresses: bool = False
    max_concurrent: int = Field(default=4, ge=1, le=256)


class CertFilesConfig(_Model):
    """Certificate files on disk to watch (e.g. certbot's live/ directory), linted like `lint-cert`."""

    path: str = Field(min_length=1)  # a glob: /etc/letsencrypt/live/*/fullchain.pem
    # The key for each file: a path or a pattern with {dir}, {name} (file name) and {stem} (name without suffix).
    key: str | None = None
    password_file: str | None = None  # PKCS#12 / encrypted key password, read from a file
    password_env: str | None = None  # ... or from an environment variable
    interval: Duration | None = None  # full re-read at least this often (default: defaults.interval)
    poll: Duration = 5.0  # how often to stat the files to see changes (mtime, size, symlink swaps)
    expiry_warning_days: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_password_source(self) -> CertFilesConfig:
        if self.password_file and self.password_env:
            raise ValueError("give password_file or password_env, not both")
        return self

    @field_validator("password_file")
    @classmethod
    def _password_readable(cls, value: str | None) -> str | None:
        if value is not None:
            _check_readable(value, "password file")
        return value

    @field_validator("key")
    @classmethod
    def _key_readable(cls, value: str | None) -> str | None:
        # A pattern ({dir}, {name}, {stem}) names one key per certificate file: each is linted with its file.
        if value is not None and "{" not in value:
            _check_readable(value, "key file")
        return value


class CheckSettings(_Model):
    """Settings a target may override; unset fields fall back to `defaults`."""

    interval: Duration | None = None
    timeout: Duration | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    expiry_warning_days: float | None = Field(default=None, gt=0)
    checks: tuple[str, ...] | None = None
    ca_identifiers: tuple[str, ...] | None = None
    jitter: Duration | None = None
    http_port: int | None = Field(default=None, ge=1, le=65535)
    # URL paths the http and mixed_content checks fetch (each over HTTP and HTTPS).
    paths: tuple[str, ...] | None = Field(default=None, min_length=1, max_length=20)

    @field_validator("paths")
    @classmethod
    def _absolute_paths(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for path in value or ():
            if not path.startswith("/") or path.startswith("//") or any(c.isspace() for c in path):
                raise ValueError(f"expected URL paths starting with one '/' and without spaces, got {path!r}")
        return value

    @field_validator("checks")
    @classmethod
    def _known_checks(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return value
        unknown = [c for c in value if c not in CHECK_NAMES]
        if unknown:
            raise ValueError(f"unknown check(s) {unknown}; known checks: {', '.join(CHECK_NAMES)}")
        return tuple(dict.fromkeys(value))


class Defaults(CheckSettings):
    interval: Duration = 300.0
    timeout: Duration = 10.0
    port: int = Field(default=443, ge=1, le=65535)
    expiry_warning_days: float = Field(default=21.0, gt=0)
    checks: tuple[str, ...] = DEFAULT_CHECKS
    ca_identifiers: tuple[str, ...] = ()
    jitter: Duration | None = None  # default: 10% of the interval
    http_port: int = Field(default=80, ge=1, le=65535)
    paths: tuple[str, ...] = ("/",)


class DnsValidationConfig(_Model):
    """DNS-TXT domain validation: the record the CA will look up and the value it expects."""

    value: str = Field(min_length=1)
    record: str | None = None  # default: _dnsauth.<host>


class FileValidationConfig(_Model):
    """File domain validation: the token the CA expects at http(s)://host<path>."""

    token: str = Field(min_length=1)
    path: str = DEFAULT_VALIDATION_PATH

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"expected a URL path starting with '/', got {value!r}")
        return value


class TargetConfig(CheckSettings):
    host: str
    name: str | None = None  # the `target` label; default host, or host:port off 443
    expected_addresses: tuple[IpAddress, ...] = ()
    # Names the certificate must cover for issuance (CAA is checked for each); default: just host.
    # A wildcard such as "*.example.com" makes CAA use issuewild.
    certificate_names: tuple[DnsName, ...] = ()
    validation_method: Literal["dns", "file"] | None = None  # how the CA validates; checked against CAA
    dns_validation: DnsValidationConfig | None = None
    file_validation: FileValidationConfig | None = None

    @field_validator("host")
    @classmethod
    def _valid_host(cls, value: str) -> str:
        host = value.strip().lower().rstrip(".")
        try:
            return str(ipaddress.ip_address(host.strip("[]")))
        except ValueError:
            pass
        if not _HOSTNAME.match(host):
            raise ValueError(f"expected a DNS name or IP address, got {value!r}")
        return host



class Config(_Model):
    defaults: Defaults = Defaults()
    resolver: ResolverConfig = ResolverConfig()
    trust: TrustConfig = TrustConfig()
    limits: LimitsConfig = LimitsConfig()
    probe: ProbeEndpointConfig = ProbeEndpointConfig()
    targets: tuple[TargetConfig, ...] = ()
    cert_files: tuple[CertFilesConfig, ...] = ()

    @model_validator(mode="after")
    def _unique_names(self) -> Config:
        seen: set[str] = set()
        for target in self.resolved_targets():
            if target.name in seen:
                raise ValueError(f"two targets share the name {target.name!r}; set a distinct `name`")
            seen.add(target.name)
        return self

    def resolved_targets(self) -> list[Target]:
        return [resolve_target(t, self.defaults) for t in self.targets]


@dataclass(frozen=True)
class Target:
    """A target with every default applied: what the checks receive."""

    name: str
    host: str
    port: int
    interval: float
    timeout: float
    jitter: float
    expiry_warning_days: float
    checks: tuple[str, ...]
    expected_addresses: tuple[str, ...] = ()
    ca_identifiers: tuple[str, ...] = ()
    http_port: int = 80
    paths: tuple[str, ...] = ("/",)  # fetched by the http and mixed_content checks
    certificate_names: tuple[str, ...] = ()  # names to issue for; host when empty
    validation_method: str | None = None  # "dns" or "file"
    dns_validation: DnsValidationConfig | None = None
    file_validation: FileValidationConfig | None = None

    @property
    def issuance_names(self) -> tuple[str, ...]:
        return self.certificate_names or (self.host,)

    @property
    def is_ip(self) -> bool:
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            return False
        return True


def resolve_target(t: TargetConfig, d: Defaults) -> Target:
    def pick(name: str) -> Any:
        value = getattr(t, name)
        return getattr(d, name) if value is None else value

    port = pick("port")
    interval = pick("interval")
    jitter = pick("jitter")
    return Target(
        name=t.name or (t.host if port == 443 else f"{t.host}:{port}"),
        host=t.host,
        port=port,
        interval=interval,
        timeout=pick("timeout"),
        jitter=interval * 0.1 if jitter is None else jitter,
        expiry_warning_days=pick("expiry_warning_days"),
        checks=pick("checks"),
        expected_addresses=t.expected_addresses,
        ca_identifiers=pick("ca_identifiers"),
        http_port=pick("http_port"),
        paths=pick("paths"),
        certificate_names=t.certificate_names,
        validation_method=t.validation_method
        or ("dns" if t.dns_validation else "file" if t.file_validation else None),
        dns_validation=t.dns_validation,
        file_validation=t.file_validation,
    )


class ConfigError(Exception):
    """A config that cannot be used; `errors` lists every problem, one line each."""

    def __init__(self, path: str, errors: list[str]) -> None:
        self.path = path
        self.errors = errors
        super().__init__(f"{path}: " + "; ".join(errors))


class _LineLoader(yaml.SafeLoader):
    """A YAML loader that remembers the line of every mapping key, for error messages."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    lines = {}
    for key_node, _ in node.value:
        lines[loader.construct_object(key_node)] = key_node.start_mark.line + 1
    loader.key_lines[id(mapping)] = (mapping, lines)  # type: ignore[attr-defined]
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _line_of(loc: tuple[Any, ...], data: Any, key_lines: dict[int, tuple[Any, dict[Any, int]]]) -> int | None:
    """Walk the error location through the loaded data and return the deepest known line."""
    line = None
    node = data
    for part in loc:
        if isinstance(node, dict):
            entry = key_lines.get(id(node))
            if entry and part in entry[1]:
                line = entry[1][part]
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            break
    return line


def parse_config(text: str, path: str = "<config>") -> Config:
    loader = _LineLoader(text)
    loader.key_lines = {}  # type: ignore[attr-defined]
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        raise ConfigError(path, [f"{path}: not valid YAML: {exc}"]) from None
    finally:
        key_lines = loader.key_lines  # type: ignore[attr-defined]
        loader.dispose()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(path, [f"{path}: expected a mapping at the top level, got {type(data).__name__}"])
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            key = ".".join(str(p) for p in loc) or "(top level)"
            line = _line_of(loc, data, key_lines)
            where = f"{path}:{line}" if line else path
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = "unknown key (not allowed here)"
            errors.append(f"{where}: {key}: {message}")
        raise ConfigError(path, errors) from None


def load_config(path: str | Path) -> Config:
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"{path}: cannot read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), [f"{path}: not UTF-8 text: {exc}"]) from None
    return parse_config(text, str(path))
