"""``aisb drill``: a fire drill that sends a real alert down each path and confirms it reached
the alert topic, not only that an API call succeeded.

It subscribes a temporary encrypted SQS queue to the alert topic (the inbox), publishes a
probe to the topic and waits until the probe arrives (the queue's policy can take up to a
minute to be honoured, and SNS does not retry a delivery it was refused), then sets off every
path at once and reads the inbox until each path's message arrived or the time is up:

- ``alarm``: a CloudWatch alarm of the baseline that will notify (not already in ALARM,
  actions enabled, publishing to the topic) set to ALARM; CloudWatch puts it back to its
  real state by itself, so the drill does not force it afterwards;
- ``audit``: an on-demand Device Defender audit of one check the stack enables, whose
  completion is notified;
- ``cert-monitor``: the certificate monitor invoked asynchronously with ``{"drill": <id>}``:
  it answers at once with a message naming ``Drill <id>``, saying when a scheduled scan holds
  the lease (a run was or would be skipped);
- ``guardduty``: a GuardDuty sample finding (severity 8), through the EventBridge rule.

It never touches devices or certificates. Each thing it creates is registered for removal
before the call that creates it, and everything registered is removed whatever happens
(an AWS error, any other error, Ctrl-C). What it leaves, by design: the probe's and each
path's e-mail to every subscriber of the topic, the audit's results, the monitor's report and
the sample finding (see the README).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from aisb.catalog import AUDIT_CHECKS
from aisb.settings import BASELINE_NAME, Settings
from aisb_tools.cli.check_checks import MONITOR_FUNCTION, TAG, is_monitor, tagged
from aisb_tools.cli.results import AWS_ERRORS, FAIL, PASS, UNKNOWN, Result, aws_error

Clients = Mapping[str, Any]
# A sample finding type (sample findings: https://docs.aws.amazon.com/guardduty/latest/ug/sample_findings.html).
# This one arrives with severity 8 (HIGH; the review of issue 18, and the finding e-mail the
# drill reads), so a rule for findings of severity 9 and above never sees it.
GUARDDUTY_SAMPLE = "Backdoor:EC2/C&CActivity.B"
GUARDDUTY_SAMPLE_SEVERITY = 8
# The audit check preferred for the drill when the stack enables it: the cheapest to run.
AUDIT_CHECK = "LOGGING_DISABLED_CHECK"
DRILL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""The ids the certificate monitor accepts in a drill event."""
# How long a probe waits in the inbox before another is published: a probe SNS was refused
# (the queue policy not yet honoured) is never retried by SNS.
PROBE_EVERY = 20
# The longest SQS long poll (ReceiveMessage WaitTimeSeconds).
LONG_POLL = 20


class DrillError(Exception):
    """A path that cannot be set off, for a reason that is not an AWS error."""


@dataclass
class Path:
    """One alert path under drill: how to recognise its message, and what happened."""

    id: str
    control: str
    expect: Callable[[str], bool]
    """Whether a message body (the SNS message) is this path's."""
    started: str = ""
    error: str | None = None
    delivered: bool = False
    body: str = ""
    hint: str = ""
    note: str = ""


@dataclass
class Inbox:
    """The drill's temporary queue and its subscription to the alert topic."""

    name: str
    topic_arn: str
    queue_url: str | None = None
    queue_arn: str | None = None
    subscription_arn: str | None = None


@dataclass
class Cleanup:
    """Undos, each registered before the call it undoes, run last to first."""

    undos: list[tuple[str, Callable[[], None]]] = field(default_factory=list)

    def register(self, what: str, undo: Callable[[], None]) -> None:
        self.undos.append((what, undo))

    def run(self) -> list[str]:
        """Run every undo; what could not be undone, with why."""
        left = []
        for what, undo in reversed(self.undos):
            try:
                undo()
            except KeyboardInterrupt:
                left.append(f"{what} (interrupted)")
            except Exception as error:  # clean-up goes on whatever failed
                left.append(f"{what} ({_why(error)})")
        self.undos.clear()
        return left


