"""aisb-guard: a Pulumi policy pack that keeps the AWS IoT Security Baseline true in every stack.

``POLICIES`` is the list of the pack's policies, importable without starting the pack (only
the pack's ``__main__.py`` constructs the ``PolicyPack``). Each rule lives in its own module,
with its ``ABOUT`` (id, description, the audit check it anticipates, enforcement level,
remediation, documentation) and its ``POLICY``; ``not_judged`` reports, per resource, what
the others could not judge (values unknown at preview, roles outside the stack).
"""

from __future__ import annotations

from pulumi_policy import ResourceValidationPolicy, StackValidationPolicy

from aisb_guard import (
    account_singletons,
    certificate_from_csr,
    certificate_key_quality,
    certificate_not_shared,
    domain_configuration_tls,
    iot_logging_enabled,
    iot_policy_deny_wildcards,
    iot_policy_overly_permissive,
    not_judged,
    role_alias_credential_duration,
    role_alias_role_permissions,
)
from aisb_guard._rule import About

RULES = (
    iot_policy_overly_permissive,
    iot_policy_deny_wildcards,
    iot_logging_enabled,
    role_alias_credential_duration,
    role_alias_role_permissions,
    certificate_from_csr,
    certificate_key_quality,
    certificate_not_shared,
    account_singletons,
    domain_configuration_tls,
    not_judged,  # last: it asks every other rule what it could not judge
)

ABOUT: list[About] = [rule.ABOUT for rule in RULES]
POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [rule.POLICY for rule in RULES]

__all__ = ["ABOUT", "POLICIES", "RULES"]
