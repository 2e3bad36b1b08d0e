"""``aisb preflight``: what would make ``pulumi up`` of a stack fail, or a control not work,
in the account and region the stack targets.

Each check is a function of boto3 clients, the stack's validated settings, the target and
what is known of the stack's own resources, returning results; reads only (the operations
are listed in ``OPERATIONS`` and in the README). Every AWS call goes through the clients given.

Day 2: a resource with one of aisb's fixed names (or an account singleton) is a conflict only
when the stack does not own it. Ownership is recognised, in this order, by

- the stack's state, where the Pulumi CLI is on PATH (``pulumi stack export --stack <stack>``
  run in the project folder): the resource's type and id (or ARN) are in it;
- the ``aisb:control`` tag every taggable resource of the baseline carries
  (``aisb.components._util.merge_tags``) with the control's value, on a resource with the name
  aisb gives it (``aisb.settings.BASELINE_NAME`` and the components' logical names);

and each result says which evidence it used.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from aisb.components.access_analyzer import OPTIONS as ANALYZER_OPTIONS
from aisb.components.device_logs import OPTIONS as DEVICE_LOG_OPTIONS
from aisb.components.iot_logging import IOT_LOG_GROUP
from aisb.components.trail import OPTIONS as TRAIL_OPTIONS
from aisb.settings import BASELINE_NAME, Settings
from aisb_tools.cli import hub_checks
from aisb_tools.cli.results import FAIL, PASS, UNKNOWN, Result, guarded

TAG = "aisb:control"
# Lambda keeps 100 concurrent executions unreserved per account: "You can reserve up to the
# Unreserved account concurrency value minus 100" (Lambda developer guide, configuring
# reserved concurrency: https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html).
# An account whose quota is 100 or less (new accounts often have 10) is refused every
# reservation; one with no reservation runs on the unreserved pool.
LAMBDA_UNRESERVED_MINIMUM = 100
# An account allows at most five scheduled audits
# (https://docs.aws.amazon.com/iot-device-defender/latest/devguide/AuditCommands.html).
SCHEDULED_AUDIT_LIMIT = 5
# Pulumi auto-names a resource "<logical name>-<7 hex>"; the representative names below (for
# the permission simulation) use this suffix.
EXAMPLE_SUFFIX = "-0000000"

# The logical names aisb gives (baseline name + component + role: see aisb/baseline.py and
# aisb/components/*.py); the audit configuration is recognised by its role's name.
AUDIT_ROLE = f"{BASELINE_NAME}-audit-audit-role-"


@dataclass(frozen=True)
class Target:
    """Where a stack deploys: its name, account and region."""

    stack: str
    account: str
    region: str
    partition: str

    def urn(self, path: str, name: str) -> str:
        """A resource's URN in this stack (``path`` is its type chain)."""
        return f"urn:pulumi:{self.stack}::aisb::{path}::{name}"

    def arn(self, service: str, resource: str, regional: bool = True, account: bool = True) -> str:
        """An ARN in this target's partition, region and account."""
        region = self.region if regional else ""
        owner = self.account if account else ""
        return f"arn:{self.partition}:{service}:{region}:{owner}:{resource}"


@dataclass(frozen=True)
class StackState:
    """The resources the stack's state holds (``pulumi stack export``): type with id, and ARNs."""

    resources: frozenset[tuple[str, str]] = frozenset()
    arns: frozenset[str] = frozenset()
    note: str = ""
    """Why no state was read, when none was."""

    @property
    def read(self) -> bool:
        return not self.note

    def holds(self, kind: str, *ids: str | None) -> bool:
        """Whether a resource of ``kind`` with any of ``ids`` (id or ARN) is in the state."""
        return any(i and ((kind, i) in self.resources or i in self.arns) for i in ids)


NO_STATE = StackState(note="the Pulumi CLI is not on PATH")


def stack_state(
    stack: str,
    root: Path,
    which: Callable[[str], str | None] = shutil.which,
    run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run,
) -> StackState:
    """The stack's resources from ``pulumi stack export``, where the Pulumi CLI is on PATH; an
    empty state with the reason otherwise (the checks then go by tags and names)."""
    pulumi = which("pulumi")
    if pulumi is None:
        return NO_STATE
    try:
        done = run(
            [pulumi, "stack", "export", "--stack", stack],
            cwd=root,
            stdin=subprocess.DEVNULL,  # never wait for a login prompt
            capture_output=True,
            text=True,
            timeout=120,
        )
    except (OSError, subprocess.SubprocessError) as error:
        return StackState(note=f"pulumi stack export failed: {error}")
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or ["no message"])[-1][:200]
        return StackState(note=f"pulumi stack export failed: {why}")
    try:
        exported = json.loads(done.stdout)
        listed = (exported.get("deployment") or {}).get("resources") or []
    except (ValueError, AttributeError):
        return StackState(note="pulumi stack export printed no deployment")
    resources: set[tuple[str, str]] = set()
    arns: set[str] = set()
    for resource in listed:
        if not isinstance(resource, dict):
            continue
        kind, rid = str(resource.get("type", "")), resource.get("id")
        if rid:
            resources.add((kind, str(rid)))
        outputs = resource.get("outputs") or {}
        for key in ("arn", "name"):
            value = outputs.get(key) if isinstance(outputs, dict) else None
            if isinstance(value, str) and value:
                if key == "arn":
                    arns.add(value)
                else:
                    resources.add((kind, value))
    return StackState(frozenset(resources), frozenset(arns))


