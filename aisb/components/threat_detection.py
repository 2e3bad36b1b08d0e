"""AISB #9 (optional): GuardDuty and e-mail notifications of its findings."""

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Required, TypedDict

import pulumi
import pulumi_aws as aws

from aisb import validation as v
from aisb.components._util import (
    CLOUDWATCH,
    EVENTBRIDGE,
    SQS_QUEUE,
    alarm_to_topic,
    check_name,
    child,
    dead_letter_queue,
    merge_tags,
    require_args,
    require_publishers,
)
from aisb.options import Option, resolve

SEVERITY_RANGE = (1, 10)


def finding_pattern(min_severity: int) -> dict[str, Any]:
    """The EventBridge pattern for GuardDuty findings at or above ``min_severity``."""
    return {
        "source": ["aws.guardduty"],
        "detail-type": ["GuardDuty Finding"],
        "detail": {"severity": [{"numeric": [">=", min_severity]}]},
    }


def finding_email(console_host: str) -> tuple[dict[str, str], str]:
    """The input transformer turning a finding event into a readable e-mail: (paths,
    template). ``console_host`` is the partition's console, e.g. ``console.aws.amazon.com``."""
    paths = {
        "severity": "$.detail.severity",
        "type": "$.detail.type",
        "title": "$.detail.title",
        "account": "$.detail.accountId",
        "region": "$.detail.region",
        "resource": "$.detail.resource.resourceType",
        "id": "$.detail.id",
    }
    template = (
        '"GuardDuty finding, severity <severity>: <type>"\n'
        '"<title>"\n'
        '"Account <account>, region <region>, resource type <resource>."\n'
        f'"https://{console_host}/guardduty/home?region=<region>#/findings?search=id%3D<id>"'
    )
    return paths, template


def console_host(partition: str) -> str:
    """The AWS console's host name in a partition."""
    return {
        "aws-cn": "console.amazonaws.cn",
        "aws-us-gov": "console.amazonaws-us-gov.com",
    }.get(partition, "console.aws.amazon.com")


class ThreatDetectionArgs(TypedDict, total=False):
    """Arguments of ``ThreatDetection``."""

    partition: Required[pulumi.Input[str]]
    """The AWS partition."""
    alert_topic_arn: Required[pulumi.Input[str]]
    """The SNS topic findings go to. Its policy and key must let this rule publish:
    give ``SecurityAlerts`` ``source_arn_publishers={"events.amazonaws.com": [rule ARN]}``;
    the delivery alarms publish as ``cloudwatch.amazonaws.com``, which it must allow too."""
    rule_name: Required[str]
    """The EventBridge rule's name, so its ARN can be granted before it exists."""
    min_severity: int
    """Findings at or above this severity are e-mailed (1-10, default 4: medium and up)."""
    existing_detector_id: str
    """Use the GuardDuty detector that already exists (enabled by an organisation, say):
    no detector is created, only the notifications."""
    tags: Mapping[str, str]
    """Tags for every taggable child."""


OPTIONS = {
    "rule_name": Option(
        None, v.matching(r"[.\-_A-Za-z0-9]{1,64}", "1 to 64 letters, digits, '.', '-' or '_'")
    ),
    "min_severity": Option(4, v.in_range(*SEVERITY_RANGE)),
    "existing_detector_id": Option(None, v.guardduty_detector_id),
    "tags": Option(MappingProxyType({}), v.tags),
}


