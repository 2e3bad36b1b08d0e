"""AISB #8, #9, #10: the optional controls, each on its own and in every stack."""

from __future__ import annotations

import json
from typing import Any

import pytest

from aisb import (
    DeviceLogCollection,
    IotSecurityBaseline,
    ProtectedAuditTrail,
    ProtectedAuditTrailArgs,
    ThreatDetection,
    ThreatDetectionArgs,
)
from aisb.components.device_logs import (
    HANDLER_DEADLINE_SECONDS,
    IN_PROGRESS_TIMEOUT_MINUTES,
    device_config,
    job_document,
)
from aisb.components.threat_detection import console_host, finding_email, finding_pattern
from aisb.settings import parse
from tests.harness import (
    ACCOUNT,
    Recording,
    cfn_lint_errors,
    config_problems,
    parliament_findings,
    policy_documents,
    run,
    stack_config,
    stack_files,
    stack_name,
)

TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:alerts"
COMMON: dict[str, Any] = {"account_id": ACCOUNT, "region": "us-east-1", "partition": "aws"}


def _doc(rec: Recording, name: str, field: str = "policy") -> dict[str, Any]:
    return json.loads(rec.by_name(name).inputs[field])


def _statements_by_sid(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in doc["Statement"]}


def _assert_protected_bucket(rec: Recording, bucket_name: str, key_name: str) -> dict[str, Any]:
    bucket = rec.by_name(bucket_name)
    assert bucket.retain_on_delete and rec.by_name(key_name).retain_on_delete
    block = rec.by_name(f"{bucket_name}-public-access").inputs
    assert [
        block[k]
        for k in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
    ] == [True] * 4
    assert rec.by_name(f"{bucket_name}-versioning").inputs["versioningConfiguration"] == {
        "status": "Enabled"
    }
    (rule,) = rec.by_name(f"{bucket_name}-encryption").inputs["rules"]
    assert rule == {
        "applyServerSideEncryptionByDefault": {
            "sseAlgorithm": "aws:kms",
            "kmsMasterKeyId": rec.by_name(key_name).state["arn"],
        },
        "bucketKeyEnabled": True,
    }
    policy = _doc(rec, f"{bucket_name}-policy")
    deny = _statements_by_sid(policy)["DenyInsecureTransport"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }
    assert rec.by_name(key_name).inputs["enableKeyRotation"] is True
    # `pulumi destroy` keeps the bucket as protected as it was: nothing guarding it is deleted.
    guards = [r for r in rec.resources if r.name.startswith(f"{bucket_name}-")]
    assert {r.name[len(bucket_name) + 1 :] for r in guards} >= {
        "ownership",
        "public-access",
        "versioning",
        "encryption",
        "lifecycle",
        "policy",
    }
    assert [r.name for r in guards if not r.retain_on_delete] == []
    return policy


# --- ProtectedAuditTrail ----------------------------------------------------------------------


def _trail(**args: Any) -> Recording:
    return run(lambda: ProtectedAuditTrail("ct", ProtectedAuditTrailArgs(**COMMON, **args)))  # type: ignore[typeddict-item]


def test_trail_is_multi_region_validated_and_encrypted() -> None:
    rec = _trail()
    trail = rec.one("aws:cloudtrail/trail:Trail")
    assert trail.inputs["isMultiRegionTrail"] is True
    assert trail.inputs["includeGlobalServiceEvents"] is True
    assert trail.inputs["enableLogFileValidation"] is True
    assert trail.inputs["kmsKeyId"] == rec.by_name("ct-key").state["arn"]
    assert trail.inputs["s3BucketName"] == rec.by_name("ct-bucket").state["bucket"]
    assert rec.by_name("ct-bucket-policy").urn in trail.dependencies


