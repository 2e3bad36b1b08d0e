"""``aisb check``: each posture check where it passes and where it fails (botocore's Stubber),
and the command end to end against a moto server."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import ANY

from aisb.catalog import AUDIT_CHECKS, scheduled_audit_checks
from aisb.settings import parse
from aisb_tools.cli import check_checks as cc
from aisb_tools.cli.results import FAIL, PASS
from tests.harness import MINIMAL_CONFIG
from tests.harness.aws import StubbedClients
from tests.test_cli_preflight import _aisb, _creds, moto_endpoint  # noqa: F401 - fixture

TOPIC = "arn:aws:sns:us-east-1:123456789012:aisb-alerts-topic-1"
ROLE = "arn:aws:iam::123456789012:role/aisb-audit-role-1"


def _settings(**config: str) -> Any:
    return parse({**MINIMAL_CONFIG, **{f"aisb:{k}": v for k, v in config.items()}})


class Stubs(StubbedClients):
    def __init__(self) -> None:
        super().__init__(cc.SERVICES)

    def tagged(self, control: str, kind: str, arns: list[str]) -> None:  # type: ignore[override]
        super().tagged(arns, control, kind)

    def metric(self, total: float) -> None:
        self.ok(
            "cloudwatch",
            "get_metric_statistics",
            {"Datapoints": [{"Sum": total}] if total else []},
        )


@pytest.fixture
def aws() -> Iterator[Stubs]:
    stubs = Stubs()
    yield stubs
    stubs.verify()


def _status(results: list[Any]) -> list[tuple[str, str]]:
    return [(r.id, r.status) for r in results]


def test_logging_level(aws: Stubs) -> None:
    aws.ok("iot", "get_v2_logging_options", {"roleArn": ROLE, "defaultLogLevel": "ERROR"})
    assert _status(cc.logging_level(aws.clients, _settings())) == [("iot-logging", PASS)]
    aws.ok("iot", "get_v2_logging_options", {"roleArn": ROLE, "defaultLogLevel": "DISABLED"})
    assert _status(cc.logging_level(aws.clients, _settings())) == [("iot-logging", FAIL)]


def _audit_config(enabled: set[str], sns: dict[str, Any]) -> dict[str, Any]:
    return {
        "roleArn": ROLE,
        "auditCheckConfigurations": {c.name: {"enabled": c.name in enabled} for c in AUDIT_CHECKS},
        "auditNotificationTargetConfigurations": {"SNS": sns} if sns else {},
    }


def test_audit_checks_and_notifications(aws: Stubs) -> None:
    every = {c.name for c in AUDIT_CHECKS}
    notify = {"targetArn": TOPIC, "roleArn": ROLE, "enabled": True}
    aws.ok("iot", "describe_account_audit_configuration", _audit_config(every, notify))
    aws.tagged("AISB-7", "sns:topic", [TOPIC])
    assert _status(cc.audit(aws.clients, _settings())) == [
        ("audit-checks", PASS),
        ("audit-notifications", PASS),
    ]
    aws.ok(
        "iot",
        "describe_account_audit_configuration",
        _audit_config(every - {"LOGGING_DISABLED_CHECK"}, {}),
    )
    aws.tagged("AISB-7", "sns:topic", [TOPIC])
    results = cc.audit(aws.clients, _settings())
    assert _status(results) == [("audit-checks", FAIL), ("audit-notifications", FAIL)]
    assert "LOGGING_DISABLED_CHECK" in results[0].detail


def test_scheduled_audit(aws: Stubs) -> None:
    checks = scheduled_audit_checks(frozenset(c.name for c in AUDIT_CHECKS))
    listed = {"scheduledAudits": [{"scheduledAuditName": "aisb-audit-schedule-1"}]}
    for frequency, status in (("DAILY", PASS), ("WEEKLY", FAIL)):
        aws.ok("iot", "list_scheduled_audits", listed)
        aws.ok(
            "iot",
            "describe_scheduled_audit",
            {"frequency": frequency, "targetCheckNames": checks},
            {"scheduledAuditName": "aisb-audit-schedule-1"},
        )
        assert _status(cc.schedule(aws.clients, _settings())) == [("scheduled-audit", status)]
    aws.ok("iot", "list_scheduled_audits", {"scheduledAudits": []})
    assert _status(cc.schedule(aws.clients, _settings())) == [("scheduled-audit", FAIL)]


def test_security_profiles(aws: Stubs) -> None:
    assert cc.security_profiles(aws.clients, _settings()) == []
    ml = _settings(behaviorDetection="ml-detect")
    arn = "arn:aws:iot:us-east-1:123456789012:securityprofile/aisb-behavior-ml-profile-1"
    aws.tagged("AISB-5", "iot:securityprofile", [arn])
    aws.ok(
        "iot",
        "list_targets_for_security_profile",
        {"securityProfileTargets": [{"arn": "t"}]},
        {"securityProfileName": "aisb-behavior-ml-profile-1"},
    )
    assert _status(cc.security_profiles(aws.clients, ml)) == [
        ("security-profile:aisb-behavior-ml-profile-1", PASS)
    ]
    aws.tagged("AISB-5", "iot:securityprofile", [arn])
    aws.ok("iot", "list_targets_for_security_profile", {"securityProfileTargets": []})
    assert _status(cc.security_profiles(aws.clients, ml))[0][1] == FAIL


def test_a_pending_subscription_is_a_failure(aws: Stubs) -> None:
    def subs(*arns: str) -> dict[str, Any]:
        return {
            "Subscriptions": [
                {"SubscriptionArn": a, "Protocol": "email", "Endpoint": "x@example.com"}
                for a in arns
            ]
        }

    aws.tagged("AISB-7", "sns:topic", [TOPIC])
    aws.ok("sns", "list_subscriptions_by_topic", subs(f"{TOPIC}:1"), {"TopicArn": TOPIC})
    assert _status(cc.subscriptions(aws.clients, _settings())) == [("alert-subscriptions", PASS)]
    aws.tagged("AISB-7", "sns:topic", [TOPIC])
    aws.ok("sns", "list_subscriptions_by_topic", subs(f"{TOPIC}:1", "PendingConfirmation"))
    (result,) = cc.subscriptions(aws.clients, _settings())
    assert result.status == FAIL and "1 of 2 subscriptions unconfirmed" in result.detail


def test_certificate_monitor_runs_and_dead_letters(aws: Stubs) -> None:
    fn = "arn:aws:lambda:us-east-1:123456789012:function:aisb-cert-rotation-function-1"
    queue = "arn:aws:sqs:us-east-1:123456789012:aisb-cert-rotation-dlq-1"
    for errors, waiting, status in ((0, "0", PASS), (2, "3", FAIL)):
        aws.tagged("AISB-6", "lambda:function", [fn])
        aws.tagged("AISB-6", "sqs", [queue])
        aws.metric(errors)
        aws.ok("sqs", "get_queue_url", {"QueueUrl": "https://q"}, {"QueueName": queue[-24:]})
        aws.ok(
            "sqs",
            "get_queue_attributes",
            {"Attributes": {"ApproximateNumberOfMessages": waiting}},
            {"QueueUrl": "https://q", "AttributeNames": ["ApproximateNumberOfMessages"]},
        )
        assert _status(cc.certificate_monitor(aws.clients, _settings())) == [
            ("cert-monitor-runs", status),
            ("cert-monitor-dead-letters", status),
        ]


def test_the_monitor_and_the_rotation_functions_are_told_apart(aws: Stubs) -> None:
    """Both carry aisb:control=AISB-6: the monitor's runs are read from the monitor, and with
    rotation jobs on, each rotation function's failures of the last day are reported."""
    prefix = "arn:aws:lambda:us-east-1:123456789012:function:"
    monitor = f"{prefix}aisb-cert-rotation-function-44e3c58b"
    rotation = [f"{prefix}aisb-a-rotation-{f}-function-1" for f in ("commit", "create")]
    both = _settings(certRotationJobs="true")
    for failures, status in (((0, 0), PASS), ((0, 3), FAIL)):
        aws.tagged("AISB-6", "lambda:function", sorted([monitor, *rotation]))
        aws.tagged("AISB-6", "sqs", [])
        aws.ok(
            "cloudwatch",
            "get_metric_statistics",
            {"Datapoints": []},
            {
                "Namespace": "AWS/Lambda",
                "MetricName": "Errors",
                "Dimensions": [{"Name": "FunctionName", "Value": monitor.rsplit(":", 1)[-1]}],
                "StartTime": ANY,
                "EndTime": ANY,
                "Period": ANY,
                "Statistics": ["Sum"],
            },
        )
        for arn, n in zip(rotation, failures, strict=True):
            aws.ok(
                "cloudwatch",
                "get_metric_statistics",
                {"Datapoints": [{"Sum": float(n)}] if n else []},
                {
                    "Namespace": "AWS/Lambda",
                    "MetricName": "Errors",
                    "Dimensions": [{"Name": "FunctionName", "Value": arn.rsplit(":", 1)[-1]}],
                    "StartTime": ANY,
                    "EndTime": ANY,
                    "Period": 86400,
                    "Statistics": ["Sum"],
                },
            )
        results = {r.id: r for r in cc.certificate_monitor(aws.clients, both)}
        assert results["cert-monitor-runs"].status == PASS
        assert "aisb-cert-rotation-function-44e3c58b" in results["cert-monitor-runs"].detail
        assert results["rotation-runs"].status == status
    assert "3 of aisb-a-rotation-create-function-1" in results["rotation-runs"].detail
    # Rotation jobs without the monitor: the rotation's functions are still checked.
    aws.tagged("AISB-6", "lambda:function", [monitor])
    aws.tagged("AISB-6", "sqs", [])
    jobs_only = _settings(certRotationJobs="true", certRotation="false")
    assert _status(cc.certificate_monitor(aws.clients, jobs_only)) == [("rotation-runs", FAIL)]


