"""``IotSecurityBaseline``: the AISB controls composed for one account and region."""

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, TypedDict

import pulumi
import pulumi_aws as aws

from aisb import validation as v
from aisb.choices import (
    AuditFrequency,
    BehaviorDetection,
    Confidence,
    DayOfWeek,
    IotTlsPolicy,
    KeyAlgorithm,
    LogLevel,
    ObjectLockMode,
    ReportFormat,
)
from aisb.components import (
    alerts,
    audit,
    behavior,
    cert_rotation,
    device_logs,
    endpoint_tls,
    iot_logging,
    rotation,
    threat_detection,
    trail,
)
from aisb.components._util import check_name, nested_limits, regional_arn
from aisb.components.access_analyzer import AccessAnalyzer
from aisb.components.alerts import SecurityAlerts, SecurityAlertsArgs
from aisb.components.audit import DeviceDefenderAudit, DeviceDefenderAuditArgs
from aisb.components.behavior import (
    BehaviorMonitoring,
    BehaviorMonitoringArgs,
    CustomMetricArgs,
    DetectRuleArgs,
    FleetAnomalyAlarms,
    FleetAnomalyAlarmsArgs,
)
from aisb.components.cert_rotation import (
    CertificateRotationMonitor,
    CertificateRotationMonitorArgs,
)
from aisb.components.device_logs import DeviceLogCollection, DeviceLogCollectionArgs
from aisb.components.endpoint_tls import EndpointTlsPolicy, EndpointTlsPolicyArgs
from aisb.components.iot_logging import IotLogging, IotLoggingArgs
from aisb.components.mitigation import DetectMitigations, DetectMitigationsArgs
from aisb.components.rotation import CertificateRotation, CertificateRotationArgs
from aisb.components.security_hub import SecurityHubFindings
from aisb.components.threat_detection import ThreatDetection, ThreatDetectionArgs
from aisb.components.trail import ProtectedAuditTrail, ProtectedAuditTrailArgs
from aisb.detect import DETECTION_MODES
from aisb.options import Exposure, Option, Problem, Rule, exposed_docs, field_docs, resolve


