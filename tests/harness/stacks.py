"""Stack files as the Pulumi CLI hands them to the program, and the real program run on them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness.mocks import ROOT, STACKS_DIR, Recording, run

# --- configuration ---------------------------------------------------------------------------

MINIMAL_CONFIG = {
    "aws:region": "us-east-1",
    "aws-native:region": "us-east-1",
    "aisb:alertEmails": '["security@example.com"]',
}


def config_problems(override: dict[str, str]) -> list[str]:
    """The problems settings reports for the minimal configuration with ``override``."""
    from aisb.settings import ConfigError, parse

    with pytest.raises(ConfigError) as err:
        parse({**MINIMAL_CONFIG, **override})
    return err.value.problems


# --- stack files, as `pulumi up` receives them ---------------------------------------------


def project_file(root: Path = ROOT) -> dict[str, Any]:
    return yaml.safe_load((root / "Pulumi.yaml").read_text())


def _raw(value: Any) -> str:
    """A YAML config value as the Pulumi CLI hands it to the program."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value)


class CliConfigError(Exception):
    """What the Pulumi CLI itself refuses before it runs the program."""


_YAML_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "boolean": (bool,),
    "array": (list,),
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


def stack_config(path: Path, root: Path = ROOT, stack: str | None = None) -> dict[str, str]:
    """A stack's config as the Pulumi CLI hands it to the program: the project's declared
    defaults applied and every value a raw string. Like the CLI, refuses a stack that lacks
    a declared key without a default, or gives a declared key a value of another type."""
    project = project_file(root)
    namespace = project["name"]
    stack_name_ = stack or path.name
    values = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    values = {(k if ":" in k else f"{namespace}:{k}"): v for k, v in values.items()}
    config: dict[str, str] = {}
    for key, decl in (project.get("config") or {}).items():
        full = key if ":" in key else f"{namespace}:{key}"
        if not isinstance(decl, dict) or "type" not in decl:
            continue
        if full in values:
            if not _matches(values[full], decl):
                raise CliConfigError(
                    f"Stack '{stack_name_}' with configuration key '{key}' must be of type "
                    f"'{decl['type']}'"
                )
        elif "default" in decl:
            config[full] = _raw(decl["default"])
        else:
            raise CliConfigError(f"Stack '{stack_name_}' is missing configuration value '{key}'")
    for full, value in values.items():
        config[full] = _raw(value)
    return config


def stack_files() -> list[Path]:
    return sorted(STACKS_DIR.glob("Pulumi.*.yaml"))


def stack_name(path: Path) -> str:
    return re.sub(r"^Pulumi\.(.+)\.yaml$", r"\1", path.name)


def run_main(config: dict[str, str], **kwargs: Any) -> Recording:
    """Run the real ``__main__.py`` with ``config``."""
    source = (ROOT / "__main__.py").read_text()
    code = compile(source, str(ROOT / "__main__.py"), "exec")
    return run(lambda: exec(code, {"__name__": "__main__"}), config, **kwargs)
