"""CertificateRotationMonitor under mocks, alone and in every stack."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from aisb import CertificateRotationMonitor, CertificateRotationMonitorArgs
from aisb.choices import BehaviorDetection
from aisb.components.cert_rotation import FUNCTION_DIR, schedule_expression
from aisb.settings import parse
from tests.harness import (
    ACCOUNT,
    Recording,
    parliament_findings,
    policy_documents,
    run,
    stack_config,
    stack_files,
    stack_name,
)

TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:alerts"
TOPIC_KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
BASE: CertificateRotationMonitorArgs = {
    "account_id": ACCOUNT,
    "region": "us-east-1",
    "partition": "aws",
    "alert_topic_arn": TOPIC,
    "alert_topic_kms_key_arn": TOPIC_KEY,
}


def _monitor(**args: Any) -> Recording:
    return run(lambda: CertificateRotationMonitor("certs", {**BASE, **args}))  # type: ignore[typeddict-item]


def _policy(rec: Recording) -> dict[str, Any]:
    return json.loads(rec.by_name("certs-role-policy").inputs["policy"])


def _grants(rec: Recording) -> dict[str, set[str]]:
    grants: dict[str, set[str]] = {}
    for s in _policy(rec)["Statement"]:
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        for a in actions:
            grants.setdefault(a, set()).add(s["Resource"])
    return grants


def test_function_is_bounded_and_packaged_from_its_folder_alone() -> None:
    rec = _monitor()
    fn = rec.one("aws:lambda/function:Function")
    assert fn.inputs["runtime"] == "python3.13"
    assert fn.inputs["architectures"] == ["arm64"]
    assert fn.inputs["timeout"] == 900
    # No reservation by default: Lambda refuses any on accounts with the default quota of 10.
    assert "reservedConcurrentExecutions" not in fn.inputs
    assert fn.inputs["handler"] == "handler.handler"
    archive = fn.inputs["code"]
    assert sorted(archive.assets) == sorted(p.name for p in FUNCTION_DIR.glob("*.py"))
    assert "handler.py" in archive.assets
    assert all(str(FUNCTION_DIR) in a.path for a in archive.assets.values())
    env = fn.inputs["environment"]["variables"]
    assert env["TOPIC_ARN"] == TOPIC and env["ROTATION_DAYS"] == "365"
    assert env["REPORT_BUCKET"] == "" and env["THING_NAMES"] == "false"
    # Scans never overlap: the function holds a lease in its own lock table.
    lock = rec.one("aws:dynamodb/table:Table")
    assert env["LOCK_TABLE"] == lock.state["name"] and "LEASE_SECONDS" not in env
    # A start's lease ends 30 s after its deadline, inside the minute Lambda waits before a
    # retry; a hand-over keeps it as long as Lambda keeps the event (the invoke config's age).
    config = rec.one("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig")
    assert int(env["LEASE_MARGIN_SECONDS"]) < 60
    assert env["HANDOVER_SECONDS"] == str(int(config.inputs["maximumEventAgeInSeconds"])) == "21600"
    # The failure e-mail's "what comes next" is the invoke config's and the schedule's.
    assert env["RETRY_ATTEMPTS"] == str(int(config.inputs["maximumRetryAttempts"])) == "2"
    assert env["SCAN_INTERVAL_DAYS"] == "30"
    assert lock.inputs["hashKey"] == "lock"
    assert lock.inputs["attributes"] == [{"name": "lock", "type": "S"}]
    assert lock.inputs["billingMode"] == "PAY_PER_REQUEST"
    assert lock.inputs["ttl"] == {"attributeName": "expires", "enabled": True}
    logs = rec.by_name("certs-logs")
    assert fn.inputs["loggingConfig"]["logGroup"] == logs.state["name"]
    assert logs.inputs["retentionInDays"] == 365
    assert logs.inputs["kmsKeyId"] == rec.by_name("certs-key").state["arn"]


def test_role_allows_exactly_what_the_code_calls() -> None:
    rec = _monitor()
    fn = rec.one("aws:lambda/function:Function")
    grants = _grants(rec)
    assert grants == {
        "iot:ListCertificates": {"*"},
        "logs:CreateLogStream": {f"{rec.by_name('certs-logs').state['arn']}:log-stream:*"},
        "logs:PutLogEvents": {f"{rec.by_name('certs-logs').state['arn']}:log-stream:*"},
        "lambda:InvokeFunction": {fn.state["arn"]},
        "sqs:SendMessage": {rec.one("aws:sqs/queue:Queue").state["arn"]},
        "dynamodb:GetItem": {rec.one("aws:dynamodb/table:Table").state["arn"]},
        "dynamodb:PutItem": {rec.one("aws:dynamodb/table:Table").state["arn"]},
        "dynamodb:UpdateItem": {rec.one("aws:dynamodb/table:Table").state["arn"]},
        "sns:Publish": {TOPIC},
        "kms:Decrypt": {TOPIC_KEY},
        "kms:GenerateDataKey": {TOPIC_KEY},
    }
    trust = json.loads(rec.by_name("certs-role").inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}


def test_the_lease_grants_are_the_calls_the_function_makes() -> None:
    """Every DynamoDB call in the function's code, and nothing else, is granted on the table."""
    source = (FUNCTION_DIR / "handler.py").read_text()
    called = {
        "dynamodb:" + "".join(part.title() for part in op.split("_"))
        for op in re.findall(r"\bself\.ddb\.([a-z_]+)\(", source)
    }
    granted = {a for a in _grants(_monitor()) if a.startswith("dynamodb:")}
    assert called == granted == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}


