"""Tests for the fault catalog (exporter.catalog.faults) and its generated Markdown view."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from exporter.catalog.faults import FAULTS, SECTIONS, Fault, FaultId, get_fault
from exporter.checks import PLUGINS, check_of
from exporter.docs import render
from exporter.models import Severity

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS_FILE = REPO_ROOT / "docs" / "faults.md"
SHARED_CATALOG = REPO_ROOT.parent / "shared" / "faults.md"

VALID_SECTIONS = {f"S{n}" for n in range(1, 10)} | {"extra"}
SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_every_fault_id_has_an_entry() -> None:
    assert set(FAULTS) == set(FaultId)
    assert list(FAULTS) == list(FaultId), "FAULTS must follow FaultId (catalog) order"
    for fid, fault in FAULTS.items():
        assert isinstance(fault, Fault)
        assert fault.id is fid


@pytest.mark.parametrize("fid", list(FaultId), ids=str)
def test_fault_fields_are_valid(fid: FaultId) -> None:
    f = FAULTS[fid]
    assert SNAKE_CASE.match(fid.value), fid.value
    assert fid.name == fid.value.upper()
    assert isinstance(f.severity, Severity)
    assert f.section in VALID_SECTIONS
    assert f.section in SECTIONS
    assert any(fid in p.faults for p in PLUGINS.values()), f"{fid}: no check declares it"
    for name in ("title", "summary", "title_zh", "summary_zh", "remedy_en", "remedy_zh"):
        assert getattr(f, name).strip(), f"{fid}: empty {name}"
    for name in ("title_zh", "summary_zh", "remedy_zh"):
        assert CJK.search(getattr(f, name)), f"{fid}: {name} has no Chinese text"
    for name in ("title", "summary", "remedy_en"):
        assert not CJK.search(getattr(f, name)), f"{fid}: {name} contains Chinese text"


def test_check_names_follow_id_prefixes() -> None:
    # Spot-check the id -> check mapping for the prefix families.
    prefixes = {
        "dns_validation_record_": "dns_validation",
        "file_validation_": "file_validation",
        "caa_": "caa",
        "cert_file_": "cert_files",
        "mixed_content_": "mixed_content",
    }
    for fid in FAULTS:
        for prefix, check in prefixes.items():
            if fid.value.startswith(prefix):
                assert check_of(fid) == check, fid


def test_get_fault_accepts_str_and_enum() -> None:
    assert get_fault("cert_expired") is FAULTS[FaultId.CERT_EXPIRED]
    assert get_fault(FaultId.CHAIN_INCOMPLETE).severity is Severity.CRITICAL


def test_get_fault_unknown_raises_key_error() -> None:
    with pytest.raises(KeyError, match="no_such_fault"):
        get_fault("no_such_fault")


def test_docs_match_generated_markdown() -> None:
    expected = render("faults")
    actual = DOCS_FILE.read_text(encoding="utf-8") if DOCS_FILE.exists() else ""
    assert actual == expected, (
        "docs/faults.md is out of date; regenerate it with "
        "`python -m exporter.docs faults > docs/faults.md`"
    )


def test_markdown_mentions_every_id() -> None:
    text = render("faults")
    for fid in FaultId:
        assert f"`{fid.value}`" in text


def test_markdown_shows_chinese_title_and_summary() -> None:
    text = render("faults")
    assert "| 标题 |" in text
    for f in FAULTS.values():
        assert f"| {f.title} | {f.title_zh} |" in text, f.id
        assert f.summary_zh in text, f.id


def _parse_shared_catalog(text: str) -> dict[str, tuple[str, str]]:
    """id -> (severity, section) from the table rows of the shared catalog."""
    rows: dict[str, tuple[str, str]] = {}
    section = ""
    for line in text.splitlines():
        if line.startswith("## "):
            m = re.match(r"## (S\d)\b", line)
            section = m.group(1) if m else "extra"
        elif line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0].strip("`")] = (cells[1], section)
    return rows


@pytest.mark.skipif(not SHARED_CATALOG.exists(), reason="shared faults.md not available")
def test_ids_match_shared_catalog() -> None:
    rows = _parse_shared_catalog(SHARED_CATALOG.read_text(encoding="utf-8"))
    doc_ids = set(rows)
    code_ids = {f.value for f in FaultId}
    assert doc_ids - code_ids == set(), "ids in faults.md missing from FaultId"
    assert code_ids - doc_ids == set(), "FaultId members not in faults.md"
    assert list(rows) == [f.value for f in FaultId], "FaultId order differs from faults.md"
    for fid, (severity, section) in rows.items():
        fault = get_fault(fid)
        assert fault.severity == severity, fid
        assert fault.section == section, fid
