"""The IAM role behind a role alias granting more than devices need: every device holding a
certificate the alias trusts gets those credentials. The conditions of
IOT_ROLE_ALIAS_OVERLY_PERMISSIVE_CHECK, judged on every policy the role carries:

https://docs.aws.amazon.com/iot-device-defender/latest/devguide/audit-chk-iot-role-alias-permissive.html
(reason codes ALLOWS_BROAD_ACCESS_TO_USED_SERVICES, ALLOWS_ACCESS_TO_SECURITY_AUDITING_SERVICES,
ALLOWS_BROAD_ACCESS_TO_IOT_THING_ADMIN_READ_ACTIONS, ALLOWS_ACCESS_TO_IOT_NON_THING_ADMIN_ACTIONS,
ALLOWS_ACCESS_TO_IOT_THING_ADMIN_WRITE_ACTIONS, ALLOWS_BROAD_ACCESS_TO_IOT_DATA_PLANE_ACTIONS).

Where a role's policies come from (inputs as both providers name them):
- ``aws:iam/role:Role``: ``inlinePolicies[].policy``, ``managedPolicyArns``;
- ``aws-native:iam:Role``: ``policies[].policyDocument``, ``managedPolicyArns``;
- ``aws:iam/rolePolicy:RolePolicy`` (``role``), ``aws-native:iam:RolePolicy`` (``roleName``);
- ``aws:iam/rolePolicyAttachment:RolePolicyAttachment`` (``role``, ``policyArn``),
  ``aws:iam/policyAttachment:PolicyAttachment`` (``roles``, ``policyArn``);
- customer managed policies of the stack: ``aws:iam/policy:Policy`` (``policy``) and
  ``aws-native:iam:ManagedPolicy`` (``policyDocument``, attached by its own ``roles``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy import PolicyResource, Severity

from aisb_guard import _iot
from aisb_guard._rule import (
    MANDATORY,
    About,
    Unknown,
    Unreadable,
    Verdict,
    effective_statements,
    glob,
    items,
    known_strings,
    read,
    stack_rule,
)

ABOUT = About(
    id="aisb-role-alias-role-permissions",
    description=(
        "The IAM role behind an AWS IoT role alias, through every policy it carries (inline, "
        "role policies, customer and AWS managed policies), must not allow every action of a "
        "service (`*`, `s3:*`, `NotAction`), security-auditing services (IAM, CloudTrail, "
        "GuardDuty, Inspector, Trusted Advisor), AWS IoT thing-admin writes or non-thing admin "
        "actions, or thing reads and data-plane actions on a broad set of devices."
    ),
    anticipates="IOT_ROLE_ALIAS_OVERLY_PERMISSIVE_CHECK",
    enforcement=MANDATORY,
    remediation=(
        "Grant the role only the actions devices need, on resources scoped by the "
        "`credentials-iot:ThingName` variable (the aisb `DeviceLogCollection` role is an "
        "example); attach no AWS managed policy to it."
    ),
    url="https://docs.aws.amazon.com/iot-device-defender/latest/devguide/audit-chk-iot-role-alias-permissive.html",
    stricter=(
        "Administrator access to any service, not only to those the alias used in the past "
        "year (the pack cannot see usage); any wildcard AWS IoT action; the AWS managed "
        "`AdministratorAccess`, `PowerUserAccess`, `*FullAccess`, `SecurityAudit`, "
        "`ReadOnlyAccess` and `ViewOnlyAccess` by name."
    ),
    cannot_judge=(
        "A role outside the stack; other AWS managed policies and customer policies of other "
        "stacks (their documents are not in the program); documents computed at preview."
    ),
    severity=Severity.CRITICAL,
)

ALIASES = ("aws:iot/roleAlias:RoleAlias", "aws-native:iot:RoleAlias")
ROLES = ("aws:iam/role:Role", "aws-native:iam:Role")
SECURITY_AUDITING = ("iam", "cloudtrail", "guardduty", "inspector", "inspector2", "trustedadvisor")

THING_ADMIN_READ = {
    "iot:describething": "thing",
    "iot:listthingprincipals": "thing",
    "iot:listthinggroupsforthing": "thing",
    "iot:listthings": None,
    "iot:listprincipalthings": None,
}
"""Thing metadata reads, with the resource each is authorized on (None: ``*`` only)."""

THING_ADMIN_WRITE = frozenset(
    {
        "iot:creatething",
        "iot:updatething",
        "iot:deletething",
        "iot:attachthingprincipal",
        "iot:detachthingprincipal",
        "iot:addthingtothinggroup",
        "iot:removethingfromthinggroup",
        "iot:updatethinggroupsforthing",
    }
)

# The IAM form of the jobs data plane: iotjobsdata:<action> on the thing.
JOBS_DATA = {
    "iotjobsdata:describejobexecution": "thing",
    "iotjobsdata:getpendingjobexecutions": "thing",
    "iotjobsdata:startnextpendingjobexecution": "thing",
    "iotjobsdata:updatejobexecution": "thing",
}

ADMIN_MANAGED = ("AdministratorAccess", "PowerUserAccess", "IAMFullAccess")
"""AWS managed policies that are administrator access by name; any ``*FullAccess`` is a
service's administrator access, ``SecurityAudit``/``ReadOnlyAccess``/``ViewOnlyAccess`` read
the security-auditing services."""
AUDITING_MANAGED = ("SecurityAudit", "ReadOnlyAccess", "ViewOnlyAccess")


def _action(action: str, statement: Mapping[str, Any]) -> list[str]:
    lowered = action.lower()
    service, _, name = lowered.partition(":")
    if lowered == "*" or name == "*":
        return [f"allows {action}: administrator access (ALLOWS_BROAD_ACCESS_TO_USED_SERVICES)"]
    if any(glob(service).fullmatch(s) for s in SECURITY_AUDITING):
        return [
            f"allows {action}, a security-auditing service "
            "(ALLOWS_ACCESS_TO_SECURITY_AUDITING_SERVICES)"
        ]
    if not glob(service).fullmatch("iot") and not glob(service).fullmatch("iotjobsdata"):
        return []
    if "*" in name or "?" in name:
        return [
            f"allows {action}, a pattern that covers restricted AWS IoT actions "
            "(ALLOWS_ACCESS_TO_IOT_NON_THING_ADMIN_ACTIONS)"
        ]
    if lowered in THING_ADMIN_WRITE:
        return [f"allows {action} (ALLOWS_ACCESS_TO_IOT_THING_ADMIN_WRITE_ACTIONS)"]
    kinds = {k.lower(): v for k, v in {**_iot.DATA_PLANE, **JOBS_DATA}.items()}
    if lowered in kinds or lowered in THING_ADMIN_READ or lowered == _iot.RECEIVE.lower():
        if lowered == _iot.RECEIVE.lower():
            return []  # receives only what the role may subscribe to (the audit's own rule)
        kind = kinds.get(lowered) or THING_ADMIN_READ.get(lowered)
        reason = (
            "ALLOWS_BROAD_ACCESS_TO_IOT_DATA_PLANE_ACTIONS"
            if lowered in kinds
            else "ALLOWS_BROAD_ACCESS_TO_IOT_THING_ADMIN_READ_ACTIONS"
        )
        resources, _ = known_strings(statement.get("Resource"), "Resource")
        if "NotResource" in statement:
            return [f"allows {action} on every resource but some (NotResource) ({reason})"]
        broad = [r for r in resources if _iot.broad(r, kind)]
        return [f"allows {action} on {r}: a broad set of devices ({reason})" for r in broad]
    return [f"allows {action} (ALLOWS_ACCESS_TO_IOT_NON_THING_ADMIN_ACTIONS)"]


def action_findings(doc: Any) -> tuple[list[str], list[str]]:
    """What a role's policy document allows beyond what devices need, and what of it is not
    known yet (``Unreadable`` when it cannot be parsed)."""
    known, unknown = effective_statements(doc)
    found: list[str] = []
    for n, statement, effect in known:
        if effect != "Allow":
            continue
        if "NotAction" in statement:
            found.append(
                "allows every action but those of its NotAction "
                "(ALLOWS_BROAD_ACCESS_TO_USED_SERVICES)"
            )
            continue
        actions, not_known = known_strings(statement.get("Action"), "Action")
        unknown += [f"statement {n}'s {u}" for u in not_known]
        _, resources_unknown = known_strings(statement.get("Resource"), "Resource")
        unknown += [f"statement {n}'s {u}" for u in resources_unknown]
        for action in actions:
            found += _action(action, statement)
    return found, unknown


def _managed(arn: str) -> list[str]:
    """What an AWS managed policy ARN (``arn:<partition>:iam::aws:policy/...``) grants, by its
    name; [] when it is not an AWS managed policy."""
    if ":iam::aws:policy/" not in arn:
        return []
    name = arn.rsplit("/", 1)[-1]
    if name in ADMIN_MANAGED or name.endswith("FullAccess"):
        return [
            f"has the AWS managed policy {name}: administrator access "
            "(ALLOWS_BROAD_ACCESS_TO_USED_SERVICES)"
        ]
    if name in AUDITING_MANAGED:
        return [
            f"has the AWS managed policy {name}, which reads security-auditing services "
            "(ALLOWS_ACCESS_TO_SECURITY_AUDITING_SERVICES)"
        ]
    return []


def _is(resource: PolicyResource, prop: str, role: PolicyResource, role_name: Any) -> bool:
    """Whether ``resource``'s ``prop`` names the role: by dependency, or by its known name."""
    if any(d.urn == role.urn for d in resource.property_dependencies.get(prop, [])):
        return True
    value = read(resource.props, prop)
    names = [v for v in items(value) if isinstance(v, str)]
    return isinstance(role_name, str) and role_name in names


