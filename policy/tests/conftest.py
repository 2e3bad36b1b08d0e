"""The pack, started once for the session as Pulumi starts it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pulumi.runtime.proto import analyzer_pb2_grpc

from tests.engine import started_pack


@pytest.fixture(scope="session")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    with started_pack() as stub:
        yield stub