def test_reserved_concurrency_only_when_asked_for() -> None:
    """Issue 18 (5): no cap of aisb's own below what Lambda takes; 0 (no run) and what the API's
    32-bit integer cannot carry are refused."""
    assert (
        "reservedConcurrentExecutions" not in _monitor().one("aws:lambda/function:Function").inputs
    )
    for good in (1, 2, 11, 900):
        fn = _monitor(reserved_concurrency=good).one("aws:lambda/function:Function")
        assert fn.inputs["reservedConcurrentExecutions"] == good
    for bad in (0, -1, 2**31, True):
        with pytest.raises(ValueError, match="'reserved_concurrency' got"):
            _monitor(reserved_concurrency=bad)


def test_report_bucket_and_thing_names_add_only_their_grants() -> None:
    rec = _monitor(report_bucket=True, thing_names=True, report_format="jsonl")
    bucket = rec.one("aws:s3/bucket:Bucket")
    key = rec.by_name("certs-key")
    grants = _grants(rec)
    assert grants["iot:ListPrincipalThings"] == {"*"}
    assert grants["s3:PutObject"] == {f"{bucket.state['arn']}/certificate-rotation/*"}
    assert grants["s3:AbortMultipartUpload"] == {f"{bucket.state['arn']}/certificate-rotation/*"}
    assert grants["kms:GenerateDataKey"] == {TOPIC_KEY, key.state["arn"]}
    env = rec.one("aws:lambda/function:Function").inputs["environment"]["variables"]
    assert env["REPORT_BUCKET"] == bucket.state["bucket"]
    assert env["REPORT_FORMAT"] == "jsonl" and env["THING_NAMES"] == "true"


