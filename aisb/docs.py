"""Keep the README's generated sections in step with the code.

``python -m aisb.docs`` rewrites the blocks between ``<!-- NAME:start -->`` and
``<!-- NAME:end -->`` in README.md: ``controls`` from ``aisb.catalog`` and ``config`` from
``aisb.settings.KEYS``. The tests fail when the README differs from what this renders.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from aisb.catalog import control_table_markdown
from aisb.settings import KEYS


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


SECTIONS = {"controls": control_table_markdown, "config": config_table_markdown}


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


def main(path: str = "README.md") -> int:
    readme = Path(path)
    readme.write_text(render(readme.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
