"""Stack configuration -> validated arguments for ``IotSecurityBaseline``.

This is the only module that reads Pulumi configuration. Every ``aisb:`` key is declared in
``KEYS`` (type, default, description: ``Pulumi.yaml`` and the README are checked against it by
the tests), parsed from the strings Pulumi hands the program, and validated before any
resource is registered. All problems are reported at once, each naming the key, the value
received and what is accepted.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi

from aisb import detect
from aisb import validation as v
from aisb.baseline import IotSecurityBaselineArgs
from aisb.catalog import AUDIT_CHECK_NAMES, scheduled_audit_checks
from aisb.components.device_logs import DEFAULT_LOG_PATHS

NAMESPACE = "aisb"


@dataclass(frozen=True)
class Key:
    """One ``aisb:`` configuration key."""

    name: str
    type: str
    """As declared in Pulumi.yaml: string, integer, boolean, array; or object and object-list,
    which Pulumi.yaml cannot declare."""

    @property
    def declared(self) -> bool:
        """Whether Pulumi.yaml can declare it (its types are string, integer, boolean, array
        of those)."""
        return self.type not in ("object", "object-list")

    default: Any
    """The value used when the stack does not set it; ``None`` with ``required``. An empty
    string means "unset": the Pulumi CLI treats a declared key without a default as required,
    so optional keys without a value declare ``default: ""``."""
    description: str
    required: bool = False


KEYS: tuple[Key, ...] = (
    Key(
        "alertEmails",
        "array",
        None,
        "E-mail addresses subscribed to the alert topic (AISB #7); each must confirm the "
        "subscription e-mail from SNS.",
        required=True,
    ),
    Key(
        "iotLogLevel",
        "string",
        "ERROR",
        "AWS IoT Core log level (AISB #3): DEBUG, INFO, WARN, ERROR or DISABLED.",
    ),
    Key(
        "auditFrequency",
        "string",
        "DAILY",
        "How often the Device Defender scheduled audit runs (AISB #4): DAILY, WEEKLY, "
        "BIWEEKLY or MONTHLY.",
    ),
    Key(
        "auditDayOfWeek",
        "string",
        "",
        "Day of the scheduled audit for WEEKLY and BIWEEKLY: SUN, MON, TUE, WED, THU, FRI or SAT.",
    ),
    Key(
        "auditDayOfMonth",
        "string",
        "",
        'Day of the scheduled audit for MONTHLY: "1" to "31" (quoted), or LAST.',
    ),
    Key(
        "auditChecksDisabled",
        "array",
        [],
        "Device Defender audit checks to leave off (names as in the API); all 17 are on "
        "by default.",
    ),
    Key(
        "certMaxAgeDays",
        "integer",
        365,
        "Certificate rotation period in days (30-3652): DEVICE_CERTIFICATE_AGE_CHECK flags "
        "certificates at least this old.",
    ),
    Key(
        "certExpiryWarningDays",
        "integer",
        30,
        "DEVICE_CERTIFICATE_EXPIRING_CHECK flags certificates expiring within this many days "
        "(30-3652).",
    ),
    Key(
        "logRetentionDays",
        "integer",
        365,
        "Retention of the log groups aisb creates, in days; a value CloudWatch Logs accepts.",
    ),
    Key(
        "accessAnalyzer",
        "boolean",
        True,
        "Create an account-zone IAM Access Analyzer (AISB #2); false where the account "
        "already has one.",
    ),
    Key(
        "certRotation",
        "boolean",
        True,
        "Deploy the certificate-rotation monitor (AISB #6); its rotation period is certMaxAgeDays.",
    ),
    Key(
        "certScanIntervalDays",
        "integer",
        30,
        "Days between certificate-rotation scans (1-365).",
    ),
    Key(
        "certRotationWarningDays",
        "integer",
        30,
        "Certificates this close to the rotation period are reported as due soon "
        "(0 to certMaxAgeDays - 1; 0 turns the warning off; the default 30 shrinks to "
        "certMaxAgeDays - 1 for shorter rotation periods).",
    ),
    Key(
        "certReportBucket",
        "boolean",
        False,
        "Keep the full list of due and due-soon certificates in a private, encrypted S3 bucket "
        "(kept on destroy).",
    ),
    Key(
        "certReportFormat",
        "string",
        "csv",
        "Format of the certificate report files: csv or jsonl.",
    ),
    Key(
        "certReportThingNames",
        "boolean",
        False,
        "Add the things attached to each reported certificate (one ListPrincipalThings call "
        "each, at most 1000 per run); needs certReportBucket.",
    ),
    Key(
        "certReportAlways",
        "boolean",
        False,
        "E-mail the certificate report even when no certificate is due or due soon.",
    ),
    Key(
        "behaviorDetection",
        "string",
        "cloudwatch",
        "How device behaviour is watched (AISB #5): cloudwatch (fleet-level anomaly alarms; "
        "works on every account), ml-detect (Device Defender ML Detect, per device; only for "
        "accounts that used Detect before 31 August 2026) or off.",
    ),
    Key(
        "mlDeviceMetrics",
        "boolean",
        False,
        "Also watch the 7 device-side metrics with ML Detect (devices run an agent such as "
        "AWS IoT Device Client).",
    ),
    Key(
        "mlConfidence",
        "string",
        "HIGH",
        "ML Detect confidence level: LOW, MEDIUM or HIGH (fewest alarms).",
    ),
    Key(
        "mlDatapointsToAlarm",
        "integer",
        1,
        "Consecutive anomalous datapoints before a detect alarm (1-10).",
    ),
    Key(
        "mlDatapointsToClear",
        "integer",
        1,
        "Consecutive normal datapoints before a detect alarm clears (1-10).",
    ),
    Key(
        "detectTargetGroups",
        "array",
        [],
        "Thing groups the security profiles watch; empty watches all registered things.",
    ),
    Key(
        "detectRules",
        "object-list",
        [],
        "Static rules for a rules-based security profile: name, metric, operator, the value "
        "the metric takes (value, cidrs or ports), durationSeconds where the metric needs one.",
    ),
    Key(
        "customMetrics",
        "object-list",
        [],
        "Device Defender custom metrics (AISB #11): name, type (number, number-list, "
        "string-list, ip-address-list), displayName, and monitor: ml (number only) or a rule.",
    ),
    Key(
        "mitigationActions",
        "boolean",
        True,
        "Create the quarantine, deactivate-certificate and publish-finding mitigation actions "
        "(applied by an operator, never automatically).",
    ),
    Key(
        "anomalyBandWidth",
        "integer",
        2,
        "Width in standard deviations of the CloudWatch anomaly band (behaviorDetection: "
        "cloudwatch; 1-10).",
    ),
    Key(
        "cloudTrail",
        "boolean",
        False,
        "Deploy a multi-region CloudTrail trail to a protected bucket (AISB #8); turn it on in "
        "one home-region stack only.",
    ),
    Key(
        "cloudTrailArchiveDays",
        "integer",
        90,
        "Days after which trail log files of 128 KB or more move to S3 Glacier Deep Archive; "
        "smaller ones stay in S3 Standard, which costs less for them (1-3650).",
    ),
    Key(
        "cloudTrailObjectLockDays",
        "integer",
        0,
        "S3 Object Lock retention of trail log files in days, for write-once evidence; 0 "
        "leaves Object Lock off (0-3650). Only takes effect on a new bucket.",
    ),
    Key(
        "cloudTrailObjectLockMode",
        "string",
        "GOVERNANCE",
        "Object Lock mode: GOVERNANCE, or COMPLIANCE (nobody, not even the root user, can "
        "shorten the retention).",
    ),
    Key(
        "guardDuty",
        "boolean",
        False,
        "Enable GuardDuty and e-mail its findings (AISB #9).",
    ),
    Key(
        "guardDutyDetectorId",
        "string",
        "",
        "The id of a GuardDuty detector that already exists in this account and region "
        "(enabled by an organisation, say): no detector is created, findings are still e-mailed.",
    ),
    Key(
        "guardDutyMinSeverity",
        "integer",
        4,
        "GuardDuty findings at or above this severity are e-mailed (1-10; 4 is medium).",
    ),
    Key(
        "deviceLogs",
        "boolean",
        False,
        "Set up device-log collection through an AWS IoT job (AISB #10).",
    ),
    Key(
        "deviceLogsRetentionDays",
        "integer",
        30,
        "Days collected device logs are kept (1-3650).",
    ),
    Key(
        "deviceLogsPaths",
        "array",
        list(DEFAULT_LOG_PATHS),
        "Absolute paths of the files a device uploads when the job runs (1-20).",
    ),
    Key(
        "tags",
        "object",
        {},
        "Tags added to every taggable resource, as a map of names to string values.",
    ),
)

KEYS_BY_NAME: dict[str, Key] = {k.name: k for k in KEYS}


class ConfigError(pulumi.RunError):
    """The stack configuration is invalid; nothing was registered."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "invalid aisb stack configuration:\n" + "\n".join(f"  - {p}" for p in problems)
        )