class ThreatDetection(pulumi.ComponentResource):
    """AISB #9 -- GuardDuty with its findings e-mailed.

    Creates:
    - ``<name>-detector``: a GuardDuty detector publishing findings every 15 minutes, unless
      ``existing_detector_id`` names one (GuardDuty allows one per account and region, and an
      organisation often enables it for every account);
    - ``<name>-findings``: an EventBridge rule for findings at or above ``min_severity``;
    - ``<name>-email``: its target, the alert topic, with an input transformer that turns the
      finding into a readable message (severity, type, title, account, region, resource, link);
    - ``<name>-dlq`` (+ ``-policy``): an encrypted SQS queue that keeps, for 14 days, every
      finding EventBridge could not deliver to the topic (only this rule may send to it);
    - ``<name>-dlq-alarm`` and ``<name>-failed-alarm``: CloudWatch alarms when anything is in
      the queue and when the rule's deliveries fail (``FailedInvocations``), to the topic.

    Outputs: ``detector_id``, ``rule_arn``, ``dead_letter_queue_arn``.
    """

    detector_id: pulumi.Output[str]
    rule_arn: pulumi.Output[str]
    dead_letter_queue_arn: pulumi.Output[str]

    name_limits = MappingProxyType({"-dlq": SQS_QUEUE})

    def __init__(
        self, name: str, args: ThreatDetectionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        check_name("ThreatDetection", name, self.name_limits)
        c = "ThreatDetection"
        a = resolve(c, OPTIONS, (), args, declared_by=ThreatDetectionArgs)
        require_args(c, args, "partition", "alert_topic_arn", "rule_name")
        # The findings rule's target, and the dead-letter and delivery alarms.
        require_publishers(c, args["alert_topic_arn"], [EVENTBRIDGE, CLOUDWATCH])
        severity, existing, rule_name = a["min_severity"], a["existing_detector_id"], a["rule_name"]
        super().__init__("aisb:index:ThreatDetection", name, None, opts)
        tags = merge_tags(a["tags"], "AISB-9")

        if existing is None:
            detector = aws.guardduty.Detector(
                f"{name}-detector",
                enable=True,
                finding_publishing_frequency="FIFTEEN_MINUTES",
                tags=tags,
                opts=child(self),
            )
            self.detector_id = detector.id
        else:
            self.detector_id = pulumi.Output.from_input(existing)

        rule = aws.cloudwatch.EventRule(
            f"{name}-findings",
            name=rule_name,
            description=f"aisb: GuardDuty findings of severity {severity} and above (AISB #9)",
            event_pattern=json.dumps(finding_pattern(severity)),
            tags=tags,
            opts=child(self),
        )

        def transformer_for(partition: str) -> aws.cloudwatch.EventTargetInputTransformerArgs:
            paths, template = finding_email(console_host(partition))
            return aws.cloudwatch.EventTargetInputTransformerArgs(
                input_paths=paths, input_template=template
            )

        transformer = pulumi.Output.from_input(args["partition"]).apply(transformer_for)
        topic_arn = args["alert_topic_arn"]
        # A finding EventBridge cannot deliver (a key or topic policy gone wrong, say) is kept
        # here and alarmed on, instead of being dropped after the retries.
        dead = dead_letter_queue(
            self,
            f"{name}-dlq",
            rule_arn=rule.arn,
            topic_arn=topic_arn,
            what="aisb: GuardDuty findings could not be delivered to the alert topic and wait "
            "in the dead-letter queue (AISB #9)",
            tags=tags,
        )
        dlq = dead.queue
        aws.cloudwatch.EventTarget(
            f"{name}-email",
            rule=rule.name,
            arn=topic_arn,
            input_transformer=transformer,
            retry_policy={"maximum_retry_attempts": 8, "maximum_event_age_in_seconds": 3600},
            dead_letter_config={"arn": dlq.arn},
            opts=child(self, depends_on=[dead.policy]),
        )
        alarm_to_topic(
            self,
            f"{name}-failed-alarm",
            description="aisb: EventBridge failed to deliver GuardDuty findings (AISB #9)",
            namespace="AWS/Events",
            metric_name="FailedInvocations",
            dimensions={"RuleName": rule.name},
            statistic="Sum",
            topic_arn=topic_arn,
            tags=tags,
        )
        self.dead_letter_queue_arn = dlq.arn
        self.rule_arn = rule.arn
        self.register_outputs(
            {
                "detector_id": self.detector_id,
                "rule_arn": self.rule_arn,
                "dead_letter_queue_arn": self.dead_letter_queue_arn,
            }
        )
