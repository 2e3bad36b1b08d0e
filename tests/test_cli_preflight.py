"""``aisb preflight``: each check where it passes and where it fails (botocore's Stubber, which
also validates request shapes against the AWS models), and the real command end to end in a
subprocess against a moto server on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from aisb.settings import parse
from aisb_tools.cli import preflight_checks as pf
from aisb_tools.cli.results import FAIL, PASS, UNKNOWN
from tests.harness import MINIMAL_CONFIG, ROOT, cli, copy_project
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


AUDIT_ROLE = "arn:aws:iam::123456789012:role/aisb-audit-audit-role-1a2b3c4"
OURS = [{"Key": "aisb:control", "Value": "AISB-4"}]
STATE = pf.StackState(
    frozenset(
        {
            ("aws-native:iot:AccountAuditConfiguration", "123456789012"),
            ("aws:cloudwatch/logGroup:LogGroup", "AWSIotLogsV2"),
            ("aws:guardduty/detector:Detector", "d" * 32),
        }
    ),
    frozenset({"arn:aws:cloudtrail:us-east-1:123456789012:trail/aisb-audit-trail"}),
)


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


def _role(tags: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "Role": {
            "Path": "/",
            "RoleName": AUDIT_ROLE.rsplit("/", 1)[-1],
            "RoleId": "AROAEXAMPLEEXAMPLE1",
            "Arn": AUDIT_ROLE,
            "CreateDate": "2026-01-01T00:00:00Z",
            "Tags": tags,
        }
    }


def test_day_2_the_stacks_own_audit_configuration_is_no_conflict(aws: Stubs) -> None:
    # Issue 18 (1): after the first deploy, aisb's own configuration (its role carries aisb's
    # name and tag) passes, saying by what evidence; one with aisb's role name but no tag, or
    # the tag of another control, is still someone else's.
    for tags, status in ((OURS, PASS), ([], FAIL), ([{"Key": "aisb:control", "Value": "X"}], FAIL)):
        aws.ok("iot", "describe_account_audit_configuration", {"roleArn": AUDIT_ROLE})
        aws.ok("iam", "get_role", _role(tags), {"RoleName": "aisb-audit-audit-role-1a2b3c4"})
        result = _only(pf.audit_configuration(aws.clients, _settings(), TARGET))
        assert result.status == status, result
    aws.ok("iot", "describe_account_audit_configuration", {"roleArn": AUDIT_ROLE})
    aws.ok("iam", "get_role", _role(OURS))
    result = _only(pf.audit_configuration(aws.clients, _settings(), TARGET))
    assert result.detail.endswith("(by its name and tag aisb:control=AISB-4)")
    assert result.fix is None
    # The stack's state is evidence enough, and no tag is read then.
    aws.ok("iot", "describe_account_audit_configuration", {"roleArn": AUDIT_ROLE})
    result = _only(pf.audit_configuration(aws.clients, _settings(), TARGET, STATE))
    assert result.status == PASS and "the stack's state (pulumi stack export)" in result.detail
    # A role that is gone is no evidence: a conflict.
    aws.ok("iot", "describe_account_audit_configuration", {"roleArn": AUDIT_ROLE})
    aws.error("iam", "get_role", "NoSuchEntity")
    assert _only(pf.audit_configuration(aws.clients, _settings(), TARGET)).status == FAIL


def test_iot_log_group(aws: Stubs) -> None:
    params = {"logGroupNamePrefix": "AWSIotLogsV2"}
    aws.ok("logs", "describe_log_groups", {"logGroups": []}, params)
    assert _only(pf.iot_log_group(aws.clients, _settings(), TARGET)).status == PASS
    arn = "arn:aws:logs:us-east-1:123456789012:log-group:AWSIotLogsV2"
    for tags, status in (({}, FAIL), ({"aisb:control": "AISB-3"}, PASS)):
        aws.ok("logs", "describe_log_groups", {"logGroups": [{"logGroupName": "AWSIotLogsV2"}]})
        aws.ok("logs", "list_tags_for_resource", {"tags": tags}, {"resourceArn": arn})
        result = _only(pf.iot_log_group(aws.clients, _settings(), TARGET))
        assert result.status == status
    aws.ok("logs", "describe_log_groups", {"logGroups": [{"logGroupName": "AWSIotLogsV2"}]})
    aws.ok("logs", "list_tags_for_resource", {"tags": {}})
    result = _only(pf.iot_log_group(aws.clients, _settings(), TARGET))
    assert result.status == FAIL and "aisb-logging-log-group AWSIotLogsV2" in result.fix
    assert (
        "(no aisb aisb:control tag; state not read: the Pulumi CLI is not on PATH)" in result.detail
    )


def test_the_log_group_list_is_paged(aws: Stubs) -> None:
    aws.ok(
        "logs",
        "describe_log_groups",
        {"logGroups": [{"logGroupName": "AWSIotLogsV2-other"}], "nextToken": "t"},
    )
    aws.ok(
        "logs",
        "describe_log_groups",
        {"logGroups": [{"logGroupName": "AWSIotLogsV2"}]},
        {"logGroupNamePrefix": "AWSIotLogsV2", "nextToken": "t"},
    )
    result = _only(pf.iot_log_group(aws.clients, _settings(), TARGET, STATE))
    assert result.status == PASS and "state" in result.detail


def _analyzer(name: str, tags: dict[str, str]) -> dict[str, Any]:
    return {
        "arn": f"arn:aws:access-analyzer:us-east-1:123456789012:analyzer/{name}",
        "name": name,
        "type": "ACCOUNT",
        "createdAt": "2026-01-01T00:00:00Z",
        "status": "ACTIVE",
        "tags": tags,
    }


def test_access_analyzer(aws: Stubs) -> None:
    aws.ok("accessanalyzer", "list_analyzers", {"analyzers": []}, {"type": "ACCOUNT"})
    assert _only(pf.access_analyzer(aws.clients, _settings(), TARGET)).status == PASS
    aws.ok("accessanalyzer", "list_analyzers", {"analyzers": [_analyzer("org", {})]})
    result = _only(pf.access_analyzer(aws.clients, _settings(), TARGET))
    assert result.status == FAIL and result.fix.startswith("set aisb:accessAnalyzer: false")
    assert pf.access_analyzer(aws.clients, _settings(accessAnalyzer="false"), TARGET) == []


def test_day_2_the_stacks_own_analyzer_is_no_conflict(aws: Stubs) -> None:
    # Issue 18 (1): `accessAnalyzer: false` would delete aisb's own analyzer: never offered.
    ours = _analyzer("aisb-account", {"aisb:control": "AISB-2"})
    aws.ok(
        "accessanalyzer", "list_analyzers", {"analyzers": [_analyzer("org", {})], "nextToken": "n"}
    )
    aws.ok(
        "accessanalyzer",
        "list_analyzers",
        {"analyzers": [ours]},
        {"type": "ACCOUNT", "nextToken": "n"},
    )
    result = _only(pf.access_analyzer(aws.clients, _settings(), TARGET))
    assert (result.status, result.fix) == (PASS, None)
    # aisb's name without aisb's tag: someone else's.
    aws.ok("accessanalyzer", "list_analyzers", {"analyzers": [_analyzer("aisb-account", {})]})
    assert _only(pf.access_analyzer(aws.clients, _settings(), TARGET)).status == FAIL


def test_guardduty_detector(aws: Stubs) -> None:
    assert pf.guardduty_detector(aws.clients, _settings(), TARGET) == []
    on = _settings(guardDuty="true")
    aws.ok("guardduty", "list_detectors", {"DetectorIds": []})
    assert _only(pf.guardduty_detector(aws.clients, on, TARGET)).status == PASS
    aws.ok("guardduty", "list_detectors", {"DetectorIds": ["a" * 32]})
    aws.ok("guardduty", "get_detector", {"ServiceRole": "r", "Status": "ENABLED", "Tags": {}})
    result = _only(pf.guardduty_detector(aws.clients, on, TARGET))
    assert result.status == FAIL and result.fix == f"set aisb:guardDutyDetectorId: {'a' * 32}"
    adopt = _settings(guardDuty="true", guardDutyDetectorId="b" * 32)
    aws.ok("guardduty", "list_detectors", {"DetectorIds": ["b" * 32]})
    assert _only(pf.guardduty_detector(aws.clients, adopt, TARGET)).status == PASS
    aws.ok("guardduty", "list_detectors", {"DetectorIds": ["a" * 32]})
    assert _only(pf.guardduty_detector(aws.clients, adopt, TARGET)).status == FAIL


def test_day_2_the_stacks_own_detector_is_no_conflict(aws: Stubs) -> None:
    # Issue 18 (1): `guardDutyDetectorId` set to aisb's own detector would remove the
    # Detector from the program: never offered for it.
    on = _settings(guardDuty="true")
    aws.ok("guardduty", "list_detectors", {"DetectorIds": ["c" * 32]})
    aws.ok(
        "guardduty",
        "get_detector",
        {"ServiceRole": "r", "Status": "ENABLED", "Tags": {"aisb:control": "AISB-9"}},
        {"DetectorId": "c" * 32},
    )
    result = _only(pf.guardduty_detector(aws.clients, on, TARGET))
    assert (result.status, result.fix) == (PASS, None)
    aws.ok("guardduty", "list_detectors", {"DetectorIds": ["d" * 32]})
    assert _only(pf.guardduty_detector(aws.clients, on, TARGET, STATE)).status == PASS


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


def test_lambda_concurrency_figures_are_aws_documented_100(aws: Stubs) -> None:
    # Issue 18 (5): a reservation may take the unreserved pool down to 100, not 10.
    assert pf.LAMBDA_UNRESERVED_MINIMUM == 100
    aws.ok(
        "lambda",
        "get_account_settings",
        {"AccountLimit": {"ConcurrentExecutions": 1000, "UnreservedConcurrentExecutions": 1000}},
    )
    result = _only(pf.lambda_concurrency(aws.clients, _settings(), TARGET))
    assert "down to 100: 900 could be reserved here" in result.detail


def test_detect_available(aws: Stubs) -> None:
    ml = _settings(behaviorDetection="ml-detect")
    assert pf.detect_available(aws.clients, _settings(), TARGET) == []
    profile = {"name": "p", "arn": "arn:aws:iot:us-east-1:123456789012:securityprofile/p"}
    aws.ok(
        "iot",
        "list_security_profiles",
        {"securityProfileIdentifiers": [profile]},
        {"maxResults": 1},
    )
    assert _only(pf.detect_available(aws.clients, ml, TARGET)).status == PASS
    aws.error("iot", "list_security_profiles", "UnauthorizedException")
    result = _only(pf.detect_available(aws.clients, ml, TARGET))
    assert result.status == FAIL and result.fix == "set aisb:behaviorDetection: cloudwatch"


def test_detect_reports_unknown_when_the_answer_proves_nothing(aws: Stubs) -> None:
    # Issue 18 (4): an empty list is what an open account and a closed one may both answer.
    ml = _settings(behaviorDetection="ml-detect")
    aws.ok("iot", "list_security_profiles", {"securityProfileIdentifiers": []})
    aws.ok(
        "iot",
        "validate_security_profile_behaviors",
        {"valid": True, "validationErrors": []},
        {"behaviors": [pf.PROBE_BEHAVIOR]},
    )
    assert _only(pf.detect_available(aws.clients, ml, TARGET)).status == UNKNOWN
    # Asked the way creation is checked: a refusal there is the answer.
    aws.ok("iot", "list_security_profiles", {"securityProfileIdentifiers": []})
    aws.error("iot", "validate_security_profile_behaviors", "UnauthorizedException")
    assert _only(pf.detect_available(aws.clients, ml, TARGET)).status == FAIL
    aws.stubs["iot"].add_client_error(
        "list_security_profiles",
        "InvalidRequestException",
        "Detect is no longer available to new customers",
        400,
    )
    assert _only(pf.detect_available(aws.clients, ml, TARGET)).status == FAIL
    aws.stubs["iot"].add_client_error("list_security_profiles", "InvalidRequestException", "bad")
    assert _only(pf.detect_available(aws.clients, ml, TARGET)).status == UNKNOWN


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
    def audits(names: list[str], token: str | None = None) -> dict[str, Any]:
        page: dict[str, Any] = {"scheduledAudits": [{"scheduledAuditName": n} for n in names]}
        if token:
            page["nextToken"] = token
        return page

    aws.ok("iot", "list_scheduled_audits", audits(["a", "b", "aisb-audit-schedule-1"]))
    assert _only(pf.scheduled_audits(aws.clients, _settings(), TARGET)).status == PASS
    # Five audits of other teams, over two pages (issue 18 (8): every page is read).
    aws.ok("iot", "list_scheduled_audits", audits([f"team-{i}" for i in range(3)], "n"))
    aws.ok("iot", "list_scheduled_audits", audits(["team-3", "team-4"]), {"nextToken": "n"})
    assert _only(pf.scheduled_audits(aws.clients, _settings(), TARGET)).status == FAIL


def test_fixed_names(aws: Stubs) -> None:
    assert pf.fixed_names(aws.clients, _settings(), TARGET) == []
    everything = _settings(cloudTrail="true", deviceLogs="true")
    trail_arn = "arn:aws:cloudtrail:us-east-1:123456789012:trail/aisb-audit-trail"
    aws.ok(
        "cloudtrail",
        "describe_trails",
        {"trailList": [{"Name": "aisb-audit-trail", "TrailARN": trail_arn}]},
    )
    aws.ok(
        "cloudtrail",
        "list_tags",
        {"ResourceTagList": [{"ResourceId": trail_arn, "TagsList": []}]},
        {"ResourceIdList": [trail_arn]},
    )
    aws.error("iot", "describe_role_alias", "ResourceNotFoundException")
    template_arn = "arn:aws:iot:us-east-1:123456789012:jobtemplate/aisb-device-logs-collect"
    aws.ok(
        "iot",
        "describe_job_template",
        {"jobTemplateId": "aisb-device-logs-collect", "jobTemplateArn": template_arn},
    )
    aws.ok("iot", "list_tags_for_resource", {"tags": []}, {"resourceArn": template_arn})
    results = pf.fixed_names(aws.clients, everything, TARGET)
    assert [(r.id, r.status) for r in results] == [
        ("name:trail", FAIL),
        ("name:role-alias", PASS),
        ("name:job-template", FAIL),
    ]


def test_day_2_the_stacks_own_trail_role_alias_and_template_are_no_conflict(aws: Stubs) -> None:
    everything = _settings(cloudTrail="true", deviceLogs="true")
    trail_arn = "arn:aws:cloudtrail:us-east-1:123456789012:trail/aisb-audit-trail"
    aws.ok(
        "cloudtrail",
        "describe_trails",
        {"trailList": [{"Name": "aisb-audit-trail", "TrailARN": trail_arn}]},
    )
    alias_arn = "arn:aws:iot:us-east-1:123456789012:rolealias/aisb-device-logs"
    aws.ok(
        "iot",
        "describe_role_alias",
        {"roleAliasDescription": {"roleAlias": "aisb-device-logs", "roleAliasArn": alias_arn}},
    )
    aws.ok(
        "iot",
        "list_tags_for_resource",
        {"tags": [{"Key": "aisb:control", "Value": "AISB-10"}], "nextToken": "n"},
    )
    aws.ok(
        "iot", "list_tags_for_resource", {"tags": []}, {"resourceArn": alias_arn, "nextToken": "n"}
    )
    template_arn = "arn:aws:iot:us-east-1:123456789012:jobtemplate/aisb-device-logs-collect"
    aws.ok("iot", "describe_job_template", {"jobTemplateArn": template_arn})
    aws.ok("iot", "list_tags_for_resource", {"tags": [{"Key": "aisb:control", "Value": "AISB-10"}]})
    results = pf.fixed_names(aws.clients, everything, TARGET, STATE)
    assert [(r.id, r.status) for r in results] == [
        ("name:trail", PASS),  # by the state
        ("name:role-alias", PASS),  # by its tag, on the second page of tags
        ("name:job-template", PASS),
    ]
    assert "state" in results[0].detail and "tag aisb:control=AISB-10" in results[1].detail


def test_a_denied_api_is_unknown_with_the_reason_never_a_traceback(aws: Stubs) -> None:
    aws.error("iot", "describe_account_audit_configuration", "AccessDeniedException")
    result = _only(pf.audit_configuration(aws.clients, _settings(), TARGET))
    assert result.status == UNKNOWN
    assert result.detail == "could not tell: AccessDeniedException: said no"
    # An answer without what the check reads (an endpoint standing in for AWS, say).
    aws.ok("lambda", "get_account_settings", {})
    result = _only(pf.lambda_concurrency(aws.clients, _settings(), TARGET))
    assert result.status == UNKNOWN and "KeyError" in result.detail


# --- the command, end to end -------------------------------------------------------------------


@pytest.fixture
def moto_endpoint(moto_server: str) -> str:
    """The worker's moto server (tests/conftest.py), its state reset for this test."""
    return moto_server


