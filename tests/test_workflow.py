"""The workflows: the pull-request workflow's matrix comes from stacks/ at run time, it is safe
for forks and never holds the deploy token; the deploy workflow is chosen by a repository
variable and keeps its secrets in a protected environment; every action is at its current
major, no step hides a failing command, and all pass a real workflow linter (zizmor)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from aisb_tools.cli import PREVIEW_ROLE_KEY, app
from tests.harness import ROOT, copy_project, stack_config, stack_files, stack_name

WORKFLOW = ROOT / ".github" / "workflows" / "pull-request.yml"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))

# The current release line of each action, checked against its releases (README, "Pull
# requests"): every one runs on Node 24, GitHub having removed Node 20 from its runners.
CURRENT = {
    "actions/checkout": "v7",  # v7.0.0, June 2026
    "actions/download-artifact": "v8",  # v8.0.1, March 2026 (node24)
    "actions/github-script": "v9",  # v9.0.0, April 2026
    "actions/upload-artifact": "v7",  # v7.0.0, February 2026 (node24)
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
    uses = [s["uses"] for job in jobs.values() for s in job.get("steps", []) if "uses" in s]
    assert uses
    for use in uses:
        action, _, ref = use.partition("@")
        assert CURRENT.get(action) == ref, use


def test_credentials_are_only_asked_for_where_they_exist() -> None:
    jobs = _workflow()["jobs"]
    for name in ("plan", "comment", "test"):
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
    env = preview["steps"][0]["env"]
    assert env["ROLE"] == "${{ matrix.role || vars.AISB_PREVIEW_ROLE_ARN }}"
    assert env["HAS_TOKEN"] == "${{ secrets.PULUMI_PREVIEW_TOKEN != '' }}"
    stack = next(s for s in preview["steps"] if s.get("id") == "stack")
    assert stack["if"] == "steps.credentials.outputs.ready == 'true'"
    for step in preview["steps"]:
        if step.get("uses"):  # checkout, uv, credentials, preview: only for a stack that exists
            assert step["if"] == "steps.stack.outputs.exists == 'true'", step
    pulumi = steps["pulumi/actions"]
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["env"] == {"PULUMI_ACCESS_TOKEN": "${{ secrets.PULUMI_PREVIEW_TOKEN }}"}


def test_previews_qualify_the_stack_with_the_organisation() -> None:
    """An unqualified name resolves in the token's default organisation."""
    from aisb_tools.stackfile import project_file

    preview = _workflow()["jobs"]["preview"]
    credentials = preview["steps"][0]
    assert credentials["env"]["ORG"] == "${{ vars.AISB_PULUMI_ORG }}"
    project = project_file(ROOT)["name"]
    assert f'echo "stack=$ORG/{project}/$STACK" >> "$GITHUB_OUTPUT"' in credentials["run"]
    pulumi = next(s for s in preview["steps"] if s.get("uses", "").startswith("pulumi/actions"))
    assert pulumi["with"]["stack-name"] == "${{ steps.credentials.outputs.stack }}"


