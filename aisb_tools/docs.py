"""Keep the files derived from the code in step with it.

``python -m aisb_tools.docs`` rewrites them; ``python -m aisb_tools.docs --check`` changes
nothing and exits 1 naming each file that is stale (the tests run it):

- ``Pulumi.yaml``: the project and its typed ``config:`` block, from ``aisb.settings.KEYS``;
- ``README.md`` and the pages of ``docs/`` (``PAGES``): the blocks between
  ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``: ``controls`` from ``aisb.catalog``,
  ``config`` from ``aisb.settings.KEYS``, ``components`` from each component's ``Args`` and
  outputs, and the tables of the ``aisb`` command's checks from the checks themselves (their
  ids and controls as the code reports them, their docstrings, their ``OPERATIONS``).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import re
import sys
import textwrap
import typing
from collections.abc import Callable
from pathlib import Path

from aisb.catalog import control_table_markdown
from aisb.plugin import COMPONENTS
from aisb.settings import KEYS

ROOT = Path(__file__).resolve().parent.parent


def config_table_markdown() -> str:
    """The README's configuration reference, one row per ``aisb:`` key."""
    lines = ["| key | type | default | what it does |", "|---|---|---|---|"]
    for key in KEYS:
        if key.required:
            default = "required"
        elif key.default in (None, ""):
            default = "unset"
        else:
            default = f"`{json.dumps(key.default)}`"
        lines.append(f"| `aisb:{key.name}` | {key.type} | {default} | {key.description} |")
    return "\n".join(lines)


def component_args(component: type) -> type:
    """A component's ``Args`` TypedDict, from its constructor's annotation."""
    return typing.cast(type, inspect.get_annotations(component.__init__)["args"])  # type: ignore[misc]


def component_outputs(component: type) -> list[str]:
    """The outputs a component declares (its annotated public attributes)."""
    return [n for n in inspect.get_annotations(component) if not n.startswith("_")]


def component_table_markdown() -> str:
    """The README's table of components: required arguments in bold, then the others."""
    lines = ["| component | arguments (**required**) | outputs |", "|---|---|---|"]
    for component in COMPONENTS:
        args = component_args(component)
        needed: frozenset[str] = getattr(args, "__required_keys__", frozenset())
        required = [f"**`{a}`**" for a in args.__annotations__ if a in needed]
        optional = [f"`{a}`" for a in args.__annotations__ if a not in needed]
        outputs = ", ".join(f"`{o}`" for o in component_outputs(component))
        lines.append(f"| `{component.__name__}` | {', '.join(required + optional)} | {outputs} |")
    return "\n".join(lines)


def _label(node: ast.expr) -> str:
    """A check id as the code writes it: a literal, or an f-string whose fields are shown as
    ``<name>`` (``target-group:<group>``)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
            else:
                names = [n.id for n in ast.walk(value) if isinstance(n, ast.Name)]
                parts.append(f"<{names[0] if names else 'value'}>")
        return "".join(parts)
    raise ValueError(f"a check id that is not a string: {ast.dump(node)}")


def _calls(function: Callable[..., object], callees: tuple[str, ...]) -> list[ast.Call]:
    """The calls to one of ``callees`` in a function's source, in the order it writes them."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in callees
        and len(node.args) >= 2
    ]
    return sorted(calls, key=lambda call: (call.lineno, call.col_offset))


def reported_ids(
    function: Callable[..., object], callees: tuple[str, ...]
) -> list[tuple[str, str]]:
    """The ``(id, control)`` pairs a function reports: the first two arguments of every call
    to one of ``callees`` (``Result``, ``guarded``) in its source, each pair once."""
    found: list[tuple[str, str]] = []
    module = inspect.getmodule(function)
    for call in _calls(function, callees):
        if isinstance(call.args[0], ast.Name):
            # A module constant naming the id (hub_checks.HUB), or a variable holding an id
            # the function names literally elsewhere.
            named = getattr(module, call.args[0].id, None)
            if not isinstance(named, str):
                continue
            label = named
        else:
            label = _label(call.args[0])
        control = call.args[1]
        value = control.value if isinstance(control, ast.Constant) else None
        pair = (label, str(value) if value else "-")
        if pair not in found:
            found.append(pair)
    return found


def _control(control: str) -> str:
    return control.replace("AISB-", "AISB #") if control != "-" else "-"


def _first_paragraph(doc: str | None, where: str) -> str:
    if not doc:
        raise ValueError(f"{where} has no docstring: the docs' check table is made from it")
    return " ".join(inspect.cleandoc(doc).split("\n\n")[0].split()).replace("``", "`")


def check_table_markdown(module_name: str) -> str:
    """The table of one command's checks (``preflight`` or ``check``): every id each check
    reports, its AISB control, and what it checks (the check's docstring)."""
    module = importlib.import_module(module_name)
    lines = ["| check | control | what it checks |", "|---|---|---|"]
    for check in module.CHECKS:
        about = _first_paragraph(check.__doc__, f"{module_name}.{check.__name__}")
        ids = reported_ids(check, ("Result", "guarded"))
        if not ids:
            raise ValueError(f"{module_name}.{check.__name__} reports no result id")
        controls = sorted({_control(c) for _, c in ids}, key=lambda c: (len(c), c))
        names = ", ".join(f"`{i}`" for i, _ in ids)
        lines.append(f"| {names} | {', '.join(controls)} | {about} |")
    if module_name.endswith("check_checks"):
        ages = module.certificate_ages
        ids = reported_ids(ages, ("Result", "guarded"))
        about = _first_paragraph(ages.__doc__, f"{module_name}.certificate_ages")
        names = ", ".join(f"`{i}`" for i, _ in ids)
        lines.append(f"| {names} | {_control(ids[0][1])} | {about} |")
    return "\n".join(lines)


