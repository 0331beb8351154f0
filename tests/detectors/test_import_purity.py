"""``detectors/`` stays pure: no broker, stream-processing, chat or service-package imports."""

from __future__ import annotations

import ast
from pathlib import Path

import detectors

FORBIDDEN_TOP_LEVEL = {"kafka", "faust", "aiokafka", "slack_sdk", "stream", "alerts", "tokenradar"}
PACKAGE_DIR = Path(detectors.__file__).parent


def _imported_top_level_names(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", None) == "__import__"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            names.add(str(node.args[0].value).split(".")[0])
    return names


def test_detector_modules_import_nothing_forbidden() -> None:
    sources = sorted(PACKAGE_DIR.rglob("*.py"))
    assert sources, "no detector modules found"
    offenders = {}
    for path in sources:
        names = _imported_top_level_names(ast.parse(path.read_text(), filename=str(path)))
        if bad := names & FORBIDDEN_TOP_LEVEL:
            offenders[str(path.relative_to(PACKAGE_DIR))] = sorted(bad)
    assert offenders == {}


def test_checker_sees_forbidden_imports() -> None:
    tree = ast.parse("import faust\nfrom alerts.model import Alert\nfrom . import base\n")
    assert _imported_top_level_names(tree) == {"faust", "alerts"}
