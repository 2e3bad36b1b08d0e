"""What a deploy of the program asks AWS to authorise, derived from the tools' own sources, as IAM
requests the deploy role must allow.

- ``aws-native:*`` types: pulumi-aws-native drives the Cloud Control API with the caller's
  credentials (``cloudformation:CreateResource``... on ``*``: Service Authorization Reference,
  https://docs.aws.amazon.com/service-authorization/latest/reference/list_cloudcontrol.html), and
  Cloud Control runs the type's handlers, which call what the CloudFormation resource schema lists
  under ``handlers.<operation>.permissions`` (cfn-lint's bundled schemas).
- ``aws:*`` types: ``PROVIDER_CALLS``, one row per type with the calls its create, read, update
  and delete make, each read from the Terraform AWS provider file the row names
  (``hashicorp/terraform-provider-aws``; pulumi-aws v7 bridges its v6 line). Tag reads and writes
  come from the file's ``@Tags`` annotation (the service's generated ``tags_gen.go``).
- the invokes: ``aws:index/getCallerIdentity`` (``sts:GetCallerIdentity``) and
  ``aws:iot/getEndpoint`` (``iot:DescribeEndpoint``); ``getRegion`` and ``getPartition`` call
  nothing (``internal/service/meta/region_data_source_fw.go`` resolves the region from the
  bundled endpoint metadata).

Which resource an action is authorised on, and which condition keys its request carries, come
from parliament's copy of the Service Authorization Reference (``iam_definition.json``): each
action's resource types (required ones marked ``*``) with their ARN patterns, matched against the
ARNs the program really generates under the mock engine (the resource's own and the ones in its
inputs); its condition keys decide which of ``aws:RequestTag/*``, ``aws:TagKeys``,
``aws:ResourceTag/*``, ``iam:PermissionsBoundary``, ``iam:PolicyARN``, ``iam:PassedToService``
the request carries.
"""

from __future__ import annotations

import functools
import json
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aisb.mockengine import Recording, Registration
from tests.harness.iam_eval import Request

TF = "hashicorp/terraform-provider-aws: internal/service/"

OPERATIONS = ("create", "read", "update", "delete")


@dataclass(frozen=True)
class Calls:
    """The IAM actions one ``aws:*`` type's create/read/update/delete need.

    The first action of ``create`` is the call that creates the resource (no resource tags
    yet). ``@request`` marks an action IAM evaluates within that creating call's request (the
    Service Authorization Reference's dependent actions: tags and policies passed on create)."""

    type: str
    source: str
    create: tuple[str, ...]
    read: tuple[str, ...]
    update: tuple[str, ...] = ()
    delete: tuple[str, ...] = ()
    note: str = ""

    def operation(self, name: str) -> tuple[str, ...]:
        actions: tuple[str, ...] = getattr(self, name)
        return actions


_S3_BUCKET_READ = (
    # resourceBucketRead: HeadBucket, then one Get* per sub-configuration, GetBucketRegion
    # (HeadBucket) and the tags.
    "s3:ListBucket",
    "s3:GetBucketPolicy",
    "s3:GetBucketAcl",
    "s3:GetBucketCORS",
    "s3:GetBucketWebsite",
    "s3:GetBucketVersioning",
    "s3:GetAccelerateConfiguration",
    "s3:GetBucketRequestPayment",
    "s3:GetBucketLogging",
    "s3:GetLifecycleConfiguration",
    "s3:GetReplicationConfiguration",
    "s3:GetEncryptionConfiguration",
    "s3:GetBucketObjectLockConfiguration",
    "s3:GetBucketTagging",
)


def _bucket_part(type_: str, file: str, put: str, get: str, delete: str) -> Calls:
    return Calls(type_, f"{TF}s3/{file}", (put, get), (get,), (put, get), (delete,))