def test_the_monitor_s_name_is_the_one_the_program_gives() -> None:
    from tests.harness import run_main

    rec = run_main({**MINIMAL_CONFIG, "aisb:certRotationJobs": "true"})
    names = {f.name: f.state["arn"] for f in rec.of_type("aws:lambda/function:Function")}
    assert [n for n, arn in names.items() if cc.is_monitor(arn)] == ["aisb-cert-rotation-function"]
    assert sum(n.startswith("aisb-rotation-") for n in names) == 4


def test_certificate_ages_stream_every_page(aws: Stubs) -> None:
    now = datetime.now(UTC)

    def cert(n: int, age: int, status: str = "ACTIVE") -> dict[str, Any]:
        return {
            "certificateId": f"{n:064x}",
            "certificateArn": f"arn:aws:iot:us-east-1:1:cert/{n:064x}",
            "status": status,
            "creationDate": now - timedelta(days=age),
        }

    aws.ok(
        "iot",
        "list_certificates",
        {"certificates": [cert(1, 400), cert(2, 10)], "nextMarker": "m"},
        {"pageSize": 250, "ascendingOrder": True},
    )
    aws.ok(
        "iot",
        "list_certificates",
        {"certificates": [cert(3, 500, "REVOKED")]},
        {"pageSize": 250, "ascendingOrder": True, "marker": "m"},
    )
    seen: list[int] = []
    (result,) = cc.certificate_ages(aws.clients, _settings(), seen.append)
    assert (result.status, result.detail) == (
        FAIL,
        "1 of 3 certificates are at least 365 days old",
    )
    assert seen == [2, 3]