def test_trail_key_and_bucket_admit_only_this_trail() -> None:
    rec = _trail()
    trail_arn = rec.one("aws:cloudtrail/trail:Trail").state["arn"]
    key = _statements_by_sid(_doc(rec, "ct-key"))
    for sid in ("CloudTrailEncryptsLogs", "CloudTrailDescribesKey"):
        assert key[sid]["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
        assert key[sid]["Condition"]["StringEquals"]["aws:SourceArn"] == trail_arn
    assert key["AccountDecryptsLogFiles"]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    bucket_policy = _assert_protected_bucket(rec, "ct-bucket", "ct-key")
    grants = _statements_by_sid(bucket_policy)
    bucket_arn = rec.by_name("ct-bucket").state["arn"]
    assert grants["CloudTrailAclCheck"]["Condition"] == {
        "StringEquals": {"aws:SourceArn": trail_arn}
    }
    assert grants["CloudTrailWrite"]["Resource"] == f"{bucket_arn}/AWSLogs/{ACCOUNT}/*"
    assert grants["CloudTrailWrite"]["Condition"]["StringEquals"]["aws:SourceArn"] == trail_arn
    allows = [s for s in bucket_policy["Statement"] if s["Effect"] == "Allow"]
    assert {json.dumps(s["Principal"]) for s in allows} == {
        '{"Service": "cloudtrail.amazonaws.com"}'
    }
    assert [f for d in policy_documents(rec) for f in parliament_findings(d)] == []


def test_trail_logs_archive_and_object_lock() -> None:
    rec = _trail(archive_days=120, object_lock_days=365, object_lock_mode="COMPLIANCE")
    rules = rec.by_name("ct-bucket-lifecycle").inputs["rules"]
    archive = next(r for r in rules if r["id"] == "archive-trail-logs")
    assert archive["transitions"] == [{"days": 120, "storageClass": "DEEP_ARCHIVE"}]
    assert rec.by_name("ct-bucket").inputs["objectLockEnabled"] is True
    lock = rec.one("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    assert lock.inputs["rule"] == {"defaultRetention": {"mode": "COMPLIANCE", "days": 365}}
    assert lock.retain_on_delete
    # The trail starts only once the default retention exists: no first log file unlocked.
    trail = rec.one("aws:cloudtrail/trail:Trail")
    assert lock.urn in trail.dependencies
    assert rec.by_name("ct-bucket-policy").urn in trail.dependencies
    # Files under 128 KB stay in Standard (cheaper than moving them), as S3 does by default.
    lifecycle = rec.by_name("ct-bucket-lifecycle").inputs
    assert lifecycle["transitionDefaultMinimumObjectSize"] == "all_storage_classes_128K"
    without = _trail()
    assert "objectLockEnabled" not in without.by_name("ct-bucket").inputs
    assert (
        without.of_type("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration") == []
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"archive_days": 0}, "argument 'archive_days' got 0"),
        ({"object_lock_days": -1}, "argument 'object_lock_days' got -1"),
        ({"object_lock_mode": "LEGAL"}, "argument 'object_lock_mode' got 'LEGAL'"),
        ({"trail_name": "no spaces"}, "argument 'trail_name' got 'no spaces'"),
    ],
)
def test_trail_bad_arguments(args: dict[str, Any], message: str) -> None:
    recording = Recording()
    with pytest.raises(ValueError, match=message):
        run(lambda: ProtectedAuditTrail("ct", {**COMMON, **args}), recording=recording)  # type: ignore[typeddict-item]
    assert recording.resources == []


# --- ThreatDetection --------------------------------------------------------------------------


def test_detector_and_readable_finding_emails() -> None:
    rec = run(
        lambda: ThreatDetection(
            "gd",
            ThreatDetectionArgs(
                partition="aws",
                alert_topic_arn=TOPIC,
                rule_name="aisb-guardduty-findings",
                min_severity=5,
            ),
        )
    )
    detector = rec.one("aws:guardduty/detector:Detector")
    assert (
        detector.inputs["enable"] is True
        and detector.inputs["findingPublishingFrequency"] == "FIFTEEN_MINUTES"
    )
    rule = rec.one("aws:cloudwatch/eventRule:EventRule")
    assert rule.inputs["name"] == "aisb-guardduty-findings"
    assert json.loads(rule.inputs["eventPattern"]) == finding_pattern(5)
    assert finding_pattern(5)["detail"] == {"severity": [{"numeric": [">=", 5]}]}
    target = rec.one("aws:cloudwatch/eventTarget:EventTarget").inputs
    assert target["arn"] == TOPIC
    paths, template = finding_email("console.aws.amazon.com")
    assert target["inputTransformer"] == {"inputPaths": paths, "inputTemplate": template}
    for field in ("severity", "type", "account", "region", "resource"):
        assert f"<{field}>" in template and field in paths
    assert "https://console.aws.amazon.com/guardduty/home?region=<region>" in template


