"""deploy/alerting.yaml: the one place for severities, thresholds, selectors and the runbook base URL.

Every generator under tools/ (alert rules, their promtool tests, the PrometheusRule, the
dashboards, the paging policy page) reads it through `load()`; `policy()` turns it and the
fault catalog into who is told about each fault id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = ROOT / "deploy" / "alerting.yaml"
Notify = Literal["page", "warn", "ticket"]
_DURATION = re.compile(r"(\d+)([smhd])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_FAULT_ID = re.compile(r"[a-z][a-z0-9_]*")
# Catalog severity -> who is told, unless the settings say otherwise.
DEFAULT_NOTIFY: dict[str, Notify] = {"critical": "page", "warning": "warn", "info": "ticket"}


def seconds(duration: str) -> int:
    """'10m' -> 600. One unit only, the form promtool and the rules use."""
    match = _DURATION.fullmatch(duration)
    if match is None:
        raise ValueError(f"expected a duration such as 30s, 10m, 1h or 1d, got {duration!r}")
    return int(match[1]) * _SECONDS[match[2]]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Durations(_Model):
    @field_validator("*")
    @classmethod
    def _duration(cls, value: object) -> object:
        if isinstance(value, str):
            seconds(value)
        return value


class NotifyLabels(_Model):
    page: str = "critical"
    warn: str = "warning"
    ticket: str = "info"


class Override(_Model):
    notify: Notify
    why: str = Field(min_length=10)


def _fault_ids(value: tuple[str, ...]) -> tuple[str, ...]:
    for fault_id in value:
        if not _FAULT_ID.fullmatch(fault_id):
            raise ValueError(f"{fault_id!r} is not a fault id")
    return value


class UnreadableFiles(_Durations):
    """File faults that page once the file's certificate has been unparseable for `page_after`."""

    faults: tuple[str, ...] = ()
    page_after: str = "1h"

    _ids = field_validator("faults")(_fault_ids)


class Policy(_Model):
    until_renewal: tuple[str, ...] = ()
    unreadable_files: UnreadableFiles = UnreadableFiles()
    overrides: dict[str, Override] = Field(default_factory=dict)

    _ids = field_validator("until_renewal")(_fault_ids)


class Expiry(_Durations):
    warning_days: float = Field(gt=0)
    critical_days: float = Field(gt=0)
    for_: str = Field(alias="for")

    @model_validator(mode="after")
    def _order(self) -> Expiry:
        if self.critical_days >= self.warning_days:
            raise ValueError("critical_days must be below warning_days")
        return self


class Waits(_Durations):
    at_once: str
    content: str
    network: str
    slow: str


class Exporter(_Durations):
    down_for: str
    absent_for: str
    check_erroring_for: str
    stale_after: str
    stale_intervals: float = Field(default=3, ge=1)
    stale_for: str
    reload_failed_for: str
    discovery_failing_for: str = "15m"
    shards_disagree_for: str = "15m"
    state_save_failing_for: str = "10m"
    watches_nothing_for: str = "15m"


class Settings(_Model):
    runbook_base_url: str = Field(pattern=r"^https?://\S+$")
    selector: str = Field(pattern=r'^\w+(=|!=|=~|!~)"[^"]*"(,\s*\w+(=|!=|=~|!~)"[^"]*")*$')
    replica_labels: tuple[str, ...] = ("instance", "pod")
    shard_labels: tuple[str, ...] = ("shard",)
    notify: NotifyLabels = NotifyLabels()
    policy: Policy = Policy()
    renewal_window_days: float = Field(gt=0)
    expiry: Expiry
    for_: Waits = Field(alias="for")
    keep_firing_for: str
    exporter: Exporter

    @field_validator("keep_firing_for")
    @classmethod
    def _keep(cls, value: str) -> str:
        seconds(value)
        return value

    @model_validator(mode="after")
    def _shards_are_not_replicas(self) -> Settings:
        both = set(self.shard_labels) & set(self.replica_labels)
        if both:
            raise ValueError(f"{', '.join(sorted(both))}: a label tells either replicas or shards apart, not both")
        return self

    @model_validator(mode="after")
    def _renewal_before_warning(self) -> Settings:
        # A daily renewal job must get at least one try between "due" and the first warning.
        if self.renewal_window_days < self.expiry.warning_days + 1:
            raise ValueError("renewal_window_days must be at least expiry.warning_days + 1: a renewal job "
                             "that runs daily needs one try before anyone is warned")
        return self

    def runbook(self, anchor: str) -> str:
        return f"{self.runbook_base_url}#{anchor}"

    def wait(self, kind: str) -> str:
        return str(getattr(self.for_, kind))


class SettingsError(ValueError):
    pass


def parse(text: str, source: str = "alerting.yaml") -> Settings:
    try:
        return Settings.model_validate(yaml.safe_load(text))
    except ValidationError as exc:
        lines = [f"{source}: {'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
                 for e in exc.errors()]
        raise SettingsError("\n".join(lines)) from None


@cache
def load(path: Path = SETTINGS) -> Settings:
    return parse(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))


# -- the policy: who is told about each fault id --------------------------------------------------


@dataclass(frozen=True)
class FaultPolicy:
    fault: str
    notify: Notify  # how it is told while nothing is due
    escalates: bool  # pages once the certificate it would block is due for renewal
    why: str = ""  # set for overrides; the family says why otherwise
    unreadable_after: str = ""  # pages once its file's certificate has been unparseable this long


def policy(fault_id: str, catalog_severity: str, settings: Settings) -> FaultPolicy:
    override = settings.policy.overrides.get(fault_id)
    files = settings.policy.unreadable_files
    unreadable = files.page_after if fault_id in files.faults else ""
    if fault_id in settings.policy.until_renewal:
        return FaultPolicy(fault_id, "warn", True, override.why if override else "", unreadable)
    if override is not None:
        return FaultPolicy(fault_id, override.notify, False, override.why, unreadable)
    return FaultPolicy(fault_id, DEFAULT_NOTIFY[catalog_severity], False, "", unreadable)


def settings_fault_ids(settings: Settings) -> set[str]:
    """Every fault id the settings name (tests hold them to the catalog)."""
    policy = settings.policy
    return set(policy.until_renewal) | set(policy.unreadable_files.faults) | set(policy.overrides)