RULE = "aisb-guardduty-findings"
NOW = datetime.now(UTC)


def _rule(aws: Stubs, state: str = "ENABLED", targets: tuple[str, ...] = (TOPIC,)) -> None:
    aws.ok("events", "describe_rule", {"Name": RULE, "State": state}, {"Name": RULE})
    if state != "ENABLED":
        return
    aws.tagged("AISB-7", "sns:topic", [TOPIC])
    aws.ok(
        "events",
        "list_targets_by_rule",
        {"Targets": [{"Id": str(i), "Arn": t} for i, t in enumerate(targets)]},
        {"Rule": RULE},
    )


def _detector(
    aws: Stubs, status: str = "ENABLED", tags: dict[str, str] | None = None, detector: str = "d"
) -> None:
    aws.ok("guardduty", "list_detectors", {"DetectorIds": [detector]})
    aws.ok(
        "guardduty",
        "get_detector",
        {
            "Status": status,
            "ServiceRole": ROLE,
            "Tags": {"aisb:control": "AISB-9"} if tags is None else tags,
        },
        {"DetectorId": detector},
    )


def _trail(**status: Any) -> dict[str, Any]:
    return {
        "IsLogging": True,
        "StartLoggingTime": NOW - timedelta(days=30),
        "LatestDeliveryTime": NOW - timedelta(minutes=5),
        "LatestDigestDeliveryTime": NOW - timedelta(minutes=50),
        **status,
    }


