"""AWS IoT policy facts the rules share: where IoT policy documents sit in both providers'
resources (device policies inside fleet-provisioning templates included), which resource
each data-plane action is authorized on, and when a resource names every device.

Sources:
- the actions and the resource each is authorized on: AWS IoT Core policy actions,
  https://docs.aws.amazon.com/iot/latest/developerguide/iot-policy-actions.html
- what the audit counts as broad (``client/*``; ``client/${iot:ClientId}`` unless
  ``iot:Connection.Thing.IsAttached`` is required; ``topic/$aws/things/*/shadow/update``;
  ``topicfilter/$aws/things/*``; ``+`` and ``#``; ``thing/*``; ``iot:Receive`` compliant because
  a device receives only what it may subscribe to):
  https://docs.aws.amazon.com/iot-device-defender/latest/devguide/audit-chk-iot-policy-permissive.html
- ``*`` and ``?`` are the policy wildcards; ``+`` and ``#`` are literal characters in a policy:
  https://docs.aws.amazon.com/iot/latest/developerguide/pub-sub-policy.html
- a provisioning template's ``AWS::IoT::Policy`` resource carries its ``PolicyDocument``:
  https://docs.aws.amazon.com/iot/latest/developerguide/provision-template.html
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from aisb_guard._rule import Subject, Unknown, Unreadable, glob, read

POLICIES = {"aws:iot/policy:Policy": "policy", "aws-native:iot:Policy": "policyDocument"}
TEMPLATES = {
    "aws:iot/provisioningTemplate:ProvisioningTemplate": "templateBody",
    "aws-native:iot:ProvisioningTemplate": "templateBody",
}

DATA_PLANE = {
    "iot:Connect": "client",
    "iot:Publish": "topic",
    "iot:RetainPublish": "topic",
    "iot:Subscribe": "topicfilter",
    "iot:GetRetainedMessage": "topic",
    "iot:GetThingShadow": "thing",
    "iot:UpdateThingShadow": "thing",
    "iot:DeleteThingShadow": "thing",
    "iot:DescribeJobExecution": "thing",
    "iot:GetPendingJobExecutions": "thing",
    "iot:StartNextPendingJobExecution": "thing",
    "iot:UpdateJobExecution": "thing",
}
"""Device data-plane actions and the resource type each is authorized on. ``iot:Receive`` is
left out: the audit counts it compliant on any topic. ``iot:ListRetainedMessages`` too: it
is authorized on ``*`` only and lists topic names, not messages."""

RECEIVE = "iot:Receive"

DEVICE_VARIABLES = (
    "iot:connection.thing.thingname",
    "iot:certificate.subject.commonname",
    "iot:certificate.serialnumber",
    "credentials-iot:thingname",
    "credentials-iot:awscertificateid",
    "cognito-identity.amazonaws.com:sub",
)
"""Policy variables that name one device (or one identity); ``iot:ClientId`` counts only when
``iot:Connection.Thing.IsAttached`` is required."""

CLIENT_ID = "iot:clientid"

_ARN = re.compile(r"arn:([^:]*):([^:]*):([^:]*):([^:]*):(.*)", re.DOTALL)
_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def documents(subject: Subject) -> list[tuple[str, Any]]:
    """The IoT policy documents a resource carries, each with a label: the policy's own, or
    each ``AWS::IoT::Policy`` of a provisioning template (raises ``Unreadable`` for a
    template that is not JSON)."""
    if subject.resource_type in POLICIES:
        return [("", read(subject.props, POLICIES[subject.resource_type]))]
    if subject.resource_type not in TEMPLATES:
        return []
    body = read(subject.props, TEMPLATES[subject.resource_type])
    if body is None or isinstance(body, Unknown):
        return [("template", body)]
    try:
        template = json.loads(body) if isinstance(body, str) else body
    except ValueError as error:
        raise Unreadable(f"has a templateBody that is not JSON ({error})") from None
    resources = template.get("Resources") if isinstance(template, Mapping) else None
    if not isinstance(resources, Mapping):
        raise Unreadable("has a templateBody without a Resources object")
    found: list[tuple[str, Any]] = []
    for key, resource in resources.items():
        if not isinstance(resource, Mapping) or resource.get("Type") != "AWS::IoT::Policy":
            continue
        properties = resource.get("Properties")
        doc = properties.get("PolicyDocument") if isinstance(properties, Mapping) else None
        if doc is not None:  # a PolicyName alone attaches a policy that exists already
            found.append((f"template resource {key}", doc))
    return found


def attached_required(statement: Mapping[str, Any]) -> bool:
    """Whether the statement requires the certificate to be attached to the thing named by
    the client ID (``"Bool": {"iot:Connection.Thing.IsAttached": "true"}``)."""
    condition = statement.get("Condition")
    if not isinstance(condition, Mapping):
        return False
    for operator, keys in condition.items():
        if not isinstance(operator, str) or operator.lower() != "bool":
            continue
        if not isinstance(keys, Mapping):
            continue
        for key, value in keys.items():
            if isinstance(key, str) and key.lower() == "iot:connection.thing.isattached":
                values = value if isinstance(value, list) else [value]
                if values and all(str(v).lower() == "true" for v in values):
                    return True
    return False


def _names_a_device(name: str, attached: bool) -> bool:
    for variable in _VARIABLE.findall(name):
        lowered = variable.lower()
        if lowered in DEVICE_VARIABLES or (lowered == CLIENT_ID and attached):
            return True
    return False


def broad(resource: str, kind: str | None, attached: bool = False) -> bool:
    """Whether ``resource`` grants an action authorized on ``kind`` resources (``client``,
    ``topic``, ``topicfilter``, ``thing``; None: the action takes ``*`` only) for a broad set
    of devices: a wildcard, or an MQTT wildcard in a topic, where no policy variable names
    the device."""
    if kind is None:
        return bool(glob(resource).fullmatch("*"))
    match = _ARN.fullmatch(resource)
    if match is None:  # "*", or a pattern that is no ARN: broad when it covers any resource
        return bool(glob(resource).fullmatch(f"arn:aws:iot:region:account:{kind}/device"))
    service, rest = match.group(2), match.group(5)
    if not glob(service).fullmatch("iot"):
        return False
    head, slash, name = rest.partition("/")
    if not slash or "*" in head or "?" in head:  # the wildcard spans the type: every name
        return bool(glob(rest).fullmatch(f"{kind}/device"))
    if not glob(head).fullmatch(kind):
        return False
    if _names_a_device(name, attached):
        return False
    if any(v.lower() == CLIENT_ID for v in _VARIABLE.findall(name)):
        return True  # the client chooses its ID: without IsAttached, as good as "*"
    mqtt = kind in ("topic", "topicfilter") and ("+" in name or "#" in name)
    return "*" in name or "?" in name or mqtt


def matches(action_pattern: str, action: str) -> bool:
    """Whether an action pattern (``iot:*Shadow``) covers an action; actions ignore case."""
    return bool(glob(action_pattern, ignore_case=True).fullmatch(action))
