"""Pure builders of IAM, KMS and SNS policy documents.

Every function takes plain strings (account, partition, ARNs) and returns a policy document as
a ``dict``; components serialise them inside ``Output.apply``. Keeping them pure means they are
tested without Pulumi, and every document the program builds is linted with parliament.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aisb import grants

PolicyDocument = dict[str, Any]
Statement = dict[str, Any]

VERSION = "2012-10-17"

# Key administration and use for the account itself. Listed action by action (no "kms:*"):
# the account root statement is what lets IAM policies in the account manage the key, and it
# must keep kms:PutKeyPolicy so the key can never be locked out. aisb keys are referred to by
# ARN, so the alias actions (which also need the alias as a resource) are not granted.
KMS_ACCOUNT_ACTIONS: tuple[str, ...] = (
    "kms:CancelKeyDeletion",
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListGrants",
    "kms:ListKeyPolicies",
    "kms:ListKeyRotations",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:RetireGrant",
    "kms:RevokeGrant",
    "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateKeyDescription",
)

# What a publisher to an SSE-KMS encrypted SNS topic needs on the topic's key.
KMS_PUBLISH_ACTIONS: tuple[str, ...] = ("kms:Decrypt", "kms:GenerateDataKey")


def dns_suffix(partition: str) -> str:
    """The domain of service principals in a partition."""
    return {"aws-cn": "amazonaws.com.cn"}.get(partition, "amazonaws.com")


def document(*statements: Statement) -> PolicyDocument:
    """A policy document holding ``statements``."""
    return {"Version": VERSION, "Statement": list(statements)}


def account_root_arn(partition: str, account_id: str) -> str:
    """The ARN that stands for the whole account in a resource policy."""
    return f"arn:{partition}:iam::{account_id}:root"


def service_trust_policy(
    service: str, account_id: str, source_arn: str | None = None
) -> PolicyDocument:
    """A role trust policy for one AWS service, acting for this account only.

    ``aws:SourceAccount`` (and ``aws:SourceArn`` where the caller is known) stops the
    confused-deputy problem: another account cannot make the service assume this role. Each is
    used only where ``aisb.grants`` says the service presents it when assuming a role: a key
    the service does not send makes the role impossible to assume.
    """
    if source_arn is not None and not grants.sends(service, "trust", "aws:SourceArn"):
        raise ValueError(f"{service} presents no aws:SourceArn when it assumes a role")
    statement: Statement = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    condition: dict[str, dict[str, str]] = {}
    if grants.sends(service, "trust", "aws:SourceAccount"):
        condition["StringEquals"] = {"aws:SourceAccount": account_id}
    if source_arn is not None:
        condition["ArnLike"] = {"aws:SourceArn": source_arn}
    if condition:
        statement["Condition"] = condition
    return document(statement)


def kms_key_policy(
    partition: str,
    account_id: str,
    service_statements: Iterable[Statement] = (),
) -> PolicyDocument:
    """A customer-managed key policy: the account administers the key through IAM, and only
    the given service statements grant anything to AWS services.

    In a key policy ``"Resource": "*"`` means "this key"; it is the only form KMS accepts.
    """
    return document(
        {
            "Sid": "AccountAdministersKeyThroughIam",
            "Effect": "Allow",
            "Principal": {"AWS": account_root_arn(partition, account_id)},
            "Action": list(KMS_ACCOUNT_ACTIONS),
            "Resource": "*",
        },
        *service_statements,
    )


def sns_key_context(partition: str, region: str, account_id: str) -> str:
    """The ``aws:sns:topicArn`` encryption context of every topic of this account in a region:
    SNS sends the topic's ARN as encryption context with every data key it asks for."""
    return f"arn:{partition}:sns:{region}:{account_id}:*"


def _sid(prefix: str, service: str) -> str:
    return prefix + "".join(p.title() for p in service.split(".")[0].split("-"))


