"""Label values from certificates reach /metrics intact, whatever characters they hold."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from exporter.checks.tls import AddressTls, TlsResult
from exporter.config import Config
from exporter.engine.store import ResultsStore
from exporter.http.exposition import Exposition
from exporter.models import CheckOutcome, CheckResult, CheckStatus
from exporter.pki.certinfo import CertSummary

SUBJECT = 'CN=<script>x</script> "q" \\ \x1b[31m\nnext\u2028line\x85nel\x1c\x1d\x1e,O=Evil'


def test_cert_strings_with_line_separators_round_trip_through_the_exposition_cache() -> None:
    """The cache split the rendered text with str.splitlines(), which also breaks at U+2028, NEL and
    \\x1c-\\x1e (legal, unescaped in label values): /metrics came out torn and unparsable."""
    target = Config.model_validate({"targets": [{"host": "shop.example"}]}).resolved_targets()[0]
    leaf = CertSummary(SUBJECT, "CN=Issuer", "01", "ab" * 32, "EC-P256", 1.0, 2.0, False, ("shop.example",))
    result = CheckResult(target.name, "tls", CheckStatus.OK, 1.0, 0.1,
                         CheckOutcome((), TlsResult((AddressTls("192.0.2.1", "TLSv1.3", "x", leaf, None),))))
    store = ResultsStore()
    store.set_targets([target])
    store.record(target, {"tls": result})
    text = Exposition(store).render().decode()
    subjects = [s.labels["subject"] for f in text_string_to_metric_families(text) for s in f.samples
                if s.name == "sslfault_cert_info"]
    assert subjects == [SUBJECT]


def test_status_page_escapes_markup_and_control_characters() -> None:
    from exporter.http.statuspage_render import esc

    shown = esc(SUBJECT)
    assert "<script>" not in shown and "\x1b" not in shown and "\u2028" not in shown and "\x85" not in shown
    assert "&lt;script&gt;" in shown and "\\u001b[31m" in shown and "&quot;q&quot;" in shown
