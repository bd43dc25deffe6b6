"""What a check declares about itself: one `CheckPlugin` per check module, registered once.

A check returns faults for what the target does wrong and raises only when it cannot reach a
verdict (`CannotJudge` or any exception; the runner maps them to error kinds in one place).
Everything else the product needs to know about a check comes from its plugin: its settings
(validated with the config), its result type (rebuilt from the state file), the fault ids it
may emit, its metrics, the facts the status page and reports show, and its `diagnose` flags.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from exporter.catalog.faults import FaultId
from exporter.models import CheckOutcome
from exporter.target import Target

if TYPE_CHECKING:
    from exporter.engine.context import ProbeContext


class NoSettings(BaseModel):
    """For checks without settings of their own."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Settings(BaseModel):
    """Base of a check's settings model: its fields appear on each target (flat, as in YAML)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


P = TypeVar("P", bound=BaseModel)
R = TypeVar("R")


@dataclass(frozen=True)
class MetricSpec:
    """A metric family a check's results feed; `target` is always the first label."""

    name: str
    help: str
    labels: tuple[str, ...] = ()  # after "target"
    kind: Literal["gauge", "info"] = "gauge"


@dataclass(frozen=True)
class Sample:
    metric: str  # a MetricSpec name the plugin declares
    labels: tuple[str, ...]  # values for the spec's labels, after "target"
    value: float | Mapping[str, str]  # a number, or the info labels


@dataclass(frozen=True)
class AddressFacts:
    """What a check learned about one address, for the status page and reports (None: not this check's)."""

    address: str
    reachability: str | None = None  # the connect/handshake status
    connect_seconds: float | None = None
    handshake_seconds: float | None = None
    tls_version: str | None = None
    cipher: str | None = None
    leaf_subject: str | None = None
    leaf_names: tuple[str, ...] | None = None
    leaf_key_type: str | None = None
    leaf_not_after: float | None = None  # unix seconds
    trusted: bool | None = None
    chain_path: tuple[str, ...] | None = None  # subjects, leaf first
    chain_not_after: float | None = None


@dataclass(frozen=True)
class Facts:
    """What a check's result tells the views beyond its faults."""

    resolved: tuple[str, ...] | None = None  # the addresses the name resolved to (the dns check)
    addresses: tuple[AddressFacts, ...] = ()


@dataclass(frozen=True)
class Flag:
    """A `sslfault diagnose` option that sets one key of the diagnosed target (dotted for nested keys)."""

    option: str  # e.g. "--ca-identifier"
    key: str  # e.g. "ca_identifiers" or "dns_validation.value"
    help: str
    metavar: str | None = None
    repeat: bool = False  # may be given several times: the key takes a list
    type: Callable[[str], Any] = str


def _always(target: Target, settings: Any) -> bool:
    return True


def _no_samples(target: Target, result: Any) -> Iterable[Sample]:
    return ()


def _no_facts(result: Any) -> Facts:
    return Facts()


@dataclass(frozen=True)
class CheckPlugin(Generic[P, R]):
    name: str
    summary: str  # one line: what it checks
    run: Callable[[Target, P, ProbeContext], Awaitable[CheckOutcome]]
    result_type: type[R]
    faults: frozenset[FaultId]
    settings: type[P] = NoSettings  # type: ignore[assignment]  # the default model when a check has none
    # Settings fields an operator may also set under `defaults:` (the rest are per target).
    defaultable: tuple[str, ...] = ()
    # False: not run for this target (e.g. file validation without a token); never shown as "ok".
    applies: Callable[[Target, P], bool] = _always
    metrics: tuple[MetricSpec, ...] = ()
    samples: Callable[[Target, R], Iterable[Sample]] = _no_samples
    facts: Callable[[R], Facts] = _no_facts
    flags: tuple[Flag, ...] = ()
    # Network checks are chosen with `checks:`; a check of another kind (watched files) is not.
    kind: Literal["network", "file"] = "network"

    def settings_of(self, target: Target) -> P:
        return target.settings_for(self.name, self.settings)

    def applies_to(self, target: Target) -> bool:
        return self.applies(target, self.settings_of(target))

    async def run_on(self, target: Target, ctx: ProbeContext) -> CheckOutcome:
        return await self.run(target, self.settings_of(target), ctx)

    def samples_of(self, target: Target, result: object) -> Iterable[Sample]:
        if not isinstance(result, self.result_type):
            return ()
        return self.samples(target, result)

    def facts_of(self, result: object) -> Facts:
        if not isinstance(result, self.result_type):
            return Facts()
        return self.facts(result)
