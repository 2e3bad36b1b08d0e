"""How long the whole test suite takes, with the machine and the date.

    uv run python benchmarks/suite.py [--durations N] [--limit SECONDS] [-- PYTEST-ARGS...]

Runs ``pytest`` once, the way a contributor does (``uv run pytest``: the options in
``pyproject.toml``, two xdist workers on a 2-core machine), in a fresh interpreter. It prints
the machine (host, CPU model, cores, load average before and after), the date (UTC), the wall
clock time, and the CPU time (user + sys) of pytest and every process it started: the CPU time
moves less than the wall clock when other work shares the machine, so compare both. Then the
``--durations`` slowest phases as pytest reports them, and pytest's summary line. With
``--limit`` it exits 1 when the wall clock time is above it (the suite's budget is 60 s).
Arguments after ``--`` go to pytest (``-- -n 0``, ``-- -m "not slow"``).

Where ``PYTHONDONTWRITEBYTECODE`` is set (some containers set it), every process (each xdist
worker, each command the end-to-end tests start) compiles Pulumi's providers, moto and cfn-lint
from source, about 30 % of the suite's CPU time on a 2-core machine. The script says which it
measured; to measure with a bytecode cache kept outside the tree:
``env -u PYTHONDONTWRITEBYTECODE PYTHONPYCACHEPREFIX=/tmp/aisb-pyc uv run python
benchmarks/suite.py`` (the first run fills the cache).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    """The CPU's model name, from /proc/cpuinfo where there is one."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--durations", type=int, default=40)
    parser.add_argument("--limit", type=float, default=None)
    parser.add_argument("pytest_args", nargs="*")
    options = parser.parse_args()

    command = [
        sys.executable,
        "-m",
        "pytest",
        f"--durations={options.durations}",
        "-p",
        "no:cacheprovider",
        *options.pytest_args,
    ]
    print(f"date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"machine: {platform.node()}, {cpu_model()}, {os.cpu_count()} cores, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )
    print(f"command: {' '.join(command[2:])}")
    # Without a bytecode cache every process compiles Pulumi's providers from source again.
    bytecode = "off (PYTHONDONTWRITEBYTECODE is set)" if sys.flags.dont_write_bytecode else "on"
    print(f"bytecode cache: {bytecode}")
    print(f"load average before (1, 5, 15 min): {load()}")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    user = after.ru_utime - before.ru_utime
    system = after.ru_stime - before.ru_stime
    print(f"load average after (1, 5, 15 min): {load()}")

    lines = result.stdout.splitlines()
    print(f"slowest {options.durations} (setup, call or teardown of one test, wall clock):")
    for line in lines:
        if re.match(r"\d+\.\d+s (setup|call|teardown) ", line):
            print(f"  {line}")
    summary = [line for line in lines if " passed" in line or " failed" in line]
    outcome = summary[-1].strip("= ") if summary else "no summary"
    print(f"pytest: {outcome} (exit {result.returncode})")
    if result.returncode:
        print(result.stdout[-4000:], result.stderr[-2000:], sep="\n")
    print(f"wall clock: {wall:.1f} s")
    print(
        f"CPU (pytest and its processes): user {user:.1f} s + sys {system:.1f} s = "
        f"{user + system:.1f} s"
    )
    if result.returncode:
        return result.returncode
    return 0 if options.limit is None or wall <= options.limit else 1


if __name__ == "__main__":
    sys.exit(main())
