"""The whole pack over every stack of the aisb program, as its own tests render them (the
reviewed plans in plans/): the baseline itself breaks none of its rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from aisb_guard import POLICIES

from tests.harness import (
    PLANS,
    options,
    plan_resources,
    policy_kinds,
    stack_args,
    violations,
)

STACK_PLANS = sorted(PLANS.glob("*.json"))


def test_there_are_stacks_to_check() -> None:
    assert len(STACK_PLANS) >= 3


@pytest.mark.parametrize("plan", STACK_PLANS, ids=lambda p: p.stem)
def test_no_rule_fires_on_an_aisb_stack(plan: Path) -> None:
    from pulumi_policy import ResourceValidationArgs

    resources = plan_resources(plan)
    resource_policies, stack_policies = policy_kinds(POLICIES)
    found = []
    for r in resources:
        args = ResourceValidationArgs(r.resource_type, r.props, r.urn, r.name, options(), None)
        for policy in resource_policies:
            found += [f"{policy.name}: {m}" for m in violations(policy, args)]
    for policy in stack_policies:
        found += [f"{policy.name}: {m}" for m in violations(policy, stack_args(resources))]
    assert found == []


def test_the_stacks_exercise_the_rules() -> None:
    """Quiet because the baseline complies, not because the rules saw nothing: the plans hold
    an IoT policy, a role alias with its role, and the account's logging and audit settings."""
    types = {r.resource_type for plan in STACK_PLANS for r in plan_resources(plan)}
    assert {
        "aws:iot/policy:Policy",
        "aws:iot/roleAlias:RoleAlias",
        "aws:iot/loggingOptions:LoggingOptions",
        "aws-native:iot:AccountAuditConfiguration",
    } <= types
    alias = next(
        r
        for plan in STACK_PLANS
        for r in plan_resources(plan)
        if r.resource_type == "aws:iot/roleAlias:RoleAlias"
    )
    assert [d.resource_type for d in alias.property_dependencies["roleArn"]] == [
        "aws:iam/role:Role"
    ]