PROVIDER_CALLS: tuple[Calls, ...] = (
    Calls(
        "aws:iam/role:Role",
        f"{TF}iam/role.go",
        # resourceRoleCreate: CreateRole with Tags (iam:TagRole, IAM's tagging permissions),
        # then resourceRoleRead.
        create=(
            "iam:CreateRole",
            "iam:TagRole@request",
            "iam:GetRole",
            "iam:ListRolePolicies",
            "iam:GetRolePolicy",
            "iam:ListAttachedRolePolicies",
        ),
        read=(
            "iam:GetRole",
            "iam:ListRolePolicies",
            "iam:GetRolePolicy",
            "iam:ListAttachedRolePolicies",
        ),
        update=(
            "iam:UpdateAssumeRolePolicy",
            "iam:UpdateRoleDescription",
            "iam:UpdateRole",
            "iam:PutRolePermissionsBoundary",
            "iam:TagRole",
            "iam:UntagRole",
        ),
        # DeleteRole: deleteRoleInstanceProfiles lists the role's instance profiles first.
        delete=("iam:ListInstanceProfilesForRole", "iam:DeleteRole"),
    ),
    Calls(
        "aws:iam/rolePolicy:RolePolicy",
        f"{TF}iam/role_policy.go",
        create=("iam:PutRolePolicy", "iam:GetRolePolicy"),
        read=("iam:GetRolePolicy",),
        update=("iam:PutRolePolicy", "iam:GetRolePolicy"),
        delete=("iam:DeleteRolePolicy",),
    ),
    Calls(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        f"{TF}iam/role_policy_attachment.go",
        create=("iam:AttachRolePolicy", "iam:ListAttachedRolePolicies"),
        read=("iam:ListAttachedRolePolicies",),
        delete=("iam:DetachRolePolicy",),
    ),
    Calls(
        "aws:kms/key:Key",
        f"{TF}kms/key.go",
        # CreateKey with Policy and Tags (dependent kms:PutKeyPolicy, kms:TagResource), then
        # EnableKeyRotation, the propagation waits (GetKeyPolicy, ListResourceTags) and
        # findKeyInfo: DescribeKey, GetKeyPolicy, GetKeyRotationStatus, ListResourceTags.
        create=(
            "kms:CreateKey",
            "kms:PutKeyPolicy@request",
            "kms:TagResource@request",
            "kms:EnableKeyRotation",
            "kms:DescribeKey",
            "kms:GetKeyPolicy",
            "kms:GetKeyRotationStatus",
            "kms:ListResourceTags",
        ),
        read=(
            "kms:DescribeKey",
            "kms:GetKeyPolicy",
            "kms:GetKeyRotationStatus",
            "kms:ListResourceTags",
        ),
        update=(
            "kms:EnableKeyRotation",
            "kms:UpdateKeyDescription",
            "kms:PutKeyPolicy",
            "kms:TagResource",
            "kms:UntagResource",
        ),
        # ScheduleKeyDeletion, then waitKeyDeleted (DescribeKey).
        delete=("kms:ScheduleKeyDeletion", "kms:DescribeKey"),
    ),
    Calls(
        "aws:sns/topic:Topic",
        f"{TF}sns/topic.go",
        # CreateTopic with Tags, putTopicAttributes (SetTopicAttributes per attribute), read:
        # GetTopicAttributes; tags through @Tags (ListTagsForResource/TagResource/UntagResource).
        create=(
            "sns:CreateTopic",
            "sns:TagResource@request",
            "sns:SetTopicAttributes",
            "sns:GetTopicAttributes",
            "sns:ListTagsForResource",
        ),
        read=("sns:GetTopicAttributes", "sns:ListTagsForResource"),
        update=("sns:SetTopicAttributes", "sns:TagResource", "sns:UntagResource"),
        delete=("sns:DeleteTopic",),
    ),
    Calls(
        "aws:sns/topicPolicy:TopicPolicy",
        f"{TF}sns/topic_policy.go",
        # Put and delete both set the topic's Policy attribute (delete restores the default).
        create=("sns:SetTopicAttributes", "sns:GetTopicAttributes"),
        read=("sns:GetTopicAttributes",),
        update=("sns:SetTopicAttributes", "sns:GetTopicAttributes"),
        delete=("sns:SetTopicAttributes",),
    ),
    Calls(
        "aws:sns/topicSubscription:TopicSubscription",
        f"{TF}sns/topic_subscription.go",
        create=("sns:Subscribe", "sns:GetSubscriptionAttributes"),
        read=("sns:GetSubscriptionAttributes",),
        update=("sns:SetSubscriptionAttributes",),
        delete=("sns:Unsubscribe",),
    ),
    Calls(
        "aws:sqs/queue:Queue",
        f"{TF}sqs/queue.go",
        create=(
            "sqs:CreateQueue",
            "sqs:TagQueue@request",
            "sqs:GetQueueAttributes",
            "sqs:ListQueueTags",
        ),
        read=("sqs:GetQueueAttributes", "sqs:ListQueueTags"),
        update=("sqs:SetQueueAttributes", "sqs:TagQueue", "sqs:UntagQueue"),
        delete=("sqs:DeleteQueue", "sqs:GetQueueAttributes"),
    ),
    Calls(
        "aws:sqs/queuePolicy:QueuePolicy",
        f"{TF}sqs/queue_policy.go",
        create=("sqs:SetQueueAttributes", "sqs:GetQueueAttributes"),
        read=("sqs:GetQueueAttributes",),
        update=("sqs:SetQueueAttributes", "sqs:GetQueueAttributes"),
        delete=("sqs:SetQueueAttributes",),
    ),
    Calls(
        "aws:lambda/function:Function",
        f"{TF}lambda/function.go",
        # CreateFunction hands Lambda the execution role (dependent iam:PassRole); the read is
        # GetFunction, GetFunctionCodeSigningConfig, ListVersionsByFunction and the tags.
        create=(
            "lambda:CreateFunction",
            "iam:PassRole@request",
            "lambda:TagResource@request",
            "lambda:GetFunction",
            "lambda:GetFunctionCodeSigningConfig",
            "lambda:ListVersionsByFunction",
            "lambda:ListTags",
        ),
        read=(
            "lambda:GetFunction",
            "lambda:GetFunctionCodeSigningConfig",
            "lambda:ListVersionsByFunction",
            "lambda:ListTags",
        ),
        update=(
            "lambda:UpdateFunctionCode",
            "lambda:UpdateFunctionConfiguration",
            "iam:PassRole",
            "lambda:TagResource",
            "lambda:UntagResource",
        ),
        delete=("lambda:DeleteFunction",),
    ),
    Calls(
        "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",
        f"{TF}lambda/function_event_invoke_config.go",
        create=("lambda:PutFunctionEventInvokeConfig", "lambda:GetFunctionEventInvokeConfig"),
        read=("lambda:GetFunctionEventInvokeConfig",),
        update=("lambda:PutFunctionEventInvokeConfig", "lambda:GetFunctionEventInvokeConfig"),
        delete=("lambda:DeleteFunctionEventInvokeConfig",),
    ),
    Calls(
        "aws:lambda/permission:Permission",
        f"{TF}lambda/permission.go",
        create=("lambda:AddPermission", "lambda:GetPolicy"),
        read=("lambda:GetPolicy",),
        delete=("lambda:RemovePermission", "lambda:GetPolicy"),
    ),
    Calls(
        "aws:cloudwatch/logGroup:LogGroup",
        f"{TF}logs/group.go",
        # resourceGroupCreate: CreateLogGroup (Tags, KmsKeyId), PutRetentionPolicy; read:
        # findLogGroupByName (DescribeLogGroups) and the tags; update: retention and KMS key.
        create=(
            "logs:CreateLogGroup",
            "logs:TagResource@request",
            "logs:PutRetentionPolicy",
            "logs:DescribeLogGroups",
            "logs:ListTagsForResource",
        ),
        read=("logs:DescribeLogGroups", "logs:ListTagsForResource"),
        update=(
            "logs:PutRetentionPolicy",
            "logs:DeleteRetentionPolicy",
            "logs:AssociateKmsKey",
            "logs:DisassociateKmsKey",
            "logs:TagResource",
            "logs:UntagResource",
        ),
        delete=("logs:DeleteLogGroup",),
    ),
    Calls(
        "aws:s3/bucket:Bucket",
        f"{TF}s3/bucket.go",
        # CreateBucket (object lock enabled at creation needs PutBucketObjectLockConfiguration
        # and PutBucketVersioning, S3 user guide), then resourceBucketUpdate puts the tags and
        # resourceBucketRead reads every sub-configuration.
        create=(
            "s3:CreateBucket",
            "s3:PutBucketObjectLockConfiguration@request",
            "s3:PutBucketVersioning@request",
            "s3:PutBucketTagging",
            *_S3_BUCKET_READ,
        ),
        read=_S3_BUCKET_READ,
        update=("s3:PutBucketTagging",),
        delete=("s3:DeleteBucket",),
    ),
    _bucket_part(
        "aws:s3/bucketVersioning:BucketVersioning",
        "bucket_versioning.go",
        "s3:PutBucketVersioning",
        "s3:GetBucketVersioning",
        "s3:PutBucketVersioning",
    ),
    _bucket_part(
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "bucket_public_access_block.go",
        "s3:PutBucketPublicAccessBlock",
        "s3:GetBucketPublicAccessBlock",
        "s3:PutBucketPublicAccessBlock",
    ),
    _bucket_part(
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        "bucket_ownership_controls.go",
        "s3:PutBucketOwnershipControls",
        "s3:GetBucketOwnershipControls",
        "s3:PutBucketOwnershipControls",
    ),
    _bucket_part(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "bucket_server_side_encryption_configuration.go",
        "s3:PutEncryptionConfiguration",
        "s3:GetEncryptionConfiguration",
        "s3:PutEncryptionConfiguration",
    ),
    _bucket_part(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "bucket_lifecycle_configuration.go",
        "s3:PutLifecycleConfiguration",
        "s3:GetLifecycleConfiguration",
        "s3:PutLifecycleConfiguration",
    ),
    _bucket_part(
        "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
        "bucket_object_lock_configuration.go",
        "s3:PutBucketObjectLockConfiguration",
        "s3:GetBucketObjectLockConfiguration",
        "s3:PutBucketObjectLockConfiguration",
    ),
    _bucket_part(
        "aws:s3/bucketPolicy:BucketPolicy",
        "bucket_policy.go",
        "s3:PutBucketPolicy",
        "s3:GetBucketPolicy",
        "s3:DeleteBucketPolicy",
    ),
    Calls(
        "aws:dynamodb/table:Table",
        f"{TF}dynamodb/table.go",
        create=(
            "dynamodb:CreateTable",
            "dynamodb:TagResource@request",
            "dynamodb:DescribeTable",
            "dynamodb:UpdateContinuousBackups",
            "dynamodb:UpdateTimeToLive",
            "dynamodb:DescribeContinuousBackups",
            "dynamodb:DescribeTimeToLive",
            "dynamodb:ListTagsOfResource",
        ),
        read=(
            "dynamodb:DescribeTable",
            "dynamodb:DescribeContinuousBackups",
            "dynamodb:DescribeTimeToLive",
            "dynamodb:ListTagsOfResource",
        ),
        update=(
            "dynamodb:UpdateTable",
            "dynamodb:UpdateContinuousBackups",
            "dynamodb:UpdateTimeToLive",
            "dynamodb:TagResource",
            "dynamodb:UntagResource",
        ),
        delete=("dynamodb:DeleteTable", "dynamodb:DescribeTable"),
    ),
    Calls(
        "aws:cloudwatch/eventRule:EventRule",
        f"{TF}events/rule.go",
        create=(
            "events:PutRule",
            "events:TagResource@request",
            "events:DescribeRule",
            "events:ListTagsForResource",
        ),
        read=("events:DescribeRule", "events:ListTagsForResource"),
        update=("events:PutRule", "events:TagResource", "events:UntagResource"),
        delete=("events:DeleteRule",),
    ),
    Calls(
        "aws:cloudwatch/eventTarget:EventTarget",
        f"{TF}events/target.go",
        create=("events:PutTargets", "events:ListTargetsByRule"),
        read=("events:ListTargetsByRule",),
        update=("events:PutTargets", "events:ListTargetsByRule"),
        delete=("events:RemoveTargets",),
    ),
    Calls(
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        f"{TF}cloudwatch/metric_alarm.go",
        create=(
            "cloudwatch:PutMetricAlarm",
            "cloudwatch:TagResource@request",
            "cloudwatch:DescribeAlarms",
            "cloudwatch:ListTagsForResource",
        ),
        read=("cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource"),
        update=("cloudwatch:PutMetricAlarm", "cloudwatch:TagResource", "cloudwatch:UntagResource"),
        delete=("cloudwatch:DeleteAlarms",),
    ),
    Calls(
        "aws:iot/thingGroup:ThingGroup",
        f"{TF}iot/thing_group.go",
        # resourceThingGroupRead: FindThingGroupByName (DescribeThingGroup) and ListTags.
        create=(
            "iot:CreateThingGroup",
            "iot:TagResource@request",
            "iot:DescribeThingGroup",
            "iot:ListTagsForResource",
        ),
        read=("iot:DescribeThingGroup", "iot:ListTagsForResource"),
        update=("iot:UpdateThingGroup", "iot:TagResource", "iot:UntagResource"),
        delete=("iot:DeleteThingGroup",),
    ),
    Calls(
        "aws:iot/policy:Policy",
        f"{TF}iot/policy.go",
        # update: CreatePolicyVersion, pruning the oldest (ListPolicyVersions,
        # DeletePolicyVersion) at five; delete: every non-default version, then the policy.
        create=(
            "iot:CreatePolicy",
            "iot:TagResource@request",
            "iot:GetPolicy",
            "iot:ListTagsForResource",
        ),
        read=("iot:GetPolicy", "iot:ListTagsForResource"),
        update=(
            "iot:CreatePolicyVersion",
            "iot:ListPolicyVersions",
            "iot:DeletePolicyVersion",
            "iot:TagResource",
            "iot:UntagResource",
        ),
        delete=("iot:ListPolicyVersions", "iot:DeletePolicyVersion", "iot:DeletePolicy"),
    ),
    Calls(
        "aws:iot/policyAttachment:PolicyAttachment",
        f"{TF}iot/policy_attachment.go",
        # The read after the attach: findAttachedPolicyByTwoPartKey (ListAttachedPolicies).
        create=("iot:AttachPolicy", "iot:ListAttachedPolicies"),
        read=("iot:ListAttachedPolicies",),
        delete=("iot:DetachPolicy",),
    ),
    Calls(
        "aws:securityhub/productSubscription:ProductSubscription",
        f"{TF}securityhub/product_subscription.go",
        # EnableImportFindingsForProduct, then findProductSubscriptions pages
        # ListEnabledProductsForImport; no update (every input forces a new one).
        create=(
            "securityhub:EnableImportFindingsForProduct",
            "securityhub:ListEnabledProductsForImport",
        ),
        read=("securityhub:ListEnabledProductsForImport",),
        delete=("securityhub:DisableImportFindingsForProduct",),
    ),
    Calls(
        "aws:iot/roleAlias:RoleAlias",
        f"{TF}iot/role_alias.go",
        # CreateRoleAlias hands the role to the credentials provider (dependent iam:PassRole).
        create=(
            "iot:CreateRoleAlias",
            "iam:PassRole@request",
            "iot:TagResource@request",
            "iot:DescribeRoleAlias",
            "iot:ListTagsForResource",
        ),
        read=("iot:DescribeRoleAlias", "iot:ListTagsForResource"),
        update=("iot:UpdateRoleAlias", "iam:PassRole", "iot:TagResource", "iot:UntagResource"),
        delete=("iot:DeleteRoleAlias",),
    ),
    Calls(
        "aws:iot/domainConfiguration:DomainConfiguration",
        f"{TF}iot/domain_configuration.go",
        # The account's default iot:Data-ATS is imported (``import_``), never created: the
        # import reads it, then the update sets the TLS policy; retained on delete, so its
        # DeleteDomainConfiguration is never called. Not tagged.
        create=(
            "iot:DescribeDomainConfiguration",
            "iot:ListTagsForResource",
            "iot:UpdateDomainConfiguration",
        ),
        read=("iot:DescribeDomainConfiguration", "iot:ListTagsForResource"),
        update=("iot:UpdateDomainConfiguration",),
    ),
    Calls(
        "aws:iot/topicRule:TopicRule",
        f"{TF}iot/topic_rule.go",
        # Create passes the tags in the request; findTopicRuleByName lists the rules, then
        # GetTopicRule; tags are read by the transparent tagging; update is ReplaceTopicRule.
        # A rule whose action or error action names a role hands it to the rules engine:
        # "When creating or replacing a rule you are, in effect, passing a role to the rules
        # engine. The iam:PassRole permission is required"
        # (https://docs.aws.amazon.com/iot/latest/developerguide/pass-role.html; a Lambda
        # action passes none).
        create=(
            "iot:CreateTopicRule",
            "iam:PassRole@request",
            "iot:TagResource@request",
            "iot:ListTopicRules",
            "iot:GetTopicRule",
            "iot:ListTagsForResource",
        ),
        read=("iot:ListTopicRules", "iot:GetTopicRule", "iot:ListTagsForResource"),
        update=("iot:ReplaceTopicRule", "iam:PassRole", "iot:TagResource", "iot:UntagResource"),
        delete=("iot:DeleteTopicRule",),
    ),
    Calls(
        "aws:iot/eventConfigurations:EventConfigurations",
        f"{TF}iot/event_configurations.go",
        # resourceEventConfigurationsPut for create and update (UpdateEventConfigurations,
        # then DescribeEventConfigurations); delete is a no-op.
        create=("iot:UpdateEventConfigurations", "iot:DescribeEventConfigurations"),
        read=("iot:DescribeEventConfigurations",),
        update=("iot:UpdateEventConfigurations", "iot:DescribeEventConfigurations"),
    ),
    Calls(
        "aws:iot/loggingOptions:LoggingOptions",
        f"{TF}iot/logging_options.go",
        # resourceLoggingOptionsPut: SetV2LoggingOptions with the role; delete is a no-op.
        create=("iot:SetV2LoggingOptions", "iam:PassRole@request", "iot:GetV2LoggingOptions"),
        read=("iot:GetV2LoggingOptions",),
        update=("iot:SetV2LoggingOptions", "iam:PassRole@request", "iot:GetV2LoggingOptions"),
    ),
    Calls(
        "aws:guardduty/detector:Detector",
        f"{TF}guardduty/detector.go",
        # CreateDetector with Tags; the read is GetDetector (its tags come with it).
        create=("guardduty:CreateDetector", "guardduty:GetDetector"),
        read=("guardduty:GetDetector",),
        update=("guardduty:UpdateDetector", "guardduty:TagResource", "guardduty:UntagResource"),
        delete=("guardduty:DeleteDetector",),
    ),
    Calls(
        "aws:accessanalyzer/analyzer:Analyzer",
        f"{TF}accessanalyzer/analyzer.go",
        create=("access-analyzer:CreateAnalyzer", "access-analyzer:GetAnalyzer"),
        read=("access-analyzer:GetAnalyzer",),
        update=(
            "access-analyzer:TagResource",
            "access-analyzer:UntagResource",
            "access-analyzer:GetAnalyzer",
        ),
        delete=("access-analyzer:DeleteAnalyzer",),
    ),
    Calls(
        "aws:cloudtrail/trail:Trail",
        f"{TF}cloudtrail/trail.go",
        # CreateTrail with TagsList (dependent cloudtrail:AddTags), setLogging (StartLogging:
        # new trails do not log); the read is findTrailByARN (DescribeTrails), GetTrailStatus and
        # the tags. Event and insight selectors are read and set only when the trail has them.
        create=(
            "cloudtrail:CreateTrail",
            "cloudtrail:AddTags@request",
            "cloudtrail:StartLogging",
            "cloudtrail:DescribeTrails",
            "cloudtrail:GetTrailStatus",
            "cloudtrail:ListTags",
        ),
        read=("cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus", "cloudtrail:ListTags"),
        update=("cloudtrail:UpdateTrail", "cloudtrail:AddTags", "cloudtrail:RemoveTags"),
        delete=("cloudtrail:DeleteTrail",),
    ),
)

