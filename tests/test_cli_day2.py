"""Day 2 (issue 18): an account holding the stack's own tagged resources, as the first deploy
left them, passes ``aisb preflight`` and ``aisb check``; the same resources made by someone
else (untagged, or tagged for nothing of aisb's) still fail preflight with the fix, and fail
check. moto answers what it implements; Stubber answers the rest (IoT's Device Defender and
logging options, Access Analyzer, IAM's simulator, Lambda's account settings), validating
each request against botocore's models."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from aisb.catalog import AUDIT_CHECKS, scheduled_audit_checks
from aisb.settings import parse
from aisb_tools.cli import check_checks as cc
from aisb_tools.cli import preflight_checks as pf
from aisb_tools.cli.results import FAIL, PASS, Report
from tests.harness import MINIMAL_CONFIG
from tests.harness.aws import CREDENTIALS, MotoAndStubs

REGION = "us-east-1"
ACCOUNT = "123456789012"
SETTINGS = parse(
    {
        **MINIMAL_CONFIG,
        "aisb:cloudTrail": "true",
        "aisb:guardDuty": "true",
        "aisb:certRotation": "false",
    }
)
TARGET = pf.Target("prod-us-east-1", ACCOUNT, REGION, "aws")
AUDIT_ROLE = f"arn:aws:iam::{ACCOUNT}:role/aisb-audit-audit-role-1a2b3c4"
NOTIFY_ROLE = f"arn:aws:iam::{ACCOUNT}:role/aisb-audit-notify-role-5d6e7f8"
LOGGING_ROLE = f"arn:aws:iam::{ACCOUNT}:role/aisb-logging-role-9a8b7c6"
MOTO = ("logs", "guardduty", "cloudtrail", "sts", "sns", "sqs", "cloudwatch", "events", "s3")
STUBBED = ("iot", "iam", "accessanalyzer", "lambda", "resourcegroupstaggingapi", "securityhub")


IAM_PREFIX = {"accessanalyzer": "access-analyzer", "resourcegroupstaggingapi": "tag"}
# The endpoint after the first deploy: the stack set its TLS policy (aisb:iotTlsPolicy).
DATA_ATS = {
    "domainConfigurationName": "iot:Data-ATS",
    "tlsConfig": {"securityPolicy": "IoTSecurityPolicy_TLS13_1_2_2022_10"},
}


def _record(aws: MotoAndStubs) -> set[str]:
    """Every operation the clients are asked for, as ``<IAM prefix>:<Operation>``."""
    calls: set[str] = set()
    for service, client in aws.clients.items():
        prefix = IAM_PREFIX.get(service, service)

        def heard(model: Any, prefix: str = prefix, **_: Any) -> None:
            calls.add(f"{prefix}:{model.name}")

        client.meta.events.register("before-parameter-build", heard)
    return calls


def _tags(owned: bool, control: str) -> dict[str, str]:
    return {"aisb:control": control} if owned else {"team": "platform"}


def _tag_list(owned: bool, control: str) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in _tags(owned, control).items()]


@pytest.fixture
def account() -> Iterator[None]:
    with mock_aws():
        yield


def _deployed(owned: bool) -> dict[str, str]:
    """What the first `pulumi up` left (owned) or the same made by another team (not)."""
    kw: dict[str, Any] = {"region_name": REGION, **CREDENTIALS}
    boto3.client("logs", **kw).create_log_group(
        logGroupName="AWSIotLogsV2", tags=_tags(owned, "AISB-3")
    )
    detector = boto3.client("guardduty", **kw).create_detector(
        Enable=True, Tags=_tags(owned, "AISB-9")
    )["DetectorId"]
    boto3.client("s3", **kw).create_bucket(Bucket="aisb-trail-bucket-1a2b3c4")
    trail = boto3.client("cloudtrail", **kw)
    trail.create_trail(
        Name="aisb-audit-trail",
        S3BucketName="aisb-trail-bucket-1a2b3c4",
        EnableLogFileValidation=True,
        TagsList=_tag_list(owned, "AISB-8"),
    )
    trail.start_logging(Name="aisb-audit-trail")
    sns = boto3.client("sns", **kw)
    topic = sns.create_topic(Name="aisb-alerts-topic-1a2b3c4", Tags=_tag_list(owned, "AISB-7"))[
        "TopicArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="security@example.com")
    events = boto3.client("events", **kw)
    events.put_rule(
        Name="aisb-guardduty-findings",
        EventPattern='{"source": ["aws.guardduty"]}',
        Tags=_tag_list(owned, "AISB-9"),
    )
    events.put_targets(Rule="aisb-guardduty-findings", Targets=[{"Id": "email", "Arn": topic}])
    return {"topic": topic, "detector": detector}


def _answer_preflight(aws: MotoAndStubs, owned: bool) -> None:
    aws.ok("iot", "describe_account_audit_configuration", {"roleArn": AUDIT_ROLE})
    aws.ok(
        "iam",
        "get_role",
        {
            "Role": {
                "Path": "/",
                "RoleName": AUDIT_ROLE.rsplit("/", 1)[-1],
                "RoleId": "AROAEXAMPLEEXAMPLE1",
                "Arn": AUDIT_ROLE,
                "CreateDate": "2026-01-01T00:00:00Z",
                "Tags": _tag_list(owned, "AISB-4"),
            }
        },
        {"RoleName": AUDIT_ROLE.rsplit("/", 1)[-1]},
    )
    aws.ok(
        "accessanalyzer",
        "list_analyzers",
        {
            "analyzers": [
                {
                    "arn": f"arn:aws:access-analyzer:{REGION}:{ACCOUNT}:analyzer/aisb-account",
                    "name": "aisb-account",
                    "type": "ACCOUNT",
                    "createdAt": "2026-01-01T00:00:00Z",
                    "status": "ACTIVE",
                    "tags": _tags(owned, "AISB-2"),
                }
            ]
        },
        {"type": "ACCOUNT"},
    )
    aws.ok(
        "iot",
        "list_scheduled_audits",
        {"scheduledAudits": [{"scheduledAuditName": "aisb-audit-schedule-1a2b3c4"}]},
    )
    user = f"arn:aws:sts::{ACCOUNT}:user/moto"  # moto's caller
    for sim in pf.simulations(SETTINGS, TARGET):
        aws.ok(
            "iam",
            "simulate_principal_policy",
            {
                "EvaluationResults": [
                    {"EvalActionName": a, "EvalResourceName": r, "EvalDecision": "allowed"}
                    for a in sim.actions
                    for r in sim.resources or ("*",)
                ]
            },
            sim.request(user),
        )
    # Security Hub enabled by the organisation; aisb:securityHub stays off in this stack.
    aws.ok(
        "securityhub",
        "describe_hub",
        {"HubArn": f"arn:aws:securityhub:{REGION}:{ACCOUNT}:hub/default"},
    )
    aws.ok(
        "iot",
        "describe_domain_configuration",
        DATA_ATS,
        {"domainConfigurationName": "iot:Data-ATS"},
    )


def test_day_2_preflight_passes_on_the_stacks_own_resources(account: None) -> None:
    _deployed(owned=True)
    aws = MotoAndStubs(MOTO, STUBBED, REGION)
    calls = _record(aws)
    _answer_preflight(aws, owned=True)
    results = pf.preflight(aws.clients, SETTINGS, TARGET)
    aws.verify()
    assert calls <= set(pf.OPERATIONS), calls - set(pf.OPERATIONS)
    assert {"iam:SimulatePrincipalPolicy", "logs:ListTagsForResource", "iam:GetRole"} <= calls
    assert {r.id: r.status for r in results if r.status != PASS} == {}
    report = Report("prod-us-east-1", REGION, tuple(results))
    assert report.exit_code == 0
    by_id = {r.id: r for r in results}
    for check_id in (
        "audit-configuration",
        "iot-log-group",
        "access-analyzer",
        "guardduty-detector",
        "name:trail",
    ):
        assert "is the stack's own (by its name and tag aisb:control=" in by_id[check_id].detail
        assert by_id[check_id].fix is None


def test_day_2_the_same_resources_made_by_someone_else_still_fail_with_the_fix(
    account: None,
) -> None:
    made = _deployed(owned=False)
    aws = MotoAndStubs(MOTO, STUBBED, REGION)
    calls = _record(aws)
    _answer_preflight(aws, owned=False)
    results = pf.preflight(aws.clients, SETTINGS, TARGET)
    aws.verify()
    assert calls <= set(pf.OPERATIONS), calls - set(pf.OPERATIONS)
    failed = {r.id: r for r in results if r.status == FAIL}
    assert set(failed) == {
        "audit-configuration",
        "iot-log-group",
        "access-analyzer",
        "guardduty-detector",
        "name:trail",
    }
    assert failed["guardduty-detector"].fix == f"set aisb:guardDutyDetectorId: {made['detector']}"
    assert failed["iot-log-group"].fix and "pulumi import" in failed["iot-log-group"].fix
    assert Report("s", REGION, tuple(results)).exit_code == 1


def _answer_check(aws: MotoAndStubs, topic: str, owned: bool) -> None:
    checks = {c.name for c in AUDIT_CHECKS}
    aws.ok("iot", "get_v2_logging_options", {"roleArn": LOGGING_ROLE, "defaultLogLevel": "ERROR"})
    aws.ok(
        "iot",
        "describe_account_audit_configuration",
        {
            "roleArn": AUDIT_ROLE,
            "auditCheckConfigurations": {name: {"enabled": True} for name in checks},
            "auditNotificationTargetConfigurations": {
                "SNS": {"targetArn": topic, "roleArn": NOTIFY_ROLE, "enabled": True}
            },
        },
    )
    found = [{"ResourceARN": topic}] if owned else []
    aws.ok("resourcegroupstaggingapi", "get_resources", {"ResourceTagMappingList": found})
    aws.ok(
        "iot",
        "list_scheduled_audits",
        {"scheduledAudits": [{"scheduledAuditName": "aisb-audit-schedule-1a2b3c4"}]},
    )
    aws.ok(
        "iot",
        "describe_scheduled_audit",
        {"frequency": "DAILY", "targetCheckNames": scheduled_audit_checks(frozenset(checks))},
    )
    aws.ok("resourcegroupstaggingapi", "get_resources", {"ResourceTagMappingList": found})
    if owned:  # the findings rule is checked for the stack's own detector only
        aws.ok("resourcegroupstaggingapi", "get_resources", {"ResourceTagMappingList": found})
    aws.ok(
        "accessanalyzer",
        "get_analyzer",
        {
            "analyzer": {
                "arn": f"arn:aws:access-analyzer:{REGION}:{ACCOUNT}:analyzer/aisb-account",
                "name": "aisb-account",
                "type": "ACCOUNT",
                "createdAt": "2026-01-01T00:00:00Z",
                "status": "ACTIVE",
                "tags": _tags(owned, "AISB-2"),
            }
        },
    )
    aws.ok(
        "iot",
        "describe_domain_configuration",
        DATA_ATS,
        {"domainConfigurationName": "iot:Data-ATS"},
    )
    aws.ok("iot", "list_certificates", {"certificates": []})


def test_day_2_check_passes_on_the_stacks_own_resources_and_fails_on_anothers() -> None:
    for owned in (True, False):
        with mock_aws():
            made = _deployed(owned)
            aws = MotoAndStubs(MOTO, STUBBED, REGION)
            calls = _record(aws)
            _answer_check(aws, made["topic"], owned)
            results = cc.check_all(aws.clients, SETTINGS)
            aws.verify()
        assert calls <= set(cc.OPERATIONS), calls - set(cc.OPERATIONS)
        statuses = {r.id: r.status for r in results}
        if owned:
            assert set(statuses.values()) == {PASS}, results
            assert Report("s", REGION, tuple(results)).exit_code == 0
        else:
            assert {k for k, v in statuses.items() if v == FAIL} >= {
                "audit-notifications",
                "alert-topic",
                "guardduty",
                "access-analyzer",
            }
            assert Report("s", REGION, tuple(results)).exit_code == 1