def kms_topic_publisher_statements(
    topic_context: str,
    account_id: str,
    services: Sequence[str] = (),
    source_arn_publishers: Mapping[str, Sequence[str]] | None = None,
) -> list[Statement]:
    """Key statements letting AWS services that publish to an encrypted SNS topic use its key.

    Each is bound to the topic by the encryption context SNS sends (``topic_context``, see
    ``sns_key_context``), and further to this account (``services``) or to the named resources
    (``source_arn_publishers``) only where the service presents ``aws:SourceAccount`` or
    ``aws:SourceArn`` to KMS on this path: ``aisb.grants`` says which. EventBridge presents
    neither; a grant conditioned on them would silently drop every finding.
    """
    by_arn = source_arn_publishers or {}
    statements: list[Statement] = []
    for service in sorted(set(services) | set(by_arn)):
        condition: dict[str, dict[str, Any]] = {
            "StringLike": {"kms:EncryptionContext:aws:sns:topicArn": topic_context}
        }
        if service in services and grants.sends(service, "key", "aws:SourceAccount"):
            condition["StringEquals"] = {"aws:SourceAccount": account_id}
        elif by_arn.get(service) and grants.sends(service, "key", "aws:SourceArn"):
            condition["ArnEquals"] = {"aws:SourceArn": sorted(by_arn[service])}
        statements.append(
            {
                "Sid": _sid("KeyFor", service),
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": list(KMS_PUBLISH_ACTIONS),
                "Resource": "*",
                "Condition": condition,
            }
        )
    return statements


def kms_logs_statement(region: str, partition: str, account_id: str, log_group: str) -> Statement:
    """Lets CloudWatch Logs encrypt one log group with the key, and nothing else."""
    return {
        "Sid": "CloudWatchLogsEncryptsOneLogGroup",
        "Effect": "Allow",
        "Principal": {"Service": f"logs.{region}.{dns_suffix(partition)}"},
        # No kms:DescribeKey: it takes no encryption context, so under this condition it would
        # never be allowed anyway.
        "Action": [
            "kms:Decrypt",
            "kms:Encrypt",
            "kms:GenerateDataKey",
            "kms:GenerateDataKeyWithoutPlaintext",
            "kms:ReEncryptFrom",
            "kms:ReEncryptTo",
        ],
        "Resource": "*",
        "Condition": {
            "StringEquals": {
                "kms:EncryptionContext:aws:logs:arn": log_group_arn(
                    partition, region, account_id, log_group
                )
            }
        },
    }


def log_group_arn(partition: str, region: str, account_id: str, name: str) -> str:
    """The ARN of a CloudWatch Logs log group (without the trailing ``:*``)."""
    return f"arn:{partition}:logs:{region}:{account_id}:log-group:{name}"