INVOKES: dict[str, tuple[str, ...]] = {
    "aws:index/getCallerIdentity:getCallerIdentity": ("sts:GetCallerIdentity",),
    "aws:iot/getEndpoint:getEndpoint": ("iot:DescribeEndpoint",),
    "aws:index/getRegion:getRegion": (),
    "aws:index/getPartition:getPartition": (),
}

CLOUD_CONTROL: dict[str, tuple[str, ...]] = {
    "create": ("cloudformation:CreateResource", "cloudformation:GetResourceRequestStatus"),
    "read": ("cloudformation:GetResource",),
    "update": ("cloudformation:UpdateResource", "cloudformation:GetResourceRequestStatus"),
    "delete": ("cloudformation:DeleteResource", "cloudformation:GetResourceRequestStatus"),
}

PASSED_TO: dict[str, str] = {
    "aws:lambda/function:Function": "lambda.amazonaws.com",
    "aws:iot/roleAlias:RoleAlias": "credentials.iot.amazonaws.com",
    "aws:iot/loggingOptions:LoggingOptions": "iot.amazonaws.com",
}
"""The service a type hands its role to (``iam:PassedToService``); aws-native IoT types hand
theirs to AWS IoT."""

SERVICE_LINKED: dict[str, str] = {
    # GuardDuty and Access Analyzer create their service-linked role when first enabled
    # (CreateAnalyzer's dependent iam:CreateServiceLinkedRole; GuardDuty's
    # AWSServiceRoleForAmazonGuardDuty).
    "aws:guardduty/detector:Detector": "guardduty.amazonaws.com",
    "aws:accessanalyzer/analyzer:Analyzer": "access-analyzer.amazonaws.com",
}

