"""The IAM role each account's deployments assume: what ``pulumi up`` of the baseline needs, and
nothing that would let it make itself more than that.

``STATEMENTS`` is the role's permissions. What it must allow is not decided here but derived by
the tests from the tools' own sources (``tests/test_deploy_role.py``): the CloudFormation
resource schemas' handler permissions (bundled by cfn-lint) and Cloud Control's actions for every
``aws-native`` type, and for every ``aws`` type the calls its Terraform provider code makes
(``tests/harness/provider_calls.py``, one row per type citing the provider file), each on the
resource ARNs the program really generates and with the request's tags and pass-role context.
A small evaluator (``tests/harness/iam_eval.py``) checks every such request against the rendered
template, conditions included. When the program changes and a deploy would need more, that test
names the action, the resource and the statement it expected.

How it is scoped:

- names the program gives start with ``aisb-`` (``aisb.settings.BASELINE_NAME``); log groups are
  the baseline's own (``/aisb/*``, ``AWSIotLogsV2``);
- resources with generated ids (KMS keys, the GuardDuty detector) and custom metrics (named by the
  user, ``custommetric/<name>``) are created only with the ``aisb:control`` tag every baseline
  resource carries, and managed only while they carry it (tag-based access control,
  https://docs.aws.amazon.com/IAM/latest/UserGuide/access_tags.html);
- thing groups named by the user (``detectTargetGroups``: the fleet's own groups) may only be
  read and have aisb's security profiles attached or detached: ``AttachSecurityProfile`` is
  authorised on the profile (``aisb-*``) and on the group, so no other profile can be attached;
- ``*`` only where AWS authorises no narrower resource (the account's IoT settings, Cloud
  Control, SNS subscriptions, listings).

It cannot escalate: an explicit Deny keeps every IAM write (and ``iam:PassRole``) off its own ARN
and off its own managed policies; every role it creates, changes the policies of or attaches a
policy to must carry the permissions boundary ``aisb-role-boundary`` (a managed policy in this
template that the role has no permission to change, and may not detach from a role), so nothing
it creates can do more than the baseline's roles need (IAM permissions boundaries, delegation:
https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html). It has no
``iam:CreatePolicy``/``CreatePolicyVersion`` at all, and the only managed policy it may attach is
AWS's ``AWSIoTDeviceDefenderAudit``.

Sources: actions, resource types and condition keys, the Service Authorization Reference
(https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html;
Cloud Control: https://docs.aws.amazon.com/service-authorization/latest/reference/list_cloudcontrol.html,
no resource types, so ``*``); the 6,144-character limit of a managed policy (whitespace not
counted) and ten managed policies per role, IAM quotas
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html). The trust: Pulumi
Deployments' OIDC token (issuer ``https://api.pulumi.com/oidc``, ``aud`` the organisation,
``sub`` ``pulumi:deploy:org:<org>:project:<project>:stack:<stack>:operation:<op>:scope:write``:
https://www.pulumi.com/docs/pulumi-cloud/oidc/ and
https://www.pulumi.com/docs/deployments/deployments/oidc/aws/) and GitHub's OIDC reference
(audience ``sts.amazonaws.com``, subject ``repo:<owner>/<repo>:ref:<ref>``:
https://docs.github.com/en/actions/reference/security/oidc).

``python -m aisb_tools.deploy_role`` writes ``deploy-role/aisb-deployer.yaml``, a CloudFormation
template (deployable to every account with a service-managed StackSet); ``--check`` fails when
the file is stale.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from aisb.settings import BASELINE_NAME

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "deploy-role" / "aisb-deployer.yaml"
_GITHUB_SUBJECT = "repo:${GitHubRepository}:environment:${DeployEnvironment}"
DEPLOY_ENVIRONMENT = "aisb-deploy"
"""The GitHub environment holding the deploy secrets (``.github/workflows/deploy-shard.yml``)."""
TAG = "aisb:control"
"""The tag every resource of the baseline carries (``aisb.components._util.merge_tags``)."""
ACCOUNT = "${AWS::AccountId}"
PARTITION = "${AWS::Partition}"
P = BASELINE_NAME + "-"  # every name the program gives starts with it
BOUNDARY_NAME = "aisb-role-boundary"
"""The permissions boundary every role the deployer creates must carry (one per account)."""
BOUNDARY_ARN = f"arn:{PARTITION}:iam::{ACCOUNT}:policy/{BOUNDARY_NAME}"
SELF_ARN = f"arn:{PARTITION}:iam::{ACCOUNT}:role/${{RoleName}}"
"""The deploy role's own ARN (``RoleName`` is the template's parameter)."""
MANAGED_POLICY_LIMIT = 6_144
"""Characters of a managed policy document, whitespace excluded (IAM quotas)."""
MANAGED_POLICIES_PER_ROLE = 10


def _arn(service: str, resource: str, regional: bool = True) -> str:
    # Regions vary per stack: the role is account-wide, so any region of the account.
    region = "*" if regional else ""
    return f"arn:{PARTITION}:{service}:{region}:{ACCOUNT}:{resource}"


@dataclass(frozen=True)
class Statement:
    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    condition: dict[str, Any] = field(default_factory=dict)
    effect: str = "Allow"

    def document(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Sid": self.sid,
            "Effect": self.effect,
            "Action": list(self.actions),
            "Resource": list(self.resources) if len(self.resources) > 1 else self.resources[0],
        }
        if self.condition:
            out["Condition"] = self.condition
        return out


_TAGGED_REQUEST = {"Null": {f"aws:RequestTag/{TAG}": "false"}}
_TAGGED_RESOURCE = {"Null": {f"aws:ResourceTag/{TAG}": "false"}}
_INSIDE_BOUNDARY = {"StringEquals": {"iam:PermissionsBoundary": BOUNDARY_ARN}}
_ROLES = (_arn("iam", f"role/{P}*", regional=False),)
_AUDIT_POLICY = "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSIoTDeviceDefenderAudit"

# Every IAM write that could change a role or a policy: denied on the deploy role itself, its
# own managed policies and the boundary, whatever else allows.
IAM_WRITES = (
    "iam:AttachRolePolicy",
    "iam:DeleteRole",
    "iam:DeleteRolePermissionsBoundary",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PassRole",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
    "iam:UpdateRoleDescription",
)
POLICY_WRITES = (
    "iam:CreatePolicyVersion",
    "iam:DeletePolicy",
    "iam:DeletePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:TagPolicy",
    "iam:UntagPolicy",
)

STATEMENTS: tuple[Statement, ...] = (
    # --- what it may never do ---------------------------------------------------------------
    Statement("NeverChangeThisRole", IAM_WRITES, (SELF_ARN,), effect="Deny"),
    Statement(
        "NeverChangeTheseOrTheBoundaryPolicies",
        POLICY_WRITES,
        (_arn("iam", "policy/${RoleName}-*", regional=False), BOUNDARY_ARN),
        effect="Deny",
    ),
    # A role keeps the boundary once it has it: removing it would free the role.
    Statement(
        "NeverRemoveABoundary", ("iam:DeleteRolePermissionsBoundary",), ("*",), effect="Deny"
    ),
    # --- who and where ----------------------------------------------------------------------
    # The provider's getCallerIdentity and iot.getEndpoint invokes; IAM authorises no resource.
    Statement("WhoAndWhere", ("sts:GetCallerIdentity", "iot:DescribeEndpoint"), ("*",)),
    # --- Cloud Control: how pulumi-aws-native creates, reads, updates and deletes -----------
    # No resource types in the Service Authorization Reference: "*" only.
    Statement(
        "CloudControl",
        (
            "cloudformation:CreateResource",
            "cloudformation:DeleteResource",
            "cloudformation:GetResource",
            "cloudformation:GetResourceRequestStatus",
            "cloudformation:UpdateResource",
        ),
        ("*",),
    ),
    # --- IAM roles of the baseline, inside the boundary -------------------------------------
    Statement(
        "RolesInsideTheBoundary",
        (
            "iam:CreateRole",
            "iam:DeleteRolePolicy",
            "iam:PutRolePermissionsBoundary",
            "iam:PutRolePolicy",
        ),
        _ROLES,
        _INSIDE_BOUNDARY,
    ),
    Statement(
        "AttachTheAuditPolicyInsideTheBoundary",
        ("iam:AttachRolePolicy", "iam:DetachRolePolicy"),
        _ROLES,
        {
            "StringEquals": {"iam:PermissionsBoundary": BOUNDARY_ARN},
            "ArnEquals": {"iam:PolicyARN": _AUDIT_POLICY},
        },
    ),
    # Reads, tags, the trust and the description: IAM presents no boundary key for these; a
    # role whose policies it may not change is only a role the baseline's own code describes.
    Statement(
        "Roles",
        (
            "iam:DeleteRole",
            "iam:GetRole",
            "iam:GetRolePolicy",
            "iam:ListAttachedRolePolicies",
            "iam:ListInstanceProfilesForRole",
            "iam:ListRolePolicies",
            "iam:TagRole",
            "iam:UntagRole",
            "iam:UpdateAssumeRolePolicy",
            "iam:UpdateRole",
            "iam:UpdateRoleDescription",
        ),
        _ROLES,
    ),
    Statement(
        "PassRolesToTheirServices",
        ("iam:PassRole",),
        _ROLES,
        {
            "StringEquals": {
                "iam:PassedToService": [
                    "credentials.iot.amazonaws.com",
                    "iot.amazonaws.com",
                    "lambda.amazonaws.com",
                ]
            }
        },
    ),
    Statement(
        "ServiceLinkedRoles",
        ("iam:CreateServiceLinkedRole",),
        (_arn("iam", "role/aws-service-role/*", regional=False),),
        {
            "StringEquals": {
                "iam:AWSServiceName": [
                    "access-analyzer.amazonaws.com",
                    "guardduty.amazonaws.com",
                ]
            }
        },
    ),
    # --- KMS keys: generated ids, so by tag ---------------------------------------------------
    # Tagging a key while creating it needs kms:TagResource "in an IAM policy that isn't
    # restricted to particular KMS keys" (KMS developer guide, controlling access to tags:
    # https://docs.aws.amazon.com/kms/latest/developerguide/tag-permissions.html; "at a minimum,
    # the permission must cover all KMS keys in the account and Region",
    # https://docs.aws.amazon.com/kms/latest/developerguide/manage-tags-api.html).
    # CreateKey's dependent actions (Service Authorization Reference, AWS KMS) are evaluated in
    # its request, which carries the tags: PutKeyPolicy and TagResource requests on existing
    # keys carry no aisb:control request tag unless they set one (see the README).
    Statement(
        "CreateTaggedKeys",
        ("kms:CreateKey", "kms:PutKeyPolicy", "kms:TagResource"),
        ("*",),
        _TAGGED_REQUEST,
    ),
    Statement(
        "ManageTaggedKeys",
        (
            "kms:DescribeKey",
            "kms:EnableKeyRotation",
            "kms:GetKeyPolicy",
            "kms:GetKeyRotationStatus",
            "kms:ListResourceTags",
            "kms:PutKeyPolicy",
            "kms:ScheduleKeyDeletion",
            "kms:UntagResource",
            "kms:UpdateKeyDescription",
        ),
        (_arn("kms", "key/*"),),
        _TAGGED_RESOURCE,
    ),
    # --- SNS, SQS, Lambda, logs, S3, DynamoDB, EventBridge, CloudWatch ------------------------
    Statement(
        "Topics",
        (
            "sns:CreateTopic",
            "sns:DeleteTopic",
            "sns:GetTopicAttributes",
            "sns:ListTagsForResource",
            "sns:SetTopicAttributes",
            "sns:Subscribe",
            "sns:TagResource",
            "sns:UntagResource",
        ),
        (_arn("sns", f"{P}*"),),
    ),
    # AWS authorises these on no resource type: subscriptions can only be granted on "*".
    Statement(
        "Subscriptions",
        ("sns:GetSubscriptionAttributes", "sns:SetSubscriptionAttributes", "sns:Unsubscribe"),
        ("*",),
    ),
    Statement(
        "Queues",
        (
            "sqs:CreateQueue",
            "sqs:DeleteQueue",
            "sqs:GetQueueAttributes",
            "sqs:ListQueueTags",
            "sqs:SetQueueAttributes",
            "sqs:TagQueue",
            "sqs:UntagQueue",
        ),
        (_arn("sqs", f"{P}*"),),
    ),
    Statement(
        "Functions",
        (
            "lambda:AddPermission",
            "lambda:CreateFunction",
            "lambda:DeleteFunction",
            "lambda:DeleteFunctionEventInvokeConfig",
            "lambda:GetFunction",
            "lambda:GetFunctionCodeSigningConfig",
            "lambda:GetFunctionEventInvokeConfig",
            "lambda:GetPolicy",
            "lambda:ListTags",
            "lambda:ListVersionsByFunction",
            "lambda:PutFunctionEventInvokeConfig",
            "lambda:RemovePermission",
            "lambda:TagResource",
            "lambda:UntagResource",
            "lambda:UpdateFunctionCode",
            "lambda:UpdateFunctionConfiguration",
        ),
        (_arn("lambda", f"function:{P}*"),),
    ),
    Statement(
        "LogGroups",
        (
            "logs:AssociateKmsKey",
            "logs:CreateLogGroup",
            "logs:DeleteLogGroup",
            "logs:DeleteRetentionPolicy",
            "logs:DisassociateKmsKey",
            "logs:ListTagsForResource",
            "logs:PutRetentionPolicy",
            "logs:TagResource",
            "logs:UntagResource",
        ),
        (
            _arn("logs", f"log-group:/{BASELINE_NAME}/*"),
            _arn("logs", "log-group:AWSIotLogsV2"),
            _arn("logs", "log-group:AWSIotLogsV2:*"),
            _arn("logs", f"log-group:/{BASELINE_NAME}/*:*"),
        ),
    ),
    # Every bucket is kept on destroy (retain_on_delete), so none is ever deleted.
    Statement(
        "Buckets",
        (
            "s3:CreateBucket",
            "s3:GetAccelerateConfiguration",
            "s3:GetBucketAcl",
            "s3:GetBucketCORS",
            "s3:GetBucketLogging",
            "s3:GetBucketObjectLockConfiguration",
            "s3:GetBucketOwnershipControls",
            "s3:GetBucketPolicy",
            "s3:GetBucketPublicAccessBlock",
            "s3:GetBucketRequestPayment",
            "s3:GetBucketTagging",
            "s3:GetBucketVersioning",
            "s3:GetBucketWebsite",
            "s3:GetEncryptionConfiguration",
            "s3:GetLifecycleConfiguration",
            "s3:GetReplicationConfiguration",
            "s3:ListBucket",
            "s3:PutBucketObjectLockConfiguration",
            "s3:PutBucketOwnershipControls",
            "s3:PutBucketPolicy",
            "s3:PutBucketPublicAccessBlock",
            "s3:PutBucketTagging",
            "s3:PutBucketVersioning",
            "s3:PutEncryptionConfiguration",
            "s3:PutLifecycleConfiguration",
        ),
        (f"arn:{PARTITION}:s3:::{P}*",),
    ),
    Statement(
        "LockTable",
        (
            "dynamodb:CreateTable",
            "dynamodb:DeleteTable",
            "dynamodb:DescribeContinuousBackups",
            "dynamodb:DescribeTable",
            "dynamodb:DescribeTimeToLive",
            "dynamodb:ListTagsOfResource",
            "dynamodb:TagResource",
            "dynamodb:UntagResource",
            "dynamodb:UpdateContinuousBackups",
            "dynamodb:UpdateTable",
            "dynamodb:UpdateTimeToLive",
        ),
        (_arn("dynamodb", f"table/{P}*"),),
    ),
    Statement(
        "Rules",
        (
            "events:DeleteRule",
            "events:DescribeRule",
            "events:ListTagsForResource",
            "events:ListTargetsByRule",
            "events:PutRule",
            "events:PutTargets",
            "events:RemoveTargets",
            "events:TagResource",
            "events:UntagResource",
        ),
        (_arn("events", f"rule/{P}*"),),
    ),
    Statement(
        "Alarms",
        (
            "cloudwatch:DeleteAlarms",
            "cloudwatch:DescribeAlarms",
            "cloudwatch:ListTagsForResource",
            "cloudwatch:PutMetricAlarm",
            "cloudwatch:TagResource",
            "cloudwatch:UntagResource",
        ),
        (_arn("cloudwatch", f"alarm:{P}*"),),
    ),
    # --- AWS IoT and Device Defender --------------------------------------------------------
    Statement(
        "IotResources",
        (
            "iot:AttachPolicy",
            "iot:AttachSecurityProfile",
            "iot:CreateJobTemplate",
            "iot:CreateMitigationAction",
            "iot:CreatePolicy",
            "iot:CreatePolicyVersion",
            "iot:CreateRoleAlias",
            "iot:CreateScheduledAudit",
            "iot:CreateSecurityProfile",
            "iot:CreateThingGroup",
            "iot:DeleteJobTemplate",
            "iot:DeleteMitigationAction",
            "iot:DeletePolicy",
            "iot:DeletePolicyVersion",
            "iot:DeleteRoleAlias",
            "iot:DeleteScheduledAudit",
            "iot:DeleteSecurityProfile",
            "iot:DeleteThingGroup",
            "iot:DescribeJobTemplate",
            "iot:DescribeMitigationAction",
            "iot:DescribeRoleAlias",
            "iot:DescribeScheduledAudit",
            "iot:DescribeSecurityProfile",
            "iot:DescribeThingGroup",
            "iot:DetachPolicy",
            "iot:DetachSecurityProfile",
            "iot:GetPolicy",
            "iot:ListPolicyVersions",
            "iot:ListTagsForResource",
            "iot:ListTargetsForSecurityProfile",
            "iot:TagResource",
            "iot:UntagResource",
            "iot:UpdateMitigationAction",
            "iot:UpdateRoleAlias",
            "iot:UpdateScheduledAudit",
            "iot:UpdateSecurityProfile",
            "iot:UpdateThingGroup",
        ),
        (
            _arn("iot", f"jobtemplate/{P}*"),
            _arn("iot", f"mitigationaction/{P}*"),
            _arn("iot", f"policy/{P}*"),
            _arn("iot", f"rolealias/{P}*"),
            _arn("iot", f"scheduledaudit/{P}*"),
            _arn("iot", f"securityprofile/{P}*"),
            _arn("iot", f"thinggroup/{P}*"),
        ),
    ),
    # Custom metrics carry the user's names (aisb:customMetrics), so they are the baseline's by
    # tag: created only with it, changed and used by a profile only while they carry it.
    Statement(
        "CreateTaggedCustomMetrics",
        ("iot:CreateCustomMetric",),
        (_arn("iot", "custommetric/*"),),
        _TAGGED_REQUEST,
    ),
    Statement(
        "TaggedCustomMetrics",
        (
            "iot:AttachSecurityProfile",
            "iot:CreateSecurityProfile",
            "iot:DeleteCustomMetric",
            "iot:DescribeCustomMetric",
            "iot:DetachSecurityProfile",
            "iot:ListTagsForResource",
            "iot:TagResource",
            "iot:UntagResource",
            "iot:UpdateCustomMetric",
            "iot:UpdateSecurityProfile",
        ),
        (_arn("iot", "custommetric/*"),),
        _TAGGED_RESOURCE,
    ),
    # The fleet's thing groups (aisb:detectTargetGroups) are read at preview (ThingGroup.get) and
    # get aisb's profiles attached; Attach/DetachSecurityProfile also need the profile, which
    # IotResources allows for aisb- profiles only.
    Statement(
        "DetectTargetGroups",
        (
            "iot:AttachSecurityProfile",
            "iot:DescribeThingGroup",
            "iot:DetachSecurityProfile",
            "iot:ListTagsForResource",
        ),
        (_arn("iot", "thinggroup/*"),),
    ),
    # Account-wide IoT settings and listings: AWS IoT authorises them on no resource.
    # Certificate rotation's IoT rules (aisb:certRotationJobs). Rule names take no hyphens
    # (CreateTopicRule's ruleName pattern in botocore's iot model): the baseline's name and an
    # underscore.
    Statement(
        "TopicRules",
        (
            "iot:CreateTopicRule",
            "iot:DeleteTopicRule",
            "iot:GetTopicRule",
            "iot:ListTagsForResource",
            "iot:ReplaceTopicRule",
            "iot:TagResource",
            "iot:UntagResource",
        ),
        (_arn("iot", f"rule/{BASELINE_NAME}_*"),),
    ),
    Statement(
        "IotAccountSettings",
        (
            "iot:DeleteAccountAuditConfiguration",
            "iot:DescribeAccountAuditConfiguration",
            # Job execution events, which certificate rotation follows (account-wide).
            "iot:DescribeEventConfigurations",
            "iot:GetV2LoggingOptions",
            "iot:ListAttachedPolicies",
            # The Terraform provider finds a rule by listing them first (topic_rule.go).
            "iot:ListTopicRules",
            "iot:SetV2LoggingOptions",
            "iot:UpdateAccountAuditConfiguration",
            "iot:UpdateEventConfigurations",
        ),
        ("*",),
    ),
    # --- GuardDuty, Access Analyzer, CloudTrail ---------------------------------------------
    # CreateDetector takes aws:RequestTag/aws:TagKeys itself and lists no dependent action
    # (Service Authorization Reference, Amazon GuardDuty): tags on create need nothing more.
    Statement("CreateTaggedDetector", ("guardduty:CreateDetector",), ("*",), _TAGGED_REQUEST),
    Statement(
        "ManageTaggedDetector",
        (
            "guardduty:DeleteDetector",
            "guardduty:TagResource",
            "guardduty:UntagResource",
            "guardduty:UpdateDetector",
        ),
        (_arn("guardduty", "detector/*"),),
        _TAGGED_RESOURCE,
    ),
    Statement(
        "Analyzer",
        (
            "access-analyzer:CreateAnalyzer",
            "access-analyzer:DeleteAnalyzer",
            "access-analyzer:GetAnalyzer",
            "access-analyzer:TagResource",
            "access-analyzer:UntagResource",
        ),
        (_arn("access-analyzer", f"analyzer/{P}*"),),
    ),
    # No StopLogging (it would blind the trail), no PutEventSelectors or Get*Selectors (the trail
    # keeps the default selector: the provider sets and reads selectors only when it has some).
    Statement(
        "Trail",
        (
            "cloudtrail:AddTags",
            "cloudtrail:CreateTrail",
            "cloudtrail:DeleteTrail",
            "cloudtrail:GetTrailStatus",
            "cloudtrail:ListTags",
            "cloudtrail:RemoveTags",
            "cloudtrail:StartLogging",
            "cloudtrail:UpdateTrail",
        ),
        (_arn("cloudtrail", f"trail/{P}*"),),
    ),
    # --- aisb preflight (and the providers' listings): reads only ---------------------------
    # Device Defender findings into Security Hub (aisb:securityHub). The Service Authorization
    # Reference gives these actions only an optional resource type (the hub, hub/default).
    Statement(
        "SecurityHubProductSubscriptions",
        (
            "securityhub:DisableImportFindingsForProduct",
            "securityhub:EnableImportFindingsForProduct",
            "securityhub:ListEnabledProductsForImport",
        ),
        ("*",),
    ),
    # The TLS policy of the account's default data endpoint (aisb:iotTlsPolicy): imported and
    # updated, never created or deleted (no Create/DeleteDomainConfiguration).
    Statement(
        "DefaultEndpointTlsPolicy",
        (
            "iot:DescribeDomainConfiguration",
            "iot:ListTagsForResource",
            "iot:UpdateDomainConfiguration",
        ),
        (_arn("iot", "domainconfiguration/iot:Data-ATS/*"),),
    ),
    # What preflight asks before a deploy (aisb_tools/cli/preflight_checks.py); listings and account
    # settings that AWS authorises on no resource.
    Statement(
        "PreflightReads",
        (
            "access-analyzer:ListAnalyzers",
            "cloudtrail:DescribeTrails",
            "guardduty:ListDetectors",
            "iot:DescribeAccountAuditConfiguration",
            "iot:ListScheduledAudits",
            "iot:ListSecurityProfiles",
            "iot:ListThingGroups",
            "lambda:GetAccountSettings",
            "logs:DescribeLogGroups",
            "securityhub:DescribeHub",
            "sts:GetCallerIdentity",
            "tag:GetResources",
        ),
        ("*",),
    ),
    # A detector the organisation made (aisb:guardDutyDetectorId) carries no aisb tag.
    Statement(
        "PreflightReadsTheDetector", ("guardduty:GetDetector",), (_arn("guardduty", "detector/*"),)
    ),
    # Preflight asks IAM's simulator about this role itself.
    Statement(
        "PreflightSimulatesThisRole",
        ("iam:GetRole", "iam:SimulatePrincipalPolicy"),
        (SELF_ARN,),
    ),
)

# The ceiling of every role the deployer creates: what the baseline's roles do, read from
# their policies (tests/test_deploy_role.py checks every action of every role the program
# declares against it), and the reads of AWS's AWSIoTDeviceDefenderAudit, which "provides read
# access for IoT and related resources"
# (https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSIoTDeviceDefenderAudit.html).
# Nothing in it writes IAM, assumes roles or changes keys.
BOUNDARY: tuple[Statement, ...] = (
    Statement(
        "WhatTheBaselineRolesDo",
        (
            # Certificate rotation's functions with a Private CA (aisb:certRotationJobs).
            "acm-pca:GetCertificate",
            "acm-pca:IssueCertificate",
            "dynamodb:DeleteItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:Scan",
            "dynamodb:UpdateItem",
            "iot:AddThingToThingGroup",
            # Certificate rotation: issue, attach, retire; the monitor starts rotation jobs.
            "iot:AttachThingPrincipal",
            "iot:CreateCertificateFromCsr",
            "iot:CreateJob",
            "iot:DeleteCertificate",
            "iot:DetachThingPrincipal",
            "iot:Publish",
            "iot:RegisterCertificateWithoutCA",
            "iot:UpdateCertificate",
            "kms:Decrypt",
            "kms:GenerateDataKey",
            "lambda:InvokeFunction",
            "logs:CreateLogGroup",
            "logs:CreateLogStream",
            "logs:PutLogEvents",
            "logs:PutMetricFilter",
            "logs:PutRetentionPolicy",
            "s3:AbortMultipartUpload",
            "s3:PutObject",
            "sns:Publish",
            "sqs:SendMessage",
        ),
        ("*",),
    ),
    # Certificate rotation gives a device's new certificate the IoT policies of its old one:
    # AWS IoT policies (what a device may do over MQTT), on certificates only, never on thing
    # groups and never IAM. The Service Authorization Reference files these as permissions
    # management; they are the only such actions the boundary holds.
    Statement(
        "CarryDevicePoliciesToNewCertificates",
        ("iot:AttachPolicy", "iot:DetachPolicy"),
        (_arn("iot", "cert/*"),),
    ),
    Statement(
        "WhatTheAuditReads",
        (
            "cognito-identity:GetIdentityPoolRoles",
            "iam:GetPolicy",
            "iam:GetPolicyVersion",
            "iam:GetRole",
            "iam:GetRolePolicy",
            "iam:ListAttachedRolePolicies",
            "iam:ListRolePolicies",
            "iot:Describe*",
            "iot:Get*",
            "iot:List*",
        ),
        ("*",),
    ),
)


def _document(statements: tuple[Statement, ...] | list[Statement]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [s.document() for s in statements]}


def policy() -> dict[str, Any]:
    """Every statement of the role as one document (what the managed policies hold together)."""
    return _document(STATEMENTS)


def _size(document: dict[str, Any]) -> int:
    # IAM counts a managed policy's characters without whitespace.
    return len(json.dumps(document, separators=(",", ":")))


def policies() -> list[dict[str, Any]]:
    """The statements packed, in order, into managed policies of at most 6,144 characters."""
    parts: list[list[Statement]] = [[]]
    for statement in STATEMENTS:
        if parts[-1] and _size(_document([*parts[-1], statement])) > MANAGED_POLICY_LIMIT - 200:
            parts.append([])
        parts[-1].append(statement)
    return [_document(part) for part in parts]


def boundary() -> dict[str, Any]:
    return _document(BOUNDARY)


_PROVIDER = "arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:oidc-provider/{url}"
PULUMI_SUBJECT = (
    "pulumi:deploy:org:{org}:project:" + BASELINE_NAME + ":stack:{stack}:operation:*:scope:write"
)
"""Pulumi Deployments' subject claim for any operation (preview, update, refresh, destroy) of
one stack (https://www.pulumi.com/docs/pulumi-cloud/oidc/)."""


def _pulumi_subjects() -> dict[str, Any]:
    # One subject per stack name of this account. CloudFormation cannot put a parameter in a
    # Fn::Join delimiter, so the subjects after the first match the organisation with "*": the
    # organisation is pinned by the audience (Pulumi sets aud to it) and by the provider's client
    # ID list all the same.
    first = PULUMI_SUBJECT.format(org="${PulumiOrganization}", stack="${Stacks}")
    glue = ",".join(
        [
            PULUMI_SUBJECT.format(org="", stack="").split(":stack:")[1],
            PULUMI_SUBJECT.format(org="*", stack="").split(":stack:")[0] + ":stack:",
        ]
    )
    return {
        "Fn::Split": [
            ",",
            {"Fn::Sub": [first, {"Stacks": {"Fn::Join": [glue, {"Ref": "StackNames"}]}}]},
        ]
    }


def _trust() -> dict[str, Any]:
    pulumi = "api.pulumi.com/oidc"
    github = "token.actions.githubusercontent.com"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PulumiDeploymentsOfThisAccountsStacks",
                "Effect": "Allow",
                "Principal": {
                    "Federated": {
                        "Fn::If": [
                            "CreatePulumiProvider",
                            {"Ref": "PulumiOidcProvider"},
                            {"Fn::Sub": _PROVIDER.format(url=pulumi)},
                        ]
                    }
                },
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {f"{pulumi}:aud": {"Ref": "PulumiOrganization"}},
                    "StringLike": {f"{pulumi}:sub": _pulumi_subjects()},
                },
            },
            {
                "Fn::If": [
                    "TrustGitHub",
                    {
                        "Sid": "GitHubActionsDeployWorkflow",
                        "Effect": "Allow",
                        "Principal": {
                            "Federated": {
                                "Fn::If": [
                                    "CreateGitHubProvider",
                                    {"Ref": "GitHubOidcProvider"},
                                    {"Fn::Sub": _PROVIDER.format(url=github)},
                                ]
                            }
                        },
                        "Action": "sts:AssumeRoleWithWebIdentity",
                        "Condition": {
                            "StringEquals": {
                                f"{github}:aud": "sts.amazonaws.com",
                                # A job that names an environment gets the subject
                                # repo:<owner>/<repo>:environment:<name> (GitHub's OIDC
                                # reference, example subject claims:
                                # https://docs.github.com/en/actions/reference/security/oidc);
                                # the environment admits only the default branch and reviewers.
                                f"{github}:sub": {"Fn::Sub": _GITHUB_SUBJECT},
                            }
                        },
                    },
                    {"Ref": "AWS::NoValue"},
                ]
            },
        ],
    }