class IotSecurityBaselineArgs(TypedDict, total=False):
    """Arguments of ``IotSecurityBaseline``. The stack config of the aisb program is these
    arguments, each as ``aisb:<camelCaseName>`` (except the library-only ones), with the
    same defaults and checks. A field without a docstring is a child's argument exposed
    under this name (``EXPOSURES``): its description is the child's (``arg_docs``)."""

    alert_emails: Sequence[str]
    """E-mail addresses subscribed to the alert topic (AISB #7); each must confirm the
    subscription e-mail from SNS."""
    iot_log_level: LogLevel
    audit_frequency: AuditFrequency
    audit_day_of_week: DayOfWeek
    audit_day_of_month: str
    audit_checks_disabled: Sequence[str]
    cert_max_age_days: int
    cert_expiry_warning_days: int
    log_retention_days: int
    """Retention of the log groups aisb creates, in days; a value CloudWatch Logs accepts."""
    access_analyzer: bool
    """Create an account-zone IAM Access Analyzer (AISB #2); false where the account already
    has one."""
    cert_rotation: bool
    """Deploy the certificate-rotation monitor (AISB #6); its rotation period is
    certMaxAgeDays."""
    cert_scan_interval_days: int
    """Days between certificate-rotation scans (1-365)."""
    cert_rotation_warning_days: int
    """Certificates this close to the rotation period are reported as due soon (0 to
    certMaxAgeDays - 1; 0 turns the warning off; the default 30 shrinks to certMaxAgeDays - 1
    for shorter rotation periods)."""
    cert_report_bucket: bool
    """Keep the full list of due and due-soon certificates in a private, encrypted S3 bucket
    (kept on destroy)."""
    cert_report_format: ReportFormat
    """Format of the certificate report files: csv or jsonl."""
    cert_report_thing_names: bool
    """Add the things attached to each reported certificate (one ListPrincipalThings call each,
    at most 1000 per run); needs certReportBucket."""
    cert_report_always: bool
    """E-mail the certificate report even when no certificate is due or due soon."""
    cert_rotation_jobs: bool
    """Rotate device certificates through AWS IoT jobs (CertificateRotation, AISB #6): a job
    template, IoT rules and functions that issue, commit and roll back; devices run
    rotate-certificate.py. Turns on AWS IoT job execution events in the account and region."""
    cert_rotation_jobs_automatic: bool
    """The certificate-rotation monitor starts a rotation job for the things of the due
    certificates it finds (needs certRotation and certRotationJobs)."""
    cert_rotation_key_algorithm: KeyAlgorithm
    cert_rotation_grace_days: int
    cert_rotation_timeout_minutes: int
    cert_rotation_max_per_minute: int
    behavior_detection: BehaviorDetection
    """How device behaviour is watched (AISB #5): cloudwatch (fleet-level anomaly alarms;
    works on every account), ml-detect (Device Defender ML Detect, per device; only for
    accounts that used Detect before 31 August 2026) or off."""
    ml_device_metrics: bool
    ml_confidence: Confidence
    ml_datapoints_to_alarm: int
    ml_datapoints_to_clear: int
    detect_target_groups: Sequence[str]
    detect_rules: Sequence[DetectRuleArgs]
    custom_metrics: Sequence[CustomMetricArgs]
    mitigation_actions: bool
    """Create the quarantine, deactivate-certificate and publish-finding mitigation actions
    (applied by an operator, never automatically)."""
    anomaly_band_width: int
    """Width in standard deviations of the CloudWatch anomaly band (behaviorDetection:
    cloudwatch; 1-10)."""
    cloud_trail: bool
    """Deploy a multi-region CloudTrail trail to a protected bucket (AISB #8); turn it on in
    one home-region stack only."""
    cloud_trail_archive_days: int
    """Days after which trail log files of 128 KB or more move to S3 Glacier Deep Archive;
    smaller ones stay in S3 Standard, which costs less for them (1-3650)."""
    cloud_trail_object_lock_days: int
    """S3 Object Lock retention of trail log files in days, for write-once evidence; 0 leaves
    Object Lock off (0-3650). Only takes effect on a new bucket."""
    cloud_trail_object_lock_mode: ObjectLockMode
    """Object Lock mode: GOVERNANCE, or COMPLIANCE (nobody, not even the root user, can shorten
    the retention)."""
    guard_duty: bool
    """Enable GuardDuty and e-mail its findings (AISB #9)."""
    guard_duty_detector_id: str
    """The id of a GuardDuty detector that already exists in this account and region (enabled
    by an organisation, say): no detector is created, findings are still e-mailed."""
    guard_duty_min_severity: int
    """GuardDuty findings at or above this severity are e-mailed (1-10; 4 is medium)."""
    device_logs: bool
    """Set up device-log collection through an AWS IoT job (AISB #10)."""
    device_logs_retention_days: int
    """Days collected device logs are kept (1-3650)."""
    device_logs_paths: Sequence[str]
    """Absolute paths of the files a device uploads when the job runs (1-20)."""
    role_permissions_boundary: str
    """The name of an IAM managed policy in this account set as the permissions boundary of
    every IAM role the baseline creates: aisb-role-boundary where deploys run as the deploy role
    of deploy-role/aisb-deployer.yaml, which refuses to create roles without it. Unset: none."""
    security_hub: bool
    """Accept Device Defender audit and detect findings into AWS Security Hub in this region
    (beyond AISB's eleven). Security Hub must already be enabled here (aisb never enables it):
    the subscriptions fail where it is not."""
    iot_tls_policy: IotTlsPolicy
    tags: Mapping[str, str]
    """Tags added to every taggable resource, as a map of names to string values."""
    alert_emails_secret: bool
    """Keep the alert addresses secret in the Pulumi state (the program sets it when the stack
    config has them as secrets)."""
    existing_alert_topic_arn: pulumi.Input[str]
    """Publish to this SNS topic instead of creating one (library use)."""
    existing_alert_topic_kms_key_arn: pulumi.Input[str]
    """The KMS key of ``existing_alert_topic_arn``, if it is encrypted (library use)."""


