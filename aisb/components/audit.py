"""AISB #4 (with the checks of #1 and #2): Device Defender audit."""

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Required, TypedDict

import pulumi
import pulumi_aws_native as aws_native

from aisb import iam
from aisb import validation as v
from aisb.catalog import AUDIT_CHECKS, scheduled_audit_checks
from aisb.choices import AuditFrequency, DayOfWeek
from aisb.components._util import (
    BOUNDARY,
    IAM_ROLE,
    IOT_NAME,
    check_name,
    child,
    iam_settled,
    iot_source_arn,
    merge_tags,
    native_tags,
    policy_json,
    regional_arn,
    require_args,
    service_role,
)
from aisb.options import Option, Problem, Rule, resolve


class DeviceDefenderAuditArgs(TypedDict, total=False):
    """Arguments of ``DeviceDefenderAudit``."""

    account_id: Required[pulumi.Input[str]]
    """The AWS account id."""
    partition: Required[pulumi.Input[str]]
    """The AWS partition."""
    region: pulumi.Input[str]
    """The AWS region; when given, the roles also require Device Defender's ``aws:SourceArn``
    in this region (recommended; the baseline passes it)."""
    alert_topic_arn: Required[pulumi.Input[str]]
    """The SNS topic audit findings are sent to."""
    alert_topic_kms_key_arn: pulumi.Input[str | None]
    """The KMS key encrypting the topic, if any."""
    frequency: AuditFrequency
    """How often the Device Defender scheduled audit runs (AISB #4): DAILY, WEEKLY, BIWEEKLY or
    MONTHLY."""
    day_of_week: DayOfWeek
    """Day of the scheduled audit for WEEKLY and BIWEEKLY: SUN, MON, TUE, WED, THU, FRI or SAT."""
    day_of_month: str
    """Day of the scheduled audit for MONTHLY: "1" to "31" (quoted), or LAST."""
    checks_disabled: Sequence[str]
    """Device Defender audit checks to leave off (names as in the API); all 17 are on by
    default."""
    cert_max_age_days: int
    """Certificate rotation period in days (30-3652): DEVICE_CERTIFICATE_AGE_CHECK flags
    certificates at least this old."""
    cert_expiry_warning_days: int
    """DEVICE_CERTIFICATE_EXPIRING_CHECK flags certificates expiring within this many days
    (30-3652)."""
    permissions_boundary: pulumi.Input[str]
    """The ARN of an IAM managed policy set as the permissions boundary of every role this
    component creates (the deploy role's ``aisb-role-boundary`` where deploys run as it)."""
    tags: Mapping[str, str]
    """Tags for every taggable child."""


def audit_check_configurations(
    enabled: frozenset[str], cert_max_age_days: int, cert_expiry_warning_days: int
) -> aws_native.iot.AccountAuditConfigurationAuditCheckConfigurationsArgs:
    """Every one of the 17 checks, enabled or not (so a check turned off in config is turned
    off in AWS too), with the certificate age and expiry thresholds."""
    iot = aws_native.iot
    configs: dict[str, object] = {}
    for check in AUDIT_CHECKS:
        on = check.name in enabled
        if check.name == "DEVICE_CERTIFICATE_AGE_CHECK":
            configs[check.snake_key] = (
                iot.AccountAuditConfigurationDeviceCertAgeAuditCheckConfigurationArgs(
                    enabled=on,
                    configuration=iot.AccountAuditConfigurationCertAgeCheckCustomConfigurationArgs(
                        cert_age_threshold_in_days=str(cert_max_age_days)
                    ),
                )
            )
        elif check.name == "DEVICE_CERTIFICATE_EXPIRING_CHECK":
            configs[check.snake_key] = (
                iot.AccountAuditConfigurationDeviceCertExpirationAuditCheckConfigurationArgs(
                    enabled=on,
                    configuration=iot.AccountAuditConfigurationCertExpirationCheckCustomConfigurationArgs(
                        cert_expiration_threshold_in_days=str(cert_expiry_warning_days)
                    ),
                )
            )
        else:
            configs[check.snake_key] = iot.AccountAuditConfigurationAuditCheckConfigurationArgs(
                enabled=on
            )
    return iot.AccountAuditConfigurationAuditCheckConfigurationsArgs(**configs)  # type: ignore[arg-type]


def _schedule(values: dict[str, Any]) -> list[Problem]:
    """The frequency and its day, as ScheduledAudit accepts them together."""
    try:
        values["frequency"], values["day_of_week"], values["day_of_month"] = v.audit_schedule(
            values["frequency"], values["day_of_week"], values["day_of_month"]
        )
    except v.InvalidValue as e:
        return [(e.field or "frequency", e)]
    return []


def _something_scheduled(values: dict[str, Any]) -> list[Problem]:
    """The scheduled audit needs at least one check it can run."""
    disabled = frozenset(values["checks_disabled"])
    if scheduled_audit_checks(frozenset(c.name for c in AUDIT_CHECKS) - disabled):
        return []
    return [
        (
            "checks_disabled",
            v.InvalidValue(
                sorted(disabled),
                "at least one check left on that the scheduled audit can run (AISB #4)",
            ),
        )
    ]


OPTIONS = {
    "frequency": Option("DAILY", v.choice(v.AUDIT_FREQUENCIES)),
    "day_of_week": Option(None, v.choice(v.DAYS_OF_WEEK)),
    "day_of_month": Option(None),
    "checks_disabled": Option((), v.audit_check_names),
    "cert_max_age_days": Option(365, v.in_range(*v.CERT_AGE_RANGE)),
    "cert_expiry_warning_days": Option(30, v.in_range(*v.CERT_EXPIRY_RANGE)),
    "tags": Option(MappingProxyType({}), v.tags),
    "permissions_boundary": BOUNDARY,
}
RULES = (
    Rule(("frequency", "day_of_week", "day_of_month"), _schedule),
    Rule(("checks_disabled",), _something_scheduled),
)


