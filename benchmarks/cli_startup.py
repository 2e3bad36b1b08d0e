"""How long ``aisb --help`` and an argument error take, as a ratio to a bare ``python -c pass``
measured in the same run with the same interpreter.

    uv run python benchmarks/cli_startup.py [--runs N] [--limit RATIO]

Each command runs ``--runs`` times in a fresh interpreter; the fastest run of each is kept (the
least disturbed by other work on the machine). It prints one line per command; with
``--limit`` (the ``aisb`` command's budget is 5) it exits 1 when a ratio is above it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from machine import print_header

ROOT = Path(__file__).resolve().parent.parent
COMMANDS: dict[str, list[str]] = {
    "python -c pass": ["-c", "pass"],
    "aisb --help": ["-m", "aisb_tools.cli", "--help"],
    "aisb preflight (no --stack)": ["-m", "aisb_tools.cli", "preflight"],
}


def fastest(args: list[str], runs: int) -> float:
    """The fastest of ``runs`` runs of ``python <args>``, in seconds."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--limit", type=float, default=None)
    options = parser.parse_args()
    print_header()
    times = {name: fastest(args, options.runs) for name, args in COMMANDS.items()}
    bare = times.pop("python -c pass")
    print(f"python -c pass: {bare * 1000:.0f} ms")
    worst = 0.0
    for name, seconds in times.items():
        ratio = seconds / bare
        worst = max(worst, ratio)
        print(f"{name}: {seconds * 1000:.0f} ms, {ratio:.1f}x a bare Python start")
    return 0 if options.limit is None or worst <= options.limit else 1


if __name__ == "__main__":
    sys.exit(main())