def _stack_policy(policy: PolicyResource) -> tuple[str, Any] | None:
    """A customer managed policy of the stack: its label and document."""
    if policy.resource_type == "aws:iam/policy:Policy":
        return f"policy {policy.name}", read(policy.props, "policy")
    if policy.resource_type == "aws-native:iam:ManagedPolicy":
        return f"policy {policy.name}", read(policy.props, "policyDocument")
    return None


def _attached(
    arns: Any,
    source: PolicyResource,
    prop: str,
    verdict: Verdict,
    alias: PolicyResource,
    role: PolicyResource,
) -> Iterator[tuple[str, Any]]:
    """The managed policies ``source`` attaches by ARN (its ``prop``): the documents of the
    stack's customer policies it depends on, AWS managed ARNs as ``managed``; any other ARN
    (or one not known yet) is reported as not judged."""
    stack = [d for d in map(_stack_policy, source.property_dependencies.get(prop, [])) if d]
    yield from stack
    for arn in [arns] if isinstance(arns, Unknown) else items(arns):
        if isinstance(arn, str) and ":iam::aws:policy/" in arn:
            yield "managed", arn
        elif not stack:
            verdict.not_judged(
                f"role alias {alias.name}: its role {role.name} has the policy {arn} "
                f"({source.name}'s {prop}), whose document is not in this stack.",
                alias.urn,
            )