class DeviceDefenderAudit(pulumi.ComponentResource):
    """AISB #4 -- Device Defender audit, carrying the identity (#1) and least-privilege (#2)
    checks. The account audit configuration is an account-and-region singleton.

    Creates:
    - ``<name>-audit-role`` (+ ``-managed``): a role only AWS IoT acting for this account can
      assume, with AWS's managed ``AWSIoTDeviceDefenderAudit`` read-only policy;
    - ``<name>-notify-role`` (+ ``-policy``): a role only AWS IoT can assume, allowed only
      ``sns:Publish`` on the alert topic (and the use of its key);
    - ``<name>-configuration``: the AccountAuditConfiguration: all 17 checks on unless
      disabled, the certificate age and expiry thresholds, and audit notifications to the
      topic (a console step in the original sample);
    - ``<name>-schedule``: a ScheduledAudit at the configured frequency over the enabled
      checks that CloudFormation accepts, created after the configuration.

    Outputs: ``audit_role_arn``, ``notification_role_arn``, ``scheduled_audit_arn``,
    ``enabled_checks`` (plain list), ``scheduled_checks`` (plain list).
    """

    audit_role_arn: pulumi.Output[str]
    notification_role_arn: pulumi.Output[str]
    scheduled_audit_arn: pulumi.Output[str]
    enabled_checks: list[str]
    scheduled_checks: list[str]

    name_limits = MappingProxyType(
        {
            "-audit-role": IAM_ROLE,
            "-notify-role": IAM_ROLE,
            "-schedule": IOT_NAME,
        }
    )

    def __init__(
        self, name: str, args: DeviceDefenderAuditArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        check_name("DeviceDefenderAudit", name, self.name_limits)
        a = resolve(
            "DeviceDefenderAudit", OPTIONS, RULES, args, declared_by=DeviceDefenderAuditArgs
        )
        require_args("DeviceDefenderAudit", args, "account_id", "partition", "alert_topic_arn")
        frequency, day_of_week, day_of_month = a["frequency"], a["day_of_week"], a["day_of_month"]
        enabled = frozenset(c.name for c in AUDIT_CHECKS) - frozenset(a["checks_disabled"])
        max_age, expiry = a["cert_max_age_days"], a["cert_expiry_warning_days"]
        super().__init__("aisb:index:DeviceDefenderAudit", name, None, opts)

        account_id, partition = args["account_id"], args["partition"]
        topic_arn = args["alert_topic_arn"]
        key_arn = args.get("alert_topic_kms_key_arn")
        tags = merge_tags(a["tags"], "AISB-4")
        region = args.get("region")
        source_arn = iot_source_arn(partition, region, account_id) if region is not None else None
        audit = service_role(
            self,
            f"{name}-audit-role",
            service="iot.amazonaws.com",
            account_id=account_id,
            description="aisb: lets Device Defender read the configuration it audits",
            source_arn=source_arn,
            managed_policy_arn=regional_arn(
                partition, "iam", "", "aws", "policy/service-role/AWSIoTDeviceDefenderAudit"
            ),
            tags=tags,
            permissions_boundary=a["permissions_boundary"],
        )
        notify = service_role(
            self,
            f"{name}-notify-role",
            service="iot.amazonaws.com",
            account_id=account_id,
            description="aisb: lets Device Defender send audit findings to the alert topic",
            source_arn=source_arn,
            policy=policy_json(iam.sns_publish_policy, topic_arn, key_arn),
            tags=tags,
            permissions_boundary=a["permissions_boundary"],
        )

        configuration = aws_native.iot.AccountAuditConfiguration(
            f"{name}-configuration",
            account_id=account_id,
            role_arn=audit.role.arn,
            audit_check_configurations=audit_check_configurations(enabled, max_age, expiry),
            audit_notification_target_configurations=aws_native.iot.AccountAuditConfigurationAuditNotificationTargetConfigurationsArgs(
                sns=aws_native.iot.AccountAuditConfigurationAuditNotificationTargetArgs(
                    enabled=True, role_arn=notify.role.arn, target_arn=topic_arn
                )
            ),
            # IoT assumes both roles when the configuration is written: after IAM has settled.
            opts=child(
                self, depends_on=[iam_settled(self, f"{name}-iam-settled", [audit, notify])]
            ),
        )

        self.enabled_checks = sorted(enabled)
        self.scheduled_checks = scheduled_audit_checks(enabled)
        schedule = aws_native.iot.ScheduledAudit(
            f"{name}-schedule",
            frequency=aws_native.iot.ScheduledAuditFrequency(frequency),
            day_of_week=aws_native.iot.ScheduledAuditDayOfWeek(day_of_week)
            if day_of_week
            else None,
            day_of_month=day_of_month,
            target_check_names=self.scheduled_checks,
            tags=native_tags(tags),
            # A check a scheduled audit uses must already be enabled in the configuration.
            opts=child(self, depends_on=[configuration]),
        )

        self.audit_role_arn = audit.role.arn
        self.notification_role_arn = notify.role.arn
        self.scheduled_audit_arn = schedule.scheduled_audit_arn
        self.register_outputs(
            {
                "audit_role_arn": self.audit_role_arn,
                "notification_role_arn": self.notification_role_arn,
                "scheduled_audit_arn": self.scheduled_audit_arn,
            }
        )