NAMES_OTHERS = frozenset(
    {
        # A security profile is authorised on the custom metrics its behaviours use and, when
        # attached, on its target thing groups (Service Authorization Reference, AWS IoT).
        "iot:AttachSecurityProfile",
        "iot:CreateSecurityProfile",
        "iot:DetachSecurityProfile",
        "iot:UpdateSecurityProfile",
    }
)
"""Actions authorised on the other resources a request names, not only on its own."""

NOT_CALLED: dict[tuple[str, str], tuple[str, Any]] = {
    ("aws-native:iot:JobTemplate", "iam:PassRole"): (
        "the handler passes a role only for a presigned-URL or retry configuration that names "
        "one; aisb's job template names no role",
        lambda r: not any(":role/" in a for a in _walk(r.inputs)),
    ),
    ("aws:iot/topicRule:TopicRule", "iam:PassRole"): (
        "a rule passes a role only when an action or its error action names one (a Lambda "
        "action uses the function's resource policy)",
        lambda r: not any(":role/" in a for a in _walk(r.inputs)),
    ),
    ("aws-native:iot:JobTemplate", "s3:GetObject"): (
        "the handler reads the job document from S3 only when documentSource is set; aisb's is "
        "inline (document)",
        lambda r: "documentSource" not in r.inputs and "document" in r.inputs,
    ),
}
"""Schema handler permissions that cannot apply to what the program declares, with the reason
and a check that the reason holds for the registration."""


