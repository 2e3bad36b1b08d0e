"""Benchmark of the organisation rollout on a large inventory.

    uv run python benchmarks/fleet_scale.py [--accounts 100 --regions 5]

Builds an inventory of ``accounts x regions`` targets (500 by default) and prints, each the
best of three runs: loading it (every target validated through the program's settings),
rendering every stack file, and the fleet program registering its resources under Pulumi's
mock engine (a stack, Deployments settings and a drift schedule per target, one policy
group). Each is also given as a ratio to a baseline measured in the same run: YAML-dumping
the same stack files, the floor any renderer pays. Target: the 500-target inventory loads,
renders and registers in well under a minute on a 2-core machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from machine import print_header

from aisb.mockengine import Recording, run_program
from aisb_tools import fleet

REGIONS = [
    "us-east-1",
    "us-east-2",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "eu-north-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "ca-central-1",
    "sa-east-1",
]
ROOT = Path(__file__).resolve().parents[1]


def inventory(accounts: int, regions: int) -> dict[str, Any]:
    return {
        "organization": "acme",
        "repository": "https://github.com/acme/iot-baseline.git",
        "deployRole": "aisb-deployer",
        "defaults": {"alertEmails": ["secops@example.com"], "cloudTrail": True},
        "accounts": [
            {
                "id": f"{100000000000 + i}",
                "name": f"team-{i:03d}",
                "homeRegion": REGIONS[0],
                "regions": REGIONS[:regions],
                "config": {"certMaxAgeDays": 365 + i},
                "regionConfig": {REGIONS[1]: {"iotLogLevel": "INFO"}} if regions > 1 else {},
            }
            for i in range(accounts)
        ],
    }


def best(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def register(path: Path) -> Recording:
    return run_program(
        ROOT / "fleet" / "__main__.py",
        {"aisb-fleet:inventory": str(path)},
        project="aisb-fleet",
        stack="org",
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--regions", type=int, default=5, choices=range(1, len(REGIONS) + 1))
    args = parser.parse_args()
    print_header()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fleet.yaml"
        path.write_text(yaml.safe_dump(inventory(args.accounts, args.regions)))
        load_s, loaded = best(lambda: fleet.load(path))
        render_s, files = best(lambda: fleet.render(loaded, path.name))
        bodies = [yaml.safe_load(text) for text in files.values()]
        baseline_s, _ = best(lambda: [yaml.safe_dump(b, sort_keys=False) for b in bodies])
        register_s, recording = best(lambda: register(path), repeat=1)
    targets = len(loaded.targets)
    print(f"targets: {targets} ({args.accounts} accounts x {args.regions} regions)")
    print(f"baseline (YAML-dump {targets} stack files): {baseline_s:.3f} s")
    for label, seconds in (
        ("load and validate", load_s),
        ("render", render_s),
        ("fleet program registers", register_s),
    ):
        print(
            f"{label}: {seconds:.3f} s, {seconds / targets * 1000:.2f} ms per target, "
            f"{seconds / baseline_s:.1f}x baseline"
        )
    print(f"resources registered: {len(recording.resources)} (expected {3 * targets + 1})")


if __name__ == "__main__":
    main()
