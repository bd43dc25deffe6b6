"""Configuration: pydantic models with unknown keys rejected, loaded and validated at start.

Errors are reported with the file, the line (where YAML tells us) and the key path.
"""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from exporter.checks import CHECKS
from exporter.config_messages import explain
from exporter.config_types import (
    _HOSTNAME,
    CaFile,
    DnsName,
    Duration,
    Nameserver,
    PemFile,
    check_readable,
    parse_duration,
    parse_hostport,
)
from exporter.target import Target

__all__ = ["Config", "ConfigError", "Target", "TargetConfig", "load_config", "parse_config", "parse_duration",
           "parse_hostport", "resolve_target"]

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
            check_readable(value, "password file")
        return value

    @field_validator("key")
    @classmethod
    def _key_readable(cls, value: str | None) -> str | None:
        # A pattern ({dir}, {name}, {stem}) names one key per certificate file: each is linted with its file.
        if value is not None and "{" not in value:
            check_readable(value, "key file")
        return value


_SD_SUFFIXES = (".json", ".yml", ".yaml")


class FileSdConfig(_Model):
    """Target files in Prometheus' file_sd format (see README "Discovery and sharding")."""

    # Globs; the suffix picks the format (.json, or .yml/.yaml), as in Prometheus.
    files: tuple[str, ...] = Field(min_length=1)
    refresh_interval: Duration = 10.0  # how often the files are stat()ed; a changed file is re-read

    @field_validator("files")
    @classmethod
    def _sd_suffix(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            if not pattern.endswith(_SD_SUFFIXES):
                raise ValueError(f"{pattern!r}: file_sd files must end in .json, .yml or .yaml")
        return value


class HttpSdConfig(_Model):
    """A URL answering with Prometheus' HTTP SD format (a JSON list of target groups)."""

    url: str
    refresh_interval: Duration = 60.0
    timeout: Duration = 10.0
    max_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    # Like any fetch: a URL whose host is (or resolves to) a private, loopback or link-local address
    # is refused unless this is true (an inventory service inside the network needs it).
    allow_private_addresses: bool = False
    ca_file: CaFile | None = None  # for an https URL signed by a private CA (public roots are trusted too)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        if parts.username or parts.password:
            raise ValueError("credentials in the URL are not supported")
        return value


class DiscoveryConfig(_Model):
    """Targets from outside the config file, added to `targets` (a configured target wins a name)."""

    file_sd: tuple[FileSdConfig, ...] = ()
    http_sd: tuple[HttpSdConfig, ...] = ()


MIN_INTERVAL_SECONDS = 1.0


class CheckSettings(_Model):
    """Settings a target may override; unset fields fall back to `defaults`. The checks' own settings
    are added to `Defaults` and `TargetConfig` from their plugins (below)."""

    interval: Duration | None = None
    timeout: Duration | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    expiry_warning_days: float | None = Field(default=None, gt=0)
    checks: tuple[str, ...] | None = None
    jitter: Duration | None = None
    http_port: int | None = Field(default=None, ge=1, le=65535)
    # URL paths the checks that read pages fetch (each over HTTP and HTTPS).
    paths: tuple[str, ...] | None = Field(default=None, min_length=1, max_length=20)
    # A client certificate (PEM, leaf first) and its key, presented when a server asks for one: given together.
    client_cert: PemFile | None = None
    client_key: PemFile | None = None

    @model_validator(mode="after")
    def _client_pair(self) -> CheckSettings:
        if (self.client_cert is None) != (self.client_key is None):
            raise ValueError("give client_cert and client_key together")
        if self.client_cert and self.client_key:
            try:
                ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(self.client_cert, self.client_key)
            except (ssl.SSLError, OSError) as exc:
                raise ValueError(f"client_cert {self.client_cert!r} and client_key {self.client_key!r} cannot be "
                                 f"used together ({getattr(exc, 'reason', None) or exc})") from None
        return self

    @field_validator("interval")
    @classmethod
    def _sane_interval(cls, value: float | None) -> float | None:
        # Every target costs its servers connections each run: no schedule tighter than a second (a
        # discovered label of "1ms" would turn the exporter into a flooder).
        if value is not None and value < MIN_INTERVAL_SECONDS:
            raise ValueError(f"interval must be at least {MIN_INTERVAL_SECONDS:g}s, got {value:g}s")
        return value

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
        unknown = [c for c in value if c not in CHECKS]
        if unknown:
            raise ValueError(f"unknown check(s) {unknown}; known checks: {', '.join(CHECKS)}")
        return tuple(dict.fromkeys(value))


class _CoreDefaults(CheckSettings):
    interval: Duration = 300.0
    timeout: Duration = 10.0
    port: int = Field(default=443, ge=1, le=65535)
    expiry_warning_days: float = Field(default=21.0, gt=0)
    checks: tuple[str, ...] = tuple(CHECKS)
    jitter: Duration | None = None  # default: 10% of the interval
    http_port: int = Field(default=80, ge=1, le=65535)
    paths: tuple[str, ...] = ("/",)


class _CoreTarget(CheckSettings):
    host: str
    name: str | None = None  # the `target` label; default host, or host:port off 443
    # Names the certificate must cover for issuance (CAA is checked for each); default: just host.
    # A wildcard such as "*.example.com" makes CAA use issuewild.
    certificate_names: tuple[DnsName, ...] = ()
    # How the CA validates; checked against CAA. Default: dns or file when that validation is configured.
    validation_method: Literal["dns", "file"] | None = None

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


def _optional(info: Any) -> Any:
    """The field's type with its constraints, or None (unset on a target: take the default)."""
    annotated = Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
    return annotated | None


def _plugin_fields(for_defaults: bool) -> dict[str, Any]:
    """Each check's settings fields, declared once in its plugin: on targets as declared (defaultable
    ones optional, falling back to `defaults`), and the defaultable ones under `defaults:` too."""
    fields: dict[str, Any] = {}
    for plugin in CHECKS.values():
        for name, info in plugin.settings.model_fields.items():
            if name in fields:
                raise RuntimeError(f"setting {name!r} of {plugin.name} is declared by another check too")
            defaultable = name in plugin.defaultable
            if for_defaults and defaultable:
                fields[name] = (info.annotation, info)
            elif not for_defaults:
                fields[name] = (_optional(info), None) if defaultable else (info.annotation, info)
    return fields


if TYPE_CHECKING:  # the core fields are what typed code reads; the checks' fields are read generically
    Defaults = _CoreDefaults
    TargetConfig = _CoreTarget
else:
    Defaults = create_model("Defaults", __base__=_CoreDefaults, **_plugin_fields(for_defaults=True))
    TargetConfig = create_model("TargetConfig", __base__=_CoreTarget, **_plugin_fields(for_defaults=False))


class Config(_Model):
    defaults: Defaults = Defaults()
    resolver: ResolverConfig = ResolverConfig()
    trust: TrustConfig = TrustConfig()
    limits: LimitsConfig = LimitsConfig()
    probe: ProbeEndpointConfig = ProbeEndpointConfig()
    targets: tuple[TargetConfig, ...] = ()
    cert_files: tuple[CertFilesConfig, ...] = ()
    discovery: DiscoveryConfig = DiscoveryConfig()

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


# Each check with settings, and its field names: read once, not on every target resolved.
_SETTINGS_FIELDS = tuple((p, tuple(p.settings.model_fields)) for p in CHECKS.values() if p.settings.model_fields)


def _check_settings(t: BaseModel, d: BaseModel) -> tuple[tuple[str, BaseModel], ...]:
    out = []
    for plugin, fields in _SETTINGS_FIELDS:
        values = {}
        for name in fields:
            value = getattr(t, name)
            values[name] = getattr(d, name) if value is None and name in plugin.defaultable else value
        out.append((plugin.name, plugin.settings.model_validate(values)))
    return _shared_settings(tuple(out))


# Most targets of a large fleet have the same check settings (the defaults): one tuple of them serves
# all, instead of a few KB of identical pydantic objects per target. Bounded: distinct settings are few.
_SHARED_SETTINGS: dict[tuple[tuple[str, BaseModel], ...], tuple[tuple[str, BaseModel], ...]] = {}
_SHARED_SETTINGS_MAX = 4096


def _shared_settings(settings: tuple[tuple[str, BaseModel], ...]) -> tuple[tuple[str, BaseModel], ...]:
    try:
        hash(settings)
    except TypeError:  # a setting holding a list or a dict: kept as it is
        return settings
    if len(_SHARED_SETTINGS) >= _SHARED_SETTINGS_MAX:
        _SHARED_SETTINGS.clear()
    return _SHARED_SETTINGS.setdefault(settings, settings)


def resolve_target(t: Any, d: Any) -> Target:
    """A TargetConfig with the Defaults applied."""
    def pick(name: str) -> Any:
        value = getattr(t, name)
        return getattr(d, name) if value is None else value

    port = pick("port")
    interval = pick("interval")
    jitter = pick("jitter")
    method = t.validation_method or (
        "dns" if getattr(t, "dns_validation", None) else "file" if getattr(t, "file_validation", None) else None)
    return Target(
        name=t.name or (t.host if port == 443 else f"{t.host}:{port}"),
        host=t.host,
        port=port,
        interval=interval,
        timeout=pick("timeout"),
        jitter=interval * 0.1 if jitter is None else jitter,
        expiry_warning_days=pick("expiry_warning_days"),
        checks=pick("checks"),
        http_port=pick("http_port"),
        paths=pick("paths"),
        certificate_names=t.certificate_names,
        validation_method=method,
        client_cert=pick("client_cert"),
        client_key=pick("client_key"),
        settings=_check_settings(t, d),
    )


class ConfigError(Exception):
    """A config that cannot be used; `errors` lists every problem, one line each."""

    def __init__(self, path: str, errors: list[str]) -> None:
        self.path = path
        self.errors = errors
        super().__init__(f"{path}: " + "; ".join(errors))


class _LineLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no type information
    """A YAML loader that remembers the line of every mapping key, for error messages."""

    key_lines: dict[int, tuple[Any, dict[Any, int]]]


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping: dict[Any, Any] = loader.construct_mapping(node, deep=True)
    lines = {}
    for key_node, _ in node.value:
        lines[loader.construct_object(key_node)] = key_node.start_mark.line + 1
    loader.key_lines[id(mapping)] = (mapping, lines)
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
    loader.key_lines = {}
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        raise ConfigError(path, [f"{path}: not valid YAML: {exc}"]) from None
    finally:
        key_lines = loader.key_lines
        loader.dispose()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(path, [f"{path}: expected a mapping at the top level, got {type(data).__name__}"])
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        located: list[tuple[int, str]] = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            key = ".".join(str(p) for p in loc) or "(top level)"
            line = _line_of(loc, data, key_lines)
            where = f"{path}:{line}" if line else path
            located.append((line or 0, f"{where}: {key}: {explain(Config, err, loc)}"))
        # In file order, as an editor shows them (a stable sort keeps pydantic's order within a line).
        raise ConfigError(path, [text for _, text in sorted(located, key=lambda item: item[0])]) from None


def load_config(path: str | Path) -> Config:
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"{path}: cannot read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), [f"{path}: not UTF-8 text: {exc}"]) from None
    return parse_config(text, str(path))