def test_trail_guardduty_and_analyzer(aws: Stubs) -> None:
    on = _settings(cloudTrail="true", guardDuty="true")
    aws.ok("cloudtrail", "get_trail_status", _trail(), {"Name": "aisb-audit-trail"})
    assert _status(cc.trail(aws.clients, on)) == [("trail", PASS)]
    aws.ok("cloudtrail", "get_trail_status", _trail(IsLogging=False))
    assert _status(cc.trail(aws.clients, on)) == [("trail", FAIL)]
    _detector(aws)
    _rule(aws)
    aws.metric(3)
    assert _status(cc.guardduty(aws.clients, on)) == [
        ("guardduty", PASS),
        ("guardduty-delivery", FAIL),
    ]
    analyzer = {
        "arn": "a",
        "name": "aisb-account",
        "type": "ACCOUNT",
        "createdAt": datetime(2026, 1, 1, tzinfo=UTC),
        "status": "ACTIVE",
        "tags": {"aisb:control": "AISB-2"},
    }
    aws.ok("accessanalyzer", "get_analyzer", {"analyzer": analyzer}, {"analyzerName": ANY})
    assert _status(cc.access_analyzer(aws.clients, _settings())) == [("access-analyzer", PASS)]
    aws.ok("accessanalyzer", "get_analyzer", {"analyzer": {**analyzer, "status": "FAILED"}})
    assert _status(cc.access_analyzer(aws.clients, _settings())) == [("access-analyzer", FAIL)]
    # Issue 18 (7): an analyzer of aisb's name that is not the stack's is no evidence.
    aws.ok("accessanalyzer", "get_analyzer", {"analyzer": {**analyzer, "tags": {}}})
    assert _status(cc.access_analyzer(aws.clients, _settings())) == [("access-analyzer", FAIL)]


def test_a_control_that_is_gone_fails(aws: Stubs) -> None:
    # Issue 18 (6): these errors say the control is gone: fail with "run pulumi up", not
    # "unknown" with exit 0.
    on = _settings(cloudTrail="true")
    aws.error("iot", "get_v2_logging_options", "NotConfiguredException")
    aws.error("cloudtrail", "get_trail_status", "TrailNotFoundException")
    aws.error("accessanalyzer", "get_analyzer", "ResourceNotFoundException")
    results = [
        *cc.logging_level(aws.clients, on),
        *cc.trail(aws.clients, on),
        *cc.access_analyzer(aws.clients, on),
    ]
    assert [(r.status, r.fix) for r in results] == [(FAIL, "run pulumi up")] * 3
    # Another error still cannot tell.
    aws.error("cloudtrail", "get_trail_status", "AccessDeniedException")
    assert _status(cc.trail(aws.clients, on)) == [("trail", "unknown")]


