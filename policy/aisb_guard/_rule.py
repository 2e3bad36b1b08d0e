"""What every aisb-guard rule declares, how the engine's values are read, and how a rule's
verdict reaches Pulumi.

A rule is a ``ResourceValidationPolicy`` or ``StackValidationPolicy`` built by ``resource_rule``
or ``stack_rule`` from its ``About`` (a stable id: the policy name, which is what a policy
group's configuration and ``--policy-pack-config`` set the enforcement level by; a
description; the Device Defender audit check or AISB control it anticipates; a default
enforcement level and a remediation message) and a *judge*: a function that fills a
``Verdict`` with what it found and what it could not judge.

The values a judge reads are the ones pulumi-policy 1.21 hands a policy, not plain dicts
(``.venv/lib/python3.11/site-packages/pulumi_policy/``):

- ``policy.py:997-998`` (``Analyze``) and ``policy.py:1049-1050`` (``AnalyzeStack``): the
  request's properties go through ``deserialize_properties`` and then
  ``unknown_checking_proxy``, so every object is a ``_DictProxy`` (a ``Mapping``) and every
  array a ``_ListProxy`` (a ``Sequence``), never ``dict`` or ``list`` (``proxy.py:83-144``);
- ``deserialize.py:65-72``: a secret (the ``4dabf18193072939515e22adb298388d`` signature key
  with the ``1b47061264138c4ac30d75fd1eb44270`` secret signature) is unwrapped to its plain
  value for validation (a ``Secret`` only when remediating);
- ``proxy.py:102-120``: reading an unknown value (``04da6b54-80e4-46f7-96ec-b56ff0331ba9`` and
  the other sentinels of ``proxy.py:19-52``) raises ``UnknownValueError``; uncaught, it ends
  the whole policy with one advisory "can't run policy" (``policy.py:1012-1022``,
  ``1098-1108``) and hides every finding of a stack rule. ``read`` turns each unknown into an
  ``Unknown`` marker instead, so a judge judges what is known and names what is not.

What no rule could judge is reported by the ``aisb-not-judged`` rule (see ``not_judged.py``),
per resource; a rule's own exemptions (its ``exemptions`` config) silence its findings on the
resources they name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pulumi_policy import (
    EnforcementLevel,
    PolicyComplianceFramework,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Secret,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY

SENTINELS = frozenset(
    {
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_STRING_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_OBJECT_VALUE,
    }
)
"""The engine's markers of a value not known yet (``pulumi_policy/proxy.py:19-52``)."""


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
    stricter: str
    """Where the rule refuses more than the audit page says the check flags."""
    cannot_judge: str
    """What the rule cannot judge (at preview, or ever): ``aisb-not-judged`` reports it."""
    severity: Severity = Severity.HIGH

    def framework(self) -> PolicyComplianceFramework:
        return PolicyComplianceFramework(
            name="AWS IoT Device Defender audit / AISB",
            version="1",
            reference=self.anticipates,
            specification=self.url,
        )


# --- the engine's values -----------------------------------------------------------------------


@dataclass(frozen=True)
class Unknown:
    """A value the engine does not know yet (at preview), and where it sits."""

    path: str

    def __str__(self) -> str:
        return self.path


def plain(value: Any, path: str) -> Any:
    """``value`` as plain ``dict``/``list``/scalars: proxies unpacked, secrets unwrapped and each
    unknown replaced by an ``Unknown`` naming its path."""
    if isinstance(value, Secret):
        value = value.value
    if isinstance(value, str):
        return Unknown(path) if value in SENTINELS else value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key in value:  # iterating keys never raises; reading an unknown does
            try:
                item = value[key]
            except UnknownValueError:
                out[key] = Unknown(f"{path}.{key}")
                continue
            out[key] = plain(item, f"{path}.{key}")
        return out
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        items: list[Any] = []
        for i in range(len(value)):
            try:
                item = value[i]
            except UnknownValueError:
                items.append(Unknown(f"{path}[{i}]"))
                continue
            items.append(plain(item, f"{path}[{i}]"))
        return items
    return value


def read(props: Mapping[str, Any], key: str) -> Any:
    """A resource input as a plain value; None when absent, ``Unknown`` when not known yet."""
    try:
        value = props[key]
    except KeyError:
        return None
    except UnknownValueError:
        return Unknown(key)
    return plain(value, key)


def items(value: Any) -> list[Any]:
    """A value that may be one item or a list of them (``Action``, ``Statement``), as a list."""
    if value is None:
        return []
    if isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray):
        return list(value)
    return [value]


class Unreadable(ValueError):
    """A document the rule cannot parse: a violation, never a silent pass."""


def document(value: Any) -> Mapping[str, Any] | Unknown | None:
    """A policy document given as a JSON string (``aws``) or an object (``aws-native``); None
    when absent, ``Unknown`` when not known yet; ``Unreadable`` when it is neither."""
    if value is None or isinstance(value, Unknown):
        return value
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as error:
            raise Unreadable(f"is not JSON ({error})") from None
    if not isinstance(value, Mapping):
        raise Unreadable("is not a JSON object")
    return value


