"""Exceptions a check raises when it cannot reach a verdict; the runner maps each to an error kind."""

from __future__ import annotations

from exporter.models import ErrorKind


class DependencyError(Exception):
    """An earlier step gave this check nothing to judge (e.g. the name did not resolve)."""


class UnsupportedProbe(Exception):
    """This machine cannot run the probe (e.g. its OpenSSL cannot offer TLS 1.0)."""


class InvalidResponse(Exception):
    """The peer answered, but with something unusable (a forged OCSP response, a non-CRL)."""


class CannotJudge(Exception):
    """The check could not read everything it must (a cap, a loop, an unread resource): no verdict.

    Raised instead of reporting "no fault"; `kind` is the error kind the runner records."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
