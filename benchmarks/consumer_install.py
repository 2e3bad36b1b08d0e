"""What a consumer's project gets from aisb, before (0.1.0: the command's and the fleet's
dependencies unconditional) and now (the library's own), and how long ``import aisb`` takes.

    uv run --group dev python benchmarks/consumer_install.py [--runs N]

Installs are resolved offline from the distributions of this environment, following each
one's metadata from the wheel's ``Requires-Dist`` (tests/harness/consumer.py): packages and
installed megabytes. Import times are the median of N fresh interpreters, 0.1.0's code taken
from git (commit f3fa624) and run with this environment's packages, so both share one machine
and one moment; shown with the ratio to a bare ``python -c pass``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from machine import print_header  # noqa: E402

from tests.harness.consumer import build_wheel, closure, size_mb, wheel_requirements  # noqa: E402

BEFORE = "f3fa624"
"""The last commit of 0.1.0's layout."""
BEFORE_REQUIREMENTS = [
    "boto3>=1.35",
    "pulumi>=3.200,<4",
    "pulumi-aws>=7.0,<8",
    "pulumi-aws-native>=1.80,<2",
    "pulumi-pulumiservice==1.5.0",
    "pulumiverse-time>=0.1.1,<1",
    "pyyaml>=6",
    "rich>=13",
    "typer>=0.12",
]
"""0.1.0's ``[project] dependencies`` (git show f3fa624:pyproject.toml)."""


def _import_time(code: str, cwd: Path, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=cwd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    print_header()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        wheel = build_wheel(ROOT, tmp / "dist")
        before = closure(BEFORE_REQUIREMENTS)
        after = closure(wheel_requirements(wheel))
        print(
            f"install before (0.1.0): {len(before) + 1} packages, {size_mb(before.values()):.0f} MB"
        )
        print(
            f"install now:            {len(after) + 1} packages, {size_mb(after.values()):.0f} MB"
        )
        print(f"  no longer installed: {', '.join(sorted(set(before) - set(after)))}")

        old = tmp / "before"
        old.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", BEFORE, "aisb"], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
        bare = _import_time("pass", tmp, runs)
        figures = {
            "python -c pass": bare,
            "import aisb (0.1.0)": _import_time("import aisb", old, runs),
            "import aisb (now)": _import_time("import aisb", ROOT, runs),
            "from aisb import IotSecurityBaseline (0.1.0)": _import_time(
                "from aisb import IotSecurityBaseline", old, runs
            ),
            "from aisb import IotSecurityBaseline (now)": _import_time(
                "from aisb import IotSecurityBaseline", ROOT, runs
            ),
        }
        for name, seconds in figures.items():
            print(f"{name:48} {seconds * 1000:7.0f} ms  {seconds / bare:5.1f}x a bare start")


if __name__ == "__main__":
    main()