# Arguments a program sets itself or that only a library user can give (an existing topic):
# they are not stack config keys.
LIBRARY_ONLY = frozenset(
    {"alert_emails_secret", "existing_alert_topic_arn", "existing_alert_topic_kms_key_arn"}
)

# Which argument of which child the baseline exposes under which name: declared once, here.
# The baseline's options, rules and argument docs for them are the child's, and what it passes
# down is typed as the child's Args.
ALERTS = Exposure(
    SecurityAlertsArgs,
    alerts.OPTIONS,
    (),
    {"emails": "alert_emails", "emails_secret": "alert_emails_secret"},
)
LOGGING = Exposure(
    IotLoggingArgs,
    iot_logging.OPTIONS,
    (),
    {"log_level": "iot_log_level", "retention_days": "log_retention_days"},
)
AUDIT = Exposure(
    DeviceDefenderAuditArgs,
    audit.OPTIONS,
    audit.RULES,
    {
        "frequency": "audit_frequency",
        "day_of_week": "audit_day_of_week",
        "day_of_month": "audit_day_of_month",
        "checks_disabled": "audit_checks_disabled",
        "cert_max_age_days": "cert_max_age_days",
        "cert_expiry_warning_days": "cert_expiry_warning_days",
    },
)
CERTS = Exposure(
    CertificateRotationMonitorArgs,
    cert_rotation.OPTIONS,
    cert_rotation.RULES,
    {
        "rotation_days": "cert_max_age_days",
        "warning_days": "cert_rotation_warning_days",
        "scan_interval_days": "cert_scan_interval_days",
        "report_bucket": "cert_report_bucket",
        "report_format": "cert_report_format",
        "thing_names": "cert_report_thing_names",
        "always_report": "cert_report_always",
        "log_retention_days": "log_retention_days",
    },
    # One rotation period for the audit's age check and the monitor; one log retention.
    checked_here=frozenset({"rotation_days", "log_retention_days"}),
)
ROTATION = Exposure(
    CertificateRotationArgs,
    rotation.OPTIONS,
    (),
    {
        "key_algorithm": "cert_rotation_key_algorithm",
        "grace_days": "cert_rotation_grace_days",
        "in_progress_timeout_minutes": "cert_rotation_timeout_minutes",
        "rollout_maximum_per_minute": "cert_rotation_max_per_minute",
        "log_retention_days": "log_retention_days",
    },
    checked_here=frozenset({"log_retention_days"}),
)
DETECT = Exposure(
    BehaviorMonitoringArgs,
    behavior.OPTIONS,
    (),  # its rule runs inside _detection, in ml-detect mode only
    {
        "device_metrics": "ml_device_metrics",
        "confidence": "ml_confidence",
        "datapoints_to_alarm": "ml_datapoints_to_alarm",
        "datapoints_to_clear": "ml_datapoints_to_clear",
        "target_groups": "detect_target_groups",
        "rules": "detect_rules",
        "custom_metrics": "custom_metrics",
    },
)
FLEET = Exposure(
    FleetAnomalyAlarmsArgs, behavior.FLEET_OPTIONS, (), {"band_width": "anomaly_band_width"}
)
TRAIL = Exposure(
    ProtectedAuditTrailArgs,
    trail.OPTIONS,
    (),
    {
        "archive_days": "cloud_trail_archive_days",
        "object_lock_days": "cloud_trail_object_lock_days",
        "object_lock_mode": "cloud_trail_object_lock_mode",
    },
)
THREAT = Exposure(
    ThreatDetectionArgs,
    threat_detection.OPTIONS,
    (),
    {"existing_detector_id": "guard_duty_detector_id", "min_severity": "guard_duty_min_severity"},
)
DEVICE_LOGS = Exposure(
    DeviceLogCollectionArgs,
    device_logs.OPTIONS,
    (),
    {"retention_days": "device_logs_retention_days", "log_paths": "device_logs_paths"},
)
ENDPOINT_TLS = Exposure(
    EndpointTlsPolicyArgs, endpoint_tls.OPTIONS, (), {"security_policy": "iot_tls_policy"}
)
EXPOSURES: tuple[Exposure[Any], ...] = (
    ALERTS,
    LOGGING,
    AUDIT,
    CERTS,
    ROTATION,
    DETECT,
    FLEET,
    TRAIL,
    THREAT,
    DEVICE_LOGS,
    ENDPOINT_TLS,
)
FINDINGS_RULE = "-guardduty-findings"
"""The suffix of the GuardDuty findings rule's name (after the baseline's name)."""

