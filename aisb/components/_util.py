"""Small helpers every component uses: child options, tags and JSON policies from Outputs."""

import json
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import pulumi
import pulumi_aws as aws
import pulumi_aws_native as aws_native
import pulumiverse_time

from aisb import iam
from aisb.options import Option
from aisb.validation import InvalidValue

T = TypeVar("T")


# A component's name starts the AWS name of each child it creates. Together, AWS's rules for
# those names allow lower-case letters, digits and hyphens, starting with a letter: thing
# groups, IoT and mitigation names take [a-zA-Z0-9:_-], S3 buckets only lower case, digits,
# dots and hyphens, SQS, SNS and Lambda no dots. Checked before anything is registered, so a
# name AWS refuses never fails a deploy halfway through.
_NAME = re.compile(r"[a-z][a-z0-9-]*")
# What Pulumi appends to an auto-named resource: "-" and 7 random hexadecimal characters.
# Pulumi refuses an auto-name whose name and suffix exceed the resource's maximum length.
RANDOM_SUFFIX = 8
IAM_ROLE = 64 - RANDOM_SUFFIX
S3_BUCKET = 63 - RANDOM_SUFFIX
LAMBDA_FUNCTION = 64 - RANDOM_SUFFIX
SQS_QUEUE = 80 - RANDOM_SUFFIX
IOT_NAME = 128 - RANDOM_SUFFIX
EVENT_RULE = 64 - RANDOM_SUFFIX


