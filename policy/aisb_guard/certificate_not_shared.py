"""One certificate attached to several things: those devices share one identity."""

from __future__ import annotations

from collections import defaultdict

from pulumi_policy import PolicyResource, ReportViolation, Severity, StackValidationArgs

from aisb_guard._rule import ADVISORY, About, stack_rule

ABOUT = About(
    id="aisb-certificate-not-shared",
    description=(
        "An AWS IoT certificate must be attached to one thing only: devices sharing a "
        "certificate cannot be told apart, revoked or quarantined one by one."
    ),
    anticipates="DEVICE_CERTIFICATE_SHARED_CHECK",
    enforcement=ADVISORY,
    remediation=(
        "Give every device its own certificate; attach it with thingPrincipalType "
        "EXCLUSIVE_THING so AWS IoT refuses a second thing."
    ),
    url="https://docs.aws.amazon.com/iot-device-defender/latest/devguide/audit-chk-device-cert-shared.html",
    severity=Severity.MEDIUM,
)

TYPES = {
    "aws:iot/thingPrincipalAttachment:ThingPrincipalAttachment": "thing",
    "aws-native:iot:ThingPrincipalAttachment": "thingName",
}


def _principal(attachment: PolicyResource) -> str | None:
    """The certificate: the resource the principal comes from, else its literal ARN."""
    sources = attachment.property_dependencies.get("principal", [])
    if sources:
        return sources[0].urn
    value = attachment.props.get("principal")
    return value if isinstance(value, str) else None


def _thing(attachment: PolicyResource) -> str:
    sources = attachment.property_dependencies.get(TYPES[attachment.resource_type], [])
    if sources:
        return sources[0].urn
    return str(attachment.props.get(TYPES[attachment.resource_type]))


def check(args: StackValidationArgs, report: ReportViolation) -> None:
    things: dict[str, set[str]] = defaultdict(set)
    names: dict[str, str] = {}
    for r in args.resources:
        if r.resource_type in TYPES and (principal := _principal(r)):
            things[principal].add(_thing(r))
            names[principal] = names.get(principal, r.name)
    for principal, attached in sorted(things.items()):
        if len(attached) > 1:
            shown = principal.rsplit("::", 1)[-1]
            report(
                f"certificate {shown} is attached to {len(attached)} things "
                f"(first attachment: {names[principal]}).",
                None,
            )


POLICY = stack_rule(ABOUT, check)