def _aisb(
    *args: str, env: dict[str, str] | None = None, root: Any = ROOT
) -> subprocess.CompletedProcess[str]:
    """The command in a fresh interpreter, never with a real Pulumi CLI (tests.harness.cli)."""
    return cli.in_subprocess([*args, "--project", str(root)], env)


def _aisb_here(
    *args: str, env: dict[str, str] | None = None, root: Any = ROOT
) -> subprocess.CompletedProcess[str]:
    """The same command, its environment and its answer, run in this process."""
    return cli.in_process([*args, "--project", str(root)], env)


@pytest.mark.slow
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
    assert by_id["iot-log-group"]["status"] == FAIL  # the group made above, untagged
    assert by_id["target-group:dev-fleet"]["status"] == FAIL  # no such group in this account
    assert all(set(r) == {"id", "control", "status", "detail", "fix"} for r in report["results"])
    assert {r["status"] for r in report["results"]} <= {PASS, FAIL, UNKNOWN}


def _creds() -> dict[str, str]:
    return dict(CREDENTIALS)


NO_CREDENTIALS = {
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def _one_line_exit_2(done: subprocess.CompletedProcess[str], *words: str) -> str:
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert all(w in lines[0] for w in words), lines[0]
    return lines[0]


def test_the_command_cannot_run_without_a_stack_or_credentials() -> None:
    missing = _aisb_here("preflight", "--stack", "nope", "--json")
    assert missing.returncode == 2
    assert "no stack file" in json.loads(missing.stdout)["results"][0]["detail"]
    as_json = _aisb_here("preflight", "--stack", "dev-us-west-2", "--json", env=NO_CREDENTIALS)
    assert as_json.returncode == 2
    detail = json.loads(as_json.stdout)["results"][0]["detail"]
    assert "aws sso login" in detail and "AWS_PROFILE" in detail
    # Issue 18 (14): one line with the next step, exit 2, never a traceback.
    plain = _aisb_here("preflight", "--stack", "dev-us-west-2", env=NO_CREDENTIALS)
    _one_line_exit_2(plain, "no AWS credentials found", "aws sso login", "AWS_PROFILE")


def test_a_yaml_slip_names_the_file_and_line(tmp_path: Any) -> None:
    root = copy_project(tmp_path)
    stack = root / "stacks" / "Pulumi.dev-us-west-2.yaml"
    lines = stack.read_text().splitlines()
    lines.insert(5, "  aisb:iotLogLevel: [ERROR")  # an unclosed flow sequence
    stack.write_text("\n".join(lines) + "\n")
    for command in ("preflight", "check", "drill"):
        done = _aisb_here(command, "--stack", "dev-us-west-2", env=NO_CREDENTIALS, root=root)
        line = _one_line_exit_2(done, str(stack), "not valid YAML")
        assert f"{stack}:" in line and line.split(f"{stack}:")[1].split(":")[0].isdigit()
    for args in (("stacks",), ("plan", "--out", str(tmp_path / "plans"))):
        _one_line_exit_2(_aisb_here(*args, root=root), str(stack), "not valid YAML")


def test_outside_the_project_folder_one_line(tmp_path: Any) -> None:
    for args in (("preflight", "--stack", "dev-us-west-2"), ("stacks",), ("plan", "--out", "x")):
        done = _aisb_here(*args, env=NO_CREDENTIALS, root=tmp_path)
        _one_line_exit_2(done, "no Pulumi.yaml in", "--project")


def test_a_project_with_no_stacks_says_so(tmp_path: Any) -> None:
    root = copy_project(tmp_path, stacks=False)
    _one_line_exit_2(_aisb_here("stacks", root=root), "no stack files")
    plan = _aisb_here("plan", "--out", str(tmp_path / "plans"), root=root)
    _one_line_exit_2(plan, "no stack files")
    (root / "stacks").rmdir()
    _one_line_exit_2(_aisb_here("stacks", root=root), "no stack folder")


# --- the permission simulation (issue 18 (3)) ---------------------------------------------------


def _evaluations(sim: Any, decision: Any = lambda action, arn: "allowed") -> list[dict[str, Any]]:
    return [
        {"EvalActionName": a, "EvalResourceName": r, "EvalDecision": decision(a, r)}
        for a in sim.actions
        for r in (sim.resources or ("*",))
    ]


def _expect_simulations(
    aws: Stubs, principal: str, settings: Any, target: Any, decision: Any = None
) -> list[Any]:
    sims = pf.simulations(settings, target)
    for sim in sims:
        results = _evaluations(sim, decision) if decision else _evaluations(sim)
        aws.ok(
            "iam",
            "simulate_principal_policy",
            {"EvaluationResults": results},
            sim.request(principal),
        )
    return sims


def test_permissions(aws: Stubs) -> None:
    caller = "arn:aws:sts::123456789012:assumed-role/deployer/session"
    role = "arn:aws:iam::123456789012:role/deployer"
    actions = pf.needed_actions(_settings())
    assert "iot:UpdateAccountAuditConfiguration" in actions and "lambda:CreateFunction" in actions
    assert "cloudtrail:CreateTrail" not in actions
    identity = {"Arn": caller, "Account": "123456789012", "UserId": "AROA"}
    aws.ok("sts", "get_caller_identity", identity)
    aws.ok("iam", "get_role", _role([]) | {"Role": {**_role([])["Role"], "Arn": role}})
    _expect_simulations(
        aws,
        role,
        _settings(),
        TARGET,
        lambda action, arn: "explicitDeny" if action == "kms:CreateKey" else "allowed",
    )
    result = _only(pf.permissions(aws.clients, _settings(), TARGET))
    assert result.status == FAIL and result.detail.endswith("may not: kms:CreateKey on *")


def _passed(service: str) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    return (("iam:PassedToService", "string", (service,)),)


def test_the_simulation_evaluates_what_iam_will(aws: Stubs) -> None:
    settings = _settings(cloudTrail="true", guardDuty="true", deviceLogs="true")
    gov = pf.Target("gov-us-gov-west-1", "123456789012", "us-gov-west-1", "aws-us-gov")
    sims = {s.actions: s for s in pf.simulations(settings, gov)}
    # Resources: the ARNs the stack will create, in the target's partition, with aisb's names.
    listed = pf.simulations(settings, gov)
    to_iot = _passed("iot.amazonaws.com")
    pass_to_iot = next(s for s in listed if s.actions == ("iam:PassRole",) and s.context == to_iot)
    assert pass_to_iot.resources[0].startswith("arn:aws-us-gov:iam::123456789012:role/aisb-")
    assert any(s.context == _passed("lambda.amazonaws.com") for s in listed)
    assert all(arn.startswith("arn:aws-us-gov:") for s in sims.values() for arn in s.resources)
    # Context: the tag a create request carries, as the conditions test it.
    key = sims[("kms:CreateKey",)]
    assert ("aws:RequestTag/aisb:control", "string", ("AISB-7",)) in key.context
    assert ("aws:TagKeys", "stringList", ("aisb:control",)) in key.context
    detector = sims[("guardduty:CreateDetector",)]
    assert ("aws:RequestTag/aisb:control", "string", ("AISB-9",)) in detector.context
    trail = sims[("cloudtrail:CreateTrail", "cloudtrail:AddTags")]
    assert trail.resources == (
        "arn:aws-us-gov:cloudtrail:us-gov-west-1:123456789012:trail/aisb-audit-trail",
    )
    # Cloud Control, which aws-native goes through.
    assert "cloudformation:CreateResource" in pf.needed_actions(settings, gov)
    # Every request is valid for botocore's model (Stubber checks each one).
    user = "arn:aws-us-gov:iam::123456789012:user/ana"
    aws.ok("sts", "get_caller_identity", {"Arn": user, "Account": "123456789012", "UserId": "A"})
    _expect_simulations(aws, user, settings, gov)
    result = _only(pf.permissions(aws.clients, settings, gov))
    assert result.status == PASS and "on the stack's ARNs" in result.detail


def test_the_simulation_reads_every_page(aws: Stubs) -> None:
    user = "arn:aws:iam::123456789012:user/ana"
    aws.ok("sts", "get_caller_identity", {"Arn": user, "Account": "123456789012", "UserId": "A"})
    sims = pf.simulations(_settings(), TARGET)
    first = sims[0]
    aws.ok(
        "iam",
        "simulate_principal_policy",
        {"EvaluationResults": _evaluations(first), "IsTruncated": True, "Marker": "m1"},
        first.request(user),
    )
    # The denial is on the second page: today's code never reads it.
    aws.ok(
        "iam",
        "simulate_principal_policy",
        {
            "EvaluationResults": [
                {
                    "EvalActionName": "kms:CreateKey",
                    "EvalResourceName": "*",
                    "EvalDecision": "implicitDeny",
                }
            ]
        },
        {**first.request(user), "Marker": "m1"},
    )
    for sim in sims[1:]:
        aws.ok(
            "iam",
            "simulate_principal_policy",
            {"EvaluationResults": _evaluations(sim)},
            sim.request(user),
        )
    result = _only(pf.permissions(aws.clients, _settings(), TARGET))
    assert result.status == FAIL and "kms:CreateKey on *" in result.detail


def test_an_identity_center_role_keeps_its_path(aws: Stubs) -> None:
    caller = "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/ana"
    role = (
        "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/"
        "AWSReservedSSO_Admin_0123456789abcdef"
    )
    aws.ok("sts", "get_caller_identity", {"Arn": caller, "Account": "123456789012", "UserId": "A"})
    aws.ok(
        "iam",
        "get_role",
        {
            "Role": {
                "Path": "/aws-reserved/sso.amazonaws.com/",
                "RoleName": "AWSReservedSSO_Admin_0123456789abcdef",
                "RoleId": "AROAEXAMPLEEXAMPLE1",
                "Arn": role,
                "CreateDate": "2026-01-01T00:00:00Z",
            }
        },
        {"RoleName": "AWSReservedSSO_Admin_0123456789abcdef"},
    )
    _expect_simulations(aws, role, _settings(), TARGET)
    assert _only(pf.permissions(aws.clients, _settings(), TARGET)).status == PASS


def test_permissions_pass_when_every_action_is_allowed(aws: Stubs) -> None:
    user = "arn:aws:iam::123456789012:user/ana"
    settings = _settings(cloudTrail="true", behaviorDetection="ml-detect")
    actions = pf.needed_actions(settings)
    assert {"cloudtrail:CreateTrail", "iot:CreateSecurityProfile"} <= set(actions)
    aws.ok("sts", "get_caller_identity", {"Arn": user, "Account": "123456789012", "UserId": "A"})
    _expect_simulations(aws, user, settings, TARGET)
    result = _only(pf.permissions(aws.clients, settings, TARGET))
    assert result.status == PASS and f"the {len(actions)} actions needed" in result.detail
    aws.ok(
        "sts",
        "get_caller_identity",
        {"Arn": "arn:aws:sts::1:federated-user/x", "Account": "1", "UserId": "A"},
    )
    assert _only(pf.permissions(aws.clients, settings, TARGET)).status == UNKNOWN


# --- the stack's state (issue 18 (1)) ------------------------------------------------------------


def _fake_pulumi(folder: Any, exported: dict[str, Any] | None, code: int = 0) -> Any:
    """A ``pulumi`` executable that prints ``exported`` for ``stack export`` (and records its
    arguments), never the real CLI."""
    folder.mkdir(exist_ok=True)
    script = folder / "pulumi"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$@" > "{folder}/args"\n'
        f"cat <<'JSON'\n{json.dumps(exported)}\nJSON\n"
        + ("echo 'error: no stack named dev' >&2\n" if code else "")
        + f"exit {code}\n"
    )
    script.chmod(0o755)
    return folder


