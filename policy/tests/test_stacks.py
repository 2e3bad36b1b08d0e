"""The whole pack over every stack of the aisb program, as its own tests render them (the
reviewed plans in plans/): the baseline itself breaks none of its rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aisb_guard import POLICIES
from pulumi.runtime.proto import analyzer_pb2_grpc

from tests.engine import Resource, analyze
from tests.harness import (
    PLANS,
    as_engine_sees_it,
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


def _engine_resources(path: Path) -> list[Resource]:
    """A plan's resources as the engine sends them over gRPC: parents in the URN, JSON
    documents as strings, each input's source resources as property dependencies."""
    plan = json.loads(path.read_text())
    entries = plan["resources"]

    def chain(key: str) -> list[str]:
        types: list[str] = []
        parent = entries[key]["parent"]
        while parent:
            types.insert(0, entries[parent]["type"])
            parent = entries[parent]["parent"]
        return types

    built = {
        key: Resource(e["type"], e["name"], as_engine_sees_it(e["inputs"]), parents=chain(key))
        for key, e in entries.items()
    }
    for key, e in entries.items():
        built[key].depends = {
            prop: [built[s] for s in sources] for prop, sources in e.get("dependencies", {}).items()
        }
    return list(built.values())


@pytest.mark.parametrize("plan", STACK_PLANS, ids=lambda p: p.stem)
def test_no_rule_fires_on_an_aisb_stack_over_grpc(
    analyzer: analyzer_pb2_grpc.AnalyzerStub, plan: Path
) -> None:
    resources = _engine_resources(plan)
    assert len(resources) >= 10
    assert analyze(analyzer, resources) == []
