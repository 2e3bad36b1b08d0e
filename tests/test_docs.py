"""The documentation: the README and the pages of docs/ name only commands that exist, with
options they take, and the recipes they give work as written."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from importlib.util import find_spec
from pathlib import Path

import click
import pytest
import yaml

from aisb_tools.cli import app
from tests.harness import ROOT

PAGES = sorted(
    [
        ROOT / "README.md",
        ROOT / "CONTRIBUTING.md",
        ROOT / "SECURITY.md",
        *(ROOT / "docs").rglob("*.md"),
    ]
)
CI = (ROOT / ".ci" / "run").read_text()
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

PULUMI_COMMANDS = {
    "config",
    "destroy",
    "import",
    "login",
    "package",
    "policy",
    "preview",
    "refresh",
    "stack",
    "state",
    "up",
}
"""The Pulumi CLI's commands the docs use (the tests run no Pulumi CLI)."""


def _shell_lines(text: str) -> list[str]:
    """Each command line of the ```sh blocks: continuations joined, comments dropped."""
    lines: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = re.split(r"\s+#\s", line, maxsplit=1)[0].strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


def _without_uv_options(words: list[str]) -> list[str]:
    """The command ``uv run`` runs: its own options (``--group dev``, ``--extra cli``,
    ``--locked``) left out, after checking they name what pyproject.toml declares."""
    out = list(words)
    while out and out[0].startswith("--"):
        option = out.pop(0)
        if option in ("--group", "--extra"):
            value = out.pop(0)
            declared = PYPROJECT["dependency-groups" if option == "--group" else "project"]
            names = declared if option == "--group" else declared["optional-dependencies"]
            assert value in names, f"uv run {option} {value}: pyproject.toml has no such"
        else:
            assert option in ("--locked", "--frozen"), option
    return out


def _commands(line: str) -> list[list[str]]:
    """The simple commands of one line (split on &&, ; and the parentheses of a subshell)."""
    commands = []
    for part in re.split(r"&&|;|\|\||\(|\)", line):
        try:
            words = shlex.split(part)
        except ValueError:
            words = part.split()
        while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
            words = words[1:]  # VAR=value before a command
        if words[:2] == ["uv", "run"]:
            words = ["uv", "run", *_without_uv_options(words[2:])]
        if words:
            commands.append(words)
    return commands


ALL = [
    (page, words)
    for page in PAGES
    for line in _shell_lines(page.read_text())
    for words in _commands(line)
]


def _aisb(args: list[str]) -> None:
    """Parse ``aisb ARGS`` as the command does, without running it: the (sub)command names
    down to the command, then its options and arguments."""
    command: click.Command = app
    name, rest = "aisb", list(args)
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        with command.make_context(name, [], resilient_parsing=True) as ctx:
            sub = command.get_command(ctx, rest[0])
        assert sub is not None, f"{name} has no command {rest[0]!r}"
        command, name, rest = sub, rest[0], rest[1:]
    with command.make_context(name, rest, resilient_parsing=False):
        pass


def test_the_docs_have_commands_to_check() -> None:
    words = [w for _, w in ALL]
    assert ["uv", "run", "pytest"] in words
    assert any(w[:3] == ["uv", "run", "aisb"] for w in words)
    assert any(w[:2] == ["pulumi", "up"] for w in words)


@pytest.mark.parametrize(
    ("page", "words"),
    [(p, w) for p, w in ALL if w[:3] == ["uv", "run", "aisb"]],
    ids=lambda v: " ".join(v) if isinstance(v, list) else v.name,
)
def test_every_aisb_command_in_the_docs_parses(page: Path, words: list[str]) -> None:
    """Every `uv run aisb ...` of the docs names a command and options the CLI has."""
    try:
        _aisb(words[3:])
    except click.exceptions.Exit:
        assert "--help" in words  # only --help stops the parse early
    except Exception as error:  # the CLI's usage errors (click's UsageError)
        pytest.fail(f"{page.relative_to(ROOT)}: `{' '.join(words)}`: {error}")


