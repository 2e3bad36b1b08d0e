"""``aisb plan``: what the program asks for in each stack, rendered with no credentials.

A plan runs the project's own program (``__main__.py``) on a stack file under Pulumi's mock
engine (``aisb.mockengine``): no AWS credentials, backend or network. It records, for every
resource, its type, name, parent, provider, the options that keep evidence (retain on delete,
delete before replace), which resources each input's value comes from (``dependencies``: the
wiring a policy pack follows from a role alias to its role) and its inputs, with

- secret values (Pulumi secrets, and a stack file's ``secure:`` values) as ``[secret]``;
- JSON documents in strings (IAM, key, bucket and topic policies) parsed, so they compare as
  structures, statement by statement, not as one long string;
- code archives as the SHA-256 of their files' names and contents.

ARNs and ids are the mock engine's: account ``123456789012``, names with a hash suffix. A plan
is what the code asks for, not a diff against what is deployed: that is ``pulumi preview``.

``compare`` turns the plans of a base and a head into the Markdown of a pull-request comment.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import rpc

from aisb.mockengine import ACCOUNT, Recording, Registration, partition, run_program
from aisb_tools.stackfile import (
    SECRET_PLACEHOLDERS,
    project_file,
    readable_config,
    stack_files,
    stack_name,
    stack_path,
)

SECRET = "[secret]"
MARKER = "<!-- aisb-plan -->"
"""First line of the comment, by which the workflow finds the comment to update."""
COMMENT_LIMIT = 65_536
"""GitHub refuses a comment longer than this many characters."""
_BUDGET = COMMENT_LIMIT - 1_024  # room for the closing lines and the truncation note
_CELL = 240
"""Longest value shown in a table cell, in characters."""


class PlanError(Exception):
    """A stack could not be rendered (bad stack file or configuration)."""


# --- rendering -------------------------------------------------------------------------------


def _digest(value: Any) -> str:
    """SHA-256 of an asset or archive: its files' names and contents, never its paths."""
    h = hashlib.sha256()
    if isinstance(value, pulumi.AssetArchive):
        for name in sorted(value.assets):
            h.update(f"{name}\0{_digest(value.assets[name])}\0".encode())
    elif isinstance(value, pulumi.FileArchive):
        base = Path(value.path)
        files = sorted(p for p in base.rglob("*") if p.is_file()) if base.is_dir() else [base]
        for file in files:
            h.update(f"{file.relative_to(base) if base.is_dir() else file.name}\0".encode())
            h.update(file.read_bytes())
    elif isinstance(value, pulumi.FileAsset):
        h.update(Path(value.path).read_bytes())
    elif isinstance(value, pulumi.StringAsset):
        h.update(value.text.encode())
    elif isinstance(value, pulumi.RemoteAsset | pulumi.RemoteArchive):
        h.update(value.uri.encode())
    else:  # pragma: no cover - every asset and archive type is listed above
        raise TypeError(f"not an asset or archive: {value!r}")
    return "sha256:" + h.hexdigest()


