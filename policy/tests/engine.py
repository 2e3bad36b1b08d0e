"""The pack started as Pulumi starts a Python policy pack (``python -u -m pulumi.policy
<engine> <pack dir>``: it prints its port), and resources sent to it over gRPC as the engine
marshals them: ``google.protobuf.Struct`` properties (numbers become floats), secrets as the
signature object, values not known at preview as the unknown sentinel.

The marshalling follows pulumi-policy's own reading of it
(``.venv/lib/python3.11/site-packages/pulumi_policy/deserialize.py:23-75``,
``proxy.py:19-52``).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from aisb_guard import ABOUT
from google.protobuf import struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

PACK = Path(__file__).resolve().parents[1]

SIG = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
"""The engine sends every value not known at preview as this string sentinel."""


def secret(value: Any) -> dict[str, Any]:
    """A value as the engine sends a secret."""
    return {SIG: SECRET_SIG, "value": value}


@contextmanager
def started_pack() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:0", str(PACK)],
        cwd=PACK,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline().strip())
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=30)
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        process.kill()
        process.wait(timeout=30)


def struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(dict(value))
    return s


def urn(type_: str, name: str, parents: Sequence[str] = ()) -> str:
    return f"urn:pulumi:dev::app::{'$'.join([*parents, type_])}::{name}"


@dataclass
class Resource:
    """One resource as the engine describes it to a stack policy."""

    type: str
    name: str
    props: Mapping[str, Any]
    depends: Mapping[str, Sequence[Resource]] = field(default_factory=dict)
    parents: Sequence[str] = ()

    @property
    def urn(self) -> str:
        return urn(self.type, self.name, self.parents)

    def message(self) -> analyzer_pb2.AnalyzerResource:
        deps = {
            key: analyzer_pb2.AnalyzerPropertyDependencies(urns=[d.urn for d in sources])
            for key, sources in self.depends.items()
        }
        return analyzer_pb2.AnalyzerResource(
            type=self.type,
            properties=struct(self.props),
            urn=self.urn,
            name=self.name,
            dependencies=sorted({d.urn for s in self.depends.values() for d in s}),
            propertyDependencies=deps,
        )


@dataclass(frozen=True)
class Diagnostic:
    policy: str
    message: str
    urn: str
    mandatory: bool


def _diagnostics(response: analyzer_pb2.AnalyzeResponse) -> list[Diagnostic]:
    return [
        Diagnostic(d.policyName, d.message, d.urn, d.enforcementLevel == analyzer_pb2.MANDATORY)
        for d in response.diagnostics
    ]


def analyze(
    stub: analyzer_pb2_grpc.AnalyzerStub, resources: Sequence[Resource]
) -> list[Diagnostic]:
    """What the pack reports on these resources: each one through ``Analyze`` (the resource
    rules, as at each registration), then all of them through ``AnalyzeStack`` (the stack
    rules, as at the end of a preview or update)."""
    found: list[Diagnostic] = []
    for r in resources:
        request = analyzer_pb2.AnalyzeRequest(
            type=r.type, properties=struct(r.props), urn=r.urn, name=r.name
        )
        found += [
            Diagnostic(d.policy, d.message, d.urn or r.urn, d.mandatory)
            for d in _diagnostics(stub.Analyze(request, timeout=30))
        ]
    stack = analyzer_pb2.AnalyzeStackRequest(resources=[r.message() for r in resources])
    return found + _diagnostics(stub.AnalyzeStack(stack, timeout=30))


@contextmanager
def configured(
    stub: analyzer_pb2_grpc.AnalyzerStub, config: Mapping[str, Mapping[str, Any]]
) -> Iterator[None]:
    """The pack configured as ``--policy-pack-config`` configures it, then reset."""

    levels = {a.id: a.enforcement.value for a in ABOUT}

    def request(c: Mapping[str, Mapping[str, Any]]) -> analyzer_pb2.ConfigureAnalyzerRequest:
        return analyzer_pb2.ConfigureAnalyzerRequest(
            policyConfig={
                name: analyzer_pb2.PolicyConfig(
                    enforcementLevel=(
                        analyzer_pb2.MANDATORY
                        if levels[name] == "mandatory"
                        else analyzer_pb2.ADVISORY
                    ),
                    properties=struct(props),
                )
                for name, props in c.items()
            }
        )

    stub.Configure(request(config), timeout=30)
    try:
        yield
    finally:
        stub.Configure(analyzer_pb2.ConfigureAnalyzerRequest(), timeout=30)
