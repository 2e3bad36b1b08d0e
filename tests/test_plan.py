"""``aisb plan``: offline plans of every stack, their comparison, and the reviewed plan files."""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from aisb_tools import plan
from aisb_tools.cli import app
from tests.harness import ROOT, copy_project, stack_files, stack_name

PLANS = ROOT / "plans"
STACKS = [stack_name(p) for p in stack_files()]


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return {s: plan.dumps(plan.render(s, ROOT)) for s in STACKS}


def _edit(root: Path, stack: str, old: str, new: str) -> None:
    path = root / "stacks" / f"Pulumi.{stack}.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


# --- the plan of a stack ---------------------------------------------------------------------


def test_each_stack_renders_byte_identically_twice(rendered: dict[str, str]) -> None:
    for stack in STACKS:
        assert plan.dumps(plan.render(stack, ROOT)) == rendered[stack], stack


def test_committed_plans_are_what_the_program_renders(rendered: dict[str, str]) -> None:
    """plans/ pins every input of every resource: a change to the program or a stack file
    fails here until the plans are regenerated, so the pull request shows the change."""
    assert sorted(p.stem for p in PLANS.glob("*.json")) == sorted(STACKS)
    stale = [s for s in STACKS if (PLANS / f"{s}.json").read_text() != rendered[s]]
    assert not stale, f"plans of {stale} are stale: run `uv run aisb plan --out plans`"


def test_a_plan_records_type_name_parent_options_and_normalised_inputs(
    rendered: dict[str, str],
) -> None:
    resources = json.loads(rendered["prod-us-east-1"])["resources"]
    policy = resources["aws:iam/rolePolicy:RolePolicy::aisb-logging-role-policy"]
    assert policy["parent"] == "aisb:index:IotLogging::aisb-logging"
    statement = policy["inputs"]["policy"]["json"]["Statement"][0]  # parsed, not a string
    assert "logs:PutLogEvents" in statement["Action"]
    function = resources["aws:lambda/function:Function::aisb-cert-rotation-function"]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", function["inputs"]["code"]["archive"])
    assert function["inputs"]["timeout"] == 900  # a whole number, not 900.0
    log_group = resources["aws:cloudwatch/logGroup:LogGroup::aisb-logging-log-group"]
    assert log_group["options"] == {"retainOnDelete": True}
    assert resources["aisb:index:IotSecurityBaseline::aisb"]["parent"] == ""


def test_the_code_archive_hash_follows_the_handler_source(tmp_path: Path) -> None:
    handler = tmp_path / "handler.py"
    handler.write_text("x = 1\n")
    import pulumi

    first = plan._normal(pulumi.AssetArchive({"handler.py": pulumi.FileAsset(str(handler))}))
    handler.write_text("x = 2\n")
    second = plan._normal(pulumi.AssetArchive({"handler.py": pulumi.FileAsset(str(handler))}))
    renamed = plan._normal(pulumi.AssetArchive({"main.py": pulumi.FileAsset(str(handler))}))
    assert len({first["archive"], second["archive"], renamed["archive"]}) == 3


def test_a_read_resource_is_recorded_as_a_lookup(rendered: dict[str, str]) -> None:
    reads = json.loads(rendered["dev-us-west-2"])["reads"]
    assert reads["aws:iot/thingGroup:ThingGroup::aisb-behavior-target-dev-fleet"]["id"] == (
        "dev-fleet"
    )


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "aisb:certMaxAgeDays: 90",
            "aisb:certMaxAgeDays: 400",
            {
                (
                    "aisb-audit-configuration",
                    "inputs.auditCheckConfigurations.deviceCertificateAgeCheck"
                    ".configuration.certAgeThresholdInDays",
                    "90",
                    "400",
                ),
                (
                    "aisb-cert-rotation-function",
                    "inputs.environment.variables.ROTATION_DAYS",
                    "90",
                    "400",
                ),
            },
        ),
        (
            "aisb:logRetentionDays: 30",
            "aisb:logRetentionDays: 60",
            {
                ("aisb-cert-rotation-logs", "inputs.retentionInDays", 30, 60),
                ("aisb-logging-log-group", "inputs.retentionInDays", 30, 60),
            },
        ),
    ],
)
def test_one_key_changed_shows_exactly_the_inputs_it_governs(
    tmp_path: Path, rendered: dict[str, str], old: str, new: str, expected: set[tuple]
) -> None:
    root = copy_project(tmp_path)
    _edit(root, "dev-us-west-2", old, new)
    head = plan.render("dev-us-west-2", root)
    diff = plan.diff_stack("dev-us-west-2", json.loads(rendered["dev-us-west-2"]), head)
    assert (diff.added, diff.removed) == ((), ())
    found = {(name, path, a, b) for _, name, paths in diff.changed for path, a, b in paths}
    assert found == expected