def _policy_name(n: int) -> str:
    return f"DeployPolicy{n + 1}"


def template() -> dict[str, Any]:
    """The CloudFormation template of the deploy role."""

    def yes_no(description: str) -> dict[str, Any]:
        return {
            "Type": "String",
            "AllowedValues": ["true", "false"],
            "Default": "true",
            "Description": description,
        }

    documents = policies()
    managed = {
        _policy_name(n): {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {
                "ManagedPolicyName": {"Fn::Sub": f"${{RoleName}}-{n + 1}"},
                "Description": f"aisb deploy role, part {n + 1} of {len(documents)}",
                "PolicyDocument": _sub(document),
            },
        }
        for n, document in enumerate(documents)
    }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": (
            "The IAM role aisb deployments assume in this account (Pulumi Deployments of this "
            "account's stacks and the GitHub deploy workflow, by OIDC), with what `pulumi up` of "
            "the baseline needs, and the permissions boundary of the roles it creates. Generated "
            "by `python -m aisb_tools.deploy_role`."
        ),
        "Parameters": {
            "PulumiOrganization": {
                "Type": "String",
                "Description": (
                    "The Pulumi Cloud organisation (the inventory's organization), in lower case "
                    "as Pulumi writes it: it is the OIDC audience, compared case-sensitively."
                ),
                "AllowedPattern": "[a-z0-9][a-z0-9_.-]{0,39}",
                "ConstraintDescription": "the organisation's name, lower case",
            },
            "StackNames": {
                "Type": "CommaDelimitedList",
                "Description": (
                    "This account's stacks of the aisb project (<account name>-<region>, as "
                    "`aisb fleet matrix` lists them): only their deployments may assume the role."
                ),
                # Each name, never a pattern: a "*" would trust every stack of the project
                # (CloudFormation applies the pattern to each value of a CommaDelimitedList).
                "AllowedPattern": "[A-Za-z0-9_.-]{1,100}",
                "ConstraintDescription": "stack names: letters, digits, '-', '_', '.'",
            },
            "GitHubRepository": {
                "Type": "String",
                "Default": "",
                "Description": "owner/repo of the deploy workflow; empty: trust Pulumi only.",
                "AllowedPattern": "^$|[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+",
            },
            "DeployEnvironment": {
                "Type": "String",
                "Default": DEPLOY_ENVIRONMENT,
                "Description": "The GitHub environment the deploy workflow's job runs in.",
                "AllowedPattern": "[A-Za-z0-9_.-]{1,255}",
            },
            "RoleName": {
                "Type": "String",
                "Default": "aisb-deployer",
                "Description": "The inventory's deployRole.",
                "AllowedPattern": "[A-Za-z0-9+=,.@_-]{1,60}",
            },
            "CreatePulumiProvider": yes_no(
                "false when the account already has Pulumi's OIDC provider; that provider must "
                "then list the organisation (lower case) as a client ID (audience)."
            ),
            "CreateGitHubProvider": yes_no(
                "false when the account already has GitHub's OIDC provider."
            ),
        },
        "Conditions": {
            "CreatePulumiProvider": {"Fn::Equals": [{"Ref": "CreatePulumiProvider"}, "true"]},
            "TrustGitHub": {"Fn::Not": [{"Fn::Equals": [{"Ref": "GitHubRepository"}, ""]}]},
            "CreateGitHubProvider": {
                "Fn::And": [
                    {"Condition": "TrustGitHub"},
                    {"Fn::Equals": [{"Ref": "CreateGitHubProvider"}, "true"]},
                ]
            },
        },
        "Resources": {
            "PulumiOidcProvider": {
                "Type": "AWS::IAM::OIDCProvider",
                "Condition": "CreatePulumiProvider",
                "Properties": {
                    "Url": "https://api.pulumi.com/oidc",
                    "ClientIdList": [{"Ref": "PulumiOrganization"}],
                },
            },
            "GitHubOidcProvider": {
                "Type": "AWS::IAM::OIDCProvider",
                "Condition": "CreateGitHubProvider",
                "Properties": {
                    "Url": "https://token.actions.githubusercontent.com",
                    "ClientIdList": ["sts.amazonaws.com"],
                },
            },
            "RoleBoundary": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {
                    "ManagedPolicyName": BOUNDARY_NAME,
                    "Description": (
                        "Permissions boundary of every role the aisb deploy role creates"
                    ),
                    "PolicyDocument": _sub(boundary()),
                },
            },
            **managed,
            "DeployRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": {"Ref": "RoleName"},
                    "MaxSessionDuration": 3600,
                    "AssumeRolePolicyDocument": _trust(),
                    "ManagedPolicyArns": [{"Ref": name} for name in managed],
                    "Tags": [{"Key": TAG, "Value": "deploy-role"}],
                },
            },
        },
        "Outputs": {
            "RoleArn": {"Value": {"Fn::GetAtt": ["DeployRole", "Arn"]}},
            "RoleBoundaryArn": {"Value": {"Ref": "RoleBoundary"}},
        },
    }


def _sub(value: Any) -> Any:
    """Strings holding ``${...}`` as ``Fn::Sub``, so CloudFormation fills them in."""
    if isinstance(value, dict):
        return {k: _sub(x) for k, x in value.items()}
    if isinstance(value, list):
        return [_sub(x) for x in value]
    if isinstance(value, str) and "${" in value:
        return {"Fn::Sub": value}
    return value


def render() -> str:
    header = (
        "# Generated from aisb_tools/deploy_role.py by\n"
        "# `uv run python -m aisb_tools.deploy_role`: edit the permissions there.\n"
        "# Deploy to every account with a service-managed StackSet.\n"
    )
    return header + yaml.safe_dump(template(), sort_keys=False, width=100)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not TEMPLATE.is_file() or TEMPLATE.read_text() != text:
            print(
                f"{TEMPLATE} is stale: run `uv run python -m aisb_tools.deploy_role`",
                file=sys.stderr,
            )
            return 1
        return 0
    TEMPLATE.parent.mkdir(exist_ok=True)
    TEMPLATE.write_text(text)
    sizes = ", ".join(str(_size(d)) for d in policies())
    print(f"wrote {TEMPLATE} (managed policies of {sizes} characters)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