# --- the Service Authorization Reference, as parliament ships it ------------------------------


@functools.cache
def _sar() -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import parliament

    data = json.loads((Path(parliament.__file__).parent / "iam_definition.json").read_text())
    return {s["prefix"]: s for s in data}


@dataclass(frozen=True)
class ActionInfo:
    resource_types: tuple[tuple[str, bool, re.Pattern[str], frozenset[str]], ...]
    """(name, required, ARN pattern, the resource type's condition keys)."""
    condition_keys: frozenset[str]


def _arn_pattern(arn: str) -> re.Pattern[str]:
    parts = re.split(r"(\$\{[^}]+\})", arn)
    out = []
    for part in parts:
        if part in ("${Partition}",):
            out.append(r"[a-z-]+")
        elif part in ("${Region}", "${Account}"):
            out.append(r"[^:]*")
        elif part.startswith("${"):
            out.append(r".+")
        else:
            out.append(re.escape(part))
    return re.compile("^" + "".join(out) + "$")


@functools.cache
def action_info(action: str) -> ActionInfo:
    prefix, name = action.split(":")
    service = _sar()[prefix]
    found = [p for p in service["privileges"] if p["privilege"].lower() == name.lower()]
    if not found:
        if action in {a for acts in CLOUD_CONTROL.values() for a in acts}:
            # Newer than parliament's copy; the reference lists no resource types for it.
            return ActionInfo((), frozenset())
        raise KeyError(
            f"{action} is not an action of {prefix} in the Service Authorization Reference"
        )
    resources = {r["resource"]: r for r in service["resources"]}
    types = []
    keys: set[str] = set()
    for rt in found[0]["resource_types"]:
        keys |= set(rt["condition_keys"])
        name_ = rt["resource_type"]
        if not name_:
            continue
        base = name_.rstrip("*")
        resource = resources.get(base) or next(
            r for k, r in resources.items() if k.lower() == base.lower()
        )
        types.append(
            (
                base,
                name_.endswith("*"),
                _arn_pattern(resource["arn"]),
                frozenset(resource["condition_keys"]),
            )
        )
    return ActionInfo(tuple(types), frozenset(keys))


