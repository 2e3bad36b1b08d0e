"""``aisb preflight``: each check where it passes and where it fails (botocore's Stubber, which
also validates request shapes against the AWS models), and the real command end to end in a
subprocess against a moto server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from aisb.cli import preflight_checks as pf
from aisb.cli.results import FAIL, PASS, UNKNOWN
from aisb.settings import parse
from tests.harness import MINIMAL_CONFIG, ROOT
from tests.harness.aws import CREDENTIALS, StubbedClients

TARGET = pf.Target("prod-us-east-1", "123456789012", "us-east-1", "aws")


def _settings(**config: str) -> Any:
    return parse({**MINIMAL_CONFIG, **{f"aisb:{k}": v for k, v in config.items()}})


class Stubs(StubbedClients):
    def __init__(self) -> None:
        super().__init__(pf.SERVICES)


@pytest.fixture
def aws() -> Iterator[Stubs]:
    stubs = Stubs()
    yield stubs
    stubs.verify()


def _only(results: list[Any]) -> Any:
    (result,) = results
    return result


def test_audit_configuration(aws: Stubs) -> None:
    aws.ok("iot", "describe_account_audit_configuration", {})
    assert _only(pf.audit_configuration(aws.clients, _settings(), TARGET)).status == PASS
    aws.ok(
        "iot",
        "describe_account_audit_configuration",
        {"roleArn": "arn:aws:iam::123456789012:role/console-audit"},
    )
    result = _only(pf.audit_configuration(aws.clients, _settings(), TARGET))
    assert (result.status, result.control) == (FAIL, "AISB-4")
    assert "console-audit" in result.detail
    # The exact way through: the import command with the account id and the parent's URN.
    assert result.fix.endswith(
        "pulumi import aws-native:iot:AccountAuditConfiguration aisb-audit-configuration "
        "123456789012 --parent 'audit=urn:pulumi:prod-us-east-1::aisb::aisb:index:"
        "IotSecurityBaseline$aisb:index:DeviceDefenderAudit::aisb-audit' --protect=false "
        "--generate-code=false"
    )


def test_iot_log_group(aws: Stubs) -> None:
    params = {"logGroupNamePrefix": "AWSIotLogsV2"}
    aws.ok("logs", "describe_log_groups", {"logGroups": []}, params)
    assert _only(pf.iot_log_group(aws.clients, _settings(), TARGET)).status == PASS
    aws.ok("logs", "describe_log_groups", {"logGroups": [{"logGroupName": "AWSIotLogsV2"}]})
    result = _only(pf.iot_log_group(aws.clients, _settings(), TARGET))
    assert result.status == FAIL and "aisb-logging-log-group AWSIotLogsV2" in result.fix


def test_access_analyzer(aws: Stubs) -> None:
    aws.ok("accessanalyzer", "list_analyzers", {"analyzers": []}, {"type": "ACCOUNT"})
    assert _only(pf.access_analyzer(aws.clients, _settings(), TARGET)).status == PASS
    analyzer = {
        "arn": "arn:aws:access-analyzer:us-east-1:123456789012:analyzer/org",
        "name": "org",
        "type": "ACCOUNT",
        "createdAt": "2026-01-01T00:00:00Z",
        "status": "ACTIVE",
    }
    aws.ok("accessanalyzer", "list_analyzers", {"analyzers": [analyzer]})
    result = _only(pf.access_analyzer(aws.clients, _settings(), TARGET))
    assert result.status == FAIL and result.fix.startswith("set aisb:accessAnalyzer: false")
    assert pf.access_analyzer(aws.clients, _settings(accessAnalyzer="false"), TARGET) == []


def test_guardduty_detector(aws: Stubs) -> None:
    assert pf.guardduty_detector(aws.clients, _settings(), TARGET) == []
    on = _settings(guardDuty="true")
    aws.ok("guardduty", "list_detectors", {"DetectorIds": []})
    assert _only(pf.guardduty_detector(aws.clients, on, TARGET)).status == PASS
    aws.ok("guardduty", "list_detectors", {"DetectorIds": ["a" * 32]})
    result = _only(pf.guardduty_detector(aws.clients, on, TARGET))
    assert result.status == FAIL and result.fix == f"set aisb:guardDutyDetectorId: {'a' * 32}"
    adopt = _settings(guardDuty="true", guardDutyDetectorId="b" * 32)
    aws.ok("guardduty", "list_detectors", {"DetectorIds": ["b" * 32]})
    assert _only(pf.guardduty_detector(aws.clients, adopt, TARGET)).status == PASS
    aws.ok("guardduty", "list_detectors", {"DetectorIds": ["a" * 32]})
    assert _only(pf.guardduty_detector(aws.clients, adopt, TARGET)).status == FAIL


def test_lambda_concurrency(aws: Stubs) -> None:
    for unreserved, status in ((10, PASS), (0, FAIL)):
        aws.ok(
            "lambda",
            "get_account_settings",
            {
                "AccountLimit": {
                    "ConcurrentExecutions": 10,
                    "UnreservedConcurrentExecutions": unreserved,
                }
            },
        )
        assert _only(pf.lambda_concurrency(aws.clients, _settings(), TARGET)).status == status
    assert pf.lambda_concurrency(aws.clients, _settings(certRotation="false"), TARGET) == []


def test_detect_available(aws: Stubs) -> None:
    ml = _settings(behaviorDetection="ml-detect")
    assert pf.detect_available(aws.clients, _settings(), TARGET) == []
    aws.ok("iot", "list_security_profiles", {"securityProfileIdentifiers": []}, {"maxResults": 1})
    assert _only(pf.detect_available(aws.clients, ml, TARGET)).status == PASS
    aws.error("iot", "list_security_profiles", "UnauthorizedException")
    result = _only(pf.detect_available(aws.clients, ml, TARGET))
    assert result.status == FAIL and result.fix == "set aisb:behaviorDetection: cloudwatch"


def test_target_groups(aws: Stubs) -> None:
    ml = _settings(behaviorDetection="ml-detect", detectTargetGroups='["pumps", "valves"]')
    aws.ok("iot", "describe_thing_group", {"thingGroupName": "pumps"}, {"thingGroupName": "pumps"})
    aws.error("iot", "describe_thing_group", "ResourceNotFoundException")
    results = pf.target_groups(aws.clients, ml, TARGET)
    assert [(r.id, r.status) for r in results] == [
        ("target-group:pumps", PASS),
        ("target-group:valves", FAIL),
    ]


def test_scheduled_audits(aws: Stubs) -> None:
    def audits(names: list[str]) -> dict[str, Any]:
        return {"scheduledAudits": [{"scheduledAuditName": n} for n in names]}

    aws.ok("iot", "list_scheduled_audits", audits(["a", "b", "aisb-audit-schedule-1"]))
    assert _only(pf.scheduled_audits(aws.clients, _settings(), TARGET)).status == PASS
    aws.ok("iot", "list_scheduled_audits", audits([f"team-{i}" for i in range(5)]))
    assert _only(pf.scheduled_audits(aws.clients, _settings(), TARGET)).status == FAIL


def test_fixed_names(aws: Stubs) -> None:
    assert pf.fixed_names(aws.clients, _settings(), TARGET) == []
    everything = _settings(cloudTrail="true", deviceLogs="true")
    aws.ok("cloudtrail", "describe_trails", {"trailList": [{"Name": "aisb-audit-trail"}]})
    aws.error("iot", "describe_role_alias", "ResourceNotFoundException")
    aws.ok("iot", "describe_job_template", {"jobTemplateId": "aisb-device-logs-collect"})
    results = pf.fixed_names(aws.clients, everything, TARGET)
    assert [(r.id, r.status) for r in results] == [
        ("name:trail", FAIL),
        ("name:role-alias", PASS),
        ("name:job-template", FAIL),
    ]


def test_permissions(aws: Stubs) -> None:
    caller = "arn:aws:sts::123456789012:assumed-role/deployer/session"
    role = "arn:aws:iam::123456789012:role/deployer"
    assert pf.role_arn(caller) == role
    assert pf.role_arn("arn:aws:iam::123456789012:user/ana") == "arn:aws:iam::123456789012:user/ana"
    assert pf.role_arn("arn:aws:sts::123456789012:federated-user/x") is None
    actions = pf.needed_actions(_settings())
    assert "iot:UpdateAccountAuditConfiguration" in actions and "lambda:CreateFunction" in actions
    assert "cloudtrail:CreateTrail" not in actions
    identity = {"Arn": caller, "Account": "123456789012", "UserId": "AROA"}

    def decision(action: str) -> str:
        return "explicitDeny" if action == "kms:CreateKey" else "allowed"

    aws.ok("sts", "get_caller_identity", identity)
    aws.ok(
        "iam",
        "simulate_principal_policy",
        {
            "EvaluationResults": [
                {
                    "EvalActionName": a,
                    "EvalDecision": "explicitDeny" if a == "kms:CreateKey" else "allowed",
                }
                for a in actions
            ]
        },
        {"PolicySourceArn": role, "ActionNames": actions},
    )
    result = _only(pf.permissions(aws.clients, _settings(), TARGET))
    assert result.status == FAIL and result.detail.endswith("may not: kms:CreateKey")


def test_a_denied_api_is_unknown_with_the_reason_never_a_traceback(aws: Stubs) -> None:
    aws.error("iot", "describe_account_audit_configuration", "AccessDeniedException")
    result = _only(pf.audit_configuration(aws.clients, _settings(), TARGET))
    assert result.status == UNKNOWN
    assert result.detail == "could not tell: AccessDeniedException: said no"


# --- the command, end to end -------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _aisb(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PULUMI_"))}
    return subprocess.run(
        [sys.executable, "-m", "aisb.cli", *args, "--project", str(ROOT)],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_command_against_a_local_aws(moto_endpoint: str) -> None:
    env = {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    logs = boto3.client("logs", region_name="us-west-2", endpoint_url=moto_endpoint, **_creds())
    logs.create_log_group(logGroupName="AWSIotLogsV2")
    done = _aisb("preflight", "--stack", "dev-us-west-2", "--json", env=env)
    report = json.loads(done.stdout)  # exactly one JSON object on stdout
    assert done.returncode == 1, done.stderr
    assert (report["stack"], report["region"]) == ("dev-us-west-2", "us-west-2")
    by_id = {r["id"]: r for r in report["results"]}
    assert by_id["stack-config"]["status"] == PASS
    assert by_id["iot-log-group"]["status"] == FAIL  # the group made above
    assert by_id["target-group:dev-fleet"]["status"] == FAIL  # no such group in this account
    assert all(set(r) == {"id", "control", "status", "detail", "fix"} for r in report["results"])
    assert {r["status"] for r in report["results"]} <= {PASS, FAIL, UNKNOWN}


def _creds() -> dict[str, str]:
    return dict(CREDENTIALS)


def test_the_command_cannot_run_without_a_stack_or_credentials(tmp_path: Any) -> None:
    missing = _aisb("preflight", "--stack", "nope", "--json")
    assert missing.returncode == 2
    assert "no stack file" in json.loads(missing.stdout)["results"][0]["detail"]
    no_credentials = _aisb(
        "preflight",
        "--stack",
        "dev-us-west-2",
        "--json",
        env={
            "AWS_CONFIG_FILE": str(tmp_path / "none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
            "AWS_EC2_METADATA_DISABLED": "true",
        },
    )
    assert no_credentials.returncode == 2
    assert "NoCredentialsError" in json.loads(no_credentials.stdout)["results"][0]["detail"]


def test_permissions_pass_when_every_action_is_allowed(aws: Stubs) -> None:
    user = "arn:aws:iam::123456789012:user/ana"
    actions = pf.needed_actions(_settings(cloudTrail="true", behaviorDetection="ml-detect"))
    assert {"cloudtrail:CreateTrail", "iot:CreateSecurityProfile"} <= set(actions)
    aws.ok("sts", "get_caller_identity", {"Arn": user, "Account": "123456789012", "UserId": "A"})
    aws.ok(
        "iam",
        "simulate_principal_policy",
        {"EvaluationResults": [{"EvalActionName": a, "EvalDecision": "allowed"} for a in actions]},
        {"PolicySourceArn": user, "ActionNames": actions},
    )
    settings = _settings(cloudTrail="true", behaviorDetection="ml-detect")
    result = _only(pf.permissions(aws.clients, settings, TARGET))
    assert result.status == PASS and f"the {len(actions)} actions needed" in result.detail
    aws.ok(
        "sts",
        "get_caller_identity",
        {"Arn": "arn:aws:sts::1:federated-user/x", "Account": "1", "UserId": "A"},
    )
    assert _only(pf.permissions(aws.clients, settings, TARGET)).status == UNKNOWN