def _why(error: BaseException) -> str:
    if isinstance(error, AWS_ERRORS):
        return aws_error(error)
    return f"{type(error).__name__}: {(str(error).splitlines() or [''])[0]}"[:300]


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _queue_policy(queue_arn: str, topic_arn: str) -> str:
    """Only the alert topic may send to the inbox, and only over TLS."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AlertTopicDelivers",
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
                },
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "sqs:*",
                    "Resource": queue_arn,
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
            ],
        }
    )


def open_inbox(clients: Clients, inbox: Inbox, cleanup: Cleanup) -> None:
    """Create the queue and subscribe it, registering each removal before its call."""
    sqs, sns = clients["sqs"], clients["sns"]

    def delete_queue() -> None:
        url = inbox.queue_url
        if url is None:  # the create call failed or was interrupted: it may still exist
            try:
                url = sqs.get_queue_url(QueueName=inbox.name)["QueueUrl"]
            except ClientError as error:
                if "NonExistentQueue" in _code(error) or "QueueDoesNotExist" in _code(error):
                    return
                raise
        sqs.delete_queue(QueueUrl=url)

    cleanup.register(f"queue {inbox.name}", delete_queue)
    inbox.queue_url = sqs.create_queue(
        QueueName=inbox.name,
        Attributes={"SqsManagedSseEnabled": "true", "MessageRetentionPeriod": "3600"},
    )["QueueUrl"]
    inbox.queue_arn = sqs.get_queue_attributes(
        QueueUrl=inbox.queue_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    sqs.set_queue_attributes(
        QueueUrl=inbox.queue_url,
        Attributes={"Policy": _queue_policy(inbox.queue_arn, inbox.topic_arn)},
    )

    def unsubscribe() -> None:
        arn = inbox.subscription_arn
        if arn is None:  # the subscribe call failed or was interrupted: look for it
            pages = sns.get_paginator("list_subscriptions_by_topic").paginate(
                TopicArn=inbox.topic_arn
            )
            found = [
                s["SubscriptionArn"]
                for page in pages
                for s in page.get("Subscriptions", [])
                if s.get("Endpoint") == inbox.queue_arn and s["SubscriptionArn"].startswith("arn:")
            ]
            if not found:
                return
            arn = found[0]
        sns.unsubscribe(SubscriptionArn=arn)

    cleanup.register(f"subscription of {inbox.name} to {inbox.topic_arn}", unsubscribe)
    inbox.subscription_arn = sns.subscribe(
        TopicArn=inbox.topic_arn,
        Protocol="sqs",
        Endpoint=inbox.queue_arn,
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]


def _messages(clients: Clients, inbox: Inbox, wait: int) -> list[str]:
    """The SNS messages in the inbox (deleted once read), subject and body."""
    received = (
        clients["sqs"]
        .receive_message(QueueUrl=inbox.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait)
        .get("Messages", [])
    )
    bodies = []
    for message in received:
        try:
            envelope = json.loads(message["Body"])
            bodies.append(f"{envelope.get('Subject') or ''}\n{envelope.get('Message', '')}")
        except (ValueError, AttributeError):
            bodies.append(message["Body"])
        clients["sqs"].delete_message(
            QueueUrl=inbox.queue_url, ReceiptHandle=message["ReceiptHandle"]
        )
    return bodies


def mentions(text: str) -> Callable[[str], bool]:
    """A message test: the body mentions ``text``."""
    return lambda body: text in body


def _pages(client: Any, operation: str, key: str, **params: Any) -> list[Any]:
    return [x for page in client.get_paginator(operation).paginate(**params) for x in page[key]]


def choose_alarm(alarms: list[dict[str, Any]], topic_arn: str) -> dict[str, Any] | None:
    """An alarm that will notify the topic when set to ALARM: not in ALARM already (no state
    change, no notification), actions enabled, the topic among its alarm actions."""
    for alarm in sorted(alarms, key=lambda a: a["AlarmName"]):
        if (
            alarm.get("StateValue") != "ALARM"
            and alarm.get("ActionsEnabled", True)
            and topic_arn in alarm.get("AlarmActions", [])
        ):
            return alarm
    return None


def audit_check(settings: Settings) -> str | None:
    """The audit check the drill runs: one the stack enables (the cheap one when it can)."""
    enabled = sorted({c.name for c in AUDIT_CHECKS} - set(settings.audit_checks_disabled))
    if AUDIT_CHECK in enabled:
        return AUDIT_CHECK
    return enabled[0] if enabled else None


_LEASE = re.compile(r"[^\n]*\b(lease|skipp?(ed|ing)?)\b[^\n]*", re.IGNORECASE)
_NEGATED = re.compile(r"\b(no|not|nothing|none)\b", re.IGNORECASE)


def lease_note(body: str) -> str:
    """What the monitor's drill answer says about a scheduled scan's lease: "" when nothing,
    else the line, marked when it says a scheduled run was or would be skipped."""
    match = _LEASE.search(body)
    if not match:
        return ""
    line = match.group(0).strip()
    skipped = re.search(r"skip|holds the lease|lease is held", line, re.IGNORECASE)
    if skipped and not _NEGATED.search(line):
        return f"a scheduled scan holds the lease, so a run was or would be skipped: {line!r}"
    return f"the monitor says: {line!r}"


def start_paths(clients: Clients, settings: Settings, drill_id: str, topic_arn: str) -> list[Path]:
    """Set off every path the stack has; each records how it started or why it could not.
    An AWS error or any other error of one path leaves the others to go on."""
    paths: list[Path] = []

    def attempt(path: Path, start: Callable[[], str]) -> None:
        paths.append(path)
        try:
            path.started = start()
        except DrillError as error:
            path.error = str(error)
        except Exception as error:  # one path's failure is its result
            path.error = _why(error)

    # Distinct from the probe's text, which arrives too when a probe is published twice.
    reason = f"aisb drill {drill_id}: alarm path"
    alarm_path = Path(
        "drill:alarm",
        "AISB-7",
        mentions(reason),
        hint="CloudWatch must be allowed to publish to the topic and use its key",
    )

    def set_alarm() -> str:
        alarms = _pages(
            clients["cloudwatch"],
            "describe_alarms",
            "MetricAlarms",
            AlarmNamePrefix=f"{BASELINE_NAME}-",
        )
        alarm = choose_alarm(alarms, topic_arn)
        if alarm is None:
            raise DrillError(
                f"none of the {len(alarms)} aisb alarms would notify the topic (each is in "
                "ALARM already, has its actions disabled, or does not publish to it)"
            )
        name = alarm["AlarmName"]
        # SetAlarmState is temporary: "Metric alarms returns to their actual state quickly,
        # often within seconds" (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_SetAlarmState.html),
        # so no undo forces OK (which would send a second, genuine, notification).
        clients["cloudwatch"].set_alarm_state(
            AlarmName=name, StateValue="ALARM", StateReason=reason
        )
        return f"alarm {name} set to ALARM (from {alarm.get('StateValue')})"

    attempt(alarm_path, set_alarm)

    audit = Path(
        "drill:audit",
        "AISB-4",
        lambda body: False,
        hint="the audit's notification role must be able to publish to the topic",
    )

    def start_audit() -> str:
        check = audit_check(settings)
        if check is None:
            raise DrillError("the stack enables no audit check")
        task = clients["iot"].start_on_demand_audit_task(targetCheckNames=[check])["taskId"]
        audit.expect = mentions(task)
        return f"on-demand audit {task} of {check}"

    attempt(audit, start_audit)

    if settings.cert_rotation:
        monitor = Path(
            "drill:cert-monitor",
            "AISB-6",
            mentions(f"Drill {drill_id}"),
            hint="read the certificate monitor's log group",
        )

        def invoke() -> str:
            # Of the functions tagged AISB-6, the monitor's: never one of the rotation's, which
            # would take the drill's event for a device's request.
            functions = [f for f in tagged(clients, "AISB-6", "lambda:function") if is_monitor(f)]
            if not functions:
                raise DrillError(
                    "no certificate monitor is deployed (no function tagged AISB-6 named "
                    f"{MONITOR_FUNCTION}*)"
                )
            clients["lambda"].invoke(
                FunctionName=functions[0],
                InvocationType="Event",
                Payload=json.dumps({"drill": drill_id}).encode(),
            )
            return f"certificate monitor {functions[0].rsplit(':', 1)[-1]} invoked"

        attempt(monitor, invoke)

    if settings.guard_duty:
        finding = Path(
            "drill:guardduty",
            "AISB-9",
            lambda body: "GuardDuty finding" in body and GUARDDUTY_SAMPLE in body,
            hint="EventBridge may publish to the topic; findings that could not be delivered "
            "wait in the rule's dead-letter queue",
        )

        def sample() -> str:
            minimum = settings.guard_duty_min_severity
            if minimum > GUARDDUTY_SAMPLE_SEVERITY:
                raise DrillError(
                    f"aisb:guardDutyMinSeverity is {minimum}: sample findings have severity "
                    f"{GUARDDUTY_SAMPLE_SEVERITY}, so the rule never sends one; this path "
                    "cannot be drilled"
                )
            detector = settings.guard_duty_detector_id or None
            frequency = None
            for candidate in _pages(clients["guardduty"], "list_detectors", "DetectorIds"):
                if detector and candidate != detector:
                    continue
                described = clients["guardduty"].get_detector(DetectorId=candidate)
                if detector or (described.get("Tags") or {}).get(TAG) == "AISB-9":
                    detector, frequency = candidate, described.get("FindingPublishingFrequency")
                    break
            else:
                raise DrillError("no GuardDuty detector of this stack in this region")
            finding.hint += (
                f"; GuardDuty may send a repeat of the same sample finding only at the "
                f"detector's publishing frequency ({frequency}): run the drill again after it"
            )
            clients["guardduty"].create_sample_findings(
                DetectorId=detector, FindingTypes=[GUARDDUTY_SAMPLE]
            )
            return f"sample finding {GUARDDUTY_SAMPLE} on detector {detector}"

        attempt(finding, sample)
    return paths


def _probe(
    clients: Clients, inbox: Inbox, drill_id: str, deadline: float, clock: Callable[[], float]
) -> bool:
    """Publish probes to the topic until one reaches the inbox, or the deadline."""
    text = f"aisb drill {drill_id} probe"
    published_at: float | None = None
    while True:
        now = clock()
        if now >= deadline:
            return False
        if published_at is None or now - published_at >= PROBE_EVERY:
            clients["sns"].publish(
                TopicArn=inbox.topic_arn,
                Subject=f"aisb drill {drill_id}: probe",
                Message=f"{text}: checks that the drill's inbox receives from the alert "
                "topic. No action needed.",
            )
            published_at = now
        wait = int(max(1, min(LONG_POLL, deadline - now)))
        if any(text in body for body in _messages(clients, inbox, wait)):
            return True


def _results(paths: list[Path], timeout: float) -> list[Result]:
    results = []
    for path in paths:
        if path.error is not None:
            results.append(Result(path.id, path.control, UNKNOWN, f"not set off: {path.error}"))
        elif path.delivered:
            note = f"; {path.note}" if path.note else ""
            results.append(Result(path.id, path.control, PASS, f"{path.started}: delivered{note}"))
        else:
            results.append(
                Result(
                    path.id,
                    path.control,
                    FAIL,
                    f"{path.started}: nothing reached the alert topic in {int(timeout)} s",
                    path.hint,
                )
            )
    return results


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a drill, raised once the clean-up ran; ``left`` is what it could not
    remove."""

    def __init__(self, left: list[str]) -> None:
        super().__init__("drill interrupted")
        self.left = left


