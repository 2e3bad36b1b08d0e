"""``aisb check``: the deployed baseline's posture, control by control.

It finds what the baseline deployed by the ``aisb:control`` tag every taggable resource
carries (the Resource Groups Tagging API), and by the names AWS fixes (logging options, the
audit configuration, the trail), then asks each service whether the control works: logs at
the configured level, the audit configured and scheduled as the stack says and notifying the
topic, security profiles attached, alert subscriptions confirmed, the certificate monitor's
last run and dead-letter queue, certificate ages, the trail logging, GuardDuty enabled and its
findings delivered, the Access Analyzer active. Reads only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from aisb.baseline import FINDINGS_RULE
from aisb.catalog import AUDIT_CHECKS, scheduled_audit_checks
from aisb.components.access_analyzer import OPTIONS as ANALYZER_OPTIONS
from aisb.components.trail import OPTIONS as TRAIL_OPTIONS
from aisb.functions.cert_rotation.handler import (
    COUNTED_STATUSES,
    ScanState,
    certificate_pages,
    classify,
)
from aisb.settings import BASELINE_NAME, Settings
from aisb_tools.cli import hub_checks
from aisb_tools.cli.results import FAIL, PASS, UNKNOWN, Result, guarded

Clients = Mapping[str, Any]
Check = Callable[[Clients, Settings], list[Result]]
# How far back the alarms' metrics are read: a day and the certificate scan interval.
LOOKBACK = timedelta(days=1)
# CloudTrail delivers log files about every 5 minutes and digest files once an hour
# (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/how-cloudtrail-works.html,
# https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-validation-intro.html):
# a trail with nothing delivered for longer than these (after logging started) is not delivering.
TRAIL_DELIVERY_WITHIN = timedelta(hours=1)
TRAIL_DIGEST_WITHIN = timedelta(hours=3)
TAG = "aisb:control"


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def tagged(clients: Clients, control: str, resource_type: str) -> list[str]:
    """The ARNs of the resources of a type the baseline tagged for a control."""
    paginator = clients["resourcegroupstaggingapi"].get_paginator("get_resources")
    arns: list[str] = []
    for page in paginator.paginate(
        TagFilters=[{"Key": "aisb:control", "Values": [control]}],
        ResourceTypeFilters=[resource_type],
    ):
        arns += [r["ResourceARN"] for r in page.get("ResourceTagMappingList", [])]
    return sorted(arns)


MONITOR_FUNCTION = f"{BASELINE_NAME}-cert-rotation-function-"
"""How the certificate monitor's function name starts: the baseline's monitor is
``<baseline>-cert-rotation`` (``aisb.baseline``), its function ``<monitor>-function``
(``aisb.components.cert_rotation``), and Pulumi adds a random suffix. The rotation's functions
carry the same ``aisb:control`` tag (AISB-6)."""


def is_monitor(function_arn: str) -> bool:
    """Whether a function tagged AISB-6 is the certificate monitor (not one of the rotation's)."""
    return function_arn.rsplit(":", 1)[-1].startswith(MONITOR_FUNCTION)


def _metric_sum(
    clients: Clients, namespace: str, metric: str, dimension: dict[str, str], since: timedelta
) -> float:
    now = datetime.now(UTC)
    stats = clients["cloudwatch"].get_metric_statistics(
        Namespace=namespace,
        MetricName=metric,
        Dimensions=[{"Name": k, "Value": v} for k, v in dimension.items()],
        StartTime=now - since,
        EndTime=now,
        Period=int(since.total_seconds()),
        Statistics=["Sum"],
    )
    return float(sum(p["Sum"] for p in stats.get("Datapoints", [])))


def logging_level(clients: Clients, settings: Settings) -> list[Result]:
    """IoT logging is configured, on, at the stack's level and with its role."""

    def check() -> Result:
        try:
            options = clients["iot"].get_v2_logging_options()
        except ClientError as error:
            if _code(error) != "NotConfiguredException":
                raise
            return Result(
                "iot-logging",
                "AISB-3",
                FAIL,
                "IoT logging is not configured (NotConfiguredException): the control is gone",
                "run pulumi up",
            )
        level, disabled = options.get("defaultLogLevel"), options.get("disableAllLogs", False)
        wanted = settings.iot_log_level
        if wanted != "DISABLED" and (disabled or level != wanted or not options.get("roleArn")):
            return Result(
                "iot-logging",
                "AISB-3",
                FAIL,
                f"IoT logs at {level} (all disabled: {disabled}); the stack says {wanted}",
                "run pulumi up: something changed the logging options",
            )
        return Result("iot-logging", "AISB-3", PASS, f"IoT logs at {level}")

    return guarded("iot-logging", "AISB-3", check)


def audit(clients: Clients, settings: Settings) -> list[Result]:
    """The audit configuration: the checks the stack enables, and notifications to a topic."""

    def check() -> list[Result]:
        described = clients["iot"].describe_account_audit_configuration()
        configured = described.get("auditCheckConfigurations", {})
        wanted = {c.name for c in AUDIT_CHECKS} - set(settings.audit_checks_disabled)
        on = {name for name, c in configured.items() if c.get("enabled")}
        results = []
        if on == wanted:
            results.append(
                Result("audit-checks", "AISB-4", PASS, f"{len(on)} audit checks enabled as set")
            )
        else:
            results.append(
                Result(
                    "audit-checks",
                    "AISB-4",
                    FAIL,
                    "audit checks differ from the stack: off but wanted "
                    f"{sorted(wanted - on)}, on but not wanted {sorted(on - wanted)}",
                    "run pulumi up",
                )
            )
        sns = described.get("auditNotificationTargetConfigurations", {}).get("SNS", {})
        topics = tagged(clients, "AISB-7", "sns:topic")
        if sns.get("enabled") and sns.get("targetArn") in topics:
            results.append(
                Result("audit-notifications", "AISB-7", PASS, f"findings go to {sns['targetArn']}")
            )
        else:
            results.append(
                Result(
                    "audit-notifications",
                    "AISB-7",
                    FAIL,
                    f"audit findings are not sent to the alert topic ({sns or 'no target'})",
                    "run pulumi up",
                )
            )
        return results

    return guarded("audit-configuration", "AISB-4", check)


def schedule(clients: Clients, settings: Settings) -> list[Result]:
    """The scheduled audit: present, at the frequency set, over the checks it can run."""

    def check() -> Result:
        pages = clients["iot"].get_paginator("list_scheduled_audits").paginate()
        audits = [a for page in pages for a in page.get("scheduledAudits", [])]
        ours = [
            a
            for a in audits
            if a.get("scheduledAuditName", "").startswith(f"{BASELINE_NAME}-audit-")
        ]
        if not ours:
            return Result(
                "scheduled-audit", "AISB-4", FAIL, "no aisb scheduled audit", "run pulumi up"
            )
        described = clients["iot"].describe_scheduled_audit(
            scheduledAuditName=ours[0]["scheduledAuditName"]
        )
        wanted = scheduled_audit_checks(
            frozenset(c.name for c in AUDIT_CHECKS) - set(settings.audit_checks_disabled)
        )
        if (
            described.get("frequency") == settings.audit_frequency
            and sorted(described.get("targetCheckNames", [])) == wanted
        ):
            return Result(
                "scheduled-audit",
                "AISB-4",
                PASS,
                f"{settings.audit_frequency} audit of {len(wanted)} checks",
            )
        return Result(
            "scheduled-audit",
            "AISB-4",
            FAIL,
            f"the scheduled audit runs {described.get('frequency')} over "
            f"{len(described.get('targetCheckNames', []))} checks; the stack says "
            f"{settings.audit_frequency} over {len(wanted)}",
            "run pulumi up",
        )

    return guarded("scheduled-audit", "AISB-4", check)


def security_profiles(clients: Clients, settings: Settings) -> list[Result]:
    """ML Detect's profiles exist and are attached to their targets."""
    if settings.behavior_detection != "ml-detect":
        return []

    def check() -> list[Result]:
        profiles = tagged(clients, "AISB-5", "iot:securityprofile")
        if not profiles:
            return [Result("security-profiles", "AISB-5", FAIL, "no aisb security profile")]
        results = []
        for arn in profiles:
            name = arn.rsplit("/", 1)[-1]
            pages = (
                clients["iot"]
                .get_paginator("list_targets_for_security_profile")
                .paginate(securityProfileName=name)
            )
            attached = [t for page in pages for t in page.get("securityProfileTargets", [])]
            results.append(
                Result(
                    f"security-profile:{name}",
                    "AISB-5",
                    PASS if attached else FAIL,
                    f"attached to {len(attached)} targets" if attached else "attached to nothing",
                    None if attached else "run pulumi up",
                )
            )
        return results

    return guarded("security-profiles", "AISB-5", check)


def subscriptions(clients: Clients, settings: Settings) -> list[Result]:
    """Alerts reach an address only once its subscription is confirmed."""

    def check() -> list[Result]:
        topics = tagged(clients, "AISB-7", "sns:topic")
        if not topics:
            return [Result("alert-topic", "AISB-7", FAIL, "no aisb alert topic", "run pulumi up")]
        pages = (
            clients["sns"].get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topics[0])
        )
        subs = [sub for page in pages for sub in page.get("Subscriptions", [])]
        pending = [s for s in subs if s["SubscriptionArn"] == "PendingConfirmation"]
        if not subs:
            return [Result("alert-subscriptions", "AISB-7", FAIL, "nobody is subscribed")]
        if pending:
            return [
                Result(
                    "alert-subscriptions",
                    "AISB-7",
                    FAIL,
                    f"{len(pending)} of {len(subs)} subscriptions unconfirmed: alerts go nowhere "
                    "for them",
                    "confirm the SNS e-mail (or `aws sns subscribe` again to resend it)",
                )
            ]
        return [Result("alert-subscriptions", "AISB-7", PASS, f"{len(subs)} confirmed")]

    return guarded("alert-subscriptions", "AISB-7", check)


