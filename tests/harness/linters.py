"""The linters: cfn-lint on every aws-native resource, parliament on every IAM document, and
a check of AWS IoT policies, which are not IAM policies."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from tests.harness.mocks import Recording, Registration

# --- validators ------------------------------------------------------------------------------


def _pascal(value: Any) -> Any:
    if isinstance(value, dict):
        return {k[:1].upper() + k[1:]: _pascal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_pascal(v) for v in value]
    return value


_CFN_SERVICE = {"iot": "IoT"}


def cfn_template(recording: Recording) -> dict[str, Any]:
    """Every aws-native resource rendered as a CloudFormation template."""
    resources = {}
    for r in recording.custom():
        if not r.type.startswith("aws-native:"):
            continue
        _, module, kind = r.type.split(":")
        logical = re.sub(r"[^A-Za-z0-9]", "", r.name.title())
        resources[logical] = {
            "Type": f"AWS::{_CFN_SERVICE[module]}::{kind}",
            "Properties": _pascal(r.inputs),
        }
    return {"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources}


@cache
def _cfn_lint_rules() -> Any:
    """cfn-lint's rules, as its runner loads them for a template. The runner loads them again
    (importing its 300-odd rule files afresh) for every template it is handed; its command line
    runs every template of one invocation with one collection, so one per process is how
    cfn-lint itself uses them (``Rules.run`` configures and initialises each rule per template)."""
    from cfnlint.config import ConfigMixIn
    from cfnlint.runner import Runner

    return Runner(ConfigMixIn(regions=["us-east-1"])).rules


def cfn_lint(template: str, regions: list[str]) -> list[Any]:
    """cfn-lint's matches for a template (JSON or YAML text) in ``regions``: what
    ``cfnlint.api.lint`` answers, with the default rules loaded once. (``lint`` takes its
    ``rules`` only when they are the legacy ``RulesCollection``, and the runner's are ``Rules``
    (cfnlint/api.py, ``isinstance(rules, RulesCollection)``, in cfn-lint 1.x): handed them, it
    loads every rule again. So this does what its branch for given rules does.)"""
    from cfnlint.config import ConfigMixIn
    from cfnlint.decode.decode import decode_str
    from cfnlint.runner import run_template_by_data

    parsed, errors = decode_str(template)
    if errors:
        return list(errors)
    if parsed is None:
        return []
    return list(run_template_by_data(parsed, ConfigMixIn(regions=regions), _cfn_lint_rules()))


def cfn_lint_errors(recording: Recording) -> list[str]:
    template = cfn_template(recording)
    if not template["Resources"]:
        return []
    matches = cfn_lint(json.dumps(template), regions=[recording.region])
    return [f"{m.rule.id} {m.message} ({'/'.join(map(str, m.path))})" for m in matches]


@dataclass
class PolicyDocument:
    """A policy document found in a resource's inputs."""

    resource: Registration
    input: str
    document: dict[str, Any]

    @property
    def kind(self) -> str:
        """identity, trust, key, resource or iot: how it must be read."""
        if self.resource.type == "aws:iot/policy:Policy":
            return "iot"
        if self.resource.type == "aws:iam/role:Role" and self.input == "assumeRolePolicy":
            return "trust"
        if self.resource.type == "aws:kms/key:Key":
            return "key"
        if any(s.get("Principal") for s in self.document["Statement"]):
            return "resource"
        return "identity"


def policy_documents(recording: Recording) -> list[PolicyDocument]:
    """Every policy document in any input of any resource."""

    def walk(value: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
        if isinstance(value, str) and '"Statement"' in value:
            yield where, json.loads(value)
        elif isinstance(value, dict):
            if "Statement" in value and "Version" in value:
                yield where, value
            else:
                for k, v in value.items():
                    yield from walk(v, f"{where}.{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                yield from walk(v, f"{where}[{i}]")

    return [
        PolicyDocument(r, where.lstrip("."), doc)
        for r in recording.resources
        for where, doc in walk(r.inputs, "")
    ]


def parliament_findings(policy: PolicyDocument) -> list[str]:
    """parliament's findings on one document, read the way AWS reads its kind.

    Identity policies get every auditor, community ones included. parliament only models
    identity policies, so the others are given the resource AWS implies: a trust policy
    applies to its role, and ``"Resource": "*"`` in a key policy means that key.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pkg_resources deprecation
        from parliament import analyze_policy_string

    if policy.kind == "iot":
        return iot_policy_findings(policy)
    # Policy variables are filled in when a request is evaluated; give them a sample value.
    text = re.sub(r"\$\{[^}]+\}", "sample-value", json.dumps(policy.document))
    doc = json.loads(text)
    own_arn = policy.resource.state.get("arn")
    if policy.kind == "trust":
        for statement in doc["Statement"]:
            statement.setdefault("Resource", own_arn)
    elif policy.kind == "key":
        for statement in doc["Statement"]:
            if statement.get("Resource") == "*":
                statement["Resource"] = own_arn
    analysed = analyze_policy_string(
        json.dumps(doc), include_community_auditors=policy.kind == "identity"
    )
    return [
        f"{policy.resource.name}.{policy.input}: {f.issue}: {f.detail} {f.location}"
        for f in analysed.findings
    ]


# The actions an AWS IoT (not IAM) policy can grant, from AWS IoT Core's policy reference.
IOT_POLICY_ACTIONS = frozenset(
    {
        "iot:Connect",
        "iot:Publish",
        "iot:RetainPublish",
        "iot:Subscribe",
        "iot:Receive",
        "iot:GetRetainedMessage",
        "iot:ListRetainedMessages",
        "iot:DeleteThingShadow",
        "iot:GetThingShadow",
        "iot:UpdateThingShadow",
        "iot:AssumeRoleWithCertificate",
        "iot:DescribeJobExecution",
        "iot:GetPendingJobExecutions",
        "iot:StartNextPendingJobExecution",
        "iot:UpdateJobExecution",
    }
)


def iot_policy_findings(policy: PolicyDocument) -> list[str]:
    """AWS IoT policies are not IAM policies (parliament does not know their actions): each
    allow names known IoT policy actions on specific resources; only a deny may be broad."""
    findings = []
    for statement in policy.document["Statement"]:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        resources = (
            statement["Resource"]
            if isinstance(statement["Resource"], list)
            else [statement["Resource"]]
        )
        if statement["Effect"] == "Deny":
            continue
        findings += [
            f"{policy.resource.name}: unknown IoT policy action {a}"
            for a in actions
            if a not in IOT_POLICY_ACTIONS
        ]
        findings += [
            f"{policy.resource.name}: allow on every resource" for r in resources if r == "*"
        ]
    return findings
