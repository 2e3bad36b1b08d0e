"""The pull-request workflow: its matrix comes from stacks/ at run time, it is safe for forks,
uses each action's current major, and passes a real workflow linter (zizmor)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from aisb.cli import PREVIEW_ROLE_KEY, app
from tests.harness import ROOT, copy_project, stack_config, stack_files, stack_name

WORKFLOW = ROOT / ".github" / "workflows" / "pull-request.yml"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))

# The current release line of each action, checked against its releases (README, "Pull
# requests"): every one runs on Node 24, GitHub having removed Node 20 from its runners.
CURRENT = {
    "actions/checkout": "v7",  # v7.0.0, June 2026
    "actions/github-script": "v9",  # v9.0.0, April 2026
    "astral-sh/setup-uv": "v8.3.2",  # no major tags since v8.0.0: exact, immutable releases
    "aws-actions/configure-aws-credentials": "v6",  # v6.0.0, February 2026
    "pulumi/actions": "v7",  # v7.0.0, May 2026: the Node 24 release
}


def _workflow() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    return loaded


def _steps(job: str) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = _workflow()["jobs"][job]["steps"]
    return steps


def test_the_workflow_names_no_stack_and_takes_its_matrix_from_stacks_at_run_time() -> None:
    text = WORKFLOW.read_text()
    for path in stack_files():
        assert stack_name(path) not in text
    preview = _workflow()["jobs"]["preview"]
    assert preview["strategy"]["matrix"] == {
        "include": "${{ fromJSON(needs.plan.outputs.stacks) }}"
    }
    plan = _workflow()["jobs"]["plan"]
    assert plan["outputs"]["stacks"] == "${{ steps.stacks.outputs.stacks }}"
    listing = next(s for s in plan["steps"] if s.get("id") == "stacks")
    assert "aisb stacks --json" in listing["run"]


def test_aisb_stacks_lists_every_stack_file_with_region_and_role(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["stacks", "--json", "--project", str(ROOT)])
    assert result.exit_code == 0
    listed = json.loads(result.stdout)
    assert [e["stack"] for e in listed] == [stack_name(p) for p in stack_files()]
    for entry, path in zip(listed, stack_files(), strict=True):
        assert entry["region"] == stack_config(path)["aws:region"]
        assert entry["role"] == ""

    # A new stack file joins the matrix with its own role, no workflow edit.
    root = copy_project(tmp_path)
    role = "arn:aws:iam::210987654321:role/aisb-preview"
    source = (root / "stacks" / "Pulumi.dev-us-west-2.yaml").read_text()
    (root / "stacks" / "Pulumi.dev-ap-southeast-2.yaml").write_text(
        source.replace("us-west-2", "ap-southeast-2") + f"  {PREVIEW_ROLE_KEY}: {role}\n"
    )
    listed = json.loads(
        CliRunner().invoke(app, ["stacks", "--json", "--project", str(root)]).stdout
    )
    assert {"stack": "dev-ap-southeast-2", "region": "ap-southeast-2", "role": role} in listed


def test_a_preview_role_that_is_not_a_role_arn_is_refused_naming_file_and_key(
    tmp_path: Path,
) -> None:
    root = copy_project(tmp_path)
    path = root / "stacks" / "Pulumi.dev-us-west-2.yaml"
    path.write_text(path.read_text() + f"  {PREVIEW_ROLE_KEY}: aisb-preview\n")
    result = CliRunner().invoke(app, ["stacks", "--json", "--project", str(root)])
    assert result.exit_code == 2
    assert "Pulumi.dev-us-west-2.yaml" in result.output and PREVIEW_ROLE_KEY in result.output


def test_the_preview_role_key_is_not_an_aisb_setting() -> None:
    """The program ignores it: a stack file may carry it without failing settings."""
    from aisb.settings import parse
    from tests.harness import MINIMAL_CONFIG

    parse({**MINIMAL_CONFIG, PREVIEW_ROLE_KEY: "arn:aws:iam::210987654321:role/x"})


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_at_its_current_release(path: Path) -> None:
    jobs = yaml.safe_load(path.read_text())["jobs"]
    uses = [s["uses"] for job in jobs.values() for s in job["steps"] if "uses" in s]
    assert uses
    for use in uses:
        action, _, ref = use.partition("@")
        assert CURRENT.get(action) == ref, use


def test_credentials_are_only_asked_for_where_they_exist() -> None:
    jobs = _workflow()["jobs"]
    for name in ("plan", "test"):
        assert "id-token" not in jobs[name].get("permissions", {}), name
    preview = jobs["preview"]
    assert "head.repo.full_name == github.repository" in preview["if"]
    assert "dependabot[bot]" in preview["if"]
    assert preview["permissions"]["id-token"] == "write"
    steps = {s.get("uses", "").split("@")[0]: s for s in preview["steps"]}
    creds = steps["aws-actions/configure-aws-credentials"]
    assert creds["with"]["role-to-assume"] == "${{ steps.credentials.outputs.role }}"
    assert creds["with"]["aws-region"] == "${{ matrix.region }}"
    assert "aws-access-key-id" not in creds["with"]
    role = preview["steps"][0]["env"]["ROLE"]
    assert role == "${{ matrix.role || vars.AISB_PREVIEW_ROLE_ARN }}"
    for step in preview["steps"][1:]:
        assert step["if"] == "steps.credentials.outputs.ready == 'true'", step
    pulumi = steps["pulumi/actions"]["with"]
    assert pulumi["command"] == "preview" and pulumi["stack-name"] == "${{ matrix.stack }}"


def test_the_plan_needs_no_credentials_and_reaches_forks_through_the_summary() -> None:
    plan = _workflow()["jobs"]["plan"]
    runs = "\n".join(s.get("run", "") for s in plan["steps"])
    assert 'aisb plan --out "$RUNNER_TEMP/plan-base"' in runs
    assert 'aisb plan --out "$RUNNER_TEMP/plan-head"' in runs
    assert "aisb plan --compare" in runs and '>> "$GITHUB_STEP_SUMMARY"' in runs
    comment = next(s for s in plan["steps"] if s.get("name") == "Comment")
    assert "head.repo.full_name == github.repository" in comment["if"]
    assert "startsWith(marker)" in comment["with"]["script"]  # one comment, updated in place
    assert "updateComment" in comment["with"]["script"]
    checkouts = [s for s in plan["steps"] if s.get("uses", "").startswith("actions/checkout")]
    assert {c["with"]["path"] for c in checkouts} == {"base", "head"}
    assert all(c["with"]["persist-credentials"] is False for c in checkouts)


def test_pull_requests_run_the_ci_script() -> None:
    workflow: dict[Any, Any] = _workflow()
    triggers = workflow.get("on") or workflow.get(True)  # YAML 1.1 reads a bare `on` as true
    assert triggers is not None and "pull_request" in triggers
    assert "pull_request_target" not in triggers  # never run a fork's code with write access
    runs = [s.get("run", "") for s in workflow["jobs"]["test"]["steps"]]
    assert "bash .ci/run" in runs


def _zizmor(*args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "zizmor"
    return subprocess.run(
        [
            str(exe),
            "--offline",
            "--no-progress",
            "--config",
            str(ROOT / ".github" / "zizmor.yml"),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_the_workflows_pass_the_linter(path: Path) -> None:
    assert {p.name for p in WORKFLOWS} >= {"pull-request.yml", "deploy.yml"}
    result = _zizmor(str(path))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("old", "new", "finding"),
    [
        (
            "      - uses: actions/checkout@v7\n        with:\n"
            "          persist-credentials: false\n      - name: Tests",
            "      - uses: actions/checkout@v7\n      - name: Tests",
            "artipacked",
        ),
        ("  pull_request:\n", "  pull_request_target:\n", "dangerous-triggers"),
        (
            'echo "::notice::$STACK:',
            'echo "::notice::${{ github.event.pull_request.title }}:',
            "template-injection",
        ),
    ],
)
def test_the_linter_would_catch_a_regression(
    tmp_path: Path, old: str, new: str, finding: str
) -> None:
    text = WORKFLOW.read_text()
    assert old in text
    bad = tmp_path / "pull-request.yml"
    bad.write_text(text.replace(old, new, 1))
    result = _zizmor(str(bad))
    assert result.returncode != 0
    assert re.search(rf"\[{finding}\]", result.stdout + result.stderr)
