"""``aisb preflight``: what would make ``pulumi up`` of a stack fail, or a control not work,
in the account and region the stack targets, read before anything is deployed.

Each check is a function of boto3 clients and the stack's validated settings returning
results; reads only (the IAM permissions it needs are in the README).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from aisb.cli import hub_checks
from aisb.cli.results import FAIL, PASS, UNKNOWN, Result, guarded
from aisb.components.device_logs import OPTIONS as DEVICE_LOG_OPTIONS
from aisb.components.iot_logging import IOT_LOG_GROUP
from aisb.components.trail import OPTIONS as TRAIL_OPTIONS
from aisb.settings import BASELINE_NAME, Settings

# Lambda keeps this many unreserved concurrent executions per account: a reservation that
# would leave fewer is refused (https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html).
LAMBDA_UNRESERVED_MINIMUM = 10
# An account allows at most five scheduled audits
# (https://docs.aws.amazon.com/iot-device-defender/latest/devguide/AuditCommands.html).
SCHEDULED_AUDIT_LIMIT = 5


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


Clients = Mapping[str, Any]
Check = Callable[[Clients, Settings, Target], list[Result]]


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def audit_configuration(clients: Clients, settings: Settings, target: Target) -> list[Result]:
    """An account audit configuration made before (console, another tool) makes creating
    aisb's fail: the CloudFormation handler behind aws-native refuses one that differs."""

    def check() -> Result:
        described = clients["iot"].describe_account_audit_configuration()
        if not described.get("roleArn"):
            return Result("audit-configuration", "AISB-4", PASS, "no audit configuration yet")
        parent = target.urn(
            "aisb:index:IotSecurityBaseline$aisb:index:DeviceDefenderAudit",
            f"{BASELINE_NAME}-audit",
        )
        return Result(
            "audit-configuration",
            "AISB-4",
            FAIL,
            f"this account already has a Device Defender audit configuration (role "
            f"{described['roleArn']}): creating aisb's fails",
            "after a first `pulumi up` stops on it, import it: pulumi import "
            f"aws-native:iot:AccountAuditConfiguration {BASELINE_NAME}-audit-configuration "
            f"{target.account} --parent 'audit={parent}' --protect=false --generate-code=false",
        )

    return guarded("audit-configuration", "AISB-4", check)


def iot_log_group(clients: Clients, settings: Settings, target: Target) -> list[Result]:
    """AWS IoT creates AWSIotLogsV2 when logging was ever on; creating it again fails."""

    def check() -> Result:
        groups = clients["logs"].describe_log_groups(logGroupNamePrefix=IOT_LOG_GROUP)
        if not any(g["logGroupName"] == IOT_LOG_GROUP for g in groups.get("logGroups", [])):
            return Result("iot-log-group", "AISB-3", PASS, f"no {IOT_LOG_GROUP} log group yet")
        parent = target.urn(
            "aisb:index:IotSecurityBaseline$aisb:index:IotLogging", f"{BASELINE_NAME}-logging"
        )
        return Result(
            "iot-log-group",
            "AISB-3",
            FAIL,
            f"the {IOT_LOG_GROUP} log group exists: creating it fails",
            "after a first `pulumi up` stops on it, import it: pulumi import "
            f"aws:cloudwatch/logGroup:LogGroup {BASELINE_NAME}-logging-log-group {IOT_LOG_GROUP} "
            f"--parent 'logging={parent}' --protect=false --generate-code=false",
        )

    return guarded("iot-log-group", "AISB-3", check)


def access_analyzer(clients: Clients, settings: Settings, target: Target) -> list[Result]:
    """An account-zone analyzer the organisation made conflicts with aisb's."""
    if not settings.access_analyzer:
        return []

    def check() -> Result:
        analyzers = clients["accessanalyzer"].list_analyzers(type="ACCOUNT").get("analyzers", [])
        if not analyzers:
            return Result("access-analyzer", "AISB-2", PASS, "no account-zone analyzer yet")
        names = ", ".join(a["name"] for a in analyzers)
        return Result(
            "access-analyzer",
            "AISB-2",
            FAIL,
            f"the account already has an account-zone analyzer ({names})",
            "set aisb:accessAnalyzer: false (the existing one serves AISB #2)",
        )

    return guarded("access-analyzer", "AISB-2", check)


