"""Certificate-file linter (issue 5, catalog section S5): `sslfault lint-cert` and watched files.

Public API: ``lint_files(paths, ...) -> LintResult``. The CLI glue is in ``cli``
(``add_parser``, ``run``, ``main``), the --fix writer in ``fix``.
"""

from exporter.certfiles.lint import Analysis, LintResult, analyse, lint_files

__all__ = ["Analysis", "LintResult", "analyse", "lint_files"]
