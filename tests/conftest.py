"""Fixtures. The harness they use (the recording mock engine, the Pulumi CLI's handling of
stack files, the linters) is the package ``tests.harness``.

The harness is imported by the fixtures, not here: pytest-xdist's controller, which runs no
test, loads this file too, and need not load Pulumi."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.harness import Recording


@pytest.fixture(scope="session", autouse=True)
def _shared_botocore_loader() -> None:
    """botocore's data files parsed once per worker (tests.harness.caches)."""
    from tests.harness.caches import share_botocore_loader

    share_botocore_loader()


@pytest.fixture(scope="session", autouse=True)
def _no_source_positions() -> None:
    """Renders without the stack trace the mock engine drops (tests.harness.caches)."""
    from tests.harness.caches import skip_source_positions

    skip_source_positions()


@pytest.fixture(scope="session")
def stack_recordings() -> dict[str, Recording]:
    """Every stack file in stacks/, run once through the real program."""
    from tests.harness import run_main, stack_config, stack_files, stack_name

    recordings = {}
    for path in stack_files():
        config = stack_config(path)
        recordings[stack_name(path)] = run_main(
            config, region=config["aws:region"], stack=stack_name(path)
        )
    return recordings


@pytest.fixture(scope="session")
def _moto_server() -> Iterator[str]:
    """One moto server on 127.0.0.1 per worker (it answers from the same in-process state as
    ``moto.mock_aws``: https://docs.getmoto.org/en/latest/docs/server_mode.html)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def moto_server(_moto_server: str) -> str:
    """The worker's moto server's endpoint, every account and region emptied for this test
    (moto's reset API, ``POST /moto-api/reset``: moto/moto_api/_internal/urls.py)."""
    request = urllib.request.Request(f"{_moto_server}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200
    return _moto_server


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow end-to-end tests first (in their order, then the others in theirs): xdist hands
    out tests in this order, so a test of several seconds never starts last and ends the run
    alone on one core."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def _one_rsa_key_per_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's CreateKeysAndCertificate makes a 2048-bit RSA key for every certificate (tens of
    milliseconds each; a fleet of 200 in a test is seconds). Its certificates stay distinct with
    one key: each has a random serial number (moto/iot/models.py, _generate_certificate_pem).
    Keys made by the code under test (CSRs, device keys) do not come through here."""
    from moto.iot import models

    real = models.rsa
    made: dict[tuple[int, int], Any] = {}

    class _MotosRsa:
        """moto's view of the rsa module only: everything else keeps the real one."""

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        @staticmethod
        def generate_private_key(public_exponent: int, key_size: int, backend: Any = None) -> Any:
            key = (public_exponent, key_size)
            if key not in made:
                made[key] = real.generate_private_key(
                    public_exponent=public_exponent, key_size=key_size
                )
            return made[key]

    monkeypatch.setattr(models, "rsa", _MotosRsa())


def pytest_unconfigure(config: pytest.Config) -> None:
    """Nothing is collected after the session: the interpreter's collections at exit would walk
    every object the session made again (seconds, for a worker that keeps hundreds of renders),
    so the survivors are frozen out of them (``gc.freeze``)."""
    import gc

    gc.freeze()