_ML_ONLY = ("ml_device_metrics", "detect_target_groups", "detect_rules", "custom_metrics")


def _detection(values: dict[str, Any]) -> list[Problem]:
    """Rules, custom metrics, device metrics and target groups are Device Defender Detect's:
    refused in another mode, checked as BehaviorMonitoring checks them in ml-detect."""
    mode = values["behavior_detection"]
    if mode != "ml-detect":
        return [
            (
                key,
                v.InvalidValue(
                    values[key],
                    "it unset: it applies to Device Defender Detect, and "
                    f"{{behavior_detection}} is {mode!r}",
                ),
            )
            for key in _ML_ONLY
            if values[key]
        ]
    return behavior.RULES[0].renamed(DETECT.names).run(values)


def _detector_needs_guard_duty(values: dict[str, Any]) -> list[Problem]:
    if values["guard_duty_detector_id"] and not values["guard_duty"]:
        problem = v.InvalidValue(
            values["guard_duty_detector_id"], "it unset unless {guard_duty} is true"
        )
        return [("guard_duty_detector_id", problem)]
    return []


def _automatic_needs_jobs(values: dict[str, Any]) -> list[Problem]:
    """Automatic rotation starts the jobs the monitor finds due: both must be on."""
    if values["cert_rotation_jobs_automatic"] and not (
        values["cert_rotation_jobs"] and values["cert_rotation"]
    ):
        problem = v.InvalidValue(
            True, "false unless {cert_rotation_jobs} and {cert_rotation} are true"
        )
        return [("cert_rotation_jobs_automatic", problem)]
    return []


def _someone_to_alert(values: dict[str, Any]) -> list[Problem]:
    if not values["alert_emails"] and values["existing_alert_topic_arn"] is None:
        return [("alert_emails", v.InvalidValue([], "at least one e-mail address"))]
    return []


OPTIONS: dict[str, Option] = {
    **ALERTS.parent_options(),
    **LOGGING.parent_options(),
    **AUDIT.parent_options(),
    "access_analyzer": Option(True, v.boolean),
    "cert_rotation": Option(True, v.boolean),
    **CERTS.parent_options(),
    "cert_rotation_jobs": Option(False, v.boolean),
    "cert_rotation_jobs_automatic": Option(False, v.boolean),
    **ROTATION.parent_options(),
    "behavior_detection": Option("cloudwatch", v.choice(DETECTION_MODES)),
    **DETECT.parent_options(),
    "mitigation_actions": Option(True, v.boolean),
    **FLEET.parent_options(),
    "cloud_trail": Option(False, v.boolean),
    **TRAIL.parent_options(),
    "guard_duty": Option(False, v.boolean),
    **THREAT.parent_options(),
    "device_logs": Option(False, v.boolean),
    **DEVICE_LOGS.parent_options(),
    # IAM policy names: 1 to 128 of letters, digits and +=,.@_- (IAM identifiers).
    "role_permissions_boundary": Option(
        None,
        v.matching(r"[\w+=,.@-]{1,128}", "an IAM managed policy name such as aisb-role-boundary"),
    ),
    # Off by default: a subscription fails where Security Hub is not enabled, and aisb never
    # enables it (the organisation's delegated administrator does).
    "security_hub": Option(False, v.boolean),
    **ENDPOINT_TLS.parent_options(),
    "tags": Option(MappingProxyType({}), v.tags),
    "existing_alert_topic_arn": Option(None),
    "existing_alert_topic_kms_key_arn": Option(None),
}
RULES: tuple[Rule, ...] = (
    *AUDIT.parent_rules(),
    *CERTS.parent_rules(),
    Rule(("behavior_detection", *DETECT.names.values()), _detection),
    Rule(("guard_duty", "guard_duty_detector_id"), _detector_needs_guard_duty),
    Rule(
        ("cert_rotation_jobs_automatic", "cert_rotation_jobs", "cert_rotation"),
        _automatic_needs_jobs,
    ),
    Rule(("alert_emails", "existing_alert_topic_arn"), _someone_to_alert),
)