def sns_topic_policy(
    topic_arn: str,
    partition: str,
    account_id: str,
    service_publishers: Sequence[str] = (),
    source_arn_publishers: Mapping[str, Sequence[str]] | None = None,
) -> PolicyDocument:
    """The alert topic's policy: this account (and the named services acting for it, or for
    the named resources only) may publish; nobody may publish without TLS."""
    statements: list[Statement] = [
        {
            "Sid": "AccountPublishes",
            "Effect": "Allow",
            "Principal": {"AWS": account_root_arn(partition, account_id)},
            "Action": "sns:Publish",
            "Resource": topic_arn,
        }
    ]
    if service_publishers:
        statements.append(
            {
                "Sid": "ServicesPublishForThisAccount",
                "Effect": "Allow",
                "Principal": {"Service": sorted(service_publishers)},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            }
        )
    statements += source_arn_publisher_statements(topic_arn, source_arn_publishers or {})
    statements.append(
        {
            "Sid": "DenyPublishWithoutTls",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sns:Publish",
            "Resource": topic_arn,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )
    return document(*statements)


def sns_publish_policy(topic_arn: str, kms_key_arn: str | None) -> PolicyDocument:
    """A role policy allowing only publishing to one topic (and using its key, if encrypted)."""
    statements: list[Statement] = [
        {
            "Sid": "PublishToAlertTopic",
            "Effect": "Allow",
            "Action": "sns:Publish",
            "Resource": topic_arn,
        }
    ]
    if kms_key_arn:
        statements.append(
            {
                "Sid": "UseAlertTopicKey",
                "Effect": "Allow",
                "Action": list(KMS_PUBLISH_ACTIONS),
                "Resource": kms_key_arn,
            }
        )
    return document(*statements)


def iot_logging_policy(
    partition: str, region: str, account_id: str, log_group: str
) -> PolicyDocument:
    """What AWS IoT's logging role may do, on the ``AWSIotLogsV2`` log group only.

    The actions are those of the logging role policy AWS documents
    (https://docs.aws.amazon.com/iot/latest/developerguide/cloud-watch-logs.html, the
    ``AWSIoTLogging`` managed policy), which grants them on every log group. AWS does not say
    which of them v2 logging calls, so none is withheld (a missing one would stop logging with
    no error anywhere); the grant is narrowed to the one group instead. ``PutRetentionPolicy``
    lets AWS IoT, and only it, change that group's retention: aisb owns the group, so a change
    shows as drift and the next ``pulumi up`` restores the retention configured.
    """
    group = log_group_arn(partition, region, account_id, log_group)
    return document(
        {
            "Sid": "WriteIotLogs",
            "Effect": "Allow",
            "Action": list(IOT_LOGGING_ACTIONS),
            "Resource": [group, f"{group}:log-stream:*"],
        }
    )


# The logging role policy AWS documents for AWS IoT (see iot_logging_policy).
IOT_LOGGING_ACTIONS: tuple[str, ...] = (
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "logs:PutMetricFilter",
    "logs:PutRetentionPolicy",
)


def deny_insecure_transport(resources: Sequence[str], action: str) -> Statement:
    """Denies every request to ``resources`` that does not use TLS."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": action,
        "Resource": list(resources),
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def bucket_policy(bucket_arn: str, *statements: Statement) -> PolicyDocument:
    """A bucket policy: the given grants, and no access without TLS."""
    return document(*statements, deny_insecure_transport([bucket_arn, f"{bucket_arn}/*"], "s3:*"))


def kms_logs_prefix_statement(
    region: str, partition: str, account_id: str, log_group_prefix: str
) -> Statement:
    """Lets CloudWatch Logs use the key for log groups whose names start with a prefix."""
    statement = kms_logs_statement(region, partition, account_id, log_group_prefix + "*")
    statement["Sid"] = "CloudWatchLogsEncryptsItsLogGroups"
    statement["Condition"] = {"StringLike": statement["Condition"]["StringEquals"]}
    return statement


def rule_error_queue_policy(queue_arn: str) -> PolicyDocument:
    """What AWS IoT needs to put a rule's failed message in a queue (the rule's SQS error
    action: "An IAM role that AWS IoT can assume to perform the sqs:SendMessage operation",
    https://docs.aws.amazon.com/iot/latest/developerguide/sqs-rule-action.html). The queue is
    encrypted with SQS-managed keys, so no KMS grant is needed."""
    return document(
        {
            "Sid": "DeadLetterFailedRuleActions",
            "Effect": "Allow",
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
        }
    )


def events_to_queue_policy(queue_arn: str, rule_arns: Sequence[str]) -> PolicyDocument:
    """A dead-letter queue policy: only the named EventBridge rules may send to it."""
    return document(
        {
            "Sid": "EventBridgeRulesDeadLetter",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": list(rule_arns)}},
        },
        deny_insecure_transport([queue_arn], "sqs:*"),
    )


def cert_rotation_policy(
    *,
    function_arn: str,
    log_group_arn: str,
    lock_table_arn: str,
    topic_arn: str,
    topic_key_arn: str | None,
    dead_letter_queue_arn: str,
    report_bucket_arn: str | None,
    report_prefix: str,
    report_key_arn: str | None,
    thing_names: bool,
    rotation_job_template_arn: str | None = None,
) -> PolicyDocument:
    """Exactly what the certificate-rotation function calls; with
    ``rotation_job_template_arn``, also start rotation jobs from that template (CreateJob
    needs the job, its thing targets and the template: parliament's iam_definition.json)."""
    statements: list[Statement] = [
        {
            # ListCertificates accepts no resource: "*" is the only form IAM takes for it.
            "Sid": "ListCertificates",
            "Effect": "Allow",
            "Action": "iot:ListCertificates",
            "Resource": "*",
        },
        {
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"{log_group_arn}:log-stream:*",
        },
        {
            "Sid": "ContinueInNewInvocation",
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": function_arn,
        },
        {
            "Sid": "DeadLetterFailedInvocations",
            "Effect": "Allow",
            "Action": "sqs:SendMessage",
            "Resource": dead_letter_queue_arn,
        },
        {
            # Take, hand over and release the scan's lease (conditional writes on one item);
            # read it to answer a drill.
            "Sid": "HoldScanLease",
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            "Resource": lock_table_arn,
        },
        *sns_publish_policy(topic_arn, topic_key_arn)["Statement"],
    ]
    if rotation_job_template_arn:
        from aisb.functions.cert_rotator.protocol import JOB_PREFIX

        iot = rotation_job_template_arn.split(":jobtemplate/", 1)[0]
        statements.append(
            {
                "Sid": "StartRotationJobs",
                "Effect": "Allow",
                "Action": "iot:CreateJob",
                # The Service Authorization Reference marks job, thing and thinggroup as
                # required resource types of CreateJob; the monitor targets things only.
                "Resource": [
                    f"{iot}:job/{JOB_PREFIX}*",
                    f"{iot}:thing/*",
                    f"{iot}:thinggroup/*",
                    rotation_job_template_arn,
                ],
            }
        )
    if thing_names or rotation_job_template_arn:
        statements.append(
            {
                # ListPrincipalThings accepts no resource either.
                "Sid": "ListThingsOfCertificates",
                "Effect": "Allow",
                "Action": "iot:ListPrincipalThings",
                "Resource": "*",
            }
        )
    if report_bucket_arn:
        statements.append(
            {
                "Sid": "WriteReports",
                "Effect": "Allow",
                "Action": ["s3:AbortMultipartUpload", "s3:PutObject"],
                "Resource": f"{report_bucket_arn}/{report_prefix}*",
            }
        )
        if report_key_arn:
            statements.append(
                {
                    "Sid": "EncryptReports",
                    "Effect": "Allow",
                    # Multipart uploads to SSE-KMS objects need Decrypt as well.
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                    "Resource": report_key_arn,
                }
            )
    return document(*statements)


def quarantine_iot_policy() -> PolicyDocument:
    """An AWS IoT policy that denies every IoT action. Attached to the quarantine thing group,
    it overrides any allow the device's own policies give (an explicit deny always wins), so a
    quarantined device can no longer connect, publish, subscribe or get credentials."""
    # A deny is the one place a service-wide action is right: it must also cover IoT actions
    # added after this was written.
    return document(
        {"Sid": "QuarantineDeniesEverything", "Effect": "Deny", "Action": "iot:*", "Resource": "*"}
    )


def add_to_thing_group_policy(
    partition: str, region: str, account_id: str, group_arn: str
) -> PolicyDocument:
    """What the ADD_THINGS_TO_THING_GROUP mitigation action needs: find the device's thing and
    add it to one group."""
    return document(
        {
            "Sid": "AddThingsToQuarantineGroup",
            "Effect": "Allow",
            "Action": "iot:AddThingToThingGroup",
            "Resource": [group_arn, f"arn:{partition}:iot:{region}:{account_id}:thing/*"],
        },
        {
            # ListPrincipalThings accepts no resource.
            "Sid": "FindThingOfCertificate",
            "Effect": "Allow",
            "Action": "iot:ListPrincipalThings",
            "Resource": "*",
        },
    )


def deactivate_certificate_policy(partition: str, region: str, account_id: str) -> PolicyDocument:
    """What the UPDATE_DEVICE_CERTIFICATE (deactivate) mitigation action needs."""
    return document(
        {
            "Sid": "DeactivateDeviceCertificates",
            "Effect": "Allow",
            "Action": "iot:UpdateCertificate",
            "Resource": f"arn:{partition}:iot:{region}:{account_id}:cert/*",
        }
    )


def cloudtrail_key_statements(partition: str, account_id: str, trail_arn: str) -> list[Statement]:
    """AWS's CloudTrail key policy, bound to one trail with ``aws:SourceArn``: CloudTrail may
    encrypt that trail's logs and describe the key; the account (through IAM) may decrypt."""
    context = f"arn:{partition}:cloudtrail:*:{account_id}:trail/*"
    return [
        {
            "Sid": "CloudTrailEncryptsLogs",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "kms:GenerateDataKey*",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"aws:SourceArn": trail_arn},
                "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": context},
            },
        },
        {
            "Sid": "CloudTrailDescribesKey",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "kms:DescribeKey",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}},
        },
        {
            "Sid": "AccountDecryptsLogFiles",
            "Effect": "Allow",
            "Principal": {"AWS": account_root_arn(partition, account_id)},
            "Action": ["kms:Decrypt", "kms:ReEncryptFrom"],
            "Resource": "*",
            "Condition": {
                "StringEquals": {"kms:CallerAccount": account_id},
                "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": context},
            },
        },
    ]


