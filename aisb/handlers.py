"""The handlers aisb's IoT jobs run on devices, shipped with the package.

``DeviceLogCollection``'s job template runs ``collect-device-logs.py`` on each device (AWS IoT
Device Client's job handler directory). Install it from the package you deploy with, so the
device runs the handler the job document was written for::

    python -c "from aisb.handlers import device_handler; print(device_handler())"
"""

from __future__ import annotations

from pathlib import Path

COLLECT_DEVICE_LOGS = "collect-device-logs.py"
"""The device-log collection handler (AISB #10)."""
ROTATE_CERTIFICATE = "rotate-certificate.py"
"""The certificate rotation handler (AISB #6): ``CertificateRotation``'s job runs it."""

_PACKAGED = Path(__file__).resolve().parent / "_device"
"""Where a built wheel keeps them (``[tool.hatch.build.targets.wheel.force-include]``)."""
_SOURCE = Path(__file__).resolve().parent.parent / "device"
"""Where a source checkout (an editable install) keeps them."""


def device_handler(name: str = COLLECT_DEVICE_LOGS) -> Path:
    """The path of the device handler ``name``, in the installed package or the checkout."""
    if "/" in name or name in ("", ".", ".."):
        raise ValueError(f"device handler {name!r}: give a file name such as {COLLECT_DEVICE_LOGS}")
    for folder in (_PACKAGED, _SOURCE):
        path = folder / name
        if path.is_file():
            return path
    raise FileNotFoundError(f"device handler {name!r} is not in {_PACKAGED} or {_SOURCE}")
