"""Each component on its own, under mocks, with the arguments a library user would pass."""

from __future__ import annotations

import json
from typing import Any, TypedDict

import pytest

from aisb import (
    AccessAnalyzer,
    DeviceDefenderAudit,
    DeviceDefenderAuditArgs,
    IotLogging,
    IotLoggingArgs,
    SecurityAlerts,
)
from aisb.catalog import AUDIT_CHECKS
from aisb.choices import LogLevel
from tests.harness import ACCOUNT, Recording, parliament_findings, policy_documents, run

TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:alerts"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


class _Common(TypedDict):
    account_id: str
    partition: str


COMMON: _Common = {"account_id": ACCOUNT, "partition": "aws"}


def _doc(value: str) -> dict[str, Any]:
    return json.loads(value)


def _assert_policies_clean(rec: Recording) -> None:
    findings = [f for p in policy_documents(rec) for f in parliament_findings(p)]
    assert findings == []


def _assert_children_parented(rec: Recording, component_type: str) -> None:
    (component,) = [r for r in rec.resources if r.type == component_type]
    for r in rec.custom():
        assert r.parent == component.urn, f"{r.name} is not a child of {component.name}"
        assert r.name.startswith(f"{component.name}-"), r.name


# --- SecurityAlerts ---------------------------------------------------------------------------


def test_alerts_topic_encrypted_with_a_rotating_customer_key() -> None:
    rec = run(
        lambda: SecurityAlerts("alerts", {**COMMON, "emails": ["a@example.com", "b@example.com"]})
    )
    key = rec.one("aws:kms/key:Key")
    topic = rec.one("aws:sns/topic:Topic")
    assert key.inputs["enableKeyRotation"] is True
    assert topic.inputs["kmsMasterKeyId"] == key.state["arn"]
    subs = rec.of_type("aws:sns/topicSubscription:TopicSubscription")
    assert sorted(s.inputs["endpoint"] for s in subs) == ["a@example.com", "b@example.com"]
    assert {s.inputs["protocol"] for s in subs} == {"email"}
    assert {s.inputs["topic"] for s in subs} == {topic.state["arn"]}
    policy = _doc(rec.one("aws:sns/topicPolicy:TopicPolicy").inputs["policy"])
    principals = [s["Principal"] for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert principals == [{"AWS": f"arn:aws:iam::{ACCOUNT}:root"}]
    _assert_policies_clean(rec)
    _assert_children_parented(rec, "aisb:index:SecurityAlerts")


def test_alerts_key_grants_only_named_services() -> None:
    rec = run(
        lambda: SecurityAlerts(
            "alerts", {**COMMON, "service_publishers": ["cloudwatch.amazonaws.com"]}
        )
    )
    key_policy = _doc(rec.one("aws:kms/key:Key").inputs["policy"])
    services = [s for s in key_policy["Statement"] if "Service" in s["Principal"]]
    assert [s["Principal"]["Service"] for s in services] == ["cloudwatch.amazonaws.com"]
    # CloudWatch presents its account to KMS; the key serves this account's topics only.
    assert services[0]["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "StringLike": {"kms:EncryptionContext:aws:sns:topicArn": f"arn:aws:sns:*:{ACCOUNT}:*"},
    }
    topic_policy = _doc(rec.one("aws:sns/topicPolicy:TopicPolicy").inputs["policy"])
    assert any(
        s["Principal"] == {"Service": ["cloudwatch.amazonaws.com"]}
        for s in topic_policy["Statement"]
    )
    _assert_policies_clean(rec)


def test_alerts_without_publishers_grant_no_service() -> None:
    rec = run(lambda: SecurityAlerts("alerts", {**COMMON}))
    key_policy = _doc(rec.one("aws:kms/key:Key").inputs["policy"])
    assert all("Service" not in s["Principal"] for s in key_policy["Statement"])


def test_alerts_subscription_names_are_stable_when_addresses_change() -> None:
    first = run(
        lambda: SecurityAlerts("a", {**COMMON, "emails": ["x@example.com", "y@example.com"]})
    )
    second = run(lambda: SecurityAlerts("a", {**COMMON, "emails": ["y@example.com"]}))
    names = lambda rec: {  # noqa: E731
        r.inputs["endpoint"]: r.name
        for r in rec.of_type("aws:sns/topicSubscription:TopicSubscription")
    }
    assert names(first)["y@example.com"] == names(second)["y@example.com"]


def test_alerts_can_use_an_existing_topic() -> None:
    rec = run(
        lambda: SecurityAlerts(
            "alerts",
            {
                **COMMON,
                "existing_topic_arn": TOPIC,
                "existing_topic_kms_key_arn": KEY,
                "emails": ["a@example.com"],
            },
        )
    )
    assert rec.of_type("aws:sns/topic:Topic") == []
    assert rec.of_type("aws:kms/key:Key") == []
    assert rec.one("aws:sns/topicSubscription:TopicSubscription").inputs["topic"] == TOPIC


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"partition": "aws"}, "argument 'account_id' is required"),
        ({**COMMON, "emails": ["nope"]}, "argument 'emails' got 'nope'"),
        (
            {**COMMON, "service_publishers": ["cloudwatch"]},
            "argument 'service_publishers' got 'cloudwatch'",
        ),
    ],
)
def test_alerts_bad_arguments(args: dict[str, Any], message: str) -> None:
    recording = Recording()
    with pytest.raises(ValueError, match=message):
        run(lambda: SecurityAlerts("alerts", args), recording=recording)  # type: ignore[arg-type]
    assert recording.resources == []