Clients = Mapping[str, Any]
Check = Callable[[Clients, Settings, Target, StackState], list[Result]]


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _tag_list(tags: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    """``[{"Key": k, "Value": v}]`` (any capitalisation) as a dict."""
    out = {}
    for tag in tags or ():
        key = tag.get("Key", tag.get("key"))
        if key is not None:
            out[str(key)] = str(tag.get("Value", tag.get("value", "")))
    return out


def ownership(
    state: StackState,
    kind: str,
    ids: tuple[str | None, ...],
    tags: Callable[[], Mapping[str, str]] | None,
    control: str,
) -> str | None:
    """How we know the stack owns a resource (its state, or its aisb tag), or None."""
    if state.holds(kind, *ids):
        return "the stack's state (pulumi stack export)"
    if tags is not None and tags().get(TAG) == control:
        return f"its name and tag {TAG}={control}"
    return None


def _why_not(state: StackState) -> str:
    """Which evidence was looked for, for a resource found not to be the stack's."""
    if state.read:
        return f" (not in the stack's state; no aisb {TAG} tag)"
    return f" (no aisb {TAG} tag; state not read: {state.note})"


def _owned_result(check_id: str, control: str, what: str, evidence: str) -> Result:
    return Result(check_id, control, PASS, f"{what} is the stack's own (by {evidence})")


def audit_configuration(
    clients: Clients, settings: Settings, target: Target, state: StackState = NO_STATE
) -> list[Result]:
    """An account audit configuration made before (console, another tool) makes creating
    aisb's fail: the CloudFormation handler behind aws-native refuses one that exists."""

    def check() -> Result:
        described = clients["iot"].describe_account_audit_configuration()
        role = described.get("roleArn")
        if not role:
            return Result("audit-configuration", "AISB-4", PASS, "no audit configuration yet")
        role_name = role.rsplit("/", 1)[-1]

        def role_tags() -> dict[str, str]:
            if not role_name.startswith(AUDIT_ROLE):
                return {}
            try:
                found = clients["iam"].get_role(RoleName=role_name)["Role"]
            except ClientError as error:
                if _code(error) == "NoSuchEntity":
                    return {}
                raise
            return _tag_list(found.get("Tags"))

        evidence = ownership(
            state,
            "aws-native:iot:AccountAuditConfiguration",
            (target.account,),
            role_tags,
            "AISB-4",
        )
        if evidence:
            return _owned_result(
                "audit-configuration",
                "AISB-4",
                f"the audit configuration (role {role_name})",
                evidence,
            )
        parent = target.urn(
            "aisb:index:IotSecurityBaseline$aisb:index:DeviceDefenderAudit",
            f"{BASELINE_NAME}-audit",
        )
        return Result(
            "audit-configuration",
            "AISB-4",
            FAIL,
            f"this account already has a Device Defender audit configuration (role "
            f"{role}) that is not this stack's{_why_not(state)}: creating aisb's fails",
            "after a first `pulumi up` stops on it, import it: pulumi import "
            f"aws-native:iot:AccountAuditConfiguration {BASELINE_NAME}-audit-configuration "
            f"{target.account} --parent 'audit={parent}' --protect=false --generate-code=false",
        )

    return guarded("audit-configuration", "AISB-4", check)


def iot_log_group(
    clients: Clients, settings: Settings, target: Target, state: StackState = NO_STATE
) -> list[Result]:
    """AWS IoT creates AWSIotLogsV2 when logging was ever on; creating it again fails."""

    def check() -> Result:
        pages = (
            clients["logs"]
            .get_paginator("describe_log_groups")
            .paginate(logGroupNamePrefix=IOT_LOG_GROUP)
        )
        found = [
            g
            for page in pages
            for g in page.get("logGroups", [])
            if g["logGroupName"] == IOT_LOG_GROUP
        ]
        if not found:
            return Result("iot-log-group", "AISB-3", PASS, f"no {IOT_LOG_GROUP} log group yet")
        arn = target.arn("logs", f"log-group:{IOT_LOG_GROUP}")

        def tags() -> dict[str, str]:
            return dict(clients["logs"].list_tags_for_resource(resourceArn=arn).get("tags", {}))

        evidence = ownership(
            state,
            "aws:cloudwatch/logGroup:LogGroup",
            (IOT_LOG_GROUP, arn, found[0].get("arn")),
            tags,
            "AISB-3",
        )
        if evidence:
            return _owned_result(
                "iot-log-group", "AISB-3", f"the {IOT_LOG_GROUP} log group", evidence
            )
        parent = target.urn(
            "aisb:index:IotSecurityBaseline$aisb:index:IotLogging", f"{BASELINE_NAME}-logging"
        )
        return Result(
            "iot-log-group",
            "AISB-3",
            FAIL,
            f"the {IOT_LOG_GROUP} log group exists and is not this stack's"
            f"{_why_not(state)}: creating it fails",
            "after a first `pulumi up` stops on it, import it: pulumi import "
            f"aws:cloudwatch/logGroup:LogGroup {BASELINE_NAME}-logging-log-group {IOT_LOG_GROUP} "
            f"--parent 'logging={parent}' --protect=false --generate-code=false",
        )

    return guarded("iot-log-group", "AISB-3", check)


def access_analyzer(
    clients: Clients, settings: Settings, target: Target, state: StackState = NO_STATE
) -> list[Result]:
    """An account-zone analyzer someone else made conflicts with aisb's; aisb's own does not."""
    if not settings.access_analyzer:
        return []
    ours = ANALYZER_OPTIONS["analyzer_name"].default

    def check() -> Result:
        pages = clients["accessanalyzer"].get_paginator("list_analyzers").paginate(type="ACCOUNT")
        analyzers = [a for page in pages for a in page.get("analyzers", [])]
        if not analyzers:
            return Result("access-analyzer", "AISB-2", PASS, "no account-zone analyzer yet")
        for analyzer in analyzers:
            if analyzer["name"] != ours:
                continue
            tags: Mapping[str, str] = dict(analyzer.get("tags") or {})
            evidence = ownership(
                state,
                "aws:accessanalyzer/analyzer:Analyzer",
                (analyzer["name"], analyzer.get("arn")),
                functools.partial(dict, tags),
                "AISB-2",
            )
            if evidence:
                return _owned_result("access-analyzer", "AISB-2", f"analyzer {ours}", evidence)
        names = ", ".join(a["name"] for a in analyzers)
        return Result(
            "access-analyzer",
            "AISB-2",
            FAIL,
            f"the account already has an account-zone analyzer ({names}) that is not this "
            f"stack's{_why_not(state)}",
            "set aisb:accessAnalyzer: false (the existing one serves AISB #2)",
        )

    return guarded("access-analyzer", "AISB-2", check)


def guardduty_detector(
    clients: Clients, settings: Settings, target: Target, state: StackState = NO_STATE
) -> list[Result]:
    """GuardDuty allows one detector per account and region; aisb's own is no conflict."""
    if not settings.guard_duty:
        return []

    def check() -> Result:
        pages = clients["guardduty"].get_paginator("list_detectors").paginate()
        detectors = [d for page in pages for d in page.get("DetectorIds", [])]
        wanted = settings.guard_duty_detector_id
        if wanted:
            if wanted in detectors:
                return Result("guardduty-detector", "AISB-9", PASS, f"adopts detector {wanted}")
            return Result(
                "guardduty-detector",
                "AISB-9",
                FAIL,
                f"aisb:guardDutyDetectorId {wanted} is not a detector in this region "
                f"(found: {', '.join(detectors) or 'none'})",
                "set aisb:guardDutyDetectorId to this region's detector id",
            )
        if not detectors:
            return Result("guardduty-detector", "AISB-9", PASS, "no detector yet: aisb creates it")
        detector = detectors[0]

        def tags() -> dict[str, str]:
            found = clients["guardduty"].get_detector(DetectorId=detector)
            return dict(found.get("Tags") or {})

        evidence = ownership(state, "aws:guardduty/detector:Detector", (detector,), tags, "AISB-9")
        if evidence:
            return _owned_result("guardduty-detector", "AISB-9", f"detector {detector}", evidence)
        return Result(
            "guardduty-detector",
            "AISB-9",
            FAIL,
            f"a GuardDuty detector exists ({detector}) that is not this stack's"
            f"{_why_not(state)}: creating another fails",
            f"set aisb:guardDutyDetectorId: {detector}",
        )

    return guarded("guardduty-detector", "AISB-9", check)


def lambda_concurrency(
    clients: Clients, settings: Settings, target: Target, state: StackState = NO_STATE
) -> list[Result]:
    """The certificate monitor reserves no concurrency; the account needs room to run it."""
    if not settings.cert_rotation:
        return []

    def check() -> Result:
        limits = clients["lambda"].get_account_settings()["AccountLimit"]
        total, unreserved = limits["ConcurrentExecutions"], limits["UnreservedConcurrentExecutions"]
        detail = f"concurrency quota {total}, unreserved {unreserved}"
        if unreserved < 1:
            return Result(
                "lambda-concurrency",
                "AISB-6",
                FAIL,
                f"{detail}: the certificate monitor could never run",
                "free reserved concurrency in this account or ask AWS for a higher quota",
            )
        room = max(0, unreserved - LAMBDA_UNRESERVED_MINIMUM)
        return Result(
            "lambda-concurrency",
            "AISB-6",
            PASS,
            f"{detail}; aisb reserves none (a reservation may take the unreserved pool down to "
            f"{LAMBDA_UNRESERVED_MINIMUM}: {room} could be reserved here)",
        )

    return guarded("lambda-concurrency", "AISB-6", check)


# What an account closed to Device Defender Detect is answered. botocore's iot model (1.44.8,
# botocore/data/iot/2015-05-28/service-2.json.gz, "CreateSecurityProfile" at line 770 and
# "ListSecurityProfiles" at line 3351) lists for creation only InvalidRequestException,
# ResourceAlreadyExistsException, ThrottlingException and InternalFailureException, and for
# the list those and ResourceNotFoundException; AWS documents no error for the
# closure ("will no longer be available to new customers starting August 31, 2026":
# https://docs.amazonaws.cn/iot-device-defender/latest/devguide/detect-commands.html). So
# UnauthorizedException or ForbiddenException (what AWS IoT answers a caller it does not serve),
# or an InvalidRequestException whose message says Detect is not available, counts as closed.
# An account with no security profile is asked the way creation is checked, without creating
# anything: ValidateSecurityProfileBehaviors with an ML Detect behaviour like aisb's. A refusal
# there counts as closed too; an acceptance proves nothing about creation, so it is unknown.
DETECT_CLOSED_CODES = frozenset({"UnauthorizedException", "ForbiddenException"})
DETECT_CLOSED_WORDS = ("not available", "no longer available", "not enabled", "not subscribed")
PROBE_BEHAVIOR = {
    "name": "aisb-preflight-probe",
    "metric": "aws:num-messages-sent",
    "criteria": {"mlDetectionConfig": {"confidenceLevel": "HIGH"}},
}
"""An ML Detect behaviour of the kind aisb creates, only validated."""


def detect_available(
    clients: Clients, settings: Settings, target: Target, state: StackState = NO_STATE
) -> list[Result]:
    """Whether Device Defender Detect is open to this account: an account that already has a
    security profile keeps Detect; one refused says so; an empty account proves nothing."""
    if settings.behavior_detection != "ml-detect":
        return []

    def closed(error: ClientError) -> bool:
        message = str(error.response.get("Error", {}).get("Message", "")).lower()
        if _code(error) in DETECT_CLOSED_CODES:
            return True
        return _code(error) == "InvalidRequestException" and any(
            w in message for w in DETECT_CLOSED_WORDS
        )

    def check() -> Result:
        try:
            listed = clients["iot"].list_security_profiles(maxResults=1)
        except ClientError as error:
            if not closed(error):
                raise
            return Result(
                "detect-available",
                "AISB-5",
                FAIL,
                f"Device Defender Detect is closed to this account ({_code(error)})",
                "set aisb:behaviorDetection: cloudwatch",
            )
        if listed.get("securityProfileIdentifiers"):
            return Result(
                "detect-available",
                "AISB-5",
                PASS,
                "this account already uses Device Defender Detect (it has security profiles)",
            )
        try:
            clients["iot"].validate_security_profile_behaviors(behaviors=[PROBE_BEHAVIOR])
        except ClientError as error:
            if not closed(error):
                raise
            return Result(
                "detect-available",
                "AISB-5",
                FAIL,
                f"Device Defender Detect refuses this account ({_code(error)})",
                "set aisb:behaviorDetection: cloudwatch",
            )
        return Result(
            "detect-available",
            "AISB-5",
            UNKNOWN,
            "this account has no security profile and Detect validates aisb's behaviours, but "
            "whether Detect (closed to new customers since 31 August 2026) creates a profile "
            "shows only when pulumi up does",
            "if this account never used Detect, set aisb:behaviorDetection: cloudwatch",
        )

    return guarded("detect-available", "AISB-5", check)


def target_groups(
    clients: Clients, settings: Settings, target: Target, state: StackState = NO_STATE
) -> list[Result]:
    """Security profiles attach only to thing groups that exist."""
    if settings.behavior_detection != "ml-detect" or not settings.detect_target_groups:
        return []
    results = []
    for group in settings.detect_target_groups:

        def check(group: str = group) -> Result:
            try:
                clients["iot"].describe_thing_group(thingGroupName=group)
            except ClientError as error:
                if _code(error) != "ResourceNotFoundException":
                    raise
                return Result(
                    f"target-group:{group}",
                    "AISB-5",
                    FAIL,
                    f"thing group {group} does not exist: attaching the profiles fails",
                    f"create the thing group {group}, or remove it from aisb:detectTargetGroups",
                )
            return Result(f"target-group:{group}", "AISB-5", PASS, f"thing group {group} exists")

        results += guarded(f"target-group:{group}", "AISB-5", check)
    return results


def scheduled_audits(
    clients: Clients, settings: Settings, target: Target, state: StackState = NO_STATE
) -> list[Result]:
    """An account allows five scheduled audits; the baseline adds one (unless it has it)."""

    def check() -> Result:
        pages = clients["iot"].get_paginator("list_scheduled_audits").paginate()
        audits = [a for page in pages for a in page.get("scheduledAudits", [])]
        ours = [
            a for a in audits if a.get("scheduledAuditName", "").startswith(f"{BASELINE_NAME}-")
        ]
        others = len(audits) - len(ours)
        if others < SCHEDULED_AUDIT_LIMIT:
            return Result(
                "scheduled-audits",
                "AISB-4",
                PASS,
                f"{len(audits)} scheduled audits ({len(ours)} aisb's); the limit is "
                f"{SCHEDULED_AUDIT_LIMIT}",
            )
        return Result(
            "scheduled-audits",
            "AISB-4",
            FAIL,
            f"{others} scheduled audits not aisb's: the account allows {SCHEDULED_AUDIT_LIMIT}",
            "delete a scheduled audit (aws iot delete-scheduled-audit) before pulumi up",
        )

    return guarded("scheduled-audits", "AISB-4", check)


def _iot_tags(clients: Clients, arn: str) -> dict[str, str]:
    pages = clients["iot"].get_paginator("list_tags_for_resource").paginate(resourceArn=arn)
    return _tag_list(t for page in pages for t in page.get("tags", []))


def fixed_names(
    clients: Clients, settings: Settings, target: Target, state: StackState = NO_STATE
) -> list[Result]:
    """Names aisb fixes (one of each per account and region): another owner's makes creating
    aisb's fail; the stack's own is no conflict."""
    results: list[Result] = []
    if settings.cloud_trail:
        trail = TRAIL_OPTIONS["trail_name"].default

        def trail_check() -> Result:
            found = (
                clients["cloudtrail"]
                .describe_trails(trailNameList=[trail], includeShadowTrails=False)
                .get("trailList", [])
            )
            if not found:
                return Result("name:trail", "AISB-8", PASS, f"no trail named {trail}")
            arn = found[0].get("TrailARN") or target.arn("cloudtrail", f"trail/{trail}")

            def tags() -> dict[str, str]:
                listed = clients["cloudtrail"].list_tags(ResourceIdList=[arn])
                tag_lists = listed.get("ResourceTagList") or [{}]
                return _tag_list(tag_lists[0].get("TagsList"))

            evidence = ownership(state, "aws:cloudtrail/trail:Trail", (trail, arn), tags, "AISB-8")
            if evidence:
                return _owned_result("name:trail", "AISB-8", f"trail {trail}", evidence)
            return Result(
                "name:trail",
                "AISB-8",
                FAIL,
                f"a trail named {trail} exists here and is not this stack's{_why_not(state)}",
                "delete it, or import it if it is aisb's from another stack",
            )

        results += guarded("name:trail", "AISB-8", trail_check)
    if settings.device_logs:
        alias = DEVICE_LOG_OPTIONS["role_alias"].default
        for kind, pulumi_type, call, name, key, arn_key in (
            (
                "role alias",
                "aws:iot/roleAlias:RoleAlias",
                "describe_role_alias",
                alias,
                "roleAlias",
                "roleAliasArn",
            ),
            (
                "job template",
                "aws-native:iot:JobTemplate",
                "describe_job_template",
                f"{alias}-collect",
                "jobTemplateId",
                "jobTemplateArn",
            ),
        ):

            def named_check(
                kind: str = kind,
                pulumi_type: str = pulumi_type,
                call: str = call,
                name: str = name,
                key: str = key,
                arn_key: str = arn_key,
            ) -> Result:
                check_id = f"name:{kind.replace(' ', '-')}"
                try:
                    described = getattr(clients["iot"], call)(**{key: name})
                except ClientError as error:
                    if _code(error) != "ResourceNotFoundException":
                        raise
                    return Result(check_id, "AISB-10", PASS, f"no {kind} named {name}")
                arn = (described.get("roleAliasDescription") or described).get(arn_key)
                evidence = ownership(
                    state,
                    pulumi_type,
                    (name, arn),
                    (lambda: _iot_tags(clients, arn)) if arn else None,
                    "AISB-10",
                )
                if evidence:
                    return _owned_result(check_id, "AISB-10", f"{kind} {name}", evidence)
                return Result(
                    check_id,
                    "AISB-10",
                    FAIL,
                    f"a {kind} named {name} exists here and is not this stack's"
                    f"{_why_not(state)}: creating aisb's fails",
                    f"delete the {kind} {name} first",
                )

            results += guarded(f"name:{kind.replace(' ', '-')}", "AISB-10", named_check)
    return results


# --- the permission simulation -----------------------------------------------------------------

# Cloud Control API actions Pulumi's aws-native provider calls for every resource it manages
# (the provider goes through Cloud Control; the CloudFormation handlers' own permissions are
# the service actions listed with each resource). Cloud Control's actions take no resource
# type (Service Authorization Reference, AWS Cloud Control API:
# https://docs.aws.amazon.com/service-authorization/latest/reference/list_cloudcontrol.html).
CLOUD_CONTROL = (
    "cloudformation:CreateResource",
    "cloudformation:GetResource",
    "cloudformation:UpdateResource",
    "cloudformation:DeleteResource",
    "cloudformation:GetResourceRequestStatus",
    "cloudformation:ListResources",
)


@dataclass(frozen=True)
class Simulation:
    """Actions simulated together: on the ARNs the stack will create (none: ``*``), with the
    request context their conditions test."""

    actions: tuple[str, ...]
    resources: tuple[str, ...] = ()
    context: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    """(condition key, type, values), as IAM's ContextEntries."""
    switch: str = "always"
    why: str = field(default="", compare=False)

    def request(self, principal: str) -> dict[str, Any]:
        params: dict[str, Any] = {"PolicySourceArn": principal, "ActionNames": list(self.actions)}
        if self.resources:
            params["ResourceArns"] = list(self.resources)
        if self.context:
            params["ContextEntries"] = [
                {"ContextKeyName": k, "ContextKeyType": t, "ContextKeyValues": list(v)}
                for k, t, v in self.context
            ]
        return params


def _tagged(control: str, tags: Mapping[str, str]) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    """The context of a create call that tags: ``aws:RequestTag/<key>`` and ``aws:TagKeys``
    (IAM's tag-based access control:
    https://docs.aws.amazon.com/IAM/latest/UserGuide/access_tags.html)."""
    every = {**tags, TAG: control}
    return (
        *((f"aws:RequestTag/{k}", "string", (v,)) for k, v in sorted(every.items())),
        ("aws:TagKeys", "stringList", tuple(sorted(every))),
    )


def _resource_tag(control: str) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    return ((f"aws:ResourceTag/{TAG}", "string", (control,)),)


def _passed_to(service: str) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    return (("iam:PassedToService", "string", (service,)),)


def simulations(settings: Settings, target: Target) -> list[Simulation]:
    """What ``pulumi up`` of this stack calls, on what, with which context."""
    tags = dict(settings.tags or {})
    n = BASELINE_NAME
    t, s = target, EXAMPLE_SUFFIX

    def role(logical: str) -> str:
        return t.arn("iam", f"role/{n}-{logical}{s}", regional=False)

    def bucket(logical: str) -> str:
        return t.arn("s3", f"{n}-{logical}{s}", regional=False, account=False)

    topic = t.arn("sns", f"{n}-alerts-topic{s}")
    key = t.arn("kms", "key/00000000-0000-0000-0000-000000000000")
    out = [
        Simulation(("kms:CreateKey",), (), _tagged("AISB-7", tags)),
        Simulation(("kms:PutKeyPolicy", "kms:EnableKeyRotation"), (key,), _resource_tag("AISB-7")),
        Simulation(
            ("sns:CreateTopic", "sns:SetTopicAttributes", "sns:TagResource", "sns:Subscribe"),
            (topic,),
            _tagged("AISB-7", tags),
        ),
        Simulation(
            ("iam:CreateRole", "iam:PutRolePolicy", "iam:TagRole"),
            (role("logging-role"), role("audit-audit-role"), role("audit-notify-role")),
            _tagged("AISB-4", tags),
        ),
        Simulation(
            ("iam:AttachRolePolicy",),
            (role("audit-audit-role"),),
            (
                (
                    "iam:PolicyARN",
                    "string",
                    (
                        t.arn(
                            "iam",
                            "policy/service-role/AWSIoTDeviceDefenderAudit",
                            regional=False,
                        ).replace(f"::{t.account}:", "::aws:"),
                    ),
                ),
            ),
        ),
        Simulation(
            ("iam:PassRole",),
            (role("logging-role"), role("audit-audit-role"), role("audit-notify-role")),
            _passed_to("iot.amazonaws.com"),
        ),
        Simulation(
            ("logs:CreateLogGroup", "logs:PutRetentionPolicy", "logs:TagResource"),
            (t.arn("logs", f"log-group:{IOT_LOG_GROUP}"),),
            _tagged("AISB-3", tags),
        ),
        Simulation(("iot:SetV2LoggingOptions", "iot:UpdateAccountAuditConfiguration")),
        Simulation(
            ("iot:CreateScheduledAudit", "iot:TagResource"),
            (t.arn("iot", f"scheduledaudit/{n}-audit-schedule{s}"),),
            _tagged("AISB-4", tags),
        ),
        Simulation(
            ("cloudwatch:PutMetricAlarm",),
            (t.arn("cloudwatch", f"alarm:{n}-cert-rotation-errors-alarm{s}"),),
        ),
        Simulation(CLOUD_CONTROL),
        Simulation(
            ("lambda:CreateFunction", "lambda:AddPermission", "lambda:TagResource"),
            (t.arn("lambda", f"function:{n}-cert-rotation-function{s}"),),
            _tagged("AISB-6", tags),
            "cert_rotation",
        ),
        Simulation(
            ("iam:PassRole",),
            (role("cert-rotation-role"),),
            _passed_to("lambda.amazonaws.com"),
            "cert_rotation",
        ),
        Simulation(
            ("events:PutRule", "events:PutTargets"),
            (t.arn("events", f"rule/{n}-cert-rotation-schedule{s}"),),
            (),
            "cert_rotation",
        ),
        Simulation(
            ("sqs:CreateQueue", "sqs:SetQueueAttributes", "sqs:TagQueue"),
            (t.arn("sqs", f"{n}-cert-rotation-dlq{s}"),),
            _tagged("AISB-6", tags),
            "cert_rotation",
        ),
        Simulation(
            ("dynamodb:CreateTable", "dynamodb:TagResource"),
            (t.arn("dynamodb", f"table/{n}-cert-rotation-lock{s}"),),
            _tagged("AISB-6", tags),
            "cert_rotation",
        ),
        Simulation(
            ("access-analyzer:CreateAnalyzer",),
            (t.arn("access-analyzer", f"analyzer/{ANALYZER_OPTIONS['analyzer_name'].default}"),),
            _tagged("AISB-2", tags),
            "access_analyzer",
        ),
        Simulation(
            ("iot:CreateMitigationAction", "iot:CreateThingGroup", "iot:CreatePolicy"),
            (
                t.arn("iot", f"mitigationaction/{n}-mitigations-quarantine{s}"),
                t.arn("iot", f"thinggroup/{n}-mitigations-quarantine-group{s}"),
                t.arn("iot", f"policy/{n}-mitigations-quarantine-policy{s}"),
            ),
            (),
            "mitigation_actions",
        ),
        Simulation(
            ("cloudtrail:CreateTrail", "cloudtrail:AddTags"),
            (t.arn("cloudtrail", f"trail/{TRAIL_OPTIONS['trail_name'].default}"),),
            _tagged("AISB-8", tags),
            "cloud_trail",
        ),
        Simulation(
            ("s3:CreateBucket", "s3:PutBucketPolicy", "s3:PutBucketTagging"),
            (bucket("trail-bucket"),),
            (),
            "cloud_trail",
        ),
        Simulation(("guardduty:CreateDetector",), (), _tagged("AISB-9", tags), "guard_duty"),
        Simulation(
            ("events:PutRule", "events:PutTargets"),
            (t.arn("events", f"rule/{n}-guardduty-findings"),),
            (),
            "guard_duty",
        ),
        Simulation(
            ("iot:CreateRoleAlias", "iot:CreateJobTemplate"),
            (
                t.arn("iot", f"rolealias/{DEVICE_LOG_OPTIONS['role_alias'].default}"),
                t.arn("iot", f"jobtemplate/{DEVICE_LOG_OPTIONS['role_alias'].default}-collect"),
            ),
            (),
            "device_logs",
        ),
        Simulation(
            ("iam:PassRole",),
            (role("device-logs-role"),),
            _passed_to("credentials.iot.amazonaws.com"),
            "device_logs",
        ),
        Simulation(("s3:CreateBucket",), (bucket("device-logs-bucket"),), (), "device_logs"),
    ]
    if settings.behavior_detection == "ml-detect":
        out.append(
            Simulation(
                ("iot:CreateSecurityProfile",),
                (t.arn("iot", f"securityprofile/{n}-behavior-ml-profile{s}"),),
                (),
            )
        )
    return [sim for sim in out if sim.switch == "always" or getattr(settings, sim.switch)]


def needed_actions(settings: Settings, target: Target | None = None) -> list[str]:
    """The actions ``pulumi up`` of this stack calls."""
    where = target or Target("stack", "123456789012", "us-east-1", "aws")
    return sorted({a for sim in simulations(settings, where) for a in sim.actions})


def principal(clients: Clients, caller_arn: str) -> tuple[str | None, str]:
    """The IAM principal the simulator evaluates for the caller, and how it was found: an
    assumed role's role ARN as IAM returns it (``iam:GetRole``, which keeps its path, such as
    ``/aws-reserved/sso.amazonaws.com/`` for IAM Identity Center roles), a user or role as is."""
    parts = caller_arn.split(":", 5)
    if len(parts) < 6:
        return None, f"IAM cannot simulate the policies of {caller_arn}"
    resource = parts[5]
    if resource.startswith("assumed-role/"):
        name = resource.split("/")[1]
        role = clients["iam"].get_role(RoleName=name)["Role"]
        return str(role["Arn"]), "iam:GetRole"
    if resource.startswith(("user/", "role/")):
        return caller_arn, "the caller"
    return None, f"IAM cannot simulate the policies of {caller_arn}"


def permissions(
    clients: Clients, settings: Settings, target: Target, state: StackState = NO_STATE
) -> list[Result]:
    """Whether the caller may do what ``pulumi up`` does, as IAM evaluates it: each action on
    the ARNs the stack will create, with the context its conditions test, every page read."""

    def check() -> Result:
        caller = clients["sts"].get_caller_identity()["Arn"]
        source, how = principal(clients, caller)
        if source is None:
            return Result("permissions", None, UNKNOWN, how)
        sims = simulations(settings, target)
        denied: list[str] = []
        count = 0
        for sim in sims:
            pages = (
                clients["iam"]
                .get_paginator("simulate_principal_policy")
                .paginate(**sim.request(source))
            )
            for page in pages:
                for result in page.get("EvaluationResults", []):
                    count += 1
                    if result.get("EvalDecision") != "allowed":
                        on = result.get("EvalResourceName") or "*"
                        denied.append(f"{result['EvalActionName']} on {on}")
        if denied:
            return Result(
                "permissions",
                None,
                FAIL,
                f"{source} may not: {', '.join(sorted(set(denied)))}",
                "grant these actions to the identity that runs pulumi up (the deploy role: "
                "deploy-role/aisb-deployer.yaml)",
            )
        actions = {a for sim in sims for a in sim.actions}
        return Result(
            "permissions",
            None,
            PASS,
            f"{source} may do the {len(actions)} actions needed ({count} evaluations on the "
            "stack's ARNs with their request context)",
        )

    return guarded("permissions", None, check)


CHECKS: tuple[Check, ...] = (
    audit_configuration,
    iot_log_group,
    access_analyzer,
    guardduty_detector,
    lambda_concurrency,
    detect_available,
    target_groups,
    scheduled_audits,
    fixed_names,
    permissions,
    *hub_checks.PREFLIGHT,
)
SERVICES = (
    "iot",
    "logs",
    "accessanalyzer",
    "guardduty",
    "lambda",
    "cloudtrail",
    "sts",
    "iam",
    "securityhub",
)
OPERATIONS = (
    "iot:DescribeAccountAuditConfiguration",
    "iam:GetRole",
    "logs:DescribeLogGroups",
    "logs:ListTagsForResource",
    "access-analyzer:ListAnalyzers",
    "guardduty:ListDetectors",
    "guardduty:GetDetector",
    "lambda:GetAccountSettings",
    "iot:ListSecurityProfiles",
    "iot:ValidateSecurityProfileBehaviors",
    "iot:DescribeThingGroup",
    "iot:ListScheduledAudits",
    "cloudtrail:DescribeTrails",
    "cloudtrail:ListTags",
    "iot:DescribeRoleAlias",
    "iot:DescribeJobTemplate",
    "iot:ListTagsForResource",
    "sts:GetCallerIdentity",
    "iam:SimulatePrincipalPolicy",
    "securityhub:DescribeHub",
    "securityhub:ListEnabledProductsForImport",
    "iot:DescribeDomainConfiguration",
)
"""Every API operation preflight may call (IAM action names)."""


def preflight(
    clients: Clients, settings: Settings, target: Target, state: StackState = NO_STATE
) -> list[Result]:
    """Every check, in order."""
    return [result for check in CHECKS for result in check(clients, settings, target, state)]