@pytest.mark.parametrize(
    ("page", "words"),
    [(p, w) for p, w in ALL if w[:2] in (["uv", "run"],) and w[2] not in ("aisb",)],
    ids=lambda v: " ".join(v) if isinstance(v, list) else v.name,
)
def test_every_other_uv_run_command_names_what_exists(page: Path, words: list[str]) -> None:
    """Modules, scripts and test files that `uv run` commands name exist; the tools are in
    the environment."""
    tool, rest = words[2], words[3:]
    if tool == "python" and rest[:1] == ["-m"]:
        assert find_spec(rest[1]) is not None, f"{page.name}: no module {rest[1]}"
    elif tool == "python":
        assert (ROOT / rest[0]).is_file(), f"{page.name}: no script {rest[0]}"
    elif tool == "pytest":
        for arg in rest:
            if arg.endswith(".py"):
                assert (ROOT / arg).is_file() or (ROOT / "policy" / arg).is_file(), arg
    else:
        assert shutil.which(tool, path=str(Path(sys.executable).parent)), f"no {tool} installed"


def test_the_ci_script_runs_the_docs_build_and_the_tests() -> None:
    assert "\nuv run --group dev mkdocs build --strict\n" in CI
    assert "\nuv run --group dev pytest\n" in CI
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    assert config["strict"] is True and config["theme"]["name"] == "material"
    validation = config["validation"]
    assert validation["links"]["anchors"] == validation["nav"]["omitted_files"] == "warn"


def test_every_pulumi_command_in_the_docs_is_one_the_cli_has() -> None:
    used = {w[1] for _, w in ALL if w[0] == "pulumi" and len(w) > 1}
    assert used <= PULUMI_COMMANDS, used - PULUMI_COMMANDS
    assert {"up", "login", "stack", "import"} <= used


AWS_CLI_OPTIONS = {"query", "output", "region", "profile", "cli-input-json", "no-paginate"}
"""Options of the AWS CLI itself, not of an API operation."""


@pytest.mark.parametrize(
    ("page", "words"),
    [(p, w) for p, w in ALL if w[0] == "aws" and w[1] != "s3"],
    ids=lambda v: " ".join(v[:3]) if isinstance(v, list) else v.name,
)
def test_every_aws_cli_command_in_the_docs_is_an_operation_with_those_parameters(
    page: Path, words: list[str]
) -> None:
    """`aws <service> <operation> --<param>` of the docs, against botocore's service model
    (the AWS CLI is generated from the same models). `aws s3` is the CLI's own command set."""
    import botocore.session

    model = botocore.session.get_session().get_service_model(words[1])
    by_cli_name = {re.sub(r"(?<!^)(?=[A-Z])", "-", op).lower(): op for op in model.operation_names}
    operation = by_cli_name.get(words[2])
    assert operation, f"{page.name}: aws {words[1]} has no operation {words[2]}"
    shape = model.operation_model(operation).input_shape
    members = {m.lower() for m in (shape.members if shape else {})}
    for word in words[3:]:
        if word.startswith("--"):
            option = word[2:].split("=", 1)[0]
            if option in AWS_CLI_OPTIONS:
                continue
            assert option.replace("-", "") in members, (
                f"{page.name}: aws {words[1]} {words[2]} takes no --{option}"
            )


def test_the_getting_started_page_runs_the_steps_in_order() -> None:
    text = (ROOT / "docs" / "getting-started.md").read_text()
    sections = re.split(r"^## \d+\. ", text, flags=re.M)[1:]
    expected = [
        ("Install", "uv sync --extra cli"),
        ("Pulumi backend", "pulumi login"),
        ("stack", "pulumi stack init"),
        ("aisb preflight", "uv run --extra cli aisb preflight --stack"),
        ("pulumi up", "pulumi up --stack"),
        ("subscription", "confirm"),
        ("aisb check", "uv run --extra cli aisb check --stack"),
        ("aisb drill", "uv run --extra cli aisb drill --stack"),
    ]
    assert len(sections) == len(expected)
    for section, (title, command) in zip(sections, expected, strict=True):
        assert title in section.splitlines()[0], (title, section.splitlines()[0])
        assert command in section, (title, command)
    # It starts from the minimal stack file, which the every-stack tests render.
    assert "cp stacks/Pulumi.example.yaml" in text
    assert (ROOT / "stacks" / "Pulumi.example.yaml").is_file()


def test_the_minimal_stack_sets_only_the_required_keys() -> None:
    config = yaml.safe_load((ROOT / "stacks" / "Pulumi.example.yaml").read_text())["config"]
    assert set(config) == {"aws:region", "aws-native:region", "aisb:alertEmails"}
    assert config["aws:region"] == config["aws-native:region"]