def certificate_monitor(clients: Clients, settings: Settings) -> list[Result]:
    """The certificate monitor's last runs did not fail, nor, with rotation jobs, the
    rotation's functions in the last day; nothing waits in the dead-letter queues of either."""
    if not (settings.cert_rotation or settings.cert_rotation_jobs):
        return []

    def errors_of(function_arn: str, since: timedelta) -> int:
        name = function_arn.rsplit(":", 1)[-1]
        return int(_metric_sum(clients, "AWS/Lambda", "Errors", {"FunctionName": name}, since))

    def check() -> list[Result]:
        functions = tagged(clients, "AISB-6", "lambda:function")
        queues = tagged(clients, "AISB-6", "sqs")
        results = []
        if settings.cert_rotation:
            monitor = [f for f in functions if is_monitor(f)]
            if not monitor:
                return [
                    Result("cert-monitor", "AISB-6", FAIL, "no certificate monitor", "pulumi up")
                ]
            name = monitor[0].rsplit(":", 1)[-1]
            since = timedelta(days=settings.cert_scan_interval_days) + LOOKBACK
            errors = errors_of(monitor[0], since)
            results.append(
                Result(
                    "cert-monitor-runs",
                    "AISB-6",
                    FAIL if errors else PASS,
                    f"{errors} failed runs of {name} in the last {since.days} days",
                    "read the function's log group" if errors else None,
                )
            )
        if settings.cert_rotation_jobs:
            rotation = [f for f in functions if not is_monitor(f)]
            if not rotation:
                results.append(
                    Result(
                        "rotation-runs",
                        "AISB-6",
                        FAIL,
                        "no certificate rotation functions",
                        "pulumi up",
                    )
                )
            else:
                failed = {f.rsplit(":", 1)[-1]: errors_of(f, LOOKBACK) for f in rotation}
                bad = {name: n for name, n in failed.items() if n}
                detail = ", ".join(f"{n} of {name}" for name, n in sorted(bad.items()))
                results.append(
                    Result(
                        "rotation-runs",
                        "AISB-6",
                        FAIL if bad else PASS,
                        f"failed runs in the last day: {detail}"
                        if bad
                        else f"no failed runs of the {len(rotation)} rotation functions in the "
                        "last day",
                        "read the functions' log groups" if bad else None,
                    )
                )
        for arn in queues:
            url = clients["sqs"].get_queue_url(QueueName=arn.rsplit(":", 1)[-1])["QueueUrl"]
            waiting = int(
                clients["sqs"].get_queue_attributes(
                    QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
                )["Attributes"]["ApproximateNumberOfMessages"]
            )
            results.append(
                Result(
                    "cert-monitor-dead-letters",
                    "AISB-6",
                    FAIL if waiting else PASS,
                    f"{waiting} undelivered messages wait in {arn.rsplit(':', 1)[-1]}",
                    "read the messages, then purge the queue" if waiting else None,
                )
            )
        return results

    return guarded("cert-monitor", "AISB-6", check)


