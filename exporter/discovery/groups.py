"""Prometheus target groups (`[{targets: [...], labels: {...}}]`) -> target configs.

How a group maps onto the config's target model (README, "Discovery and sharding"):
- each string in `targets` is `host`, `host:port`, `[IPv6]:port` or a bare IPv6 address;
- a label named like a target setting (`port`, `name`, `interval`, `checks`, `ca_identifiers`,
  `dns_validation`, ... every key a configured target accepts except `host`), or the same name
  prefixed with `__param_` (so files shared with a blackbox-style Prometheus job read the same),
  sets that setting for every target of the group. Values are strings as Prometheus requires:
  lists are comma-separated (`checks: "dns,tls,chain"`), nested settings are JSON objects
  (`dns_validation: '{"value": "abc"}'`); native lists, numbers and mappings work too; an empty
  value leaves the setting unset (in Prometheus an empty label is an absent one);
- a `__param_` label that names no setting is an error (a typo must not pass silently);
- every other label (`team`, `env`, `__meta_*`) is ignored: series are keyed by `target`, and
  ownership belongs in Prometheus (relabelling, or a join on `target`).
A group with an error rejects its whole source, so a half-written file never drops targets.
"""

from __future__ import annotations

import ipaddress
import json
import types
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from exporter.config import TargetConfig

PARAM_PREFIX = "__param_"
MAX_TARGETS_PER_SOURCE = 200_000  # a runaway generator must not swamp the exporter
MAX_ERRORS = 20  # listed per source; a file broken on every line still logs a few lines


class DiscoveryError(Exception):
    """A source that cannot be used; `errors` lists each problem, one line each, naming the source."""

    def __init__(self, source: str, errors: list[str]) -> None:
        self.source = source
        self.errors = errors
        super().__init__("; ".join(errors))


def _kind(annotation: Any) -> str:
    """'list', 'object' or 'scalar': how a string label value becomes the setting's value."""
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    for arg in typing.get_args(annotation) if union else (annotation,):
        if typing.get_origin(arg) is typing.Annotated:
            arg = typing.get_args(arg)[0]
        if typing.get_origin(arg) is tuple:
            return "list"
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return "object"
    return "scalar"


# Paths on this machine stay config-only: a remote inventory must not make the exporter present the
# operator's client certificate to any host, nor probe which local files exist.
CONFIG_ONLY = frozenset({"host", "client_cert", "client_key"})
SETTINGS: dict[str, str] = {name: _kind(info.annotation) for name, info in TargetConfig.model_fields.items()
                            if name not in CONFIG_ONLY}


def split_address(text: str) -> tuple[str, int | None]:
    """'host', 'host:8443', '[2001:db8::1]:8443', '2001:db8::1' -> (host, port or None)."""
    if "://" in text or "/" in text:
        raise ValueError(f"expected host or host:port, not a URL: {text!r}")
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"expected [IPv6]:port, got {text!r}")
        return host, _port(rest[1:], text) if rest else None
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, _port(port, text)
    if text.count(":") > 1:
        ipaddress.IPv6Address(text)  # a bare IPv6 address; anything else is a ValueError
    return text, None


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"port must be 1-65535 in {whole!r}")
    return int(text)


def _setting_value(kind: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if kind == "list":
        return [part.strip() for part in value.split(",") if part.strip()]
    if kind == "object":
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"expected a JSON object, got {value!r} ({exc.msg})") from None
    return value


def _settings(labels: Any) -> tuple[dict[str, Any], list[str]]:
    """The settings a group's labels carry, and what is wrong with them."""
    if labels is None:
        return {}, []
    if not isinstance(labels, dict):
        return {}, [f"labels: expected a mapping, got {type(labels).__name__}"]
    settings: dict[str, Any] = {}
    errors: list[str] = []
    for label, value in labels.items():
        key = str(label)
        name = key.removeprefix(PARAM_PREFIX)
        if value == "" and name in SETTINGS:
            continue  # as in Prometheus, an empty label is an absent one: the setting stays unset
        if name not in SETTINGS:
            if key.startswith(PARAM_PREFIX):
                errors.append(f"label {key}: unknown setting; settings: {', '.join(sorted(SETTINGS))}")
            continue  # an ordinary label: ignored
        try:
            parsed = _setting_value(SETTINGS[name], value)
        except ValueError as exc:
            errors.append(f"label {key}: {exc}")
            continue
        if name in settings and settings[name] != parsed:
            errors.append(f"label {key}: conflicts with another label setting {name}")
        settings[name] = parsed
    return settings, errors


def _error_text(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        message = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {message}" if loc else message)
    return "; ".join(parts)


def parse_groups(data: Any, source: str, line_of: Callable[[int], int | None] = lambda index: None
                 ) -> list[TargetConfig]:
    """Every target of every group, validated like a configured target (defaults are applied later,
    by the fleet, so a reload with new defaults needs no re-read); raises DiscoveryError listing
    every problem."""
    if not isinstance(data, list):
        raise DiscoveryError(source, [f"{source}: expected a list of target groups, got {type(data).__name__}"])
    out: list[TargetConfig] = []
    errors: list[str] = []
    for index, group in enumerate(data):
        line = line_of(index)
        where = f"{source}:{line}: entry {index}" if line else f"{source}: entry {index}"
        if not isinstance(group, dict):
            errors.append(f"{where}: expected a mapping with targets and labels, got {type(group).__name__}")
            continue
        unknown = set(group) - {"targets", "labels"}
        if unknown:
            errors.append(f"{where}: unknown key(s) {sorted(map(str, unknown))}; a group has targets and labels")
        targets = group.get("targets")
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            errors.append(f"{where}: targets: expected a list of host[:port] strings")
            continue
        settings, problems = _settings(group.get("labels"))
        errors += [f"{where}: {p}" for p in problems]
        if problems:
            continue
        for address in targets:
            try:
                host, port = split_address(address.strip())
                if port is not None and settings.get("port") not in (None, port, str(port)):
                    raise ValueError(f"port {port} in the address and label port={settings['port']} differ")
                values = {**settings, "host": host, **({"port": port} if port is not None else {})}
                target = TargetConfig.model_validate(values)
            except ValidationError as exc:
                errors.append(f"{where}, target {address!r}: {_error_text(exc)}")
                continue
            except ValueError as exc:
                errors.append(f"{where}, target {address!r}: {exc}")
                continue
            out.append(target)
        if len(out) > MAX_TARGETS_PER_SOURCE:
            raise DiscoveryError(source, [f"{source}: more than {MAX_TARGETS_PER_SOURCE} targets"])
    if errors:
        shown = errors[:MAX_ERRORS] + ([f"{source}: ... and {len(errors) - MAX_ERRORS} more"]
                                       if len(errors) > MAX_ERRORS else [])
        raise DiscoveryError(source, shown)
    return out