def test_undeliverable_findings_are_kept_and_alarmed() -> None:
    rec = run(
        lambda: ThreatDetection(
            "gd",
            ThreatDetectionArgs(
                partition="aws", alert_topic_arn=TOPIC, rule_name="aisb-guardduty-findings"
            ),
        )
    )
    queue = rec.one("aws:sqs/queue:Queue")
    assert queue.inputs["sqsManagedSseEnabled"] is True
    assert queue.inputs["messageRetentionSeconds"] == 14 * 24 * 3600
    target = rec.one("aws:cloudwatch/eventTarget:EventTarget")
    assert target.inputs["deadLetterConfig"] == {"arn": queue.state["arn"]}
    # The queue admits exactly this rule, and the target waits for that grant.
    rule_arn = rec.one("aws:cloudwatch/eventRule:EventRule").state["arn"]
    queue_policy = rec.one("aws:sqs/queuePolicy:QueuePolicy")
    allow = _statements_by_sid(_doc(rec, "gd-dlq-policy"))["EventBridgeRulesDeadLetter"]
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": [rule_arn]}}
    assert queue_policy.urn in target.dependencies
    alarms = {a.name: a.inputs for a in rec.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert alarms["gd-dlq-alarm"]["dimensions"] == {"QueueName": queue.state["name"]}
    assert alarms["gd-dlq-alarm"]["metricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarms["gd-failed-alarm"]["namespace"] == "AWS/Events"
    assert alarms["gd-failed-alarm"]["metricName"] == "FailedInvocations"
    assert alarms["gd-failed-alarm"]["dimensions"] == {"RuleName": "aisb-guardduty-findings"}
    assert {a["alarmActions"][0] for a in alarms.values()} == {TOPIC}
    # In the baseline, CloudWatch may publish those alarms to the encrypted topic.
    base = run(
        lambda: IotSecurityBaseline(
            "b", {"alert_emails": ["a@example.com"], "guard_duty": True, "cert_rotation": False}
        )
    )
    assert "cloudwatch.amazonaws.com" in base.by_name("b-alerts-key").inputs["policy"]


def test_existing_detector_is_adopted_not_created() -> None:
    detector_id = "12abc34d567e8fa901bc2d34e56789f0"
    seen: list[str] = []

    def program() -> None:
        gd = ThreatDetection(
            "gd",
            {
                "partition": "aws",
                "alert_topic_arn": TOPIC,
                "rule_name": "r",
                "existing_detector_id": detector_id,
            },
        )
        gd.detector_id.apply(seen.append)

    rec = run(program)
    assert rec.of_type("aws:guardduty/detector:Detector") == []
    assert seen == [detector_id]
    assert rec.one("aws:cloudwatch/eventTarget:EventTarget").inputs["arn"] == TOPIC


def test_console_links_follow_the_partition() -> None:
    assert console_host("aws-cn") == "console.amazonaws.cn"
    assert console_host("aws-us-gov") == "console.amazonaws-us-gov.com"
    rec = run(
        lambda: ThreatDetection(
            "gd", {"partition": "aws-cn", "alert_topic_arn": TOPIC, "rule_name": "r"}
        )
    )
    assert (
        "console.amazonaws.cn"
        in rec.one("aws:cloudwatch/eventTarget:EventTarget").inputs["inputTransformer"][
            "inputTemplate"
        ]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"min_severity": 0}, "argument 'min_severity' got 0"),
        (
            {"existing_detector_id": "detector-1"},
            "argument 'existing_detector_id' got 'detector-1'",
        ),
        ({"rule_name": "has space"}, "argument 'rule_name' got 'has space'"),
    ],
)
def test_threat_detection_bad_arguments(args: dict[str, Any], message: str) -> None:
    recording = Recording()
    base = {"partition": "aws", "alert_topic_arn": TOPIC, "rule_name": "r"}
    with pytest.raises(ValueError, match=message):
        run(lambda: ThreatDetection("gd", {**base, **args}), recording=recording)  # type: ignore[typeddict-item]
    assert recording.resources == []


