"""AISB #6: rotate device certificates through AWS IoT jobs; the key never leaves the device."""

import json
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Required, TypedDict

import pulumi
import pulumi_aws as aws
import pulumi_aws_native as aws_native

from aisb import iam
from aisb import validation as v
from aisb.choices import KeyAlgorithm
from aisb.components._util import (
    BOUNDARY,
    CLOUDWATCH,
    EVENT_RULE,
    IAM_ROLE,
    LAMBDA_FUNCTION,
    SQS_QUEUE,
    alarm_to_topic,
    check_name,
    child,
    customer_key,
    dead_letter_queue,
    merge_tags,
    policy_json,
    regional_arn,
    require_args,
    require_publishers,
    service_role,
)
from aisb.functions.cert_rotator.protocol import HANDLER, JOB_PREFIX, KEY_ALGORITHMS, TOPIC_PREFIX
from aisb.options import Option, resolve

FUNCTION_DIR = Path(__file__).resolve().parent.parent / "functions" / "cert_rotator"
OPERATION = "rotate-certificate"
# The job-template id (create-only, fixed) and the functions' roles.
FUNCTIONS = ("create", "commit", "events", "sweep")
HANDLERS = {
    "create": "handler.create",
    "commit": "handler.commit",
    "events": "handler.job_event",
    "sweep": "handler.sweep",
}
MAX_TIMEOUT_MINUTES = 10080  # AWS IoT Jobs: in-progress timeouts of 1 minute to 7 days


def _number(low: float, high: float) -> Any:
    def check(value: Any) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not low <= value <= high
        ):
            raise v.InvalidValue(value, f"a number from {low} to {high}")
        return float(value)

    return check


class CertificateRotationArgs(TypedDict, total=False):
    """Arguments of ``CertificateRotation``."""

    account_id: Required[pulumi.Input[str]]
    """The AWS account id."""
    region: Required[pulumi.Input[str]]
    """The AWS region the providers deploy to."""
    partition: Required[pulumi.Input[str]]
    """The AWS partition."""
    data_endpoint: Required[pulumi.Input[str]]
    """The account's AWS IoT data endpoint (``iot:Data-ATS``): the functions reply there."""
    alert_topic_arn: Required[pulumi.Input[str]]
    """The SNS topic failures, rollbacks and alarms go to (CloudWatch must be allowed to
    publish to it)."""
    alert_topic_kms_key_arn: pulumi.Input[str | None]
    """The KMS key encrypting the topic, if any."""
    key_algorithm: KeyAlgorithm
    """The key devices generate: EC-P256 (default) or RSA-2048."""
    grace_days: int
    """Days an old certificate is kept, inactive, after the commit before it is detached and
    deleted (0-365, default 7)."""
    in_progress_timeout_minutes: int
    """Minutes a device has from starting the rotation to finishing it before AWS IoT Jobs
    times it out and the cloud rolls back (1-10080, default 60)."""
    rollout_base_rate_per_minute: int
    """Devices notified per minute when a rotation job starts (1-1000, default 10)."""
    rollout_increment_factor: float
    """The factor the rate grows by each time rollout_increase_after devices succeed (1.1-5,
    default 2)."""
    rollout_increase_after: int
    """Succeeded devices before each rate increase (1-1000000, default 10)."""
    rollout_maximum_per_minute: int
    """The most devices notified per minute (1-1000, default 100)."""
    abort_failure_percentage: float
    """A job is canceled once this percentage of its executions failed, timed out or were
    rejected (1-100, default 10) ..."""
    abort_min_executed_things: int
    """... among at least this many finished executions (1-1000000, default 10)."""
    private_ca_arn: pulumi.Input[str | None]
    """Issue certificates from this AWS Private CA (then registered with AWS IoT) instead of
    AWS IoT's CA."""
    private_ca_validity_days: int
    """Validity of certificates from the Private CA (1-3650, default 365)."""
    log_retention_days: int
    """Retention of the functions' log groups (default 365)."""
    permissions_boundary: pulumi.Input[str]
    """The ARN of an IAM managed policy set as the permissions boundary of every role this
    component creates (the deploy role's ``aisb-role-boundary`` where deploys run as it)."""
    tags: Mapping[str, str]
    """Tags for every taggable child."""