def test_secrets_never_appear_in_a_plan_or_the_comment(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    # An encrypted stack value: the plan stands in for it and keeps the stand-in secret.
    _edit(
        root,
        "dev-us-west-2",
        "  aisb:alertEmails:\n    - iot-dev@example.com\n",
        "  aisb:alertEmails:\n    secure: v1:c2VjcmV0:ZW5jcnlwdGVkIGFkZHJlc3Nlcw==\n",
    )
    head = plan.render("dev-us-west-2", root)
    text = plan.dumps(head)
    assert "encrypted@example.com" not in text and "iot-dev@example.com" not in text
    subscriptions = [r for r in head["resources"].values() if "topicSubscription" in r["type"]]
    assert subscriptions and all(r["inputs"]["endpoint"] == plan.SECRET for r in subscriptions)
    base = json.loads((PLANS / "dev-us-west-2.json").read_text())
    comment = plan.markdown([plan.diff_stack("dev-us-west-2", base, head)])
    assert "encrypted@example.com" not in comment and "iot-dev@example.com" not in comment
    assert "topicSubscription" in comment  # the change is shown, its value is not


def test_a_secret_a_plan_cannot_stand_in_for_is_refused_by_name(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    _edit(root, "dev-us-west-2", "aisb:iotLogLevel: INFO", "aisb:iotLogLevel:\n    secure: v1:x")
    with pytest.raises(plan.PlanError, match="aisb:iotLogLevel"):
        plan.render("dev-us-west-2", root)


def test_a_bad_stack_is_refused_naming_the_stack_and_the_key(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    _edit(root, "dev-us-west-2", "aisb:certMaxAgeDays: 90", "aisb:certMaxAgeDays: 9")
    with pytest.raises(plan.PlanError, match=r"dev-us-west-2: .*aisb:certMaxAgeDays"):
        plan.render("dev-us-west-2", root)
    with pytest.raises(plan.PlanError, match="no stack file"):
        plan.render("nowhere-us-east-1", root)


# --- comparing plans -------------------------------------------------------------------------


def test_flatten_keeps_plain_lists_whole_and_indexes_lists_of_objects() -> None:
    value = {"a": {"b": [1, 2]}, "s": [{"x": 1}, {"x": [2]}], "odd.key": True, "e": {}}
    assert plan.flatten(value) == {
        "a.b": [1, 2],
        "s[0].x": 1,
        "s[1].x": [2],
        '"odd.key"': True,
        "e": {},
    }


def test_an_added_or_removed_stack_file_shows_as_a_whole_stack(tmp_path: Path) -> None:
    base, head = tmp_path / "base", tmp_path / "head"
    base.mkdir()
    head.mkdir()
    shutil.copy(PLANS / "dev-us-west-2.json", base / "dev-us-west-2.json")
    shutil.copy(PLANS / "prod-us-east-1.json", head / "prod-us-east-1.json")
    diffs = {d.stack: d for d in plan.diff_plans(base, head)}
    assert diffs["dev-us-west-2"].status == "removed"
    assert len(diffs["dev-us-west-2"].removed) == len(
        json.loads((PLANS / "dev-us-west-2.json").read_text())["resources"]
    ) + len(json.loads((PLANS / "dev-us-west-2.json").read_text())["reads"])
    assert diffs["prod-us-east-1"].status == "added" and not diffs["prod-us-east-1"].removed
    comment = plan.markdown(list(diffs.values()))
    assert "| `dev-us-west-2` (stack removed) |" in comment
    assert "| `prod-us-east-1` (new stack) |" in comment


def test_identical_plans_say_so() -> None:
    comment = plan.markdown(plan.diff_plans(PLANS, PLANS))
    assert comment.startswith(plan.MARKER)
    assert "No changes in any stack." in comment
    assert "not** a diff against what is deployed" in comment


def _tables_are_whole(comment: str) -> None:
    """Every table has its header and separator, and every row as many cells as its header."""
    lines = comment.split("\n")
    i = 0
    while i < len(lines):
        if not lines[i].startswith("|"):
            i += 1
            continue
        run = []
        while i < len(lines) and lines[i].startswith("|"):
            run.append(lines[i])
            i += 1
        assert len(run) >= 3 and set(run[1]) <= set("|-: "), run[:3]
        cells = run[0].count(" | ")
        assert run[1].count("|") == cells + 2, run[:2]
        rows = [run[0], *run[2:]]
        assert all(row.endswith(" |") and row.count(" | ") == cells for row in rows), run


def _everything_changed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _everything_changed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_everything_changed(v) for v in value] + ["added"]
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, str):
        return value + "-changed|`<b>"
    return value


@pytest.mark.parametrize("limit", [plan.COMMENT_LIMIT, 8_000])
def test_a_diff_of_every_resource_stays_under_the_limit_with_whole_tables(
    tmp_path: Path, limit: int
) -> None:
    base, head = tmp_path / "base", tmp_path / "head"
    shutil.copytree(PLANS, base)
    head.mkdir()
    for path in sorted(PLANS.glob("*.json")):
        p = json.loads(path.read_text())
        for entry in p["resources"].values():
            entry["inputs"] = _everything_changed(entry["inputs"]) or {"new": 1}
        (head / path.name).write_text(plan.dumps(p))
        extra = copy.deepcopy(p)
        extra["stack"] = "new-" + p["stack"]
        (head / f"new-{path.name}").write_text(plan.dumps(extra))
    comment = plan.markdown(plan.diff_plans(base, head), limit=limit)
    assert len(comment) <= limit
    assert "more rows left out" in comment
    _tables_are_whole(comment)
    assert comment.count("<details>") == comment.count("</details>")
    _renders_no_markup(comment)


def _render(comment: str) -> list[tuple[str, dict[str, str | None], str]]:
    """The comment through a GFM renderer (tables, autolinks; raw HTML as GitHub allows it):
    the elements it produced, with their attributes and text."""
    from html.parser import HTMLParser

    from markdown_it import MarkdownIt

    elements: list[tuple[str, dict[str, str | None], str]] = []

    class Collect(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.open: list[int] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            elements.append((tag, dict(attrs), ""))
            self.open.append(len(elements) - 1)

        def handle_endtag(self, tag: str) -> None:
            while self.open:
                if elements[self.open.pop()][0] == tag:
                    break

        def handle_data(self, data: str) -> None:
            for i in self.open:
                tag, attrs, text = elements[i]
                elements[i] = (tag, attrs, text + data)

    Collect().feed(MarkdownIt("gfm-like").render(comment))
    return elements


def _renders_no_markup(comment: str) -> None:
    """No link, image or emphasis other than the comment's own headings renders."""
    elements = _render(comment)
    tags = {tag for tag, _, _ in elements}
    assert not tags & {"a", "img", "script", "b", "i", "del", "s"}, tags
    strong = {text for tag, _, text in elements if tag == "strong"}
    assert strong <= {"Added", "Removed", "Changed", "not"}, strong
    notes = [text for tag, _, text in elements if tag == "em"]  # only the comment's own note
    assert all(re.fullmatch(r"\d+ more rows left out .* see them all\.", n) for n in notes)


CRAFTED = [
    "[click here](https://evil.example/login)",
    "![logo](https://evil.example/pixel.png)",
    "*urgent* and __bold__ and ~~gone~~",
    "a | b || c",
    "`tick` and ``two`` and ```three```",
    "`",
    "ends with a backslash \\",
    "escaped \\| pipe",
    "line one\nline two\r\n\n| fake | row |",
    "<img src=x onerror=alert(1)> <b>bold</b> &amp;",
    "https://evil.example/bare and www.evil.example",
    "  spaced  ",
]


@pytest.mark.parametrize("crafted", CRAFTED)
def test_crafted_values_render_as_text_in_every_cell(crafted: str) -> None:
    """A value, a resource type or name, or a stack file name chosen by a pull request renders
    as exactly its text: no link, image, emphasis or HTML, and no extra table row or cell."""
    base_entry = {"type": "aws:s3/bucket:Bucket", "name": "b", "inputs": {"tags": {"k": "v"}}}
    head_entry = {**base_entry, "inputs": {"tags": {"k": crafted}}}
    added = {"type": f"aws:x/{crafted}:Y", "name": crafted, "inputs": {}}
    stack = f"dev-{crafted}"
    base = {"stack": stack, "resources": {"k": base_entry}, "reads": {}}
    head = {"stack": stack, "resources": {"k": head_entry, "new": added}, "reads": {}}
    comment = plan.markdown([plan.diff_stack(stack, base, head)])
    _tables_are_whole(comment)
    _renders_no_markup(comment)
    # Line breaks are shown as their escapes; everything else as it is.
    shown = crafted.replace("\r", "\\r").replace("\n", "\\n")
    assert comment.startswith(plan.HEADER)
    elements = _render(comment.removeprefix(plan.HEADER))
    assert [text for tag, _, text in elements if tag == "code"] == [
        f"dev-{shown}",  # the summary table
        f"dev-{shown}",  # the stack's <details> summary
        f"aws:x/{shown}:Y",
        shown,
        "aws:s3/bucket:Bucket",
        "b",
        "inputs.tags.k",
        '"v"',
        json.dumps(crafted, ensure_ascii=False),
    ]
    # The summary row (4 cells), the added resource (2) and the changed input (3): no more.
    assert sum(1 for tag, _, _ in elements if tag == "td") == 9
    assert sum(1 for tag, _, _ in elements if tag == "tr") == 3 + 3  # and a header each


def test_a_small_diff_is_shown_whole() -> None:
    base = json.loads((PLANS / "prod-us-east-1.json").read_text())
    head = copy.deepcopy(base)
    key = "aws:lambda/function:Function::aisb-cert-rotation-function"
    head["resources"][key]["inputs"]["timeout"] = 600
    comment = plan.markdown([plan.diff_stack("prod-us-east-1", base, head)])
    assert "left out" not in comment
    assert "| `inputs.timeout` | `900` | `600` |" in comment
    _tables_are_whole(comment)


# --- the command -----------------------------------------------------------------------------


def test_the_command_writes_the_named_stacks_and_compares(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["plan", "--out", str(out), "--stack", "dev-us-west-2", "--project", str(ROOT)]
    )
    assert result.exit_code == 0, result.output
    assert [p.name for p in out.iterdir()] == ["dev-us-west-2.json"]
    assert (out / "dev-us-west-2.json").read_text() == (PLANS / "dev-us-west-2.json").read_text()
    result = runner.invoke(app, ["plan", "--compare", str(PLANS), str(out)])
    assert result.exit_code == 0
    assert "(stack removed)" in result.stdout and "prod-us-east-1" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "exactly one of"),
        (["--out", "x", "--compare", "a", "b"], "exactly one of"),
        (["--compare", ".", "nowhere"], "not a folder of plans"),
        (["--compare", ".", ".", "--stack", "s"], "--stack goes with --out"),
        (["--out", "x", "--stack", "nowhere-us-east-1"], "no stack file"),
    ],
)
def test_the_command_refuses_what_it_cannot_do(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(app, ["plan", *args, "--project", str(ROOT)])
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "x").exists()
