"""Every policy document of every stack, pinned: an action, resource or condition value that
changes (or goes missing) fails here until the reviewed files are regenerated with

    AISB_UPDATE_GOLDEN=1 uv run pytest tests/test_policy_golden.py

and the change shows in the pull request's diff of ``tests/golden/``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.harness import ROOT, Recording, policy_documents, stack_files, stack_name

GOLDEN = ROOT / "tests" / "golden"
STACKS = [stack_name(p) for p in stack_files()]


def policies(recording: Recording) -> dict[str, object]:
    """``resource.input`` -> document, for every policy document the stack registers."""
    return {
        f"{p.resource.name}.{p.input}": p.document
        for p in sorted(policy_documents(recording), key=lambda p: (p.resource.name, p.input))
    }


def render(recording: Recording) -> str:
    return json.dumps(policies(recording), indent=2, sort_keys=True) + "\n"


@pytest.mark.parametrize("stack", STACKS)
def test_policy_documents_are_the_reviewed_ones(
    stack: str, stack_recordings: dict[str, Recording]
) -> None:
    path: Path = GOLDEN / f"policies-{stack}.json"
    text = render(stack_recordings[stack])
    if os.environ.get("AISB_UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert path.exists(), f"{path.name} is missing: regenerate (see this module's docstring)"
    assert path.read_text() == text, f"{path.name} differs: review, then regenerate"


def test_the_golden_files_are_exactly_the_stacks() -> None:
    assert sorted(p.name for p in GOLDEN.glob("policies-*.json")) == sorted(
        f"policies-{s}.json" for s in STACKS
    )
