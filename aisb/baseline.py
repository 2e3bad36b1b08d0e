"""``IotSecurityBaseline``: the AISB controls composed for one account and region."""

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, TypedDict

import pulumi
import pulumi_aws as aws

from aisb.components._util import check_name, nested_limits, regional_arn
from aisb.components.access_analyzer import AccessAnalyzer
from aisb.components.alerts import SecurityAlerts, SecurityAlertsArgs
from aisb.components.audit import DeviceDefenderAudit
from aisb.components.behavior import BehaviorMonitoring, FleetAnomalyAlarms
from aisb.components.cert_rotation import CertificateRotationMonitor
from aisb.components.device_logs import DEFAULT_LOG_PATHS, DeviceLogCollection
from aisb.components.iot_logging import IotLogging
from aisb.components.mitigation import DetectMitigations
from aisb.components.threat_detection import ThreatDetection, ThreatDetectionArgs
from aisb.components.trail import ProtectedAuditTrail
from aisb.detect import DETECTION_MODES


class IotSecurityBaselineArgs(TypedDict, total=False):
    """Arguments of ``IotSecurityBaseline``; each has the default the stack config has."""

    alert_emails: Sequence[str]
    """E-mail addresses subscribed to the alert topic."""
    alert_emails_secret: bool
    """Keep the addresses secret in the Pulumi state (the stack config has them as secrets)."""
    existing_alert_topic_arn: pulumi.Input[str]
    """Publish to this SNS topic instead of creating one."""
    existing_alert_topic_kms_key_arn: pulumi.Input[str]
    """The KMS key of ``existing_alert_topic_arn``, if it is encrypted."""
    iot_log_level: str
    """AWS IoT Core log level (default ERROR)."""
    log_retention_days: int
    """Retention of the log groups created (default 365)."""
    audit_frequency: str
    """Scheduled audit frequency (default DAILY)."""
    audit_day_of_week: str | None
    """Day of week for WEEKLY and BIWEEKLY audits."""
    audit_day_of_month: str | None
    """Day of month ("1".."31" or "LAST") for MONTHLY audits."""
    audit_checks_disabled: Sequence[str]
    """Audit checks to leave off."""
    cert_max_age_days: int
    """Certificate rotation period: DEVICE_CERTIFICATE_AGE_CHECK threshold (default 365)."""
    cert_expiry_warning_days: int
    """DEVICE_CERTIFICATE_EXPIRING_CHECK threshold (default 30)."""
    access_analyzer: bool
    """Create an account-zone IAM Access Analyzer (default true)."""
    cert_rotation: bool
    """Deploy the certificate-rotation monitor (default true)."""
    cert_scan_interval_days: int
    """Days between certificate scans (default 30)."""
    cert_rotation_warning_days: int
    """Warning window before the rotation period, in days (default 30)."""
    cert_report_bucket: bool
    """Keep full certificate reports in S3 (default false)."""
    cert_report_format: str
    """csv (default) or jsonl."""
    cert_report_thing_names: bool
    """Add attached thing names to the report (default false)."""
    cert_report_always: bool
    """E-mail the report even when nothing is due (default false)."""
    behavior_detection: str
    """cloudwatch (default: every account), ml-detect (accounts open to Detect) or off."""
    ml_device_metrics: bool
    """Watch device-side metrics with ML Detect too (default false)."""
    ml_confidence: str
    """ML Detect confidence: LOW, MEDIUM, HIGH (default)."""
    ml_datapoints_to_alarm: int
    """Consecutive anomalous datapoints before an alarm (default 1)."""
    ml_datapoints_to_clear: int
    """Consecutive normal datapoints before an alarm clears (default 1)."""
    detect_target_groups: Sequence[str]
    """Thing groups to watch; empty watches all registered things."""
    detect_rules: Sequence[Mapping[str, Any]]
    """Static rules for a rules-based profile."""
    custom_metrics: Sequence[Mapping[str, Any]]
    """Device Defender custom metrics and how each is watched."""
    mitigation_actions: bool
    """Create the mitigation actions (default true)."""
    anomaly_band_width: int
    """CloudWatch anomaly band width in standard deviations (default 2)."""
    cloud_trail: bool
    """Deploy the protected multi-region trail (default false)."""
    cloud_trail_archive_days: int
    """Days before trail logs move to Deep Archive (default 90)."""
    cloud_trail_object_lock_days: int
    """Object Lock retention of trail logs; 0 (default) is off."""
    cloud_trail_object_lock_mode: str
    """GOVERNANCE (default) or COMPLIANCE."""
    guard_duty: bool
    """Enable GuardDuty and e-mail its findings (default false)."""
    guard_duty_detector_id: str | None
    """Adopt this existing detector instead of creating one."""
    guard_duty_min_severity: int
    """Minimum severity e-mailed (default 4)."""
    device_logs: bool
    """Set up device-log collection (default false)."""
    device_logs_retention_days: int
    """Days device logs are kept (default 30)."""
    device_logs_paths: Sequence[str]
    """Files devices upload."""
    tags: Mapping[str, str]
    """Tags for every taggable resource."""