def _run_step(script: str, env: dict[str, str], tmp_path: Path) -> tuple[int, str, str]:
    """Run a workflow step's script as GitHub's default shell does (`bash -e -o pipefail`),
    with the fake commands in ``tmp_path/bin`` first on PATH; returns its exit code, what it
    wrote to $GITHUB_OUTPUT, and its standard output with the job summary."""
    output = tmp_path / "github-output"
    output.write_text("")
    summary = tmp_path / "github-summary"
    summary.write_text("")
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        env={
            "PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin",
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(summary),
            **env,
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return result.returncode, output.read_text(), result.stdout + summary.read_text()


def _fake(tmp_path: Path, name: str, body: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(0o755)


def _preview_stack_step() -> str:
    preview = _workflow()["jobs"]["preview"]
    script: str = next(s for s in preview["steps"] if s.get("id") == "stack")["run"]
    return script


@pytest.mark.parametrize(
    ("status", "code", "exists"), [("200", 0, "true"), ("404", 0, "false"), ("500", 1, None)]
)
def test_a_stack_pulumi_cloud_does_not_have_yet_shows_as_new(
    tmp_path: Path, status: str, code: int, exists: str | None
) -> None:
    """A pull request that adds a stack file previews it as new; any other answer than found
    or not found fails the job instead of passing for a preview that never ran."""
    _fake(tmp_path, "curl", f'printf "%s" "{status}"\n')
    env = {"STACK": "acme/aisb/dev-ap-south-1", "PULUMI_ACCESS_TOKEN": "t"}
    returned, output, shown = _run_step(_preview_stack_step(), env, tmp_path)
    assert returned == code
    if exists is None:
        assert "exists=" not in output
    else:
        assert f"exists={exists}\n" in output
    if exists == "false":
        assert "acme/aisb/dev-ap-south-1`: new stack" in shown


def test_the_pull_request_workflow_never_holds_the_deploy_token() -> None:
    text = WORKFLOW.read_text()
    assert "secrets.PULUMI_ACCESS_TOKEN" not in text
    assert "environment:" not in text
    assert "secrets.PULUMI_PREVIEW_TOKEN" in text


def test_the_deploy_token_is_only_in_jobs_of_the_protected_environment() -> None:
    """Repository secrets reach any branch's workflow; the `aisb-deploy` environment admits
    only the default branch, after a reviewer approves (README, "Pull requests"). A job that
    calls a reusable workflow cannot name an environment, so it passes the secret by name and
    every called job that uses it must be in the environment (GitHub, "Reusing workflows")."""
    used = []
    for path in WORKFLOWS:
        for name, job in yaml.safe_load(path.read_text())["jobs"].items():
            if "secrets.PULUMI_ACCESS_TOKEN" not in yaml.safe_dump(job):
                continue
            used.append(f"{path.name}:{name}")
            if "uses" not in job:
                assert job.get("environment") == "aisb-deploy", (path.name, name)
                continue
            called = yaml.safe_load((ROOT / job["uses"]).read_text())
            triggers = called.get("on") or called[True]
            assert triggers["workflow_call"]["secrets"]["PULUMI_ACCESS_TOKEN"]["required"] is True
            for inner, step_job in called["jobs"].items():
                if "secrets.PULUMI_ACCESS_TOKEN" in yaml.safe_dump(step_job):
                    assert step_job.get("environment") == "aisb-deploy", inner
    assert used == ["deploy-shard.yml:deploy", "deploy.yml:deploy"]


def test_an_environment_without_the_deploy_token_stops_the_deploy(tmp_path: Path) -> None:
    """A secret the environment lacks resolves to "" without an error: the job says so."""
    shard = yaml.safe_load((ROOT / ".github/workflows/deploy-shard.yml").read_text())
    step = shard["jobs"]["deploy"]["steps"][0]
    assert step["name"] == "Deploy token"
    code, _, shown = _run_step(step["run"], {"PULUMI_ACCESS_TOKEN": ""}, tmp_path)
    assert code == 1 and "no PULUMI_ACCESS_TOKEN" in shown
    assert _run_step(step["run"], {"PULUMI_ACCESS_TOKEN": "pul-x"}, tmp_path)[0] == 0


def _output_writes(path: Path) -> list[str]:
    lines = []
    for job in yaml.safe_load(path.read_text())["jobs"].values():
        for step in job.get("steps", []):
            lines += [x for x in step.get("run", "").splitlines() if "GITHUB_OUTPUT" in x]
    return lines


def _hides_failures(line: str) -> bool:
    """`echo "x=$(cmd)" >> $GITHUB_OUTPUT`: bash -e ignores cmd's failure inside an argument."""
    return bool(re.search(r"\becho\b.*(\$\(|`)", line))


WRITING_OUTPUTS = [p for p in WORKFLOWS if _output_writes(p)]


def test_the_workflows_that_pass_values_between_steps_are_checked() -> None:
    assert {p.name for p in WRITING_OUTPUTS} >= {
        "pull-request.yml",
        "deploy.yml",
        "deploy-shard.yml",
    }


@pytest.mark.parametrize("path", WRITING_OUTPUTS, ids=lambda p: p.name)
def test_no_step_hides_a_failing_command_in_its_outputs(path: Path) -> None:
    writes = _output_writes(path)
    assert writes
    assert [x for x in writes if _hides_failures(x)] == []
    old = 'echo "stacks=$(uv run --locked aisb stacks --json)" >> "$GITHUB_OUTPUT"'
    assert _hides_failures(old)
    assert not _hides_failures('echo "stacks=$stacks" >> "$GITHUB_OUTPUT"')


def test_a_failing_command_fails_the_step(tmp_path: Path) -> None:
    """What the rule buys: assigned first, the command's failure stops the step."""
    _fake(tmp_path, "uv", "exit 7\n")
    plan = _workflow()["jobs"]["plan"]
    script = next(s for s in plan["steps"] if s.get("id") == "stacks")["run"]
    code, output, _ = _run_step(script, {}, tmp_path)
    assert code == 7 and output == ""
    hidden = 'echo "stacks=$(uv run --locked aisb stacks --json)" >> "$GITHUB_OUTPUT"'
    assert _run_step(hidden, {}, tmp_path)[0] == 0  # the old form passed


def _deploy_targets_step() -> str:
    deploy = yaml.safe_load((ROOT / ".github/workflows/deploy.yml").read_text())
    steps = deploy["jobs"]["targets"]["steps"]
    script: str = next(s for s in steps if s.get("id") == "targets")["run"]
    return script


@pytest.mark.parametrize(
    ("path", "fleet_file", "code", "shards"),
    [
        ("workflow", True, 0, '[{"shard":1,"shards":1}]'),
        ("deployments", True, 0, "[]"),
        ("", True, 1, None),
        ("Workflow", True, 1, None),
        ("", False, 0, "[]"),
    ],
)
def test_a_repository_variable_chooses_the_deploy_path(
    tmp_path: Path, path: str, fleet_file: bool, code: int, shards: str | None
) -> None:
    """`workflow`: this workflow deploys; `deployments`: Pulumi Deployments does and this one
    stays out of its way; unset with an inventory: fail, saying what to set."""
    calls = tmp_path / "calls"
    calls.write_text("")
    _fake(
        tmp_path,
        "uv",
        f'echo "$*" >> {calls}\n'
        'if [[ "$*" == *"fleet shards"* ]]; then echo \'[{"shard":1,"shards":1}]\'; fi\n',
    )
    if fleet_file:
        (tmp_path / "fleet.yaml").write_text("organization: acme\n")
    returned, output, shown = _run_step(_deploy_targets_step(), {"DEPLOY_PATH": path}, tmp_path)
    assert returned == code, shown
    if shards is None:
        assert "shards=" not in output
        assert "AISB_DEPLOY_PATH" in shown
    else:
        assert output == f"shards={shards}\n"
    if path == "deployments":
        assert "fleet render --check" in calls.read_text()  # the stack files are still checked
        assert "fleet shards" not in calls.read_text()


def test_a_failing_inventory_fails_the_deploy_targets(tmp_path: Path) -> None:
    _fake(tmp_path, "uv", 'if [[ "$*" == *"fleet shards"* ]]; then exit 2; fi\n')
    (tmp_path / "fleet.yaml").write_text("organization: acme\n")
    code, output, _ = _run_step(_deploy_targets_step(), {"DEPLOY_PATH": "workflow"}, tmp_path)
    assert code == 2 and output == ""


CODEOWNED = (
    ".github/",
    "__main__.py",
    "aisb/",
    # The command, the deploy role's generator and the plan comment's renderer (run by the
    # workflows with their tokens), and what runs on devices.
    "aisb_tools/",
    "device/",
    "fleet/",
    "policy/",
    "provider/",
    "deploy-role/",
)


def test_code_owners_review_what_deploys() -> None:
    rules = {}
    for line in (ROOT / ".github" / "CODEOWNERS").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            pattern, *owners = line.split()
            rules[pattern.lstrip("/")] = owners
    for path in CODEOWNED:
        assert rules.get(path), path
        assert (ROOT / path).exists(), path


def test_the_plan_needs_no_credentials_and_reaches_forks_through_the_summary() -> None:
    jobs = _workflow()["jobs"]
    plan, comment = jobs["plan"], jobs["comment"]
    # The pull request's own code renders its plans with nothing it could misuse.
    assert plan["permissions"] == {"contents": "read"}
    runs = "\n".join(s.get("run", "") for s in plan["steps"])
    assert 'aisb plan --out "$RUNNER_TEMP/plan-head"' in runs
    upload = next(s for s in plan["steps"] if s.get("uses", "").startswith("actions/upload"))
    assert upload["with"]["name"] == "plan-head"
    # The comment is written by the base commit's code only.
    assert comment["needs"] == "plan"
    assert comment["permissions"] == {"contents": "read", "pull-requests": "write"}
    checkouts = [s for s in comment["steps"] if s.get("uses", "").startswith("actions/checkout")]
    assert [c["with"]["ref"] for c in checkouts] == ["${{ github.event.pull_request.base.sha }}"]
    assert all("working-directory" not in s for s in comment["steps"])
    runs = "\n".join(s.get("run", "") for s in comment["steps"])
    assert 'aisb plan --out "$RUNNER_TEMP/plan-base"' in runs
    assert "aisb plan --compare" in runs and '>> "$GITHUB_STEP_SUMMARY"' in runs
    assert '--produced-by "$produced"' in runs and "$BASE_SHA" in runs
    step = next(s for s in comment["steps"] if s.get("name") == "Comment")
    assert "head.repo.full_name == github.repository" in step["if"]
    assert "startsWith(marker)" in step["with"]["script"]  # one comment, updated in place
    assert "updateComment" in step["with"]["script"]
    for job in (plan, comment):
        for c in job["steps"]:
            if c.get("uses", "").startswith("actions/checkout"):
                assert c["with"]["persist-credentials"] is False


def test_the_comment_names_the_code_that_produced_it(tmp_path: Path) -> None:
    from aisb_tools.plan import MARKER

    base, head = tmp_path / "base", tmp_path / "head"
    base.mkdir()
    head.mkdir()
    produced = "Compared by the aisb code of the base commit 0123abcd; head 4567ef rendered"
    args = ["plan", "--compare", str(base), str(head)]
    result = CliRunner().invoke(app, [*args, "--produced-by", produced + " [x](http://e) *y*"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == MARKER  # the workflow still finds the comment by its first line
    assert lines[1] == f"_{produced} x(http://e) y_"  # plain text only: no link, no emphasis
    plain = CliRunner().invoke(app, args).stdout
    assert plain.splitlines()[0] == MARKER and "0123abcd" not in plain


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