def nested_limits(children: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    """The name limits of a component that creates the given child components, by the
    suffix each child's name adds (``{"-alerts": SecurityAlerts.name_limits}``)."""
    return {
        prefix + suffix: limit
        for prefix, limits in children.items()
        for suffix, limit in limits.items()
    }


def check_name(component: str, name: str, limits: Mapping[str, int]) -> None:
    """Refuse a component name AWS would refuse in a child's name. ``limits`` maps the suffix
    a child adds to the name to the longest the result may be."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"{component}: name {name!r} cannot start AWS resource names; use lower-case "
            "letters, digits and hyphens, starting with a letter (thing group, S3 bucket, "
            "SQS and Lambda names all derive from it)"
        )
    for suffix, limit in limits.items():
        if len(name) + len(suffix) > limit:
            longest = min(lim - len(suf) for suf, lim in limits.items())
            raise ValueError(
                f"{component}: name {name!r} is too long: its child {name + suffix!r} would "
                f"exceed the length AWS allows for it ({limit} characters before Pulumi's "
                f"random suffix); use at most {longest} characters"
            )


def child(parent: pulumi.Resource, **kwargs: Any) -> pulumi.ResourceOptions:
    """Options for a component's child: parented to it (so it inherits its providers)."""
    return pulumi.ResourceOptions(parent=parent, **kwargs)


def merge_tags(tags: Mapping[str, str] | None, control: str) -> dict[str, str]:
    """The user's tags plus the AISB control a resource implements."""
    return {**(tags or {}), "aisb:control": control}


def native_tags(tags: Mapping[str, str]) -> list[aws_native.TagArgs]:
    """Tags in the CloudFormation list form aws-native resources take."""
    return [aws_native.TagArgs(key=k, value=val) for k, val in sorted(tags.items())]


def policy_json(builder: Callable[..., dict[str, Any]], *inputs: Any) -> pulumi.Output[str]:
    """Serialise ``builder(*resolved_inputs)`` once every input is known."""
    return pulumi.Output.all(*inputs).apply(lambda vals: json.dumps(builder(*vals), sort_keys=True))


def arg_error(component: str, arg: str, err: InvalidValue) -> ValueError:
    """A ``ValueError`` naming the component, the argument, the value and what is accepted."""
    return ValueError(f"{component}: argument {arg!r} {err}")


def require_args(component: str, args: Mapping[str, Any], *names: str) -> None:
    """Refuse a call that lacks any of the named arguments."""
    for name in names:
        if args.get(name) is None:
            raise ValueError(f"{component}: argument {name!r} is required")


def check_arg(component: str, arg: str, validate: Callable[[Any], T], value: Any) -> T:
    """``validate(value)``, or a ``ValueError`` naming the component and argument."""
    try:
        return validate(value)
    except InvalidValue as e:
        raise arg_error(component, arg, e) from None


def regional_arn(
    partition: pulumi.Input[str],
    service: str,
    region: pulumi.Input[str],
    account_id: pulumi.Input[str],
    resource: str,
) -> pulumi.Output[str]:
    """``arn:<partition>:<service>:<region>:<account>:<resource>`` for a resource whose name
    is known before it exists (policies that must name it are created first)."""
    return pulumi.Output.concat(
        "arn:", partition, ":", service, ":", region, ":", account_id, ":", resource
    )


@dataclass
class ServiceRole:
    """A role for one AWS service, and the policy resources that must exist before use."""

    role: aws.iam.Role
    grants: list[pulumi.Resource]


_POLICY_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:policy/([\w+=,.@-]+/)*[\w+=,.@-]{1,128}")
"""An IAM managed policy's ARN (IAM identifiers: path and name characters)."""


def _policy_arn(value: Any) -> Any:
    if isinstance(value, pulumi.Output):
        return value  # known at deploy time: IAM checks it then
    if not isinstance(value, str) or not _POLICY_ARN.fullmatch(value):
        raise InvalidValue(
            value,
            "the ARN of an IAM managed policy, arn:<partition>:iam::<account>:policy/<name>",
        )
    return value


BOUNDARY = Option(None, _policy_arn)
"""The ``permissions_boundary`` argument of every component that creates roles."""


def service_role(
    parent: pulumi.Resource,
    name: str,
    *,
    service: str,
    account_id: pulumi.Input[str],
    description: str,
    tags: Mapping[str, str],
    policy: pulumi.Input[str] | None = None,
    managed_policy_arn: pulumi.Input[str] | None = None,
    source_arn: pulumi.Input[str] | None = None,
    renamed_from: str | None = None,
    permissions_boundary: pulumi.Input[str] | None = None,
) -> ServiceRole:
    """``<name>`` -- a role only ``service`` acting for this account (and for ``source_arn``,
    when given) may assume -- with an inline ``<name>-policy`` and/or an attached AWS managed
    policy ``<name>-managed``. ``renamed_from``: the logical name this role had before, so
    existing stacks keep their role instead of replacing it. ``permissions_boundary``: the ARN
    of the managed policy that bounds what the role may ever do."""

    def opts(suffix: str = "") -> pulumi.ResourceOptions:
        aliases = [pulumi.Alias(name=renamed_from + suffix)] if renamed_from else None
        return child(parent, aliases=aliases)

    role = aws.iam.Role(
        name,
        description=description,
        assume_role_policy=policy_json(
            lambda acct, arn: iam.service_trust_policy(service, acct, arn), account_id, source_arn
        ),
        permissions_boundary=permissions_boundary,
        tags=dict(tags),
        opts=opts(),
    )
    grants: list[pulumi.Resource] = []
    if policy is not None:
        grants.append(
            aws.iam.RolePolicy(f"{name}-policy", role=role.id, policy=policy, opts=opts("-policy"))
        )
    if managed_policy_arn is not None:
        grants.append(
            aws.iam.RolePolicyAttachment(
                f"{name}-managed",
                role=role.name,
                policy_arn=managed_policy_arn,
                opts=opts("-managed"),
            )
        )
    return ServiceRole(role, grants)


# IAM is eventually consistent: a new role or policy can take seconds to be usable ("Changes
# that I make are not always immediately visible",
# https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency).
# AWS IoT checks at once that it can assume a role it is handed (audit configuration,
# mitigation actions, security-profile alert targets, logging options), and the CloudFormation
# handlers behind aws-native take a refusal as final: the first `pulumi up` would fail and only
# the second succeed. Those resources wait this long after their roles and policies change.
IAM_PROPAGATION_SECONDS = 30


def iam_settled(parent: pulumi.Resource, name: str, roles: list[ServiceRole]) -> pulumi.Resource:
    """``<name>``: a pause of ``IAM_PROPAGATION_SECONDS`` after ``roles`` and their policies
    are created or changed (a changed role ARN or policy makes it pause again). Resources that
    hand a role to AWS IoT depend on it."""
    triggers: dict[str, pulumi.Input[str]] = {}
    for n, service in enumerate(roles):
        triggers[f"role{n}"] = service.role.arn
        for m, grant in enumerate(service.grants):
            # The policy document or the managed policy's ARN: what a change would touch.
            document = getattr(grant, "policy", None)
            triggers[f"role{n}grant{m}"] = (
                document if document is not None else grant.policy_arn  # type: ignore[attr-defined]
            )
    return pulumiverse_time.Sleep(
        name,
        create_duration=f"{IAM_PROPAGATION_SECONDS}s",
        triggers=triggers,
        opts=child(parent, depends_on=[r for s in roles for r in (s.role, *s.grants)]),
    )


def customer_key(
    parent: pulumi.Resource,
    name: str,
    *,
    description: str,
    account_id: pulumi.Input[str],
    partition: pulumi.Input[str],
    tags: Mapping[str, str],
    statements: Callable[..., list[iam.Statement]] | None = None,
    statement_inputs: tuple[Any, ...] = (),
    retain: bool = False,
) -> aws.kms.Key:
    """``<name>``: a customer-managed KMS key with rotation on whose policy lets the account
    administer it through IAM and grants services only
    ``statements(partition, account_id, *resolved statement_inputs)``."""
    return aws.kms.Key(
        name,
        description=description,
        enable_key_rotation=True,
        deletion_window_in_days=30,
        policy=policy_json(
            lambda part, acct, *values: iam.kms_key_policy(
                part, acct, statements(part, acct, *values) if statements else []
            ),
            partition,
            account_id,
            *statement_inputs,
        ),
        tags=dict(tags),
        opts=child(parent, retain_on_delete=retain),
    )


CLOUDWATCH = "cloudwatch.amazonaws.com"
"""The service principal CloudWatch alarms publish to SNS as."""
EVENTBRIDGE = "events.amazonaws.com"
"""The service principal EventBridge rules publish to SNS as."""


@dataclass(frozen=True)
class _Topic:
    output: pulumi.Output[str]
    """Kept so that its ``id`` is never reused while the program runs."""
    owner: str
    admits: frozenset[str] | None
    """The service principals its topic and key policies admit; None when not known."""


_TOPICS: dict[int, _Topic] = {}


def admit_publishers(
    topic_arn: pulumi.Output[str], owner: str, admits: Collection[str] | None
) -> None:
    """Record which services may publish to the topic ``owner`` (a ``SecurityAlerts``) made,
    or that its policies are not known (an existing topic): components handed that output
    check it before they create alarms or rules that publish to it."""
    known = None if admits is None else frozenset(admits)
    _TOPICS[id(topic_arn)] = _Topic(topic_arn, owner, known)


def require_publishers(component: str, topic_arn: Any, services: Sequence[str]) -> None:
    """Refuse to publish to a ``SecurityAlerts`` topic as a service its policies do not admit
    (an alarm nobody hears), naming what to add; for a topic whose policies aisb did not
    write, say what they must allow. Called before anything is created."""
    known = _TOPICS.get(id(topic_arn))
    if known is not None and known.output is topic_arn and known.admits is not None:
        missing = sorted(set(services) - known.admits)
        if missing:
            raise ValueError(
                f"{component}: publishes to the topic of {known.owner} as "
                f"{', '.join(missing)}, which its topic and key policies do not admit: "
                f"add {', '.join(repr(m) for m in missing)} to that SecurityAlerts' "
                "service_publishers (or source_arn_publishers for EventBridge rules)"
            )
        return
    pulumi.log.warn(
        f"{component}: publishes to alert_topic_arn as {', '.join(sorted(services))}. "
        "aisb did not write that topic's policies: its topic policy must allow sns:Publish "
        "by these services and, if it is encrypted, its KMS key policy kms:GenerateDataKey* "
        "and kms:Decrypt (aisb.iam.sns_topic_policy and kms_topic_publisher_statements build "
        "both), or nothing they send arrives."
    )


def alarm_to_topic(
    parent: pulumi.Resource,
    name: str,
    *,
    description: str,
    namespace: str,
    metric_name: str,
    dimensions: Mapping[str, pulumi.Input[str]],
    statistic: str,
    topic_arn: pulumi.Input[str],
    tags: Mapping[str, str],
) -> aws.cloudwatch.MetricAlarm:
    """``<name>``: an alarm when the metric is above zero in any 5 minutes, notifying the
    topic; no data means nothing happened."""
    return aws.cloudwatch.MetricAlarm(
        name,
        alarm_description=description,
        namespace=namespace,
        metric_name=metric_name,
        dimensions=dict(dimensions),
        statistic=statistic,
        period=300,
        evaluation_periods=1,
        threshold=0,
        comparison_operator="GreaterThanThreshold",
        treat_missing_data="notBreaching",
        alarm_actions=[topic_arn],
        tags=dict(tags),
        opts=child(parent),
    )


@dataclass
class DeadLetters:
    """A dead-letter queue and the policy that must exist before EventBridge sends to it."""

    queue: aws.sqs.Queue
    policy: aws.sqs.QueuePolicy


def dead_letter_queue(
    parent: pulumi.Resource,
    name: str,
    *,
    rule_arn: pulumi.Input[str],
    topic_arn: pulumi.Input[str],
    what: str,
    tags: Mapping[str, str],
) -> DeadLetters:
    """``<name>``: an encrypted SQS queue keeping, for 14 days, what the EventBridge rule (and
    the asynchronous invocations pointed at it) could not deliver; ``<name>-policy``: only that
    rule may send to it, over TLS; ``<name>-alarm``: an alarm to the topic as soon as anything
    waits in it (``what`` says what)."""
    queue = aws.sqs.Queue(
        name,
        sqs_managed_sse_enabled=True,
        message_retention_seconds=14 * 24 * 3600,
        tags=dict(tags),
        opts=child(parent),
    )
    policy = aws.sqs.QueuePolicy(
        f"{name}-policy",
        queue_url=queue.url,
        policy=policy_json(lambda q, r: iam.events_to_queue_policy(q, [r]), queue.arn, rule_arn),
        opts=child(parent),
    )
    alarm_to_topic(
        parent,
        f"{name}-alarm",
        description=what,
        namespace="AWS/SQS",
        metric_name="ApproximateNumberOfMessagesVisible",
        dimensions={"QueueName": queue.name},
        statistic="Maximum",
        topic_arn=topic_arn,
        tags=tags,
    )
    return DeadLetters(queue, policy)


def iot_source_arn(
    partition: pulumi.Input[str], region: pulumi.Input[str], account_id: pulumi.Input[str]
) -> pulumi.Output[str]:
    """``arn:<partition>:iot:<region>:<account>:*``: what Device Defender names as
    ``aws:SourceArn`` when it assumes a role for audits, alerts or mitigation actions."""
    return regional_arn(partition, "iot", region, account_id, "*")
