"""Fixtures. The harness they use (the recording mock engine, the Pulumi CLI's handling of
stack files, the linters) is the package ``tests.harness``."""

from __future__ import annotations

import pytest

from tests.harness import Recording, run_main, stack_config, stack_files, stack_name
from tests.harness.caches import share_botocore_loader

share_botocore_loader()


@pytest.fixture(scope="session")
def stack_recordings() -> dict[str, Recording]:
    """Every stack file in stacks/, run once through the real program."""
    recordings = {}
    for path in stack_files():
        config = stack_config(path)
        recordings[stack_name(path)] = run_main(
            config, region=config["aws:region"], stack=stack_name(path)
        )
    return recordings
