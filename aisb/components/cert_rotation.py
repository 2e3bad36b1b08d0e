"""AISB #6: the certificate-rotation monitor."""

import json
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Required, TypedDict

import pulumi
import pulumi_aws as aws

from aisb import iam
from aisb import validation as v
from aisb.choices import ReportFormat
from aisb.components._util import (
    BOUNDARY,
    CLOUDWATCH,
    EVENT_RULE,
    IAM_ROLE,
    LAMBDA_FUNCTION,
    S3_BUCKET,
    SQS_QUEUE,
    alarm_to_topic,
    check_name,
    child,
    customer_key,
    dead_letter_queue,
    merge_tags,
    policy_json,
    require_args,
    require_publishers,
    service_role,
)
from aisb.components.bucket import protected_bucket
from aisb.options import Option, Problem, Rule, resolve

FUNCTION_DIR = Path(__file__).resolve().parent.parent / "functions" / "cert_rotation"
REPORT_PREFIX = "certificate-rotation/"
MAX_LISTED_RANGE = (1, 1000)
THING_NAME_BUDGET_RANGE = (1, 100_000)
# A reservation is both the function's floor and its ceiling ("Reserved concurrency acts as both
# a lower and upper bound": https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html),
# so 0 would stop every run; botocore's model gives PutFunctionConcurrency's
# ReservedConcurrentExecutions only "min": 0 (an API integer: 32 bits). The ceiling that matters
# is the account's: Lambda refuses a reservation that leaves fewer than 100 unreserved
# executions ("as long as you leave at least 100 simultaneous executions unreserved",
# https://docs.aws.amazon.com/lambda/latest/api/API_PutFunctionConcurrency.html), checked by
# Lambda at deploy against the account's quota, which no preview can know.
RESERVED_CONCURRENCY_RANGE = (1, 2**31 - 1)
FUNCTION_TIMEOUT = 900  # seconds: the most Lambda allows
# Lambda retries a failed asynchronous invocation twice, a minute and then two minutes later,
# and keeps an event it cannot deliver yet (throttled) for up to MAXIMUM_EVENT_AGE:
# https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html
RETRY_ATTEMPTS = 2
MAXIMUM_EVENT_AGE = 6 * 3600
# A run's lease lasts its invocation's deadline plus this margin: shorter than the minute
# Lambda waits before a retry, so the retry of an invocation that timed out can take it.
LEASE_MARGIN_SECONDS = 30
# A hand-over keeps the lease for as long as Lambda may hold the continuation's event.
HANDOVER_SECONDS = MAXIMUM_EVENT_AGE


