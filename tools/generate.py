"""Regenerate every file derived from deploy/alerting.yaml and the fault catalog, or check them.

    python tools/generate.py          # rewrite them all
    python tools/generate.py --check  # exit 1 naming each file that is out of date (CI, tests)

Files: deploy/prometheus/alerts.yml, deploy/prometheus/alerts_test.yml,
deploy/kubernetes/prometheusrule.yaml, docs/paging.md and grafana/dashboards/*.json (the
dashboards need grafana-foundation-sdk, a test extra).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools import gen_alert_tests, gen_alerts, gen_k8s_rules, gen_paging_doc  # noqa: E402 - after the sys.path line that makes the repo importable


def main(argv: list[str]) -> int:
    from grafana import build as dashboards  # imports the SDK: only when generating

    failed = 0
    for generator in (gen_alerts, gen_alert_tests, gen_k8s_rules, gen_paging_doc, dashboards):
        failed += generator.main(argv) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