def test_topic_and_key_allow_exactly_the_findings_rule() -> None:
    rec = run(
        lambda: IotSecurityBaseline("b", {"alert_emails": ["a@example.com"], "guard_duty": True})
    )
    rule_arn = rec.by_name("b-guardduty-findings").state["arn"]
    topic = _statements_by_sid(_doc(rec, "b-alerts-policy"))["PublishFromEvents"]
    assert topic["Principal"] == {"Service": "events.amazonaws.com"}
    assert topic["Condition"] == {"ArnEquals": {"aws:SourceArn": [rule_arn]}}
    # SNS does not support aws:Source* in the key policy for EventBridge: a grant conditioned
    # on them never matches. The key is bound to this account's topics by encryption context.
    key = _statements_by_sid(_doc(rec, "b-alerts-key"))["KeyForEvents"]
    assert key["Condition"] == {
        "StringLike": {
            "kms:EncryptionContext:aws:sns:topicArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:*"
        }
    }
    assert sorted(key["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    without = run(lambda: IotSecurityBaseline("b", {"alert_emails": ["a@example.com"]}))
    assert "events.amazonaws.com" not in without.by_name("b-alerts-policy").inputs["policy"]


# --- DeviceLogCollection ------------------------------------------------------------------------

ENDPOINT = "c1a2b3.credentials.iot.us-east-1.amazonaws.com"


def _logs(**args: Any) -> Recording:
    full: Any = {**COMMON, "credential_endpoint": ENDPOINT, **args}
    return run(lambda: DeviceLogCollection("dl", full))


def test_device_log_bucket_is_protected_and_expires() -> None:
    rec = _logs(retention_days=14)
    _assert_protected_bucket(rec, "dl-bucket", "dl-key")
    expire = next(
        r
        for r in rec.by_name("dl-bucket-lifecycle").inputs["rules"]
        if r["id"] == "expire-device-logs"
    )
    assert expire["expiration"] == {"days": 14}
    # A replaced version is evidence too: kept as long as the current one, not a day.
    assert expire["noncurrentVersionExpiration"] == {"noncurrentDays": 14}


def test_devices_upload_only_under_their_own_thing_name() -> None:
    rec = _logs()
    alias = rec.one("aws:iot/roleAlias:RoleAlias")
    trust = _doc(rec, "dl-role", "assumeRolePolicy")["Statement"][0]
    assert trust["Principal"] == {"Service": "credentials.iot.amazonaws.com"}
    # AWS documents no aws:Source* key for the credentials provider: none is required.
    assert "Condition" not in trust
    bucket_arn = rec.by_name("dl-bucket").state["arn"]
    grants = _statements_by_sid(_doc(rec, "dl-role-policy"))
    own_prefix = bucket_arn + "/${credentials-iot:ThingName}/*"
    uploads = ("UploadUnderOwnThingName", "UploadPartsUnderOwnThingName", "AbortOwnUploads")
    assert [(grants[s]["Action"], grants[s]["Resource"]) for s in uploads] == [
        ("s3:PutObject", own_prefix),
        ("s3:PutObject", own_prefix),
        ("s3:AbortMultipartUpload", own_prefix),
    ]
    # Objects are created only with If-None-Match: never over an existing one.
    assert grants["UploadUnderOwnThingName"]["Condition"] == {"Null": {"s3:if-none-match": "false"}}
    assert grants["EncryptUploads"]["Resource"] == rec.by_name("dl-key").state["arn"]
    assert grants["EncryptUploads"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"},
        "StringLike": {
            "kms:EncryptionContext:aws:s3:arn": [
                bucket_arn,
                own_prefix,
            ]
        },
    }
    assert set(grants) == {*uploads, "EncryptUploads"}
    assert alias.inputs["roleArn"] == rec.by_name("dl-role").state["arn"]
    device_policy = _doc(rec, "dl-device-policy")
    assert device_policy["Statement"] == [
        {
            "Sid": "AssumeDeviceLogRoleAlias",
            "Effect": "Allow",
            "Action": "iot:AssumeRoleWithCertificate",
            "Resource": alias.state["arn"],
        }
    ]
    assert [f for d in policy_documents(rec) for f in parliament_findings(d)] == []


@pytest.mark.xdist_group("cfn-lint")
def test_job_template_runs_the_handler_on_the_configured_files() -> None:
    paths = ["/var/log/syslog", "/opt/app/app.log"]
    rec = _logs(log_paths=paths)
    template = rec.one("aws-native:iot:JobTemplate").inputs
    document = json.loads(template["document"])
    assert document == job_document(paths)
    # Where the files go is pinned on the device, from the component's device_config output.
    assert not {"--bucket", "--credential-endpoint", "--region", "--role-alias"} & set(
        document["steps"][0]["action"]["input"]["args"]
    )
    # Device Client reads includeStdOut only as a string.
    assert document["includeStdOut"] == "true"
    step = document["steps"][0]["action"]
    assert step["type"] == "runHandler" and step["input"]["handler"] == "collect-device-logs.py"
    assert step["input"]["args"] == paths
    assert template["timeoutConfig"] == {"inProgressTimeoutInMinutes": IN_PROGRESS_TIMEOUT_MINUTES}
    # The handler stops at its deadline (and a backstop alarm 30 s later) before the job would
    # time out and be retried: it reports each file's outcome instead of resending them all.
    assert HANDLER_DEADLINE_SECONDS + 30 < IN_PROGRESS_TIMEOUT_MINUTES * 60
    assert {
        c["failureType"] for c in template["jobExecutionsRetryConfig"]["retryCriteriaList"]
    } == {"TIMED_OUT", "FAILED"}
    assert template["abortConfig"]["criteriaList"][0]["action"] == "CANCEL"
    assert cfn_lint_errors(rec) == []
    # Every property is create-only and the id fixed: replacing must delete first.
    job_template = rec.one("aws-native:iot:JobTemplate")
    assert job_template.delete_before_replace is True
    assert template["jobTemplateId"] == "aisb-device-logs-collect"
    assert rec.one("aws:iot/roleAlias:RoleAlias").inputs["credentialDuration"] == 900


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"retention_days": 0}, "argument 'retention_days' got 0"),
        ({"log_paths": ["relative.log"]}, "argument 'log_paths' got 'relative.log'"),
        ({"log_paths": []}, "argument 'log_paths' got \\[\\]"),
        (
            {"log_paths": ["/var/log/../../etc/shadow"]},
            "argument 'log_paths' got '/var/log/../../etc/shadow'",
        ),
        ({"role_alias": "bad alias"}, "argument 'role_alias' got 'bad alias'"),
    ],
)
def test_device_logs_bad_arguments(args: dict[str, Any], message: str) -> None:
    recording = Recording()
    full: Any = {**COMMON, "credential_endpoint": ENDPOINT, **args}
    with pytest.raises(ValueError, match=message):
        run(lambda: DeviceLogCollection("dl", full), recording=recording)
    assert recording.resources == []


