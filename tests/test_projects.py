"""The side projects beside the program: the policy pack's version, every project's lock
checked by CI, and the Pulumi CLI the uv toolchain of a policy pack needs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib

import pytest
import yaml

from tests.harness import ROOT

PROJECTS = (".", "examples/consumer", "fleet", "policy", "provider")
"""Every folder with its own pyproject.toml and uv.lock (fleet/ uses the root's)."""


def test_the_policy_pack_publishes_the_version_of_its_pyproject() -> None:
    """Without `version` every publish is 0.0.1 and Pulumi Cloud refuses the second
    (PulumiPolicy.yaml reference: https://www.pulumi.com/docs/discovery-governance/reference/policy-project-file/)."""
    pack = yaml.safe_load((ROOT / "policy" / "PulumiPolicy.yaml").read_text())
    project = tomllib.loads((ROOT / "policy" / "pyproject.toml").read_text())["project"]
    assert pack["version"] == project["version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", str(pack["version"]))


def test_every_project_with_a_lock_is_checked_by_ci() -> None:
    found = sorted(
        str(p.parent.relative_to(ROOT))
        for p in [*ROOT.glob("*/uv.lock"), *ROOT.glob("examples/*/uv.lock")]
    )
    assert [".", *found] == list(PROJECTS)
    script = (ROOT / ".ci" / "run").read_text()
    loop = re.search(
        r"for project in ([^;]+); do\n\s+\(cd \"\$project\" && uv lock --check\)", script
    )
    assert loop is not None, "`.ci/run` must run `uv lock --check` in every project"
    assert tuple(loop[1].split()) == PROJECTS
    assert script.index("uv lock --check") < script.index("uv sync --locked")
    assert "\nuv run --group dev pytest\n" in script  # the README's test command


@pytest.mark.parametrize("folder", PROJECTS)
def test_each_lock_is_current(folder: str) -> None:
    """`uv lock --check`, offline (it reads only the pyproject files and the lock): a stale
    lock is rewritten by the `uv sync` Pulumi's uv toolchain runs in the user's checkout."""
    uv = os.environ.get("UV") or shutil.which("uv")  # `uv run` names itself in $UV
    assert uv, "uv is not on PATH: run the tests with `uv run pytest`"
    result = subprocess.run(
        [uv, "lock", "--check", "--offline"],
        cwd=ROOT / folder,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
    )
    assert result.returncode == 0, result.stderr


def test_the_program_asks_for_the_cli_that_runs_a_uv_policy_pack() -> None:
    pack = yaml.safe_load((ROOT / "policy" / "PulumiPolicy.yaml").read_text())
    assert pack["runtime"]["options"]["toolchain"] == "uv"
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["requiredPulumiVersion"] == ">=3.221.0"