OPTIONS = {
    "key_algorithm": Option("EC-P256", v.choice(KEY_ALGORITHMS)),
    "grace_days": Option(7, v.in_range(0, 365)),
    "in_progress_timeout_minutes": Option(60, v.in_range(1, MAX_TIMEOUT_MINUTES)),
    "rollout_base_rate_per_minute": Option(10, v.in_range(1, 1000)),
    "rollout_increment_factor": Option(2.0, _number(1.1, 5)),
    "rollout_increase_after": Option(10, v.in_range(1, 1_000_000)),
    "rollout_maximum_per_minute": Option(100, v.in_range(1, 1000)),
    "abort_failure_percentage": Option(10.0, _number(1, 100)),
    "abort_min_executed_things": Option(10, v.in_range(1, 1_000_000)),
    "private_ca_arn": Option(None),
    "private_ca_validity_days": Option(365, v.in_range(1, 3650)),
    "log_retention_days": Option(365, v.log_retention),
    "permissions_boundary": BOUNDARY,
    "tags": Option(MappingProxyType({}), v.tags),
}


def job_document(key_algorithm: str) -> dict[str, Any]:
    """The rotation job's document: AWS IoT Device Client runs ``rotate-certificate.py``
    with the key algorithm; the create function reads the algorithm from the same place."""
    if key_algorithm not in KEY_ALGORITHMS:
        raise ValueError(f"key algorithm {key_algorithm!r}: expected one of {KEY_ALGORITHMS}")
    return {
        "version": "1.0",
        "includeStdOut": "true",
        "steps": [
            {
                "action": {
                    "name": OPERATION,
                    "type": "runHandler",
                    "input": {
                        "handler": HANDLER,
                        "args": ["start", "--key-algorithm", key_algorithm],
                        "path": "default",
                    },
                    "runAsUser": "root",
                }
            }
        ],
    }


def rule_sql(verb: str) -> str:
    """The rule for ``aisb/rotation/<thing>/<verb>``: the request's fields by name (a device
    cannot set the principal, client id or thing name) and what AWS IoT knows of the
    connection (https://docs.aws.amazon.com/iot/latest/developerguide/iot-sql-functions.html:
    ``principal()`` is the certificate id for a certificate, ``clientid()`` the MQTT client id,
    ``topic(3)`` the third level of the topic)."""
    depth = TOPIC_PREFIX.count("/") + 2
    fields = "jobId, csr" if verb == "create" else "jobId"
    return (
        f"SELECT {fields}, topic({depth}) AS thingName, principal() AS principal, "
        f"clientid() AS clientId FROM '{TOPIC_PREFIX}/+/{verb}'"
    )


# The execution events of rotation jobs only
# (https://docs.aws.amazon.com/iot/latest/developerguide/events-jobs.html).
EVENTS_SQL = f"SELECT * FROM '$aws/events/jobExecution/+/+' WHERE startswith(jobId, '{JOB_PREFIX}')"


