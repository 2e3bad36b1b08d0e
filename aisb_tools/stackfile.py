"""Stack files as the Pulumi CLI hands them to the program.

The ``aisb`` command reads a stack's configuration without the Pulumi CLI: the project's
declared defaults applied, every value a raw string, and the CLI's own checks (a declared key
missing with no default, a value of another type) made the way the CLI makes them. The tests
load every stack in ``stacks/`` through the same code.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


class StackFileError(Exception):
    """What the Pulumi CLI itself refuses before it runs the program."""


@functools.lru_cache(maxsize=32)
def _parsed(text: str) -> Any:
    return yaml.safe_load(text)


def _yaml(text: str) -> Any:
    """``yaml.safe_load(text)``, parsed once per text: ``Pulumi.yaml`` is read again for every
    stack (tens of milliseconds a parse, most of a stack's config). Each caller gets its own
    copy; a text that does not parse raises each time."""
    return copy.deepcopy(_parsed(text))


def project_file(root: Path = ROOT) -> dict[str, Any]:
    """The project's ``Pulumi.yaml``."""
    project: dict[str, Any] = _yaml((root / "Pulumi.yaml").read_text())
    return project


def stacks_dir(root: Path = ROOT) -> Path:
    """Where the project keeps its stack files (``stackConfigDir``)."""
    return root / str(project_file(root).get("stackConfigDir", "."))


def stack_files(root: Path = ROOT) -> list[Path]:
    """Every stack file of the project."""
    return sorted(stacks_dir(root).glob("Pulumi.*.yaml"))


def stack_name(path: Path) -> str:
    """``Pulumi.prod-us-east-1.yaml`` -> ``prod-us-east-1``."""
    return re.sub(r"^Pulumi\.(.+)\.yaml$", r"\1", path.name)


def stack_path(stack: str, root: Path = ROOT) -> Path:
    """The file of a stack, which must exist."""
    path = stacks_dir(root) / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = ", ".join(stack_name(p) for p in stack_files(root)) or "none"
        raise StackFileError(f"no stack file {path} (stacks: {known})")
    return path


def cli_string(value: Any) -> str:
    """A YAML config value as the Pulumi CLI hands it to the program."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value)


_YAML_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "boolean": (bool,),
    "array": (list,),
    # A map (Pulumi CLI 3.187.0 on: workspace.ValidateConfigValue, `objectTypeName`).
    "object": (dict,),
}


def _matches(value: Any, decl: dict[str, Any]) -> bool:
    kind = decl["type"]
    if kind == "integer" and isinstance(value, bool):
        return False
    if not isinstance(value, _YAML_TYPES[kind]):
        return False
    if isinstance(value, list):
        return all(_matches(v, decl["items"]) for v in value)
    return True


def is_secure(value: Any) -> bool:
    """Whether a stack file value is an encrypted secret (``{secure: ...}``)."""
    return isinstance(value, dict) and set(value) == {"secure"}


def stack_values(path: Path, root: Path = ROOT) -> dict[str, Any]:
    """A stack file's config values as written, keys with their namespace."""
    namespace = project_file(root)["name"]
    values = (_yaml(path.read_text()) or {}).get("config") or {}
    return {(k if ":" in k else f"{namespace}:{k}"): v for k, v in values.items()}


def stack_config(path: Path, root: Path = ROOT, stack: str | None = None) -> dict[str, str]:
    """A stack's config as the Pulumi CLI hands it to the program: the project's declared
    defaults applied and every value a raw string. Like the CLI, refuses a stack that lacks
    a declared key without a default, or gives a declared key a value of another type.
    Encrypted values cannot be read here: they are left out (see ``secret_keys``)."""
    project = project_file(root)
    namespace = project["name"]
    name = stack or path.name
    values = stack_values(path, root)
    config: dict[str, str] = {}
    for key, decl in (project.get("config") or {}).items():
        full = key if ":" in key else f"{namespace}:{key}"
        if not isinstance(decl, dict) or "type" not in decl:
            continue
        if full in values:
            if not is_secure(values[full]) and not _matches(values[full], decl):
                raise StackFileError(
                    f"Stack '{name}' with configuration key '{key}' must be of type "
                    f"'{decl['type']}'"
                )
        elif "default" in decl:
            config[full] = cli_string(decl["default"])
        else:
            raise StackFileError(f"Stack '{name}' is missing configuration value '{key}'")
    for full, value in values.items():
        if not is_secure(value):
            config[full] = cli_string(value)
    return config


def secret_keys(path: Path, root: Path = ROOT) -> set[str]:
    """The keys a stack file holds encrypted."""
    return {k for k, v in stack_values(path, root).items() if is_secure(v)}


SECRET_PLACEHOLDERS = {"aisb:alertEmails": json.dumps(["encrypted@example.com"])}
"""Stand-ins for encrypted values that a stack's settings need (there is no Pulumi here to
decrypt them): checked as present, and kept secret wherever the program uses them."""


def readable_config(
    path: Path, root: Path = ROOT, stack: str | None = None
) -> tuple[dict[str, str], set[str]]:
    """``stack_config`` with each encrypted value that has a stand-in replaced by it, and the
    keys the stack file holds encrypted."""
    config = stack_config(path, root, stack)
    secrets = secret_keys(path, root)
    for key in secrets & SECRET_PLACEHOLDERS.keys():
        config[key] = SECRET_PLACEHOLDERS[key]
    return config, secrets
