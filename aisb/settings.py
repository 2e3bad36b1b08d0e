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

from aisb import validation as v
from aisb.baseline import IotSecurityBaselineArgs
from aisb.catalog import AUDIT_CHECK_NAMES, scheduled_audit_checks

NAMESPACE = "aisb"


@dataclass(frozen=True)
class Key:
    """One ``aisb:`` configuration key."""

    name: str
    type: str
    """As declared in Pulumi.yaml: string, integer, boolean, array; or object (undeclared)."""
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
        "(0 to certMaxAgeDays - 1; 0 turns the warning off).",
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
    tags: Mapping[str, str] = field(default_factory=dict)

    def baseline_args(self) -> IotSecurityBaselineArgs:
        """The arguments ``IotSecurityBaseline`` takes for this stack."""
        return IotSecurityBaselineArgs(
            alert_emails=list(self.alert_emails),
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
    expected = {"array": list, "object": dict}[key.type]
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    if not isinstance(value, expected):
        raise v.InvalidValue(raw, f"a YAML {'list' if expected is list else 'map'}")
    return value


def _check_schedule(values: dict[str, Any]) -> tuple[str, str | None, str | None]:
    try:
        return v.audit_schedule(
            values["auditFrequency"], values["auditDayOfWeek"], values["auditDayOfMonth"]
        )
    except v.InvalidValue as e:
        key = {
            "frequency": "auditFrequency",
            "day_of_week": "auditDayOfWeek",
            "day_of_month": "auditDayOfMonth",
        }[e.field or "frequency"]
        raise _KeyedInvalid(key, e) from None


class _KeyedInvalid(Exception):
    def __init__(self, key: str, error: v.InvalidValue) -> None:
        self.key = key
        self.error = error


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
            schedule = _check_schedule(values)
        except _KeyedInvalid as e:
            report(e.key, e.error)

    disabled = values.get("auditChecksDisabled")
    if disabled is not None and not scheduled_audit_checks(AUDIT_CHECK_NAMES - disabled):
        problems.append(
            f"aisb:auditChecksDisabled: got {sorted(disabled)}; expected at least one check left "
            "on that the scheduled audit can run (the audit is AISB #4)"
        )

    warning, max_age = values.get("certRotationWarningDays"), values.get("certMaxAgeDays")
    if warning is not None and max_age is not None and warning >= max_age:
        problems.append(
            f"aisb:certRotationWarningDays: got {warning}; expected fewer days than "
            f"aisb:certMaxAgeDays ({max_age})"
        )
    if values.get("certReportThingNames") and values.get("certReportBucket") is False:
        problems.append(
            "aisb:certReportThingNames: got True; expected false unless aisb:certReportBucket "
            "is true (thing names only go into the report)"
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
        tags=values["tags"],
    )


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
