"""The IAM role each account's deployments assume: what ``pulumi up`` of the baseline needs.

``STATEMENTS`` is the role's permissions, one statement per kind of resource the program
declares (``COVERS`` maps every resource type to its statement; a test fails when the program
declares a type no statement covers). They are scoped as tightly as each service allows:

- resources the program names are limited to names starting ``aisb-`` (the program's baseline
  name, ``aisb.settings.BASELINE_NAME``), log groups to the baseline's own;
- resources with generated ids (KMS keys, the GuardDuty detector) may only be created with the
  ``aisb:control`` tag every baseline resource carries, and used only when they carry it;
- what AWS authorises only on ``*`` (account-wide IoT settings, listings, the caller's
  identity) is on ``*``, read-only where the service allows.

Reads use the service's ``Get*``/``List*``/``Describe*`` families on the same resources: the
providers read back every attribute of what they manage (an S3 bucket alone is read with a
dozen ``GetBucket*`` calls), so listing each read one by one would break with every provider
release. Not checked against a real deploy's CloudTrail: run one with the role and add what
``AccessDenied`` names, here, with its reason.

Sources: which actions take which resources and condition keys, the Service Authorization
Reference (https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html;
SNS subscription actions have no resource type, so they are on ``*``); tag conditions on
creation (``aws:RequestTag``) and use (``aws:ResourceTag``), IAM's tag-based access control
(https://docs.aws.amazon.com/IAM/latest/UserGuide/access_tags.html); the 10,240-character
limit on a role's inline policies, IAM quotas
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html). The trust:
Pulumi Deployments' AWS OIDC guide (provider ``https://api.pulumi.com/oidc``, audience the
organisation: https://www.pulumi.com/docs/deployments/deployments/oidc/aws/) and GitHub's
OIDC reference (audience ``sts.amazonaws.com``, subject ``repo:<owner>/<repo>:ref:<ref>``:
https://docs.github.com/en/actions/reference/security/oidc).

``python -m aisb.deploy_role`` writes ``deploy-role/aisb-deployer.yaml``, a CloudFormation
template (deployable to every account with a service-managed StackSet) with the role, its
trust of Pulumi Deployments and of GitHub Actions by OIDC, and these permissions;
``--check`` fails when the file is stale.
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
TAG = "aisb:control"
"""The tag every resource of the baseline carries (``aisb.components._util.merge_tags``)."""
ACCOUNT = "${AWS::AccountId}"
PARTITION = "${AWS::Partition}"
P = BASELINE_NAME + "-"  # every name the program gives starts with it


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

    def document(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Sid": self.sid,
            "Effect": "Allow",
            "Action": list(self.actions),
            "Resource": list(self.resources) if len(self.resources) > 1 else self.resources[0],
        }
        if self.condition:
            out["Condition"] = self.condition
        return out


_TAGGED_REQUEST = {"Null": {f"aws:RequestTag/{TAG}": "false"}}
_TAGGED_RESOURCE = {"Null": {f"aws:ResourceTag/{TAG}": "false"}}

STATEMENTS: tuple[Statement, ...] = (
    Statement(
        "WhoAndWhere",
        ("sts:GetCallerIdentity", "ec2:DescribeRegions", "iot:DescribeEndpoint"),
        ("*",),
    ),
    Statement(
        "Roles",
        (
            "iam:CreateRole",
            "iam:DeleteRole",
            "iam:GetRole",
            "iam:UpdateRole",
            "iam:UpdateAssumeRolePolicy",
            "iam:TagRole",
            "iam:UntagRole",
            "iam:ListRoleTags",
            "iam:ListRolePolicies",
            "iam:ListAttachedRolePolicies",
            "iam:ListInstanceProfilesForRole",
            "iam:PutRolePolicy",
            "iam:GetRolePolicy",
            "iam:DeleteRolePolicy",
        ),
        (_arn("iam", f"role/{P}*", regional=False),),
    ),
    Statement(
        "AttachTheAuditManagedPolicy",
        ("iam:AttachRolePolicy", "iam:DetachRolePolicy"),
        (_arn("iam", f"role/{P}*", regional=False),),
        {
            "ArnLike": {
                "iam:PolicyARN": (
                    "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSIoTDeviceDefenderAudit"
                )
            }
        },
    ),
    Statement(
        "PassRolesToTheirServices",
        ("iam:PassRole",),
        (_arn("iam", f"role/{P}*", regional=False),),
        {
            "StringEquals": {
                "iam:PassedToService": [
                    "iot.amazonaws.com",
                    "lambda.amazonaws.com",
                    "credentials.iot.amazonaws.com",
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
                    "guardduty.amazonaws.com",
                    "access-analyzer.amazonaws.com",
                ]
            }
        },
    ),
    Statement("CreateTaggedKeys", ("kms:CreateKey",), ("*",), _TAGGED_REQUEST),
    Statement(
        "ManageTaggedKeys",
        (
            "kms:DescribeKey",
            "kms:GetKeyPolicy",
            "kms:PutKeyPolicy",
            "kms:GetKeyRotationStatus",
            "kms:EnableKeyRotation",
            "kms:ListResourceTags",
            "kms:TagResource",
            "kms:UntagResource",
            "kms:ScheduleKeyDeletion",
            "kms:UpdateKeyDescription",
        ),
        (_arn("kms", "key/*"),),
        _TAGGED_RESOURCE,
    ),
    Statement("ListKeys", ("kms:ListAliases", "kms:ListKeys"), ("*",)),
    Statement(
        "Topics",
        (
            "sns:CreateTopic",
            "sns:DeleteTopic",
            "sns:GetTopicAttributes",
            "sns:SetTopicAttributes",
            "sns:TagResource",
            "sns:UntagResource",
            "sns:ListTagsForResource",
            "sns:Subscribe",
            "sns:ListSubscriptionsByTopic",
            "sns:GetDataProtectionPolicy",
        ),
        (_arn("sns", f"{P}*"),),
    ),
    # AWS authorises these on no resource type: subscriptions can only be granted on "*".
    Statement(
        "Subscriptions",
        ("sns:Unsubscribe", "sns:GetSubscriptionAttributes", "sns:SetSubscriptionAttributes"),
        ("*",),
    ),
    Statement(
        "Queues",
        (
            "sqs:CreateQueue",
            "sqs:DeleteQueue",
            "sqs:GetQueueAttributes",
            "sqs:SetQueueAttributes",
            "sqs:GetQueueUrl",
            "sqs:TagQueue",
            "sqs:UntagQueue",
            "sqs:ListQueueTags",
        ),
        (_arn("sqs", f"{P}*"),),
    ),
    Statement(
        "Functions",
        (
            "lambda:CreateFunction",
            "lambda:DeleteFunction",
            "lambda:GetFunction",
            "lambda:GetFunctionConfiguration",
            "lambda:GetFunctionCodeSigningConfig",
            "lambda:UpdateFunctionCode",
            "lambda:UpdateFunctionConfiguration",
            "lambda:ListVersionsByFunction",
            "lambda:TagResource",
            "lambda:UntagResource",
            "lambda:ListTags",
            "lambda:AddPermission",
            "lambda:RemovePermission",
            "lambda:GetPolicy",
            "lambda:PutFunctionEventInvokeConfig",
            "lambda:UpdateFunctionEventInvokeConfig",
            "lambda:GetFunctionEventInvokeConfig",
            "lambda:DeleteFunctionEventInvokeConfig",
            "lambda:PutFunctionConcurrency",
            "lambda:DeleteFunctionConcurrency",
            "lambda:GetFunctionConcurrency",
        ),
        (_arn("lambda", f"function:{P}*"),),
    ),
    Statement(
        "LogGroups",
        (
            "logs:CreateLogGroup",
            "logs:DeleteLogGroup",
            "logs:PutRetentionPolicy",
            "logs:DeleteRetentionPolicy",
            "logs:AssociateKmsKey",
            "logs:DisassociateKmsKey",
            "logs:TagResource",
            "logs:UntagResource",
            "logs:ListTagsForResource",
            "logs:ListTagsLogGroup",
            "logs:TagLogGroup",
        ),
        (
            _arn("logs", f"log-group:/{BASELINE_NAME}/*"),
            _arn("logs", "log-group:AWSIotLogsV2"),
            _arn("logs", "log-group:AWSIotLogsV2:*"),
            _arn("logs", f"log-group:/{BASELINE_NAME}/*:*"),
        ),
    ),
    Statement("DescribeLogGroups", ("logs:DescribeLogGroups",), ("*",)),
    Statement(
        "Buckets",
        (
            "s3:CreateBucket",
            "s3:DeleteBucket",
            "s3:ListBucket",
            "s3:GetBucket*",
            "s3:PutBucketPolicy",
            "s3:DeleteBucketPolicy",
            "s3:PutBucketTagging",
            "s3:PutBucketVersioning",
            "s3:PutBucketPublicAccessBlock",
            "s3:PutBucketOwnershipControls",
            "s3:PutBucketObjectLockConfiguration",
            "s3:PutEncryptionConfiguration",
            "s3:PutLifecycleConfiguration",
            "s3:GetEncryptionConfiguration",
            "s3:GetLifecycleConfiguration",
            "s3:GetReplicationConfiguration",
            "s3:GetAccelerateConfiguration",
        ),
        (_arn("s3", f"{P}*", regional=False).replace(":${AWS::AccountId}:", "::"),),
    ),
    Statement(
        "LockTable",
        (
            "dynamodb:CreateTable",
            "dynamodb:DeleteTable",
            "dynamodb:DescribeTable",
            "dynamodb:UpdateTable",
            "dynamodb:DescribeContinuousBackups",
            "dynamodb:UpdateContinuousBackups",
            "dynamodb:DescribeTimeToLive",
            "dynamodb:UpdateTimeToLive",
            "dynamodb:TagResource",
            "dynamodb:UntagResource",
            "dynamodb:ListTagsOfResource",
        ),
        (_arn("dynamodb", f"table/{P}*"),),
    ),
    Statement(
        "Rules",
        (
            "events:PutRule",
            "events:DeleteRule",
            "events:DescribeRule",
            "events:PutTargets",
            "events:RemoveTargets",
            "events:ListTargetsByRule",
            "events:TagResource",
            "events:UntagResource",
            "events:ListTagsForResource",
        ),
        (_arn("events", f"rule/{P}*"),),
    ),
    Statement(
        "Alarms",
        (
            "cloudwatch:PutMetricAlarm",
            "cloudwatch:DeleteAlarms",
            "cloudwatch:DescribeAlarms",
            "cloudwatch:TagResource",
            "cloudwatch:UntagResource",
            "cloudwatch:ListTagsForResource",
        ),
        (_arn("cloudwatch", f"alarm:{P}*"),),
    ),
    Statement(
        "IotResources",
        (
            "iot:CreateThingGroup",
            "iot:DeleteThingGroup",
            "iot:DescribeThingGroup",
            "iot:UpdateThingGroup",
            "iot:CreatePolicy",
            "iot:DeletePolicy",
            "iot:GetPolicy",
            "iot:CreatePolicyVersion",
            "iot:DeletePolicyVersion",
            "iot:ListPolicyVersions",
            "iot:AttachPolicy",
            "iot:DetachPolicy",
            "iot:ListTargetsForPolicy",
            "iot:CreateRoleAlias",
            "iot:DeleteRoleAlias",
            "iot:DescribeRoleAlias",
            "iot:UpdateRoleAlias",
            "iot:CreateMitigationAction",
            "iot:DeleteMitigationAction",
            "iot:DescribeMitigationAction",
            "iot:UpdateMitigationAction",
            "iot:CreateSecurityProfile",
            "iot:DeleteSecurityProfile",
            "iot:DescribeSecurityProfile",
            "iot:UpdateSecurityProfile",
            "iot:AttachSecurityProfile",
            "iot:DetachSecurityProfile",
            "iot:ListTargetsForSecurityProfile",
            "iot:CreateScheduledAudit",
            "iot:DeleteScheduledAudit",
            "iot:DescribeScheduledAudit",
            "iot:UpdateScheduledAudit",
            "iot:CreateJobTemplate",
            "iot:DeleteJobTemplate",
            "iot:DescribeJobTemplate",
            # Certificate rotation's rules (CertificateRotation).
            "iot:CreateTopicRule",
            "iot:DeleteTopicRule",
            "iot:GetTopicRule",
            "iot:ReplaceTopicRule",
            "iot:CreateCustomMetric",
            "iot:DeleteCustomMetric",
            "iot:DescribeCustomMetric",
            "iot:UpdateCustomMetric",
            "iot:TagResource",
            "iot:UntagResource",
            "iot:ListTagsForResource",
        ),
        (
            _arn("iot", f"thinggroup/{P}*"),
            _arn("iot", f"policy/{P}*"),
            _arn("iot", f"rolealias/{P}*"),
            _arn("iot", f"mitigationaction/{P}*"),
            _arn("iot", f"securityprofile/{P}*"),
            _arn("iot", f"scheduledaudit/{P}*"),
            _arn("iot", f"jobtemplate/{P}*"),
            _arn("iot", f"custommetric/{P}*"),
            # Rule names take no hyphens: the baseline's name and an underscore.
            _arn("iot", f"rule/{BASELINE_NAME}_*"),
        ),
    ),
    Statement(
        "IotAccountSettings",
        (
            "iot:DescribeAccountAuditConfiguration",
            "iot:UpdateAccountAuditConfiguration",
            "iot:DeleteAccountAuditConfiguration",
            "iot:GetV2LoggingOptions",
            "iot:SetV2LoggingOptions",
            "iot:GetLoggingOptions",
            "iot:SetLoggingOptions",
            # Job execution events for certificate rotation.
            "iot:DescribeEventConfigurations",
            "iot:UpdateEventConfigurations",
        ),
        ("*",),
    ),
    Statement("CreateTaggedDetector", ("guardduty:CreateDetector",), ("*",), _TAGGED_REQUEST),
    Statement(
        "ManageTaggedDetector",
        (
            "guardduty:GetDetector",
            "guardduty:UpdateDetector",
            "guardduty:DeleteDetector",
            "guardduty:TagResource",
            "guardduty:UntagResource",
            "guardduty:ListTagsForResource",
        ),
        (_arn("guardduty", "detector/*"),),
        _TAGGED_RESOURCE,
    ),
    Statement("ListDetectors", ("guardduty:ListDetectors",), ("*",)),
    Statement(
        "Analyzer",
        (
            "access-analyzer:CreateAnalyzer",
            "access-analyzer:DeleteAnalyzer",
            "access-analyzer:GetAnalyzer",
            "access-analyzer:TagResource",
            "access-analyzer:UntagResource",
            "access-analyzer:ListTagsForResource",
        ),
        (_arn("access-analyzer", f"analyzer/{P}*"),),
    ),
    Statement(
        "Trail",
        (
            "cloudtrail:CreateTrail",
            "cloudtrail:DeleteTrail",
            "cloudtrail:UpdateTrail",
            "cloudtrail:StartLogging",
            "cloudtrail:StopLogging",
            "cloudtrail:GetTrail",
            "cloudtrail:GetTrailStatus",
            "cloudtrail:GetEventSelectors",
            "cloudtrail:PutEventSelectors",
            "cloudtrail:GetInsightSelectors",
            "cloudtrail:AddTags",
            "cloudtrail:RemoveTags",
            "cloudtrail:ListTags",
        ),
        (_arn("cloudtrail", f"trail/{P}*"),),
    ),
    Statement("DescribeTrails", ("cloudtrail:DescribeTrails",), ("*",)),
)

COVERS: dict[str, tuple[str, ...]] = {
    "aws:iam/role:Role": ("Roles",),
    "aws:iam/rolePolicy:RolePolicy": ("Roles",),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": ("AttachTheAuditManagedPolicy",),
    "aws:kms/key:Key": ("CreateTaggedKeys", "ManageTaggedKeys"),
    "aws:sns/topic:Topic": ("Topics",),
    "aws:sns/topicPolicy:TopicPolicy": ("Topics",),
    "aws:sns/topicSubscription:TopicSubscription": ("Topics", "Subscriptions"),
    "aws:sqs/queue:Queue": ("Queues",),
    "aws:sqs/queuePolicy:QueuePolicy": ("Queues",),
    "aws:lambda/function:Function": ("Functions", "PassRolesToTheirServices"),
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": ("Functions",),
    "aws:lambda/permission:Permission": ("Functions",),
    "aws:cloudwatch/logGroup:LogGroup": ("LogGroups",),
    "aws:s3/bucket:Bucket": ("Buckets",),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": ("Buckets",),
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration": ("Buckets",),
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": ("Buckets",),
    "aws:s3/bucketPolicy:BucketPolicy": ("Buckets",),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": ("Buckets",),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        "Buckets",
    ),
    "aws:s3/bucketVersioning:BucketVersioning": ("Buckets",),
    "aws:dynamodb/table:Table": ("LockTable",),
    "aws:cloudwatch/eventRule:EventRule": ("Rules",),
    "aws:cloudwatch/eventTarget:EventTarget": ("Rules",),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("Alarms",),
    "aws:iot/thingGroup:ThingGroup": ("IotResources",),
    "aws:iot/policy:Policy": ("IotResources",),
    "aws:iot/topicRule:TopicRule": ("IotResources",),
    "aws:iot/eventConfigurations:EventConfigurations": ("IotAccountSettings",),
    "aws:iot/policyAttachment:PolicyAttachment": ("IotResources",),
    "aws:iot/roleAlias:RoleAlias": ("IotResources", "PassRolesToTheirServices"),
    "aws:iot/loggingOptions:LoggingOptions": ("IotAccountSettings", "PassRolesToTheirServices"),
    "aws-native:iot:AccountAuditConfiguration": ("IotAccountSettings", "PassRolesToTheirServices"),
    "aws-native:iot:MitigationAction": ("IotResources", "PassRolesToTheirServices"),
    "aws-native:iot:SecurityProfile": ("IotResources",),
    "aws-native:iot:ScheduledAudit": ("IotResources",),
    "aws-native:iot:JobTemplate": ("IotResources",),
    "aws-native:iot:CustomMetric": ("IotResources",),
    "aws:guardduty/detector:Detector": ("CreateTaggedDetector", "ManageTaggedDetector"),
    "aws:accessanalyzer/analyzer:Analyzer": ("Analyzer",),
    "aws:cloudtrail/trail:Trail": ("Trail",),
}
"""Every AWS resource type the program declares -> the statements its provider needs."""


def policy() -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [s.document() for s in STATEMENTS]}


_PROVIDER = "arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:oidc-provider/{url}"


def _trust() -> dict[str, Any]:
    pulumi = "api.pulumi.com/oidc"
    github = "token.actions.githubusercontent.com"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PulumiDeployments",
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
                    "StringLike": {
                        f"{pulumi}:sub": {
                            "Fn::Sub": "pulumi:deploy:org:${PulumiOrganization}:project:"
                            f"{BASELINE_NAME}:*"
                        }
                    },
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
                                f"{github}:sub": {
                                    "Fn::Sub": "repo:${GitHubRepository}:ref:refs/heads/${Branch}"
                                },
                            }
                        },
                    },
                    {"Ref": "AWS::NoValue"},
                ]
            },
        ],
    }


def template() -> dict[str, Any]:
    """The CloudFormation template of the deploy role."""

    def yes_no(description: str) -> dict[str, Any]:
        return {
            "Type": "String",
            "AllowedValues": ["true", "false"],
            "Default": "true",
            "Description": description,
        }

    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": (
            "The IAM role aisb deployments assume in this account (Pulumi Deployments and the "
            "GitHub deploy workflow, by OIDC), with what `pulumi up` of the baseline needs. "
            "Generated by `python -m aisb.deploy_role`."
        ),
        "Parameters": {
            "PulumiOrganization": {
                "Type": "String",
                "Description": "The Pulumi Cloud organisation (the inventory's organization).",
                "AllowedPattern": "[A-Za-z0-9][A-Za-z0-9_.-]{0,39}",
            },
            "GitHubRepository": {
                "Type": "String",
                "Default": "",
                "Description": "owner/repo of the deploy workflow; empty: trust Pulumi only.",
                "AllowedPattern": "^$|[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+",
            },
            "Branch": {"Type": "String", "Default": "main"},
            "RoleName": {
                "Type": "String",
                "Default": "aisb-deployer",
                "Description": "The inventory's deployRole.",
            },
            "CreatePulumiProvider": yes_no(
                "false when the account already has Pulumi's OIDC provider."
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
            "DeployRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": {"Ref": "RoleName"},
                    "MaxSessionDuration": 3600,
                    "AssumeRolePolicyDocument": _trust(),
                    "Policies": [{"PolicyName": "aisb-deploy", "PolicyDocument": _sub(policy())}],
                    "Tags": [{"Key": TAG, "Value": "deploy-role"}],
                },
            },
        },
        "Outputs": {"RoleArn": {"Value": {"Fn::GetAtt": ["DeployRole", "Arn"]}}},
    }


def _sub(value: Any) -> Any:
    """Strings holding ``${AWS::...}`` as ``Fn::Sub``, so CloudFormation fills them in."""
    if isinstance(value, dict):
        return {k: _sub(x) for k, x in value.items()}
    if isinstance(value, list):
        return [_sub(x) for x in value]
    if isinstance(value, str) and "${AWS::" in value:
        return {"Fn::Sub": value}
    return value


def render() -> str:
    header = (
        "# Generated from aisb/deploy_role.py by `uv run python -m aisb.deploy_role`: edit the\n"
        "# permissions there. Deploy to every account with a service-managed StackSet.\n"
    )
    return header + yaml.safe_dump(template(), sort_keys=False, width=100)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not TEMPLATE.is_file() or TEMPLATE.read_text() != text:
            print(f"{TEMPLATE} is stale: run `uv run python -m aisb.deploy_role`", file=sys.stderr)
            return 1
        return 0
    TEMPLATE.parent.mkdir(exist_ok=True)
    TEMPLATE.write_text(text)
    print(f"wrote {TEMPLATE} ({len(json.dumps(policy(), separators=(',', ':')))} policy bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
