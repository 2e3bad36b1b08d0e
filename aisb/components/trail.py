"""AISB #8 (optional): a multi-region CloudTrail trail delivering to a protected bucket."""

from collections.abc import Mapping
from types import MappingProxyType
from typing import Required, TypedDict

import pulumi
import pulumi_aws as aws

from aisb import iam
from aisb import validation as v
from aisb.choices import ObjectLockMode
from aisb.components._util import (
    S3_BUCKET,
    check_name,
    child,
    customer_key,
    merge_tags,
    regional_arn,
    require_args,
)
from aisb.components.bucket import protected_bucket
from aisb.options import Option, resolve

ARCHIVE_DAYS_RANGE = (1, 3650)
OBJECT_LOCK_DAYS_RANGE = (0, 3650)


class ProtectedAuditTrailArgs(TypedDict, total=False):
    """Arguments of ``ProtectedAuditTrail``."""

    account_id: Required[pulumi.Input[str]]
    """The AWS account id."""
    region: Required[pulumi.Input[str]]
    """The trail's home region."""
    partition: Required[pulumi.Input[str]]
    """The AWS partition."""
    trail_name: str
    """The trail's name (default ``aisb-audit-trail``); the key and bucket policies name it."""
    archive_days: int
    """Days after which log files of 128 KB or more move to S3 Glacier Deep Archive (default
    90); smaller files stay in S3 Standard, where they cost less than the move would."""
    object_lock_days: int
    """S3 Object Lock retention in days; 0 (default) leaves Object Lock off."""
    object_lock_mode: ObjectLockMode
    """GOVERNANCE (default) or COMPLIANCE (not even the root user can shorten it)."""
    tags: Mapping[str, str]
    """Tags for every taggable child."""


OPTIONS = {
    "trail_name": Option(
        "aisb-audit-trail",
        v.matching(
            r"[A-Za-z0-9][A-Za-z0-9._-]{2,127}", "3 to 128 letters, digits, '.', '_' or '-'"
        ),
    ),
    "archive_days": Option(90, v.in_range(*ARCHIVE_DAYS_RANGE)),
    "object_lock_days": Option(0, v.in_range(*OBJECT_LOCK_DAYS_RANGE)),
    "object_lock_mode": Option("GOVERNANCE", v.choice(v.OBJECT_LOCK_MODES)),
    "tags": Option(MappingProxyType({}), v.tags),
}


class ProtectedAuditTrail(pulumi.ComponentResource):
    """AISB #8 -- account activity kept beyond CloudTrail's 90 days of event history.

    Creates:
    - ``<name>-key``: a KMS key (rotation on, kept on destroy) following AWS's CloudTrail key
      policy, bound to this trail with ``aws:SourceArn``; the account decrypts through IAM;
    - ``<name>-bucket``: a protected bucket (all public-access blocks, versioning, SSE-KMS with
      bucket key, TLS only, kept on destroy) whose policy lets only this trail write, moving
      logs to Deep Archive after ``archive_days``, with optional Object Lock retention
      (``<name>-bucket-lock``);
    - ``<name>-trail``: a multi-region trail with global service events and log-file
      validation, encrypted with the key.

    Outputs: ``trail_arn``, ``bucket_name``, ``key_arn``.
    """

    trail_arn: pulumi.Output[str]
    bucket_name: pulumi.Output[str]
    key_arn: pulumi.Output[str]

    name_limits = MappingProxyType({"-bucket": S3_BUCKET})

    def __init__(
        self, name: str, args: ProtectedAuditTrailArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        check_name("ProtectedAuditTrail", name, self.name_limits)
        c = "ProtectedAuditTrail"
        a = resolve(c, OPTIONS, (), args, declared_by=ProtectedAuditTrailArgs)
        require_args(c, args, "account_id", "region", "partition")
        trail_name, archive = a["trail_name"], a["archive_days"]
        lock_days, lock_mode = a["object_lock_days"], a["object_lock_mode"]
        super().__init__("aisb:index:ProtectedAuditTrail", name, None, opts)

        account_id, region, partition = args["account_id"], args["region"], args["partition"]
        tags = merge_tags(a["tags"], "AISB-8")
        # The key and bucket policies must name the trail before it exists.
        trail_arn = regional_arn(partition, "cloudtrail", region, account_id, f"trail/{trail_name}")
        key = customer_key(
            self,
            f"{name}-key",
            description="aisb: encrypts the CloudTrail trail's log files",
            account_id=account_id,
            partition=partition,
            statements=lambda part, acct, arn: iam.cloudtrail_key_statements(part, acct, arn),
            statement_inputs=(trail_arn,),
            tags=tags,
            retain=True,
        )
        resolved = pulumi.Output.all(account_id, trail_arn)
        protected = protected_bucket(
            self,
            f"{name}-bucket",
            kms_key_arn=key.arn,
            lifecycle_rules=[
                {
                    "id": "archive-trail-logs",
                    "status": "Enabled",
                    "filter": {},
                    "transitions": [{"days": archive, "storage_class": "DEEP_ARCHIVE"}],
                    "noncurrent_version_transitions": [
                        {"noncurrent_days": archive, "storage_class": "DEEP_ARCHIVE"}
                    ],
                }
            ],
            tags=tags,
            # S3's default, stated: files under 128 KB are not moved. CloudTrail's files are
            # mostly smaller, and moving them would cost more than keeping them in Standard:
            # a transition request per object and 40 KB of per-object overhead in Deep Archive.
            transition_minimum="all_storage_classes_128K",
            grant_inputs=resolved,
            grants=lambda bucket_arn, vals: iam.cloudtrail_bucket_statements(
                bucket_arn, vals[0], vals[1]
            ),
            object_lock=lock_days > 0,
        )
        bucket = protected.bucket
        ready: list[pulumi.Resource] = [protected.policy]
        if lock_days > 0:
            # Kept on destroy with the bucket, like everything that protects it.
            ready.append(
                aws.s3.BucketObjectLockConfiguration(
                    f"{name}-bucket-lock",
                    bucket=bucket.id,
                    object_lock_enabled="Enabled",
                    rule={"default_retention": {"mode": lock_mode, "days": lock_days}},
                    opts=child(self, retain_on_delete=True),
                )
            )
        trail = aws.cloudtrail.Trail(
            f"{name}-trail",
            name=trail_name,
            s3_bucket_name=bucket.bucket,
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_log_file_validation=True,
            kms_key_id=key.arn,
            tags=tags,
            # CloudTrail checks the bucket policy when the trail is created, and its first log
            # files must already fall under the default Object Lock retention.
            opts=child(self, depends_on=ready),
        )
        self.trail_arn = trail.arn
        self.bucket_name = bucket.bucket
        self.key_arn = key.arn
        self.register_outputs(
            {"trail_arn": self.trail_arn, "bucket_name": self.bucket_name, "key_arn": self.key_arn}
        )