@dataclass(frozen=True)
class Settings:
    """A stack's validated configuration."""

    region: str
    alert_emails: tuple[str, ...]
    alert_emails_secret: bool = False
    iot_log_level: str = "ERROR"
    audit_frequency: str = "DAILY"
    audit_day_of_week: str | None = None
    audit_day_of_month: str | None = None
    audit_checks_disabled: frozenset[str] = frozenset()
    cert_max_age_days: int = 365
    cert_expiry_warning_days: int = 30
    log_retention_days: int = 365
    access_analyzer: bool = True
    cert_rotation: bool = True
    cert_scan_interval_days: int = 30
    cert_rotation_warning_days: int = 30
    cert_report_bucket: bool = False
    cert_report_format: str = "csv"
    cert_report_thing_names: bool = False
    cert_report_always: bool = False
    behavior_detection: str = "cloudwatch"
    ml_device_metrics: bool = False
    ml_confidence: str = "HIGH"
    ml_datapoints_to_alarm: int = 1
    ml_datapoints_to_clear: int = 1
    detect_target_groups: tuple[str, ...] = ()
    detect_rules: tuple[Mapping[str, Any], ...] = ()
    custom_metrics: tuple[Mapping[str, Any], ...] = ()
    mitigation_actions: bool = True
    anomaly_band_width: int = 2
    cloud_trail: bool = False
    cloud_trail_archive_days: int = 90
    cloud_trail_object_lock_days: int = 0
    cloud_trail_object_lock_mode: str = "GOVERNANCE"
    guard_duty: bool = False
    guard_duty_detector_id: str | None = None
    guard_duty_min_severity: int = 4
    device_logs: bool = False
    device_logs_retention_days: int = 30
    device_logs_paths: tuple[str, ...] = DEFAULT_LOG_PATHS
    tags: Mapping[str, str] = field(default_factory=dict)

    def baseline_args(self) -> IotSecurityBaselineArgs:
        """The arguments ``IotSecurityBaseline`` takes for this stack."""
        return IotSecurityBaselineArgs(
            alert_emails=list(self.alert_emails),
            alert_emails_secret=self.alert_emails_secret,
            iot_log_level=self.iot_log_level,
            log_retention_days=self.log_retention_days,
            audit_frequency=self.audit_frequency,
            audit_day_of_week=self.audit_day_of_week,
            audit_day_of_month=self.audit_day_of_month,
            audit_checks_disabled=sorted(self.audit_checks_disabled),
            cert_max_age_days=self.cert_max_age_days,
            cert_expiry_warning_days=self.cert_expiry_warning_days,
            access_analyzer=self.access_analyzer,
            cert_rotation=self.cert_rotation,
            cert_scan_interval_days=self.cert_scan_interval_days,
            cert_rotation_warning_days=self.cert_rotation_warning_days,
            cert_report_bucket=self.cert_report_bucket,
            cert_report_format=self.cert_report_format,
            cert_report_thing_names=self.cert_report_thing_names,
            cert_report_always=self.cert_report_always,
            behavior_detection=self.behavior_detection,
            ml_device_metrics=self.ml_device_metrics,
            ml_confidence=self.ml_confidence,
            ml_datapoints_to_alarm=self.ml_datapoints_to_alarm,
            ml_datapoints_to_clear=self.ml_datapoints_to_clear,
            detect_target_groups=list(self.detect_target_groups),
            detect_rules=[dict(r) for r in self.detect_rules],
            custom_metrics=[dict(c) for c in self.custom_metrics],
            mitigation_actions=self.mitigation_actions,
            anomaly_band_width=self.anomaly_band_width,
            cloud_trail=self.cloud_trail,
            cloud_trail_archive_days=self.cloud_trail_archive_days,
            cloud_trail_object_lock_days=self.cloud_trail_object_lock_days,
            cloud_trail_object_lock_mode=self.cloud_trail_object_lock_mode,
            guard_duty=self.guard_duty,
            guard_duty_detector_id=self.guard_duty_detector_id,
            guard_duty_min_severity=self.guard_duty_min_severity,
            device_logs=self.device_logs,
            device_logs_retention_days=self.device_logs_retention_days,
            device_logs_paths=list(self.device_logs_paths),
            tags=dict(self.tags),
        )


