"""The IAM role behind a role alias granting whole services: every device holding a
certificate gets those credentials."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, Severity, StackValidationArgs

from aisb_guard._rule import MANDATORY, About, as_list, document, stack_rule, statements

ABOUT = About(
    id="aisb-role-alias-role-permissions",
    description=(
        "The IAM role behind an AWS IoT role alias must not allow every action (`*`), every "
        "action of a service (`s3:*`), or security-auditing services (IAM, CloudTrail, "
        "GuardDuty, Inspector, Trusted Advisor)."
    ),
    anticipates="IOT_ROLE_ALIAS_OVERLY_PERMISSIVE_CHECK",
    enforcement=MANDATORY,
    remediation=(
        "Grant the role only the actions devices need, on resources scoped by the "
        "`credentials-iot:ThingName` variable (the aisb `DeviceLogCollection` role is an example)."
    ),
    url="https://docs.aws.amazon.com/iot-device-defender/latest/devguide/audit-chk-iot-role-alias-permissive.html",
    severity=Severity.CRITICAL,
)

ALIASES = ("aws:iot/roleAlias:RoleAlias", "aws-native:iot:RoleAlias")
ROLES = ("aws:iam/role:Role", "aws-native:iam:Role")
SECURITY_AUDITING = (
    "iam:",
    "cloudtrail:",
    "guardduty:",
    "inspector:",
    "inspector2:",
    "trustedadvisor:",
)


def action_findings(doc: Any) -> list[str]:
    found = []
    for statement in statements(document(doc)):
        if statement.get("Effect") != "Allow":
            continue
        for action in as_list(statement.get("Action")):
            if not isinstance(action, str):
                continue
            lowered = action.lower()
            if lowered == "*" or lowered.endswith(":*"):
                found.append(f"allows {action}")
            elif lowered.startswith(SECURITY_AUDITING):
                found.append(f"allows {action}, a security-auditing service")
    return found


def _depends_on(resource: PolicyResource, prop: str, target: PolicyResource) -> bool:
    return any(d.urn == target.urn for d in resource.property_dependencies.get(prop, []))


def _role_documents(role: PolicyResource, resources: Iterable[PolicyResource]) -> list[Any]:
    """The role's own inline policies and the role policies attached to it."""
    docs: list[Any] = []
    if role.resource_type == "aws:iam/role:Role":
        for inline in as_list(role.props.get("inlinePolicies")):
            if isinstance(inline, dict):
                docs.append(inline.get("policy"))
    else:
        for inline in as_list(role.props.get("policies")):
            if isinstance(inline, dict):
                docs.append(inline.get("policyDocument"))
    for r in resources:
        if r.resource_type == "aws:iam/rolePolicy:RolePolicy" and _depends_on(r, "role", role):
            docs.append(r.props.get("policy"))
        if r.resource_type == "aws-native:iam:RolePolicy" and _depends_on(r, "roleName", role):
            docs.append(r.props.get("policyDocument"))
    return docs


def check(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = list(args.resources)
    for alias in resources:
        if alias.resource_type not in ALIASES:
            continue
        for role in alias.property_dependencies.get("roleArn", []):
            if role.resource_type not in ROLES:
                continue
            for doc in _role_documents(role, resources):
                for finding in action_findings(doc):
                    report(f"role alias {alias.name}: its role {role.name} {finding}.", alias.urn)


POLICY = stack_rule(ABOUT, check)
