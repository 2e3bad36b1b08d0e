"""AISB #10 (optional): fetch a device's logs through an AWS IoT job after an alert."""

import json
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Required, TypedDict

import pulumi
import pulumi_aws as aws
import pulumi_aws_native as aws_native

from aisb import iam
from aisb import validation as v
from aisb.components._util import (
    BOUNDARY,
    IAM_ROLE,
    IOT_NAME,
    S3_BUCKET,
    check_name,
    child,
    customer_key,
    merge_tags,
    policy_json,
    require_args,
    service_role,
)
from aisb.components.bucket import protected_bucket
from aisb.options import Option, resolve

HANDLER = "collect-device-logs.py"
DEFAULT_LOG_PATHS = ("/var/log/syslog", "/var/log/aws-iot-device-client/aws-iot-device-client.log")
RETENTION_RANGE = (1, 3650)


# The job's in-progress timeout and the handler's own deadline (the pinned ``deadlineSeconds``):
# the handler stops sending at its deadline and a backstop alarm ends it 30 s later, so it
# reports each file's outcome before the job would time out and be sent again by the
# TIMED_OUT retry.
IN_PROGRESS_TIMEOUT_MINUTES = 30
HANDLER_DEADLINE_SECONDS = 20 * 60
HANDLER_ALARM_MARGIN_SECONDS = 30
# The budgets the handler keeps (the tail of each file, and in all).
MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_TOTAL_BYTES = 64 * 1024 * 1024
if HANDLER_DEADLINE_SECONDS + HANDLER_ALARM_MARGIN_SECONDS >= IN_PROGRESS_TIMEOUT_MINUTES * 60:
    raise AssertionError("the handler must end before the job's in-progress timeout")


def job_document(paths: Sequence[str]) -> dict[str, Any]:
    """The job document AWS IoT Device Client runs: the ``collect-device-logs.py`` handler on
    the given files. Where they go (endpoint, region, bucket, role alias) is not in it: the
    device reads those from its pinned configuration (``device_config``)."""
    return {
        "version": "1.0",
        # Device Client reads this flag only as the string "true"; a JSON true is ignored.
        "includeStdOut": "true",
        "steps": [
            {
                "action": {
                    "name": "collect-device-logs",
                    "type": "runHandler",
                    "input": {"handler": HANDLER, "args": [*paths], "path": "default"},
                    "runAsUser": "root",
                }
            }
        ],
    }


def device_config(
    bucket: str, region: str, role_alias: str, credential_endpoint: str, paths: Sequence[str]
) -> dict[str, Any]:
    """What a device pins at provisioning in ``collect-device-logs.json`` beside the handler:
    where its files go, which files it agrees to upload (the configured paths; an entry
    ending in ``/`` would allow a whole directory), its budgets and its deadline."""
    return {
        "credentialEndpoint": credential_endpoint,
        "region": region,
        "bucket": bucket,
        "roleAlias": role_alias,
        "allowedPaths": list(paths),
        "maxFileBytes": MAX_FILE_BYTES,
        "maxTotalBytes": MAX_TOTAL_BYTES,
        "deadlineSeconds": HANDLER_DEADLINE_SECONDS,
    }


class DeviceLogCollectionArgs(TypedDict, total=False):
    """Arguments of ``DeviceLogCollection``."""

    account_id: Required[pulumi.Input[str]]
    """The AWS account id."""
    region: Required[pulumi.Input[str]]
    """The AWS region the providers deploy to."""
    partition: Required[pulumi.Input[str]]
    """The AWS partition."""
    credential_endpoint: Required[pulumi.Input[str]]
    """The account's AWS IoT credential provider endpoint (
    ``aws.iot.get_endpoint(endpoint_type="iot:CredentialProvider")``)."""
    role_alias: str
    """The role alias name (default ``aisb-device-logs``); it names the job template too."""
    retention_days: int
    """Days device logs are kept (1-3650, default 30)."""
    log_paths: Sequence[str]
    """Absolute paths of the files devices upload (without ``.`` or ``..``); the device
    configuration allows exactly these."""
    permissions_boundary: pulumi.Input[str]
    """The ARN of an IAM managed policy set as the permissions boundary of every role this
    component creates (the deploy role's ``aisb-role-boundary`` where deploys run as it)."""
    tags: Mapping[str, str]
    """Tags for every taggable child."""