def _documents(
    role: PolicyResource,
    resources: Sequence[PolicyResource],
    verdict: Verdict,
    alias: PolicyResource,
) -> Iterator[tuple[str, Any]]:
    """Every policy document the role carries, with a label; AWS managed policies as their
    ARN (label ``managed``); what cannot be told is reported as not judged."""
    native = role.resource_type == "aws-native:iam:Role"
    role_name = read(role.props, "roleName" if native else "name")
    inline = read(role.props, "policies" if native else "inlinePolicies")
    for i, entry in enumerate([inline] if isinstance(inline, Unknown) else items(inline)):
        if isinstance(entry, Mapping):
            yield f"inline policy {i + 1}", entry.get("policyDocument" if native else "policy")
        elif isinstance(entry, Unknown):
            verdict.not_judged(
                f"role alias {alias.name}: its role {role.name}'s {entry} is not known yet.",
                alias.urn,
            )
    yield from _attached(
        read(role.props, "managedPolicyArns"), role, "managedPolicyArns", verdict, alias, role
    )
    for r in resources:
        t = r.resource_type
        if t == "aws:iam/rolePolicy:RolePolicy" and _is(r, "role", role, role_name):
            yield f"role policy {r.name}", read(r.props, "policy")
        elif t == "aws-native:iam:RolePolicy" and _is(r, "roleName", role, role_name):
            yield f"role policy {r.name}", read(r.props, "policyDocument")
        elif t == "aws-native:iam:ManagedPolicy" and _is(r, "roles", role, role_name):
            yield f"policy {r.name}", read(r.props, "policyDocument")
        elif (
            t == "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
            and _is(r, "role", role, role_name)
        ) or (
            t == "aws:iam/policyAttachment:PolicyAttachment" and _is(r, "roles", role, role_name)
        ):
            yield from _attached(read(r.props, "policyArn"), r, "policyArn", verdict, alias, role)


def _role_of(
    alias: PolicyResource, resources: Sequence[PolicyResource]
) -> PolicyResource | str | Unknown | None:
    for role in alias.property_dependencies.get("roleArn", []):
        if role.resource_type in ROLES:
            return role
    arn = read(alias.props, "roleArn")
    if isinstance(arn, str):
        name = arn.rsplit("/", 1)[-1]
        for r in resources:
            key = "roleName" if r.resource_type == "aws-native:iam:Role" else "name"
            if r.resource_type in ROLES and read(r.props, key) == name:
                return r
    return arn if isinstance(arn, str | Unknown) else None


def judge(resources: Sequence[PolicyResource], verdict: Verdict) -> None:
    for alias in resources:
        if alias.resource_type not in ALIASES:
            continue
        label = f"role alias {alias.name}"
        role = _role_of(alias, resources)
        if not isinstance(role, PolicyResource):
            verdict.not_judged(
                f"{label}: its role {role or '(none)'} is not in this stack.", alias.urn
            )
            continue
        for where, doc in _documents(role, resources, verdict, alias):
            if where == "managed":
                if isinstance(doc, Unknown):
                    verdict.not_judged(f"{label}: its role's {doc} is not known yet.", alias.urn)
                    continue
                arn = doc if isinstance(doc, str) else str(doc)
                found = _managed(arn)
                for finding in found:
                    verdict.flag(f"{label}: its role {role.name} {finding}.", alias.urn)
                if not found:
                    verdict.not_judged(
                        f"{label}: its role {role.name} has the managed policy {arn}, whose "
                        "document is not in this stack.",
                        alias.urn,
                    )
                continue
            try:
                found, unknown = action_findings(doc)
            except Unreadable as error:
                verdict.flag(
                    f"{label}: its role {role.name}'s {where} cannot be parsed: it {error}.",
                    alias.urn,
                )
                continue
            for finding in found:
                verdict.flag(f"{label}: its role {role.name} {finding} ({where}).", alias.urn)
            for what in unknown:
                verdict.not_judged(
                    f"{label}: its role {role.name}'s {where}: {what} is not known yet.",
                    alias.urn,
                )


POLICY = stack_rule(ABOUT, judge)
