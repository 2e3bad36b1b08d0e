"""What each AWS service sends when it uses a grant: the table every cross-service grant obeys.

A grant to a service principal is only as good as the condition keys the service actually
presents at that place. A key the service does not send there (``aws:SourceArn`` in a KMS key
policy on the EventBridge-to-encrypted-SNS path, say) makes the grant never match: deliveries
fail silently. Mocks cannot see that, so every grant the program makes is checked against this
table by the tests: for each service principal and place, the condition keys it may use, with
the AWS documentation that says the service presents them there.

Places: ``trust`` (a role's trust policy), ``key`` (a KMS key policy), ``topic`` (an SNS topic
policy), ``bucket`` (an S3 bucket policy), ``queue`` (an SQS queue policy).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

DOCS = "https://docs.aws.amazon.com"


@dataclass(frozen=True)
class Grant:
    """One kind of grant: a service principal at one place, the condition keys it may use."""

    principal: str
    """A regular expression matching the service principal (``logs.<region>.<suffix>``)."""
    place: str
    keys: frozenset[str]
    """Condition keys the service presents there; an empty set means no condition at all."""
    doc: str
    """The AWS documentation that states it."""
    why: str


def _keys(*names: str) -> frozenset[str]:
    return frozenset(names)


GRANTS: tuple[Grant, ...] = (
    Grant(
        r"iot\.amazonaws\.com",
        "trust",
        _keys("aws:SourceAccount", "aws:SourceArn"),
        f"{DOCS}/iot-device-defender/latest/devguide/dd-cross-service-confused-deputy-prevention.html",
        "AWS IoT and Device Defender (audit, alerts, mitigation actions, logging) present both "
        "keys when they assume a role; SourceArn is arn:<partition>:iot:<region>:<account>:*. "
        "The rules engine, assuming a rule's role, presents the rule's ARN, "
        "arn:<partition>:iot:<region>:<account>:rule/<rule name> ("
        f"{DOCS}/iot/latest/developerguide/iot-create-role.html)",
    ),
    Grant(
        r"lambda\.amazonaws\.com",
        "trust",
        _keys("aws:SourceAccount"),
        f"{DOCS}/lambda/latest/dg/lambda-intro-execution-role.html",
        "Lambda presents the function's account when it assumes the execution role",
    ),
    Grant(
        r"credentials\.iot\.amazonaws\.com",
        "trust",
        _keys(),
        f"{DOCS}/iot/latest/developerguide/authorizing-direct-aws.html",
        "AWS documents the credentials provider's trust policy without any condition and "
        "documents no aws:Source* key for it: a condition on one would fail every device's "
        "credential exchange with 403. The role is bound to its alias by iam:PassRole instead "
        "(only this account can create a role alias for this role)",
    ),
    Grant(
        r"events\.amazonaws\.com",
        "key",
        _keys("kms:EncryptionContext:aws:sns:topicArn"),
        f"{DOCS}/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services",
        "EventBridge publishing to an encrypted topic: SNS does not support aws:SourceAccount, "
        "aws:SourceArn or aws:SourceOrgID in the key policy on this path (a grant conditioned on "
        "them never matches), so the key is scoped by the encryption context SNS sends, the "
        "topic's ARN (also shown in "
        f"{DOCS}/gamelift/latest/flexmatchguide/queue-notification-sns-sse.html)",
    ),
    Grant(
        r"cloudwatch\.amazonaws\.com",
        "key",
        _keys("aws:SourceAccount", "aws:SourceArn", "kms:EncryptionContext:aws:sns:topicArn"),
        f"{DOCS}/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services",
        "CloudWatch alarms publishing to an encrypted topic present the alarm's account and ARN "
        "to KMS (the unsupported-key caveat there is EventBridge's only)",
    ),
    Grant(
        r"logs\.[a-z0-9-]+\.amazonaws\.com(\.cn)?",
        "key",
        _keys("kms:EncryptionContext:aws:logs:arn"),
        f"{DOCS}/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html",
        "CloudWatch Logs sends the log group's ARN as encryption context",
    ),
    Grant(
        r"cloudtrail\.amazonaws\.com",
        "key",
        _keys("aws:SourceArn", "kms:EncryptionContext:aws:cloudtrail:arn"),
        f"{DOCS}/awscloudtrail/latest/userguide/create-kms-key-policy-for-cloudtrail.html",
        "CloudTrail presents the trail's ARN and sends it as encryption context",
    ),
    Grant(
        r"cloudwatch\.amazonaws\.com",
        "topic",
        _keys("aws:SourceAccount", "aws:SourceArn"),
        f"{DOCS}/sns/latest/dg/sns-access-policy-use-cases.html",
        "CloudWatch alarms present the alarm's account and ARN to SNS",
    ),
    Grant(
        r"events\.amazonaws\.com",
        "topic",
        _keys("aws:SourceAccount", "aws:SourceArn"),
        f"{DOCS}/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sns-permissions",
        "EventBridge presents the rule's ARN to SNS (supported in the topic policy)",
    ),
    Grant(
        r"events\.amazonaws\.com",
        "queue",
        _keys("aws:SourceArn"),
        f"{DOCS}/eventbridge/latest/userguide/eb-rule-dlq.html#eb-dlq-perms",
        "EventBridge presents the rule's ARN when it sends to a dead-letter queue",
    ),
    Grant(
        r"cloudtrail\.amazonaws\.com",
        "bucket",
        _keys("aws:SourceArn", "s3:x-amz-acl"),
        f"{DOCS}/awscloudtrail/latest/userguide/create-s3-bucket-policy-for-cloudtrail.html",
        "CloudTrail presents the trail's ARN and writes with bucket-owner-full-control",
    ),
)


def grant_for(principal: str, place: str) -> Grant | None:
    """The table's row for a service principal at a place, or None: no such grant is known."""
    for grant in GRANTS:
        if grant.place == place and re.fullmatch(grant.principal, principal):
            return grant
    return None


def sends(principal: str, place: str, key: str) -> bool:
    """Whether the service presents condition ``key`` when it uses a grant at ``place``."""
    grant = grant_for(principal, place)
    return grant is not None and key in grant.keys


def condition_keys(condition: dict[str, dict[str, object]] | None) -> set[str]:
    """The condition keys a statement's ``Condition`` block tests."""
    return {key for block in (condition or {}).values() for key in block}


def check_statement(principals: Iterable[str], place: str, condition: object) -> list[str]:
    """What is wrong with one statement granting ``principals`` at ``place``: principals the
    table does not know there, and condition keys the service does not send there."""
    problems = []
    keys = condition_keys(condition)  # type: ignore[arg-type]
    for principal in principals:
        grant = grant_for(principal, place)
        if grant is None:
            problems.append(f"{principal} has no documented grant in a {place} policy")
        elif unsupported := sorted(keys - grant.keys):
            problems.append(
                f"{principal} in a {place} policy does not send {', '.join(unsupported)} "
                f"(it sends {sorted(grant.keys) or 'no condition key'}; {grant.doc})"
            )
    return problems
