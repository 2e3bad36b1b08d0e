"""The table of crafted cases, each with the AWS IoT Device Defender audit page that says what
it flags, sent to the pack over gRPC as the Pulumi engine sends them: both providers' forms,
JSON strings and objects, secret-wrapped values and values not known at preview.

Where the pack is stricter than the audit, the case says so (``stricter``); the policy pack
page's rule table says the same.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aisb_guard import ABOUT
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from pulumi.runtime.proto import analyzer_pb2_grpc

from tests.engine import UNKNOWN, Diagnostic, Resource, analyze, configured, secret
from tests.roca import roca_key

PERMISSIVE = (
    "https://docs.aws.amazon.com/iot-device-defender/latest/devguide/"
    "audit-chk-iot-policy-permissive.html"
)
MISCONFIGURED = "https://docs.aws.amazon.com/iot/latest/developerguide/audit-chk-iot-misconfigured-policies.html"
ROLE_ALIAS = (
    "https://docs.aws.amazon.com/iot-device-defender/latest/devguide/"
    "audit-chk-iot-role-alias-permissive.html"
)
KEY_QUALITY = (
    "https://docs.aws.amazon.com/iot-device-defender/latest/devguide/"
    "audit-chk-device-cert-key-quality.html"
)
CSR_KEYS = "https://docs.aws.amazon.com/iot/latest/apireference/API_CreateCertificateFromCsr.html"
SHARED = (
    "https://docs.aws.amazon.com/iot-device-defender/latest/devguide/"
    "audit-chk-device-cert-shared.html"
)

OVERLY = "aisb-iot-policy-overly-permissive"
DENY = "aisb-iot-policy-deny-mqtt-wildcards"
ROLE = "aisb-role-alias-role-permissions"
NOT_JUDGED = "aisb-not-judged"

A = "arn:aws:iot:us-east-1:111122223333"
THING = "${iot:Connection.Thing.ThingName}"
CRED = "${credentials-iot:ThingName}"
ATTACHED = {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: Any, resource: Any, **more: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **more}


def deny(action: Any, resource: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource}


@dataclass(frozen=True)
class Case:
    id: str
    source: str
    """The AWS page that says what the case is flagged for (or why it is compliant)."""
    doc: dict[str, Any]
    expect: Mapping[str, str] = field(default_factory=dict)
    """Each rule that must report, with a text its message carries; empty: compliant."""
    stricter: bool = False
    """The pack refuses what the audit page does not say it flags."""


IOT_POLICY_CASES = [
    # --- IOT_POLICY_OVERLY_PERMISSIVE_CHECK, the page's own examples, in its order -----------
    Case(
        "connect client/*",
        PERMISSIVE,
        doc(allow("iot:Connect", f"{A}:client/*")),
        {OVERLY: "iot:Connect on"},
    ),
    Case(
        "connect client/${iot:ClientId}",
        PERMISSIVE,
        doc(allow("iot:Connect", f"{A}:client/${{iot:ClientId}}")),
        {OVERLY: "iot:Connect"},
    ),
    Case(
        "connect client/${iot:ClientId} when IsAttached",
        PERMISSIVE,
        doc(allow("iot:Connect", f"{A}:client/${{iot:ClientId}}", Condition=ATTACHED)),
    ),
    Case(
        "connect compliant example",
        PERMISSIVE,
        doc(allow(["iot:Connect"], [f"{A}:client/{THING}"], Condition=ATTACHED)),
    ),
    Case(
        "publish $aws/things/*/shadow/update",
        PERMISSIVE,
        doc(allow("iot:Publish", f"{A}:topic/$aws/things/*/shadow/update")),
        {OVERLY: "iot:Publish on"},
    ),
    Case(
        "publish $aws/things/*",
        PERMISSIVE,
        doc(allow("iot:Publish", f"{A}:topic/$aws/things/*")),
        {OVERLY: "iot:Publish"},
    ),
    Case(
        "publish compliant example",
        PERMISSIVE,
        doc(allow(["iot:Publish"], [f"{A}:topic/$aws/things/{THING}/shadow/*"])),
    ),
    Case(
        "subscribe topicfilter/$aws/things/*",
        PERMISSIVE,
        doc(allow("iot:Subscribe", f"{A}:topicfilter/$aws/things/*")),
        {OVERLY: "iot:Subscribe"},
    ),
    Case(
        "subscribe topicfilter/$aws/things/#",
        PERMISSIVE,
        doc(allow("iot:Subscribe", f"{A}:topicfilter/$aws/things/#")),
        {OVERLY: "iot:Subscribe"},
    ),
    # The page writes this one with topic/; iot:Subscribe is authorized on topicfilter/
    # (https://docs.aws.amazon.com/iot/latest/developerguide/iot-policy-actions.html).
    Case(
        "subscribe $aws/things/+/shadow/update",
        PERMISSIVE,
        doc(allow("iot:Subscribe", f"{A}:topicfilter/$aws/things/+/shadow/update")),
        {OVERLY: "iot:Subscribe"},
    ),
    Case(
        "subscribe compliant example",
        PERMISSIVE,
        doc(
            allow(
                ["iot:Subscribe"],
                [
                    f"{A}:topicfilter/$aws/things/{THING}/shadow/*",
                    f"{A}:topicfilter/$aws/things/{THING}/jobs/*",
                ],
            )
        ),
    ),
    Case(
        "receive $aws/things/* is compliant",
        PERMISSIVE,
        doc(allow("iot:Receive", f"{A}:topic/$aws/things/*")),
    ),
    Case("receive topic/* is compliant", PERMISSIVE, doc(allow("iot:Receive", f"{A}:topic/*"))),
    Case(
        "shadow and job actions on thing/*",
        PERMISSIVE,
        doc(
            allow(
                [
                    "iot:DeleteThingShadow",
                    "iot:GetThingShadow",
                    "iot:UpdateThingShadow",
                    "iot:DescribeJobExecution",
                    "iot:GetPendingJobExecutions",
                    "iot:StartNextPendingJobExecution",
                    "iot:UpdateJobExecution",
                ],
                f"{A}:thing/*",
            )
        ),
        {OVERLY: "iot:GetThingShadow"},
    ),
    Case(
        "shadow and job actions compliant example",
        PERMISSIVE,
        doc(
            allow(
                [
                    "iot:DeleteThingShadow",
                    "iot:GetThingShadow",
                    "iot:UpdateThingShadow",
                    "iot:DescribeJobExecution",
                    "iot:GetPendingJobExecutions",
                    "iot:StartNextPendingJobExecution",
                    "iot:UpdateJobExecution",
                ],
                [f"{A}:thing/MyThing1", f"{A}:thing/MyThing2"],
            )
        ),
    ),
    # --- the same conditions in other spellings ---------------------------------------------
    Case(
        "an action wildcard inside the name",
        PERMISSIVE,
        doc(allow("iot:*Shadow", f"{A}:thing/*")),
        {OVERLY: "iot:UpdateThingShadow"},
    ),
    Case(
        "a wildcard in the ARN's type",
        PERMISSIVE,
        doc(allow("iot:Connect", "arn:aws:iot:*:*:*")),
        {OVERLY: "iot:Connect"},
    ),
    Case("Resource *", PERMISSIVE, doc(allow(["iot:Connect"], "*")), {OVERLY: "iot:Connect"}),
    Case(
        "NotResource",
        PERMISSIVE,
        doc({"Effect": "Allow", "Action": "iot:Publish", "NotResource": f"{A}:topic/admin"}),
        {OVERLY: "NotResource"},
    ),
    Case(
        "a device's own prefix",
        PERMISSIVE,
        doc(allow(["iot:Publish", "iot:Receive"], f"{A}:topic/devices/{THING}/*")),
    ),
    Case("a literal topic", PERMISSIVE, doc(allow("iot:Publish", f"{A}:topic/telemetry"))),
    Case("a quarantine policy denies everything", PERMISSIVE, doc(deny("iot:*", "*"))),
    Case(
        "assume a role alias",
        PERMISSIVE,
        doc(allow("iot:AssumeRoleWithCertificate", f"{A}:rolealias/devices")),
    ),
    # --- where the pack is stricter than the page -------------------------------------------
    Case(
        "iot:* on one client",
        PERMISSIVE,
        doc(allow("iot:*", f"{A}:client/device-1")),
        {OVERLY: "every AWS IoT action"},
        stricter=True,
    ),
    Case(
        "* on *",
        PERMISSIVE,
        doc(allow(["*"], "*")),
        {OVERLY: "every AWS IoT action"},
        stricter=True,
    ),
    Case(
        "NotAction",
        PERMISSIVE,
        doc({"Effect": "Allow", "NotAction": "iot:DeleteThing", "Resource": f"{A}:thing/a"}),
        {OVERLY: "NotAction"},
        stricter=True,
    ),
    Case(
        "a shared prefix without a device variable",
        PERMISSIVE,
        doc(allow("iot:Publish", f"{A}:topic/telemetry/*")),
        {OVERLY: "iot:Publish"},
        stricter=True,
    ),
    # --- IOT_POLICY_POTENTIAL_MIS_CONFIGURATION_CHECK, the page's examples -----------------
    Case(
        "MQTT wildcard in a Deny (the page's first example)",
        MISCONFIGURED,
        doc(
            allow("iot:Subscribe", f"{A}:topicfilter/building/*"),
            deny("iot:Subscribe", f"{A}:topicfilter/building/control_room/#"),
            allow("iot:Receive", f"{A}:topic/building/*"),
        ),
        {DENY: "POLICY_CONTAINS_MQTT_WILDCARDS_IN_DENY_STATEMENT", OVERLY: "iot:Subscribe"},
        # Stricter: the other rule refuses allowing building/*, a prefix no device variable
        # narrows.
        stricter=True,
    ),
    Case(
        "deny with * but allow the broader filter (the page's second example)",
        MISCONFIGURED,
        doc(
            allow("iot:Subscribe", f"{A}:topicfilter/building/*"),
            deny("iot:Subscribe", f"{A}:topicfilter/building/control_room/*"),
            allow("iot:Receive", f"{A}:topic/building/*"),
        ),
        {DENY: "TOPIC_FILTERS_INTENDED_TO_DENY_ALLOWED_USING_WILDCARDS", OVERLY: "iot:Subscribe"},
        # Stricter: the other rule refuses allowing building/*, a prefix no device variable
        # narrows.
        stricter=True,
    ),
    Case(
        "deny Subscribe and Receive (the page's correct policy)",
        MISCONFIGURED,
        doc(
            allow("iot:Subscribe", f"{A}:topicfilter/building/*"),
            deny("iot:Subscribe", f"{A}:topicfilter/building/control_room/*"),
            allow("iot:Receive", f"{A}:topic/building/*"),
            deny("iot:Receive", f"{A}:topic/building/control_room/*"),
        ),
        {OVERLY: "iot:Subscribe"},
        # Stricter: the other rule refuses allowing building/*, a prefix no device variable
        # narrows.
        stricter=True,
    ),
    Case(
        "+ in a Deny",
        MISCONFIGURED,
        doc(deny("iot:Subscribe", f"{A}:topicfilter/room/+/temperature")),
        {DENY: "POLICY_CONTAINS_MQTT_WILDCARDS_IN_DENY_STATEMENT"},
    ),
    Case(
        "a Deny no broader filter reaches",
        MISCONFIGURED,
        doc(
            allow("iot:Subscribe", f"{A}:topicfilter/building/lobby/{THING}"),
            deny("iot:Subscribe", f"{A}:topicfilter/building/control_room/*"),
            allow("iot:Receive", f"{A}:topic/building/*"),
        ),
    ),
]


def _template(policy_document: Any) -> str:
    return json.dumps(
        {
            "Parameters": {"SerialNumber": {"Type": "String"}},
            "Resources": {
                "thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "x"}}},
                "policy": {
                    "Type": "AWS::IoT::Policy",
                    "Properties": {"PolicyDocument": policy_document},
                },
            },
        }
    )


Form = Callable[[dict[str, Any]], tuple[str, dict[str, Any]]]

IOT_POLICY_FORMS: dict[str, Form] = {
    "aws JSON string": lambda d: ("aws:iot/policy:Policy", {"policy": json.dumps(d)}),
    "aws secret JSON string": lambda d: (
        "aws:iot/policy:Policy",
        {"policy": secret(json.dumps(d))},
    ),
    "aws-native object": lambda d: ("aws-native:iot:Policy", {"policyDocument": d}),
    "aws-native secret object": lambda d: ("aws-native:iot:Policy", {"policyDocument": secret(d)}),
    "aws-native secret statements": lambda d: (
        "aws-native:iot:Policy",
        {"policyDocument": {**d, "Statement": [secret(s) for s in d["Statement"]]}},
    ),
    "aws-native JSON string": lambda d: (
        "aws-native:iot:Policy",
        {"policyDocument": json.dumps(d)},
    ),
    "aws provisioning template": lambda d: (
        "aws:iot/provisioningTemplate:ProvisioningTemplate",
        {"templateBody": _template(json.dumps(d)), "provisioningRoleArn": "r", "enabled": True},
    ),
    "aws-native provisioning template": lambda d: (
        "aws-native:iot:ProvisioningTemplate",
        {"templateBody": _template(d), "provisioningRoleArn": "r"},
    ),
}


def _reported(found: list[Diagnostic], policies: set[str]) -> dict[str, list[str]]:
    reported: dict[str, list[str]] = {}
    for d in found:
        if d.policy in policies:
            reported.setdefault(d.policy, []).append(d.message)
    return reported


def _meets(found: list[Diagnostic], expect: Mapping[str, str], policies: set[str]) -> None:
    reported = _reported(found, policies)
    assert set(reported) == set(expect), reported
    for policy, text in expect.items():
        assert any(text in m for m in reported[policy]), reported[policy]


@pytest.mark.parametrize("form", IOT_POLICY_FORMS)
@pytest.mark.parametrize("case", IOT_POLICY_CASES, ids=lambda c: c.id)
def test_iot_policy_cases_over_grpc(
    analyzer: analyzer_pb2_grpc.AnalyzerStub, case: Case, form: str
) -> None:
    type_, props = IOT_POLICY_FORMS[form](case.doc)
    found = analyze(analyzer, [Resource(type_, "fleet", props)])
    _meets(found, case.expect, {OVERLY, DENY, NOT_JUDGED})
    assert all(d.mandatory for d in found if d.policy == OVERLY)


def test_where_the_table_is_stricter_the_rules_say_so() -> None:
    """A case the pack refuses beyond its audit page is covered by the rule's ``stricter``
    text, which the policy pack page's table shows."""
    about = {a.id: a for a in ABOUT}
    stricter = [c for c in [*IOT_POLICY_CASES, *ROLE_CASES] if c.stricter]
    assert stricter
    for case in stricter:
        assert any(about[rule].stricter not in ("", "None.") for rule in case.expect)
    assert "shared prefix" in about[OVERLY].stricter and "NotAction" in about[OVERLY].stricter
    assert "wildcard AWS IoT action" in about[ROLE].stricter


