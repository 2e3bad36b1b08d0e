"""AISB #3: AWS IoT Core logs to CloudWatch Logs."""

from collections.abc import Mapping
from types import MappingProxyType
from typing import Required, TypedDict

import pulumi
import pulumi_aws as aws

from aisb import iam
from aisb import validation as v
from aisb.choices import LogLevel
from aisb.components._util import (
    BOUNDARY,
    IAM_ROLE,
    check_name,
    child,
    customer_key,
    iam_settled,
    merge_tags,
    policy_json,
    require_args,
    service_role,
)
from aisb.options import Option, resolve

# AWS IoT Core (v2 logging) always writes to this log group: it cannot be renamed, which also
# makes it one per account and region.
IOT_LOG_GROUP = "AWSIotLogsV2"


class IotLoggingArgs(TypedDict, total=False):
    """Arguments of ``IotLogging``."""

    account_id: Required[pulumi.Input[str]]
    """The AWS account id."""
    region: Required[pulumi.Input[str]]
    """The AWS region the providers deploy to."""
    partition: Required[pulumi.Input[str]]
    """The AWS partition."""
    log_level: LogLevel
    """AWS IoT Core log level (AISB #3): DEBUG, INFO, WARN, ERROR or DISABLED."""
    retention_days: int
    """Retention of the ``AWSIotLogsV2`` log group in days; a value CloudWatch Logs accepts
    (never-expiring is not: security logs get an explicit retention)."""
    permissions_boundary: pulumi.Input[str]
    """The ARN of an IAM managed policy set as the permissions boundary of every role this
    component creates (the deploy role's ``aisb-role-boundary`` where deploys run as it)."""
    tags: Mapping[str, str]
    """Tags for every taggable child."""


OPTIONS = {
    "log_level": Option("ERROR", v.choice(v.LOG_LEVELS)),
    "retention_days": Option(365, v.log_retention),
    "tags": Option(MappingProxyType({}), v.tags),
    "permissions_boundary": BOUNDARY,
}


class IotLogging(pulumi.ComponentResource):
    """AISB #3 -- AWS IoT Core logging, an account-and-region singleton.

    Creates:
    - ``<name>-key``: a KMS key (rotation on) that only CloudWatch Logs may use, and only for
      the ``AWSIotLogsV2`` log group;
    - ``<name>-log-group``: ``AWSIotLogsV2`` with retention, encrypted with that key;
    - ``<name>-role`` and ``<name>-role-policy``: a role only AWS IoT acting for this account
      can assume, allowed only to write to that log group;
    - ``<name>-options``: ``aws.iot.LoggingOptions`` at the configured level.

    Outputs: ``log_group_name``, ``log_group_arn``, ``role_arn``.
    """

    log_group_name: pulumi.Output[str]
    log_group_arn: pulumi.Output[str]
    role_arn: pulumi.Output[str]

    name_limits = MappingProxyType({"-role": IAM_ROLE})

    def __init__(
        self, name: str, args: IotLoggingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        check_name("IotLogging", name, self.name_limits)
        component = "IotLogging"
        a = resolve(component, OPTIONS, (), args, declared_by=IotLoggingArgs)
        require_args(component, args, "account_id", "region", "partition")
        level, retention = a["log_level"], a["retention_days"]
        super().__init__("aisb:index:IotLogging", name, None, opts)

        account_id, region, partition = args["account_id"], args["region"], args["partition"]
        tags = merge_tags(a["tags"], "AISB-3")

        key = customer_key(
            self,
            f"{name}-key",
            description=f"aisb: encrypts the {IOT_LOG_GROUP} log group",
            account_id=account_id,
            partition=partition,
            statements=lambda part, acct, reg: [
                iam.kms_logs_statement(reg, part, acct, IOT_LOG_GROUP)
            ],
            statement_inputs=(region,),
            tags=tags,
            retain=True,
        )
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-log-group",
            name=IOT_LOG_GROUP,
            retention_in_days=retention,
            kms_key_id=key.arn,
            tags=tags,
            opts=child(self, retain_on_delete=True),
        )
        writer = service_role(
            self,
            f"{name}-role",
            service="iot.amazonaws.com",
            account_id=account_id,
            description="aisb: lets AWS IoT Core write its logs to CloudWatch Logs",
            policy=policy_json(
                lambda part, reg, acct: iam.iot_logging_policy(part, reg, acct, IOT_LOG_GROUP),
                partition,
                region,
                account_id,
            ),
            tags=tags,
            permissions_boundary=a["permissions_boundary"],
        )
        aws.iot.LoggingOptions(
            f"{name}-options",
            default_log_level=level,
            disable_all_logs=level == "DISABLED",
            role_arn=writer.role.arn,
            # IoT checks the role when the options are set: its permissions must exist first,
            # and the log group must exist so IoT never creates an unencrypted one.
            opts=child(
                self, depends_on=[iam_settled(self, f"{name}-iam-settled", [writer]), log_group]
            ),
        )

        self.log_group_name = log_group.name
        self.log_group_arn = log_group.arn
        self.role_arn = writer.role.arn
        self.register_outputs(
            {
                "log_group_name": self.log_group_name,
                "log_group_arn": self.log_group_arn,
                "role_arn": self.role_arn,
            }
        )