def cloudtrail_bucket_statements(
    bucket_arn: str, account_id: str, trail_arn: str
) -> list[Statement]:
    """Only this trail may read the bucket ACL and write its log files."""
    condition = {"StringEquals": {"aws:SourceArn": trail_arn}}
    return [
        {
            "Sid": "CloudTrailAclCheck",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "s3:GetBucketAcl",
            "Resource": bucket_arn,
            "Condition": condition,
        },
        {
            "Sid": "CloudTrailWrite",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": f"{bucket_arn}/AWSLogs/{account_id}/*",
            "Condition": {
                "StringEquals": {
                    "aws:SourceArn": trail_arn,
                    "s3:x-amz-acl": "bucket-owner-full-control",
                }
            },
        },
    ]


def source_arn_publisher_statements(
    topic_arn: str, publishers: Mapping[str, Sequence[str]]
) -> list[Statement]:
    """Topic statements letting each service publish for exactly the named resources."""
    return [
        {
            "Sid": _sid("PublishFrom", service),
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": "sns:Publish",
            "Resource": topic_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": sorted(arns)}},
        }
        for service, arns in sorted(publishers.items())
    ]


def device_log_upload_policy(
    bucket_arn: str, key_arn: str, region: str, partition: str
) -> PolicyDocument:
    """What a device's temporary credentials may do: create objects (in one request or in
    parts) under its own thing name's prefix in the device-log bucket, never over an existing
    one, and use the bucket's key only through S3 for that bucket; nothing else: no reading,
    no listing, no other device's prefix, no direct KMS call."""
    own_prefix = f"{bucket_arn}/${{credentials-iot:ThingName}}/*"
    # A device must not replace its own evidence: a request that creates an object
    # (PutObject, CompleteMultipartUpload, both the s3:PutObject action) is allowed only with
    # If-None-Match, which S3 refuses with 412 when the key exists; s3:ObjectCreationOperation
    # is false for CreateMultipartUpload and UploadPart, which take no conditional header.
    # AWS's own example, allow-based so that a request without the keys is refused:
    # https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes-enforce.html
    return document(
        {
            "Sid": "UploadUnderOwnThingName",
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": own_prefix,
            "Condition": {"Null": {"s3:if-none-match": "false"}},
        },
        {
            "Sid": "UploadPartsUnderOwnThingName",
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": own_prefix,
            "Condition": {"Bool": {"s3:ObjectCreationOperation": "false"}},
        },
        {
            "Sid": "AbortOwnUploads",
            "Effect": "Allow",
            "Action": "s3:AbortMultipartUpload",
            "Resource": own_prefix,
        },
        {
            # Multipart uploads of SSE-KMS objects need Decrypt too; without s3:GetObject it
            # reads nothing. Only S3 in this region may use the key for the device
            # (kms:ViaService, https://docs.aws.amazon.com/kms/latest/developerguide/
            # conditions-kms.html#conditions-kms-via-service), and only for this bucket: with
            # an S3 Bucket Key (aisb's buckets have one) the encryption context is the bucket
            # ARN, without one the object ARN (https://docs.aws.amazon.com/AmazonS3/latest/
            # userguide/configuring-bucket-key.html, UsingKMSEncryption.html#encryption-context).
            "Sid": "EncryptUploads",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": key_arn,
            "Condition": {
                "StringEquals": {"kms:ViaService": f"s3.{region}.{dns_suffix(partition)}"},
                "StringLike": {"kms:EncryptionContext:aws:s3:arn": [bucket_arn, own_prefix]},
            },
        },
    )


def device_assume_role_alias_policy(role_alias_arn: str) -> PolicyDocument:
    """The AWS IoT policy for devices: exchange their certificate for credentials of one role
    alias, and nothing more."""
    return document(
        {
            "Sid": "AssumeDeviceLogRoleAlias",
            "Effect": "Allow",
            "Action": "iot:AssumeRoleWithCertificate",
            "Resource": role_alias_arn,
        }
    )


# Certificate rotation (AISB #6). Resource types per action from parliament's bundled copy of
# the Service Authorization Reference (parliament/iam_definition.json, service "iot"):
# CreateCertificateFromCsr, RegisterCertificateWithoutCA, ListThingPrincipals,
# ListAttachedPolicies, AttachThingPrincipal and DetachThingPrincipal name no resource type
# ("*" is the only form IAM takes for them); DescribeJobExecution takes job and thing;
# GetJobDocument job; DescribeCertificate, UpdateCertificate, DeleteCertificate cert;
# AttachPolicy and DetachPolicy cert; Publish topic. Service "acm-pca": IssueCertificate,
# GetCertificate and RevokeCertificate take certificate-authority, and IssueCertificate alone
# has a condition key, acm-pca:TemplateArn (type ARN), "the arn of the certificate template
# used in Issue Certificate request". events and sweep write the state too: a rollback claims
# the item (ROLLING_BACK) before it acts, and both complete claimed commits.
_ROTATION_ACTIONS: dict[str, tuple[str, ...]] = {
    "create": ("job", "describe", "attach", "remove", "issue", "reply", "state-write"),
    "commit": ("job", "describe", "deactivate", "reply", "state-write"),
    "events": ("describe", "remove", "reactivate", "alert", "state-write", "state-delete"),
    "sweep": (
        "job",
        "describe",
        "remove",
        "reactivate",
        "alert",
        "state-write",
        "state-delete",
        "state-scan",
    ),
}
ROTATION_PCA_TEMPLATE = "EndEntityClientAuthCertificate/V1"
"""The Private CA template rotation certificates are issued with (client authentication only;
https://docs.aws.amazon.com/privateca/latest/userguide/UsingTemplates.html); the create
function's ``CLIENT_AUTH_TEMPLATE`` is the same, and a test keeps them equal."""


def rotation_function_policy(
    role: str,
    *,
    partition: str,
    region: str,
    account_id: str,
    log_group_arn: str,
    table_arn: str,
    dead_letter_queue_arn: str,
    topic_arn: str,
    topic_key_arn: str | None,
    private_ca_arn: str | None,
) -> PolicyDocument:
    """Exactly what one certificate rotation function (create, commit, events, sweep) calls."""
    from aisb.functions.cert_rotator.protocol import JOB_PREFIX, TOPIC_PREFIX

    iot = f"arn:{partition}:iot:{region}:{account_id}"
    needs = _ROTATION_ACTIONS[role]
    statements: list[Statement] = [
        {
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"{log_group_arn}:log-stream:*",
        },
        {
            "Sid": "DeadLetterFailedInvocations",
            "Effect": "Allow",
            "Action": "sqs:SendMessage",
            "Resource": dead_letter_queue_arn,
        },
        {
            # These accept no resource (see above).
            "Sid": "ListThingsCertificatesAndPolicies",
            "Effect": "Allow",
            "Action": ["iot:ListAttachedPolicies", "iot:ListThingPrincipals"],
            "Resource": "*",
        },
    ]
    if "job" in needs:
        statements.append(
            {
                "Sid": "ReadRotationJobs",
                "Effect": "Allow",
                "Action": ["iot:DescribeJobExecution", "iot:GetJobDocument"],
                "Resource": [f"{iot}:job/{JOB_PREFIX}*", f"{iot}:thing/*"],
            }
        )
    cert_actions = ["iot:DescribeCertificate"]
    if "deactivate" in needs or "remove" in needs or "reactivate" in needs:
        cert_actions.append("iot:UpdateCertificate")
    if "remove" in needs:
        cert_actions += ["iot:DeleteCertificate", "iot:DetachPolicy"]
    if "attach" in needs:
        cert_actions.append("iot:AttachPolicy")
    statements.append(
        {
            "Sid": "ManageDeviceCertificates",
            "Effect": "Allow",
            "Action": sorted(cert_actions),
            "Resource": f"{iot}:cert/*",
        }
    )
    thing_actions = []
    if "attach" in needs:
        thing_actions.append("iot:AttachThingPrincipal")
    if "remove" in needs:
        thing_actions.append("iot:DetachThingPrincipal")
    if "issue" in needs:
        thing_actions.append(
            "iot:RegisterCertificateWithoutCA" if private_ca_arn else "iot:CreateCertificateFromCsr"
        )
    if thing_actions:
        statements.append(
            {
                # These accept no resource (see above).
                "Sid": "IssueAndAttachCertificates",
                "Effect": "Allow",
                "Action": sorted(thing_actions),
                "Resource": "*",
            }
        )
    if "issue" in needs and private_ca_arn:
        statements += [
            {
                # Only with the client-authentication template: without one, Private CA
                # issues EndEntityCertificate/V1 (server and client authentication).
                "Sid": "IssueFromPrivateCa",
                "Effect": "Allow",
                "Action": "acm-pca:IssueCertificate",
                "Resource": private_ca_arn,
                "Condition": {
                    "ArnEquals": {
                        "acm-pca:TemplateArn": (
                            f"arn:{partition}:acm-pca:::template/{ROTATION_PCA_TEMPLATE}"
                        )
                    }
                },
            },
            {
                "Sid": "ReadIssuedCertificates",
                "Effect": "Allow",
                "Action": "acm-pca:GetCertificate",
                "Resource": private_ca_arn,
            },
        ]
    if "remove" in needs and private_ca_arn:
        statements.append(
            {
                # What a rollback or a failed create discards is revoked as well.
                "Sid": "RevokeDiscardedCertificates",
                "Effect": "Allow",
                "Action": "acm-pca:RevokeCertificate",
                "Resource": private_ca_arn,
            }
        )
    if "reply" in needs:
        verb = role
        statements.append(
            {
                "Sid": "ReplyToDevices",
                "Effect": "Allow",
                "Action": "iot:Publish",
                "Resource": [
                    f"{iot}:topic/{TOPIC_PREFIX}/*/{verb}/accepted",
                    f"{iot}:topic/{TOPIC_PREFIX}/*/{verb}/rejected",
                ],
            }
        )
    table_actions = ["dynamodb:GetItem"]
    if "state-write" in needs:
        table_actions.append("dynamodb:PutItem")
    if "state-delete" in needs:
        table_actions.append("dynamodb:DeleteItem")
    if "state-scan" in needs:
        table_actions.append("dynamodb:Scan")
    statements.append(
        {
            "Sid": "RotationState",
            "Effect": "Allow",
            "Action": sorted(table_actions),
            "Resource": table_arn,
        }
    )
    if "alert" in needs:
        statements += sns_publish_policy(topic_arn, topic_key_arn)["Statement"]
    return document(*statements)