# --- IotLogging -------------------------------------------------------------------------------

LOGGING: IotLoggingArgs = {**COMMON, "region": "us-east-1"}


@pytest.mark.parametrize("level", list(LogLevel))
def test_logging_options_at_the_configured_level(level: LogLevel) -> None:
    rec = run(lambda: IotLogging("logs", {**LOGGING, "log_level": level}))
    options = rec.one("aws:iot/loggingOptions:LoggingOptions")
    assert options.inputs["defaultLogLevel"] == level
    assert options.inputs["disableAllLogs"] is (level == "DISABLED")


def test_logging_role_writes_only_to_the_iot_log_group() -> None:
    rec = run(lambda: IotLogging("logs", {**LOGGING, "retention_days": 90}))
    group = rec.one("aws:cloudwatch/logGroup:LogGroup")
    assert group.inputs["name"] == "AWSIotLogsV2"
    assert group.inputs["retentionInDays"] == 90
    key = rec.one("aws:kms/key:Key")
    assert group.inputs["kmsKeyId"] == key.state["arn"]
    assert key.inputs["enableKeyRotation"] is True
    assert group.retain_on_delete and key.retain_on_delete

    role = rec.one("aws:iam/role:Role")
    trust = _doc(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "iot.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    policy = _doc(rec.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    resources = {r for s in policy["Statement"] for r in s["Resource"]}
    assert all(r.startswith(group.state["arn"]) for r in resources)

    options = rec.one("aws:iot/loggingOptions:LoggingOptions")
    assert options.inputs["roleArn"] == role.state["arn"]
    role_policy = rec.one("aws:iam/rolePolicy:RolePolicy")
    assert group.urn in options.dependencies
    assert rec.waits_for(options, role_policy.urn)
    settled = rec.by_name("logs-iam-settled")
    assert settled.type == "time:index/sleep:Sleep" and settled.urn in options.dependencies
    assert settled.inputs["createDuration"] == "30s"
    assert settled.inputs["triggers"] == {
        "role0": role.state["arn"],
        "role0grant0": role_policy.inputs["policy"],
    }
    _assert_policies_clean(rec)
    _assert_children_parented(rec, "aisb:index:IotLogging")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({**LOGGING, "log_level": "TRACE"}, "argument 'log_level' got 'TRACE'"),
        ({**LOGGING, "retention_days": 10}, "argument 'retention_days' got 10"),
        (COMMON, "argument 'region' is required"),
    ],
)
def test_logging_bad_arguments(args: dict[str, Any], message: str) -> None:
    recording = Recording()
    with pytest.raises(ValueError, match=message):
        run(lambda: IotLogging("logs", args), recording=recording)  # type: ignore[arg-type]
    assert recording.resources == []


# --- DeviceDefenderAudit ----------------------------------------------------------------------

AUDIT: DeviceDefenderAuditArgs = {
    **COMMON,
    "alert_topic_arn": TOPIC,
    "alert_topic_kms_key_arn": KEY,
}


def _checks(rec: Recording) -> dict[str, Any]:
    return rec.one("aws-native:iot:AccountAuditConfiguration").inputs["auditCheckConfigurations"]


def test_audit_enables_all_seventeen_checks_with_thresholds() -> None:
    rec = run(
        lambda: DeviceDefenderAudit(
            "audit", {**AUDIT, "cert_max_age_days": 1095, "cert_expiry_warning_days": 60}
        )
    )
    checks = _checks(rec)
    assert len(checks) == 17
    assert all(entry["enabled"] is True for entry in checks.values())
    assert checks["deviceCertificateAgeCheck"]["configuration"] == {
        "certAgeThresholdInDays": "1095"
    }
    assert checks["deviceCertificateExpiringCheck"]["configuration"] == {
        "certExpirationThresholdInDays": "60"
    }
    assert "ioTPolicyPotentialMisConfigurationCheck" in checks
    _assert_policies_clean(rec)
    _assert_children_parented(rec, "aisb:index:DeviceDefenderAudit")