def certificate_ages(
    clients: Clients, settings: Settings, progress: Callable[[int], None] = lambda n: None
) -> list[Result]:
    """Certificates at least the rotation period old, streamed at the API's pace with the
    scanner's own backoff; ``progress`` hears the count after each page."""

    def check() -> Result:
        now = datetime.now(UTC)
        state, seen, due = ScanState.start(now), 0, 0
        for page in certificate_pages(clients["iot"], state):
            for cert in page:
                seen += 1
                created = cert["creationDate"]
                created = created if created.tzinfo else created.replace(tzinfo=UTC)
                if (
                    cert.get("status") in COUNTED_STATUSES
                    and classify(created, now, settings.cert_max_age_days, 0) == "due"
                ):
                    due += 1
            progress(seen)
        return Result(
            "certificate-ages",
            "AISB-6",
            FAIL if due else PASS,
            f"{due} of {seen} certificates are at least {settings.cert_max_age_days} days old",
            "rotate them (the monitor's report lists them)" if due else None,
        )

    return guarded("certificate-ages", "AISB-6", check)


def _age(now: datetime, when: Any) -> timedelta | None:
    if not isinstance(when, datetime):
        return None
    return now - (when if when.tzinfo else when.replace(tzinfo=UTC))


def trail(clients: Clients, settings: Settings) -> list[Result]:
    """The trail logs, and its log and digest files were delivered lately: an error older than
    the latest delivery is past; one newer, or no delivery for too long, fails."""
    if not settings.cloud_trail:
        return []

    def check() -> Result:
        name = TRAIL_OPTIONS["trail_name"].default
        try:
            status = clients["cloudtrail"].get_trail_status(Name=name)
        except ClientError as error:
            if _code(error) != "TrailNotFoundException":
                raise
            return Result(
                "trail",
                "AISB-8",
                FAIL,
                f"no trail {name} (TrailNotFoundException)",
                "run pulumi up",
            )
        now = datetime.now(UTC)
        if not status.get("IsLogging"):
            return Result("trail", "AISB-8", FAIL, f"{name} is not logging", "run pulumi up")
        started = _age(now, status.get("StartLoggingTime"))
        problems = []
        for what, time_key, error_key, within in (
            ("log files", "LatestDeliveryTime", "LatestDeliveryError", TRAIL_DELIVERY_WITHIN),
            (
                "digest files",
                "LatestDigestDeliveryTime",
                "LatestDigestDeliveryError",
                TRAIL_DIGEST_WITHIN,
            ),
        ):
            age, failure = _age(now, status.get(time_key)), status.get(error_key)
            if age is None:
                if started is not None and started < within:
                    continue  # logging started lately: nothing is due yet
                problems.append(f"no {what} delivered" + (f" ({failure})" if failure else ""))
            elif age > within:
                problems.append(
                    f"{what} last delivered {int(age.total_seconds() // 60)} minutes ago"
                    + (f" (error: {failure})" if failure else "")
                )
        if problems:
            return Result(
                "trail",
                "AISB-8",
                FAIL,
                f"{name}: " + "; ".join(problems),
                "check the bucket and key policies, then run pulumi up",
            )
        if status.get("LatestDeliveryTime") is None:
            return Result(
                "trail",
                "AISB-8",
                UNKNOWN,
                f"{name} is logging; nothing delivered yet (started lately)",
            )
        return Result(
            "trail", "AISB-8", PASS, f"{name} is logging and delivering log and digest files"
        )

    return guarded("trail", "AISB-8", check)


