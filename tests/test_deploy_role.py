"""The deploy role: a CloudFormation template every account can get from one StackSet, with
what `pulumi up` of the baseline needs and its OIDC trust."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
import yaml

from aisb import deploy_role
from tests.harness import ROOT, run_main, stack_config, stack_files

# parliament's findings a deploy role cannot avoid: it creates roles, policies and bucket
# policies (scoped to aisb- names) and updates the code of aisb- functions.
INHERENT = {
    "PERMISSIONS_MANAGEMENT_ACTIONS",
    "RESOURCE_POLICY_PRIVILEGE_ESCALATION",
    "PRIVILEGE_ESCALATION",
}

ALL_ON = {
    "aisb:cloudTrail": "true",
    "aisb:guardDuty": "true",
    "aisb:deviceLogs": "true",
    "aisb:behaviorDetection": "ml-detect",
    "aisb:customMetrics": json.dumps([{"name": "m", "type": "number", "monitor": "ml"}]),
    "aisb:certReportBucket": "true",
    "aisb:certRotationJobs": "true",
    "aisb:certRotationJobsAutomatic": "true",
}


def _declared_types() -> set[str]:
    types: set[str] = set()
    for path in stack_files():
        config = {**stack_config(path), **ALL_ON}
        for r in run_main(config, region=config["aws:region"]).custom():
            if r.type.startswith(("aws:", "aws-native:")):
                types.add(r.type)
    return types


def test_the_template_is_current() -> None:
    assert deploy_role.main(["--check"]) == 0, "run `uv run python -m aisb.deploy_role`"
    assert deploy_role.TEMPLATE == ROOT / "deploy-role" / "aisb-deployer.yaml"


def test_every_resource_type_the_program_declares_is_covered() -> None:
    declared = _declared_types()
    assert declared <= set(deploy_role.COVERS), sorted(declared - set(deploy_role.COVERS))
    sids = {s.sid for s in deploy_role.STATEMENTS}
    for type_, needed in deploy_role.COVERS.items():
        assert set(needed) <= sids, type_
    assert len(sids) == len(deploy_role.STATEMENTS)


def test_cloudformation_accepts_the_template() -> None:
    from cfnlint.api import lint

    matches = lint(deploy_role.render(), regions=["us-east-1", "eu-west-1"])
    assert [f"{m.rule.id} {m.message}" for m in matches] == []


def test_parliament_finds_only_what_a_deploy_role_must_do() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from parliament import analyze_policy_string

    text = json.dumps(deploy_role.policy())
    text = text.replace("${AWS::Partition}", "aws").replace("${AWS::AccountId}", "123456789012")
    issues = {
        f.issue for f in analyze_policy_string(text, include_community_auditors=True).findings
    }
    assert issues <= INHERENT, issues - INHERENT


def test_the_policy_fits_an_inline_role_policy() -> None:
    # IAM's limit for a role's inline policies is 10,240 characters, whitespace excluded.
    assert len(json.dumps(deploy_role.policy(), separators=(",", ":"))) < 10_240


def _statements() -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in deploy_role.policy()["Statement"]}


def test_named_resources_are_limited_to_the_baseline_s_names() -> None:
    for sid, statement in _statements().items():
        resources = statement["Resource"]
        resources = resources if isinstance(resources, list) else [resources]
        for resource in resources:
            if resource == "*":
                continue
            plain = resource.replace("${AWS::Partition}", "aws")
            name = plain.replace("${AWS::AccountId}", "123456789012").split(":", 5)[5]
            assert (
                "aisb-" in name
                or name.startswith(("log-group:/aisb/", "log-group:AWSIotLogsV2"))
                # IoT rule names take no hyphens: the baseline's name and an underscore.
                or name.startswith("rule/aisb_")
                or "Condition" in statement
            ), (sid, resource)


@pytest.mark.parametrize("sid", ["CreateTaggedKeys", "CreateTaggedDetector"])
def test_resources_with_generated_ids_must_carry_the_baseline_s_tag(sid: str) -> None:
    assert _statements()[sid]["Condition"] == {"Null": {"aws:RequestTag/aisb:control": "false"}}
    manage = _statements()[sid.replace("Create", "Manage")]
    assert manage["Condition"] == {"Null": {"aws:ResourceTag/aisb:control": "false"}}


def test_roles_are_passed_only_to_their_services() -> None:
    statement = _statements()["PassRolesToTheirServices"]
    assert statement["Action"] == ["iam:PassRole"]
    assert statement["Condition"]["StringEquals"]["iam:PassedToService"] == [
        "iot.amazonaws.com",
        "lambda.amazonaws.com",
        "credentials.iot.amazonaws.com",
    ]
    attach = _statements()["AttachTheAuditManagedPolicy"]["Condition"]["ArnLike"]
    assert attach["iam:PolicyARN"].endswith(
        ":iam::aws:policy/service-role/AWSIoTDeviceDefenderAudit"
    )


def test_the_trust_admits_this_organisation_s_deployments_and_this_repository_s_branch() -> None:
    template = yaml.safe_load(deploy_role.TEMPLATE.read_text().split("\n", 2)[2])
    role = template["Resources"]["DeployRole"]["Properties"]
    assert role["MaxSessionDuration"] == 3600
    pulumi, github = role["AssumeRolePolicyDocument"]["Statement"]
    assert pulumi["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert pulumi["Condition"]["StringEquals"] == {
        "api.pulumi.com/oidc:aud": {"Ref": "PulumiOrganization"}
    }
    assert pulumi["Condition"]["StringLike"] == {
        "api.pulumi.com/oidc:sub": {
            "Fn::Sub": "pulumi:deploy:org:${PulumiOrganization}:project:aisb:*"
        }
    }
    condition, statement, _ = github["Fn::If"]
    assert condition == "TrustGitHub"
    assert statement["Condition"]["StringEquals"] == {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": {
            "Fn::Sub": "repo:${GitHubRepository}:ref:refs/heads/${Branch}"
        },
    }
    providers = {
        k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::IAM::OIDCProvider"
    }
    assert {p["Properties"]["Url"] for p in providers.values()} == {
        "https://api.pulumi.com/oidc",
        "https://token.actions.githubusercontent.com",
    }