def _decode(key: Key, raw: str) -> Any:
    """Turn the string Pulumi passes for ``key`` into a Python value of the key's type."""
    if key.type == "string":
        return raw
    if key.type == "boolean":
        if raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        raise v.InvalidValue(raw, "true or false")
    if key.type == "integer":
        try:
            return int(raw)
        except ValueError:
            raise v.InvalidValue(raw, "a whole number") from None
    expected = {"array": list, "object": dict, "object-list": list}[key.type]
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    if not isinstance(value, expected):
        raise v.InvalidValue(raw, f"a YAML {'list' if expected is list else 'map'}")
    if key.type == "array" and not all(isinstance(item, str) for item in value):
        raise v.InvalidValue(value, "a YAML list of strings")
    return value


# Which key a schedule problem belongs to, by the part validation.audit_schedule names.
_SCHEDULE_KEYS = {
    "frequency": "auditFrequency",
    "day_of_week": "auditDayOfWeek",
    "day_of_month": "auditDayOfMonth",
}


_VALIDATORS: dict[str, Callable[[Any], Any]] = {
    "alertEmails": lambda x: v.emails(x, at_least_one=True),
    "iotLogLevel": lambda x: v.one_of(x, v.LOG_LEVELS),
    "auditChecksDisabled": v.audit_check_names,
    "certMaxAgeDays": lambda x: v.int_in_range(x, *v.CERT_AGE_RANGE),
    "certExpiryWarningDays": lambda x: v.int_in_range(x, *v.CERT_EXPIRY_RANGE),
    "logRetentionDays": v.log_retention,
    "certScanIntervalDays": lambda x: v.int_in_range(x, *v.CERT_SCAN_INTERVAL_RANGE),
    "certRotationWarningDays": lambda x: v.int_in_range(x, 0, v.CERT_AGE_RANGE[1] - 1),
    "certReportFormat": lambda x: v.one_of(x, v.REPORT_FORMATS),
    "behaviorDetection": lambda x: v.one_of(x, detect.DETECTION_MODES),
    "mlConfidence": lambda x: v.one_of(x, detect.CONFIDENCE_LEVELS),
    "mlDatapointsToAlarm": lambda x: v.int_in_range(x, 1, 10),
    "mlDatapointsToClear": lambda x: v.int_in_range(x, 1, 10),
    "anomalyBandWidth": lambda x: v.int_in_range(x, *detect.BAND_WIDTH_RANGE),
    "cloudTrailArchiveDays": lambda x: v.int_in_range(x, 1, 3650),
    "cloudTrailObjectLockDays": lambda x: v.int_in_range(x, 0, 3650),
    "cloudTrailObjectLockMode": lambda x: v.one_of(x, v.OBJECT_LOCK_MODES),
    "guardDutyDetectorId": v.guardduty_detector_id,
    "guardDutyMinSeverity": lambda x: v.int_in_range(x, 1, 10),
    "deviceLogsRetentionDays": lambda x: v.int_in_range(x, 1, 3650),
    "deviceLogsPaths": v.log_paths,
    "tags": v.tags,
}


