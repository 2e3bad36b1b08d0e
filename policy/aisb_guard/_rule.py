"""What every aisb-guard rule declares, and the policy-document helpers the rules share.

A rule is a ``ResourceValidationPolicy`` or ``StackValidationPolicy`` built by ``resource_rule``
or ``stack_rule``: a stable id (the policy name, which is what a policy group's configuration
and ``--policy-pack-config`` set the enforcement level by), a description, the Device Defender
audit check or AISB control it anticipates (its compliance framework reference), a default
enforcement level and a remediation message.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyComplianceFramework,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY


@dataclass(frozen=True)
class About:
    """A rule's identity and guidance."""

    id: str
    """The policy name: stable, so configurations that set its level keep working."""
    description: str
    anticipates: str
    """The Device Defender audit check (``IOT_POLICY_OVERLY_PERMISSIVE_CHECK``) or AISB
    control it catches at preview, before the audit finds it in production."""
    enforcement: EnforcementLevel
    remediation: str
    url: str
    """The AWS documentation of what the rule checks."""
    severity: Severity = Severity.HIGH

    def framework(self) -> PolicyComplianceFramework:
        return PolicyComplianceFramework(
            name="AWS IoT Device Defender audit / AISB",
            version="1",
            reference=self.anticipates,
            specification=self.url,
        )


def _guidance(about: About) -> dict[str, Any]:
    """The keyword arguments every policy of the pack carries."""
    return {
        "name": about.id,
        "description": about.description,
        "enforcement_level": about.enforcement,
        "severity": about.severity,
        "framework": about.framework(),
        "remediation_steps": about.remediation,
        "url": about.url,
        "tags": ["aws-iot", "aisb"],
    }


def resource_rule(
    about: About,
    check: Callable[[ResourceValidationArgs, ReportViolation], None],
) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(validate=check, **_guidance(about))


def stack_rule(
    about: About,
    check: Callable[[StackValidationArgs, ReportViolation], None],
) -> StackValidationPolicy:
    return StackValidationPolicy(validate=check, **_guidance(about))


def document(value: Any) -> Mapping[str, Any] | None:
    """A policy document given as a JSON string (``aws``) or an object (``aws-native``); None
    when it is not one (or not known yet, at preview)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, Mapping) else None


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def statements(doc: Mapping[str, Any] | None) -> Iterator[Mapping[str, Any]]:
    """The statements of a policy document (one statement may be given bare)."""
    if doc is None:
        return
    for statement in as_list(doc.get("Statement")):
        if isinstance(statement, Mapping):
            yield statement
