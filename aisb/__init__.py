"""aisb: the AWS IoT Security Baseline as Pulumi components.

Compose the whole baseline with ``IotSecurityBaseline`` or each control on its own.

The components are imported on first use (PEP 562): ``import aisb_tools.cli`` and ``aisb --help``
then start without loading Pulumi and its providers, which take seconds to import.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aisb.baseline import (
        IotSecurityBaseline,
        IotSecurityBaselineArgs,
    )
    from aisb.components.access_analyzer import (
        AccessAnalyzer,
        AccessAnalyzerArgs,
    )
    from aisb.components.alerts import (
        SecurityAlerts,
        SecurityAlertsArgs,
    )
    from aisb.components.audit import (
        DeviceDefenderAudit,
        DeviceDefenderAuditArgs,
    )
    from aisb.components.behavior import (
        BehaviorMonitoring,
        BehaviorMonitoringArgs,
        FleetAnomalyAlarms,
        FleetAnomalyAlarmsArgs,
    )
    from aisb.components.cert_rotation import (
        CertificateRotationMonitor,
        CertificateRotationMonitorArgs,
    )
    from aisb.components.device_logs import (
        DeviceLogCollection,
        DeviceLogCollectionArgs,
    )
    from aisb.components.endpoint_tls import (
        EndpointTlsPolicy,
        EndpointTlsPolicyArgs,
    )
    from aisb.components.iot_logging import (
        IotLogging,
        IotLoggingArgs,
    )
    from aisb.components.mitigation import (
        DetectMitigations,
        DetectMitigationsArgs,
    )
    from aisb.components.rotation import (
        CertificateRotation,
        CertificateRotationArgs,
    )
    from aisb.components.security_hub import (
        SecurityHubFindings,
        SecurityHubFindingsArgs,
    )
    from aisb.components.threat_detection import (
        ThreatDetection,
        ThreatDetectionArgs,
    )
    from aisb.components.trail import (
        ProtectedAuditTrail,
        ProtectedAuditTrailArgs,
    )

_MODULES: dict[str, str] = {
    "AccessAnalyzer": "aisb.components.access_analyzer",
    "AccessAnalyzerArgs": "aisb.components.access_analyzer",
    "BehaviorMonitoring": "aisb.components.behavior",
    "BehaviorMonitoringArgs": "aisb.components.behavior",
    "CertificateRotation": "aisb.components.rotation",
    "CertificateRotationArgs": "aisb.components.rotation",
    "CertificateRotationMonitor": "aisb.components.cert_rotation",
    "CertificateRotationMonitorArgs": "aisb.components.cert_rotation",
    "DetectMitigations": "aisb.components.mitigation",
    "DetectMitigationsArgs": "aisb.components.mitigation",
    "DeviceDefenderAudit": "aisb.components.audit",
    "DeviceDefenderAuditArgs": "aisb.components.audit",
    "DeviceLogCollection": "aisb.components.device_logs",
    "DeviceLogCollectionArgs": "aisb.components.device_logs",
    "EndpointTlsPolicy": "aisb.components.endpoint_tls",
    "EndpointTlsPolicyArgs": "aisb.components.endpoint_tls",
    "FleetAnomalyAlarms": "aisb.components.behavior",
    "FleetAnomalyAlarmsArgs": "aisb.components.behavior",
    "IotLogging": "aisb.components.iot_logging",
    "IotLoggingArgs": "aisb.components.iot_logging",
    "IotSecurityBaseline": "aisb.baseline",
    "IotSecurityBaselineArgs": "aisb.baseline",
    "ProtectedAuditTrail": "aisb.components.trail",
    "ProtectedAuditTrailArgs": "aisb.components.trail",
    "SecurityAlerts": "aisb.components.alerts",
    "SecurityAlertsArgs": "aisb.components.alerts",
    "SecurityHubFindings": "aisb.components.security_hub",
    "SecurityHubFindingsArgs": "aisb.components.security_hub",
    "ThreatDetection": "aisb.components.threat_detection",
    "ThreatDetectionArgs": "aisb.components.threat_detection",
}

__all__ = [
    "AccessAnalyzer",
    "AccessAnalyzerArgs",
    "BehaviorMonitoring",
    "BehaviorMonitoringArgs",
    "CertificateRotation",
    "CertificateRotationArgs",
    "CertificateRotationMonitor",
    "CertificateRotationMonitorArgs",
    "DetectMitigations",
    "DetectMitigationsArgs",
    "DeviceDefenderAudit",
    "DeviceDefenderAuditArgs",
    "DeviceLogCollection",
    "DeviceLogCollectionArgs",
    "EndpointTlsPolicy",
    "EndpointTlsPolicyArgs",
    "FleetAnomalyAlarms",
    "FleetAnomalyAlarmsArgs",
    "IotLogging",
    "IotLoggingArgs",
    "IotSecurityBaseline",
    "IotSecurityBaselineArgs",
    "ProtectedAuditTrail",
    "ProtectedAuditTrailArgs",
    "SecurityAlerts",
    "SecurityAlertsArgs",
    "SecurityHubFindings",
    "SecurityHubFindingsArgs",
    "ThreatDetection",
    "ThreatDetectionArgs",
]


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        value = getattr(import_module(_MODULES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'aisb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