def test_the_trail_compares_delivery_times_and_reads_digests(aws: Stubs) -> None:
    # Issue 18 (8): an old error after a later delivery is past; a stalled delivery or digest
    # fails even with no error reported.
    on = _settings(cloudTrail="true")
    cases = [
        (_trail(LatestDeliveryError="AccessDenied"), PASS),  # delivered since
        (_trail(LatestDeliveryTime=NOW - timedelta(hours=5)), FAIL),
        (
            _trail(
                LatestDigestDeliveryTime=NOW - timedelta(hours=8),
                LatestDigestDeliveryError="KMS.KMSInvalidStateException",
            ),
            FAIL,
        ),
        (_trail(LatestDigestDeliveryTime=None), FAIL),
    ]
    for status, expected in cases:
        aws.ok("cloudtrail", "get_trail_status", {k: v for k, v in status.items() if v is not None})
        (result,) = cc.trail(aws.clients, on)
        assert result.status == expected, (status, result)
    aws.ok(
        "cloudtrail",
        "get_trail_status",
        {"IsLogging": True, "StartLoggingTime": NOW - timedelta(minutes=2)},
    )
    assert _status(cc.trail(aws.clients, on)) == [("trail", "unknown")]  # too early to tell


def test_guardduty_passes_only_on_the_stacks_own_detector_rule_and_topic(aws: Stubs) -> None:
    # Issue 18 (7): positive evidence of the deployed baseline only.
    on = _settings(guardDuty="true")
    _detector(aws, tags={})  # someone else's detector
    assert _status(cc.guardduty(aws.clients, on)) == [("guardduty", FAIL)]
    _detector(aws)
    aws.error("events", "describe_rule", "ResourceNotFoundException")
    assert _status(cc.guardduty(aws.clients, on)) == [
        ("guardduty", PASS),
        ("guardduty-delivery", FAIL),
    ]
    _detector(aws)
    _rule(aws, targets=("arn:aws:sns:us-east-1:123456789012:elsewhere",))
    assert _status(cc.guardduty(aws.clients, on))[1] == ("guardduty-delivery", FAIL)
    _detector(aws)
    _rule(aws, state="DISABLED")
    assert _status(cc.guardduty(aws.clients, on))[1] == ("guardduty-delivery", FAIL)
    _detector(aws)
    _rule(aws)
    aws.metric(0)
    assert _status(cc.guardduty(aws.clients, on)) == [
        ("guardduty", PASS),
        ("guardduty-delivery", PASS),
    ]
    adopted = _settings(guardDuty="true", guardDutyDetectorId="a" * 32)
    _detector(aws, tags={}, detector="a" * 32)  # adopted: the organisation's, untagged
    _rule(aws)
    aws.metric(0)
    assert _status(cc.guardduty(aws.clients, adopted))[0] == ("guardduty", PASS)


def test_every_page_of_subscriptions_and_targets_is_read(aws: Stubs) -> None:
    # Issue 18 (8): ListSubscriptionsByTopic answers 100 a page.
    def subs(arns: list[str], token: str | None = None) -> dict[str, Any]:
        page: dict[str, Any] = {
            "Subscriptions": [
                {"SubscriptionArn": a, "Protocol": "email", "Endpoint": "x@example.com"}
                for a in arns
            ]
        }
        if token:
            page["NextToken"] = token
        return page

    aws.tagged("AISB-7", "sns:topic", [TOPIC])
    aws.ok("sns", "list_subscriptions_by_topic", subs([f"{TOPIC}:{i}" for i in range(100)], "n"))
    aws.ok(
        "sns",
        "list_subscriptions_by_topic",
        subs(["PendingConfirmation"]),
        {"TopicArn": TOPIC, "NextToken": "n"},
    )
    (result,) = cc.subscriptions(aws.clients, _settings())
    assert result.status == FAIL and "1 of 101 subscriptions unconfirmed" in result.detail
    ml = _settings(behaviorDetection="ml-detect")
    arn = "arn:aws:iot:us-east-1:123456789012:securityprofile/aisb-behavior-ml-profile-1"
    aws.tagged("AISB-5", "iot:securityprofile", [arn])
    aws.ok(
        "iot", "list_targets_for_security_profile", {"securityProfileTargets": [], "nextToken": "n"}
    )
    aws.ok(
        "iot",
        "list_targets_for_security_profile",
        {"securityProfileTargets": [{"arn": "t"}]},
        {"securityProfileName": "aisb-behavior-ml-profile-1", "nextToken": "n"},
    )
    assert _status(cc.security_profiles(aws.clients, ml))[0][1] == PASS