# --- every stack, every combination ---------------------------------------------------------------


@pytest.mark.parametrize("path", stack_files(), ids=stack_name)
def test_optional_controls_present_exactly_where_enabled(
    path: Any, stack_recordings: dict[str, Recording]
) -> None:
    rec = stack_recordings[stack_name(path)]
    s = parse(stack_config(path))
    assert len(rec.of_type("aws:cloudtrail/trail:Trail")) == int(s.cloud_trail)
    assert len(rec.of_type("aws:guardduty/detector:Detector")) == int(
        s.guard_duty and not s.guard_duty_detector_id
    )
    assert len(
        [
            r
            for r in rec.of_type("aws:cloudwatch/eventRule:EventRule")
            if r.name.endswith("guardduty-findings")
        ]
    ) == int(s.guard_duty)
    assert len(rec.of_type("aws-native:iot:JobTemplate")) == int(s.device_logs)
    assert len(rec.of_type("aws:iot/roleAlias:RoleAlias")) == int(s.device_logs)
    if s.cloud_trail:
        assert rec.by_name("aisb-trail-bucket").retain_on_delete
        lock = rec.of_type("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
        assert len(lock) == int(s.cloud_trail_object_lock_days > 0)
    if s.guard_duty:
        rule = rec.by_name("aisb-guardduty-findings")
        assert json.loads(rule.inputs["eventPattern"]) == finding_pattern(s.guard_duty_min_severity)


def test_stacks_cover_the_combinations() -> None:
    combos = {stack_name(p): parse(stack_config(p)) for p in stack_files()}
    assert any(s.cloud_trail and s.guard_duty for s in combos.values())  # home region
    assert any(s.guard_duty and s.device_logs and not s.cloud_trail for s in combos.values())
    assert any(not (s.cloud_trail or s.guard_duty or s.device_logs) for s in combos.values())
    assert any(s.guard_duty_detector_id for s in combos.values())
    assert sum(s.cloud_trail for s in combos.values()) == 1  # the trail is multi-region


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            {"aisb:guardDuty": "true", "aisb:guardDutyMinSeverity": "0"},
            "aisb:guardDutyMinSeverity: got 0",
        ),
        (
            {"aisb:guardDuty": "true", "aisb:guardDutyDetectorId": "ABC"},
            "aisb:guardDutyDetectorId: got 'ABC'",
        ),
        (
            {"aisb:guardDutyDetectorId": "12abc34d567e8fa901bc2d34e56789f0"},
            "aisb:guardDutyDetectorId: got '12abc34d567e8fa901bc2d34e56789f0'; "
            "expected it unset unless aisb:guardDuty",
        ),
        (
            {"aisb:cloudTrail": "true", "aisb:cloudTrailArchiveDays": "-5"},
            "aisb:cloudTrailArchiveDays: got -5",
        ),
        (
            {"aisb:deviceLogs": "true", "aisb:deviceLogsPaths": '["/var/log/a", "/var/log/a"]'},
            "aisb:deviceLogsPaths: got",
        ),
    ],
)
def test_optional_control_config_errors(override: dict[str, str], message: str) -> None:
    problems = config_problems(override)
    assert any(p.startswith(message) for p in problems), problems


def test_baseline_exports_what_an_operator_needs_to_collect_logs() -> None:
    seen: dict[str, Any] = {}

    def program() -> None:
        b = IotSecurityBaseline("b", {"alert_emails": ["a@example.com"], "device_logs": True})
        b.device_logs.apply(seen.update)

    rec = run(program)
    assert seen == {
        "bucket": rec.by_name("b-device-logs-bucket").state["bucket"],
        "devicePolicy": rec.by_name("b-device-logs-device-policy").state["name"],
        "jobTemplateArn": rec.one("aws-native:iot:JobTemplate").state["arn"],
        "deviceConfig": seen["deviceConfig"],
    }
    pins = json.loads(seen["deviceConfig"])
    endpoint = pins["credentialEndpoint"]
    assert pins == device_config(
        seen["bucket"],
        "us-east-1",
        "aisb-device-logs",
        endpoint,
        ["/var/log/syslog", "/var/log/aws-iot-device-client/aws-iot-device-client.log"],
    )
    assert pins["deadlineSeconds"] == HANDLER_DEADLINE_SECONDS
