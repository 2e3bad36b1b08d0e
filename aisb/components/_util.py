"""Small helpers every component uses: child options, tags and JSON policies from Outputs."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_aws_native as aws_native

from aisb import iam
from aisb.validation import InvalidValue


def child(parent: pulumi.Resource, **kwargs: Any) -> pulumi.ResourceOptions:
    """Options for a component's child: parented to it (so it inherits its providers)."""
    return pulumi.ResourceOptions(parent=parent, **kwargs)


def merge_tags(tags: Mapping[str, str] | None, control: str) -> dict[str, str]:
    """The user's tags plus the AISB control a resource implements."""
    return {**(tags or {}), "aisb:control": control}


def native_tags(tags: Mapping[str, str]) -> list[aws_native.TagArgs]:
    """Tags in the CloudFormation list form aws-native resources take."""
    return [aws_native.TagArgs(key=k, value=val) for k, val in sorted(tags.items())]


def policy_json(builder: Callable[..., dict[str, Any]], *inputs: Any) -> pulumi.Output[str]:
    """Serialise ``builder(*resolved_inputs)`` once every input is known."""
    return pulumi.Output.all(*inputs).apply(lambda vals: json.dumps(builder(*vals), sort_keys=True))


def arg_error(component: str, arg: str, err: InvalidValue) -> ValueError:
    """A ``ValueError`` naming the component, the argument, the value and what is accepted."""
    return ValueError(f"{component}: argument {arg!r} {err}")


@dataclass
class ServiceRole:
    """A role for one AWS service, and the policy resources that must exist before use."""

    role: aws.iam.Role
    grants: list[pulumi.Resource]


def service_role(
    parent: pulumi.Resource,
    name: str,
    *,
    service: str,
    account_id: pulumi.Input[str],
    description: str,
    tags: Mapping[str, str],
    policy: pulumi.Input[str] | None = None,
    managed_policy_arn: pulumi.Input[str] | None = None,
) -> ServiceRole:
    """``<name>`` -- a role only ``service`` acting for this account may assume -- with an
    inline ``<name>-policy`` and/or an attached AWS managed policy ``<name>-managed``."""
    role = aws.iam.Role(
        name,
        description=description,
        assume_role_policy=policy_json(
            lambda acct: iam.service_trust_policy(service, acct), account_id
        ),
        tags=dict(tags),
        opts=child(parent),
    )
    grants: list[pulumi.Resource] = []
    if policy is not None:
        grants.append(
            aws.iam.RolePolicy(f"{name}-policy", role=role.id, policy=policy, opts=child(parent))
        )
    if managed_policy_arn is not None:
        grants.append(
            aws.iam.RolePolicyAttachment(
                f"{name}-managed", role=role.name, policy_arn=managed_policy_arn, opts=child(parent)
            )
        )
    return ServiceRole(role, grants)