def guardduty_detector(clients: Clients, settings: Settings, target: Target) -> list[Result]:
    """GuardDuty allows one detector per account and region."""
    if not settings.guard_duty:
        return []

    def check() -> Result:
        detectors = clients["guardduty"].list_detectors().get("DetectorIds", [])
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
        return Result(
            "guardduty-detector",
            "AISB-9",
            FAIL,
            f"a GuardDuty detector exists ({detectors[0]}): creating another fails",
            f"set aisb:guardDutyDetectorId: {detectors[0]}",
        )

    return guarded("guardduty-detector", "AISB-9", check)


def lambda_concurrency(clients: Clients, settings: Settings, target: Target) -> list[Result]:
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
        return Result(
            "lambda-concurrency",
            "AISB-6",
            PASS,
            f"{detail}; aisb reserves none (at least {LAMBDA_UNRESERVED_MINIMUM} stay unreserved)",
        )

    return guarded("lambda-concurrency", "AISB-6", check)


def detect_available(clients: Clients, settings: Settings, target: Target) -> list[Result]:
    """Device Defender Detect answers accounts closed to it with UnauthorizedException."""
    if settings.behavior_detection != "ml-detect":
        return []

    def check() -> Result:
        try:
            clients["iot"].list_security_profiles(maxResults=1)
        except ClientError as error:
            if _code(error) != "UnauthorizedException":
                raise
            return Result(
                "detect-available",
                "AISB-5",
                FAIL,
                "Device Defender Detect is closed to this account (UnauthorizedException)",
                "set aisb:behaviorDetection: cloudwatch",
            )
        return Result("detect-available", "AISB-5", PASS, "Device Defender Detect answers")

    return guarded("detect-available", "AISB-5", check)


def target_groups(clients: Clients, settings: Settings, target: Target) -> list[Result]:
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


def scheduled_audits(clients: Clients, settings: Settings, target: Target) -> list[Result]:
    """An account allows five scheduled audits; the baseline adds one."""

    def check() -> Result:
        audits = clients["iot"].list_scheduled_audits(maxResults=250).get("scheduledAudits", [])
        ours = [
            a for a in audits if a.get("scheduledAuditName", "").startswith(f"{BASELINE_NAME}-")
        ]
        others = len(audits) - len(ours)
        if others < SCHEDULED_AUDIT_LIMIT:
            return Result(
                "scheduled-audits",
                "AISB-4",
                PASS,
                f"{len(audits)} scheduled audits; the limit is {SCHEDULED_AUDIT_LIMIT}",
            )
        return Result(
            "scheduled-audits",
            "AISB-4",
            FAIL,
            f"{others} scheduled audits not aisb's: the account allows {SCHEDULED_AUDIT_LIMIT}",
            "delete a scheduled audit (aws iot delete-scheduled-audit) before pulumi up",
        )

    return guarded("scheduled-audits", "AISB-4", check)


def fixed_names(clients: Clients, settings: Settings, target: Target) -> list[Result]:
    """Names aisb fixes (one of each per account and region): another owner's makes creating
    aisb's fail."""
    results: list[Result] = []
    if settings.cloud_trail:
        trail = TRAIL_OPTIONS["trail_name"].default

        def trail_check() -> Result:
            found = clients["cloudtrail"].describe_trails(
                trailNameList=[trail], includeShadowTrails=False
            )
            if not found.get("trailList"):
                return Result("name:trail", "AISB-8", PASS, f"no trail named {trail}")
            return Result(
                "name:trail",
                "AISB-8",
                FAIL,
                f"a trail named {trail} exists here",
                "delete it, or import it if it is aisb's from another stack",
            )

        results += guarded("name:trail", "AISB-8", trail_check)
    if settings.device_logs:
        alias = DEVICE_LOG_OPTIONS["role_alias"].default
        for kind, call, name, key in (
            ("role alias", "describe_role_alias", alias, "roleAlias"),
            ("job template", "describe_job_template", f"{alias}-collect", "jobTemplateId"),
        ):

            def named_check(
                kind: str = kind, call: str = call, name: str = name, key: str = key
            ) -> Result:
                check_id = f"name:{kind.replace(' ', '-')}"
                try:
                    getattr(clients["iot"], call)(**{key: name})
                except ClientError as error:
                    if _code(error) != "ResourceNotFoundException":
                        raise
                    return Result(check_id, "AISB-10", PASS, f"no {kind} named {name}")
                return Result(
                    check_id,
                    "AISB-10",
                    FAIL,
                    f"a {kind} named {name} exists here: creating aisb's fails",
                    f"delete the {kind} {name} first",
                )

            results += guarded(f"name:{kind.replace(' ', '-')}", "AISB-10", named_check)
    return results


