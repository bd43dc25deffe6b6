"""The CA's anti-phishing review (guide S2): names a DV order may be held or refused for.

The rule, chosen so an operator does not get silly hits:
- an IP address or a single-label host name is always flagged;
- the listed words are matched in every label left of the public suffix (the CA reviews
  the whole name in the order: `bank.mysite.com` counts), as whole labels or whole parts
  of one, where parts are split at hyphens, underscores and digits: `my-bank`, `bank2`,
  `test1` match; `delivery` (live), `alphabet` (alpha), `shpw` (pw) and `paypal` (pal)
  do not;
- the public suffix itself is flagged only when it is a listed TLD (`.pw`); `.live` and
  other words used as TLDs are not, and reserved test TLDs (`.test`, `.example`...) are
  never read as words, since they are the suffix.
The public suffix is the last label, or the last two for the common second-level
suffixes below (a small built-in list, not the full Public Suffix List).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from publicsuffixlist import PublicSuffixList

from exporter.checks.base import CheckPlugin, NoSettings
from exporter.models import CheckOutcome, FaultId, Finding
from exporter.target import Target

if TYPE_CHECKING:
    from exporter.engine.context import ProbeContext

WORDS = frozenset({
    "live", "bank", "banc", "alpha", "test", "example", "credit", "apple", "ebay", "trust", "root",
    "amazon", "android", "visa", "google", "discover", "financial", "wordpress", "pal", "hp", "lv",
    "free", "scp", "pw",
})
RISKY_TLDS = frozenset({"pw"})
# The ICANN section of the Public Suffix List (as shipped by publicsuffixlist): what a CA reads as the
# registry-controlled part of a name. Private suffixes (github.io...) are names a CA still reviews.
_PSL = PublicSuffixList(only_icann=True)
_PART_SPLIT = re.compile(r"[-_0-9]+")


@dataclass(frozen=True, slots=True)
class NameReview:
    name: str
    reasons: tuple[str, ...]  # empty: nothing the review is known to flag
    words: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DomainReviewResult:
    names: tuple[NameReview, ...]


def split_suffix(name: str) -> tuple[list[str], str]:
    """(labels left of the public suffix, the suffix); an unknown TLD is its own suffix, as the PSL's "*" rule says."""
    suffix = _PSL.publicsuffix(name) or name.rsplit(".", 1)[-1]
    left = name[: -len(suffix)].rstrip(".")
    return (left.split(".") if left else []), suffix


def label_parts(label: str) -> list[str]:
    return [p for p in _PART_SPLIT.split(label) if p]


def review_name(name: str) -> NameReview:
    shown = name
    name = name.strip().lower().rstrip(".").removeprefix("*.")
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        pass
    else:
        return NameReview(shown, ("an IP address: DV certificates are issued for domain names only",))
    if "." not in name:
        return NameReview(shown, ("a single-label host name: DV certificates need a fully qualified domain name",))
    left, suffix = split_suffix(name)
    reasons: list[str] = []
    words: list[str] = []
    for index, label in enumerate(left):
        hits = [p for p in dict.fromkeys(label_parts(label)) if p in WORDS and p not in words]
        words += hits
        where = ".".join(left[index:] + [suffix])
        reasons += [f"the word {w!r} in {where}" for w in hits]
    if suffix.rsplit(".", 1)[-1] in RISKY_TLDS:
        words.append(f".{suffix.rsplit('.', 1)[-1]}")
        reasons.append(f"the TLD .{suffix.rsplit('.', 1)[-1]}")
    return NameReview(shown, tuple(reasons), tuple(words))


async def run(target: Target, settings: NoSettings, ctx: ProbeContext | None) -> CheckOutcome:
    reviews = tuple(review_name(n) for n in dict.fromkeys(target.issuance_names))
    findings = tuple(
        Finding(FaultId.DOMAIN_REVIEW_RISK,
                f"{r.name} may be held by the CA's security review: {'; '.join(r.reasons)}",
                data={"name": r.name, "words": list(r.words), "reasons": list(r.reasons)})
        for r in reviews if r.reasons
    )
    return CheckOutcome(findings, DomainReviewResult(reviews))


PLUGIN = CheckPlugin[NoSettings, DomainReviewResult](
    name="domain_review",
    summary="names a CA's anti-phishing review is known to hold (IPs, single labels, listed words; S2)",
    run=run,
    result_type=DomainReviewResult,
    faults=frozenset({FaultId.DOMAIN_REVIEW_RISK}),
)