def effective_statements(
    doc: Any,
) -> tuple[list[tuple[int, Mapping[str, Any], str]], list[str]]:
    """A policy document's statements whose Effect is known, as ``(number from 1, statement,
    Allow or Deny)``, and what of the document could not be judged yet. No document gives
    nothing; an Effect other than Allow or Deny is ``Unreadable``."""
    parsed = document(doc)
    if parsed is None:
        return [], []
    if isinstance(parsed, Unknown):
        return [], [f"its {parsed}"]
    known: list[tuple[int, Mapping[str, Any], str]] = []
    unknown: list[str] = []
    for n, statement in enumerate(statements(parsed), 1):
        if isinstance(statement, Unknown):
            unknown.append(f"statement {n}")
            continue
        effect = statement.get("Effect")
        if isinstance(effect, Unknown):
            unknown.append(f"statement {n}'s Effect")
            continue
        if effect not in ("Allow", "Deny"):
            raise Unreadable(f"has a statement {n} whose Effect is neither Allow nor Deny")
        known.append((n, statement, str(effect)))
    return known, unknown


def statements(doc: Mapping[str, Any]) -> list[Mapping[str, Any] | Unknown]:
    """The statements of a policy document (one statement may be given bare)."""
    given = doc.get("Statement")
    if isinstance(given, Unknown):
        return [given]
    if given is None:
        raise Unreadable("has no Statement")
    found: list[Mapping[str, Any] | Unknown] = []
    for statement in items(given):
        if not isinstance(statement, Mapping | Unknown):
            raise Unreadable("has a Statement that is not an object")
        found.append(statement)
    return found


def known_strings(value: Any, what: str) -> tuple[list[str], list[Unknown]]:
    """A string-or-list element of a statement (``Action``, ``Resource``): its known strings
    and its unknown items."""
    if isinstance(value, Unknown):
        return [], [value]
    found: list[str] = []
    unknown: list[Unknown] = []
    for item in items(value):
        if isinstance(item, Unknown):
            unknown.append(item)
        elif isinstance(item, str):
            found.append(item)
        else:
            raise Unreadable(f"has a {what} that is not a string")
    return found, unknown


def strings(value: Any, what: str) -> list[str] | Unknown:
    """A string-or-list element of a statement, or the first of its items not known yet."""
    found, unknown = known_strings(value, what)
    return unknown[0] if unknown else found


_GLOBS: dict[str, re.Pattern[str]] = {}


def glob(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    """An IAM/IoT policy pattern as a regular expression: ``*`` any run of characters, ``?``
    any one character, everything else (MQTT's ``+`` and ``#`` included) literal."""
    key = ("i" if ignore_case else "c") + pattern
    if key not in _GLOBS:
        body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
        _GLOBS[key] = re.compile(body, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)
    return _GLOBS[key]


# --- verdicts ----------------------------------------------------------------------------------


class Subject(Protocol):
    """What a resource rule reads: a ``ResourceValidationArgs`` or a stack's ``PolicyResource``."""

    @property
    def resource_type(self) -> str: ...
    @property
    def props(self) -> Mapping[str, Any]: ...
    @property
    def urn(self) -> str: ...
    @property
    def name(self) -> str: ...


@dataclass
class Verdict:
    """What a judge found (violations) and what it could not judge, each with the resource's
    URN when the rule is a stack rule."""

    findings: list[tuple[str, str | None]] = field(default_factory=list)
    unjudged: list[tuple[str, str | None]] = field(default_factory=list)

    def flag(self, message: str, urn: str | None = None) -> None:
        self.findings.append((message, urn))

    def not_judged(self, message: str, urn: str | None = None) -> None:
        self.unjudged.append((message, urn))


ResourceJudge = Callable[[Subject, Verdict], None]
StackJudge = Callable[[Sequence[PolicyResource], Verdict], None]

RESOURCE_JUDGES: list[tuple[str, ResourceJudge]] = []
STACK_JUDGES: list[tuple[str, StackJudge]] = []
"""Every rule's judge, by rule id: ``aisb-not-judged`` asks them what they could not judge."""


def judge_resource(judge: ResourceJudge, subject: Subject) -> Verdict:
    verdict = Verdict()
    try:
        judge(subject, verdict)
    except UnknownValueError as error:  # a read the judge did not guard: say so, never pass
        verdict.not_judged(error.message)
    return verdict


def judge_stack(judge: StackJudge, resources: Sequence[PolicyResource]) -> Verdict:
    verdict = Verdict()
    try:
        judge(resources, verdict)
    except UnknownValueError as error:
        verdict.not_judged(error.message)
    return verdict


EXEMPTIONS = PolicyConfigSchema(
    properties={
        "exemptions": {
            "type": "array",
            "items": {"type": "string"},
            "description": (
                "Resources this rule accepts as they are, each by URN or by logical name."
            ),
        }
    }
)


def exemptions(config: Mapping[str, Any] | None) -> frozenset[str]:
    given = plain((config or {}).get("exemptions"), "exemptions")
    return frozenset(e for e in items(given) if isinstance(e, str))


def exempt(urn: str | None, names: Iterable[str]) -> bool:
    """Whether a resource (by URN, or the logical name that ends its URN) is exempted."""
    names = frozenset(names)
    return urn is not None and (urn in names or urn.rsplit("::", 1)[-1] in names)


def guidance(about: About) -> dict[str, Any]:
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
        "config_schema": EXEMPTIONS,
    }


def resource_rule(about: About, judge: ResourceJudge) -> ResourceValidationPolicy:
    RESOURCE_JUDGES.append((about.id, judge))

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if exempt(args.urn, exemptions(args.get_config())):
            return
        for message, _ in judge_resource(judge, args).findings:
            report(message, None)

    return ResourceValidationPolicy(validate=validate, **guidance(about))


def stack_rule(about: About, judge: StackJudge) -> StackValidationPolicy:
    STACK_JUDGES.append((about.id, judge))

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        names = exemptions(args.get_config())
        for message, urn in judge_stack(judge, list(args.resources)).findings:
            if not exempt(urn, names):
                report(message, urn)

    return StackValidationPolicy(validate=validate, **guidance(about))