def guardduty(clients: Clients, settings: Settings) -> list[Result]:
    """The stack's detector is enabled (the one it adopted, or the one it tagged), and its
    findings rule exists, targets the alert topic and did not fail to deliver."""
    if not settings.guard_duty:
        return []

    def check() -> list[Result]:
        pages = clients["guardduty"].get_paginator("list_detectors").paginate()
        detectors = [d for page in pages for d in page.get("DetectorIds", [])]
        adopted = settings.guard_duty_detector_id
        ours, status = None, None
        for detector in detectors:
            if adopted and detector != adopted:
                continue
            described = clients["guardduty"].get_detector(DetectorId=detector)
            if adopted or (described.get("Tags") or {}).get(TAG) == "AISB-9":
                ours, status = detector, described.get("Status")
                break
        if ours is None:
            what = (
                f"detector {adopted} (aisb:guardDutyDetectorId)"
                if adopted
                else (f"detector tagged {TAG}=AISB-9")
            )
            return [
                Result(
                    "guardduty",
                    "AISB-9",
                    FAIL,
                    f"no {what} among {len(detectors)} detectors in this region",
                    "run pulumi up",
                )
            ]
        results = [
            Result(
                "guardduty",
                "AISB-9",
                PASS if status == "ENABLED" else FAIL,
                f"detector {ours} is {status}",
                None if status == "ENABLED" else "enable the detector",
            )
        ]
        return results + _findings_delivery(clients)

    return guarded("guardduty", "AISB-9", check)