@pytest.mark.slow
def test_the_command_against_a_local_aws(moto_endpoint: str) -> None:  # noqa: F811
    env = {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    iot = boto3.client("iot", region_name="eu-west-1", endpoint_url=moto_endpoint, **_creds())
    iot.create_keys_and_certificate(setAsActive=True)
    done = _aisb("check", "--stack", "prod-eu-west-1", "--json", env=env)
    report = json.loads(done.stdout)
    assert done.returncode == 1, done.stderr  # nothing is deployed in this empty account
    by_id = {r["id"]: r for r in report["results"]}
    assert by_id["certificate-ages"]["status"] == PASS
    assert by_id["certificate-ages"]["detail"].startswith("0 of 1 certificates")
    assert by_id["alert-topic"]["status"] == FAIL


def test_no_old_certificate_passes_and_a_disabled_detector_fails(aws: Stubs) -> None:
    aws.ok("iot", "list_certificates", {"certificates": []})
    (ages,) = cc.certificate_ages(aws.clients, _settings())
    assert (ages.status, ages.detail) == (PASS, "0 of 0 certificates are at least 365 days old")
    on = _settings(guardDuty="true")
    _detector(aws, status="DISABLED")
    _rule(aws)
    aws.metric(0)
    assert _status(cc.guardduty(aws.clients, on)) == [
        ("guardduty", FAIL),
        ("guardduty-delivery", PASS),
    ]
    aws.ok("guardduty", "list_detectors", {"DetectorIds": []})
    assert _status(cc.guardduty(aws.clients, on)) == [("guardduty", FAIL)]


def _event_configurations(job_execution: bool) -> dict[str, Any]:
    others = ("THING", "THING_GROUP", "JOB", "POLICY", "CERTIFICATE", "CA_CERTIFICATE")
    return {
        "eventConfigurations": {
            "JOB_EXECUTION": {"Enabled": job_execution},
            **{name: {"Enabled": False} for name in others},
        }
    }


def test_rotation_job_events_are_checked_only_with_rotation_jobs(aws: Stubs) -> None:
    """The program leaves the account's event settings alone after creating them, so check is
    what notices job execution events turned off (``pulumi up`` would not turn them on)."""
    assert cc.rotation_job_events(aws.clients, _settings()) == []
    jobs = _settings(certRotationJobs="true")
    aws.ok("iot", "describe_event_configurations", _event_configurations(True))
    assert _status(cc.rotation_job_events(aws.clients, jobs)) == [("rotation-job-events", PASS)]
    aws.ok("iot", "describe_event_configurations", _event_configurations(False))
    (off,) = cc.rotation_job_events(aws.clients, jobs)
    assert off.status == FAIL
    assert off.fix is not None
    words = shlex.split(off.fix)  # the fix is a command to paste into a shell
    assert words[:4] == ["aws", "iot", "update-event-configurations", "--event-configurations"]
    assert json.loads(words[4]) == {"JOB_EXECUTION": {"Enabled": True}}
    aws.error("iot", "describe_event_configurations", "AccessDeniedException")
    assert _status(cc.rotation_job_events(aws.clients, jobs)) == [
        ("rotation-job-events", "unknown")
    ]
