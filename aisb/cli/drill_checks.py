"""``aisb drill``: a fire drill that sends a real alert down each path and confirms it reached
the alert topic, not only that an API call succeeded.

It subscribes a temporary encrypted SQS queue to the alert topic (the inbox), sets off every
path at once, then reads the inbox until each path's message arrived or the time is up:

- ``alarm``: a CloudWatch alarm of the baseline set to ALARM (and back to OK);
- ``audit``: an on-demand Device Defender audit of one check, whose completion is notified;
- ``cert-monitor``: the certificate monitor invoked for a report even when nothing is due;
- ``guardduty``: a GuardDuty sample finding, through the EventBridge rule.

It never touches devices or certificates, and removes the inbox (subscription and queue)
whatever happens.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aisb.cli.check_checks import tagged
from aisb.cli.results import AWS_ERRORS, FAIL, PASS, UNKNOWN, Result, aws_error
from aisb.settings import BASELINE_NAME, Settings

Clients = Mapping[str, Any]
# A sample finding type severe enough for any aisb:guardDutyMinSeverity up to 8.
GUARDDUTY_SAMPLE = "Backdoor:EC2/C&CActivity.B"
AUDIT_CHECK = "LOGGING_DISABLED_CHECK"


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
    hint: str = ""
    undo: list[Callable[[], Any]] = field(default_factory=list)


@dataclass
class Inbox:
    """The drill's temporary queue and its subscription to the alert topic."""

    queue_url: str
    subscription_arn: str | None = None


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


def open_inbox(clients: Clients, topic_arn: str, drill_id: str) -> Inbox:
    sqs = clients["sqs"]
    url = sqs.create_queue(
        QueueName=f"aisb-drill-{drill_id}",
        Attributes={"SqsManagedSseEnabled": "true", "MessageRetentionPeriod": "3600"},
    )["QueueUrl"]
    inbox = Inbox(url)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": _queue_policy(arn, topic_arn)})
    inbox.subscription_arn = clients["sns"].subscribe(
        TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, ReturnSubscriptionArn=True
    )["SubscriptionArn"]
    return inbox


def close_inbox(clients: Clients, inbox: Inbox) -> list[str]:
    """Remove the subscription and the queue; what could not be removed."""
    left = []
    if inbox.subscription_arn:
        try:
            clients["sns"].unsubscribe(SubscriptionArn=inbox.subscription_arn)
        except AWS_ERRORS as error:
            left.append(f"subscription {inbox.subscription_arn} ({aws_error(error)})")
    try:
        clients["sqs"].delete_queue(QueueUrl=inbox.queue_url)
    except AWS_ERRORS as error:
        left.append(f"queue {inbox.queue_url} ({aws_error(error)})")
    return left


def _messages(clients: Clients, inbox: Inbox, wait: int) -> list[str]:
    """The SNS messages in the inbox (deleted once read)."""
    received = (
        clients["sqs"]
        .receive_message(QueueUrl=inbox.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait)
        .get("Messages", [])
    )
    bodies = []
    for message in received:
        try:
            bodies.append(str(json.loads(message["Body"]).get("Message", "")))
        except (ValueError, AttributeError):
            bodies.append(message["Body"])
        clients["sqs"].delete_message(
            QueueUrl=inbox.queue_url, ReceiptHandle=message["ReceiptHandle"]
        )
    return bodies


def mentions(text: str) -> Callable[[str], bool]:
    """A message test: the body mentions ``text``."""
    return lambda body: text in body