def parse(config: Mapping[str, str], secret_keys: Collection[str] = ()) -> Settings:
    """Validate a stack's whole configuration (``{"ns:key": "raw string"}``, as Pulumi passes
    it to the program) and return its settings, or raise ``ConfigError`` listing every
    problem. Values of ``secret_keys`` are never shown in a message."""
    problems: list[str] = []

    def report(key: str, err: v.InvalidValue) -> None:
        if f"{NAMESPACE}:{key}" in secret_keys:
            problems.append(f"aisb:{key}: got [secret]; expected {err.expected}")
        else:
            problems.append(f"aisb:{key}: {err}")

    def show(key: str, value: Any) -> str:
        """A value for a message: never a secret one."""
        return "[secret]" if f"{NAMESPACE}:{key}" in secret_keys else repr(value)

    prefix = NAMESPACE + ":"
    for full_key in sorted(config):
        if full_key.startswith(prefix) and full_key[len(prefix) :] not in KEYS_BY_NAME:
            name = full_key[len(prefix) :]
            close = difflib.get_close_matches(name, list(KEYS_BY_NAME), n=1, cutoff=0.6)
            hint = f"; did you mean aisb:{close[0]}?" if close else ""
            problems.append(
                f"{full_key}: unknown key{hint} (valid keys: "
                + ", ".join(sorted(KEYS_BY_NAME))
                + ")"
            )

    values: dict[str, Any] = {}
    for key in KEYS:
        raw = config.get(prefix + key.name)
        if raw is None and key.required:
            problems.append(
                f"aisb:{key.name}: missing; set it with "
                f"`pulumi config set --path 'aisb:{key.name}[0]' <value>` or in the stack file"
            )
            continue
        try:
            decoded = key.default if raw is None else _decode(key, raw)
            if decoded == "" and key.default == "":
                decoded = None
            check = _VALIDATORS.get(key.name)
            values[key.name] = check(decoded) if check and decoded is not None else decoded
        except v.InvalidValue as e:
            report(key.name, e)

    schedule: tuple[str, str | None, str | None] = ("DAILY", None, None)
    if not any(p.startswith(("aisb:auditFrequency", "aisb:auditDayOf")) for p in problems):
        try:
            schedule = v.audit_schedule(
                values["auditFrequency"], values["auditDayOfWeek"], values["auditDayOfMonth"]
            )
        except v.InvalidValue as e:
            report(_SCHEDULE_KEYS[e.field or "frequency"], e)

    disabled = values.get("auditChecksDisabled")
    if disabled is not None and not scheduled_audit_checks(AUDIT_CHECK_NAMES - disabled):
        problems.append(
            f"aisb:auditChecksDisabled: got {sorted(disabled)}; expected at least one check left "
            "on that the scheduled audit can run (the audit is AISB #4)"
        )

    warning, max_age = values.get("certRotationWarningDays"), values.get("certMaxAgeDays")
    default_warning = KEYS_BY_NAME["certRotationWarningDays"].default
    if warning == default_warning and max_age is not None and warning >= max_age:
        # The default window shrinks to fit a short rotation period: every certMaxAgeDays in
        # its documented range works without touching the warning.
        values["certRotationWarningDays"] = warning = max_age - 1
    if warning is not None and max_age is not None and warning >= max_age:
        problems.append(
            f"aisb:certRotationWarningDays: got {show('certRotationWarningDays', warning)}; "
            f"expected fewer days than aisb:certMaxAgeDays ({show('certMaxAgeDays', max_age)})"
        )
    if values.get("certReportThingNames") and values.get("certReportBucket") is False:
        problems.append(
            "aisb:certReportThingNames: got True; expected false unless aisb:certReportBucket "
            "is true (thing names only go into the report)"
        )

    problems.extend(_check_detection(values, show))
    detector = values.get("guardDutyDetectorId")
    if detector and values.get("guardDuty") is False:
        problems.append(
            f"aisb:guardDutyDetectorId: got {show('guardDutyDetectorId', detector)}; "
            "expected it unset unless aisb:guardDuty is true"
        )

    regions: dict[str, str | None] = {
        "aws:region": config.get("aws:region"),
        "aws-native:region": config.get("aws-native:region"),
    }
    for name, value in regions.items():
        if value is None:
            problems.append(f"{name}: missing; set it to the stack's AWS region")
        else:
            try:
                v.region(value)
            except v.InvalidValue as e:
                problems.append(f"{name}: {e}")
    if None not in regions.values() and regions["aws:region"] != regions["aws-native:region"]:
        problems.append(
            f"aws-native:region: got {regions['aws-native:region']!r}; expected the same region "
            f"as aws:region ({regions['aws:region']!r}): both providers must deploy to one region"
        )

    if problems:
        raise ConfigError(problems)

    return Settings(
        region=str(regions["aws:region"]),
        alert_emails=values["alertEmails"],
        alert_emails_secret=f"{NAMESPACE}:alertEmails" in secret_keys,
        iot_log_level=values["iotLogLevel"],
        audit_frequency=schedule[0],
        audit_day_of_week=schedule[1],
        audit_day_of_month=schedule[2],
        audit_checks_disabled=values["auditChecksDisabled"],
        cert_max_age_days=values["certMaxAgeDays"],
        cert_expiry_warning_days=values["certExpiryWarningDays"],
        log_retention_days=values["logRetentionDays"],
        access_analyzer=values["accessAnalyzer"],
        cert_rotation=values["certRotation"],
        cert_scan_interval_days=values["certScanIntervalDays"],
        cert_rotation_warning_days=values["certRotationWarningDays"],
        cert_report_bucket=values["certReportBucket"],
        cert_report_format=values["certReportFormat"],
        cert_report_thing_names=values["certReportThingNames"],
        cert_report_always=values["certReportAlways"],
        behavior_detection=values["behaviorDetection"],
        ml_device_metrics=values["mlDeviceMetrics"],
        ml_confidence=values["mlConfidence"],
        ml_datapoints_to_alarm=values["mlDatapointsToAlarm"],
        ml_datapoints_to_clear=values["mlDatapointsToClear"],
        detect_target_groups=tuple(values["detectTargetGroups"]),
        detect_rules=tuple(values["detectRules"]),
        custom_metrics=tuple(values["customMetrics"]),
        mitigation_actions=values["mitigationActions"],
        anomaly_band_width=values["anomalyBandWidth"],
        cloud_trail=values["cloudTrail"],
        cloud_trail_archive_days=values["cloudTrailArchiveDays"],
        cloud_trail_object_lock_days=values["cloudTrailObjectLockDays"],
        cloud_trail_object_lock_mode=values["cloudTrailObjectLockMode"],
        guard_duty=values["guardDuty"],
        guard_duty_detector_id=values["guardDutyDetectorId"],
        guard_duty_min_severity=values["guardDutyMinSeverity"],
        device_logs=values["deviceLogs"],
        device_logs_retention_days=values["deviceLogsRetentionDays"],
        device_logs_paths=tuple(values["deviceLogsPaths"]),
        tags=values["tags"],
    )


