"""A small IAM policy evaluator, for the deploy role's tests: does a set of statements allow one
request (action, resource, request context)?

It follows IAM's evaluation logic for identity policies in one account
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html): an
explicit Deny wins, then any Allow, else the request is implicitly denied. Actions match
case-insensitively with ``*``/``?``, resources case-sensitively. Condition operators
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html):
the ``String*``, ``Arn*``, ``Bool`` and ``Null`` families, ``...IfExists``, and the
``ForAllValues:``/``ForAnyValue:`` set qualifiers; blocks are ANDed, keys in a block are ANDed,
values of a key are ORed; a key missing from the context makes a positive operator false and a
negated one true. Condition keys are case-insensitive. An operator it does not know raises, so a
template that starts using one cannot pass unnoticed.

``resolve`` renders the CloudFormation intrinsics the template's policies use (``Ref``,
``Fn::Sub``, ``Fn::Join``, ``Fn::Split``) with given parameter values.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ALLOW, DENY, IMPLICIT = "allow", "explicit deny", "implicit deny"


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    context: Mapping[str, str | list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    outcome: str
    statements: tuple[str, ...]
    """The Sids that decided it (the Deny ones, or the Allow ones)."""

    @property
    def allowed(self) -> bool:
        return self.outcome == ALLOW


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _glob(pattern: str, value: str, case: bool = True) -> bool:
    return _matcher(pattern, case)(value if case else value.lower())


@functools.cache
def _matcher(pattern: str, case: bool) -> Callable[[str], bool]:
    """``pattern`` as a test of a value (lower-cased already when ``case`` is False), made once
    per pattern: the deploy role's tests match a few hundred patterns millions of times."""
    if not case:
        pattern = pattern.lower()
    if "*" not in pattern and "?" not in pattern:
        return pattern.__eq__
    # IAM's wildcards are * and ? only: escape fnmatch's character classes.
    regex = re.compile(fnmatch.translate(pattern.replace("[", "[[]")))
    return lambda value: regex.match(value) is not None


def _matches_action(statement: Mapping[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not any(_glob(a, action, case=False) for a in _list(statement["NotAction"]))
    return any(_glob(a, action, case=False) for a in _list(statement["Action"]))


def _matches_resource(statement: Mapping[str, Any], resource: str) -> bool:
    if "NotResource" in statement:
        return not any(_glob(r, resource) for r in _list(statement["NotResource"]))
    return any(_glob(r, resource) for r in _list(statement["Resource"]))


def _compare(base: str, policy: str, value: str) -> bool:
    if base == "StringEquals":
        return policy == value
    if base == "StringEqualsIgnoreCase":
        return policy.lower() == value.lower()
    if base == "StringLike":
        return _glob(policy, value)
    if base == "ArnEquals" or base == "ArnLike":
        # ARNs compare per component, each a glob (ArnEquals and ArnLike behave alike).
        p, v = policy.split(":", 5), value.split(":", 5)
        return len(p) == len(v) == 6 and all(_glob(a, b) for a, b in zip(p, v, strict=True))
    if base == "Bool":
        return policy.lower() == value.lower()
    raise ValueError(f"condition operator {base} is not implemented")


_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}
_POSITIVE = {"StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnEquals", "ArnLike", "Bool"}


def _condition_holds(operator: str, key: str, wanted: Any, context: Mapping[str, Any]) -> bool:
    present = {k.lower(): v for k, v in context.items()}
    found = present.get(key.lower())
    if operator == "Null":
        (flag,) = _list(wanted)
        return (found is None) == (str(flag).lower() == "true")
    qualifier, _, op = operator.rpartition(":")
    if_exists = op.endswith("IfExists")
    op = op.removesuffix("IfExists")
    negated = op in _NEGATED
    base = _NEGATED.get(op, op)
    if base not in _POSITIVE:
        raise ValueError(f"condition operator {operator} is not implemented")
    values = [str(v) for v in _list(wanted)]
    if found is None:
        if qualifier == "ForAllValues":
            return True
        return if_exists or negated
    given = [str(v) for v in _list(found)]

    def one(value: str) -> bool:
        hit = any(_compare(base, p, value) for p in values)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(one(v) for v in given)
    if qualifier == "ForAnyValue":
        return any(one(v) for v in given)
    if qualifier:
        raise ValueError(f"condition qualifier {qualifier} is not implemented")
    return any(one(v) for v in given)


def _conditions_hold(statement: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
    return all(
        _condition_holds(operator, key, wanted, context)
        for operator, block in statement.get("Condition", {}).items()
        for key, wanted in block.items()
    )


def applies(statement: Mapping[str, Any], request: Request) -> bool:
    return (
        _matches_action(statement, request.action)
        and _matches_resource(statement, request.resource)
        and _conditions_hold(statement, request.context)
    )


def evaluate(statements: Iterable[Mapping[str, Any]], request: Request) -> Decision:
    matched = [s for s in statements if applies(s, request)]
    denies = tuple(s.get("Sid", "?") for s in matched if s["Effect"] == "Deny")
    if denies:
        return Decision(DENY, denies)
    allows = tuple(s.get("Sid", "?") for s in matched if s["Effect"] == "Allow")
    return Decision(ALLOW if allows else IMPLICIT, allows)


# --- CloudFormation intrinsics ------------------------------------------------------------------

_VAR = re.compile(r"\$\{([^}!]+)\}")


def resolve(value: Any, params: Mapping[str, Any]) -> Any:
    """``value`` with ``Ref``/``Fn::Sub``/``Fn::Join``/``Fn::Split`` evaluated over ``params``
    (parameter and pseudo-parameter values, lists for list parameters)."""
    if isinstance(value, list):
        return [resolve(v, params) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((name, arg),) = value.items()
        if name == "Ref":
            return params[arg]
        if name == "Fn::Sub":
            text, local = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            scope = {**params, **{k: resolve(v, params) for k, v in local.items()}}
            return _VAR.sub(lambda m: str(scope[m.group(1)]), text)
        if name == "Fn::Join":
            return str(arg[0]).join(str(v) for v in resolve(arg[1], params))
        if name == "Fn::Split":
            return str(resolve(arg[1], params)).split(arg[0])
    return {k: resolve(v, params) for k, v in value.items()}
