"""Read the repository's Dockerfile the way `docker build` does, for tests that run its steps without Docker."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_VAR = re.compile(r"\$\{(\w+)\}|\$(\w+)")


@dataclass
class Stage:
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)  # (KEYWORD, arguments)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def one(self, keyword: str) -> str:
        found = self.all(keyword)
        assert len(found) == 1, f"expected one {keyword} in stage {self.name!r}, found {len(found)}"
        return found[0]

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """The stage's ENV in order, each value expanded with the ones before (as Docker does)."""
        env = dict(base or {})
        for args in self.all("ENV"):
            for pair in shlex.split(args):
                name, _, value = pair.partition("=")
                env[name] = _VAR.sub(lambda m: env.get(m[1] or m[2], ""), value)
        return env

    def exec_form(self, keyword: str) -> list[str]:
        """CMD/ENTRYPOINT (or HEALTHCHECK's CMD) in exec form: the JSON array."""
        args = self.one(keyword)
        if keyword == "HEALTHCHECK":
            args = args[args.index("CMD ") + 4:]
        value = json.loads(args)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), f"{keyword} must be exec form"
        return value


def stages(path: Path = ROOT / "Dockerfile") -> list[Stage]:
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))  # join continuation lines
    out: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), re.sub(r"\s+", " ", args).strip()
        if keyword == "FROM":
            name = args.split(" AS ")[1] if " AS " in args else f"stage{len(out)}"
            out.append(Stage(name))
        else:
            out[-1].instructions.append((keyword, args))
    return out


def stage(name: str) -> Stage:
    return next(s for s in stages() if s.name == name)


def final() -> Stage:
    return stages()[-1]
