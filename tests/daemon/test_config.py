"""Config validation: every error names the file, line, key path and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.checks import CHECKS
from exporter.cli import main
from exporter.config import Config, ConfigError, load_config, parse_config, parse_duration

ROOT = Path(__file__).resolve().parents[2]


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "c.yaml")
    return info.value.errors


def test_example_config_is_valid() -> None:
    config = load_config(ROOT / "config.example.yaml")
    names = [t.name for t in config.resolved_targets()]
    assert names == ["www.example.com", "shop.example.com:8443", "legacy", "api.example.com", "www.example.org"]


def test_unknown_key_is_rejected_with_line_and_path() -> None:
    errors = errors_of("defaults:\n  interval: 5m\n  intervall: 5m\n")
    assert errors == ["c.yaml:3: defaults.intervall: unknown key (not allowed here); did you mean `interval`?"]


def test_unknown_key_in_a_target() -> None:
    errors = errors_of("targets:\n  - host: a.example.com\n  - host: b.example.com\n    prot: 8443\n")
    assert errors == ["c.yaml:4: targets.1.prot: unknown key (not allowed here); did you mean `port`?"]


@pytest.mark.parametrize("value", ["5x", "-1s", "soon", "0s", "true"])
def test_bad_duration(value: str) -> None:
    errors = errors_of(f"defaults:\n  interval: {value}\n")
    assert len(errors) == 1 and errors[0].startswith("c.yaml:2: defaults.interval: ")
    assert "duration" in errors[0]


def test_durations_parse() -> None:
    assert parse_duration("1h30m") == 5400
    assert parse_duration("250ms") == 0.25
    assert parse_duration(42) == 42


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("targets:\n  - host: a.example.com\n    expected_addresses: [1.2.3]\n",
         "c.yaml:3: targets.0.expected_addresses.0: expected an IPv4 or IPv6 address, got '1.2.3'"),
        ("resolver:\n  nameservers: ['8.8.8.8:0']\n", "c.yaml:2: resolver.nameservers.0: port must be 1-65535, got 0"),
        ("resolver:\n  nameservers: [dns.google]\n",
         "c.yaml:2: resolver.nameservers.0: expected an IPv4 or IPv6 address, got 'dns.google'"),
        ("targets:\n  - host: 'not a host'\n", "c.yaml:2: targets.0.host: expected a DNS name or IP address, got 'not a host'"),
        ("targets:\n  - host: a.example.com\n    port: 70000\n",
         "c.yaml:3: targets.0.port: Input should be less than or equal to 65535"),
    ],
)
def test_bad_values(snippet: str, expected: str) -> None:
    assert errors_of(snippet) == [expected]


def test_every_error_is_listed_at_once() -> None:
    errors = errors_of("defaults:\n  interval: x\n  timeout: y\ntargets:\n  - hostname: a\n")
    assert len(errors) == 4  # interval, timeout, missing host, unknown hostname
    assert any("targets.0.host: required key is missing" in e for e in errors)


def test_every_bad_list_entry_is_listed() -> None:
    errors = errors_of("resolver:\n  nameservers: ['1.1.1.1:99999', bad, '2.2.2.2', '3.3.3.3:0']\n"
                       "trust:\n  ca_files: [/nonexistent/a.pem, /nonexistent/b.pem]\n")
    assert [e.split(": ")[1] for e in errors] == [
        "resolver.nameservers.0", "resolver.nameservers.1", "resolver.nameservers.3",
        "trust.ca_files.0", "trust.ca_files.1"]


def test_duplicate_target_names() -> None:
    errors = errors_of("targets:\n  - host: a.example.com\n  - host: A.example.com.\n")
    assert "two targets share the name 'a.example.com'" in errors[0]


def test_not_yaml_and_not_a_mapping() -> None:
    assert "not valid YAML" in errors_of("targets: [\n")[0]
    assert "expected a mapping at the top level" in errors_of("- a\n- b\n")[0]


def test_nothing_trusted_is_an_error() -> None:
    assert "nothing would be trusted" in errors_of("trust:\n  use_system: false\n")[0]


def test_defaults_and_overrides() -> None:
    config = parse_config(
        "defaults:\n  interval: 1m\n  port: 8443\ntargets:\n  - host: a.example.com\n  - host: b.example.com\n"
        "    interval: 10s\n    port: 443\n"
    )
    a, b = config.resolved_targets()
    assert (a.name, a.port, a.interval, a.jitter) == ("a.example.com:8443", 8443, 60, 6)
    assert (b.name, b.port, b.interval) == ("b.example.com", 443, 10)


def test_check_names_come_from_the_registry() -> None:
    # One list: the registry. Every network check runs by default and is accepted by `checks:`.
    assert Config().defaults.checks == tuple(CHECKS)
    with pytest.raises(ConfigError, match="unknown check"):
        parse_config("targets:\n  - host: a.example.com\n    checks: [dns, nope]\n")


def test_check_config_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("defaults:\n  bogus: 1\n  timeout: never\n")
    assert main(["check-config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2: defaults.bogus: unknown key" in err and f"{bad}:3: defaults.timeout" in err
    assert main(["check-config", str(ROOT / "config.example.yaml")]) == 0
    assert main(["check-config", str(tmp_path / "missing.yaml")]) == 2


def test_plain_number_strings_are_seconds() -> None:
    assert parse_duration("4") == 4 and parse_duration("2.5") == 2.5


def test_example_config_shows_every_key() -> None:
    """config.example.yaml must show every key the config accepts (a new key needs its example)."""
    import typing

    from pydantic import BaseModel

    from exporter.config import Config

    text = (ROOT / "config.example.yaml").read_text()
    missing: set[str] = set()

    def walk(model: type[BaseModel]) -> None:
        for name, field in model.model_fields.items():
            if f"{name}:" not in text:
                missing.add(f"{model.__name__}.{name}")
            for arg in typing.get_args(field.annotation) or (field.annotation,):
                for inner in typing.get_args(arg) or (arg,):
                    if isinstance(inner, type) and issubclass(inner, BaseModel):
                        walk(inner)

    walk(Config)
    assert not missing, f"config.example.yaml lacks {sorted(missing)}"


def test_errors_speak_the_config_language_and_follow_the_file() -> None:
    text = ("defaults:\n  ca_identifier: [letsencrypt.org]\ntargets:\n  - host: shop.example.com\n"
            "    dns_validation: abc\n    chekcs: [dns]\n  - host: b.example.com\n    file_validation: {tokn: x}\n")
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "c.yaml")
    errors = caught.value.errors
    assert errors == [
        "c.yaml:2: defaults.ca_identifier: unknown key (not allowed here); did you mean `ca_identifiers`?",
        "c.yaml:5: targets.0.dns_validation: expected a mapping with `value` and optionally `record`, got a string",
        "c.yaml:6: targets.0.chekcs: unknown key (not allowed here); did you mean `checks`?",
        "c.yaml:8: targets.1.file_validation.token: required key is missing",
        "c.yaml:8: targets.1.file_validation.tokn: unknown key (not allowed here); did you mean `token`?",
    ]
    assert not any("DnsValidationConfig" in e or "instance of" in e for e in errors)


def test_far_misses_get_no_suggestion() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("targets:\n  - host: a.example.com\n    colour: blue\n", "c.yaml")
    assert caught.value.errors == ["c.yaml:3: targets.0.colour: unknown key (not allowed here)"]


def test_targets_with_the_same_check_settings_share_them() -> None:
    """A large fleet must not hold a few KB of identical settings objects per target."""
    from exporter.config import parse_config

    config = parse_config("targets:\n  - host: a.example\n  - host: b.example\n"
                          "  - host: c.example\n    expected_addresses: [192.0.2.1]\n")
    a, b, c = config.resolved_targets()
    assert a.settings is b.settings
    assert c.settings is not a.settings and dict(c.settings)["dns"].expected_addresses == ("192.0.2.1",)