class CertificateRotation(pulumi.ComponentResource):
    """AISB #6 -- rotates device certificates: a job template devices run with AWS IoT Device
    Client's ``rotate-certificate.py`` (or any client speaking the protocol in the README),
    IoT rules routing their requests to Lambda functions that check the chain of custody,
    issue, commit and roll back.

    Creates:
    - ``<name>-key``: a KMS key (rotation on) for the functions' logs;
    - ``<name>-state``: a DynamoDB table, one item per thing being rotated (point-in-time
      recovery on);
    - per function (``create``, ``commit``, ``events``, ``sweep``): ``<name>-<f>-logs``,
      ``<name>-<f>-role`` (+ ``-policy``: exactly what that function calls),
      ``<name>-<f>-function`` (python3.13, arm64), ``<name>-<f>-invoke-config`` (failed
      invocations to the dead-letter queue) and ``<name>-<f>-errors-alarm``;
    - ``<name>-create-rule``, ``<name>-commit-rule``, ``<name>-events-rule`` (IoT rules) and
      their ``-permission``; ``<name>-job-events``: AWS IoT's event configuration with job
      execution events on (an account-and-region setting);
    - ``<name>-sweep-schedule`` (+ ``-target``, ``-permission``): the daily sweeper;
    - ``<name>-dlq``: the dead-letter queue (+ its alarm);
    - ``<name>-job-template``: the rotation job template (rollout, abort and timeout configs);
    - ``<name>-device-policy``: the IoT policy a device's certificate needs for rotation.

    Outputs: ``job_template_arn``, ``job_template_id``, ``device_policy_name``,
    ``state_table_name``, ``function_arns`` (by role).
    """

    job_template_arn: pulumi.Output[str]
    job_template_id: pulumi.Output[str]
    device_policy_name: pulumi.Output[str]
    state_table_name: pulumi.Output[str]
    function_arns: pulumi.Output[dict[str, str]]

    name_limits = MappingProxyType(
        {
            **{f"-{f}-role": IAM_ROLE for f in FUNCTIONS},
            **{f"-{f}-function": LAMBDA_FUNCTION for f in FUNCTIONS},
            "-rule-errors-role": IAM_ROLE,
            "-dlq": SQS_QUEUE,
            "-sweep-schedule": EVENT_RULE,
            # The job template's id, at most 64 characters (AWS::IoT::JobTemplate).
            "-rotate": 64,
        }
    )

    def __init__(
        self, name: str, args: CertificateRotationArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        c = "CertificateRotation"
        check_name(c, name, self.name_limits)
        a = resolve(c, OPTIONS, (), args, declared_by=CertificateRotationArgs)
        require_args(
            c, args, "account_id", "region", "partition", "data_endpoint", "alert_topic_arn"
        )
        require_publishers(c, args["alert_topic_arn"], [CLOUDWATCH])  # its alarms
        super().__init__("aisb:index:CertificateRotation", name, None, opts)
        account_id, region, partition = args["account_id"], args["region"], args["partition"]
        topic_arn = args["alert_topic_arn"]
        topic_key_arn = args.get("alert_topic_kms_key_arn")
        private_ca = a["private_ca_arn"]
        tags = merge_tags(a["tags"], "AISB-6")
        log_prefix = f"/aisb/{name}-"

        key = customer_key(
            self,
            f"{name}-key",
            description="aisb: encrypts the certificate rotation functions' logs",
            account_id=account_id,
            partition=partition,
            statements=lambda part, acct, reg: [
                iam.kms_logs_prefix_statement(reg, part, acct, log_prefix)
            ],
            statement_inputs=(region,),
            tags=tags,
        )
        table = aws.dynamodb.Table(
            f"{name}-state",
            billing_mode="PAY_PER_REQUEST",
            hash_key="thing",
            attributes=[{"name": "thing", "type": "S"}],
            point_in_time_recovery={"enabled": True},
            server_side_encryption={"enabled": True},
            tags=tags,
            opts=child(self),
        )
        schedule = aws.cloudwatch.EventRule(
            f"{name}-sweep-schedule",
            description="aisb: retires old device certificates after their grace period",
            schedule_expression="rate(1 day)",
            tags=tags,
            opts=child(self),
        )
        dlq = dead_letter_queue(
            self,
            f"{name}-dlq",
            rule_arn=schedule.arn,
            topic_arn=topic_arn,
            what="aisb: a certificate rotation step could not run (AISB #6)",
            tags=tags,
        ).queue
        environment: dict[str, pulumi.Input[str]] = {
            "STATE_TABLE": table.name,
            "ALERT_TOPIC_ARN": topic_arn,
            "GRACE_DAYS": str(a["grace_days"]),
            "IOT_DATA_ENDPOINT": args["data_endpoint"],
            "PCA_CA_ARN": pulumi.Output.from_input(private_ca).apply(lambda arn: arn or ""),
            "PCA_VALIDITY_DAYS": str(a["private_ca_validity_days"]),
        }
        code = pulumi.AssetArchive(
            {p.name: pulumi.FileAsset(str(p)) for p in sorted(FUNCTION_DIR.glob("*.py"))}
        )
        functions: dict[str, aws.lambda_.Function] = {}
        for role_name in FUNCTIONS:
            log_group = aws.cloudwatch.LogGroup(
                f"{name}-{role_name}-logs",
                name_prefix=f"{log_prefix}{role_name}-",
                retention_in_days=a["log_retention_days"],
                kms_key_id=key.arn,
                tags=tags,
                opts=child(self),
            )
            role = service_role(
                self,
                f"{name}-{role_name}-role",
                service="lambda.amazonaws.com",
                account_id=account_id,
                description=f"aisb: the certificate rotation {role_name} function",
                tags=tags,
                permissions_boundary=a["permissions_boundary"],
            ).role
            function = aws.lambda_.Function(
                f"{name}-{role_name}-function",
                description=f"aisb: certificate rotation, {role_name} (AISB #6)",
                runtime="python3.13",
                architectures=["arm64"],
                handler=HANDLERS[role_name],
                code=code,
                role=role.arn,
                timeout=300 if role_name == "sweep" else 30,
                memory_size=256,
                logging_config={"log_format": "Text", "log_group": log_group.name},
                environment={"variables": environment},
                tags=tags,
                opts=child(self),
            )
            policy = aws.iam.RolePolicy(
                f"{name}-{role_name}-role-policy",
                role=role.id,
                policy=policy_json(
                    lambda part, reg, acct, logs, tbl, queue, topic, topic_key, ca, r=role_name: (
                        iam.rotation_function_policy(
                            r,
                            partition=part,
                            region=reg,
                            account_id=acct,
                            log_group_arn=logs,
                            table_arn=tbl,
                            dead_letter_queue_arn=queue,
                            topic_arn=topic,
                            topic_key_arn=topic_key,
                            private_ca_arn=ca,
                        )
                    ),
                    partition,
                    region,
                    account_id,
                    log_group.arn,
                    table.arn,
                    dlq.arn,
                    topic_arn,
                    topic_key_arn,
                    private_ca,
                ),
                opts=child(self),
            )
            aws.lambda_.FunctionEventInvokeConfig(
                f"{name}-{role_name}-invoke-config",
                function_name=function.name,
                maximum_retry_attempts=2,
                destination_config={"on_failure": {"destination": dlq.arn}},
                opts=child(self, depends_on=[policy]),
            )
            alarm_to_topic(
                self,
                f"{name}-{role_name}-errors-alarm",
                description=f"aisb: the certificate rotation {role_name} function failed",
                namespace="AWS/Lambda",
                metric_name="Errors",
                dimensions={"FunctionName": function.name},
                statistic="Sum",
                topic_arn=topic_arn,
                tags=tags,
            )
            functions[role_name] = function

        # Job execution events are an account-and-region setting; only JOB_EXECUTION is
        # turned on here (https://docs.aws.amazon.com/iot/latest/developerguide/iot-events.html),
        # and every other event type is left as the account has it. The provider reads back the
        # whole map, every event type (terraform-provider-aws
        # internal/service/iot/event_configurations.go, resourceEventConfigurationsRead; its
        # acceptance test expects all 11 keys in state), so a map of one key would show as an
        # update in every later preview: later updates leave the map alone (the bridge drops
        # every attribute diff under an ignored attribute: pulumi-terraform-bridge
        # pkg/tfshim/sdk-v2/provider2.go, processIgnoreChanges). Deleting the resource
        # changes nothing in AWS (DeleteWithoutTimeout: schema.NoopContext), and nor does an
        # update put back events someone turned off: `aisb check` reports that
        # (rotation-job-events).
        aws.iot.EventConfigurations(
            f"{name}-job-events",
            event_configurations={"JOB_EXECUTION": True},
            opts=child(self, ignore_changes=["eventConfigurations"]),
        )
        # The rules engine does not retry an action that fails; it hands the message to the
        # rule's error action (https://docs.aws.amazon.com/iot/latest/developerguide/rule-error-handling.html):
        # here the dead-letter queue, whose alarm tells the topic.
        rule_prefix = name.replace("-", "_")
        rule_errors = service_role(
            self,
            f"{name}-rule-errors-role",
            service="iot.amazonaws.com",
            account_id=account_id,
            description="aisb: AWS IoT keeps what a certificate rotation rule failed to deliver",
            policy=policy_json(iam.rule_error_queue_policy, dlq.arn),
            # The rules engine names the rule as aws:SourceArn (arn:...:rule/<rule name>:
            # https://docs.aws.amazon.com/iot/latest/developerguide/iot-create-role.html): only
            # this component's three rules may use the role.
            source_arn=regional_arn(partition, "iot", region, account_id, f"rule/{rule_prefix}_*"),
            tags=tags,
            permissions_boundary=a["permissions_boundary"],
        )
        for role_name, sql in (
            ("create", rule_sql("create")),
            ("commit", rule_sql("commit")),
            ("events", EVENTS_SQL),
        ):
            rule = aws.iot.TopicRule(
                f"{name}-{role_name}-rule",
                # Rule names take only letters, digits and underscores (CreateTopicRule's
                # ruleName pattern ^[a-zA-Z0-9_]+$ in botocore's iot model): no auto-name.
                name=f"{rule_prefix}_{role_name}",
                description=f"aisb: certificate rotation, {role_name} (AISB #6)",
                enabled=True,
                sql=sql,
                sql_version="2016-03-23",
                lambdas=[{"function_arn": functions[role_name].arn}],
                error_action={
                    "sqs": {
                        "queue_url": dlq.url,
                        "role_arn": rule_errors.role.arn,
                        "use_base64": False,
                    }
                },
                tags=tags,
                opts=child(self, depends_on=rule_errors.grants),
            )
            # Only this rule of this account may invoke it: "If you add a permission for an
            # AWS IoT principal without providing the source-arn or source-account, any AWS
            # account that creates a rule with your Lambda action can activate rules to invoke
            # your Lambda function" (AWS IoT invokes it asynchronously):
            # https://docs.aws.amazon.com/iot/latest/developerguide/lambda-rule-action.html
            aws.lambda_.Permission(
                f"{name}-{role_name}-permission",
                action="lambda:InvokeFunction",
                function=functions[role_name].name,
                principal="iot.amazonaws.com",
                source_arn=rule.arn,
                source_account=account_id,
                opts=child(self),
            )
        sweep_permission = aws.lambda_.Permission(
            f"{name}-sweep-permission",
            action="lambda:InvokeFunction",
            function=functions["sweep"].name,
            principal="events.amazonaws.com",
            source_arn=schedule.arn,
            source_account=account_id,
            opts=child(self),
        )
        aws.cloudwatch.EventTarget(
            f"{name}-sweep-target",
            rule=schedule.name,
            arn=functions["sweep"].arn,
            input=json.dumps({"source": "aisb.schedule"}),
            retry_policy={"maximum_retry_attempts": 4, "maximum_event_age_in_seconds": 3600},
            dead_letter_config={"arn": dlq.arn},
            opts=child(self, depends_on=[sweep_permission]),
        )

        device_policy = aws.iot.Policy(
            f"{name}-device-policy",
            policy=policy_json(
                lambda part, reg, acct: iam.rotation_device_policy(part, reg, acct),
                partition,
                region,
                account_id,
            ),
            tags=tags,
            opts=child(self),
        )
        native = aws_native.iot
        template_id = f"{name}-rotate"
        template = native.JobTemplate(
            f"{name}-job-template",
            job_template_id=template_id,
            description="aisb: rotate the device certificate and key (AISB #6)",
            document=json.dumps(job_document(a["key_algorithm"])),
            job_executions_rollout_config=native.JobExecutionsRolloutConfigPropertiesArgs(
                exponential_rollout_rate=native.JobTemplateExponentialRolloutRateArgs(
                    base_rate_per_minute=a["rollout_base_rate_per_minute"],
                    increment_factor=a["rollout_increment_factor"],
                    rate_increase_criteria=native.JobTemplateRateIncreaseCriteriaArgs(
                        number_of_succeeded_things=a["rollout_increase_after"]
                    ),
                ),
                maximum_per_minute=a["rollout_maximum_per_minute"],
            ),
            abort_config=native.AbortConfigPropertiesArgs(
                criteria_list=[
                    native.JobTemplateAbortCriteriaArgs(
                        action=native.JobTemplateAction.CANCEL,
                        failure_type=native.JobTemplateFailureType.ALL,
                        min_number_of_executed_things=a["abort_min_executed_things"],
                        threshold_percentage=a["abort_failure_percentage"],
                    )
                ]
            ),
            timeout_config=native.TimeoutConfigPropertiesArgs(
                in_progress_timeout_in_minutes=a["in_progress_timeout_minutes"]
            ),
            tags=[
                aws_native.CreateOnlyTagArgs(key=k, value=val) for k, val in sorted(tags.items())
            ],
            # Every JobTemplate property is create-only and its id is fixed: a changed setting
            # replaces it, and the new one can only be created once the old one is gone.
            opts=child(self, delete_before_replace=True),
        )
        self.job_template_arn = template.arn
        self.job_template_id = pulumi.Output.from_input(template_id)
        self.device_policy_name = device_policy.name
        self.state_table_name = table.name
        self.function_arns = pulumi.Output.all(**{k: f.arn for k, f in functions.items()})
        self.register_outputs(
            {
                "job_template_arn": self.job_template_arn,
                "job_template_id": self.job_template_id,
                "device_policy_name": self.device_policy_name,
                "state_table_name": self.state_table_name,
                "function_arns": self.function_arns,
            }
        )