def rotation_device_policy(partition: str, region: str, account_id: str) -> PolicyDocument:
    """The AWS IoT policy a device's certificate needs to rotate itself: its own thing's
    rotation and job topics only (thing policy variables,
    https://docs.aws.amazon.com/iot/latest/developerguide/thing-policy-variables.html), over a
    connection whose client id is the thing name."""
    from aisb.functions.cert_rotator.protocol import TOPIC_PREFIX

    iot = f"arn:{partition}:iot:{region}:{account_id}"
    thing = "${iot:Connection.Thing.ThingName}"
    own = f"{TOPIC_PREFIX}/{thing}"
    jobs = f"$aws/things/{thing}/jobs"
    replies = [f"{own}/{v}/{o}" for v in ("create", "commit") for o in ("accepted", "rejected")]
    job_replies = [f"{jobs}/get/{o}" for o in ("accepted", "rejected")] + [
        f"{jobs}/*/update/{o}" for o in ("accepted", "rejected")
    ]
    return document(
        {
            "Sid": "ConnectAsTheThing",
            "Effect": "Allow",
            "Action": "iot:Connect",
            "Resource": f"{iot}:client/{thing}",
            "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}},
        },
        {
            "Sid": "RequestRotation",
            "Effect": "Allow",
            "Action": "iot:Publish",
            "Resource": [
                f"{iot}:topic/{own}/create",
                f"{iot}:topic/{own}/commit",
                f"{iot}:topic/{jobs}/get",
                f"{iot}:topic/{jobs}/*/update",
            ],
        },
        {
            "Sid": "HearReplies",
            "Effect": "Allow",
            "Action": "iot:Subscribe",
            "Resource": [f"{iot}:topicfilter/{t}" for t in replies + job_replies],
        },
        {
            "Sid": "ReceiveReplies",
            "Effect": "Allow",
            "Action": "iot:Receive",
            "Resource": [f"{iot}:topic/{t}" for t in replies + job_replies],
        },
    )
