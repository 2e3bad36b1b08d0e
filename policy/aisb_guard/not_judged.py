"""What the other rules could not judge, per resource: values not known until the update
(at preview, an input computed from a resource not created yet), and what lies outside the
stack (a role alias's role, a managed policy's document, a certificate registered elsewhere).

Advisory by default, as Pulumi treats unknown values itself (``pulumi_policy/policy.py:1012``):
at ``pulumi up`` the engine asks the pack again with the values known and every rule judges
them at its own level. Set this rule to ``mandatory`` to refuse whatever could not be judged.
"""

from __future__ import annotations

from pulumi_policy import ReportViolation, Severity, StackValidationArgs, StackValidationPolicy

from aisb_guard import _rule
from aisb_guard._rule import ADVISORY, About, exempt, exemptions, judge_resource, judge_stack

ABOUT = About(
    id="aisb-not-judged",
    description=(
        "Reports, per resource, what the other aisb-guard rules could not judge: inputs not "
        "known at preview, and roles or managed policies outside the stack."
    ),
    anticipates="every rule of the pack",
    enforcement=ADVISORY,
    remediation=(
        "Nothing to fix when the value is only unknown at preview: the rules judge it at "
        "`pulumi up`. For what lies outside the stack, bring the role or policy into the stack, "
        "or list the resource in this rule's `exemptions`."
    ),
    url="https://docs.aws.amazon.com/iot-device-defender/latest/devguide/device-defender-audit-checks.html",
    stricter="None.",
    cannot_judge="None: it is the report of what the others could not judge.",
    severity=Severity.LOW,
)


def validate(args: StackValidationArgs, report: ReportViolation) -> None:
    names = exemptions(args.get_config())
    resources = list(args.resources)
    for resource in resources:
        if exempt(resource.urn, names):
            continue
        for rule, judge in _rule.RESOURCE_JUDGES:
            for message, _ in judge_resource(judge, resource).unjudged:
                report(f"{rule} could not judge {message}", resource.urn)
    for rule, stack_judge in _rule.STACK_JUDGES:
        for message, urn in judge_stack(stack_judge, resources).unjudged:
            if not exempt(urn, names):
                report(f"{rule} could not judge {message}", urn)


POLICY = StackValidationPolicy(validate=validate, **_rule.guidance(ABOUT))