# What `pulumi up` of the baseline calls, by the setting that needs it: the caller is asked
# about these through IAM's policy simulator.
ACTIONS: dict[str, tuple[str, ...]] = {
    "always": (
        "iam:CreateRole",
        "iam:PutRolePolicy",
        "iam:AttachRolePolicy",
        "iam:PassRole",
        "kms:CreateKey",
        "kms:PutKeyPolicy",
        "sns:CreateTopic",
        "sns:SetTopicAttributes",
        "sns:Subscribe",
        "logs:CreateLogGroup",
        "logs:PutRetentionPolicy",
        "iot:SetV2LoggingOptions",
        "iot:UpdateAccountAuditConfiguration",
        "iot:CreateScheduledAudit",
        "cloudwatch:PutMetricAlarm",
    ),
    "cert_rotation": (
        "lambda:CreateFunction",
        "lambda:AddPermission",
        "events:PutRule",
        "events:PutTargets",
        "sqs:CreateQueue",
        "dynamodb:CreateTable",
    ),
    "access_analyzer": ("access-analyzer:CreateAnalyzer",),
    "mitigation_actions": (
        "iot:CreateMitigationAction",
        "iot:CreateThingGroup",
        "iot:CreatePolicy",
    ),
    "cloud_trail": ("cloudtrail:CreateTrail", "s3:CreateBucket", "s3:PutBucketPolicy"),
    "guard_duty": ("guardduty:CreateDetector", "events:PutRule", "events:PutTargets"),
    "device_logs": ("iot:CreateRoleAlias", "iot:CreateJobTemplate", "s3:CreateBucket"),
}


def needed_actions(settings: Settings) -> list[str]:
    """The actions ``pulumi up`` of this stack calls."""
    actions = list(ACTIONS["always"])
    for switch, extra in ACTIONS.items():
        if switch != "always" and getattr(settings, switch):
            actions += extra
    if settings.behavior_detection == "ml-detect":
        actions.append("iot:CreateSecurityProfile")
    return sorted(set(actions))


def role_arn(caller_arn: str) -> str | None:
    """The IAM principal the simulator can evaluate: an assumed role's role, a user as is."""
    parts = caller_arn.split(":")
    if len(parts) < 6:
        return None
    resource = parts[5]
    if resource.startswith("assumed-role/"):
        role = resource.split("/")[1]
        return ":".join([*parts[:2], "iam", "", parts[4], f"role/{role}"])
    if resource.startswith(("user/", "role/")):
        return caller_arn
    return None


def permissions(clients: Clients, settings: Settings, target: Target) -> list[Result]:
    """Whether the caller may do what ``pulumi up`` does, where IAM can simulate it."""

    def check() -> Result:
        caller = clients["sts"].get_caller_identity()["Arn"]
        principal = role_arn(caller)
        if principal is None:
            return Result(
                "permissions", None, UNKNOWN, f"IAM cannot simulate the policies of {caller}"
            )
        actions = needed_actions(settings)
        evaluated = clients["iam"].simulate_principal_policy(
            PolicySourceArn=principal, ActionNames=actions
        )["EvaluationResults"]
        denied = sorted(r["EvalActionName"] for r in evaluated if r["EvalDecision"] != "allowed")
        if denied:
            return Result(
                "permissions",
                None,
                FAIL,
                f"{principal} may not: {', '.join(denied)}",
                "grant these actions to the identity that runs pulumi up",
            )
        return Result(
            "permissions", None, PASS, f"{principal} may do the {len(actions)} actions needed"
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


def preflight(clients: Clients, settings: Settings, target: Target) -> list[Result]:
    """Every check, in order."""
    return [result for check in CHECKS for result in check(clients, settings, target)]
