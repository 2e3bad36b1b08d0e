"""Releases: one version for every package the repository ships, and its changelog section.

The library (``pyproject.toml``), the Pulumi package (``provider/pyproject.toml``, whose
version is the library's: ``aisb.plugin.version``), the aisb-guard policy pack
(``policy/pyproject.toml`` and ``policy/PulumiPolicy.yaml``) and the fleet program
(``fleet/pyproject.toml``) carry the same semantic version, and ``CHANGELOG.md`` has its
section. The release workflow (``.github/workflows/release.yml``) runs, on a tag ``vX.Y.Z``:

    python -m aisb_tools.release check vX.Y.Z   # exit 1 naming every disagreement
    python -m aisb_tools.release notes vX.Y.Z   # the changelog's section, for the release
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PROJECTS = (
    "pyproject.toml",
    "provider/pyproject.toml",
    "policy/pyproject.toml",
    "fleet/pyproject.toml",
)
POLICY_PACK = "policy/PulumiPolicy.yaml"
CHANGELOG = "CHANGELOG.md"
SEMVER = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)")


def versions(root: Path = ROOT) -> dict[str, str]:
    """Each package's declared version, by file."""
    found = {
        name: str(tomllib.loads((root / name).read_text())["project"]["version"])
        for name in PROJECTS
    }
    found[POLICY_PACK] = str(yaml.safe_load((root / POLICY_PACK).read_text())["version"])
    return found


def section(version: str, root: Path = ROOT) -> tuple[str, str] | None:
    """The changelog's ``## [version] - <date>`` heading's date and its text, or None."""
    text = (root / CHANGELOG).read_text()
    heading = re.search(rf"^## \[{re.escape(version)}\] - (\S+)\n", text, re.M)
    if heading is None:
        return None
    rest = text[heading.end() :]
    end = re.search(r"^## \[", rest, re.M)
    return heading[1], (rest[: end.start()] if end else rest).strip() + "\n"


def problems(tag: str | None = None, root: Path = ROOT) -> list[str]:
    """What keeps ``tag`` (or, without one, the declared version) from being released."""
    found = versions(root)
    library = found["pyproject.toml"]
    out = [
        f"{name}: version {value}, not the library's {library}"
        for name, value in found.items()
        if value != library
    ]
    if not SEMVER.fullmatch(library):
        out.append(f"pyproject.toml: version {library} is not MAJOR.MINOR.PATCH")
    if tag is not None and tag != f"v{library}":
        out.append(f"tag {tag}: the packages are at {library} (tag v{library})")
    entry = section(library, root)
    if entry is None:
        out.append(f"{CHANGELOG}: no section '## [{library}] - <date>'")
    elif tag is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", entry[0]):
        out.append(f"{CHANGELOG}: [{library}] is dated {entry[0]!r}: give the release date")
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("check", "notes"):
        print("usage: python -m aisb_tools.release (check|notes) vX.Y.Z", file=sys.stderr)
        return 2
    command, tag = argv
    if command == "check":
        found = problems(tag)
        for problem in found:
            print(f"release: {problem}", file=sys.stderr)
        return 1 if found else 0
    entry = section(tag.removeprefix("v"))
    if entry is None:
        print(f"release: {CHANGELOG} has no section for {tag}", file=sys.stderr)
        return 1
    sys.stdout.write(entry[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