def start_paths(clients: Clients, settings: Settings, drill_id: str) -> list[Path]:
    """Set off every path the stack has; each records how it started or why it could not."""
    paths: list[Path] = []

    def attempt(path: Path, start: Callable[[], str]) -> None:
        try:
            path.started = start()
        except AWS_ERRORS as error:
            path.error = aws_error(error)
        paths.append(path)

    try:
        alarms = clients["cloudwatch"].describe_alarms(AlarmNamePrefix=f"{BASELINE_NAME}-")[
            "MetricAlarms"
        ]
    except AWS_ERRORS as error:
        paths.append(Path("drill:alarm", "AISB-7", lambda body: False, error=aws_error(error)))
        alarms = []
    if alarms:
        alarm = alarms[0]["AlarmName"]
        path = Path(
            "drill:alarm",
            "AISB-7",
            mentions(alarm),
            hint="CloudWatch must be allowed to publish to the topic and use its key",
        )

        def set_alarm() -> str:
            clients["cloudwatch"].set_alarm_state(
                AlarmName=alarm, StateValue="ALARM", StateReason=f"aisb drill {drill_id}"
            )
            path.undo.append(
                lambda: clients["cloudwatch"].set_alarm_state(
                    AlarmName=alarm, StateValue="OK", StateReason=f"aisb drill {drill_id} done"
                )
            )
            return f"alarm {alarm} set to ALARM"

        attempt(path, set_alarm)

    audit = Path(
        "drill:audit",
        "AISB-4",
        lambda body: False,
        hint="the audit's notification role must be able to publish to the topic",
    )

    def start_audit() -> str:
        task = clients["iot"].start_on_demand_audit_task(targetCheckNames=[AUDIT_CHECK])["taskId"]
        audit.expect = mentions(task)
        return f"on-demand audit {task} of {AUDIT_CHECK}"

    attempt(audit, start_audit)

    if settings.cert_rotation:
        try:
            functions = tagged(clients, "AISB-6", "lambda:function")
        except AWS_ERRORS:
            functions = []
        monitor = Path(
            "drill:cert-monitor",
            "AISB-6",
            mentions(f"Drill {drill_id}"),
            hint="read the certificate monitor's log group",
        )

        def invoke() -> str:
            if not functions:
                raise LookupError("no certificate monitor is deployed")
            clients["lambda"].invoke(
                FunctionName=functions[0],
                InvocationType="Event",
                Payload=json.dumps({"drill": drill_id}).encode(),
            )
            return f"certificate monitor {functions[0].rsplit(':', 1)[-1]} invoked"

        try:
            attempt(monitor, invoke)
        except LookupError as error:
            monitor.error = str(error)
            paths.append(monitor)

    if settings.guard_duty:
        finding = Path(
            "drill:guardduty",
            "AISB-9",
            lambda body: "GuardDuty finding" in body and GUARDDUTY_SAMPLE in body,
            hint="EventBridge may publish to the topic; findings that could not be delivered "
            "wait in the rule's dead-letter queue",
        )

        def sample() -> str:
            detector = clients["guardduty"].list_detectors()["DetectorIds"][0]
            clients["guardduty"].create_sample_findings(
                DetectorId=detector, FindingTypes=[GUARDDUTY_SAMPLE]
            )
            return f"sample finding {GUARDDUTY_SAMPLE} on detector {detector}"

        attempt(finding, sample)
    return paths


def drill(
    clients: Clients,
    settings: Settings,
    timeout: float = 600,
    clock: Callable[[], float] = time.monotonic,
    drill_id: str | None = None,
) -> list[Result]:
    """Run the drill: every path, delivered or not, and why."""
    drill_id = drill_id or uuid.uuid4().hex[:10]
    topics = tagged(clients, "AISB-7", "sns:topic")
    if not topics:
        return [Result("drill", "AISB-7", FAIL, "no aisb alert topic", "run pulumi up")]
    inbox = open_inbox(clients, topics[0], drill_id)
    paths: list[Path] = []
    try:
        paths = start_paths(clients, settings, drill_id)
        deadline = clock() + timeout
        waiting = [p for p in paths if p.error is None]
        while waiting and clock() < deadline:
            wait = int(max(0, min(20, deadline - clock())))
            for body in _messages(clients, inbox, wait):
                for path in waiting:
                    if path.expect(body):
                        path.delivered = True
            waiting = [p for p in waiting if not p.delivered]
    finally:
        for path in paths:
            for undo in path.undo:
                try:
                    undo()
                except AWS_ERRORS as error:
                    path.hint += f"; could not undo: {aws_error(error)}"
        left = close_inbox(clients, inbox)
    results = []
    for path in paths:
        if path.error is not None:
            results.append(Result(path.id, path.control, UNKNOWN, f"not set off: {path.error}"))
        elif path.delivered:
            results.append(Result(path.id, path.control, PASS, f"{path.started}: delivered"))
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
    if left:
        results.append(
            Result("drill-cleanup", None, FAIL, "left behind: " + "; ".join(left), "delete them")
        )
    return results


SERVICES = ("sqs", "sns", "cloudwatch", "iot", "lambda", "guardduty", "resourcegroupstaggingapi")
