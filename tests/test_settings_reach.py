"""No setting is lost between the stack config and AWS: each key, set to a valid value other
than its default, reaches the resource input it governs.

The table has one row per key of ``aisb.settings.KEYS`` (a test fails when a key has none):
the extra config the key needs to matter, the value, and where that value must show up.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from aisb.settings import KEYS, ConfigError
from tests.harness import MINIMAL_CONFIG, Recording
from tests.harness.caches import rendered

ML = {"aisb:behaviorDetection": "ml-detect"}
RULE = {
    "name": "burst",
    "metric": "aws:num-messages-sent",
    "operator": "less-than-equals",
    "value": 600,
    "durationSeconds": 300,
}


def _one(rec: Recording, type_: str) -> dict[str, Any]:
    return rec.one(type_).inputs


def _named(rec: Recording, name: str) -> dict[str, Any]:
    return rec.by_name(name).inputs


def _env(rec: Recording) -> dict[str, str]:
    return _one(rec, "aws:lambda/function:Function")["environment"]["variables"]


def _checks(rec: Recording) -> dict[str, Any]:
    return _one(rec, "aws-native:iot:AccountAuditConfiguration")["auditCheckConfigurations"]


ROTATION = {"aisb:certRotationJobs": "true"}


def _template(rec: Recording) -> dict[str, Any]:
    return _one(rec, "aws-native:iot:JobTemplate")


def _ml(rec: Recording) -> dict[str, Any]:
    return _named(rec, "aisb-behavior-ml-profile")


def _ml_criteria(rec: Recording) -> dict[str, Any]:
    return _ml(rec)["behaviors"][0]["criteria"]


def _alarm(rec: Recording) -> dict[str, Any]:
    return next(
        a.inputs
        for a in rec.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
        if a.name.startswith("aisb-fleet-alarms-")
    )


def _lifecycle_rule(rec: Recording, bucket: str, rule: str) -> dict[str, Any]:
    return next(r for r in _named(rec, f"{bucket}-lifecycle")["rules"] if r["id"] == rule)


# key: (extra config, raw value, what the recording must show for it)
REACH: dict[str, tuple[dict[str, str], str, Callable[[Recording], Any], Any]] = {
    "alertEmails": (
        {},
        json.dumps(["a@example.com", "b@example.com"]),
        lambda rec: sorted(
            s.inputs["endpoint"] for s in rec.of_type("aws:sns/topicSubscription:TopicSubscription")
        ),
        ["a@example.com", "b@example.com"],
    ),
    "iotLogLevel": (
        {},
        "WARN",
        lambda rec: _one(rec, "aws:iot/loggingOptions:LoggingOptions")["defaultLogLevel"],
        "WARN",
    ),
    "auditFrequency": (
        {"aisb:auditDayOfMonth": "LAST"},
        "MONTHLY",
        lambda rec: _one(rec, "aws-native:iot:ScheduledAudit")["frequency"],
        "MONTHLY",
    ),
    "auditDayOfWeek": (
        {"aisb:auditFrequency": "BIWEEKLY"},
        "FRI",
        lambda rec: _one(rec, "aws-native:iot:ScheduledAudit")["dayOfWeek"],
        "FRI",
    ),
    "auditDayOfMonth": (
        {"aisb:auditFrequency": "MONTHLY"},
        "15",
        lambda rec: _one(rec, "aws-native:iot:ScheduledAudit")["dayOfMonth"],
        "15",
    ),
    "auditChecksDisabled": (
        {},
        json.dumps(["LOGGING_DISABLED_CHECK"]),
        lambda rec: _checks(rec)["loggingDisabledCheck"]["enabled"],
        False,
    ),
    "certMaxAgeDays": (
        {},
        "730",
        lambda rec: (
            _checks(rec)["deviceCertificateAgeCheck"]["configuration"]["certAgeThresholdInDays"],
            _env(rec)["ROTATION_DAYS"],
        ),
        ("730", "730"),
    ),
    "certExpiryWarningDays": (
        {},
        "60",
        lambda rec: _checks(rec)["deviceCertificateExpiringCheck"]["configuration"][
            "certExpirationThresholdInDays"
        ],
        "60",
    ),
    "logRetentionDays": (
        {},
        "90",
        lambda rec: (
            _named(rec, "aisb-logging-log-group")["retentionInDays"],
            _named(rec, "aisb-cert-rotation-logs")["retentionInDays"],
        ),
        (90, 90),
    ),
    "accessAnalyzer": (
        {},
        "false",
        lambda rec: len(rec.of_type("aws:accessanalyzer/analyzer:Analyzer")),
        0,
    ),
    "certRotation": (
        {},
        "false",
        lambda rec: len(rec.of_type("aws:lambda/function:Function")),
        0,
    ),
    "certScanIntervalDays": (
        {},
        "7",
        lambda rec: _named(rec, "aisb-cert-rotation-schedule")["scheduleExpression"],
        "rate(7 days)",
    ),
    "certRotationWarningDays": ({}, "45", lambda rec: _env(rec)["WARNING_DAYS"], "45"),
    "certReportBucket": (
        {},
        "true",
        lambda rec: _env(rec)["REPORT_BUCKET"] == rec.by_name("aisb-cert-rotation-reports").id,
        True,
    ),
    "certReportFormat": ({}, "jsonl", lambda rec: _env(rec)["REPORT_FORMAT"], "jsonl"),
    "certReportThingNames": (
        {"aisb:certReportBucket": "true"},
        "true",
        lambda rec: _env(rec)["THING_NAMES"],
        "true",
    ),
    "certReportAlways": ({}, "true", lambda rec: _env(rec)["ALWAYS_REPORT"], "true"),
    "certRotationJobs": (
        {},
        "true",
        lambda rec: len(rec.of_type("aws-native:iot:JobTemplate")),
        1,
    ),
    "certRotationJobsAutomatic": (
        {"aisb:certRotationJobs": "true"},
        "true",
        lambda rec: _named(rec, "aisb-cert-rotation-function")["environment"]["variables"][
            "ROTATION_JOB_TEMPLATE_ARN"
        ].endswith(":jobtemplate/aisb-rotation-rotate"),
        True,
    ),
    "certRotationKeyAlgorithm": (
        ROTATION,
        "RSA-2048",
        lambda rec: json.loads(_template(rec)["document"])["steps"][0]["action"]["input"]["args"],
        ["start", "--key-algorithm", "RSA-2048"],
    ),
    "certRotationGraceDays": (
        ROTATION,
        "3",
        lambda rec: _named(rec, "aisb-rotation-sweep-function")["environment"]["variables"][
            "GRACE_DAYS"
        ],
        "3",
    ),
    "certRotationTimeoutMinutes": (
        ROTATION,
        "15",
        lambda rec: _template(rec)["timeoutConfig"]["inProgressTimeoutInMinutes"],
        15,
    ),
    "certRotationMaxPerMinute": (
        ROTATION,
        "25",
        lambda rec: _template(rec)["jobExecutionsRolloutConfig"]["maximumPerMinute"],
        25,
    ),
    "behaviorDetection": (
        {},
        "ml-detect",
        lambda rec: len(rec.of_type("aws-native:iot:SecurityProfile")),
        1,
    ),
    "mlDeviceMetrics": (
        ML,
        "true",
        lambda rec: "aws:all-bytes-out" in [b["metric"] for b in _ml(rec)["behaviors"]],
        True,
    ),
    "mlConfidence": (
        ML,
        "LOW",
        lambda rec: _ml_criteria(rec)["mlDetectionConfig"]["confidenceLevel"],
        "LOW",
    ),
    "mlDatapointsToAlarm": (
        ML,
        "3",
        lambda rec: _ml_criteria(rec)["consecutiveDatapointsToAlarm"],
        3,
    ),
    "mlDatapointsToClear": (
        ML,
        "4",
        lambda rec: _ml_criteria(rec)["consecutiveDatapointsToClear"],
        4,
    ),
    "detectTargetGroups": (
        ML,
        json.dumps(["pumps"]),
        lambda rec: _ml(rec)["targetArns"],
        ["arn:aws:iot:us-east-1:123456789012:thinggroup/pumps"],
    ),
    "detectRules": (
        ML,
        json.dumps([RULE]),
        lambda rec: _named(rec, "aisb-behavior-rules-profile")["behaviors"][0]["criteria"],
        {
            "comparisonOperator": "less-than-equals",
            "value": {"count": "600"},
            "durationSeconds": 300,
        },
    ),
    "customMetrics": (
        ML,
        json.dumps([{"name": "battery", "type": "number", "monitor": "ml"}]),
        lambda rec: _one(rec, "aws-native:iot:CustomMetric")["metricName"],
        "battery",
    ),
    "mitigationActions": (
        {},
        "false",
        lambda rec: len(rec.of_type("aws-native:iot:MitigationAction")),
        0,
    ),
    "anomalyBandWidth": (
        {},
        "5",
        lambda rec: _alarm(rec)["metricQueries"][1]["expression"].endswith(", 5)"),
        True,
    ),
    "cloudTrail": (
        {},
        "true",
        lambda rec: len(rec.of_type("aws:cloudtrail/trail:Trail")),
        1,
    ),
    "cloudTrailArchiveDays": (
        {"aisb:cloudTrail": "true"},
        "400",
        lambda rec: _lifecycle_rule(rec, "aisb-trail-bucket", "archive-trail-logs")["transitions"][
            0
        ]["days"],
        400,
    ),
    "cloudTrailObjectLockDays": (
        {"aisb:cloudTrail": "true"},
        "30",
        lambda rec: _one(rec, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")[
            "rule"
        ]["defaultRetention"]["days"],
        30,
    ),
    "cloudTrailObjectLockMode": (
        {"aisb:cloudTrail": "true", "aisb:cloudTrailObjectLockDays": "30"},
        "COMPLIANCE",
        lambda rec: _one(rec, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")[
            "rule"
        ]["defaultRetention"]["mode"],
        "COMPLIANCE",
    ),
    "guardDuty": (
        {},
        "true",
        lambda rec: len(rec.of_type("aws:guardduty/detector:Detector")),
        1,
    ),
    "guardDutyDetectorId": (
        {"aisb:guardDuty": "true"},
        "12abc34d567e8fa901bc2d34e56789f0",
        lambda rec: len(rec.of_type("aws:guardduty/detector:Detector")),
        0,
    ),
    "guardDutyMinSeverity": (
        {"aisb:guardDuty": "true"},
        "8",
        lambda rec: json.loads(_named(rec, "aisb-guardduty-findings")["eventPattern"])["detail"],
        {"severity": [{"numeric": [">=", 8]}]},
    ),
    "rolePermissionsBoundary": (
        {
            "aisb:deviceLogs": "true",
            "aisb:behaviorDetection": "ml-detect",
            "aisb:mitigationActions": "true",
        },
        "aisb-role-boundary",
        # Every role of every control, one boundary.
        lambda rec: sorted(
            {str(r.inputs.get("permissionsBoundary")) for r in rec.of_type("aws:iam/role:Role")}
        ),
        ["arn:aws:iam::123456789012:policy/aisb-role-boundary"],
    ),
    "deviceLogs": (
        {},
        "true",
        lambda rec: len(rec.of_type("aws-native:iot:JobTemplate")),
        1,
    ),
    "deviceLogsRetentionDays": (
        {"aisb:deviceLogs": "true"},
        "3",
        lambda rec: _lifecycle_rule(rec, "aisb-device-logs-bucket", "expire-device-logs")[
            "expiration"
        ],
        {"days": 3},
    ),
    "deviceLogsPaths": (
        {"aisb:deviceLogs": "true"},
        json.dumps(["/opt/app/app.log"]),
        lambda rec: json.loads(_one(rec, "aws-native:iot:JobTemplate")["document"])["steps"][0][
            "action"
        ]["input"]["args"][-1:],
        ["/opt/app/app.log"],
    ),
    "securityHub": (
        {},
        "true",
        lambda rec: sorted(
            s.inputs["productArn"].rsplit("/", 1)[-1]
            for s in rec.of_type("aws:securityhub/productSubscription:ProductSubscription")
        ),
        ["iot-device-defender-audit", "iot-device-defender-detect"],
    ),
    "iotTlsPolicy": (
        {},
        "IoTSecurityPolicy_TLS13_1_3_2022_10",
        lambda rec: _one(rec, "aws:iot/domainConfiguration:DomainConfiguration")["tlsConfig"],
        {"securityPolicy": "IoTSecurityPolicy_TLS13_1_3_2022_10"},
    ),
    "tags": (
        {},
        json.dumps({"cost-centre": "4711"}),
        lambda rec: _one(rec, "aws:sns/topic:Topic")["tags"]["cost-centre"],
        "4711",
    ),
}


def test_every_key_has_a_row() -> None:
    assert set(REACH) == {k.name for k in KEYS}


@pytest.mark.parametrize("key", sorted(REACH))
def test_a_setting_reaches_the_resource_it_governs(key: str) -> None:
    extra, raw, observe, expected = REACH[key]
    default = next(k.default for k in KEYS if k.name == key)
    assert raw != json.dumps(default) and raw != str(default).lower(), "not a non-default value"
    rec = rendered({**MINIMAL_CONFIG, **extra, f"aisb:{key}": raw})
    assert observe(rec) == expected
    # And without the key, the resource shows something else: the row tests the key.
    try:
        baseline = rendered({**MINIMAL_CONFIG, **extra})
    except ConfigError:
        return  # its companion keys need it (a monthly audit needs its day)
    try:
        without = observe(baseline)
    except (AssertionError, KeyError, StopIteration, IndexError):
        return  # the resource it governs does not exist without it
    assert without != expected
