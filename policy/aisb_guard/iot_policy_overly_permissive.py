"""IoT policies that allow every action, or device data-plane actions on every device."""

from __future__ import annotations

import re
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity

from aisb_guard._rule import MANDATORY, About, as_list, document, resource_rule, statements

ABOUT = About(
    id="aisb-iot-policy-overly-permissive",
    description=(
        "AWS IoT policies must not allow every action (`iot:*`, `*`) or MQTT, shadow and job "
        "data-plane actions on every device's resources without policy variables."
    ),
    anticipates="IOT_POLICY_OVERLY_PERMISSIVE_CHECK",
    enforcement=MANDATORY,
    remediation=(
        "Grant each device its own resources through policy variables, e.g. "
        "`arn:aws:iot:<region>:<account>:client/${iot:Connection.Thing.ThingName}` for "
        "iot:Connect and `topic/devices/${iot:Connection.Thing.ThingName}/*` for iot:Publish."
    ),
    url="https://docs.aws.amazon.com/iot-device-defender/latest/devguide/audit-chk-iot-policy-permissive.html",
    severity=Severity.CRITICAL,
)

TYPES = {"aws:iot/policy:Policy": "policy", "aws-native:iot:Policy": "policyDocument"}

# The actions a device uses on the data plane: the audit check flags them on broad resources.
DATA_PLANE = {
    "iot:connect",
    "iot:publish",
    "iot:retainpublish",
    "iot:subscribe",
    "iot:receive",
    "iot:getthingshadow",
    "iot:updatethingshadow",
    "iot:deletethingshadow",
    "iot:getretainedmessage",
    "iot:listretainedmessages",
    "iot:describejobexecution",
    "iot:getpendingjobexecutions",
    "iot:startnextpendingjobexecution",
    "iot:updatejobexecution",
}

# A resource whose name part is nothing but wildcards: every client, topic or thing.
_BROAD = re.compile(r"(\*|arn:[^:]+:iot:[^:]*:[^:]*:(\*|[a-z]+/[*#+/]*))")


def _broad(resource: Any) -> bool:
    return isinstance(resource, str) and "${" not in resource and bool(_BROAD.fullmatch(resource))


def findings(doc: Any) -> list[str]:
    """What an IoT policy document allows too broadly, one line each."""
    found = []
    for statement in statements(document(doc)):
        if statement.get("Effect") != "Allow":
            continue
        actions = [a.lower() for a in as_list(statement.get("Action")) if isinstance(a, str)]
        resources = as_list(statement.get("Resource"))
        if "*" in actions or "iot:*" in actions:
            found.append(f"allows {'*' if '*' in actions else 'iot:*'}: every AWS IoT action")
            continue
        data_plane = sorted(
            a for a in actions if a in DATA_PLANE or (a.startswith("iot:") and a.endswith("*"))
        )
        broad = [r for r in resources if _broad(r)]
        if data_plane and broad:
            found.append(
                f"allows {', '.join(data_plane)} on {', '.join(broad)} without policy variables"
            )
    return found


def check(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in TYPES:
        return
    for finding in findings(args.props.get(TYPES[args.resource_type])):
        report(f"IoT policy {args.name} {finding}.", None)


POLICY = resource_rule(ABOUT, check)
