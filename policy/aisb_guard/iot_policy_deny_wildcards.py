"""Deny statements of IoT policies that do not deny what they mean to, the two reasons of
IOT_POLICY_POTENTIAL_MIS_CONFIGURATION_CHECK:

- POLICY_CONTAINS_MQTT_WILDCARDS_IN_DENY_STATEMENT: a Deny resource with ``#`` or ``+``,
  which IoT policies read literally, so the deny matches almost nothing;
- TOPIC_FILTERS_INTENDED_TO_DENY_ALLOWED_USING_WILDCARDS: a Deny of ``iot:Subscribe`` on
  ``topicfilter/building/control_room/*`` while the policy lets the device subscribe to a
  broader filter (``building/#``) and receive the denied topics through it.

https://docs.aws.amazon.com/iot/latest/developerguide/audit-chk-iot-misconfigured-policies.html
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import Severity

from aisb_guard import _iot
from aisb_guard._rule import (
    ADVISORY,
    About,
    Subject,
    Unknown,
    Unreadable,
    Verdict,
    document,
    glob,
    known_strings,
    resource_rule,
    statements,
)

ABOUT = About(
    id="aisb-iot-policy-deny-mqtt-wildcards",
    description=(
        "Deny statements of AWS IoT policies must deny what they mean to: no MQTT wildcards "
        "`#` and `+` (IoT policies read them literally), and no Deny of iot:Subscribe on a "
        "topic filter that a broader allowed filter (`building/#`) and an allowed iot:Receive "
        "still reach."
    ),
    anticipates="IOT_POLICY_POTENTIAL_MIS_CONFIGURATION_CHECK",
    enforcement=ADVISORY,
    remediation=(
        "Use the policy wildcard `*` in Deny resources and deny iot:Receive on the matching "
        "`topic/` resources as well (`topic/building/control_room/*`): a device that "
        "subscribes to an allowed broader filter still receives the denied topics otherwise. "
        "Better: allow only what the device needs instead of denying a subset."
    ),
    url="https://docs.aws.amazon.com/iot/latest/developerguide/audit-chk-iot-misconfigured-policies.html",
    stricter=(
        "Conditions are not read: a conditional Allow counts as an Allow. The broader filters "
        "probed are the `#` filters of each level above the denied one."
    ),
    cannot_judge="A document, or a statement, computed from resources not created yet.",
    severity=Severity.MEDIUM,
)

_ARN = re.compile(r"(arn:[^:]*:[^:]*:[^:]*:[^:]*:)topicfilter/(.*)", re.DOTALL)


@dataclass(frozen=True)
class _Statement:
    effect: str
    actions: tuple[str, ...] | None  # None: NotAction
    not_actions: tuple[str, ...]
    resources: tuple[str, ...] | None  # None: NotResource
    not_resources: tuple[str, ...]

    def covers(self, action: str, arn: str) -> bool:
        if self.actions is not None:
            acts = any(_iot.matches(a, action) for a in self.actions)
        else:
            acts = not any(_iot.matches(a, action) for a in self.not_actions)
        if self.resources is not None:
            res = any(glob(r).fullmatch(arn) for r in self.resources)
        else:
            res = not any(glob(r).fullmatch(arn) for r in self.not_resources)
        return acts and res


def _allowed(policy: list[_Statement], action: str, arn: str) -> bool:
    allow = any(s.effect == "Allow" and s.covers(action, arn) for s in policy)
    return allow and not any(s.effect == "Deny" and s.covers(action, arn) for s in policy)


def _read(n: int, statement: Mapping[str, Any], unknown: list[str]) -> _Statement | None:
    effect = statement.get("Effect")
    if isinstance(effect, Unknown):
        unknown.append(f"statement {n}'s Effect")
        return None
    if effect not in ("Allow", "Deny"):
        raise Unreadable(f"has a statement {n} whose Effect is neither Allow nor Deny")
    parts: dict[str, tuple[str, ...]] = {}
    for key in ("Action", "NotAction", "Resource", "NotResource"):
        known, not_known = known_strings(statement.get(key), key)
        if not_known:
            unknown.append(f"statement {n}'s {not_known[0]}")
            return None
        parts[key] = tuple(known)
    return _Statement(
        effect,
        parts["Action"] if "NotAction" not in statement else None,
        parts["NotAction"],
        parts["Resource"] if "NotResource" not in statement else None,
        parts["NotResource"],
    )


def findings(doc: Any) -> tuple[list[str], list[str]]:
    parsed = document(doc)
    if parsed is None:
        return [], []
    if isinstance(parsed, Unknown):
        return [], [f"its {parsed}"]
    found: list[str] = []
    unknown: list[str] = []
    policy: list[_Statement] = []
    for n, statement in enumerate(statements(parsed), 1):
        if isinstance(statement, Unknown):
            unknown.append(f"statement {n}")
            continue
        read = _read(n, statement, unknown)
        if read is not None:
            policy.append(read)
    for s in policy:
        if s.effect != "Deny" or s.resources is None:
            continue
        for resource in s.resources:
            if "#" in resource or "+" in resource:
                found.append(
                    f"denies {resource}, whose # or + IoT policies read literally "
                    "(POLICY_CONTAINS_MQTT_WILDCARDS_IN_DENY_STATEMENT)"
                )
                continue
            reached = _reached(policy, s, resource)
            if reached:
                found.append(
                    f"denies iot:Subscribe on {resource}, but allows subscribing to the "
                    f"filter {reached[0]} and receiving what it matches, such as {reached[1]} "
                    "(TOPIC_FILTERS_INTENDED_TO_DENY_ALLOWED_USING_WILDCARDS)"
                )
    return found, unknown


def _reached(policy: list[_Statement], deny: _Statement, resource: str) -> tuple[str, str] | None:
    """A broader filter the device may still subscribe to, and a denied topic it then
    receives; None when the Deny holds."""
    match = _ARN.fullmatch(resource)
    if match is None or not (
        deny.actions is None or any(_iot.matches(a, "iot:Subscribe") for a in deny.actions)
    ):
        return None
    prefix = re.sub(r"[*?]", "x", match.group(1))
    topic = re.sub(r"[*?]", "x", match.group(2)) or "x"
    if not _allowed(policy, _iot.RECEIVE, f"{prefix}topic/{topic}"):
        return None  # the device may not receive the denied topics at all
    levels = topic.split("/")
    for depth in range(len(levels)):
        broader = "/".join([*levels[:depth], "#"])
        if _allowed(policy, "iot:Subscribe", f"{prefix}topicfilter/{broader}"):
            return broader, topic
    return None


def judge(subject: Subject, verdict: Verdict) -> None:
    try:
        docs = _iot.documents(subject)
    except Unreadable as error:
        verdict.flag(f"IoT policy {subject.name} cannot be parsed: it {error}.")
        return
    for label, doc in docs:
        where = f"IoT policy {subject.name}" + (f" ({label})" if label else "")
        try:
            found, unknown = findings(doc)
        except Unreadable as error:
            verdict.flag(f"{where} cannot be parsed: its document {error}.")
            continue
        for finding in found:
            verdict.flag(f"{where} {finding}.")
        for what in unknown:
            verdict.not_judged(f"{where}: {what} is not known yet.")


POLICY = resource_rule(ABOUT, judge)