class IotSecurityBaseline(pulumi.ComponentResource):
    """The AWS IoT Security Baseline for one account and region.

    Looks up the account, region and partition once (through its own providers) and creates:
    ``<name>-alerts`` (SecurityAlerts, AISB #7), ``<name>-logging`` (IotLogging, AISB #3),
    ``<name>-audit`` (DeviceDefenderAudit, AISB #1, #2, #4) and, unless disabled,
    ``<name>-cert-rotation`` (CertificateRotationMonitor, AISB #6),
    ``<name>-behavior`` (BehaviorMonitoring, AISB #5, #11) or ``<name>-fleet-alarms``
    (FleetAnomalyAlarms, AISB #5 without Detect), ``<name>-mitigations``
    (DetectMitigations, AISB #7), ``<name>-access-analyzer`` (AccessAnalyzer, AISB #2) and
    the optional ``<name>-trail`` (ProtectedAuditTrail, AISB #8), ``<name>-guardduty``
    (ThreatDetection, AISB #9) and ``<name>-device-logs`` (DeviceLogCollection, AISB #10).

    Pass ``providers=[aws_provider, aws_native_provider]`` in ``opts`` to deploy to a region
    other than the stack's; both must be for the same region.

    Outputs: ``account_id``, ``region``, ``partition``, ``alert_topic_arn``,
    ``alert_key_arn``, ``iot_log_group_name``, ``access_analyzer_arn`` and
    ``cert_rotation_function_arn`` (None when skipped), ``security_profile_names`` and
    ``mitigation_action_names`` and ``device_logs`` (bucket, devicePolicy, jobTemplateArn;
    empty when skipped).
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
                    "-behavior": BehaviorMonitoring.name_limits,
                    "-fleet-alarms": FleetAnomalyAlarms.name_limits,
                    "-mitigations": DetectMitigations.name_limits,
                    "-access-analyzer": AccessAnalyzer.name_limits,
                    "-trail": ProtectedAuditTrail.name_limits,
                    "-guardduty": ThreatDetection.name_limits,
                    "-device-logs": DeviceLogCollection.name_limits,
                }
            ),
            "-guardduty-findings": 64,
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
    security_profile_names: pulumi.Output[list[str]]
    mitigation_action_names: pulumi.Output[dict[str, str]]
    device_logs: pulumi.Output[dict[str, str]]

    def __init__(
        self, name: str, args: IotSecurityBaselineArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        check_name("IotSecurityBaseline", name, self.name_limits)
        super().__init__("aisb:index:IotSecurityBaseline", name, None, opts)
        # One lookup each, parented here so they use this component's providers.
        invoke = pulumi.InvokeOutputOptions(parent=self)
        self.account_id = aws.get_caller_identity_output(opts=invoke).account_id
        self.region = aws.get_region_output(opts=invoke).region
        self.partition = aws.get_partition_output(opts=invoke).partition
        tags = dict(args.get("tags", {}))
        child = pulumi.ResourceOptions(parent=self)

        cert_rotation = bool(args.get("cert_rotation", True))
        # CloudWatch by default: Device Defender Detect answers accounts that had not used it
        # by 31 August 2026 with UnauthorizedException, so ML Detect is opt-in.
        detection = args.get("behavior_detection", "cloudwatch")
        if detection not in DETECTION_MODES:
            raise ValueError(
                f"IotSecurityBaseline: argument 'behavior_detection' got {detection!r}; "
                f"expected one of {', '.join(DETECTION_MODES)}"
            )
        guard_duty = bool(args.get("guard_duty", False))
        alerts_args: SecurityAlertsArgs = {
            "account_id": self.account_id,
            "partition": self.partition,
            "region": self.region,
            "emails": list(args.get("alert_emails", [])),
            "emails_secret": bool(args.get("alert_emails_secret", False)),
            # CloudWatch alarms publish to the topic themselves.
            "service_publishers": (
                ["cloudwatch.amazonaws.com"]
                if cert_rotation or detection == "cloudwatch" or guard_duty
                else []
            ),
            "tags": tags,
        }
        findings_rule = f"{name}-guardduty-findings"
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
        if (existing_topic := args.get("existing_alert_topic_arn")) is not None:
            alerts_args["existing_topic_arn"] = existing_topic
            if (existing_key := args.get("existing_alert_topic_kms_key_arn")) is not None:
                alerts_args["existing_topic_kms_key_arn"] = existing_key
        alerts = SecurityAlerts(f"{name}-alerts", alerts_args, opts=child)
        logging = IotLogging(
            f"{name}-logging",
            {
                "account_id": self.account_id,
                "region": self.region,
                "partition": self.partition,
                "log_level": args.get("iot_log_level", "ERROR"),
                "retention_days": args.get("log_retention_days", 365),
                "tags": tags,
            },
            opts=child,
        )
        DeviceDefenderAudit(
            f"{name}-audit",
            {
                "account_id": self.account_id,
                "partition": self.partition,
                "region": self.region,
                "alert_topic_arn": alerts.topic_arn,
                "alert_topic_kms_key_arn": alerts.kms_key_arn,
                "frequency": args.get("audit_frequency", "DAILY"),
                "day_of_week": args.get("audit_day_of_week"),
                "day_of_month": args.get("audit_day_of_month"),
                "checks_disabled": list(args.get("audit_checks_disabled", [])),
                "cert_max_age_days": args.get("cert_max_age_days", 365),
                "cert_expiry_warning_days": args.get("cert_expiry_warning_days", 30),
                "tags": tags,
            },
            opts=child,
        )
        self.cert_rotation_function_arn: pulumi.Output[str | None] = pulumi.Output.from_input(None)
        if cert_rotation:
            monitor = CertificateRotationMonitor(
                f"{name}-cert-rotation",
                {
                    "account_id": self.account_id,
                    "region": self.region,
                    "partition": self.partition,
                    "alert_topic_arn": alerts.topic_arn,
                    "alert_topic_kms_key_arn": alerts.kms_key_arn,
                    "rotation_days": args.get("cert_max_age_days", 365),
                    "warning_days": args.get("cert_rotation_warning_days", 30),
                    "scan_interval_days": args.get("cert_scan_interval_days", 30),
                    "report_bucket": args.get("cert_report_bucket", False),
                    "report_format": args.get("cert_report_format", "csv"),
                    "thing_names": args.get("cert_report_thing_names", False),
                    "always_report": args.get("cert_report_always", False),
                    "log_retention_days": args.get("log_retention_days", 365),
                    "tags": tags,
                },
                opts=child,
            )
            self.cert_rotation_function_arn = monitor.function_arn
        common = {
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
                {
                    **common,  # type: ignore[typeddict-item]
                    "device_metrics": args.get("ml_device_metrics", False),
                    "confidence": args.get("ml_confidence", "HIGH"),
                    "datapoints_to_alarm": args.get("ml_datapoints_to_alarm", 1),
                    "datapoints_to_clear": args.get("ml_datapoints_to_clear", 1),
                    "target_groups": list(args.get("detect_target_groups", [])),
                    "rules": list(args.get("detect_rules", [])),
                    "custom_metrics": list(args.get("custom_metrics", [])),
                },
                opts=child,
            )
            self.security_profile_names = pulumi.Output.all(
                behavior.ml_profile_name, behavior.rules_profile_name
            ).apply(lambda names: [n for n in names if n])
        elif detection == "cloudwatch":
            FleetAnomalyAlarms(
                f"{name}-fleet-alarms",
                {
                    "alert_topic_arn": alerts.topic_arn,
                    "band_width": args.get("anomaly_band_width", 2),
                    "tags": tags,
                },
                opts=child,
            )
        if args.get("mitigation_actions", True):
            mitigations = DetectMitigations(f"{name}-mitigations", common, opts=child)  # type: ignore[arg-type]
            self.mitigation_action_names = pulumi.Output.all(
                quarantine=mitigations.quarantine_action_name,
                deactivateCertificate=mitigations.deactivate_action_name,
                publishFinding=mitigations.publish_action_name,
            )

        if args.get("cloud_trail", False):
            ProtectedAuditTrail(
                f"{name}-trail",
                {
                    "account_id": self.account_id,
                    "region": self.region,
                    "partition": self.partition,
                    "archive_days": args.get("cloud_trail_archive_days", 90),
                    "object_lock_days": args.get("cloud_trail_object_lock_days", 0),
                    "object_lock_mode": args.get("cloud_trail_object_lock_mode", "GOVERNANCE"),
                    "tags": tags,
                },
                opts=child,
            )
        if guard_duty:
            threat_args: ThreatDetectionArgs = {
                "partition": self.partition,
                "alert_topic_arn": alerts.topic_arn,
                "rule_name": findings_rule,
                "min_severity": args.get("guard_duty_min_severity", 4),
                "tags": tags,
            }
            if detector := args.get("guard_duty_detector_id"):
                threat_args["existing_detector_id"] = detector
            ThreatDetection(f"{name}-guardduty", threat_args, opts=child)
        self.device_logs: pulumi.Output[dict[str, str]] = pulumi.Output.from_input({})
        if args.get("device_logs", False):
            endpoint = aws.iot.get_endpoint_output(
                endpoint_type="iot:CredentialProvider", opts=invoke
            ).endpoint_address
            logs = DeviceLogCollection(
                f"{name}-device-logs",
                {
                    "account_id": self.account_id,
                    "region": self.region,
                    "partition": self.partition,
                    "credential_endpoint": endpoint,
                    "retention_days": args.get("device_logs_retention_days", 30),
                    "log_paths": list(args.get("device_logs_paths", DEFAULT_LOG_PATHS)),
                    "tags": tags,
                },
                opts=child,
            )
            self.device_logs = pulumi.Output.all(
                bucket=logs.bucket_name,
                devicePolicy=logs.device_policy_name,
                jobTemplateArn=logs.job_template_arn,
            )

        self.access_analyzer_arn = pulumi.Output.from_input(None)
        if args.get("access_analyzer", True):
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
            }
        )