def test_audit_notifications_go_to_the_topic_through_a_publish_only_role() -> None:
    rec = run(lambda: DeviceDefenderAudit("audit", AUDIT))
    config = rec.one("aws-native:iot:AccountAuditConfiguration")
    sns = config.inputs["auditNotificationTargetConfigurations"]["sns"]
    notify_role = rec.by_name("audit-notify-role")
    assert sns == {"enabled": True, "roleArn": notify_role.state["arn"], "targetArn": TOPIC}
    policy = _doc(rec.by_name("audit-notify-role-policy").inputs["policy"])
    grants = {
        (a, s["Resource"])
        for s in policy["Statement"]
        for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    }
    assert grants == {("sns:Publish", TOPIC), ("kms:Decrypt", KEY), ("kms:GenerateDataKey", KEY)}
    audit_role = rec.by_name("audit-audit-role")
    assert config.inputs["roleArn"] == audit_role.state["arn"]
    attachment = rec.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert (
        attachment.inputs["policyArn"]
        == "arn:aws:iam::aws:policy/service-role/AWSIoTDeviceDefenderAudit"
    )
    assert attachment.inputs["role"] == audit_role.state["name"]
    assert rec.by_name("audit-iam-settled").urn in config.dependencies
    assert rec.waits_for(config, attachment.urn)
    assert rec.waits_for(config, rec.by_name("audit-notify-role-policy").urn)


def test_scheduled_audit_runs_the_enabled_schedulable_checks_after_the_configuration() -> None:
    disabled = ["LOGGING_DISABLED_CHECK", "CA_CERTIFICATE_EXPIRING_CHECK"]
    rec = run(lambda: DeviceDefenderAudit("audit", {**AUDIT, "checks_disabled": disabled}))
    checks = _checks(rec)
    assert checks["loggingDisabledCheck"] == {"enabled": False}
    assert checks["caCertificateExpiringCheck"] == {"enabled": False}
    schedule = rec.one("aws-native:iot:ScheduledAudit")
    names = schedule.inputs["targetCheckNames"]
    expected = {c.name for c in AUDIT_CHECKS if c.schedulable} - set(disabled)
    assert set(names) == expected and len(names) == len(expected)
    assert schedule.inputs["frequency"] == "DAILY"
    assert "dayOfWeek" not in schedule.inputs and "dayOfMonth" not in schedule.inputs
    config = rec.one("aws-native:iot:AccountAuditConfiguration")
    assert config.urn in schedule.dependencies


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        (
            {"frequency": "WEEKLY", "day_of_week": "TUE"},
            {"frequency": "WEEKLY", "dayOfWeek": "TUE"},
        ),
        (
            {"frequency": "BIWEEKLY", "day_of_week": "SUN"},
            {"frequency": "BIWEEKLY", "dayOfWeek": "SUN"},
        ),
        (
            {"frequency": "MONTHLY", "day_of_month": "LAST"},
            {"frequency": "MONTHLY", "dayOfMonth": "LAST"},
        ),
        (
            {"frequency": "MONTHLY", "day_of_month": "1"},
            {"frequency": "MONTHLY", "dayOfMonth": "1"},
        ),
    ],
)
def test_scheduled_audit_frequencies(schedule: dict[str, str], expected: dict[str, str]) -> None:
    rec = run(lambda: DeviceDefenderAudit("audit", {**AUDIT, **schedule}))  # type: ignore[typeddict-item]
    inputs = rec.one("aws-native:iot:ScheduledAudit").inputs
    assert {k: inputs[k] for k in expected} == expected
    assert not ({"dayOfWeek", "dayOfMonth"} - set(expected)) & set(inputs)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({**AUDIT, "frequency": "WEEKLY"}, "argument 'day_of_week' got None"),
        ({**AUDIT, "frequency": "DAILY", "day_of_month": "3"}, "argument 'day_of_month' got '3'"),
        ({**AUDIT, "checks_disabled": ["X"]}, "argument 'checks_disabled' got 'X'"),
        (
            {**AUDIT, "checks_disabled": [c.name for c in AUDIT_CHECKS if c.schedulable]},
            "at least one check left on that the scheduled audit can run",
        ),
        ({**AUDIT, "cert_max_age_days": 10}, "argument 'cert_max_age_days' got 10"),
        (
            {**AUDIT, "cert_expiry_warning_days": 5000},
            "argument 'cert_expiry_warning_days' got 5000",
        ),
        (COMMON, "argument 'alert_topic_arn' is required"),
    ],
)
def test_audit_bad_arguments(args: dict[str, Any], message: str) -> None:
    recording = Recording()
    with pytest.raises(ValueError, match=message):
        run(lambda: DeviceDefenderAudit("audit", args), recording=recording)  # type: ignore[arg-type]
    assert recording.resources == []


# --- AccessAnalyzer ---------------------------------------------------------------------------


def test_access_analyzer_is_account_zone() -> None:
    rec = run(lambda: AccessAnalyzer("aa", {"tags": {"team": "iot"}}))
    analyzer = rec.one("aws:accessanalyzer/analyzer:Analyzer")
    assert analyzer.inputs["type"] == "ACCOUNT"
    assert analyzer.inputs["analyzerName"] == "aisb-account"
    assert analyzer.inputs["tags"] == {"team": "iot", "aisb:control": "AISB-2"}
    _assert_children_parented(rec, "aisb:index:AccessAnalyzer")


def test_access_analyzer_bad_name() -> None:
    with pytest.raises(ValueError, match="argument 'analyzer_name' got ''"):
        run(lambda: AccessAnalyzer("aa", {"analyzer_name": ""}))
