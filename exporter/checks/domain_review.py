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

from typing import TYPE_CHECKING
import ipaddress
import re
from dataclasses import dataclass

from exporter.target import Target
from exporter.checks.base import CheckPlugin, NoSettings
from exporter.models import CheckOutcome, FaultId, Finding

if TYPE_CHECKING:
    from exporter.engine.context import ProbeContext

WORDS = frozenset({
    "live", "bank", "banc", "alpha", "test", "example", "credit", "apple", "ebay", "trust", "root",
    "amazon", "android", "visa", "google", "discover", "financial", "wordpress", "pal", "hp", "lv",
    "free", "scp", "pw",
})
RISKY_TLDS = frozenset({"pw"})
SECOND_LEVEL_SUFFIXES = frozenset({
    f"{sld}.{tld}"
    for tld, slds in {
        "cn": ("com", "net", "org", "gov", "edu", "ac", "mil", "ah", "bj", "cq", "fj", "gd", "gs", "gx", "gz",
               "ha", "hb", "he", "hi", "hk", "hl", "hn", "jl", "js", "jx", "ln", "mo", "nm", "nx", "qh",
               "sc", "sd", "sh", "sn", "sx", "tj", "tw", "xj", "xz", "yn", "zj"),
        "hk": ("com", "net", "org", "gov", "edu", "idv"),
        "tw": ("com", "net", "org", "gov", "edu", "idv"),
        "uk": ("co", "org", "me", "ltd", "plc", "net", "ac", "gov"),
        "jp": ("co", "ne", "or", "ac", "go", "gr"),
        "kr": ("co", "ne", "or", "ac", "go"),
        "au": ("com", "net", "org", "edu", "gov", "id"),
        "nz": ("co", "net", "org", "ac", "govt"),
        "sg": ("com", "net", "org", "edu", "gov"),
        "br": ("com", "net", "org", "gov"),
        "in": ("co", "net", "org", "gen", "firm", "ind"),
        "za": ("co", "org", "net"),
        "mx": ("com", "org", "net"),
        "my": ("com", "net", "org"),
    }.items()
    for sld in slds
})
_PART_SPLIT = re.compile(r"[-_0-9]+")


@dataclass(frozen=True)
class NameReview:
    name: str
    reasons: tuple[str, ...]  # empty: nothing the review is known to flag
    words: tuple[str, ...] = ()


@dataclass(frozen=True)
class DomainReviewResult:
    names: tuple[NameReview, ...]


def split_suffix(name: str) -> tuple[list[str], str]:
    """(labels left of the public suffix, the suffix)."""
    labels = name.split(".")
    if len(labels) >= 3 and ".".join(labels[-2:]) in SECOND_LEVEL_SUFFIXES:
        return labels[:-2], ".".join(labels[-2:])
    return labels[:-1], labels[-1]


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