def arg_docs() -> dict[str, str]:
    """The description of each argument: the baseline's own, or the child's it is exposed
    from (the package schema, ``Pulumi.yaml`` and the README's tables read these)."""
    return exposed_docs(field_docs(IotSecurityBaselineArgs), EXPOSURES)


class _Bounded(TypedDict, total=False):
    permissions_boundary: pulumi.Input[str]


class IotSecurityBaseline(pulumi.ComponentResource):
    """The AWS IoT Security Baseline for one account and region.

    Looks up the account, region and partition once (through its own providers) and creates:
    ``<name>-alerts`` (SecurityAlerts, AISB #7), ``<name>-logging`` (IotLogging, AISB #3),
    ``<name>-audit`` (DeviceDefenderAudit, AISB #1, #2, #4) and, unless disabled,
    ``<name>-cert-rotation`` (CertificateRotationMonitor, AISB #6), the optional
    ``<name>-rotation`` (CertificateRotation, AISB #6),
    ``<name>-behavior`` (BehaviorMonitoring, AISB #5, #11) or ``<name>-fleet-alarms``
    (FleetAnomalyAlarms, AISB #5 without Detect), ``<name>-mitigations``
    (DetectMitigations, AISB #7), ``<name>-access-analyzer`` (AccessAnalyzer, AISB #2) and
    the optional ``<name>-trail`` (ProtectedAuditTrail, AISB #8), ``<name>-guardduty``
    (ThreatDetection, AISB #9) and ``<name>-device-logs`` (DeviceLogCollection, AISB #10);
    beyond AISB's eleven, ``<name>-endpoint-tls`` (EndpointTlsPolicy, unless unmanaged) and
    the optional ``<name>-security-hub`` (SecurityHubFindings).

    Pass ``providers=[aws_provider, aws_native_provider]`` in ``opts`` to deploy to a region
    other than the stack's; both must be for the same region.

    Outputs: ``account_id``, ``region``, ``partition``, ``alert_topic_arn``,
    ``alert_key_arn``, ``iot_log_group_name``, ``access_analyzer_arn`` and
    ``cert_rotation_function_arn`` (None when skipped), ``cert_rotation_jobs`` (jobTemplateArn,
    jobTemplateId, devicePolicy, stateTable; empty when skipped), ``security_profile_names`` and
    ``mitigation_action_names`` and ``device_logs`` (bucket, devicePolicy, jobTemplateArn,
    deviceConfig; empty when skipped), ``iot_tls_policy`` and ``security_hub_subscriptions``
    (product: subscription ARN; empty when off).
    """

    # Each child component's name is this name and a suffix; the GuardDuty findings rule is
    # named outright (EventBridge rule names take 64 characters).
    name_limits = MappingProxyType(
        {
            **nested_limits(
                {
                    "-alerts": SecurityAlerts.name_limits,
                    "-logging": IotLogging.name_limits,
                    "-audit": DeviceDefenderAudit.name_limits,
                    "-cert-rotation": CertificateRotationMonitor.name_limits,
                    "-rotation": CertificateRotation.name_limits,
                    "-behavior": BehaviorMonitoring.name_limits,
                    "-fleet-alarms": FleetAnomalyAlarms.name_limits,
                    "-mitigations": DetectMitigations.name_limits,
                    "-access-analyzer": AccessAnalyzer.name_limits,
                    "-trail": ProtectedAuditTrail.name_limits,
                    "-guardduty": ThreatDetection.name_limits,
                    "-device-logs": DeviceLogCollection.name_limits,
                    "-security-hub": SecurityHubFindings.name_limits,
                    "-endpoint-tls": EndpointTlsPolicy.name_limits,
                }
            ),
            FINDINGS_RULE: 64,
        }
    )

    account_id: pulumi.Output[str]
    region: pulumi.Output[str]
    partition: pulumi.Output[str]
    alert_topic_arn: pulumi.Output[str]
    alert_key_arn: pulumi.Output[str | None]
    iot_log_group_name: pulumi.Output[str]
    access_analyzer_arn: pulumi.Output[str | None]
    cert_rotation_function_arn: pulumi.Output[str | None]
    cert_rotation_jobs: pulumi.Output[dict[str, str]]
    security_profile_names: pulumi.Output[list[str]]
    mitigation_action_names: pulumi.Output[dict[str, str]]
    device_logs: pulumi.Output[dict[str, str]]
    iot_tls_policy: pulumi.Output[str]
    security_hub_subscriptions: pulumi.Output[dict[str, str]]

    def __init__(
        self, name: str, args: IotSecurityBaselineArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        check_name("IotSecurityBaseline", name, self.name_limits)
        # Every argument checked before anything is registered.
        a = resolve(
            "IotSecurityBaseline", OPTIONS, RULES, args, declared_by=IotSecurityBaselineArgs
        )
        super().__init__("aisb:index:IotSecurityBaseline", name, None, opts)
        # One lookup each, parented here so they use this component's providers.
        invoke = pulumi.InvokeOutputOptions(parent=self)
        self.account_id = aws.get_caller_identity_output(opts=invoke).account_id
        self.region = aws.get_region_output(opts=invoke).region
        self.partition = aws.get_partition_output(opts=invoke).partition
        tags = dict(a["tags"])
        child = pulumi.ResourceOptions(parent=self)
        # Every child that creates roles gets the boundary, when there is one.
        bounded: _Bounded = {}
        if policy := a["role_permissions_boundary"]:
            bounded["permissions_boundary"] = pulumi.Output.concat(
                "arn:", self.partition, ":iam::", self.account_id, ":policy/", policy
            )

        cert_rotation = a["cert_rotation"]
        # CloudWatch by default: Device Defender Detect answers accounts that had not used it
        # by 31 August 2026 with UnauthorizedException, so ML Detect is opt-in.
        detection = a["behavior_detection"]
        guard_duty = a["guard_duty"]
        alerts_args: SecurityAlertsArgs = {
            **ALERTS.passed(a),
            "account_id": self.account_id,
            "partition": self.partition,
            "region": self.region,
            "emails": list(a["alert_emails"]),
            # CloudWatch alarms publish to the topic themselves.
            "service_publishers": (
                ["cloudwatch.amazonaws.com"]
                if cert_rotation
                or a["cert_rotation_jobs"]
                or detection == "cloudwatch"
                or guard_duty
                else []
            ),
            "tags": tags,
        }
        findings_rule = f"{name}{FINDINGS_RULE}"
        if guard_duty:
            # Exactly the findings rule may publish: grant its ARN before it exists.
            alerts_args["source_arn_publishers"] = {
                "events.amazonaws.com": [
                    regional_arn(
                        self.partition,
                        "events",
                        self.region,
                        self.account_id,
                        f"rule/{findings_rule}",
                    )
                ]
            }
        if (existing_topic := a["existing_alert_topic_arn"]) is not None:
            alerts_args["existing_topic_arn"] = existing_topic
            if (existing_key := a["existing_alert_topic_kms_key_arn"]) is not None:
                alerts_args["existing_topic_kms_key_arn"] = existing_key
        alerts = SecurityAlerts(f"{name}-alerts", alerts_args, opts=child)
        logging = IotLogging(
            f"{name}-logging",
            {
                **LOGGING.passed(a),
                **bounded,
                "account_id": self.account_id,
                "region": self.region,
                "partition": self.partition,
                "tags": tags,
            },
            opts=child,
        )
        DeviceDefenderAudit(
            f"{name}-audit",
            {
                **AUDIT.passed(a),
                **bounded,
                "account_id": self.account_id,
                "partition": self.partition,
                "region": self.region,
                "alert_topic_arn": alerts.topic_arn,
                "alert_topic_kms_key_arn": alerts.kms_key_arn,
                "checks_disabled": sorted(a["audit_checks_disabled"]),
                "tags": tags,
            },
            opts=child,
        )
        self.cert_rotation_jobs: pulumi.Output[dict[str, str]] = pulumi.Output.from_input({})
        rotation_template: pulumi.Output[str] | None = None
        if a["cert_rotation_jobs"]:
            data_endpoint = aws.iot.get_endpoint_output(
                endpoint_type="iot:Data-ATS", opts=invoke
            ).endpoint_address
            rotator = CertificateRotation(
                f"{name}-rotation",
                {
                    **ROTATION.passed(a),
                    **bounded,
                    "account_id": self.account_id,
                    "region": self.region,
                    "partition": self.partition,
                    "data_endpoint": data_endpoint,
                    "alert_topic_arn": alerts.topic_arn,
                    "alert_topic_kms_key_arn": alerts.kms_key_arn,
                    "tags": tags,
                },
                opts=child,
            )
            if a["cert_rotation_jobs_automatic"]:
                rotation_template = rotator.job_template_arn
            self.cert_rotation_jobs = pulumi.Output.all(
                jobTemplateArn=rotator.job_template_arn,
                jobTemplateId=rotator.job_template_id,
                devicePolicy=rotator.device_policy_name,
                stateTable=rotator.state_table_name,
            )
        self.cert_rotation_function_arn: pulumi.Output[str | None] = pulumi.Output.from_input(None)
        if cert_rotation:
            monitor_args: CertificateRotationMonitorArgs = {
                **CERTS.passed(a),
                **bounded,
                "account_id": self.account_id,
                "region": self.region,
                "partition": self.partition,
                "alert_topic_arn": alerts.topic_arn,
                "alert_topic_kms_key_arn": alerts.kms_key_arn,
                "tags": tags,
            }
            if rotation_template is not None:
                monitor_args["rotation_job_template_arn"] = rotation_template
            monitor = CertificateRotationMonitor(f"{name}-cert-rotation", monitor_args, opts=child)
            self.cert_rotation_function_arn = monitor.function_arn
        common: DetectMitigationsArgs = {
            **bounded,
            "account_id": self.account_id,
            "region": self.region,
            "partition": self.partition,
            "alert_topic_arn": alerts.topic_arn,
            "alert_topic_kms_key_arn": alerts.kms_key_arn,
            "tags": tags,
        }
        self.security_profile_names: pulumi.Output[list[str]] = pulumi.Output.from_input([])
        self.mitigation_action_names: pulumi.Output[dict[str, str]] = pulumi.Output.from_input({})
        if detection == "ml-detect":
            behavior = BehaviorMonitoring(
                f"{name}-behavior",
                {**common, **DETECT.passed(a)},
                opts=child,
            )
            self.security_profile_names = pulumi.Output.all(
                behavior.ml_profile_name, behavior.rules_profile_name
            ).apply(lambda names: [n for n in names if n])
        elif detection == "cloudwatch":
            FleetAnomalyAlarms(
                f"{name}-fleet-alarms",
                {**FLEET.passed(a), "alert_topic_arn": alerts.topic_arn, "tags": tags},
                opts=child,
            )
        if a["mitigation_actions"]:
            mitigations = DetectMitigations(f"{name}-mitigations", common, opts=child)
            self.mitigation_action_names = pulumi.Output.all(
                quarantine=mitigations.quarantine_action_name,
                deactivateCertificate=mitigations.deactivate_action_name,
                publishFinding=mitigations.publish_action_name,
            )

        if a["cloud_trail"]:
            ProtectedAuditTrail(
                f"{name}-trail",
                {
                    **TRAIL.passed(a),
                    "account_id": self.account_id,
                    "region": self.region,
                    "partition": self.partition,
                    "tags": tags,
                },
                opts=child,
            )
        if guard_duty:
            threat_args: ThreatDetectionArgs = {
                **THREAT.passed(a),
                "partition": self.partition,
                "alert_topic_arn": alerts.topic_arn,
                "rule_name": findings_rule,
                "tags": tags,
            }
            ThreatDetection(f"{name}-guardduty", threat_args, opts=child)
        self.device_logs: pulumi.Output[dict[str, str]] = pulumi.Output.from_input({})
        if a["device_logs"]:
            endpoint = aws.iot.get_endpoint_output(
                endpoint_type="iot:CredentialProvider", opts=invoke
            ).endpoint_address
            logs = DeviceLogCollection(
                f"{name}-device-logs",
                {
                    **DEVICE_LOGS.passed(a),
                    **bounded,
                    "account_id": self.account_id,
                    "region": self.region,
                    "partition": self.partition,
                    "credential_endpoint": endpoint,
                    "log_paths": list(a["device_logs_paths"]),
                    "tags": tags,
                },
                opts=child,
            )
            self.device_logs = pulumi.Output.all(
                bucket=logs.bucket_name,
                devicePolicy=logs.device_policy_name,
                jobTemplateArn=logs.job_template_arn,
                deviceConfig=logs.device_config,
            )

        self.iot_tls_policy = pulumi.Output.from_input(str(a["iot_tls_policy"]))
        if a["iot_tls_policy"] != IotTlsPolicy.UNMANAGED:
            data_endpoint = aws.iot.get_endpoint_output(
                endpoint_type="iot:Data-ATS", opts=invoke
            ).endpoint_address
            EndpointTlsPolicy(
                f"{name}-endpoint-tls",
                {**ENDPOINT_TLS.passed(a), "domain_name": data_endpoint},
                opts=child,
            )
        self.security_hub_subscriptions: pulumi.Output[dict[str, str]] = pulumi.Output.from_input(
            {}
        )
        if a["security_hub"]:
            hub = SecurityHubFindings(
                f"{name}-security-hub",
                {"region": self.region, "partition": self.partition},
                opts=child,
            )
            self.security_hub_subscriptions = hub.subscription_arns

        self.access_analyzer_arn = pulumi.Output.from_input(None)
        if a["access_analyzer"]:
            analyzer = AccessAnalyzer(f"{name}-access-analyzer", {"tags": tags}, opts=child)
            self.access_analyzer_arn = analyzer.analyzer_arn

        self.alert_topic_arn = alerts.topic_arn
        self.alert_key_arn = alerts.kms_key_arn
        self.iot_log_group_name = logging.log_group_name
        self.register_outputs(
            {
                "account_id": self.account_id,
                "region": self.region,
                "partition": self.partition,
                "alert_topic_arn": self.alert_topic_arn,
                "alert_key_arn": self.alert_key_arn,
                "iot_log_group_name": self.iot_log_group_name,
                "access_analyzer_arn": self.access_analyzer_arn,
                "cert_rotation_function_arn": self.cert_rotation_function_arn,
                "security_profile_names": self.security_profile_names,
                "mitigation_action_names": self.mitigation_action_names,
                "device_logs": self.device_logs,
                "iot_tls_policy": self.iot_tls_policy,
                "security_hub_subscriptions": self.security_hub_subscriptions,
                "cert_rotation_jobs": self.cert_rotation_jobs,
            }
        )