def drill(
    clients: Clients,
    settings: Settings,
    timeout: float = 600,
    clock: Callable[[], float] = time.monotonic,
    drill_id: str | None = None,
) -> list[Result]:
    """Run the drill: every path, delivered or not, and why. Whatever happens, what the drill
    created is removed (Ctrl-C raises ``Interrupted`` once it is)."""
    drill_id = drill_id or uuid.uuid4().hex[:12]
    if not DRILL_ID.fullmatch(drill_id):
        raise ValueError(f"drill id {drill_id!r} must match {DRILL_ID.pattern}")
    cleanup = Cleanup()
    try:
        results = _run(clients, settings, timeout, clock, drill_id, cleanup)
    except KeyboardInterrupt:
        raise Interrupted(cleanup.run()) from None
    except Exception as error:  # never a traceback; cleaned up below
        results = [Result("drill", "AISB-7", UNKNOWN, f"could not run: {_why(error)}")]
    left = cleanup.run()
    if left:
        results.append(
            Result("drill-cleanup", None, FAIL, "left behind: " + "; ".join(left), "delete them")
        )
    return results


def _run(
    clients: Clients,
    settings: Settings,
    timeout: float,
    clock: Callable[[], float],
    drill_id: str,
    cleanup: Cleanup,
) -> list[Result]:
    try:
        topics = tagged(clients, "AISB-7", "sns:topic")
    except AWS_ERRORS as error:
        return [Result("drill", "AISB-7", UNKNOWN, f"could not run: {aws_error(error)}")]
    if not topics:
        return [Result("drill", "AISB-7", FAIL, "no aisb alert topic", "run pulumi up")]
    inbox = Inbox(f"aisb-drill-{drill_id}", topics[0])
    deadline = clock() + timeout
    try:
        open_inbox(clients, inbox, cleanup)
        arrived = _probe(clients, inbox, drill_id, deadline, clock)
    except Exception as error:  # reported, then cleaned up
        return [Result("drill", "AISB-7", UNKNOWN, f"could not open the inbox: {_why(error)}")]
    if not arrived:
        return [
            Result(
                "drill",
                "AISB-7",
                UNKNOWN,
                f"the probe published to {inbox.topic_arn} never reached the drill's inbox "
                f"in {int(timeout)} s: nothing was set off",
                "check that you may publish to the topic and use its key, and that SNS may "
                "deliver to SQS; then run the drill again",
            )
        ]
    paths = start_paths(clients, settings, drill_id, inbox.topic_arn)
    waiting = [p for p in paths if p.error is None]
    extra: list[Result] = []
    try:
        while waiting:
            now = clock()
            if now >= deadline:
                break
            wait = int(max(1, min(LONG_POLL, deadline - now)))
            for body in _messages(clients, inbox, wait):
                for path in waiting:
                    if path.expect(body):
                        path.delivered, path.body = True, body
                        if path.id == "drill:cert-monitor":
                            path.note = lease_note(body)
            waiting = [p for p in waiting if not p.delivered]
    except Exception as error:  # the inbox broke: what arrived still counts
        extra.append(Result("drill-inbox", "AISB-7", UNKNOWN, f"stopped reading: {_why(error)}"))
    return _results(paths, timeout) + extra


SERVICES = ("sqs", "sns", "cloudwatch", "iot", "lambda", "guardduty", "resourcegroupstaggingapi")
OPERATIONS = (
    "sts:GetCallerIdentity",
    "tag:GetResources",
    "sqs:CreateQueue",
    "sqs:GetQueueAttributes",
    "sqs:SetQueueAttributes",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueUrl",
    "sqs:DeleteQueue",
    "sns:Subscribe",
    "sns:Publish",
    "sns:ListSubscriptionsByTopic",
    "sns:Unsubscribe",
    "cloudwatch:DescribeAlarms",
    "cloudwatch:SetAlarmState",
    "iot:StartOnDemandAuditTask",
    "lambda:InvokeFunction",
    "guardduty:ListDetectors",
    "guardduty:GetDetector",
    "guardduty:CreateSampleFindings",
)
"""Every API operation drill may call (IAM action names)."""
