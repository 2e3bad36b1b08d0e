"""The first line every benchmark prints: which machine measured it, and when, so a figure
copied into the docs says where it came from."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime


def describe() -> str:
    """``machine: <system> <arch>, <n> cores, <cpu>, Python <v>; date: <UTC time>``."""
    cpu = platform.processor() or "unknown processor"
    try:
        with open("/proc/cpuinfo") as info:
            names = [
                line.split(":", 1)[1].strip() for line in info if line.startswith("model name")
            ]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return (
        f"machine: {platform.system()} {platform.machine()}, {os.cpu_count()} cores, {cpu}, "
        f"Python {platform.python_version()}; "
        f"date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}"
    )


def print_header() -> None:
    print(describe(), flush=True)