# --- the program's resources: their ARNs and tags ---------------------------------------------


def _tags(reg: Registration) -> dict[str, str]:
    tags = reg.inputs.get("tags") or {}
    if isinstance(tags, list):
        return {t["key"]: t["value"] for t in tags}
    return dict(tags)


def _walk(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        if value.startswith("arn:"):
            yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)


def own_arns(reg: Registration, rec: Recording) -> list[str]:
    """The ARN(s) of the resource a registration manages, as IAM sees them."""
    p, region, account = rec.partition, rec.region, rec.account
    state, inputs, t = reg.state, reg.inputs, reg.type

    def arn(service: str, resource: str, regional: bool = True) -> str:
        return f"arn:{p}:{service}:{region if regional else ''}:{account}:{resource}"

    if t == "aws-native:iot:CustomMetric":
        return [arn("iot", f"custommetric/{inputs['metricName']}")]
    if t == "aws:guardduty/detector:Detector":
        return [arn("guardduty", f"detector/{reg.id}")]
    if t.startswith("aws:s3/bucket") and "bucket" in inputs:
        return [f"arn:{p}:s3:::{inputs['bucket']}"]
    if t in ("aws:iam/rolePolicy:RolePolicy", "aws:iam/rolePolicyAttachment:RolePolicyAttachment"):
        return [arn("iam", f"role/{inputs['role']}", regional=False)]
    if t == "aws:lambda/permission:Permission":
        return [arn("lambda", f"function:{inputs['function']}")]
    if t == "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig":
        return [arn("lambda", f"function:{inputs['functionName']}")]
    if t == "aws:cloudwatch/eventTarget:EventTarget":
        return [arn("events", f"rule/{inputs['rule']}")]
    if t == "aws:sqs/queuePolicy:QueuePolicy":
        return [arn("sqs", inputs["queueUrl"].rsplit("/", 1)[1])]
    if t == "aws:sns/topicPolicy:TopicPolicy":
        return [inputs["arn"]]
    if t == "aws:sns/topicSubscription:TopicSubscription":
        return [inputs["topic"]]
    if t == "aws:iot/policyAttachment:PolicyAttachment":
        return [inputs["target"]]
    for key in ("arn", "securityProfileArn", "actionArn", "scheduledAuditArn"):
        if isinstance(state.get(key), str) and state[key].startswith("arn:"):
            out = [state[key]]
            if t == "aws:cloudwatch/logGroup:LogGroup":
                out.append(state[key] + ":*")
            return out
    return []


