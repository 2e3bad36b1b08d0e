"""The AISB controls and Device Defender audit checks, as data.

This module is the single source of truth for what the baseline covers: the README's control
table, the account audit configuration and the scheduled audit's check list are all derived
from it (see ``control_table_markdown`` and ``python -m aisb.catalog``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DOCS = "https://docs.aws.amazon.com"


@dataclass(frozen=True)
class AuditCheck:
    """One Device Defender audit check."""

    name: str
    """The check's name in the IoT API and in ScheduledAudit ``TargetCheckNames``."""
    cfn_key: str
    """Its key under ``AuditCheckConfigurations`` in AWS::IoT::AccountAuditConfiguration."""
    severity: str
    """Severity as documented by AWS ("-" where AWS documents none)."""
    control: int
    """The AISB control this check implements."""
    schedulable: bool = True
    """False where CloudFormation's ScheduledAudit rejects the name in TargetCheckNames."""

    @property
    def snake_key(self) -> str:
        """The keyword argument name in pulumi-aws-native's AuditCheckConfigurationsArgs."""
        camel = self.cfn_key[0].lower() + self.cfn_key[1:]
        return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()


# Controls: 1 = unique identity, 2 = least privilege, 3 = logging, 6 = certificate rotation.
AUDIT_CHECKS: tuple[AuditCheck, ...] = (
    AuditCheck(
        "AUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE_CHECK",
        "AuthenticatedCognitoRoleOverlyPermissiveCheck",
        "critical",
        2,
    ),
    AuditCheck("CA_CERTIFICATE_EXPIRING_CHECK", "CaCertificateExpiringCheck", "medium", 6),
    AuditCheck("CA_CERTIFICATE_KEY_QUALITY_CHECK", "CaCertificateKeyQualityCheck", "critical", 1),
    AuditCheck("CONFLICTING_CLIENT_IDS_CHECK", "ConflictingClientIdsCheck", "high", 1),
    AuditCheck("DEVICE_CERTIFICATE_AGE_CHECK", "DeviceCertificateAgeCheck", "low", 6),
    AuditCheck("DEVICE_CERTIFICATE_EXPIRING_CHECK", "DeviceCertificateExpiringCheck", "medium", 6),
    AuditCheck(
        "DEVICE_CERTIFICATE_KEY_QUALITY_CHECK", "DeviceCertificateKeyQualityCheck", "critical", 1
    ),
    AuditCheck("DEVICE_CERTIFICATE_SHARED_CHECK", "DeviceCertificateSharedCheck", "critical", 1),
    AuditCheck(
        "INTERMEDIATE_CA_REVOKED_FOR_ACTIVE_DEVICE_CERTIFICATES_CHECK",
        "IntermediateCaRevokedForActiveDeviceCertificatesCheck",
        "-",
        1,
        schedulable=False,
    ),
    AuditCheck(
        "IOT_POLICY_OVERLY_PERMISSIVE_CHECK", "IotPolicyOverlyPermissiveCheck", "critical", 2
    ),
    AuditCheck(
        "IOT_POLICY_POTENTIAL_MIS_CONFIGURATION_CHECK",
        "IoTPolicyPotentialMisConfigurationCheck",
        "-",
        2,
        schedulable=False,
    ),
    AuditCheck(
        "IOT_ROLE_ALIAS_ALLOWS_ACCESS_TO_UNUSED_SERVICES_CHECK",
        "IotRoleAliasAllowsAccessToUnusedServicesCheck",
        "medium",
        2,
    ),
    AuditCheck(
        "IOT_ROLE_ALIAS_OVERLY_PERMISSIVE_CHECK", "IotRoleAliasOverlyPermissiveCheck", "critical", 2
    ),
    AuditCheck("LOGGING_DISABLED_CHECK", "LoggingDisabledCheck", "low", 3),
    AuditCheck(
        "REVOKED_CA_CERTIFICATE_STILL_ACTIVE_CHECK",
        "RevokedCaCertificateStillActiveCheck",
        "critical",
        1,
    ),
    AuditCheck(
        "REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE_CHECK",
        "RevokedDeviceCertificateStillActiveCheck",
        "medium",
        1,
    ),
    AuditCheck(
        "UNAUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE_CHECK",
        "UnauthenticatedCognitoRoleOverlyPermissiveCheck",
        "critical",
        2,
    ),
)

AUDIT_CHECK_NAMES: frozenset[str] = frozenset(c.name for c in AUDIT_CHECKS)
AUDIT_CHECKS_BY_NAME: dict[str, AuditCheck] = {c.name: c for c in AUDIT_CHECKS}


@dataclass(frozen=True)
class Control:
    """One AISB control and the component that implements it."""

    id: int
    title: str
    components: tuple[str, ...]
    """The aisb component classes implementing it."""
    optional: bool
    config_switch: str | None
    """The ``aisb:`` key that turns an optional control on or off."""
    doc: str

    @property
    def audit_checks(self) -> tuple[str, ...]:
        """The Device Defender audit checks this control contributes."""
        return tuple(c.name for c in AUDIT_CHECKS if c.control == self.id)