def _findings_delivery(clients: Clients) -> list[Result]:
    rule = f"{BASELINE_NAME}{FINDINGS_RULE}"
    try:
        described = clients["events"].describe_rule(Name=rule)
    except ClientError as error:
        if _code(error) != "ResourceNotFoundException":
            raise
        return [
            Result(
                "guardduty-delivery", "AISB-9", FAIL, f"no findings rule {rule}", "run pulumi up"
            )
        ]
    if described.get("State") != "ENABLED":
        return [
            Result(
                "guardduty-delivery",
                "AISB-9",
                FAIL,
                f"the findings rule {rule} is {described.get('State')}",
                "run pulumi up",
            )
        ]
    topics = set(tagged(clients, "AISB-7", "sns:topic"))
    pages = clients["events"].get_paginator("list_targets_by_rule").paginate(Rule=rule)
    targets = {t["Arn"] for page in pages for t in page.get("Targets", [])}
    if not topics & targets:
        return [
            Result(
                "guardduty-delivery",
                "AISB-9",
                FAIL,
                f"the findings rule {rule} does not target the alert topic",
                "run pulumi up",
            )
        ]
    failed = _metric_sum(clients, "AWS/Events", "FailedInvocations", {"RuleName": rule}, LOOKBACK)
    return [
        Result(
            "guardduty-delivery",
            "AISB-9",
            FAIL if failed else PASS,
            f"rule {rule} targets the alert topic; {int(failed)} findings failed to reach it "
            "in a day",
            "check the topic and key policies; the findings wait in the dead-letter queue"
            if failed
            else None,
        )
    ]