def test_the_table_holds_the_audit_pages_own_examples() -> None:
    sources = {c.source for c in IOT_POLICY_CASES}
    assert sources == {PERMISSIVE, MISCONFIGURED}
    compliant = [c for c in IOT_POLICY_CASES if c.source == PERMISSIVE and not c.expect]
    flagged = [c for c in IOT_POLICY_CASES if c.source == PERMISSIVE and c.expect]
    assert len(compliant) >= 5 and len(flagged) >= 10


# --- malformed documents: a violation, never a silent pass -------------------------------------

MALFORMED = [
    ("aws:iot/policy:Policy", {"policy": "{not json"}),
    ("aws:iot/policy:Policy", {"policy": secret("[1, 2]")}),
    ("aws:iot/policy:Policy", {"policy": json.dumps({"Version": "2012-10-17"})}),
    ("aws-native:iot:Policy", {"policyDocument": 42}),
    ("aws-native:iot:Policy", {"policyDocument": doc({"Effect": "Allowed", "Action": "iot:*"})}),
    ("aws-native:iot:Policy", {"policyDocument": doc({"Effect": "Allow", "Resource": "*"})}),
    ("aws:iot/provisioningTemplate:ProvisioningTemplate", {"templateBody": "{"}),
    ("aws-native:iot:ProvisioningTemplate", {"templateBody": _template("{not json")}),
]


