"""The import contract: dependencies point one way, checks never import each other, the product never
imports the fault lab. Read from the source with `ast`, so it holds for code paths no test runs."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "exporter"

# Lowest first; a module may import its own layer and the ones below it, never one above.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("exporter.catalog", "exporter.models", "exporter.errors", "exporter.config_types", "exporter.target",
     "exporter.logs", "exporter.aio", "exporter"),
    ("exporter.net", "exporter.pki"),
    ("exporter.certfiles",),
    ("exporter.checks",),
    ("exporter.config", "exporter.config_messages"),
    ("exporter.engine", "exporter.report", "exporter.views", "exporter.docs"),
    ("exporter.discovery",),  # targets from files and URLs, and the shard hash; the daemon applies them
    ("exporter.daemon",),
    ("exporter.http",),
    ("exporter.cli", "exporter.__main__"),
)


def layer_of(module: str) -> int:
    best, best_len = -1, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    assert best >= 0, f"{module} is in no layer: add it to LAYERS"
    return best


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def runtime_imports(path: Path) -> set[str]:
    """Modules imported at run time (imports under `if TYPE_CHECKING:` only name types, and are skipped)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {id(n) for block in ast.walk(tree) if _type_checking_block(block) for n in ast.walk(block)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}  # `from exporter.checks import tls`
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _is_module(name: str) -> bool:
    parts = name.split(".")
    return (ROOT.joinpath(*parts).with_suffix(".py").exists()
            or (ROOT.joinpath(*parts) / "__init__.py").exists())


@pytest.mark.parametrize("path", _modules(), ids=lambda p: module_name(p))
def test_imports_point_down(path: Path) -> None:
    me = module_name(path)
    mine = layer_of(me)
    upward = sorted(m for m in runtime_imports(path)
                    if m.startswith("exporter") and _is_module(m) and layer_of(m) > mine)
    assert not upward, f"{me} (layer {mine}) imports higher layers: {upward}"


def _check_modules() -> list[Path]:
    return sorted(p for p in (PACKAGE / "checks").glob("*.py")
                  if not p.name.startswith("_") and p.name != "base.py")


@pytest.mark.parametrize("path", _check_modules(), ids=lambda p: p.stem)
def test_checks_do_not_import_each_other(path: Path) -> None:
    checks = {f"exporter.checks.{p.stem}" for p in _check_modules()}
    imported = runtime_imports(path) & (checks - {module_name(path)})
    assert not imported, f"{path.stem} imports other checks: {sorted(imported)} (share code through net/ or pki/)"


def test_the_product_never_imports_the_lab() -> None:
    offenders = {module_name(p) for p in _modules()
                 if any(m == "sslfault_lab" or m.startswith("sslfault_lab.") for m in runtime_imports(p))}
    assert not offenders, f"the fault lab must stay out of the product: {sorted(offenders)}"


def test_every_check_module_declares_a_plugin_in_the_registry() -> None:
    from exporter.checks import PLUGINS

    modules = {p.stem for p in _check_modules()}
    assert modules == set(PLUGINS), "each check module is registered once, and only check modules are"
