"""What the aisb Pulumi package serves: its name, its components and its version.

``provider/__main__.py`` hosts them with Pulumi's component provider, which infers the package
schema from each component's ``Args``; the tests analyse the same list.
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _installed_version

import pulumi

import aisb

NAME = "aisb"
COMPONENTS: list[type[pulumi.ComponentResource]] = [
    getattr(aisb, name) for name in aisb.__all__ if not name.endswith("Args")
]


def version() -> str:
    """The package version: aisb's, as pyproject.toml declares it."""
    try:
        return _installed_version("aisb")
    except PackageNotFoundError:  # pragma: no cover - aisb run from a source tree
        import tomllib
        from pathlib import Path

        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        return str(tomllib.loads(pyproject.read_text())["project"]["version"])