CONTROLS: tuple[Control, ...] = (
    Control(
        1,
        "Unique identity per device",
        ("DeviceDefenderAudit",),
        False,
        None,
        f"{DOCS}/iot-device-defender/latest/devguide/device-defender-audit-checks.html",
    ),
    Control(
        2,
        "Least-privilege access",
        ("AccessAnalyzer", "DeviceDefenderAudit"),
        False,
        "accessAnalyzer",
        f"{DOCS}/IAM/latest/UserGuide/what-is-access-analyzer.html",
    ),
    Control(
        3,
        "Logs to identify security events",
        ("IotLogging",),
        False,
        None,
        f"{DOCS}/iot/latest/developerguide/configure-logging.html",
    ),
    Control(
        4,
        "Audit for misconfigurations",
        ("DeviceDefenderAudit",),
        False,
        None,
        f"{DOCS}/iot-device-defender/latest/devguide/device-defender-audit.html",
    ),
    Control(
        5,
        "Detect security events from device behaviour",
        ("BehaviorMonitoring", "FleetAnomalyAlarms"),
        False,
        "behaviorDetection",
        f"{DOCS}/iot-device-defender/latest/devguide/dd-detect-ml.html",
    ),
    Control(
        6,
        "Configurable certificate rotation",
        ("CertificateRotationMonitor", "CertificateRotation", "DeviceDefenderAudit"),
        False,
        "certRotation",
        f"{DOCS}/iot/latest/developerguide/x509-client-certs.html",
    ),
    Control(
        7,
        "Alert on behaviour violations",
        ("SecurityAlerts", "DetectMitigations"),
        False,
        "mitigationActions",
        f"{DOCS}/iot-device-defender/latest/devguide/dd-notifications.html",
    ),
    Control(
        8,
        "CloudTrail to a protected S3 bucket",
        ("ProtectedAuditTrail",),
        True,
        "cloudTrail",
        f"{DOCS}/awscloudtrail/latest/userguide/cloudtrail-user-guide.html",
    ),
    Control(
        9,
        "GuardDuty and its notifications",
        ("ThreatDetection",),
        True,
        "guardDuty",
        f"{DOCS}/guardduty/latest/ug/guardduty_findings_eventbridge.html",
    ),
    Control(
        10,
        "Fetch device-side logs when needed",
        ("DeviceLogCollection",),
        True,
        "deviceLogs",
        f"{DOCS}/iot/latest/developerguide/iot-jobs.html",
    ),
    Control(
        11,
        "Custom security metrics",
        ("BehaviorMonitoring",),
        True,
        "customMetrics",
        f"{DOCS}/iot-device-defender/latest/devguide/dd-detect-custom-metrics.html",
    ),
)


@dataclass(frozen=True)
class Addition:
    """A control aisb adds beyond AISB's eleven."""

    title: str
    components: tuple[str, ...]
    config_switch: str
    """The ``aisb:`` key that sets it."""
    default: str
    """What the key does when the stack does not set it."""
    doc: str


BEYOND_AISB: tuple[Addition, ...] = (
    Addition(
        "Device Defender findings in Security Hub",
        ("SecurityHubFindings",),
        "securityHub",
        "off",
        f"{DOCS}/iot-device-defender/latest/devguide/securityhub-integration.html",
    ),
    Addition(
        "TLS 1.2 or later on the default data endpoint",
        ("EndpointTlsPolicy",),
        "iotTlsPolicy",
        "IoTSecurityPolicy_TLS13_1_2_2022_10",
        f"{DOCS}/iot/latest/developerguide/iot-endpoints-tls-config.html",
    ),
)
"""Not AISB controls: what security teams asked for beside them (issue 24)."""


def scheduled_audit_checks(enabled: frozenset[str] | set[str]) -> list[str]:
    """The checks a ScheduledAudit may run: the enabled ones CloudFormation accepts, sorted."""
    return sorted(c.name for c in AUDIT_CHECKS if c.name in enabled and c.schedulable)


def control_table_markdown() -> str:
    """The README's AISB-to-component table, generated from ``CONTROLS``."""
    lines = [
        "| # | control | component | audit checks | switch |",
        "|---|---|---|---|---|",
    ]
    for c in CONTROLS:
        checks = ", ".join(f"`{n}`" for n in c.audit_checks) or "-"
        component = ", ".join(f"`{p}`" for p in c.components)
        switch = f"`aisb:{c.config_switch}`" if c.config_switch else "always"
        lines.append(f"| {c.id} | [{c.title}]({c.doc}) | {component} | {checks} | {switch} |")
    for extra in BEYOND_AISB:
        component = ", ".join(f"`{p}`" for p in extra.components)
        lines.append(
            f"| beyond AISB | [{extra.title}]({extra.doc}) | {component} | - | "
            f"`aisb:{extra.config_switch}` (default {extra.default}) |"
        )
    return "\n".join(lines)