OPTIONS = {
    "role_alias": Option(
        "aisb-device-logs", v.matching(r"[\w=,@-]{1,128}", "1 to 128 letters, digits or =,@-_")
    ),
    "retention_days": Option(30, v.in_range(*RETENTION_RANGE)),
    "log_paths": Option(DEFAULT_LOG_PATHS, v.log_paths),
    "tags": Option(MappingProxyType({}), v.tags),
    "permissions_boundary": BOUNDARY,
}


class DeviceLogCollection(pulumi.ComponentResource):
    """AISB #10 -- an operator runs one job on a device and gets its log files in S3.

    AWS-managed job templates cannot upload and job pre-signed URLs are download-only, so the
    device uploads with its own temporary credentials from the AWS IoT credential provider.

    Creates:
    - ``<name>-key`` and ``<name>-bucket``: a protected bucket (private, versioned, SSE-KMS,
      TLS only, kept on destroy) whose objects, current and noncurrent, expire after
      ``retention_days``;
    - ``<name>-role`` (+ ``-policy``): assumable only by the IoT credential provider (with the
      trust policy AWS documents, which has no condition: see ``aisb.grants``), allowed only
      ``s3:PutObject`` under ``${credentials-iot:ThingName}/`` (so each device writes only
      its own prefix), never over an existing object, and the key only through S3 for that
      bucket;
    - ``<name>-role-alias``: the role alias devices exchange their certificate at;
    - ``<name>-device-policy``: an AWS IoT policy for customers to attach to their devices,
      allowing only ``iot:AssumeRoleWithCertificate`` on that role alias;
    - ``<name>-job-template``: "collect device logs", whose document runs the
      ``collect-device-logs.py`` handler (``device/`` in this repository) on the configured
      files, with a timeout longer than the handler's deadline, retries and an abort rule.

    Outputs: ``bucket_name``, ``role_alias_arn``, ``device_policy_name``, ``job_template_arn``
    and ``device_config`` (the JSON each device pins beside the handler at provisioning).
    """

    bucket_name: pulumi.Output[str]
    role_alias_arn: pulumi.Output[str]
    device_policy_name: pulumi.Output[str]
    job_template_arn: pulumi.Output[str | None]
    device_config: pulumi.Output[str]

    name_limits = MappingProxyType(
        {
            "-bucket": S3_BUCKET,
            "-role": IAM_ROLE,
            "-device-policy": IOT_NAME,
        }
    )

    def __init__(
        self, name: str, args: DeviceLogCollectionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        check_name("DeviceLogCollection", name, self.name_limits)
        c = "DeviceLogCollection"
        a = resolve(c, OPTIONS, (), args, declared_by=DeviceLogCollectionArgs)
        require_args(c, args, "account_id", "region", "partition", "credential_endpoint")
        retention, paths, alias = a["retention_days"], a["log_paths"], a["role_alias"]
        super().__init__("aisb:index:DeviceLogCollection", name, None, opts)
        account_id, region, partition = args["account_id"], args["region"], args["partition"]
        tags = merge_tags(a["tags"], "AISB-10")

        key = customer_key(
            self,
            f"{name}-key",
            description="aisb: encrypts device logs collected for diagnosis",
            account_id=account_id,
            partition=partition,
            tags=tags,
            retain=True,
        )
        bucket = protected_bucket(
            self,
            f"{name}-bucket",
            kms_key_arn=key.arn,
            lifecycle_rules=[
                {
                    "id": "expire-device-logs",
                    "status": "Enabled",
                    "filter": {},
                    "expiration": {"days": retention},
                    # A version a device replaced is evidence too: kept as long as current
                    # ones (the device role cannot overwrite, but a principal with more
                    # rights could).
                    "noncurrent_version_expiration": {"noncurrent_days": retention},
                }
            ],
            tags=tags,
        ).bucket
        uploader = service_role(
            self,
            f"{name}-role",
            service="credentials.iot.amazonaws.com",
            account_id=account_id,
            description="aisb: a device uploads its own logs with this role's credentials",
            policy=policy_json(
                iam.device_log_upload_policy, bucket.arn, key.arn, region, partition
            ),
            tags=tags,
            permissions_boundary=a["permissions_boundary"],
        )
        role_alias = aws.iot.RoleAlias(
            f"{name}-role-alias",
            alias=alias,
            role_arn=uploader.role.arn,
            # The shortest AWS allows (900-43200 s); the handler fetches new credentials before
            # these expire, so a long upload does not need longer-lived ones.
            credential_duration=900,
            tags=tags,
            opts=child(self, depends_on=uploader.grants),
        )
        device_policy = aws.iot.Policy(
            f"{name}-device-policy",
            policy=policy_json(iam.device_assume_role_alias_policy, role_alias.arn),
            tags=tags,
            opts=child(self),
        )
        document = json.dumps(job_document(paths))
        pins = pulumi.Output.all(bucket.bucket, region, args["credential_endpoint"]).apply(
            lambda vals: json.dumps(
                device_config(vals[0], vals[1], alias, vals[2], paths), indent=2, sort_keys=True
            )
        )
        iot = aws_native.iot
        template = iot.JobTemplate(
            f"{name}-job-template",
            job_template_id=f"{alias}-collect",
            description="aisb: collect device logs for diagnosis (AISB #10)",
            document=document,
            timeout_config=iot.TimeoutConfigPropertiesArgs(
                in_progress_timeout_in_minutes=IN_PROGRESS_TIMEOUT_MINUTES
            ),
            job_executions_retry_config=iot.JobExecutionsRetryConfigPropertiesArgs(
                retry_criteria_list=[
                    iot.JobTemplateRetryCriteriaArgs(
                        failure_type=iot.JobTemplateJobRetryFailureType.TIMED_OUT,
                        number_of_retries=2,
                    ),
                    iot.JobTemplateRetryCriteriaArgs(
                        failure_type=iot.JobTemplateJobRetryFailureType.FAILED,
                        number_of_retries=1,
                    ),
                ]
            ),
            # Stop a fleet-wide run when half of the first devices fail.
            abort_config=iot.AbortConfigPropertiesArgs(
                criteria_list=[
                    iot.JobTemplateAbortCriteriaArgs(
                        action=iot.JobTemplateAction.CANCEL,
                        failure_type=iot.JobTemplateFailureType.ALL,
                        min_number_of_executed_things=5,
                        threshold_percentage=50,
                    )
                ]
            ),
            tags=[
                aws_native.CreateOnlyTagArgs(key=k, value=val) for k, val in sorted(tags.items())
            ],
            # Every JobTemplate property is create-only and its id is fixed: a change (paths,
            # tags) replaces it, and the new one can only be created once the old one is gone.
            opts=child(self, depends_on=[role_alias], delete_before_replace=True),
        )
        self.bucket_name = bucket.bucket
        self.role_alias_arn = role_alias.arn
        self.device_policy_name = device_policy.name
        self.job_template_arn = template.arn
        self.device_config = pins
        self.register_outputs(
            {
                "device_config": self.device_config,
                "bucket_name": self.bucket_name,
                "role_alias_arn": self.role_alias_arn,
                "device_policy_name": self.device_policy_name,
                "job_template_arn": self.job_template_arn,
            }
        )
