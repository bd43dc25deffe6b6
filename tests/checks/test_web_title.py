"""The http check's page title: found from the page's start when that tells, and always the title lexbor
finds in the whole page (what the check used before it stopped parsing whole pages for it, issue 14)."""

from __future__ import annotations

import random
import time

import pytest
from selectolax.lexbor import LexborHTMLParser

from exporter.checks._html import page_title, quick_title
from exporter.checks._html_bounds import bounded_html

# Pieces that move, hide, grow or drop a <title>: comments, raw text, foreign content, frameset, templates.
PIECES = ["<title>A</title>", "<TITLE>B</TITLE >", "<title>C", "</title>", "<!-- <title>D</title> -->", "<!--", "-->",
          "<script>s='<title>E</title>'</script>", "<script>", "</script>", "<svg><title>F</title></svg>", "<svg>",
          "</svg>", "<textarea><title>G</title></textarea>", "<noscript><title>H</title></noscript>",
          "<template><title>I</title></template>", "<title>J &amp; K</title>", "<title>  L \n M </title>", "</title/>",
          "</title x=1>", "<table><title>N</title></table>", "<head>", "</head>", "<body>", "<p>", "<div>",
          "<style><title>O</title></style>", "<math><title>Q</title></math>", "<plaintext>", "<title><b>T</b></title>",
          "<select><title>U</title></select>", "<frameset>", "<title\n>V</title\n>", "<noframes><title>Z</title></noframes>",
          "<title>X</title\t>", "<titlex>Y</titlex>", "<html>", "<meta charset=utf-8>", "text"]


def _whole_page(html: str) -> str | None:
    text, _ = bounded_html(html)
    node = LexborHTMLParser(text).css_first("title")
    return " ".join(node.text().split()) if node is not None else None


def test_the_title_is_the_one_a_whole_page_parse_finds() -> None:
    rng = random.Random(14)
    pages = ["".join(rng.choice(PIECES) for _ in range(rng.randint(1, 9))) for _ in range(5000)]
    assert [p for p in pages if page_title(p) != _whole_page(p)] == []
    # Control: most of these are answered from their start (else this compares the whole-page parse to itself).
    assert sum(quick_title(p, 8192)[0] for p in pages) > 1000


@pytest.mark.parametrize(("html", "known"), [
    ("<!doctype html><html><head><meta charset=utf-8><title>Shop</title>", (True, "Shop")),
    ("<p>no title at all</p>", (True, None)),
    ("<!-- <title>old</title> --><title>new</title>", (True, "new")),  # the first </title> is in a comment
    ("<svg><title>icon</title></svg>", (False, None)),  # an SVG title's text can grow with what follows
    ("<body><title>late</title>", (False, None)),  # a later <frameset> can drop a title in <body>
])
def test_what_the_start_of_a_page_tells(html: str, known: tuple[bool, str | None]) -> None:
    assert quick_title(html + "<div>" * 10_000, 8192) == known


def test_a_title_at_the_top_of_a_large_page_costs_only_the_top() -> None:
    html = "<html><head><title>Shop</title></head><body>" + "<div><p>x</p></div>" * 100_000
    start = time.perf_counter()
    assert quick_title(html, 8192) == (True, "Shop")
    assert time.perf_counter() - start < 0.05  # the whole 1.9 MB page takes over half a second
