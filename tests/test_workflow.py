"""The pull-request workflow previews exactly the stacks in stacks/."""

import yaml

from tests.harness import ROOT, stack_files, stack_name


def _workflow() -> dict:
    return yaml.safe_load((ROOT / ".github" / "workflows" / "pull-request.yml").read_text())


def test_preview_matrix_lists_exactly_the_stack_files() -> None:
    matrix = _workflow()["jobs"]["preview"]["strategy"]["matrix"]["stack"]
    assert sorted(matrix) == sorted(stack_name(p) for p in stack_files())
    assert len(matrix) == len(set(matrix))


def test_preview_step_comments_on_the_pr_with_oidc_credentials() -> None:
    job = _workflow()["jobs"]["preview"]
    assert job["needs"] == "test"
    assert job["permissions"]["id-token"] == "write"
    steps = {s.get("uses", "").split("@")[0]: s for s in job["steps"]}
    preview = steps["pulumi/actions"]["with"]
    assert preview["command"] == "preview"
    assert preview["comment-on-pr"] is True
    assert preview["stack-name"] == "${{ matrix.stack }}"
    creds = steps["aws-actions/configure-aws-credentials"]["with"]
    assert "role-to-assume" in creds and "aws-access-key-id" not in creds


def test_pull_requests_run_the_ci_script() -> None:
    workflow = _workflow()
    triggers = workflow.get("on") or workflow.get(True)  # YAML 1.1 reads a bare `on` as true
    assert triggers is not None and "pull_request" in triggers
    runs = [s.get("run", "") for s in workflow["jobs"]["test"]["steps"]]
    assert "bash .ci/run" in runs