# Where a behaviour-monitoring problem is reported, by the argument path plan_profiles uses.
_DETECT_PATHS = {
    "rules": "detectRules",
    "custom_metrics": "customMetrics",
    "target_groups": "detectTargetGroups",
    "datapoints_to_alarm": "mlDatapointsToAlarm",
    "datapoints_to_clear": "mlDatapointsToClear",
    "confidence": "mlConfidence",
    "ML profile": "customMetrics",
}


def _check_detection(values: Mapping[str, Any], show: Callable[[str, Any], str]) -> list[str]:
    """Problems with the behaviour-monitoring keys taken together (AISB #5, #11)."""
    needed = (
        "behaviorDetection",
        "mlDeviceMetrics",
        "detectTargetGroups",
        "detectRules",
        "customMetrics",
    )
    if any(k not in values for k in needed):
        return []  # already reported one by one
    mode = values["behaviorDetection"]
    if mode != "ml-detect":
        used = [
            k
            for k in ("mlDeviceMetrics", "detectTargetGroups", "detectRules", "customMetrics")
            if values[k]
        ]
        return [
            f"aisb:{k}: got {show(k, values[k])}; expected it unset: it applies to Device "
            f"Defender Detect, and aisb:behaviorDetection is {mode!r}"
            for k in used
        ]
    try:
        detect.target_groups(values["detectTargetGroups"])
        detect.plan_profiles(
            device_metrics=values["mlDeviceMetrics"],
            confidence=values.get("mlConfidence", "HIGH"),
            datapoints_to_alarm=values.get("mlDatapointsToAlarm", 1),
            datapoints_to_clear=values.get("mlDatapointsToClear", 1),
            rules=values["detectRules"],
            custom_metrics=values["customMetrics"],
        )
    except detect.RuleError as e:
        head, _, rest = e.path.partition("[")
        key = _DETECT_PATHS.get(head, head)
        where = key + (f"[{rest}" if rest else "")
        return [f"aisb:{where}: got {show(key, e.value)}; expected {e.expected}"]
    return []


def stack_config() -> dict[str, str]:
    """All configuration the Pulumi engine passed to this program, as ``{"ns:key": raw}``."""
    from pulumi.runtime import config as runtime_config

    merged: dict[str, str] = dict(runtime_config.CONFIG.get())
    env = runtime_config.get_config_env()
    for k, val in env.items():
        merged.setdefault(k, val)
    return merged


def load() -> Settings:
    """Read and validate this stack's configuration."""
    from pulumi.runtime import config as runtime_config

    config = stack_config()
    return parse(config, {k for k in config if runtime_config.is_config_secret(k)})
