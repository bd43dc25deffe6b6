"""Passwords longer than bcrypt's 72 bytes: answered like htpasswd and Go's exporter-toolkit, never a 500."""

from __future__ import annotations

import base64

import bcrypt

from exporter.http.webconfig import BasicAuth


def _header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_long_passwords_are_cut_at_72_bytes_not_a_crash() -> None:
    password = "p" * 80
    # htpasswd -B and Go's bcrypt hash what fits: the first 72 bytes.
    auth = BasicAuth({"prometheus": bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(4)).decode()})
    assert auth.check(_header("prometheus", password)) is True
    assert auth.check(_header("prometheus", "q" * 100)) is False  # wrong and long: 401, no exception
