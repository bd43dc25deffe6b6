"""`sslfault faults`: the fault catalog, as a table or JSON, in English or Chinese."""

from __future__ import annotations

import argparse
import json
from typing import Any

from exporter.checks import check_of
from exporter.cli.common import EXIT_OK


def add_parser(sub: Any) -> None:
    faults = sub.add_parser("faults", help="print the fault catalog")
    faults.add_argument("--json", action="store_true")
    faults.add_argument("--lang", choices=("en", "zh"), default="en")


def run(args: argparse.Namespace) -> int:
    from exporter.catalog.faults import FAULTS

    if args.json:
        print(json.dumps([
            {"id": str(f.id), "severity": str(f.severity), "section": f.section, "check": check_of(f.id),
             "title": f.title, "summary": f.summary, "title_zh": f.title_zh, "summary_zh": f.summary_zh,
             "remedy": {"en": f.remedy_en, "zh": f.remedy_zh}}
            for f in FAULTS.values()
        ], ensure_ascii=False, indent=2))
        return EXIT_OK
    zh = args.lang == "zh"
    for fault in FAULTS.values():
        summary, remedy = (fault.summary_zh, fault.remedy_zh) if zh else (fault.summary, fault.remedy_en)
        print(f"{fault.id:<32} {fault.severity:<8} {fault.section:<5} {summary}\n{'':47}{remedy}")
    return EXIT_OK
