"""Every closed set of values an aisb argument takes, as string enums.

They are ``StrEnum``s: a member is the string AWS (or the stack config) uses, so Python callers
may pass plain strings, and the package schema other Pulumi languages use gets a real enum for
each choice.
"""

from enum import StrEnum


class LogLevel(StrEnum):
    """AWS IoT Core log level."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"
    DISABLED = "DISABLED"


class AuditFrequency(StrEnum):
    """How often the Device Defender scheduled audit runs."""

    DAILY = "DAILY"
    WEEKLY = "WEEKLY"
    BIWEEKLY = "BIWEEKLY"
    MONTHLY = "MONTHLY"


class DayOfWeek(StrEnum):
    """The day of a weekly or biweekly scheduled audit."""

    SUN = "SUN"
    MON = "MON"
    TUE = "TUE"
    WED = "WED"
    THU = "THU"
    FRI = "FRI"
    SAT = "SAT"


class BehaviorDetection(StrEnum):
    """How device behaviour is watched (AISB #5)."""

    CLOUDWATCH = "cloudwatch"
    """Fleet-level CloudWatch anomaly alarms: works on every account."""
    ML_DETECT = "ml-detect"
    """Device Defender ML Detect, per device: accounts that used Detect before 31 August 2026."""
    OFF = "off"
    """Nothing: behaviour is watched by other means."""


class Confidence(StrEnum):
    """ML Detect confidence level; HIGH raises fewest alarms."""

    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


class ReportFormat(StrEnum):
    """Format of the certificate report files."""

    CSV = "csv"
    JSONL = "jsonl"


class KeyAlgorithm(StrEnum):
    """The key a device generates when its certificate is rotated."""

    EC_P256 = "EC-P256"
    RSA_2048 = "RSA-2048"


class ObjectLockMode(StrEnum):
    """S3 Object Lock mode of the trail's log files."""

    GOVERNANCE = "GOVERNANCE"
    COMPLIANCE = "COMPLIANCE"
    """Nobody, not even the root user, can shorten the retention."""


class CustomMetricType(StrEnum):
    """The type of a Device Defender custom metric."""

    NUMBER = "number"
    NUMBER_LIST = "number-list"
    STRING_LIST = "string-list"
    IP_ADDRESS_LIST = "ip-address-list"


class MetricMonitor(StrEnum):
    """How a custom metric is watched when it has no rule."""

    ML = "ml"
    """ML Detect (number metrics only)."""


class RuleOperator(StrEnum):
    """The comparison a static Detect rule makes (the metric decides which it takes)."""

    LESS_THAN = "less-than"
    LESS_THAN_EQUALS = "less-than-equals"
    GREATER_THAN = "greater-than"
    GREATER_THAN_EQUALS = "greater-than-equals"
    IN_CIDR_SET = "in-cidr-set"
    NOT_IN_CIDR_SET = "not-in-cidr-set"
    IN_PORT_SET = "in-port-set"
    NOT_IN_PORT_SET = "not-in-port-set"
    IN_SET = "in-set"
    NOT_IN_SET = "not-in-set"


def values(choice: type[StrEnum]) -> tuple[str, ...]:
    """The plain string values of a choice, in declaration order."""
    return tuple(str(member) for member in choice)