def _normal(value: Any) -> Any:
    """An input as the plan records it (see the module docstring)."""
    if rpc.is_rpc_secret(value):
        return SECRET
    if isinstance(value, pulumi.Asset | pulumi.Archive):
        return {"archive": _digest(value)}
    if isinstance(value, Mapping):
        return {str(k): _normal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normal(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the engine carries every number as a double
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        if isinstance(parsed, dict | list):
            return {"json": _normal(parsed)}
    return value


def _key(r: Registration) -> str:
    return f"{r.type}::{r.name}"


def _plan(stack: str, recording: Recording) -> dict[str, Any]:
    keys = {r.urn: _key(r) for r in recording.resources}
    resources: dict[str, Any] = {}
    for r in recording.resources:
        key = keys[r.urn]
        if key in resources:
            raise PlanError(f"{stack}: two resources named {key}")
        entry: dict[str, Any] = {
            "type": r.type,
            "name": r.name,
            "parent": keys.get(r.parent, ""),
            "inputs": _normal(r.inputs),
        }
        provider = keys.get(r.provider.rsplit("::", 1)[0]) if r.provider else None
        if provider:
            entry["provider"] = provider
        options = {
            name: True
            for name, on in (
                ("retainOnDelete", r.retain_on_delete),
                ("deleteBeforeReplace", r.delete_before_replace),
            )
            if on
        }
        if options:
            entry["options"] = options
        depends = {
            name: sorted(keys[u] for u in urns if u in keys)
            for name, urns in r.property_dependencies.items()
        }
        if any(depends.values()):
            entry["dependencies"] = {name: deps for name, deps in depends.items() if deps}
        resources[key] = entry
    reads = {
        _key(r): {"type": r.type, "name": r.name, "id": r.id, "parent": keys.get(r.parent, "")}
        for r in recording.reads
    }
    return {"stack": stack, "account": ACCOUNT, "resources": resources, "reads": reads}


def render(stack: str, root: Path) -> dict[str, Any]:
    """The plan of ``stacks/Pulumi.<stack>.yaml`` in the project at ``root``, rendered by the
    project's ``__main__.py``. Raises ``PlanError`` naming what is wrong."""
    from aisb.settings import ConfigError
    from aisb_tools.stackfile import StackFileError

    try:
        path = stack_path(stack, root)
        config, secrets = readable_config(path, root, stack)
    except StackFileError as error:
        raise PlanError(str(error)) from None
    unreadable = sorted(k for k in secrets if k not in SECRET_PLACEHOLDERS)
    if unreadable:
        raise PlanError(
            f"{stack}: {', '.join(unreadable)} encrypted in the stack file; a plan can stand in "
            f"only for {', '.join(sorted(SECRET_PLACEHOLDERS))}"
        )
    region = config.get("aws:region", "us-east-1")
    try:
        recording = run_program(
            root / "__main__.py",
            config,
            region=region,
            partition=partition(region),
            project=str(project_file(root)["name"]),
            stack=stack,
            secret_keys=sorted(secrets),
        )
    except ConfigError as error:
        raise PlanError(f"{stack}: " + "; ".join(error.problems)) from None
    return _plan(stack, recording)


def dumps(plan: Mapping[str, Any]) -> str:
    """A plan as its file holds it: sorted keys, so two renders are byte-identical."""
    return json.dumps(plan, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write(out: Path, root: Path, stacks: Iterable[str] = ()) -> list[Path]:
    """Render ``stacks`` (every stack of the project when empty) into ``out/<stack>.json``."""
    names = list(stacks) or [stack_name(p) for p in stack_files(root)]
    plans = {name: dumps(render(name, root)) for name in names}  # all or nothing
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in plans.items():
        (out / f"{name}.json").write_text(text)
        written.append(out / f"{name}.json")
    return written


# --- comparing -------------------------------------------------------------------------------

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_:\-]*")


def _path(parent: str, key: str) -> str:
    step = key if _PLAIN_KEY.fullmatch(key) else json.dumps(key)
    return f"{parent}.{step}" if parent else step


def flatten(value: Any, path: str = "") -> dict[str, Any]:
    """Leaf values by path (``inputs.policy.json.Statement[0].Action``). A list of plain values
    is one leaf (an action list shows as before and after, not as shifted items)."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for k in sorted(value):
            out.update(flatten(value[k], _path(path, k)))
        return out
    if isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        out = {}
        for i, item in enumerate(value):
            out.update(flatten(item, f"{path}[{i}]"))
        return out
    return {path: value}


@dataclass(frozen=True)
class StackDiff:
    """What changed in one stack between two plans."""

    stack: str
    status: str
    """``changed``, ``added`` (a new stack file) or ``removed``."""
    added: tuple[tuple[str, str], ...]
    """(type, name) of resources only in the head."""
    removed: tuple[tuple[str, str], ...]
    changed: tuple[tuple[str, str, tuple[tuple[str, Any, Any], ...]], ...]
    """(type, name, ((path, before, after), ...)); a missing side is ``MISSING``."""

    @property
    def empty(self) -> bool:
        return self.status == "changed" and not (self.added or self.removed or self.changed)


MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()


def _entries(plan: Mapping[str, Any] | None) -> dict[str, Any]:
    if plan is None:
        return {}
    return {**plan.get("resources", {}), **{f"read {k}": v for k, v in plan["reads"].items()}}


def diff_stack(
    stack: str, base: Mapping[str, Any] | None, head: Mapping[str, Any] | None
) -> StackDiff:
    """The difference between a stack's base and head plans (``None``: no such stack file)."""
    old, new = _entries(base), _entries(head)
    status = "added" if base is None else "removed" if head is None else "changed"
    changed = []
    for key in sorted(old.keys() & new.keys()):
        before = flatten({k: v for k, v in old[key].items() if k not in ("type", "name")})
        after = flatten({k: v for k, v in new[key].items() if k not in ("type", "name")})
        paths = sorted(
            (p, before.get(p, MISSING), after.get(p, MISSING))
            for p in before.keys() | after.keys()
            if before.get(p, MISSING) != after.get(p, MISSING)
        )
        if paths:
            changed.append((new[key]["type"], new[key]["name"], tuple(paths)))

    def listed(keys: Iterable[str], side: dict[str, Any]) -> tuple[tuple[str, str], ...]:
        return tuple(sorted((side[k]["type"], side[k]["name"]) for k in keys))

    return StackDiff(
        stack,
        status,
        added=listed(new.keys() - old.keys(), new),
        removed=listed(old.keys() - new.keys(), old),
        changed=tuple(changed),
    )


def load_plans(folder: Path) -> dict[str, dict[str, Any]]:
    """The plans in a folder written by ``write``, by stack (an absent folder has none)."""
    if not folder.is_dir():
        return {}
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


def diff_plans(base: Path, head: Path) -> list[StackDiff]:
    old, new = load_plans(base), load_plans(head)
    return [diff_stack(s, old.get(s), new.get(s)) for s in sorted(old.keys() | new.keys())]


# Values in the comment come from stack files and the program: a pull request chooses them.
# GitHub renders Markdown (GFM, https://github.github.com/gfm/) inside an inline ``<code>``
# element, so ``[text](url)``, images and emphasis there would render; only a code span keeps
# its content literal ("Code spans", GFM 6.1), and inside a table a ``|`` must be written
# ``\|`` even there ("Tables", GFM 4.10). A line break ends a table row or a paragraph, so
# control characters are shown escaped. In the ``<summary>`` HTML block, where Markdown is not
# parsed (GFM 4.6), text is HTML-escaped instead.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def _visible(text: str) -> str:
    """``text`` with every control character written as its escape (``\\n``, ``\\x1b``)."""
    return _CONTROL.sub(lambda m: json.dumps(m.group())[1:-1], text)


def _code(text: str) -> str:
    """``text`` as a Markdown code span that renders exactly ``text``, in a table or not."""
    text = _visible(text).replace("|", "\\|") or " "
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    if text.strip(" ") and (text[0] in "` " or text[-1] in "` "):
        text = f" {text} "  # a code span strips one space from each end (not from all spaces)
    return f"{fence}{text}{fence}"


def _html_code(text: str) -> str:
    """``text`` as an HTML ``<code>`` element, for HTML blocks (no Markdown parsed there)."""
    return "<code>" + html.escape(_visible(text)) + "</code>"


def _cell(value: Any) -> str:
    if value is MISSING:
        return "—"
    text = value if value == SECRET else json.dumps(value, sort_keys=True, ensure_ascii=False)
    if len(text) > _CELL:
        text = text[: _CELL - 1] + "…"
    return _code(text)


HEADER = (
    f"{MARKER}\n### aisb plan\n\n"
    "What the code asks for in each stack, rendered offline under Pulumi's mock engine from the "
    "stack files (no credentials; account `123456789012` and resource names are the mock's). "
    "This is **not** a diff against what is deployed: where credentials exist, each stack's "
    "`pulumi preview` is posted next to it.\n\n"
)


def _stack_lines(d: StackDiff) -> list[list[str]]:
    """A stack's details as blocks of lines; a block is one heading or one table row, and a
    table's header travels with its first row so no table is cut in the middle."""
    blocks: list[list[str]] = []
    for title, items in (("Added", d.added), ("Removed", d.removed)):
        if items:
            head = [f"**{title}**", "", "| Type | Name |", "|---|---|"]
            for i, (type_, name) in enumerate(items):
                row = f"| {_code(type_)} | {_code(name)} |"
                blocks.append([*head, row] if i == 0 else [row])
            blocks.append([""])
    for type_, name, paths in d.changed:
        head = [
            f"**Changed** {_code(type_)} {_code(name)}",
            "",
            "| Input | Before | After |",
            "|---|---|---|",
        ]
        for i, (path, before, after) in enumerate(paths):
            row = f"| {_code(path)} | {_cell(before)} | {_cell(after)} |"
            blocks.append([*head, row] if i == 0 else [row])
        blocks.append([""])
    return blocks


def markdown(diffs: list[StackDiff], limit: int = COMMENT_LIMIT) -> str:
    """The pull-request comment: a summary table of every stack, then each stack's changes in
    a collapsible section. Kept under ``limit`` characters: what does not fit is left out
    whole (rows, never half a table) and a note says how much."""
    budget = limit - (COMMENT_LIMIT - _BUDGET)
    out = [HEADER]
    if not diffs:
        return HEADER + "No stack files.\n"
    out.append("| Stack | Added | Changed | Removed |\n|---|---:|---:|---:|\n")
    for d in diffs:
        label = {"added": " (new stack)", "removed": " (stack removed)"}.get(d.status, "")
        out.append(
            f"| {_code(d.stack)}{label} | {len(d.added)} | {len(d.changed)} | {len(d.removed)} |\n"
        )
    if all(d.empty for d in diffs):
        return "".join(out) + "\nNo changes in any stack.\n"
    size = sum(len(s) for s in out)
    left_out = 0
    for d in diffs:
        if d.empty:
            continue
        opening = (
            f"\n<details><summary>{_html_code(d.stack)}: {len(d.added)} added, "
            f"{len(d.changed)} changed, {len(d.removed)} removed</summary>\n\n"
        )
        closing = "</details>\n"
        blocks = _stack_lines(d)
        if left_out or size + len(opening) + len(closing) > budget:
            left_out += sum(1 for b in blocks if b[-1].startswith("| "))
            continue
        out.append(opening)
        size += len(opening) + len(closing)
        for block in blocks:
            text = "\n".join(block) + "\n"
            if left_out or size + len(text) > budget:
                left_out += block[-1].startswith("| ")
                continue
            out.append(text)
            size += len(text)
        if left_out:
            out.append("\n")  # ends the table cut short at a row boundary
        out.append(closing)
    if left_out:
        out.append(
            f"\n_{left_out} more rows left out to stay under GitHub's {COMMENT_LIMIT:,}-character "
            "comment limit. Run `uv run aisb plan --out` on both commits and "
            "`uv run aisb plan --compare` to see them all._\n"
        )
    return "".join(out)
