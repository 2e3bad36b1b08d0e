"""The library (aisb) apart from the tooling around it (aisb_tools): no module of the library
imports the tooling or the tooling's dependencies, so a consumer installs and loads only what
the components need. The Lambda source under aisb/functions imports only what Lambda's Python
runtime has (the standard library and boto3)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from tests.harness import ROOT

TOOLING = {
    "aisb_tools",
    "rich",
    "click",
    "yaml",
    "boto3",
    "botocore",
    "pulumi_pulumiservice",
}
LAMBDA = {"boto3", "botocore"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


LIBRARY = sorted(p for p in (ROOT / "aisb").rglob("*.py") if "functions" not in p.parts)
FUNCTIONS = sorted((ROOT / "aisb" / "functions").rglob("*.py"))


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_library_never_imports_the_tooling(path: Path) -> None:
    assert not _imports(path) & TOOLING, path


@pytest.mark.parametrize("path", FUNCTIONS, ids=lambda p: str(p.relative_to(ROOT)))
def test_lambda_code_imports_only_what_the_runtime_has(path: Path) -> None:
    # A function's own modules sit beside its handler in the deployment package.
    siblings = {p.stem for p in path.parent.glob("*.py")}
    outside = _imports(path) - LAMBDA - set(sys.stdlib_module_names) - {"aisb"} - siblings
    assert not outside, (path, outside)


def test_the_tooling_lives_apart() -> None:
    assert sorted(p.name for p in (ROOT / "aisb_tools").iterdir() if p.suffix == ".py") == [
        "__init__.py",
        "deploy_role.py",
        "docs.py",
        "fleet.py",
        "plan.py",
        "release.py",
        "stackfile.py",
    ]
    for moved in ("cli", "plan.py", "fleet.py", "deploy_role.py", "docs.py", "stackfile.py"):
        assert not (ROOT / "aisb" / moved).exists(), moved


def test_the_checker_sees_an_import_of_the_tooling(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from aisb_tools.cli import app\nimport rich.console\n")
    assert _imports(module) & TOOLING == {"aisb_tools", "rich"}
