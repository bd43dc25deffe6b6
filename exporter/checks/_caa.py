"""The CAA algorithm (RFC 8659, RFC 8657) as pure functions: no I/O, easy to test.

`select_relevant` picks the relevant RRset from the answers of a climb (name first,
then each parent); `evaluate` says which configured CA identifiers that RRset
authorises. Boulder (Let's Encrypt) is the reference CA where the RFC leaves room.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

KNOWN_TAGS = frozenset({"issue", "issuewild", "iodef", "issuemail", "issuevmc", "contactemail", "contactphone"})
CRITICAL_BITS = 128 | 1  # 128 is the RFC's critical flag; Boulder also reads bit value 1 as critical
# How a configured validation method is named in `validationmethods=` (RFC 8657 uses ACME names).
ACME_METHODS = {"dns": "dns-01", "file": "http-01"}

_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_ISSUER = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
_PARAM_TAG = re.compile(r"^[A-Za-z0-9](?:-*[A-Za-z0-9])*$")
_PARAM_VALUE = re.compile(r"^[\x21-\x3a\x3c-\x7e]*$")
_METHOD = re.compile(r"^[A-Za-z0-9-]+$")

LevelStatus = Literal["records", "empty", "nxdomain", "error"]


@dataclass(frozen=True, slots=True)
class CaaRecord:
    flags: int
    tag: str
    value: str

    def text(self) -> str:
        return f'{self.flags} {self.tag} "{self.value}"'


@dataclass(frozen=True, slots=True)
class Level:
    """The CAA answer at one name of the climb."""

    name: str
    status: LevelStatus
    records: tuple[CaaRecord, ...] = ()
    canonical_name: str | None = None  # set when the answer came through a CNAME
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Selection:
    """The outcome of a climb: the relevant RRset, a failure, or nothing (unrestricted)."""

    found: Level | None = None
    failed: Level | None = None


def climb_names(name: str) -> list[str]:
    """The names to query: the name (without `*.`), then each parent, root excluded."""
    labels = base_name(name).split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


def base_name(name: str) -> str:
    name = name.strip().rstrip(".").lower()
    return name[2:] if name.startswith("*.") else name


def select_relevant(levels: Sequence[Level]) -> Selection:
    """Walk up from the name: the first failure before a non-empty set fails closed."""
    for level in levels:
        if level.status == "error":
            return Selection(failed=level)
        if level.status == "records":
            return Selection(found=level)
        if level.status == "nxdomain" and "." not in level.name:
            # A TLD that does not exist cannot be a real issuance target; CAs treat it as an error.
            return Selection(failed=Level(level.name, "error", error=f"NXDOMAIN for the TLD {level.name!r}"))
    return Selection()


@dataclass(frozen=True, slots=True)
class IssueValue:
    issuer: str  # as written; "" authorises nobody
    params: tuple[tuple[str, str], ...]


def parse_issue_value(value: str) -> IssueValue | None:
    """RFC 8659 §4.2 issuer-domain-name and parameters; None when malformed."""
    if not value.isascii():
        return None
    issuer, *params_text = value.split(";")
    issuer = issuer.strip(" \t")
    if issuer and not _ISSUER.match(issuer.lower().removesuffix(".")):
        return None
    params: list[tuple[str, str]] = []
    if len(params_text) == 1 and not params_text[0].strip(" \t"):
        params_text = []  # "ca.example;" with nothing after the semicolon is fine
    for text in params_text:
        tag, sep, param_value = text.partition("=")
        tag, param_value = tag.strip(" \t"), param_value.strip(" \t")
        if not sep or not _PARAM_TAG.match(tag) or not _PARAM_VALUE.match(param_value):
            return None
        params.append((tag.lower(), param_value))
    return IssueValue(issuer, tuple(params))


def normalise_issuer(text: str) -> str:
    return text.strip().lower().removesuffix(".")


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the relevant RRset means for the configured CAs."""

    critical: tuple[CaaRecord, ...] = ()  # unknown tags flagged critical: nobody may issue
    selected_tag: str | None = None  # "issue" or "issuewild"; None: no restriction applies
    selected: tuple[CaaRecord, ...] = ()
    authorised: tuple[str, ...] = ()  # configured CA identifiers allowed to issue
    notes: tuple[str, ...] = ()

    @property
    def restricted(self) -> bool:
        return self.selected_tag is not None


def critical_unknown(records: Sequence[CaaRecord]) -> tuple[CaaRecord, ...]:
    return tuple(r for r in records if r.tag.lower() not in KNOWN_TAGS and r.flags & CRITICAL_BITS)


def evaluate(records: Sequence[CaaRecord], wildcard: bool, ca_ids: Sequence[str], method: str | None) -> Verdict:
    critical = critical_unknown(records)
    if critical:
        return Verdict(critical=critical)
    issue = tuple(r for r in records if r.tag.lower() == "issue")
    issuewild = tuple(r for r in records if r.tag.lower() == "issuewild")
    tag, selected = ("issuewild", issuewild) if wildcard and issuewild else ("issue", issue)
    if not selected:
        return Verdict()  # e.g. only iodef, or only issuewild for a non-wildcard name
    wanted = {normalise_issuer(c): c for c in ca_ids}
    authorised: dict[str, None] = {}
    notes: list[str] = []
    for record in selected:
        ca, record_notes = _authorises(record, wanted, method)
        notes += record_notes
        if ca is not None:
            authorised[ca] = None
    return Verdict(selected_tag=tag, selected=selected, authorised=tuple(authorised), notes=tuple(notes))


def _authorises(record: CaaRecord, wanted: dict[str, str], method: str | None) -> tuple[str | None, list[str]]:
    """The configured CA this record authorises (or None), with notes on why or why not."""
    shown = record.text()
    parsed = parse_issue_value(record.value)
    if parsed is None:
        return None, [f"{shown} is malformed and authorises no CA"]
    if not parsed.issuer:
        return None, [f"{shown} authorises no CA"]
    ca = wanted.get(normalise_issuer(parsed.issuer))
    if ca is None:
        return None, []
    notes: list[str] = []
    if parsed.issuer != normalise_issuer(ca):  # CA identifiers are lower case, without a final dot
        notes.append(f"{shown} names {parsed.issuer!r}, which differs from {normalise_issuer(ca)!r} in case or "
                     "trailing dot: a strict CA (Let's Encrypt compares exactly) would deny")
    params = parsed.params
    accounts = [v for k, v in params if k == "accounturi"]
    if len(accounts) > 1:
        return None, [f"{shown} has {len(accounts)} accounturi parameters and can never be satisfied"]
    if accounts:
        notes.append(f"{shown} allows only the ACME account {accounts[0]}: order with that account")
    allowed_methods = [v for k, v in params if k == "validationmethods"]
    if allowed_methods:
        methods = allowed_methods[-1].split(",")
        if not all(_METHOD.match(m) for m in methods):
            return None, [f"{shown} has a malformed validationmethods list and authorises no CA"]
        acme = ACME_METHODS.get(method or "")
        if acme is None:
            notes.append(f"{shown} limits validation to {', '.join(methods)}")
        elif acme not in methods:
            return None, [f"{shown} allows only validation by {', '.join(methods)}, "
                          f"not {acme} ({method} validation, as configured)"]
    return ca, notes
