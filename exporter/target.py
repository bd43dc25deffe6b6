"""A target with every default applied: what the runner and the checks receive.

Settings that describe the target itself (its ports, pages, the names its certificate is
issued for) are fields here; settings that only one check reads are that check's own
pydantic model, declared in its plugin and carried in `settings` by check name.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Target:
    name: str
    host: str
    port: int
    interval: float
    timeout: float
    jitter: float
    expiry_warning_days: float
    checks: tuple[str, ...]
    http_port: int = 80
    paths: tuple[str, ...] = ("/",)  # fetched by the checks that read pages
    certificate_names: tuple[str, ...] = ()  # names to issue for; host when empty
    validation_method: str | None = None  # "dns" or "file": how the CA validates
    # A client certificate and key (PEM files) presented when the server asks: the capture handshake
    # and the HTTP-layer checks use them (like blackbox_exporter's tls_config cert_file/key_file).
    client_cert: str | None = None
    client_key: str | None = None
    # Each check's own settings (its plugin's model, defaults applied), by check name.
    settings: tuple[tuple[str, BaseModel], ...] = ()

    def settings_for(self, check: str, model: type[M]) -> M:
        """The check's settings, or the model's defaults when the target sets none."""
        for name, value in self.settings:
            if name == check:
                if not isinstance(value, model):
                    raise TypeError(f"settings of {check!r} are {type(value).__name__}, not {model.__name__}")
                return value
        return model()

    @property
    def issuance_names(self) -> tuple[str, ...]:
        return self.certificate_names or (self.host,)

    @property
    def is_ip(self) -> bool:
        return ip_literal(self.host) is not None


@functools.lru_cache(maxsize=65536)
def ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address `host` spells, or None for a name. Asked on every run (the SNI to send, what to
    resolve): parsed once per host."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None
