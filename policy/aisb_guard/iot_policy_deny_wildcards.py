"""Deny statements in IoT policies that rely on MQTT wildcards, which IoT policies read
literally: the deny matches almost nothing."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity

from aisb_guard import iot_policy_overly_permissive as permissive
from aisb_guard._rule import ADVISORY, About, as_list, document, resource_rule, statements

ABOUT = About(
    id="aisb-iot-policy-deny-mqtt-wildcards",
    description=(
        "Deny statements of AWS IoT policies must not use the MQTT wildcards `#` and `+`: IoT "
        "policies treat them as literal characters, so the deny does not cover the topics meant."
    ),
    anticipates="IOT_POLICY_POTENTIAL_MIS_CONFIGURATION_CHECK",
    enforcement=ADVISORY,
    remediation=(
        "Use the policy wildcard `*` in Deny resources (`topicfilter/building/control_room/*`), "
        "or allow only what is needed instead of denying a subset."
    ),
    url="https://docs.aws.amazon.com/iot-device-defender/latest/devguide/audit-chk-iot-misconfigured-policies.html",
    severity=Severity.MEDIUM,
)


def findings(doc: Any) -> list[str]:
    found = []
    for statement in statements(document(doc)):
        if statement.get("Effect") != "Deny":
            continue
        for resource in as_list(statement.get("Resource")):
            if isinstance(resource, str) and ("#" in resource or "+" in resource):
                found.append(f"denies {resource}, whose # or + IoT policies read literally")
    return found


def check(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in permissive.TYPES:
        return
    for finding in findings(args.props.get(permissive.TYPES[args.resource_type])):
        report(f"IoT policy {args.name} {finding}.", None)


POLICY = resource_rule(ABOUT, check)