def drill_table_markdown() -> str:
    """The drill's paths: each id, its control, and what to check when it does not deliver
    (the path's own hint)."""
    module = importlib.import_module("aisb_tools.cli.drill_checks")
    lines = ["| path | control | when it does not deliver, check |", "|---|---|---|"]
    for call in _calls(module.start_paths, ("Path",)):
        path = _label(call.args[0])
        hint = next((k.value for k in call.keywords if k.arg == "hint"), None)
        control = call.args[1]
        if not (
            isinstance(hint, ast.Constant)
            and isinstance(hint.value, str)
            and isinstance(control, ast.Constant)
        ):
            raise ValueError(f"drill path {path} has no literal control or hint")
        lines.append(f"| `{path}` | {_control(str(control.value))} | {hint.value} |")
    return "\n".join(lines)


def operations_markdown(module_name: str) -> str:
    """The IAM actions a command may call, from its module's ``OPERATIONS``."""
    module = importlib.import_module(module_name)
    return ", ".join(f"`{operation}`" for operation in module.OPERATIONS) + "."


SECTIONS: dict[str, Callable[[], str]] = {
    "controls": control_table_markdown,
    "config": config_table_markdown,
    "components": component_table_markdown,
    "preflight-checks": lambda: check_table_markdown("aisb_tools.cli.preflight_checks"),
    "preflight-operations": lambda: operations_markdown("aisb_tools.cli.preflight_checks"),
    "check-checks": lambda: check_table_markdown("aisb_tools.cli.check_checks"),
    "check-operations": lambda: operations_markdown("aisb_tools.cli.check_checks"),
    "drill-paths": drill_table_markdown,
    "drill-operations": lambda: operations_markdown("aisb_tools.cli.drill_checks"),
}

PAGES: dict[str, tuple[str, ...]] = {
    "README.md": ("controls",),
    "docs/controls/index.md": ("controls",),
    "docs/configuration.md": ("config",),
    "docs/library.md": ("components",),
    "docs/cli.md": (
        "preflight-checks",
        "preflight-operations",
        "check-checks",
        "check-operations",
        "drill-paths",
        "drill-operations",
    ),
}
"""Each file with generated blocks, and the blocks it must hold."""


def render(text: str, sections: tuple[str, ...] = tuple(SECTIONS), name: str = "README.md") -> str:
    """``text`` with each of ``sections`` brought up to date (each must be there)."""
    for section in sections:
        make = SECTIONS[section]
        pattern = re.compile(
            rf"(<!-- {section}:start -->\n)(?:.*?\n)?(<!-- {section}:end -->)", re.S
        )
        if not pattern.search(text):
            raise ValueError(
                f"{name} has no <!-- {section}:start --> ... <!-- {section}:end --> block"
            )
        text = pattern.sub(lambda m: m.group(1) + make() + "\n" + m.group(2), text)  # noqa: B023
    return text


PULUMI_YAML_HEAD = """\
# Generated from aisb/baseline.py by `uv run python -m aisb_tools.docs`: edit the arguments there.
name: aisb
description: The AWS IoT Security Baseline (AISB), one stack per account and region
# aisb-guard (policy/, enforced on every stack by the fleet's policy group) uses the uv
# toolchain, which a policy pack gets from Pulumi CLI 3.221.0 on (pulumi/pulumi#21684: the
# language host runs the pack with its toolchain; before, a shim knew only `virtualenv`).
requiredPulumiVersion: ">=3.221.0"
runtime:
  name: python
  options:
    toolchain: uv
stackConfigDir: stacks
config:
  # Keys without a namespace are aisb:<key>. Every key is validated by aisb/settings.py before
  # anything is created, and documented in docs/configuration.md. Maps (`aisb:tags`) and lists
  # of maps (`aisb:detectRules`, `aisb:customMetrics`) are the `object` config type, which the
  # CLI checks from 3.187.0 on, so it refuses a wrong shape before the program runs.
  # The CLI requires every declared key that has no default, so optional keys default to "".
"""


def pulumi_yaml() -> str:
    """The project file, its typed config declared from ``KEYS`` (JSON scalars are YAML)."""
    lines = [PULUMI_YAML_HEAD.rstrip("\n")]
    for key in KEYS:
        lines.append(f"  {key.name}:")
        declaration = key.declaration
        lines.append(f"    type: {declaration['type']}")
        if "items" in declaration:
            lines += ["    items:", f"      type: {declaration['items']['type']}"]
        if not key.required:
            lines.append(f"    default: {json.dumps(key.default)}")
        lines.append(f"    description: {json.dumps(key.description)}")
    return "\n".join(lines) + "\n"


def derived_files(root: Path = ROOT) -> dict[Path, str]:
    """Each derived file and what it should hold."""
    derived = {root / "Pulumi.yaml": pulumi_yaml()}
    for name, sections in PAGES.items():
        derived[root / name] = render((root / name).read_text(), sections, name)
    return derived


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    check = "--check" in args
    stale = []
    for path, text in derived_files().items():
        if path.read_text() != text:
            stale.append(str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name)
            if not check:
                path.write_text(text)
    if check and stale:
        print(f"stale: {', '.join(stale)}; run `uv run python -m aisb_tools.docs`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
