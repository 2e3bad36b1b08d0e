"""aisb: the AWS IoT Security Baseline as Pulumi components.

Compose the whole baseline with ``IotSecurityBaseline`` or each control on its own.
"""

from aisb.baseline import IotSecurityBaseline, IotSecurityBaselineArgs
from aisb.components.access_analyzer import AccessAnalyzer, AccessAnalyzerArgs
from aisb.components.alerts import SecurityAlerts, SecurityAlertsArgs
from aisb.components.audit import DeviceDefenderAudit, DeviceDefenderAuditArgs
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
from aisb.components.device_logs import DeviceLogCollection, DeviceLogCollectionArgs
from aisb.components.iot_logging import IotLogging, IotLoggingArgs
from aisb.components.mitigation import DetectMitigations, DetectMitigationsArgs
from aisb.components.rotation import CertificateRotation, CertificateRotationArgs
from aisb.components.threat_detection import ThreatDetection, ThreatDetectionArgs
from aisb.components.trail import ProtectedAuditTrail, ProtectedAuditTrailArgs

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
    "ThreatDetection",
    "ThreatDetectionArgs",
]
