"""A consumer's installation of a built wheel, made offline: the wheel's own files plus exactly
the distributions its ``Requires-Dist`` needs without extras (followed through every
dependency's metadata), linked from this environment into a site folder of its own. Run with
the base interpreter and ``-I -S``, nothing else of this environment is importable."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(
    requirements: Iterable[str], extras: Iterable[str] = ()
) -> dict[str, metadata.Distribution]:
    """Every installed distribution ``requirements`` need, by normalised name."""
    found: dict[str, metadata.Distribution] = {}
    pending = [(Requirement(r), frozenset(extras)) for r in requirements]
    while pending:
        req, wanted = pending.pop()
        env: dict[str, str] = {str(k): str(v) for k, v in default_environment().items()}
        if req.marker is not None and not any(
            req.marker.evaluate({**env, "extra": e}) for e in (wanted or {""})
        ):
            continue
        name = _norm(req.name)
        if name in found:
            continue
        dist = metadata.distribution(req.name)
        found[name] = dist
        pending += [(Requirement(r), frozenset(req.extras)) for r in dist.requires or []]
    return found


def wheel_requirements(wheel: Path) -> list[str]:
    """The wheel's ``Requires-Dist`` lines."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(name).decode()
    return [
        line.split(":", 1)[1].strip()
        for line in text.splitlines()
        if line.startswith("Requires-Dist:")
    ]


def size_mb(dists: Iterable[metadata.Distribution]) -> float:
    """The installed size of ``dists``, from their RECORD files."""
    total = 0
    for dist in dists:
        for file in dist.files or []:
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                total += path.stat().st_size
    return total / 1e6


def install(wheel: Path, site: Path) -> dict[str, metadata.Distribution]:
    """Extract ``wheel`` into ``site`` and link the distributions it needs there; returns them."""
    site.mkdir(parents=True, exist_ok=True)
    zipfile.ZipFile(wheel).extractall(site)
    dists = closure(wheel_requirements(wheel))
    for dist in dists.values():
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops:
            source = Path(str(dist.locate_file(top)))
            target = site / top
            if source.exists() and not target.exists():
                target.symlink_to(source)
    return dists


def run(site: Path, code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``code`` under the base interpreter with only the standard library and ``site``."""
    base = getattr(sys, "_base_executable", sys.executable)
    prelude = f"import sys; sys.path.insert(0, {str(site)!r})\n"
    return subprocess.run(
        [base, "-I", "-S", "-c", prelude + code],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


def build_wheel(root: Path, out: Path) -> Path:
    """The project's wheel, built in-process by its build backend (no network)."""
    from hatchling.builders.wheel import WheelBuilder

    (built,) = WheelBuilder(str(root)).build(directory=str(out), versions=["standard"])
    return Path(built)