def test_the_stack_state_is_read_with_a_pulumi_on_path(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    exported = {
        "version": 3,
        "deployment": {
            "resources": [
                {"type": "pulumi:pulumi:Stack", "urn": "urn:x"},
                {
                    "type": "aws:guardduty/detector:Detector",
                    "id": "e" * 32,
                    "outputs": {"arn": "arn:aws:guardduty:us-east-1:123456789012:detector/e"},
                },
                {"type": "aws:cloudwatch/logGroup:LogGroup", "id": "AWSIotLogsV2", "outputs": {}},
            ]
        },
    }
    bin_dir = _fake_pulumi(tmp_path / "bin", exported)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    state = pf.stack_state("prod-us-east-1", tmp_path)
    assert state.read and state.holds("aws:guardduty/detector:Detector", "e" * 32)
    assert state.holds("aws:cloudwatch/logGroup:LogGroup", "AWSIotLogsV2")
    assert not state.holds("aws:cloudwatch/logGroup:LogGroup", "other")
    assert (bin_dir / "args").read_text().split() == [
        "stack",
        "export",
        "--stack",
        "prod-us-east-1",
    ]
    failing = _fake_pulumi(tmp_path / "failing", None, code=255)
    monkeypatch.setenv("PATH", f"{failing}:{os.environ['PATH']}")
    state = pf.stack_state("dev", tmp_path)
    assert not state.read and "no stack named dev" in state.note
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert pf.stack_state("dev", tmp_path) == pf.NO_STATE


# --- exit codes (issue 18 (2)) -------------------------------------------------------------------


def test_exit_codes_of_a_report() -> None:
    from aisb_tools.cli.results import Report, Result

    def code(*statuses: str, allow: bool = False) -> int:
        report = Report(
            "s", "r", tuple(Result(str(i), None, s, "") for i, s in enumerate(statuses))
        )
        return report.exit_code_for(allow)

    assert code(PASS, PASS) == 0
    assert code(PASS, FAIL, UNKNOWN) == 1
    assert code(PASS, UNKNOWN, UNKNOWN) == 3  # today: 0, "all clear"
    assert code(PASS, UNKNOWN, allow=True) == 0
    assert code(FAIL, UNKNOWN, allow=True) == 1
    assert code(*[UNKNOWN] * 9, PASS) == 3  # a wrong region: every AWS check could not tell


@pytest.mark.parametrize(
    ("statuses", "flags", "expected"),
    [
        ((PASS,), (), 0),
        ((PASS, FAIL), (), 1),
        ((PASS, UNKNOWN), (), 3),
        ((PASS, UNKNOWN), ("--allow-unknown",), 0),
        ((FAIL, UNKNOWN), ("--allow-unknown",), 1),
    ],
)
def test_exit_codes_of_the_commands(
    monkeypatch: pytest.MonkeyPatch,
    statuses: tuple[str, ...],
    flags: tuple[str, ...],
    expected: int,
) -> None:
    from click.testing import CliRunner

    import aisb_tools.cli as cli
    import aisb_tools.cli.run as run
    from aisb_tools.cli import check_checks, drill_checks
    from aisb_tools.cli.results import Result

    fixed = [Result(f"c{i}", None, s, "d") for i, s in enumerate(statuses)]
    identity = {"Arn": "arn:aws:iam::123456789012:user/ana", "Account": "123456789012"}
    monkeypatch.setattr(run, "connect", lambda *a, **k: ({}, identity))
    monkeypatch.setattr(pf, "preflight", lambda *a, **k: list(fixed))
    monkeypatch.setattr(pf, "stack_state", lambda *a, **k: pf.NO_STATE)
    monkeypatch.setattr(check_checks, "check_all", lambda *a, **k: list(fixed))
    monkeypatch.setattr(drill_checks, "drill", lambda *a, **k: list(fixed))
    for command in ("preflight", "check", "drill"):
        done = CliRunner().invoke(
            cli.app,
            [command, "--stack", "dev-us-west-2", "--json", "--project", str(ROOT), *flags],
        )
        assert done.exit_code == expected, (command, done.output)


def test_long_fixes_are_printed_whole_below_the_table() -> None:
    # Issue 18 (15): a `pulumi import` fix, copyable at 80 columns.
    from rich.console import Console

    from aisb_tools.cli.results import Report, Result, render_table

    fix = (
        "after a first `pulumi up` stops on it, import it: pulumi import "
        "aws:cloudwatch/logGroup:LogGroup aisb-logging-log-group AWSIotLogsV2 --parent "
        "'logging=urn:pulumi:dev::aisb::aisb:index:IotSecurityBaseline$aisb:index:IotLogging::"
        "aisb-logging' --protect=false --generate-code=false"
    )
    report = Report("dev", "us-east-1", (Result("iot-log-group", "AISB-3", FAIL, "exists", fix),))
    console = Console(width=80, record=True, color_system=None)
    render_table(report, console)
    text = console.export_text()
    assert fix in text.splitlines()  # one whole line
    table = text.split("fix 1 (iot-log-group):")[0]
    assert len(table.splitlines()) < 10 and "see fix 1 below" in table


@pytest.mark.slow
def test_day_2_the_command_reads_the_stacks_state_with_the_pulumi_cli(
    moto_endpoint: str, tmp_path: Any
) -> None:
    # The log group exists untagged (as AWS IoT makes it), but the stack's state holds it.
    logs = boto3.client("logs", region_name="us-west-2", endpoint_url=moto_endpoint, **_creds())
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName="AWSIotLogsV2")
    exported = {
        "deployment": {
            "resources": [{"type": "aws:cloudwatch/logGroup:LogGroup", "id": "AWSIotLogsV2"}]
        }
    }
    bin_dir = _fake_pulumi(tmp_path / "bin", exported)
    env = {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
    }
    done = _aisb("preflight", "--stack", "dev-us-west-2", "--json", env=env)
    by_id = {r["id"]: r for r in json.loads(done.stdout)["results"]}
    assert by_id["iot-log-group"]["status"] == PASS, by_id["iot-log-group"]
    assert by_id["iot-log-group"]["detail"].endswith("(by the stack's state (pulumi stack export))")
    assert (bin_dir / "args").read_text().split() == ["stack", "export", "--stack", "dev-us-west-2"]
