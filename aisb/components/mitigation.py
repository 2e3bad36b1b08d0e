"""AISB #7 (respond): mitigation actions ready to apply to Device Defender violations."""

from collections.abc import Mapping
from types import MappingProxyType
from typing import Required, TypedDict

import pulumi
import pulumi_aws as aws
import pulumi_aws_native as aws_native

from aisb import iam
from aisb import validation as v
from aisb.components._util import (
    BOUNDARY,
    IAM_ROLE,
    IOT_NAME,
    check_name,
    child,
    iam_settled,
    iot_source_arn,
    merge_tags,
    native_tags,
    policy_json,
    require_args,
    service_role,
)
from aisb.options import Option, resolve


class DetectMitigationsArgs(TypedDict, total=False):
    """Arguments of ``DetectMitigations``."""

    account_id: Required[pulumi.Input[str]]
    """The AWS account id."""
    region: Required[pulumi.Input[str]]
    """The AWS region the providers deploy to."""
    partition: Required[pulumi.Input[str]]
    """The AWS partition."""
    alert_topic_arn: Required[pulumi.Input[str]]
    """The SNS topic findings are published to."""
    alert_topic_kms_key_arn: pulumi.Input[str | None]
    """The KMS key encrypting the topic, if any."""
    permissions_boundary: pulumi.Input[str]
    """The ARN of an IAM managed policy set as the permissions boundary of every role this
    component creates (the deploy role's ``aisb-role-boundary`` where deploys run as it)."""
    tags: Mapping[str, str]
    """Tags for every taggable child."""


OPTIONS = {
    "permissions_boundary": BOUNDARY,
    "tags": Option(MappingProxyType({}), v.tags),
}