def related_arns(reg: Registration, rec: Recording) -> list[str]:
    """Other resources a request about ``reg`` names: every ARN in its inputs, and the custom
    metrics a security profile's behaviours use (by name)."""
    out = list(_walk(reg.inputs))
    if reg.type == "aws-native:iot:SecurityProfile":
        metrics = [b.get("metric", "") for b in reg.inputs.get("behaviors", [])]
        metrics += [m.get("metric", "") for m in reg.inputs.get("additionalMetricsToRetainV2", [])]
        for metric in metrics:
            if metric and not metric.startswith("aws:"):
                out.append(
                    f"arn:{rec.partition}:iot:{rec.region}:{rec.account}:custommetric/{metric}"
                )
    return out


@dataclass(frozen=True)
class Need:
    """One request a deploy makes, and where the need comes from."""

    stack: str
    type: str
    name: str
    operation: str
    source: str
    request: Request
    boundary_missing: bool = False
    problem: str = ""
    """Set when the request could not be built (a required resource with no ARN): a failure."""

    def __str__(self) -> str:
        return (
            f"{self.stack}: {self.type} {self.name} {self.operation}: {self.request.action} on "
            f"{self.request.resource} ({self.source}){' ' + self.problem if self.problem else ''}"
        )


@dataclass
class _Program:
    stack: str
    rec: Recording
    tags_by_arn: dict[str, dict[str, str]] = field(default_factory=dict)
    boundary_by_role: dict[str, str | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for reg in self.rec.custom() + self.rec.reads:
            for arn in own_arns(reg, self.rec):
                if reg.type in (
                    "aws:iam/rolePolicy:RolePolicy",
                    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
                ):
                    continue
                self.tags_by_arn.setdefault(arn, _tags(reg))
        for reg in self.rec.of_type("aws:iam/role:Role"):
            for arn in own_arns(reg, self.rec):
                self.boundary_by_role[arn] = reg.inputs.get("permissionsBoundary")


def _requests(
    program: _Program,
    reg: Registration,
    operation: str,
    actions: tuple[str, ...],
    source: str,
) -> Iterator[Need]:
    rec = program.rec
    own, related = own_arns(reg, rec), related_arns(reg, rec)
    tags = _tags(reg)
    creating_resources: list[str] = []
    for index, entry in enumerate(actions):
        action, _, scope = entry.partition("@")
        if (reg.type, action) in NOT_CALLED:
            _reason, holds = NOT_CALLED[(reg.type, action)]
            if holds(reg):
                continue
        info = action_info(action)
        in_create_request = scope == "request"
        creating = operation == "create" and (
            (index == 0 and not reg.type.startswith("aws-native:"))
            or action.split(":")[1].startswith("Create")
        )
        if in_create_request and creating_resources and action != "iam:PassRole":
            resources = [(r, frozenset[str]()) for r in creating_resources]
        else:
            resources = []
            for name, required, pattern, keys in info.resource_types:
                mine = [a for a in own if pattern.match(a)]
                others = [a for a in related if pattern.match(a)]
                if action == "iam:PassRole":
                    hits = others  # the role handed over, never the resource itself
                elif required:
                    hits = mine or others
                elif action in NAMES_OTHERS:
                    hits = mine + others
                else:
                    hits = mine
                if required and not hits:
                    yield Need(
                        program.stack,
                        reg.type,
                        reg.name,
                        operation,
                        source,
                        Request(action, "?"),
                        problem=f"no {name} ARN in the registration",
                    )
                resources += [(h, keys) for h in dict.fromkeys(hits) if (h, keys) not in resources]
            if not resources:
                resources = [("*", frozenset())]
        if creating:
            creating_resources = [r for r, _ in resources]
        supports_request_tags = any(k.startswith("aws:RequestTag") for k in info.condition_keys)
        tagging = action.split(":")[1].startswith(("Tag", "AddTags", "PutBucketTagging"))
        for resource, resource_keys in resources:
            context: dict[str, Any] = {}
            missing = False
            if tags and (in_create_request or (supports_request_tags and (creating or tagging))):
                context.update({f"aws:RequestTag/{k}": v for k, v in tags.items()})
                context["aws:TagKeys"] = sorted(tags)
            # Only the resource being created has no tags yet; the others a request names do.
            existing = not (creating or in_create_request) or resource not in own
            if existing and "aws:ResourceTag/${TagKey}" in resource_keys:
                for k, v in program.tags_by_arn.get(resource, {}).items():
                    context[f"aws:ResourceTag/{k}"] = v
            if action == "iam:PassRole":
                context["iam:PassedToService"] = PASSED_TO.get(reg.type, "iot.amazonaws.com")
            if "iam:PermissionsBoundary" in info.condition_keys:
                boundary = program.boundary_by_role.get(resource)
                if boundary:
                    context["iam:PermissionsBoundary"] = boundary
                else:
                    missing = True
            if "iam:PolicyARN" in info.condition_keys and "policyArn" in reg.inputs:
                context["iam:PolicyARN"] = reg.inputs["policyArn"]
            yield Need(
                program.stack,
                reg.type,
                reg.name,
                operation,
                source,
                Request(action, resource, context),
                boundary_missing=missing,
            )


def schema_handlers(type_: str, region: str) -> dict[str, list[str]]:
    """``handlers.<operation>.permissions`` of an aws-native type's CloudFormation schema."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    cfn = "AWS::" + "::".join(type_.split(":")[1:]).replace("iot::", "IoT::")
    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(region, cfn).schema
    return {op: list(h.get("permissions", [])) for op, h in schema["handlers"].items()}


def needs(stack: str, rec: Recording) -> list[Need]:
    """Every request ``pulumi up`` (first run and later ones) and ``pulumi destroy`` of the
    recorded program make."""
    program = _Program(stack, rec)
    rows = {c.type: c for c in PROVIDER_CALLS}
    out: list[Need] = []
    for reg in rec.custom():
        if reg.type.startswith("time:"):
            continue  # pulumiverse-time: no AWS call
        for operation in OPERATIONS:
            if operation == "delete" and reg.retain_on_delete:
                continue  # Pulumi never deletes it
            if reg.type.startswith("aws-native:"):
                handlers = schema_handlers(reg.type, rec.region)
                out += _requests(program, reg, operation, CLOUD_CONTROL[operation], "Cloud Control")
                out += _requests(
                    program,
                    reg,
                    operation,
                    tuple(handlers.get(operation, ())),
                    f"CloudFormation schema handlers.{operation}.permissions",
                )
            else:
                row = rows.get(reg.type)
                if row is None:
                    out.append(
                        Need(
                            stack,
                            reg.type,
                            reg.name,
                            operation,
                            "no PROVIDER_CALLS row",
                            Request("?", "?"),
                            problem="add the type's row",
                        )
                    )
                    break
                out += _requests(program, reg, operation, row.operation(operation), row.source)
        if reg.type in SERVICE_LINKED and "create" in OPERATIONS:
            service = SERVICE_LINKED[reg.type]
            arn = f"arn:{rec.partition}:iam::{rec.account}:role/aws-service-role/{service}/x"
            out.append(
                Need(
                    stack,
                    reg.type,
                    reg.name,
                    "create",
                    "service-linked role",
                    Request("iam:CreateServiceLinkedRole", arn, {"iam:AWSServiceName": service}),
                )
            )
    for reg in rec.reads:
        row = rows[reg.type]
        out += _requests(program, reg, "read", row.read, f"{row.source} (read at preview)")
    for token, _, _ in rec.calls:
        for action in INVOKES[token]:
            out.append(Need(stack, token, "invoke", "read", "invoke", Request(action, "*")))
    return out
