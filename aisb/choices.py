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


class IotTlsPolicy(StrEnum):
    """The TLS security policy of the account's default data endpoint (``iot:Data-ATS``).

    AWS IoT Core's predefined policies whose lowest TLS version is 1.2 (AWS IoT developer guide,
    "Configuring TLS settings in domain configurations",
    https://docs.aws.amazon.com/iot/latest/developerguide/iot-endpoints-tls-config.html, and the
    security-policies table in "Transport security in AWS IoT Core",
    https://docs.aws.amazon.com/iot/latest/developerguide/transport-security.html#tls-policy-table).
    The ``TLS12_1_0`` policies, whose names say they start at TLS 1.0, are not offered.
    """

    TLS13_1_2_2022_10 = "IoTSecurityPolicy_TLS13_1_2_2022_10"
    """TLS 1.2 and 1.3 (AWS's default for new domain configurations)."""
    TLS13_1_3_2022_10 = "IoTSecurityPolicy_TLS13_1_3_2022_10"
    """TLS 1.3 only: devices that cannot negotiate TLS 1.3 cannot connect."""
    TLS12_1_2_2022_10 = "IoTSecurityPolicy_TLS12_1_2_2022_10"
    """TLS 1.2 only."""
    TLS13_1_2_2022_01 = "IoTSecurityPolicy_TLS13_1_2_2022_01"
    """TLS 1.2 and 1.3, in AWS GovCloud (US) Regions only."""
    UNMANAGED = "unmanaged"
    """aisb leaves the endpoint's policy as it is."""


TLS_POLICY_MINIMUM: dict[str, str] = {
    "IoTSecurityPolicy_TLS13_1_3_2022_10": "1.3",
    "IoTSecurityPolicy_TLS13_1_2_2022_10": "1.2",
    "IoTSecurityPolicy_TLS12_1_2_2022_10": "1.2",
    "IoTSecurityPolicy_TLS13_1_2_2022_01": "1.2",
    "IoTSecurityPolicy_TLS12_1_0_2016_01": "1.0",
    "IoTSecurityPolicy_TLS12_1_0_2015_01": "1.0",
}
"""The lowest TLS version each of AWS IoT Core's predefined security policies is named for
(``TLS<highest>_<lowest>_<date>``), from the tables cited on ``IotTlsPolicy``. The two
``TLS12_1_0`` policies are region-limited legacy policies (AWS's current table lists TLS 1.2
for them, the names and earlier tables TLS 1.0 and 1.1): a check treats them as allowing TLS
below 1.2, and a policy not in this table as one it cannot judge."""


def allows_below_tls12(policy: str) -> bool | None:
    """Whether a security policy may let a device negotiate TLS below 1.2; None when the
    policy is not one AWS documents (a check that cannot tell)."""
    minimum = TLS_POLICY_MINIMUM.get(policy)
    return None if minimum is None else minimum < "1.2"


def values(choice: type[StrEnum]) -> tuple[str, ...]:
    """The plain string values of a choice, in declaration order."""
    return tuple(str(member) for member in choice)
