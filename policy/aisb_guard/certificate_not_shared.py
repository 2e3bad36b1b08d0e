"""One certificate attached to several things: those devices share one identity."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from pulumi_policy import PolicyResource, Severity

from aisb_guard._rule import ADVISORY, About, Verdict, read, stack_rule

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
    stricter="None: it counts the attachments of this stack only.",
    cannot_judge=(
        "A principal not known at preview that comes from no IoT certificate resource of the "
        "stack; attachments made by other stacks."
    ),
    severity=Severity.MEDIUM,
)

TYPES = {
    "aws:iot/thingPrincipalAttachment:ThingPrincipalAttachment": "thing",
    "aws-native:iot:ThingPrincipalAttachment": "thingName",
}
CERTIFICATES = ("aws:iot/certificate:Certificate", "aws-native:iot:Certificate")
THINGS = {"aws:iot/thing:Thing": "name", "aws-native:iot:Thing": "thingName"}


def _principal(attachment: PolicyResource) -> str | None:
    """The certificate: its ARN when known, else the IoT certificate resource it comes from."""
    value = read(attachment.props, "principal")
    if isinstance(value, str):
        return value
    for source in attachment.property_dependencies.get("principal", []):
        if source.resource_type in CERTIFICATES:
            return source.urn
    return None


def _thing(attachment: PolicyResource) -> str | None:
    """The thing: its name when known (given literally or by the thing resource), else the
    thing resource it comes from."""
    key = TYPES[attachment.resource_type]
    value = read(attachment.props, key)
    if isinstance(value, str):
        return value
    for source in attachment.property_dependencies.get(key, []):
        if source.resource_type in THINGS:
            name = read(source.props, THINGS[source.resource_type])
            return name if isinstance(name, str) else source.urn
    return None


def judge(resources: Sequence[PolicyResource], verdict: Verdict) -> None:
    things: dict[str, set[str]] = defaultdict(set)
    first: dict[str, PolicyResource] = {}
    for r in resources:
        if r.resource_type not in TYPES:
            continue
        principal, thing = _principal(r), _thing(r)
        if principal is None or thing is None:
            what = "principal" if principal is None else TYPES[r.resource_type]
            verdict.not_judged(
                f"attachment {r.name}: its {what} is not known yet and comes from no "
                "resource of this stack.",
                r.urn,
            )
            continue
        things[principal].add(thing)
        first.setdefault(principal, r)
    for principal, attached in sorted(things.items()):
        if len(attached) > 1:
            shown = principal.rsplit("::", 1)[-1]
            verdict.flag(
                f"certificate {shown} is attached to {len(attached)} things "
                f"(first attachment: {first[principal].name}).",
                first[principal].urn,
            )


POLICY = stack_rule(ABOUT, judge)