def test_the_readme_is_short_and_starts_with_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    first = re.search(r"```sh\n(.*?)```", text, re.S)
    assert first is not None
    assert _shell_lines(first[0])[:2] == ["pulumi up --stack <stack>", "uv run --group dev pytest"]


def _resources(stack: str) -> list[dict[str, object]]:
    resources = yaml.safe_load((ROOT / "plans" / f"{stack}.json").read_text())["resources"]
    return list(resources.values() if isinstance(resources, dict) else resources)


def _count(stack: str, type_token: str, prefix: str = "") -> int:
    return sum(
        1
        for r in _resources(stack)
        if r["type"] == type_token and str(r["name"]).startswith(prefix)
    )


def test_the_cost_page_counts_what_the_reviewed_plans_create() -> None:
    """The resources the cost page prices per stack are those the plans of the stacks hold."""
    text = (ROOT / "docs" / "cost.md").read_text()
    key, alarm = "aws:kms/key:Key", "aws:cloudwatch/metricAlarm:MetricAlarm"
    keys = re.search(r"\| customer-managed KMS keys \| (\d+) ", text)
    alarms = re.search(r"\| CloudWatch alarms \| (\d+): (\d+) fleet anomaly alarms", text)
    assert keys and alarms
    assert int(keys[1]) == _count("example", key)
    assert int(alarms[1]) == _count("example", alarm)
    assert int(alarms[2]) == _count("example", alarm, "aisb-fleet-alarms-")
    for stack in ("prod-us-east-1", "prod-eu-west-1"):
        line = re.search(rf"`{stack}`[^)]*?has (\d+) KMS keys and (\d+) alarms", text, re.S)
        assert line, stack
        assert (int(line[1]), int(line[2])) == (_count(stack, key), _count(stack, alarm)), stack


def _git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=60, check=True
    )
    return done.stdout


def test_the_plan_diff_recipe_works_with_a_new_untracked_stack_and_nothing_to_stash(
    tmp_path: Path,
) -> None:
    """The pull-request page's local recipe, line by line, on a copy of the project whose
    working tree adds a region as an untracked stack file (and has nothing to stash)."""
    page = (ROOT / "docs" / "pull-requests.md").read_text()
    block = re.search(
        r"<!-- plan-diff:start -->\n```sh\n(.*?)```\n<!-- plan-diff:end -->", page, re.S
    )
    assert block, "docs/pull-requests.md lost its plan-diff recipe"
    project = tmp_path / "project"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    project.mkdir()
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(ROOT / name, project / name)
    for package in ("aisb", "aisb_tools"):
        shutil.copytree(ROOT / package, project / package, ignore=ignore)
    (project / "stacks").mkdir()
    source = (ROOT / "stacks" / "Pulumi.example.yaml").read_text()
    (project / "stacks" / "Pulumi.example.yaml").write_text(source)
    _git(project, "init", "-q", "-b", "main")
    _git(project, "add", "-A")
    _git(project, "commit", "-q", "-m", "base")
    (project / "stacks" / "Pulumi.example-ap-southeast-2.yaml").write_text(
        source.replace("eu-central-1", "ap-southeast-2")
    )
    # `uv run aisb` is the project's own aisb: here the interpreter running the tests, which
    # imports the aisb/ of the folder it runs in (the worktree's, for the base).
    aisb = f"{shlex.quote(sys.executable)} -m aisb_tools.cli"
    # The recipe's /tmp/ first: the interpreter's own path may be under /tmp too.
    script = re.sub(r"uv run (--extra cli )?aisb", aisb, block[1].replace("/tmp/", f"{tmp_path}/"))
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in (tmp_path / "base").iterdir()) == ["example.json"]
    assert sorted(p.name for p in (tmp_path / "head").iterdir()) == [
        "example-ap-southeast-2.json",
        "example.json",
    ]
    assert "example-ap-southeast-2" in done.stdout
    assert not (tmp_path / "aisb-base").exists()  # the worktree is gone
    assert "aisb-base" not in _git(project, "worktree", "list")
    # The checkout is as it was: the new file untracked, nothing stashed.
    assert (
        _git(project, "status", "--porcelain") == "?? stacks/Pulumi.example-ap-southeast-2.yaml\n"
    )
    assert _git(project, "stash", "list") == ""