@pytest.mark.parametrize(("type_", "props"), MALFORMED)
def test_a_malformed_document_is_a_violation(
    analyzer: analyzer_pb2_grpc.AnalyzerStub, type_: str, props: dict[str, Any]
) -> None:
    found = analyze(analyzer, [Resource(type_, "broken", props)])
    reported = _reported(found, {OVERLY})
    assert any("cannot be parsed" in m for m in reported[OVERLY]), found


# --- values not known at preview ---------------------------------------------------------------


def test_an_unknown_document_is_reported_as_not_judged(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    found = analyze(analyzer, [Resource("aws:iot/policy:Policy", "later", {"policy": UNKNOWN})])
    assert _reported(found, {OVERLY, DENY}) == {}
    notes = [d for d in found if d.policy == NOT_JUDGED]
    assert {n.urn for n in notes} == {Resource("aws:iot/policy:Policy", "later", {}).urn}
    assert any(f"{OVERLY} could not judge IoT policy later" in n.message for n in notes)
    assert all(not n.mandatory for n in notes)


def test_what_is_known_is_judged_beside_what_is_not(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    policy = doc(
        allow("iot:*", "*"),
        allow("iot:Connect", UNKNOWN),
        allow("iot:Publish", [f"{A}:topic/*", UNKNOWN]),
        allow([UNKNOWN, "iot:Connect"], f"{A}:client/*"),
    )
    found = analyze(
        analyzer, [Resource("aws-native:iot:Policy", "half", {"policyDocument": policy})]
    )
    reported = _reported(found, {OVERLY, NOT_JUDGED})
    assert any("statement 1 allows iot:*" in m for m in reported[OVERLY])
    assert any("statement 3 allows iot:Publish on" in m for m in reported[OVERLY])
    assert any("statement 2's" in m for m in reported[NOT_JUDGED])
    assert any("statement 3's" in m for m in reported[NOT_JUDGED])
    assert any("statement 4 allows iot:Connect on" in m for m in reported[OVERLY])
    assert any(
        "statement 4's policyDocument.Statement[3].Action[0]" in m for m in reported[NOT_JUDGED]
    )


def test_what_preview_could_not_judge_is_judged_at_update(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    """The second run: the engine asks again at ``pulumi up`` with the values known."""
    at_preview = Resource("aws:iot/policy:Policy", "fleet", {"policy": UNKNOWN})
    preview = analyze(analyzer, [at_preview])
    assert [(d.policy, d.mandatory) for d in preview] == [(NOT_JUDGED, False)] * 2
    at_update = Resource(
        "aws:iot/policy:Policy", "fleet", {"policy": json.dumps(doc(allow("iot:*", "*")))}
    )
    update = analyze(analyzer, [at_update])
    assert [(d.policy, d.mandatory) for d in update] == [(OVERLY, True)]
    assert analyze(analyzer, [at_update]) == update  # and again: nothing kept between runs


def test_one_unknown_role_document_hides_no_other_finding(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    later = Resource("aws:iam/role:Role", "later-role", {"inlinePolicies": [{"policy": UNKNOWN}]})
    broad = Resource(
        "aws:iam/role:Role",
        "broad-role",
        {"inlinePolicies": [{"policy": json.dumps(doc(allow("s3:*", "*")))}]},
    )
    aliases = [
        Resource(
            "aws:iot/roleAlias:RoleAlias", f"alias-{r.name}", {"roleArn": UNKNOWN}, {"roleArn": [r]}
        )
        for r in (later, broad)
    ]
    found = analyze(analyzer, [later, broad, *aliases])
    role = [d for d in found if d.policy == ROLE]
    assert len(role) == 1 and "broad-role allows s3:*" in role[0].message
    assert role[0].urn == aliases[1].urn
    notes = [d for d in found if d.policy == NOT_JUDGED]
    assert [n.urn for n in notes] == [aliases[0].urn]


def test_an_unknown_csr_is_a_csr_whose_key_is_not_judged(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    cert = Resource("aws:iot/certificate:Certificate", "device", {"csr": UNKNOWN, "active": True})
    found = analyze(analyzer, [cert])
    assert [d.policy for d in found] == [NOT_JUDGED]
    assert "aisb-certificate-key-quality could not judge certificate device" in found[0].message


@pytest.mark.parametrize(
    ("props", "flagged", "judged"),
    [
        ({"credentialDuration": 43200, "roleArn": "r"}, True, True),
        ({"credentialDuration": secret(43200), "roleArn": "r"}, True, True),
        ({"credentialDuration": 900, "roleArn": "r"}, False, True),
        ({"credentialDuration": UNKNOWN, "roleArn": "r"}, False, False),
    ],
)
def test_credential_duration_over_grpc(
    analyzer: analyzer_pb2_grpc.AnalyzerStub, props: dict[str, Any], flagged: bool, judged: bool
) -> None:
    found = analyze(analyzer, [Resource("aws:iot/roleAlias:RoleAlias", "a", props)])
    duration = [d for d in found if d.policy == "aisb-role-alias-credential-duration"]
    assert bool(duration) == flagged
    assert any("credential-duration could not judge" in d.message for d in found) == (not judged)


@pytest.mark.parametrize(
    "props",
    [
        {"defaultLogLevel": "ERROR", "disableAllLogs": secret(True), "roleArn": "r"},
        {"defaultLogLevel": secret("DISABLED"), "roleArn": "r"},
    ],
)
def test_secret_logging_switches_are_read(
    analyzer: analyzer_pb2_grpc.AnalyzerStub, props: dict[str, Any]
) -> None:
    found = analyze(
        analyzer,
        [
            Resource(
                "aws:iot/loggingOptions:LoggingOptions",
                "l",
                props,
                parents=["aisb:index:IotLogging"],
            )
        ],
    )
    assert [d.policy for d in found] == ["aisb-iot-logging-enabled"]


# --- IOT_ROLE_ALIAS_OVERLY_PERMISSIVE_CHECK ------------------------------------------------------

ROLE_CASES = [
    Case("iot:*", ROLE_ALIAS, doc(allow("iot:*", "*")), {ROLE: "USED_SERVICES"}),
    Case("dynamodb:*", ROLE_ALIAS, doc(allow("dynamodb:*", "*")), {ROLE: "USED_SERVICES"}),
    Case("iam:*", ROLE_ALIAS, doc(allow("iam:*", "*")), {ROLE: "iam:*"}),
    Case("*", ROLE_ALIAS, doc(allow("*", "*")), {ROLE: "USED_SERVICES"}),
    Case(
        "NotAction",
        ROLE_ALIAS,
        doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}),
        {ROLE: "NotAction"},
    ),
    Case(
        "cloudtrail",
        ROLE_ALIAS,
        doc(allow("cloudtrail:LookupEvents", "*")),
        {ROLE: "SECURITY_AUDITING"},
    ),
    Case(
        "guardduty",
        ROLE_ALIAS,
        doc(allow("guardduty:ListFindings", "*")),
        {ROLE: "SECURITY_AUDITING"},
    ),
    Case(
        "inspector",
        ROLE_ALIAS,
        doc(allow("inspector:ListFindings", "*")),
        {ROLE: "SECURITY_AUDITING"},
    ),
    Case(
        "trustedadvisor",
        ROLE_ALIAS,
        doc(allow("trustedadvisor:Describe*", "*")),
        {ROLE: "SECURITY_AUDITING"},
    ),
    Case("iam:PassRole", ROLE_ALIAS, doc(allow("iam:PassRole", "*")), {ROLE: "SECURITY_AUDITING"}),
    Case(
        "thing reads on every thing",
        ROLE_ALIAS,
        doc(allow("iot:DescribeThing", f"{A}:thing/*")),
        {ROLE: "THING_ADMIN_READ"},
    ),
    Case(
        "thing reads on its own thing",
        ROLE_ALIAS,
        doc(allow("iot:DescribeThing", f"{A}:thing/{CRED}")),
    ),
    Case(
        "thing writes",
        ROLE_ALIAS,
        doc(allow("iot:UpdateThing", f"{A}:thing/{CRED}")),
        {ROLE: "THING_ADMIN_WRITE"},
    ),
    Case(
        "restricted IoT actions",
        ROLE_ALIAS,
        doc(allow("iot:AttachPolicy", "*")),
        {ROLE: "NON_THING_ADMIN"},
    ),
    Case(
        "an IoT action pattern",
        ROLE_ALIAS,
        doc(allow("iot:Get*", f"{A}:thing/{CRED}")),
        {ROLE: "NON_THING_ADMIN"},
        stricter=True,
    ),
    Case(
        "data plane on every topic",
        ROLE_ALIAS,
        doc(allow("iot:Publish", f"{A}:topic/*")),
        {ROLE: "DATA_PLANE"},
    ),
    Case(
        "jobs data plane on every thing",
        ROLE_ALIAS,
        doc(allow("iotjobsdata:DescribeJobExecution", f"{A}:thing/*")),
        {ROLE: "DATA_PLANE"},
    ),
    Case(
        "data plane on its own topics",
        ROLE_ALIAS,
        doc(allow("iot:Publish", f"{A}:topic/devices/{CRED}/*")),
    ),
    Case(
        "uploads under its own prefix",
        ROLE_ALIAS,
        doc(
            allow(["s3:PutObject", "s3:AbortMultipartUpload"], f"arn:aws:s3:::logs/{CRED}/*"),
            deny("*", "*"),
        ),
    ),
]


def _role_stack(form: str, policy: dict[str, Any]) -> list[Resource]:
    text = json.dumps(policy)
    native = form.startswith("aws-native")
    if native:
        role = Resource("aws-native:iam:Role", "device-role", {"assumeRolePolicyDocument": {}})
        alias = Resource(
            "aws-native:iot:RoleAlias", "alias", {"roleArn": UNKNOWN}, {"roleArn": [role]}
        )
    else:
        role = Resource("aws:iam/role:Role", "device-role", {"assumeRolePolicy": "{}"})
        alias = Resource(
            "aws:iot/roleAlias:RoleAlias", "alias", {"roleArn": UNKNOWN}, {"roleArn": [role]}
        )
    extra: list[Resource] = []
    if form == "aws inline":
        role.props = {**role.props, "inlinePolicies": [{"name": "p", "policy": text}]}
    elif form == "aws secret inline":
        role.props = {**role.props, "inlinePolicies": [{"name": "p", "policy": secret(text)}]}
    elif form == "aws role policy":
        extra = [
            Resource(
                "aws:iam/rolePolicy:RolePolicy",
                "rp",
                {"role": UNKNOWN, "policy": text},
                {"role": [role]},
            )
        ]
    elif form == "aws customer policy":
        managed = Resource("aws:iam/policy:Policy", "mp", {"policy": text})
        extra = [
            managed,
            Resource(
                "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
                "att",
                {"role": UNKNOWN, "policyArn": UNKNOWN},
                {"role": [role], "policyArn": [managed]},
            ),
        ]
    elif form == "aws-native inline":
        role.props = {**role.props, "policies": [{"policyName": "p", "policyDocument": policy}]}
    elif form == "aws-native role policy":
        extra = [
            Resource(
                "aws-native:iam:RolePolicy",
                "rp",
                {"roleName": UNKNOWN, "policyDocument": secret(policy)},
                {"roleName": [role]},
            )
        ]
    elif form == "aws-native managed policy":
        extra = [
            Resource(
                "aws-native:iam:ManagedPolicy",
                "mp",
                {"roles": [UNKNOWN], "policyDocument": policy},
                {"roles": [role]},
            )
        ]
    return [role, alias, *extra]


ROLE_FORMS = [
    "aws inline",
    "aws secret inline",
    "aws role policy",
    "aws customer policy",
    "aws-native inline",
    "aws-native role policy",
    "aws-native managed policy",
]


@pytest.mark.parametrize("form", ROLE_FORMS)
@pytest.mark.parametrize("case", ROLE_CASES, ids=lambda c: c.id)
def test_role_alias_cases_over_grpc(
    analyzer: analyzer_pb2_grpc.AnalyzerStub, case: Case, form: str
) -> None:
    found = analyze(analyzer, _role_stack(form, case.doc))
    _meets(found, case.expect, {ROLE, NOT_JUDGED})


@pytest.mark.parametrize(
    ("managed", "expect"),
    [
        ("arn:aws:iam::aws:policy/AdministratorAccess", {ROLE: "AdministratorAccess"}),
        ("arn:aws-cn:iam::aws:policy/AmazonS3FullAccess", {ROLE: "AmazonS3FullAccess"}),
        ("arn:aws:iam::aws:policy/SecurityAudit", {ROLE: "SECURITY_AUDITING"}),
        ("arn:aws:iam::aws:policy/AWSIoTLogging", {NOT_JUDGED: "not in this stack"}),
        ("arn:aws:iam::111122223333:policy/theirs", {NOT_JUDGED: "not in this stack"}),
    ],
)
@pytest.mark.parametrize(
    "how", ["managedPolicyArns", "aws attachment", "aws policy attachment", "aws-native role"]
)
def test_managed_policies_of_a_role_alias_role(
    analyzer: analyzer_pb2_grpc.AnalyzerStub, managed: str, expect: dict[str, str], how: str
) -> None:
    if how == "aws-native role":
        role = Resource("aws-native:iam:Role", "r", {"managedPolicyArns": [managed]})
    else:
        role = Resource(
            "aws:iam/role:Role",
            "r",
            {"managedPolicyArns": [managed]} if how == "managedPolicyArns" else {},
        )
    alias = Resource(
        "aws:iot/roleAlias:RoleAlias", "alias", {"roleArn": UNKNOWN}, {"roleArn": [role]}
    )
    stack = [role, alias]
    if how == "aws policy attachment":
        stack.append(
            Resource(
                "aws:iam/policyAttachment:PolicyAttachment",
                "att",
                {"roles": [UNKNOWN], "policyArn": managed},
                {"roles": [role]},
            )
        )
    if how == "aws attachment":
        stack.append(
            Resource(
                "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
                "att",
                {"role": UNKNOWN, "policyArn": managed},
                {"role": [role]},
            )
        )
    _meets(analyze(analyzer, stack), expect, {ROLE, NOT_JUDGED})


def test_a_role_outside_the_stack_is_not_judged(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    alias = Resource(
        "aws:iot/roleAlias:RoleAlias",
        "alias",
        {"roleArn": "arn:aws:iam::111122223333:role/elsewhere"},
    )
    found = analyze(analyzer, [alias])
    _meets(found, {NOT_JUDGED: "role/elsewhere is not in this stack"}, {ROLE, NOT_JUDGED})


def test_a_role_found_by_its_name(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    role = Resource(
        "aws:iam/role:Role",
        "r",
        {"name": "devices", "inlinePolicies": [{"policy": json.dumps(doc(allow("s3:*", "*")))}]},
    )
    alias = Resource(
        "aws:iot/roleAlias:RoleAlias",
        "alias",
        {"roleArn": "arn:aws:iam::111122223333:role/devices"},
    )
    _meets(analyze(analyzer, [role, alias]), {ROLE: "allows s3:*"}, {ROLE, NOT_JUDGED})


# --- exemptions through the pack's config --------------------------------------------------------

CLAIM = doc(
    allow("iot:Connect", f"{A}:client/*"),
    allow(["iot:Publish", "iot:Receive"], [f"{A}:topic/$aws/certificates/create/*"]),
    allow("iot:Subscribe", [f"{A}:topicfilter/$aws/certificates/create/*"]),
)


@pytest.mark.parametrize("by", ["name", "urn"])
def test_a_team_exempts_its_claim_policy(analyzer: analyzer_pb2_grpc.AnalyzerStub, by: str) -> None:
    claim = Resource("aws:iot/policy:Policy", "claim", {"policy": json.dumps(CLAIM)})
    other = Resource("aws:iot/policy:Policy", "other", {"policy": json.dumps(CLAIM)})
    before = analyze(analyzer, [claim, other])
    assert {d.urn for d in before if d.policy == OVERLY} == {claim.urn, other.urn}
    exemption = claim.name if by == "name" else claim.urn
    with configured(analyzer, {OVERLY: {"exemptions": [exemption]}}):
        after = analyze(analyzer, [claim, other])
    assert {d.urn for d in after if d.policy == OVERLY} == {other.urn}


def test_a_stack_rule_exemption(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    stack = _role_stack("aws inline", doc(allow("s3:*", "*")))
    with configured(analyzer, {ROLE: {"exemptions": ["alias"]}}):
        assert [d for d in analyze(analyzer, stack) if d.policy == ROLE] == []
    assert [d for d in analyze(analyzer, stack) if d.policy == ROLE] != []


# --- certificates ---------------------------------------------------------------------------------

CERT_ARN = f"{A}:cert/abc"


def _attach(name: str, principal: Any, thing: Any, depends: dict[str, list[Resource]]) -> Resource:
    return Resource(
        "aws:iot/thingPrincipalAttachment:ThingPrincipalAttachment",
        name,
        {"principal": principal, "thing": thing},
        depends,
    )


def test_shared_certificates_over_grpc(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    """DEVICE_CERTIFICATE_SHARED_CHECK (``SHARED``): one certificate, several things."""
    shared = "aisb-certificate-not-shared"
    t0 = Resource("aws:iot/thing:Thing", "thing-0", {"name": "t0"})
    t1 = Resource("aws:iot/thing:Thing", "thing-1", {"name": "t1"})
    cert = Resource("aws:iot/certificate:Certificate", "cert", {"csr": UNKNOWN})
    # By its known ARN, to two things: flagged.
    literal = [_attach("a", CERT_ARN, "t0", {}), _attach("b", CERT_ARN, "t1", {})]
    assert [d.policy for d in analyze(analyzer, literal) if d.policy == shared] == [shared]
    # One thing named by name and through its resource counts once.
    once = [t0, _attach("a", CERT_ARN, "t0", {}), _attach("b", CERT_ARN, UNKNOWN, {"thing": [t0]})]
    assert [d for d in analyze(analyzer, once) if d.policy == shared] == []
    # A certificate not known yet, from the certificate resource, to two things: flagged.
    created = [
        cert,
        t0,
        t1,
        _attach("a", UNKNOWN, UNKNOWN, {"principal": [cert], "thing": [t0]}),
        _attach("b", UNKNOWN, UNKNOWN, {"principal": [cert], "thing": [t1]}),
    ]
    assert [d.policy for d in analyze(analyzer, created) if d.policy == shared] == [shared]
    # A principal from something that is no IoT certificate cannot be told.
    role = Resource("aws:iam/role:Role", "role", {})
    unknown = [_attach("a", UNKNOWN, "t0", {"principal": [role]})]
    found = analyze(analyzer, unknown)
    assert [d.policy for d in found] == [NOT_JUDGED]


def _csr(key: Any, algorithm: Any = None) -> str:
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "device-1")]))
        .sign(key, algorithm)
    )
    return request.public_bytes(serialization.Encoding.PEM).decode()


EXPLICIT_EC_CSR = (Path(__file__).parent / "explicit-ec.csr.pem").read_text()
"""A P-256 key written with explicit curve parameters (``openssl ecparam -name prime256v1
-param_enc explicit -genkey``), in a CSR."""


@pytest.fixture(scope="module")
def keys() -> dict[str, str]:
    return {
        "rsa1024": _csr(rsa.generate_private_key(65537, 1024), hashes.SHA256()),
        "dsa": _csr(dsa.generate_private_key(2048), hashes.SHA256()),
        "ed25519": _csr(ed25519.Ed25519PrivateKey.generate()),
        "k256": _csr(ec.generate_private_key(ec.SECP256K1()), hashes.SHA256()),
        "explicit": EXPLICIT_EC_CSR,
        "garbage": "-----BEGIN CERTIFICATE REQUEST-----\nnot base64\n"
        "-----END CERTIFICATE REQUEST-----\n",
        "p256": _csr(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256()),
        "rsa2048": _csr(rsa.generate_private_key(65537, 2048), hashes.SHA256()),
        "roca": _csr(roca_key(2048), hashes.SHA256()),
    }


@pytest.mark.parametrize(
    ("key", "text"),
    [
        ("rsa1024", "RSA key of 1024 bits"),
        ("dsa", "DSA key"),
        ("ed25519", "Ed25519 key"),
        ("k256", "secp256k1"),
        ("explicit", "explicit curve parameters"),
        ("garbage", "the rule can read"),
        ("roca", "ROCA fingerprint (CVE-2017-15361)"),
        ("p256", ""),
        ("rsa2048", ""),
    ],
)
@pytest.mark.parametrize("wrap", ["plain", "secret"])
@pytest.mark.parametrize(
    ("type_", "prop"),
    [
        ("aws:iot/certificate:Certificate", "csr"),
        ("aws-native:iot:Certificate", "certificateSigningRequest"),
    ],
)
def test_key_quality_over_grpc(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
    keys: dict[str, str],
    key: str,
    text: str,
    wrap: str,
    type_: str,
    prop: str,
) -> None:
    """What AWS IoT accepts in a CSR (``CSR_KEYS``) and what the key-quality audit
    (``KEY_QUALITY``) is about: a key AWS IoT would refuse, or the rule cannot read, is
    reported."""
    pem = keys[key] if wrap == "plain" else secret(keys[key])
    found = analyze(analyzer, [Resource(type_, "device", {prop: pem})])
    quality = [d.message for d in found if d.policy == "aisb-certificate-key-quality"]
    if text:
        assert len(quality) == 1 and text in quality[0], found
    else:
        assert quality == []


# --- account singletons ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parents", "flagged"),
    [
        (["aisb:index:IotSecurityBaseline", "aisb:index:IotLogging"], False),
        (["aisb:index:IotLogging"], False),
        (["aisb:index:IotLogging", "acme:index:Wrapper"], True),
        (["acme:index:Platform"], True),
        ([], True),
    ],
)
def test_account_singletons_over_grpc(
    analyzer: analyzer_pb2_grpc.AnalyzerStub, parents: list[str], flagged: bool
) -> None:
    logging = Resource(
        "aws:iot/loggingOptions:LoggingOptions",
        "logging",
        {"defaultLogLevel": "ERROR", "roleArn": UNKNOWN},
        parents=parents,
    )
    found = analyze(analyzer, [logging])
    assert bool([d for d in found if d.policy == "aisb-account-singletons-in-aisb"]) == flagged


# --- data in motion: a domain configuration's TLS policy ---------------------------------------

TLS_CONFIG = "https://docs.aws.amazon.com/iot/latest/developerguide/iot-endpoints-tls-config.html"
TLS = "aisb-domain-configuration-tls"


@dataclass(frozen=True)
class TlsCase:
    id: str
    tls: Any
    """The tlsConfig input (None: unset)."""
    flagged: str | None
    """A text the rule's message carries; None: compliant."""
    judged: bool = True
    source: str = TLS_CONFIG
    """The AWS page whose table lists the policy (or says what an unset one is)."""


TLS_CASES = [
    TlsCase(
        "TLS 1.2 and 1.3, AWS's default",
        {"securityPolicy": "IoTSecurityPolicy_TLS13_1_2_2022_10"},
        None,
    ),
    TlsCase("TLS 1.3 only", {"securityPolicy": "IoTSecurityPolicy_TLS13_1_3_2022_10"}, None),
    TlsCase("TLS 1.2 only", {"securityPolicy": "IoTSecurityPolicy_TLS12_1_2_2022_10"}, None),
    TlsCase(
        "GovCloud TLS 1.2 and 1.3", {"securityPolicy": "IoTSecurityPolicy_TLS13_1_2_2022_01"}, None
    ),
    TlsCase(
        "legacy 2016, named for TLS 1.0",
        {"securityPolicy": "IoTSecurityPolicy_TLS12_1_0_2016_01"},
        "TLS 1.0",
    ),
    TlsCase(
        "legacy 2015, named for TLS 1.0",
        {"securityPolicy": "IoTSecurityPolicy_TLS12_1_0_2015_01"},
        "TLS 1.0",
    ),
    TlsCase(
        "a secret legacy policy is read",
        {"securityPolicy": secret("IoTSecurityPolicy_TLS12_1_0_2015_01")},
        "below 1.2",
    ),
    TlsCase(
        "a policy AWS does not list", {"securityPolicy": "IoTSecurityPolicy_TLS10"}, "predefined"
    ),
    TlsCase("unset: AWS's default for a new configuration", None, None),
    TlsCase("a policy not known at preview", {"securityPolicy": UNKNOWN}, None, judged=False),
    TlsCase("a tlsConfig not known at preview", UNKNOWN, None, judged=False),
]


@pytest.mark.parametrize(
    "type_",
    ["aws:iot/domainConfiguration:DomainConfiguration", "aws-native:iot:DomainConfiguration"],
)
@pytest.mark.parametrize("case", TLS_CASES, ids=lambda c: c.id)
def test_domain_configuration_tls_over_grpc(
    analyzer: analyzer_pb2_grpc.AnalyzerStub, type_: str, case: TlsCase
) -> None:
    name_key = "name" if type_.startswith("aws:") else "domainConfigurationName"
    props: dict[str, Any] = {name_key: "devices"}
    if case.tls is not None:
        props["tlsConfig"] = case.tls
    found = analyze(analyzer, [Resource(type_, "devices", props)])
    tls = [d for d in found if d.policy == TLS]
    if case.flagged is None:
        assert tls == []
    else:
        (diagnostic,) = tls
        assert case.flagged in diagnostic.message and diagnostic.mandatory
    assert any("domain-configuration-tls could not judge" in d.message for d in found) == (
        not case.judged
    )
