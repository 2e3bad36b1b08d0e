"""AISB #7: the alert topic every control publishes to."""

import hashlib
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Required, TypedDict

import pulumi
import pulumi_aws as aws

from aisb import iam
from aisb import validation as v
from aisb.components._util import (
    RANDOM_SUFFIX,
    admit_publishers,
    check_name,
    child,
    customer_key,
    merge_tags,
    policy_json,
    require_args,
)
from aisb.options import Option, resolve


class SecurityAlertsArgs(TypedDict, total=False):
    """Arguments of ``SecurityAlerts``."""

    account_id: Required[pulumi.Input[str]]
    """The AWS account id."""
    partition: Required[pulumi.Input[str]]
    """The AWS partition, e.g. ``aws``."""
    region: pulumi.Input[str]
    """The AWS region of the topic; binds the key's service grants to this region's topics
    (without it, to this account's topics in any region). The baseline passes it."""
    emails: Sequence[str]
    """Addresses subscribed to the topic by e-mail; each must confirm the subscription."""
    emails_secret: bool
    """Keep the addresses secret: they are stored encrypted in the Pulumi state."""
    service_publishers: Sequence[str]
    """AWS service principals that publish to the topic directly (``cloudwatch.amazonaws.com``
    for alarms, ``events.amazonaws.com`` for EventBridge rules); granted on topic and key."""
    source_arn_publishers: Mapping[str, Sequence[pulumi.Input[str]]]
    """AWS service principals that publish for specific resources only, e.g.
    ``{"events.amazonaws.com": [rule_arn]}``: the topic policy requires ``aws:SourceArn``; the
    key requires it only where the service presents it to KMS (EventBridge does not)."""
    existing_topic_arn: pulumi.Input[str]
    """Use this topic instead of creating one (no key or topic policy is created then)."""
    existing_topic_kms_key_arn: pulumi.Input[str]
    """The KMS key encrypting ``existing_topic_arn``, if any: publishers are granted its use."""
    tags: Mapping[str, str]
    """Tags for every taggable child."""


def _service_principals(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(p, str) for p in value):
        raise v.InvalidValue(value, "a list of AWS service principals")
    bad = [p for p in value if not p.endswith(".amazonaws.com")]
    if bad:
        raise v.InvalidValue(bad[0], "AWS service principals such as cloudwatch.amazonaws.com")
    return tuple(value)


def _by_service(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise v.InvalidValue(value, "a map of AWS service principals to resource ARNs")
    _service_principals(list(value))
    return value


OPTIONS = {
    "emails": Option((), lambda x: v.emails(x, at_least_one=False)),
    "emails_secret": Option(False, v.boolean),
    "service_publishers": Option((), _service_principals),
    "source_arn_publishers": Option(MappingProxyType({}), _by_service),
    "tags": Option(MappingProxyType({}), v.tags),
}


class SecurityAlerts(pulumi.ComponentResource):
    """AISB #7 -- e-mail alerts for audit findings, detect alarms and other controls.

    Creates, unless ``existing_topic_arn`` is given:
    - ``<name>-key``: a customer-managed KMS key (rotation on) the account administers through
      IAM and only the named publishing services may use, for this account's SNS topics only
      (the ``aws:sns:topicArn`` encryption context; see ``aisb.grants``);
    - ``<name>-topic``: an SNS topic encrypted with that key;
    - ``<name>-policy``: a topic policy letting this account (and those services acting for
      it) publish, and denying publishing without TLS.
    And always one e-mail subscription per address: ``<name>-email-<digest of the address>``,
    or ``<name>-email-<position>`` when the addresses are secret (a digest would reveal them:
    it is not registered even as an alias). A stack that deployed secret addresses under
    digest names keeps its confirmed subscriptions with one ``pulumi state rename`` per
    subscription, old URN (``pulumi stack --show-urns``) to ``<name>-email-<position>``;
    without it, ``pulumi up`` replaces them and each recipient confirms again.

    Outputs: ``topic_arn``, ``kms_key_arn`` (None for an existing topic without a key).
    """

    topic_arn: pulumi.Output[str]
    kms_key_arn: pulumi.Output[str | None]

    name_limits = MappingProxyType({"-topic": 256 - RANDOM_SUFFIX})

    def __init__(
        self, name: str, args: SecurityAlertsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        check_name("SecurityAlerts", name, self.name_limits)
        component = "SecurityAlerts"
        a = resolve(component, OPTIONS, (), args, declared_by=SecurityAlertsArgs)
        require_args(component, args, "account_id", "partition")
        emails, publishers = a["emails"], sorted(set(a["service_publishers"]))
        by_source = {k: list(v_) for k, v_ in a["source_arn_publishers"].items()}
        super().__init__("aisb:index:SecurityAlerts", name, None, opts)
        sources = pulumi.Output.from_input(by_source)

        account_id = args["account_id"]
        partition = args["partition"]
        tags = merge_tags(a["tags"], "AISB-7")
        existing = args.get("existing_topic_arn")

        if existing is not None:
            self.topic_arn = pulumi.Output.from_input(existing)
            self.kms_key_arn = pulumi.Output.from_input(args.get("existing_topic_kms_key_arn"))
        else:
            key = customer_key(
                self,
                f"{name}-key",
                description="aisb: encrypts the AISB security alert topic",
                account_id=account_id,
                partition=partition,
                statements=lambda part, acct, reg, by_arn: iam.kms_topic_publisher_statements(
                    iam.sns_key_context(part, reg, acct), acct, publishers, by_arn
                ),
                statement_inputs=(args.get("region", "*"), sources),
                tags=tags,
            )
            topic = aws.sns.Topic(
                f"{name}-topic",
                display_name="AISB security alerts",
                kms_master_key_id=key.arn,
                tags=tags,
                opts=child(self),
            )
            aws.sns.TopicPolicy(
                f"{name}-policy",
                arn=topic.arn,
                policy=policy_json(
                    lambda arn, part, acct, by_arn: iam.sns_topic_policy(
                        arn, part, acct, publishers, by_arn
                    ),
                    topic.arn,
                    partition,
                    account_id,
                    sources,
                ),
                opts=child(self),
            )
            self.topic_arn = topic.arn
            self.kms_key_arn = key.arn
        admit_publishers(
            self.topic_arn,
            f"SecurityAlerts {name!r}",
            None if existing is not None else [*publishers, *by_source],
        )

        for position, address in enumerate(emails):
            # Named by a digest of the address, so adding or removing one address never
            # replaces the others' (already confirmed) subscriptions. Not for secret addresses:
            # resource names and aliases are plain text in every preview and in the state, and
            # a short unsalted digest confirms a guessed address. Those are named by position,
            # with no alias to a digest name (see the class docstring for stacks deployed so).
            if a["emails_secret"]:
                aws.sns.TopicSubscription(
                    f"{name}-email-{position}",
                    topic=self.topic_arn,
                    protocol="email",
                    endpoint=pulumi.Output.secret(address),
                    opts=child(self),
                )
            else:
                digest = hashlib.sha256(address.lower().encode()).hexdigest()[:10]
                aws.sns.TopicSubscription(
                    f"{name}-email-{digest}",
                    topic=self.topic_arn,
                    protocol="email",
                    endpoint=address,
                    opts=child(self),
                )

        self.register_outputs({"topic_arn": self.topic_arn, "kms_key_arn": self.kms_key_arn})
