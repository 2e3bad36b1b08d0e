"""The recording mock engine (``aisb.mockengine``, shared with ``aisb plan``) and where the
project's files are."""

from __future__ import annotations

from pathlib import Path

from aisb.mockengine import (
    ACCOUNT,
    FakeAws,
    Recording,
    RecordingMonitor,
    Registration,
    run,
    run_program,
)

ROOT = Path(__file__).resolve().parents[2]
STACKS_DIR = ROOT / "stacks"

__all__ = [
    "ACCOUNT",
    "ROOT",
    "STACKS_DIR",
    "FakeAws",
    "Recording",
    "RecordingMonitor",
    "Registration",
    "run",
    "run_program",
]
