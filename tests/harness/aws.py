"""Real boto3 clients answered by botocore's Stubber (which also checks every request against
the AWS service models), for the ``aisb`` command's checks; and moto in the test's process,
for the Lambda functions' tests."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@contextmanager
def moto_in_process(monkeypatch: pytest.MonkeyPatch, region: str) -> Iterator[None]:
    """moto answering every boto3 client of this process, which finds test credentials and
    ``region`` in its environment as a Lambda function finds its own."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CREDENTIALS["aws_secret_access_key"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    with mock_aws():
        yield


class StubbedClients:
    """One stubbed client per service, all in us-east-1."""

    def __init__(self, services: Iterable[str]) -> None:
        self.clients = {
            s: boto3.client(s, region_name="us-east-1", **CREDENTIALS) for s in services
        }
        self.stubs = {s: Stubber(c) for s, c in self.clients.items()}
        for stub in self.stubs.values():
            stub.activate()

    def ok(self, service: str, method: str, response: dict[str, Any], params: Any = None) -> None:
        """The next ``method`` call answers ``response`` (and must send ``params``)."""
        self.stubs[service].add_response(method, response, params)

    def error(self, service: str, method: str, code: str) -> None:
        """The next ``method`` call fails with ``code``."""
        self.stubs[service].add_client_error(method, code, "said no", 400)

    def tagged(self, arns: list[str], control: str | None = None, kind: str | None = None) -> None:
        """The next tag search finds ``arns`` (and, when given, asks for that control and type)."""
        params = (
            {
                "TagFilters": [{"Key": "aisb:control", "Values": [control]}],
                "ResourceTypeFilters": [kind],
            }
            if control
            else None
        )
        self.ok(
            "resourcegroupstaggingapi",
            "get_resources",
            {"ResourceTagMappingList": [{"ResourceARN": a} for a in arns]},
            params,
        )

    def verify(self) -> None:
        """Every answer given was asked for."""
        for stub in self.stubs.values():
            stub.assert_no_pending_responses()


class MotoAndStubs(StubbedClients):
    """Clients answered by moto in-process (``moto.mock_aws``, started by the caller) for
    ``moto_services``, and by Stubber for ``stubbed`` (APIs moto lacks), all in ``region``."""

    def __init__(
        self, moto_services: Iterable[str], stubbed: Iterable[str], region: str = "us-east-1"
    ) -> None:
        self.clients = {
            s: boto3.client(s, region_name=region, **CREDENTIALS)
            for s in (*moto_services, *stubbed)
        }
        self.stubs = {s: Stubber(self.clients[s]) for s in stubbed}
        for stub in self.stubs.values():
            stub.activate()
