"""The suite never imports the reference implementation (spec index.md, DESIGN "Independent").

A bug in ``canaux`` must not be able to hide itself from the suite, so no module of
``canaux_conformance`` may import ``canaux`` or anything under it. ``canaux_schemas`` (the
schema data) is allowed.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import canaux_conformance

PACKAGE = Path(canaux_conformance.__file__).parent


def _imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", None) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            # importlib.import_module("canaux…") with a literal name counts too.
            found.append((node.lineno, str(node.args[0].value)))
    return found


def _is_reference(module: str) -> bool:
    return module == "canaux" or module.startswith("canaux.")


def test_no_module_of_the_suite_imports_canaux() -> None:
    offenders = []
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 10, "the scan must see the whole package"
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, module in _imported_modules(tree):
            if _is_reference(module):
                offenders.append(f"{path.relative_to(PACKAGE)}:{line} imports {module}")
    assert offenders == []


def test_the_scan_recognises_every_form_of_import() -> None:
    """Guard the guard: each way of importing the reference is detected."""
    source = "\n".join(
        [
            "import canaux",
            "import canaux.server as s",
            "from canaux.protocol import frames",
            "import importlib; importlib.import_module('canaux.client')",
            "import canaux_schemas",
            "from canaux_conformance import cases",
        ]
    )
    modules = [m for _, m in _imported_modules(ast.parse(source)) if _is_reference(m)]
    assert modules == ["canaux", "canaux.server", "canaux.protocol", "canaux.client"]


def test_loading_every_suite_leaves_canaux_unimported() -> None:
    code = (
        "import sys, canaux_conformance.cli, canaux_conformance.report;"
        "from canaux_conformance.cases import all_cases;"
        "assert all_cases();"
        "print(sorted(m for m in sys.modules if m == 'canaux' or m.startswith('canaux.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "[]"
