"""IoT policies that allow every action, or device data-plane actions for a broad set of
devices: what IOT_POLICY_OVERLY_PERMISSIVE_CHECK (ALLOWS_BROAD_ACCESS_TO_IOT_DATA_PLANE_ACTIONS)
flags once the policy is in use, caught at preview."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from aisb_guard import _iot
from aisb_guard._rule import (
    MANDATORY,
    About,
    Subject,
    Unknown,
    Unreadable,
    Verdict,
    effective_statements,
    known_strings,
    resource_rule,
    strings,
)

ABOUT = About(
    id="aisb-iot-policy-overly-permissive",
    description=(
        "AWS IoT policies (and the device policies of provisioning templates) must not allow "
        "every action (`*`, `iot:*`, `NotAction`) or MQTT, shadow and job data-plane actions "
        "on a broad set of devices: a wildcard, `+` or `#`, or `${iot:ClientId}` without "
        "`iot:Connection.Thing.IsAttached`, where no policy variable names the device."
    ),
    anticipates="IOT_POLICY_OVERLY_PERMISSIVE_CHECK",
    enforcement=MANDATORY,
    remediation=(
        "Grant each device its own resources through policy variables, e.g. "
        "`client/${iot:Connection.Thing.ThingName}` for iot:Connect and "
        "`topic/devices/${iot:Connection.Thing.ThingName}/*` for iot:Publish; a policy the "
        "team accepts as it is (a fleet-provisioning claim policy) goes in this rule's "
        "`exemptions`."
    ),
    url="https://docs.aws.amazon.com/iot-device-defender/latest/devguide/audit-chk-iot-policy-permissive.html",
    stricter=(
        "`*`, `iot:*` and `NotAction` on any resource; a wildcard on a shared prefix "
        "(`topic/telemetry/*`) that no policy variable narrows to one device; "
        "`${iot:ClientId}` in any resource unless `IsAttached` is required; "
        "`iot:GetRetainedMessage` counted as data plane."
    ),
    cannot_judge=(
        "A document, or a statement's `Action` or `Resource`, computed from resources not "
        "created yet; policy versions made outside the program."
    ),
    severity=Severity.CRITICAL,
)

_EVERY_IOT_ACTION = (*_iot.DATA_PLANE, _iot.RECEIVE, "iot:createpolicy")


def _statement(n: int, statement: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """What one Allow statement grants too broadly, and what of it is not known yet."""
    found: list[str] = []
    unknown: list[str] = []
    if "NotAction" in statement:
        not_actions = strings(statement.get("NotAction"), "NotAction")
        shown = "?" if isinstance(not_actions, Unknown) else ", ".join(not_actions)
        return [f"statement {n} allows every action but {shown} (NotAction)"], []
    actions, not_known = known_strings(statement.get("Action"), "Action")
    unknown += [f"statement {n}'s {u}" for u in not_known]
    if not actions and not not_known:
        raise Unreadable(f"has a statement {n} without Action")
    everything = [a for a in actions if all(_iot.matches(a, x) for x in _EVERY_IOT_ACTION)]
    if everything:
        return [f"statement {n} allows {everything[0]}: every AWS IoT action"], unknown
    granted = sorted(
        {x for a in actions for x in _iot.DATA_PLANE if _iot.matches(a, x)},
        key=list(_iot.DATA_PLANE).index,
    )
    if not granted:
        return [], unknown
    if "NotResource" in statement:
        return [
            f"statement {n} allows {', '.join(granted)} on every resource but some (NotResource)"
        ], unknown
    resources, not_known = known_strings(statement.get("Resource"), "Resource")
    unknown += [f"statement {n}'s {u}" for u in not_known]
    if not resources and not not_known:
        raise Unreadable(f"has a statement {n} without Resource")
    attached = _iot.attached_required(statement)
    for resource in resources:
        actions_on = [x for x in granted if _iot.broad(resource, _iot.DATA_PLANE[x], attached)]
        if actions_on:
            found.append(
                f"statement {n} allows {', '.join(actions_on)} on {resource}: a broad set of "
                "devices"
            )
    return found, unknown


def findings(doc: Any) -> tuple[list[str], list[str]]:
    """What an IoT policy document allows too broadly, one line each, and what of it could
    not be judged (``Unreadable`` when it cannot be parsed)."""
    known, unknown = effective_statements(doc)
    found: list[str] = []
    for n, statement, effect in known:
        if effect == "Allow":
            more, not_known = _statement(n, statement)
            found += more
            unknown += not_known
    return found, unknown


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
            verdict.flag(f"{where}: {finding}.")
        for what in unknown:
            verdict.not_judged(f"{where}: {what} is not known yet.")


POLICY = resource_rule(ABOUT, judge)
