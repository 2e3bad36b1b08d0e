"""What the aisb Pulumi package serves: its name, its components and its version.

``provider/__main__.py`` hosts them with Pulumi's component provider, which infers the package
schema from each component's ``Args``; the tests analyse the same provider.
"""

import inspect
import json
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _installed_version
from typing import Any

import pulumi
from pulumi.provider.experimental.component import ComponentProvider

import aisb

NAME = "aisb"
NAMESPACE = "aisb"
"""The package's namespace in its schema, so the SDKs that ``pulumi package add`` generates
have the same names wherever the package comes from (a path or a git URL): TypeScript
``@aisb/aisb`` (pulumi/pulumi pkg/codegen/nodejs/gen.go: ``"@" + Namespace + "/" + Name``),
Python ``aisb_aisb`` (pkg/codegen/python/gen.go ``PyPack``), Go
``github.com/aisb/pulumi-aisb`` (pkg/codegen/go/gen.go)."""
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


def clean_descriptions(value: Any) -> Any:
    """The schema with every ``description`` dedented as Python dedents a docstring.

    Pulumi's analyzer copies attribute docstrings verbatim, so a description written over
    several lines keeps its source indentation; SDK generators render Markdown, where four
    leading spaces turn the text into a code block.
    """
    if isinstance(value, dict):
        return {
            key: inspect.cleandoc(item)
            if key == "description" and isinstance(item, str)
            else clean_descriptions(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [clean_descriptions(item) for item in value]
    return value


class AisbProvider(ComponentProvider):
    """Pulumi's component provider for aisb's components, with clean descriptions."""

    def __init__(self) -> None:
        super().__init__(COMPONENTS, NAME, NAMESPACE, version=version())
        assert self.schema is not None
        self.schema = json.dumps(clean_descriptions(with_exposed_docs(json.loads(self.schema))))


def with_exposed_docs(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with the baseline's exposed arguments described as their children describe
    them: the baseline declares each only once (``aisb.baseline.EXPOSURES``), so the analyzer
    finds no docstring of its own for them."""
    from aisb.baseline import arg_docs
    from aisb.options import camel

    token = f"{NAME}:index:IotSecurityBaseline"
    inputs = schema["resources"][token]["inputProperties"]
    for field, doc in arg_docs().items():
        prop = inputs.get(camel(field))
        if prop is not None and not prop.get("description"):
            prop["description"] = doc
    return schema