class DetectMitigations(pulumi.ComponentResource):
    """Respond to a violation or audit finding. Nothing runs automatically: an operator applies
    an action with ``StartDetectMitigationActionsTask`` (or ``StartAuditMitigationActionsTask``
    for audit findings); see the README.

    The quarantine group's deny applies only to connections AWS IoT links to the thing (client
    ID equal to the thing name, or an exclusive certificate attachment): the documented
    response to a compromised device applies quarantine and deactivate-certificate together,
    since an inactive certificate cannot authenticate whatever its client ID.

    Creates:
    - ``<name>-quarantine-group``: a thing group; ``<name>-quarantine-policy`` (an IoT policy
      that denies every IoT action) attached to it by ``<name>-quarantine-attachment``, so a
      device moved into the group loses all access at its next request;
    - ``<name>-quarantine``: ADD_THINGS_TO_THING_GROUP into that group (leaving dynamic groups
      if the thing is in the most it may be),
      with ``<name>-quarantine-role`` allowed only to add things to that one group;
    - ``<name>-deactivate-certificate``: UPDATE_DEVICE_CERTIFICATE to DEACTIVATE, with a role
      allowed only ``iot:UpdateCertificate`` on this account's certificates;
    - ``<name>-publish-finding``: PUBLISH_FINDING_TO_SNS to the alert topic, with a role
      allowed only to publish there (and use its key).

    Outputs: ``quarantine_group_name``, ``quarantine_action_name``,
    ``deactivate_action_name``, ``publish_action_name``.
    """

    name_limits = MappingProxyType(
        {
            "-quarantine-group": IOT_NAME,
            "-quarantine-policy": IOT_NAME,
            "-deactivate-certificate": IOT_NAME,
            "-quarantine-role": IAM_ROLE,
            "-deactivate-role": IAM_ROLE,
            "-publish-role": IAM_ROLE,
        }
    )

    quarantine_group_name: pulumi.Output[str]
    quarantine_action_name: pulumi.Output[str | None]
    deactivate_action_name: pulumi.Output[str | None]
    publish_action_name: pulumi.Output[str | None]

    def __init__(
        self, name: str, args: DetectMitigationsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        check_name("DetectMitigations", name, self.name_limits)
        a = resolve("DetectMitigations", OPTIONS, (), args, declared_by=DetectMitigationsArgs)
        require_args(
            "DetectMitigations", args, "account_id", "region", "partition", "alert_topic_arn"
        )
        super().__init__("aisb:index:DetectMitigations", name, None, opts)
        account_id, region, partition = args["account_id"], args["region"], args["partition"]
        topic_arn = args["alert_topic_arn"]
        tags = merge_tags(a["tags"], "AISB-7")

        group = aws.iot.ThingGroup(
            f"{name}-quarantine-group",
            properties={"description": "aisb: devices moved here lose all AWS IoT access"},
            tags=tags,
            opts=child(self),
        )
        deny_all = aws.iot.Policy(
            f"{name}-quarantine-policy",
            policy=policy_json(iam.quarantine_iot_policy),
            tags=tags,
            opts=child(self),
        )
        aws.iot.PolicyAttachment(
            f"{name}-quarantine-attachment",
            policy=deny_all.name,
            target=group.arn,
            opts=child(self),
        )

        def action(
            suffix: str,
            policy: pulumi.Output[str],
            params: aws_native.iot.MitigationActionActionParamsArgs,
            what: str,
            role_suffix: str,
        ) -> aws_native.iot.MitigationAction:
            # Role names are short (IAM allows 64 characters with Pulumi's random suffix);
            # the longer names they had before are kept as aliases.
            role = service_role(
                self,
                f"{name}-{role_suffix}-role",
                renamed_from=None if role_suffix == suffix else f"{name}-{suffix}-role",
                service="iot.amazonaws.com",
                account_id=account_id,
                description=f"aisb: lets the {what} mitigation action act",
                source_arn=iot_source_arn(partition, region, account_id),
                policy=policy,
                tags=tags,
                permissions_boundary=a["permissions_boundary"],
            )
            return aws_native.iot.MitigationAction(
                f"{name}-{suffix}",
                action_params=params,
                role_arn=role.role.arn,
                tags=native_tags(tags),
                # IoT checks it can assume the role when the action is created.
                opts=child(
                    self,
                    depends_on=[iam_settled(self, f"{name}-{role_suffix}-iam-settled", [role])],
                ),
            )

        iot = aws_native.iot
        quarantine = action(
            "quarantine",
            policy_json(iam.add_to_thing_group_policy, partition, region, account_id, group.arn),
            iot.MitigationActionActionParamsArgs(
                add_things_to_thing_group_params=iot.MitigationActionAddThingsToThingGroupParamsArgs(
                    # A thing is in at most 10 groups: make room by leaving dynamic groups
                    # rather than fail to quarantine a device that is in 10 already.
                    thing_group_names=[group.name],
                    override_dynamic_groups=True,
                )
            ),
            "quarantine",
            "quarantine",
        )
        deactivate = action(
            "deactivate-certificate",
            policy_json(iam.deactivate_certificate_policy, partition, region, account_id),
            iot.MitigationActionActionParamsArgs(
                update_device_certificate_params=iot.MitigationActionUpdateDeviceCertificateParamsArgs(
                    action=iot.MitigationActionUpdateDeviceCertificateParamsAction.DEACTIVATE
                )
            ),
            "deactivate-certificate",
            "deactivate",
        )
        publish = action(
            "publish-finding",
            policy_json(iam.sns_publish_policy, topic_arn, args.get("alert_topic_kms_key_arn")),
            iot.MitigationActionActionParamsArgs(
                publish_finding_to_sns_params=iot.MitigationActionPublishFindingToSnsParamsArgs(
                    topic_arn=topic_arn
                )
            ),
            "publish-finding",
            "publish",
        )

        self.quarantine_group_name = group.name
        self.quarantine_action_name = quarantine.action_name
        self.deactivate_action_name = deactivate.action_name
        self.publish_action_name = publish.action_name
        self.register_outputs(
            {
                "quarantine_group_name": self.quarantine_group_name,
                "quarantine_action_name": self.quarantine_action_name,
                "deactivate_action_name": self.deactivate_action_name,
                "publish_action_name": self.publish_action_name,
            }
        )
