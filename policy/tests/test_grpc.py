"""The pack started as Pulumi starts a Python policy pack (``python -u -m pulumi.policy
<engine> <pack dir>``: it prints its port) and asked over gRPC, as the engine asks it."""

from __future__ import annotations

import json
from typing import Any

from aisb_guard import ABOUT
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(value)
    return s


def test_the_pack_describes_every_rule(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    assert info.name == "aisb-guard"
    levels = {p.name: p.enforcementLevel for p in info.policies}
    assert set(levels) == {a.id for a in ABOUT}
    mandatory = {a.id for a in ABOUT if a.enforcement.value == "mandatory"}
    assert {n for n, level in levels.items() if level == analyzer_pb2.MANDATORY} == mandatory
    remediation = {p.name: p.remediation_steps for p in info.policies}
    assert all(remediation[a.id] == a.remediation for a in ABOUT)
    # Each rule announces its exemptions, so the engine accepts them in --policy-pack-config.
    for p in info.policies:
        exemptions = p.configSchema.properties["exemptions"]
        assert exemptions["type"] == "array" and exemptions["items"]["type"] == "string"


def test_a_bad_iot_policy_is_refused_over_grpc(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    doc = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}],
    }
    request = analyzer_pb2.AnalyzeRequest(
        type="aws:iot/policy:Policy",
        properties=_struct({"policy": json.dumps(doc), "name": "fleet"}),
        urn="urn:pulumi:dev::app::aws:iot/policy:Policy::fleet",
        name="fleet",
    )
    response = analyzer.Analyze(request, timeout=30)
    (diagnostic,) = response.diagnostics
    assert diagnostic.policyName == "aisb-iot-policy-overly-permissive"
    assert diagnostic.enforcementLevel == analyzer_pb2.MANDATORY
    assert "allows iot:*" in diagnostic.message


def test_a_good_resource_passes_over_grpc(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    request = analyzer_pb2.AnalyzeRequest(
        type="aws:iot/roleAlias:RoleAlias",
        properties=_struct({"alias": "devices", "roleArn": "arn", "credentialDuration": 900}),
        urn="urn:pulumi:dev::app::aws:iot/roleAlias:RoleAlias::devices",
        name="devices",
    )
    assert list(analyzer.Analyze(request, timeout=30).diagnostics) == []


def test_a_stack_rule_runs_over_grpc(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    def attachment(i: int) -> analyzer_pb2.AnalyzerResource:
        return analyzer_pb2.AnalyzerResource(
            type="aws:iot/thingPrincipalAttachment:ThingPrincipalAttachment",
            properties=_struct({"principal": "arn:aws:iot:eu-west-1:1:cert/abc", "thing": f"t{i}"}),
            urn=f"urn:pulumi:dev::app::aws:iot/thingPrincipalAttachment:ThingPrincipalAttachment::a{i}",
            name=f"a{i}",
        )

    request = analyzer_pb2.AnalyzeStackRequest(resources=[attachment(0), attachment(1)])
    (diagnostic,) = analyzer.AnalyzeStack(request, timeout=30).diagnostics
    assert diagnostic.policyName == "aisb-certificate-not-shared"
    assert diagnostic.enforcementLevel == analyzer_pb2.ADVISORY