def test_report_bucket_is_private_encrypted_versioned_tls_only_and_kept() -> None:
    rec = _monitor(report_bucket=True, report_retention_days=400)
    bucket = rec.one("aws:s3/bucket:Bucket")
    assert bucket.retain_on_delete
    assert rec.by_name("certs-key").retain_on_delete
    block = rec.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(
        block[k] is True
        for k in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
    )
    versioning = rec.one("aws:s3/bucketVersioning:BucketVersioning").inputs
    assert versioning["versioningConfiguration"] == {"status": "Enabled"}
    (rule,) = rec.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    ).inputs["rules"]
    assert rule["bucketKeyEnabled"] is True
    assert rule["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms",
        "kmsMasterKeyId": rec.by_name("certs-key").state["arn"],
    }
    lifecycle = rec.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs[
        "rules"
    ]
    expire = next(r for r in lifecycle if r["id"] == "expire-reports")
    assert expire["expiration"] == {"days": 400}
    policy = json.loads(rec.one("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    (deny,) = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert set(deny["Resource"]) == {bucket.state["arn"], f"{bucket.state['arn']}/*"}
    assert rec.one("aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs["rule"] == {
        "objectOwnership": "BucketOwnerEnforced"
    }


@pytest.mark.parametrize(
    ("days", "expression"), [(30, "rate(30 days)"), (1, "rate(1 day)"), (7, "rate(7 days)")]
)
def test_schedule_with_retries_and_dead_letter_queue(days: int, expression: str) -> None:
    assert schedule_expression(days) == expression
    rec = _monitor(scan_interval_days=days)
    rule = rec.one("aws:cloudwatch/eventRule:EventRule")
    assert rule.inputs["scheduleExpression"] == expression
    target = rec.one("aws:cloudwatch/eventTarget:EventTarget")
    queue = rec.one("aws:sqs/queue:Queue")
    assert target.inputs["arn"] == rec.one("aws:lambda/function:Function").state["arn"]
    assert target.inputs["retryPolicy"] == {
        "maximumRetryAttempts": 4,
        "maximumEventAgeInSeconds": 3600,
    }
    assert target.inputs["deadLetterConfig"] == {"arn": queue.state["arn"]}
    assert queue.inputs["sqsManagedSseEnabled"] is True
    permission = rec.one("aws:lambda/permission:Permission").inputs
    assert permission["principal"] == "events.amazonaws.com"
    assert permission["sourceArn"] == rule.state["arn"] and permission["sourceAccount"] == ACCOUNT
    queue_policy = json.loads(rec.one("aws:sqs/queuePolicy:QueuePolicy").inputs["policy"])
    allow = next(s for s in queue_policy["Statement"] if s["Effect"] == "Allow")
    assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": [rule.state["arn"]]}}
    invoke_config = rec.one("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig").inputs
    assert invoke_config["destinationConfig"] == {"onFailure": {"destination": queue.state["arn"]}}


def test_alarms_notify_the_topic() -> None:
    rec = _monitor()
    alarms = {a.name: a.inputs for a in rec.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    errors = alarms["certs-errors-alarm"]
    assert (errors["namespace"], errors["metricName"]) == ("AWS/Lambda", "Errors")
    assert errors["dimensions"] == {
        "FunctionName": rec.one("aws:lambda/function:Function").state["name"]
    }
    assert errors["alarmActions"] == [TOPIC]
    dlq = alarms["certs-dlq-alarm"]
    assert dlq["dimensions"] == {"QueueName": rec.one("aws:sqs/queue:Queue").state["name"]}
    assert dlq["alarmActions"] == [TOPIC]


def test_policies_are_parliament_clean() -> None:
    rec = _monitor(report_bucket=True, thing_names=True)
    docs = policy_documents(rec)
    assert {d.resource.name for d in docs} >= {
        "certs-role",
        "certs-role-policy",
        "certs-key",
        "certs-reports-policy",
        "certs-dlq-policy",
    }
    assert [f for d in docs for f in parliament_findings(d)] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"rotation_days": 10}, "argument 'rotation_days' got 10"),
        (
            {"warning_days": 365},
            "argument 'warning_days' got 365; expected fewer days than rotation_days \\(365\\)",
        ),
        ({"scan_interval_days": 0}, "argument 'scan_interval_days' got 0"),
        ({"max_listed": 5000}, "argument 'max_listed' got 5000"),
        ({"report_format": "xml"}, "argument 'report_format' got 'xml'"),
        ({"log_retention_days": 2}, "argument 'log_retention_days' got 2"),
        (
            {"thing_names": True},
            "argument 'thing_names' got True; expected false unless report_bucket",
        ),
        ({"alert_topic_arn": None}, "argument 'alert_topic_arn' is required"),
    ],
)
def test_bad_arguments(args: dict[str, Any], message: str) -> None:
    recording = Recording()
    with pytest.raises(ValueError, match=message):
        run(lambda: CertificateRotationMonitor("certs", {**BASE, **args}), recording=recording)  # type: ignore[typeddict-item]
    assert recording.resources == []


@pytest.mark.parametrize("path", stack_files(), ids=stack_name)
def test_every_stack_deploys_the_monitor_as_configured(
    path: Any, stack_recordings: dict[str, Recording]
) -> None:
    rec = stack_recordings[stack_name(path)]
    settings = parse(stack_config(path))
    fns = rec.of_type("aws:lambda/function:Function")
    assert len(fns) == (1 if settings.cert_rotation else 0)
    if not settings.cert_rotation:
        return
    env = fns[0].inputs["environment"]["variables"]
    # The Lambda and DEVICE_CERTIFICATE_AGE_CHECK use the same rotation period.
    checks = rec.one("aws-native:iot:AccountAuditConfiguration").inputs["auditCheckConfigurations"]
    assert (
        env["ROTATION_DAYS"]
        == checks["deviceCertificateAgeCheck"]["configuration"]["certAgeThresholdInDays"]
    )
    assert env["ROTATION_DAYS"] == str(settings.cert_max_age_days)
    assert env["WARNING_DAYS"] == str(settings.cert_rotation_warning_days)
    assert env["REPORT_FORMAT"] == settings.cert_report_format
    assert env["ALWAYS_REPORT"] == str(settings.cert_report_always).lower()
    assert (env["REPORT_BUCKET"] != "") is settings.cert_report_bucket
    reports = [b for b in rec.of_type("aws:s3/bucket:Bucket") if b.name.startswith("aisb-cert-")]
    assert len(reports) == (1 if settings.cert_report_bucket else 0)
    rule = rec.by_name("aisb-cert-rotation-schedule")
    assert rule.inputs["scheduleExpression"] == schedule_expression(
        settings.cert_scan_interval_days
    )
    # CloudWatch may publish the alarms to the encrypted topic.
    topic_key = next(k for k in rec.of_type("aws:kms/key:Key") if k.name == "aisb-alerts-key")
    services = [
        s
        for s in json.loads(topic_key.inputs["policy"])["Statement"]
        if "Service" in s["Principal"]
    ]
    assert services[0]["Principal"]["Service"] == "cloudwatch.amazonaws.com"
    alarms = [
        a
        for a in rec.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
        if a.name.startswith("aisb-cert-rotation-")
    ]
    topic = rec.one("aws:sns/topic:Topic").state["arn"]
    assert len(alarms) == 2 and all(a.inputs["alarmActions"] == [topic] for a in alarms)


def test_baseline_without_the_monitor_grants_cloudwatch_nothing() -> None:
    from aisb import IotSecurityBaseline

    rec = run(
        lambda: IotSecurityBaseline(
            "b",
            {
                "alert_emails": ["a@example.com"],
                "cert_rotation": False,
                "behavior_detection": BehaviorDetection.ML_DETECT,
            },
        )
    )
    assert rec.of_type("aws:lambda/function:Function") == []
    key = next(k for k in rec.of_type("aws:kms/key:Key") if k.name == "b-alerts-key")
    assert "cloudwatch" not in key.inputs["policy"]
