"""Stack files as the Pulumi CLI hands them to the program, and the real program run on them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aisb_tools.stackfile import StackFileError, project_file, stack_config, stack_name
from aisb_tools.stackfile import stack_files as _stack_files
from tests.harness.mocks import ROOT, Recording, run_program

__all__ = ["project_file", "stack_config", "stack_name"]

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


# --- stack files, as `pulumi up` receives them: the package's own reader ------------------

CliConfigError = StackFileError


def stack_files() -> list[Path]:
    return _stack_files(ROOT)


def run_main(config: dict[str, str], **kwargs: Any) -> Recording:
    """Run the real ``__main__.py`` with ``config``."""
    return run_program(ROOT / "__main__.py", config, **kwargs)


def copy_project(dest: Path, *, stacks: bool = True) -> Path:
    """A copy of the project (``Pulumi.yaml``, the program and, unless ``stacks`` is False, an
    empty ``stacks/`` instead of the stack files) in ``dest/project``, to edit in a test."""
    import shutil

    root = dest / "project"
    root.mkdir(parents=True)
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(ROOT / name, root / name)
    if stacks:
        shutil.copytree(ROOT / "stacks", root / "stacks")
    else:
        (root / "stacks").mkdir()
    return root