class CertificateRotationMonitorArgs(TypedDict, total=False):
    """Arguments of ``CertificateRotationMonitor``."""

    account_id: Required[pulumi.Input[str]]
    """The AWS account id."""
    region: Required[pulumi.Input[str]]
    """The AWS region the providers deploy to."""
    partition: Required[pulumi.Input[str]]
    """The AWS partition."""
    alert_topic_arn: Required[pulumi.Input[str]]
    """The SNS topic the report, failures and alarms go to. CloudWatch must be
    allowed to publish to it (``SecurityAlerts`` with ``cloudwatch.amazonaws.com``)."""
    alert_topic_kms_key_arn: pulumi.Input[str | None]
    """The KMS key encrypting the topic, if any."""
    rotation_days: int
    """The rotation period: certificates at least this old are due (30-3652, default 365)."""
    warning_days: int
    """Certificates within this many days of the period are due soon (0 to rotation_days - 1,
    default 30, or rotation_days - 1 when that is less)."""
    scan_interval_days: int
    """Days between scans (1-365, default 30)."""
    report_bucket: bool
    """Keep the full list of due and due-soon certificates in a private S3 bucket."""
    report_format: ReportFormat
    """``csv`` (default) or ``jsonl``."""
    report_retention_days: int
    """Days reports are kept (default 365)."""
    thing_names: bool
    """Look up the things attached to each reported certificate (needs ``report_bucket``)."""
    thing_name_call_budget: int
    """At most this many ListPrincipalThings calls per run (default 1000)."""
    always_report: bool
    """E-mail a report even when nothing is due or due soon."""
    max_listed: int
    """Oldest due certificates listed in the e-mail (1-1000, default 25)."""
    log_retention_days: int
    """Retention of the function's log group (default 365)."""
    reserved_concurrency: int
    """Reserve this many concurrent executions for the function (at least 1; default: none).
    Scans never overlap without it (a lease in the lock table), and one run at a time is all
    the function uses, so 1 is enough. Lambda refuses, at deploy, a reservation that would leave
    the account fewer than 100 unreserved executions ("reserve up to the Unreserved account
    concurrency value minus 100"), so the account's quota must be at least 100 plus every
    reservation: one with a quota of 100 or less (new accounts often have 10) is refused any."""
    permissions_boundary: pulumi.Input[str]
    """The ARN of an IAM managed policy set as the permissions boundary of every role this
    component creates (the deploy role's ``aisb-role-boundary`` where deploys run as it)."""
    rotation_job_template_arn: pulumi.Input[str | None]
    """Start a rotation job from this template (``CertificateRotation.job_template_arn``) for
    the things of every due certificate, 100 things to a job."""
    rotation_job_budget: int
    """At most this many rotation jobs per scan (1-1000, default 100)."""
    tags: Mapping[str, str]
    """Tags for every taggable child."""


def schedule_expression(days: int) -> str:
    """An EventBridge rate expression (the unit is singular for 1)."""
    return "rate(1 day)" if days == 1 else f"rate({days} days)"


def _warning_within_rotation(values: dict[str, Any]) -> list[Problem]:
    """The warning window is shorter than the rotation period; the default one shrinks to fit
    a short period, so the whole documented range of the period works on its own."""
    rotation, warning = values["rotation_days"], values["warning_days"]
    if warning >= rotation and warning == OPTIONS["warning_days"].default:
        values["warning_days"] = rotation - 1
    elif warning >= rotation:
        return [
            (
                "warning_days",
                v.InvalidValue(warning, f"fewer days than {{rotation_days}} ({rotation})"),
            )
        ]
    return []


def _thing_names_need_the_report(values: dict[str, Any]) -> list[Problem]:
    """Thing names only go into the report."""
    if values["thing_names"] and not values["report_bucket"]:
        return [("thing_names", v.InvalidValue(True, "false unless {report_bucket} is true"))]
    return []


OPTIONS = {
    "rotation_days": Option(365, v.in_range(*v.CERT_AGE_RANGE)),
    "warning_days": Option(30, v.in_range(0, v.CERT_AGE_RANGE[1] - 1)),
    "scan_interval_days": Option(30, v.in_range(*v.CERT_SCAN_INTERVAL_RANGE)),
    "report_bucket": Option(False, v.boolean),
    "report_format": Option("csv", v.choice(v.REPORT_FORMATS)),
    "report_retention_days": Option(365, v.in_range(1, 3650)),
    "thing_names": Option(False, v.boolean),
    "thing_name_call_budget": Option(1000, v.in_range(*THING_NAME_BUDGET_RANGE)),
    "always_report": Option(False, v.boolean),
    "max_listed": Option(25, v.in_range(*MAX_LISTED_RANGE)),
    "log_retention_days": Option(365, v.log_retention),
    "reserved_concurrency": Option(None, v.in_range(*RESERVED_CONCURRENCY_RANGE)),
    "rotation_job_template_arn": Option(None),
    "rotation_job_budget": Option(100, v.in_range(1, 1000)),
    "tags": Option(MappingProxyType({}), v.tags),
    "permissions_boundary": BOUNDARY,
}
RULES = (
    Rule(("rotation_days", "warning_days"), _warning_within_rotation),
    Rule(("thing_names", "report_bucket"), _thing_names_need_the_report),
)