def rotation_job_events(clients: Clients, settings: Settings) -> list[Result]:
    """With rotation jobs on: the account's job execution events are on. The rotation hears of
    each job's outcome only through them, and ``pulumi up`` does not turn them back on (the
    program leaves the setting alone after creating it: ``aisb.components.rotation``)."""
    if not settings.cert_rotation_jobs:
        return []

    def check() -> Result:
        configs = clients["iot"].describe_event_configurations()["eventConfigurations"]
        if configs["JOB_EXECUTION"]["Enabled"] is True:
            return Result("rotation-job-events", "AISB-6", PASS, "job execution events are on")
        return Result(
            "rotation-job-events",
            "AISB-6",
            FAIL,
            "job execution events are off: rotation jobs' outcomes never reach the rotation",
            "aws iot update-event-configurations --event-configurations "
            """'{"JOB_EXECUTION":{"Enabled":true}}'""",
        )

    return guarded("rotation-job-events", "AISB-6", check)


def access_analyzer(clients: Clients, settings: Settings) -> list[Result]:
    """The stack's Access Analyzer exists, carries its aisb:control tag and is active."""
    if not settings.access_analyzer:
        return []

    def check() -> Result:
        name = ANALYZER_OPTIONS["analyzer_name"].default
        try:
            analyzer = clients["accessanalyzer"].get_analyzer(analyzerName=name)["analyzer"]
        except ClientError as error:
            if _code(error) != "ResourceNotFoundException":
                raise
            return Result(
                "access-analyzer",
                "AISB-2",
                FAIL,
                f"no analyzer {name} (ResourceNotFoundException): the control is gone",
                "run pulumi up",
            )
        status = analyzer["status"]
        if (analyzer.get("tags") or {}).get(TAG) != "AISB-2":
            return Result(
                "access-analyzer",
                "AISB-2",
                FAIL,
                f"analyzer {name} is not the stack's (no {TAG}=AISB-2 tag)",
                "run pulumi up",
            )
        return Result(
            "access-analyzer",
            "AISB-2",
            PASS if status == "ACTIVE" else FAIL,
            f"analyzer {name} is {status}",
            None if status == "ACTIVE" else "see its status reason in the console",
        )

    return guarded("access-analyzer", "AISB-2", check)


CHECKS: tuple[Check, ...] = (
    logging_level,
    audit,
    schedule,
    security_profiles,
    subscriptions,
    certificate_monitor,
    rotation_job_events,
    trail,
    guardduty,
    access_analyzer,
    *hub_checks.CHECK,
)
SERVICES = (
    "iot",
    "sns",
    "sqs",
    "cloudwatch",
    "cloudtrail",
    "guardduty",
    "accessanalyzer",
    "events",
    "resourcegroupstaggingapi",
    "securityhub",
)
OPERATIONS = (
    "sts:GetCallerIdentity",
    "tag:GetResources",
    "iot:GetV2LoggingOptions",
    "iot:DescribeAccountAuditConfiguration",
    "iot:ListScheduledAudits",
    "iot:DescribeScheduledAudit",
    "iot:ListTargetsForSecurityProfile",
    "sns:ListSubscriptionsByTopic",
    "cloudwatch:GetMetricStatistics",
    "sqs:GetQueueUrl",
    "sqs:GetQueueAttributes",
    "iot:ListCertificates",
    "iot:DescribeEventConfigurations",
    "cloudtrail:GetTrailStatus",
    "guardduty:ListDetectors",
    "guardduty:GetDetector",
    "events:DescribeRule",
    "events:ListTargetsByRule",
    "access-analyzer:GetAnalyzer",
    "securityhub:ListEnabledProductsForImport",
    "iot:DescribeDomainConfiguration",
)
"""Every API operation check may call (IAM action names)."""


def check_all(
    clients: Clients, settings: Settings, progress: Callable[[int], None] = lambda n: None
) -> list[Result]:
    """Every posture check, then the certificate ages (the long one)."""
    results = [result for check in CHECKS for result in check(clients, settings)]
    return results + certificate_ages(clients, settings, progress)
