"""A protected S3 bucket for security evidence, shared by the controls that keep files."""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from aisb import iam
from aisb.components._util import (
    child,
    policy_json,
)


@dataclass
class ProtectedBucket:
    """A protected bucket and its policy (what must exist before a service writes to it)."""

    bucket: aws.s3.Bucket
    policy: aws.s3.BucketPolicy


def protected_bucket(
    parent: pulumi.Resource,
    name: str,
    *,
    kms_key_arn: pulumi.Input[str],
    lifecycle_rules: Sequence[aws.s3.BucketLifecycleConfigurationRuleArgsDict],
    tags: Mapping[str, str],
    grants: Callable[[str, Any], Sequence[iam.Statement]] | None = None,
    grant_inputs: pulumi.Input[Any] = None,
    object_lock: bool = False,
    transition_minimum: str | None = None,
) -> ProtectedBucket:
    """``<name>``: a private, versioned, SSE-KMS (bucket key) bucket kept on destroy, with
    ``<name>-ownership`` (ACLs off), ``<name>-public-access`` (all four blocks on),
    ``<name>-versioning``, ``<name>-encryption``, ``<name>-lifecycle`` (the given rules plus
    cleaning up incomplete multipart uploads) and ``<name>-policy``
    (``grants(bucket_arn, resolved grant_inputs)`` and a TLS-only deny).

    Everything that protects the bucket is kept on destroy with it: otherwise ``pulumi destroy``
    would leave the evidence in a bucket without its public-access block, TLS-only policy,
    ownership controls, default encryption or lifecycle, and with versioning suspended."""
    kept = child(parent, retain_on_delete=True)
    bucket = aws.s3.Bucket(
        name,
        object_lock_enabled=object_lock or None,
        tags=dict(tags),
        # Evidence outlives the stack: `pulumi destroy` leaves the bucket and its objects.
        opts=child(parent, retain_on_delete=True),
    )
    ownership = aws.s3.BucketOwnershipControls(
        f"{name}-ownership",
        bucket=bucket.id,
        rule={"object_ownership": "BucketOwnerEnforced"},
        opts=kept,
    )
    public_access = aws.s3.BucketPublicAccessBlock(
        f"{name}-public-access",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=kept,
    )
    aws.s3.BucketVersioning(
        f"{name}-versioning",
        bucket=bucket.id,
        versioning_configuration={"status": "Enabled"},
        opts=kept,
    )
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-encryption",
        bucket=bucket.id,
        rules=[
            {
                "apply_server_side_encryption_by_default": {
                    "sse_algorithm": "aws:kms",
                    "kms_master_key_id": kms_key_arn,
                },
                "bucket_key_enabled": True,
            }
        ],
        opts=kept,
    )
    aws.s3.BucketLifecycleConfiguration(
        f"{name}-lifecycle",
        bucket=bucket.id,
        rules=[
            *lifecycle_rules,
            {
                "id": "abort-incomplete-multipart-uploads",
                "status": "Enabled",
                "filter": {},
                "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
            },
        ],
        transition_default_minimum_object_size=transition_minimum,
        opts=kept,
    )
    policy = aws.s3.BucketPolicy(
        f"{name}-policy",
        bucket=bucket.id,
        policy=policy_json(
            lambda arn, extra: iam.bucket_policy(arn, *(grants(arn, extra) if grants else ())),
            bucket.arn,
            grant_inputs,
        ),
        # S3 refuses a bucket policy while the public-access block is being changed.
        opts=child(parent, depends_on=[public_access, ownership], retain_on_delete=True),
    )
    return ProtectedBucket(bucket, policy)