class CertificateRotationMonitor(pulumi.ComponentResource):
    """AISB #6 -- finds certificates due for rotation every ``scan_interval_days`` and e-mails
    a summary (see ``aisb/functions/cert_rotation/handler.py`` for how it scales).

    Creates:
    - ``<name>-key``: a KMS key (rotation on, kept on destroy) for the function's logs and the
      report bucket; CloudWatch Logs may use it only for this monitor's log groups;
    - ``<name>-logs``: the function's log group, encrypted, with retention;
    - ``<name>-role`` (+ ``-policy``): assumable only by Lambda for this account, allowed
      exactly what the code calls: list certificates (and their things, if enabled, or when
      it starts rotation jobs: then also create jobs from the rotation template), publish
      to the topic and use its key, write the report prefix, invoke itself to continue, send
      to its dead-letter queue, write its logs, take, hand over, release and read its lease;
    - ``<name>-function``: python3.13 on arm64, 900 s timeout, packaged from
      ``aisb/functions/cert_rotation`` alone; no reserved concurrency unless asked for (Lambda
      refuses one on accounts with the default quota of 10);
    - ``<name>-lock``: a DynamoDB table holding the running scan's lease and its state between
      invocations, so that scans never overlap and every hand-over is fenced by a one-time
      token (a start finding a live lease does nothing, a duplicate continuation stops, a
      stale one raises);
    - ``<name>-dlq`` (+ ``-policy``): an encrypted SQS queue for failed scheduled events and
      failed asynchronous invocations; ``<name>-invoke-config`` sends the latter there;
    - ``<name>-schedule``, ``<name>-target``, ``<name>-permission``: an EventBridge rule every
      ``scan_interval_days`` invoking the function with a retry policy and the queue;
    - ``<name>-errors-alarm`` and ``<name>-dlq-alarm``: CloudWatch alarms on the function's
      errors and on anything in the queue, notifying the alert topic;
    - optionally ``<name>-reports``: a protected bucket (see ``protected_bucket``).

    Outputs: ``function_arn``, ``function_name``, ``role_arn``, ``dead_letter_queue_arn``,
    ``report_bucket_name`` (None without a report bucket).
    """

    function_arn: pulumi.Output[str]
    function_name: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    dead_letter_queue_arn: pulumi.Output[str]
    report_bucket_name: pulumi.Output[str | None]

    name_limits = MappingProxyType(
        {
            "-role": IAM_ROLE,
            "-function": LAMBDA_FUNCTION,
            "-dlq": SQS_QUEUE,
            "-reports": S3_BUCKET,
            "-schedule": EVENT_RULE,
        }
    )

    def __init__(
        self,
        name: str,
        args: CertificateRotationMonitorArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        check_name("CertificateRotationMonitor", name, self.name_limits)
        c = "CertificateRotationMonitor"
        a = resolve(c, OPTIONS, RULES, args, declared_by=CertificateRotationMonitorArgs)
        require_args(c, args, "account_id", "region", "partition", "alert_topic_arn")
        require_publishers(c, args["alert_topic_arn"], [CLOUDWATCH])  # its alarms
        rotation, log_retention, report_format = (
            a["rotation_days"],
            a["log_retention_days"],
            a["report_format"],
        )
        keep_report, thing_names = a["report_bucket"], a["thing_names"]
        rotation_template = args.get("rotation_job_template_arn")
        numbers = a
        super().__init__("aisb:index:CertificateRotationMonitor", name, None, opts)

        account_id, region, partition = args["account_id"], args["region"], args["partition"]
        topic_arn = args["alert_topic_arn"]
        topic_key_arn = args.get("alert_topic_kms_key_arn")
        tags = merge_tags(a["tags"], "AISB-6")
        log_prefix = f"/aisb/{name}-"

        key = customer_key(
            self,
            f"{name}-key",
            description="aisb: encrypts the certificate-rotation monitor's logs and reports",
            account_id=account_id,
            partition=partition,
            statements=lambda part, acct, reg: [
                iam.kms_logs_prefix_statement(reg, part, acct, log_prefix)
            ],
            statement_inputs=(region,),
            tags=tags,
            # Reports kept on destroy stay readable only while their key exists.
            retain=True,
        )
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name_prefix=log_prefix,
            retention_in_days=log_retention,
            kms_key_id=key.arn,
            tags=tags,
            opts=child(self),
        )
        rule = aws.cloudwatch.EventRule(
            f"{name}-schedule",
            description="aisb: starts the certificate-rotation scan",
            schedule_expression=schedule_expression(numbers["scan_interval_days"]),
            tags=tags,
            opts=child(self),
        )
        dlq = dead_letter_queue(
            self,
            f"{name}-dlq",
            rule_arn=rule.arn,
            topic_arn=topic_arn,
            what="aisb: a certificate-rotation scan could not be delivered (AISB #6)",
            tags=tags,
        ).queue
        report_bucket: aws.s3.Bucket | None = None
        if keep_report:
            report_bucket = protected_bucket(
                self,
                f"{name}-reports",
                kms_key_arn=key.arn,
                lifecycle_rules=[
                    {
                        "id": "expire-reports",
                        "status": "Enabled",
                        "filter": {"prefix": REPORT_PREFIX},
                        "expiration": {"days": numbers["report_retention_days"]},
                        "noncurrent_version_expiration": {"noncurrent_days": 30},
                    }
                ],
                tags=tags,
            ).bucket

        lock = aws.dynamodb.Table(
            f"{name}-lock",
            billing_mode="PAY_PER_REQUEST",
            hash_key="lock",
            attributes=[{"name": "lock", "type": "S"}],
            # Expired leases are also ignored by the conditional writes; TTL only tidies up.
            ttl={"attribute_name": "expires", "enabled": True},
            tags=tags,
            opts=child(self),
        )
        role = service_role(
            self,
            f"{name}-role",
            service="lambda.amazonaws.com",
            account_id=account_id,
            description="aisb: the certificate-rotation monitor's function",
            tags=tags,
            permissions_boundary=a["permissions_boundary"],
        ).role
        code_files = sorted(FUNCTION_DIR.glob("*.py"))
        function = aws.lambda_.Function(
            f"{name}-function",
            description="aisb: finds device certificates due for rotation (AISB #6)",
            runtime="python3.13",
            architectures=["arm64"],
            handler="handler.handler",
            code=pulumi.AssetArchive({p.name: pulumi.FileAsset(str(p)) for p in code_files}),
            role=role.arn,
            timeout=FUNCTION_TIMEOUT,
            memory_size=256,
            # One scan at a time comes from the lease in the lock table, not from a
            # reservation, which accounts with a quota of 100 or less refuse (Lambda keeps
            # 100 unreserved); see reserved_concurrency.
            reserved_concurrent_executions=numbers.get("reserved_concurrency"),
            logging_config={"log_format": "Text", "log_group": log_group.name},
            environment={
                "variables": {  # every value a string (Lambda's environment)
                    "TOPIC_ARN": topic_arn,
                    "ROTATION_DAYS": str(rotation),
                    "WARNING_DAYS": str(numbers["warning_days"]),
                    "REPORT_BUCKET": report_bucket.bucket if report_bucket else "",
                    "REPORT_PREFIX": REPORT_PREFIX,
                    "REPORT_FORMAT": report_format,
                    "THING_NAMES": str(thing_names).lower(),
                    "THING_NAME_CALL_BUDGET": str(numbers["thing_name_call_budget"]),
                    "ALWAYS_REPORT": str(a["always_report"]).lower(),
                    "MAX_LISTED": str(numbers["max_listed"]),
                    "RESERVE_SECONDS": "60",
                    "LOCK_TABLE": lock.name,
                    "LEASE_MARGIN_SECONDS": str(LEASE_MARGIN_SECONDS),
                    "HANDOVER_SECONDS": str(HANDOVER_SECONDS),
                    # What the failure e-mail says comes next.
                    "RETRY_ATTEMPTS": str(RETRY_ATTEMPTS),
                    "SCAN_INTERVAL_DAYS": str(numbers["scan_interval_days"]),
                    "ROTATION_JOB_TEMPLATE_ARN": pulumi.Output.from_input(rotation_template).apply(
                        lambda arn: arn or ""
                    ),
                    "ROTATION_JOB_BUDGET": str(a["rotation_job_budget"]),
                }
            },
            tags=tags,
            opts=child(self),
        )
        role_policy = aws.iam.RolePolicy(
            f"{name}-role-policy",
            role=role.id,
            policy=policy_json(
                lambda fn, logs, topic, topic_key, queue, bucket, report_key, table, template: (
                    iam.cert_rotation_policy(
                        function_arn=fn,
                        log_group_arn=logs,
                        lock_table_arn=table,
                        topic_arn=topic,
                        topic_key_arn=topic_key,
                        dead_letter_queue_arn=queue,
                        report_bucket_arn=bucket,
                        report_prefix=REPORT_PREFIX,
                        report_key_arn=report_key,
                        thing_names=thing_names,
                        rotation_job_template_arn=template,
                    )
                ),
                function.arn,
                log_group.arn,
                topic_arn,
                topic_key_arn,
                dlq.arn,
                report_bucket.arn if report_bucket else None,
                key.arn if report_bucket else None,
                lock.arn,
                rotation_template,
            ),
            opts=child(self),
        )
        aws.lambda_.FunctionEventInvokeConfig(
            f"{name}-invoke-config",
            function_name=function.name,
            maximum_retry_attempts=RETRY_ATTEMPTS,
            # Throttled continuations (an account at its concurrency limit) are retried for up
            # to 6 hours; a hand-over keeps the lease that long (HANDOVER_SECONDS).
            maximum_event_age_in_seconds=MAXIMUM_EVENT_AGE,
            destination_config={"on_failure": {"destination": dlq.arn}},
            opts=child(self, depends_on=[role_policy]),
        )

        permission = aws.lambda_.Permission(
            f"{name}-permission",
            action="lambda:InvokeFunction",
            function=function.name,
            principal="events.amazonaws.com",
            source_arn=rule.arn,
            source_account=account_id,
            opts=child(self),
        )
        aws.cloudwatch.EventTarget(
            f"{name}-target",
            rule=rule.name,
            arn=function.arn,
            input=json.dumps({"source": "aisb.schedule"}),
            retry_policy={"maximum_retry_attempts": 4, "maximum_event_age_in_seconds": 3600},
            dead_letter_config={"arn": dlq.arn},
            opts=child(self, depends_on=[permission, role_policy]),
        )

        alarm_to_topic(
            self,
            f"{name}-errors-alarm",
            description="aisb: the certificate-rotation scan failed (AISB #6)",
            namespace="AWS/Lambda",
            metric_name="Errors",
            dimensions={"FunctionName": function.name},
            statistic="Sum",
            topic_arn=topic_arn,
            tags=tags,
        )

        self.function_arn = function.arn
        self.function_name = function.name
        self.role_arn = role.arn
        self.dead_letter_queue_arn = dlq.arn
        self.report_bucket_name = (
            report_bucket.bucket if report_bucket else pulumi.Output.from_input(None)
        )
        self.register_outputs(
            {
                "function_arn": self.function_arn,
                "function_name": self.function_name,
                "role_arn": self.role_arn,
                "dead_letter_queue_arn": self.dead_letter_queue_arn,
                "report_bucket_name": self.report_bucket_name,
            }
        )
