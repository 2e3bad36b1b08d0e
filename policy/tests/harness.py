"""Running aisb-guard's policies directly, with the arguments Pulumi's analyzer builds."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

PLANS = Path(__file__).resolve().parents[2] / "plans"


def options(parent: str | None = None) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=parent,
    )


def urn(type_: str, name: str, parents: Iterable[str] = (), stack: str = "dev") -> str:
    return f"urn:pulumi:{stack}::app::{'$'.join([*parents, type_])}::{name}"


def resource_args(
    type_: str, props: Mapping[str, Any], name: str = "r", parents: Iterable[str] = ()
) -> ResourceValidationArgs:
    return ResourceValidationArgs(
        type_, dict(props), urn(type_, name, parents), name, options(), None
    )


def violations(policy: Any, args: Any) -> list[str]:
    """The messages ``policy`` reports for ``args`` (a resource's or a stack's)."""
    found: list[str] = []
    policy.validate(args, lambda message, urn=None: found.append(message))
    return found


def resource(
    type_: str,
    name: str,
    props: Mapping[str, Any],
    depends: Mapping[str, list[PolicyResource]] | None = None,
) -> PolicyResource:
    return PolicyResource(
        type_,
        dict(props),
        urn(type_, name),
        name,
        options(),
        None,
        None,
        [d for deps in (depends or {}).values() for d in deps],
        dict(depends or {}),
    )


def stack_args(resources: list[PolicyResource]) -> StackValidationArgs:
    return StackValidationArgs(resources, None)


# --- the aisb stacks, from their reviewed plans ------------------------------------------------


def as_engine_sees_it(value: Any) -> Any:
    """A plan's input as the engine passes it: JSON documents back to strings."""
    if isinstance(value, dict):
        if set(value) == {"json"}:
            return json.dumps(value["json"])
        return {k: as_engine_sees_it(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_engine_sees_it(v) for v in value]
    return value


def plan_resources(path: Path) -> list[PolicyResource]:
    """Every resource of an aisb stack's plan as a policy sees it: URNs with their parents'
    types, inputs as the engine passes them, and each input's source resources."""
    plan = json.loads(path.read_text())
    entries: dict[str, Any] = plan["resources"]

    def chain(key: str) -> list[str]:
        types: list[str] = []
        parent = entries[key]["parent"]
        while parent:
            types.insert(0, entries[parent]["type"])
            parent = entries[parent]["parent"]
        return types

    built: dict[str, PolicyResource] = {}
    for key, entry in entries.items():
        built[key] = PolicyResource(
            entry["type"],
            as_engine_sees_it(entry["inputs"]),
            urn(entry["type"], entry["name"], chain(key), plan["stack"]),
            entry["name"],
            options(),
            None,
            None,
            [],
            {},
        )
    for key, entry in entries.items():
        for name, sources in entry.get("dependencies", {}).items():
            built[key].property_dependencies[name] = [built[s] for s in sources]
            built[key].dependencies += [built[s] for s in sources]
    return list(built.values())


def policy_kinds(policies: Iterable[Any]) -> tuple[list[Any], list[Any]]:
    resources = [p for p in policies if isinstance(p, ResourceValidationPolicy)]
    stacks = [p for p in policies if isinstance(p, StackValidationPolicy)]
    return resources, stacks
