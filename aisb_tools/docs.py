"""Keep the files derived from the code in step with it.

``python -m aisb_tools.docs`` rewrites them; ``python -m aisb_tools.docs --check`` changes
nothing and exits 1 naming each file that is stale (the tests run it):

- ``Pulumi.yaml``: the project and its typed ``config:`` block, from ``aisb.settings.KEYS``;
- ``README.md``: the blocks between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``:
  ``controls`` from ``aisb.catalog``, ``config`` from ``aisb.settings.KEYS`` and
  ``components`` from each component's ``Args`` and outputs.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
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


SECTIONS: dict[str, Callable[[], str]] = {
    "controls": control_table_markdown,
    "config": config_table_markdown,
    "components": component_table_markdown,
}


def render(readme: str) -> str:
    """``readme`` with every generated section brought up to date."""
    for name, make in SECTIONS.items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n)(?:.*?\n)?(<!-- {name}:end -->)", re.S)
        if not pattern.search(readme):
            raise ValueError(
                f"README.md has no <!-- {name}:start --> ... <!-- {name}:end --> block"
            )
        readme = pattern.sub(lambda m: m.group(1) + make() + "\n" + m.group(2), readme)  # noqa: B023
    return readme


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
  # anything is created, and documented in the README. `aisb:tags` (a map), `aisb:detectRules`
  # and `aisb:customMetrics` (lists of maps) are not declared here: Pulumi.yaml types are
  # string, integer, boolean and arrays of those only.
  # The CLI requires every declared key that has no default, so optional keys default to "".
"""


def pulumi_yaml() -> str:
    """The project file, its typed config declared from ``KEYS`` (JSON scalars are YAML)."""
    lines = [PULUMI_YAML_HEAD.rstrip("\n")]
    for key in KEYS:
        if not key.declared:
            continue
        lines.append(f"  {key.name}:")
        lines.append(f"    type: {key.type}")
        if key.type == "array":
            lines += ["    items:", "      type: string"]
        if not key.required:
            lines.append(f"    default: {json.dumps(key.default)}")
        lines.append(f"    description: {json.dumps(key.description)}")
    return "\n".join(lines) + "\n"


def derived_files(root: Path = ROOT) -> dict[Path, str]:
    """Each derived file and what it should hold."""
    readme = root / "README.md"
    return {
        root / "Pulumi.yaml": pulumi_yaml(),
        readme: render(readme.read_text()),
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    check = "--check" in args
    stale = []
    for path, text in derived_files().items():
        if path.read_text() != text:
            stale.append(path.name)
            if not check:
                path.write_text(text)
    if check and stale:
        print(f"stale: {', '.join(stale)}; run `uv run python -m aisb_tools.docs`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
