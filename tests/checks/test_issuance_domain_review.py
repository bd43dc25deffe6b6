"""The security-review name check (guide S2): the listed words as whole parts, not substrings."""

from __future__ import annotations

import asyncio

import pytest

from exporter.checks.base import NoSettings
from exporter.checks.domain_review import WORDS, review_name, run, split_suffix
from exporter.config import Config, Target
from sslfault_lab.scenarios import SPECS

FLAGGED = {
    "my-bank.com": "bank",
    "bank.example": "bank",
    "test1.example": "test",
    "www.apple-support.net": "apple",
    "shop.google2.cn": "google",
    "live.com": "live",
    "free-wifi.org": "free",
    "pw.com": "pw",
    "example.com": "example",
    "a.hp.com.cn": "hp",  # the registrable label under a second-level public suffix
    "root_ca.mycorp.org": "root",  # subdomain labels count: the CA reviews the whole name
    "bank.mysite.com": "bank",
    "google.mycompany.com": "google",
    "test.shop.com.cn": "test",
    "my_trust.org": "trust",
    "site.pw": ".pw",
    "*.visa-card.com": "visa",
}
HARMLESS = [
    "delivery.com", "shpw.com", "alphabet.com", "paypal.com", "rooted.org", "testing.io", "trusty.org",
    "visage.fr", "hpe.com", "freedom.org", "discovery.org", "apples.com", "livestream.net", "site.live",
    "shop.mycorp.bank", "www.lab.test", "with-anchor.lab.test", "ok.lab.test", "rootless.mycorp.net",
]


@pytest.mark.parametrize("name,word", [(n, w) for n, w in FLAGGED.items() if w])
def test_listed_words_and_tld_are_flagged(name: str, word: str) -> None:
    review = review_name(name)
    assert word in review.words, review
    assert any(word.lstrip(".") in r for r in review.reasons)


@pytest.mark.parametrize("name", HARMLESS + [n for n, w in FLAGGED.items() if w is None])
def test_harmless_names_are_not_flagged(name: str) -> None:
    assert review_name(name).reasons == (), review_name(name)


@pytest.mark.parametrize("name", ["192.0.2.10", "2001:db8::1", "[2001:db8::1]", "intranet", "localhost", "test"])
def test_ip_literals_and_single_labels_are_flagged(name: str) -> None:
    [reason] = review_name(name).reasons
    assert "IP address" in reason or "single-label" in reason


def test_every_word_of_the_guide_is_listed() -> None:
    guide = ["live", "bank", "banc", "alpha", "test", "example", "credit", "apple", "ebay", "trust", "root", "amazon", "android", "visa", "google", "discover", "financial", "wordpress", "pal", "hp", "lv", "free", "scp", "pw"]
    assert set(guide) == WORDS
    for word in guide:
        assert review_name(f"{word}.com").words == (word,)
        assert review_name(f"my-{word}-shop.com").words == (word,)
        assert review_name(f"{word}.lab.test").words == (word,)  # subdomain labels count too


def test_lab_scenario_names_are_clean() -> None:
    """The TLS lab runs domain_review on every scenario: none of its names may trip it."""
    for spec in SPECS:
        assert review_name(f"{spec.name}.lab.test").reasons == (), spec.name


def _target(host: str, names: list[str]) -> Target:
    data = {"targets": [{"host": host, "certificate_names": names}]}
    return Config.model_validate(data).resolved_targets()[0]


def test_check_reviews_every_certificate_name_once() -> None:
    target = _target("shop.com", ["shop.com", "*.shop.com", "my-bank.com", "bank.example"])
    outcome = asyncio.run(run(target, NoSettings(), None))
    assert [f.data["name"] for f in outcome.findings] == ["my-bank.com", "bank.example"]
    assert all(f.fault == "domain_review_risk" for f in outcome.findings)
    assert "'bank'" in outcome.findings[0].detail
    ip = asyncio.run(run(_target("192.0.2.10", []), NoSettings(), None))
    assert [f.data["name"] for f in ip.findings] == ["192.0.2.10"]


@pytest.mark.parametrize(("name", "left", "suffix"), [
    ("shop.bank.co.id", ["shop", "bank"], "co.id"),  # a second-level suffix no built-in list had
    ("a.b.pvt.k12.ma.us", ["a", "b"], "pvt.k12.ma.us"),  # four labels deep
    ("x.github.io", ["x", "github"], "io"),  # private suffixes are names the CA still reviews
    ("www.lab.test", ["www", "lab"], "test"),  # not in the list: the last label, the PSL's "*" rule
])
def test_public_suffix_comes_from_the_public_suffix_list(name: str, left: list[str], suffix: str) -> None:
    assert split_suffix(name) == (left, suffix)
    assert "bank" in review_name("secure.bank.co.id").words
