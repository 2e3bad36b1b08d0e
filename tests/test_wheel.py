"""The built wheel carries what the components ship: the Lambda source, the device handler the
device-log job runs, and the licence; installed from the wheel, ``device_handler()`` finds it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from aisb.handlers import COLLECT_DEVICE_LOGS, ROTATE_CERTIFICATE, device_handler

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hatchling.builders.wheel import WheelBuilder

    out = tmp_path_factory.mktemp("dist")
    (built,) = WheelBuilder(str(ROOT)).build(directory=str(out), versions=["standard"])
    return Path(built)


def test_the_wheel_ships_the_handlers_and_the_licence(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert f"aisb/_device/{COLLECT_DEVICE_LOGS}" in names
    assert "aisb/functions/cert_rotation/handler.py" in names
    assert f"aisb/_device/{ROTATE_CERTIFICATE}" in names
    for lambda_file in ("handler.py", "csr.py", "protocol.py"):
        assert f"aisb/functions/cert_rotator/{lambda_file}" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    packaged = zipfile.ZipFile(wheel).read(f"aisb/_device/{COLLECT_DEVICE_LOGS}")
    assert packaged == (ROOT / "device" / COLLECT_DEVICE_LOGS).read_bytes()


def test_installed_from_the_wheel_the_handler_is_found_in_the_package(
    wheel: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    found = subprocess.run(
        [
            sys.executable,
            "-c",
            "import aisb, aisb.handlers as h; print(aisb.__file__); print(h.device_handler())",
        ],
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert found == [
        str(site / "aisb" / "__init__.py"),
        str(site / "aisb" / "_device" / COLLECT_DEVICE_LOGS),
    ]


def test_in_a_checkout_the_handler_is_the_source_file() -> None:
    assert device_handler() == ROOT / "device" / COLLECT_DEVICE_LOGS


@pytest.mark.parametrize("name", ["", "..", "../pyproject.toml", "missing.py"])
def test_anything_but_a_shipped_handler_name_is_refused(name: str) -> None:
    with pytest.raises((ValueError, FileNotFoundError), match=repr(name).strip("'\"")[:3] or "''"):
        device_handler(name)
