"""AISB #5, #7 and #11: behaviour detection with Device Defender, or CloudWatch for accounts
that cannot use Detect."""

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, TypedDict

import pulumi
import pulumi_aws as aws
import pulumi_aws_native as aws_native

from aisb import detect, iam
from aisb import validation as v
from aisb.components._util import (
    IAM_ROLE,
    IOT_NAME,
    RANDOM_SUFFIX,
    arg_error,
    check_arg,
    check_name,
    child,
    iam_settled,
    iot_source_arn,
    merge_tags,
    native_tags,
    policy_json,
    require_args,
    service_role,
)


class BehaviorMonitoringArgs(TypedDict, total=False):
    """Arguments of ``BehaviorMonitoring``."""

    account_id: pulumi.Input[str]
    """The AWS account id (required)."""
    region: pulumi.Input[str]
    """The AWS region the providers deploy to (required)."""
    partition: pulumi.Input[str]
    """The AWS partition (required)."""
    alert_topic_arn: pulumi.Input[str]
    """The SNS topic alarms go to (required)."""
    alert_topic_kms_key_arn: pulumi.Input[str | None]
    """The KMS key encrypting the topic, if any."""
    device_metrics: bool
    """Also watch the 7 device-side metrics (devices run an agent such as AWS IoT Device
    Client); default false."""
    confidence: str
    """ML Detect confidence: LOW, MEDIUM or HIGH (default)."""
    datapoints_to_alarm: int
    """Consecutive anomalous datapoints before an ML alarm (1-10, default 1)."""
    datapoints_to_clear: int
    """Consecutive normal datapoints before an ML alarm clears (1-10, default 1)."""
    target_groups: Sequence[str]
    """Thing group names to watch; empty (default) watches all registered things."""
    rules: Sequence[Mapping[str, Any]]
    """Static rules for a rules-based profile (see README: detectRules)."""
    custom_metrics: Sequence[Mapping[str, Any]]
    """Custom metrics, each watched by ML or by a rule (see README: customMetrics)."""
    tags: Mapping[str, str]
    """Tags for every taggable child."""


def all_registered_things(partition: str, region: str, account_id: str) -> str:
    """The target that attaches a profile to every registered thing."""
    return f"arn:{partition}:iot:{region}:{account_id}:all/registered-things"


class BehaviorMonitoring(pulumi.ComponentResource):
    """AISB #5 with #7 and #11 -- Device Defender Detect on the fleet.

    Creates:
    - ``<name>-alert-role`` (+ ``-policy``): a role only AWS IoT acting for this account may
      assume, allowed only to publish to the alert topic (and use its key);
    - ``<name>-metric-<metric>``: one ``CustomMetric`` per custom metric;
    - ``<name>-ml-profile``: an ML Detect security profile with one behaviour per supported
      metric (6 cloud-side, plus 7 device-side with ``device_metrics``, plus custom number
      metrics monitored by ML), alerting the topic, retaining the metrics it watches and the
      address and port lists ML cannot watch;
    - ``<name>-rules-profile``: a rules-based profile, when there are rules or custom metrics
      with rules, alerting the topic too.
    Profiles are attached to all registered things, or to the named thing groups, which must
    exist: each is read (``<name>-target-<group>``) before the profiles are created, so
    ``pulumi preview`` already stops on a group that does not exist (AttachSecurityProfile
    would fail with ResourceNotFound halfway through ``pulumi up``).

    Outputs: ``ml_profile_name``, ``rules_profile_name`` (None without rules),
    ``alert_role_arn``.
    """

    ml_profile_name: pulumi.Output[str | None]
    rules_profile_name: pulumi.Output[str | None]
    alert_role_arn: pulumi.Output[str]

    name_limits = MappingProxyType(
        {
            "-alert-role": IAM_ROLE,
            "-ml-profile": IOT_NAME,
            "-rules-profile": IOT_NAME,
        }
    )

    def __init__(
        self, name: str, args: BehaviorMonitoringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        check_name("BehaviorMonitoring", name, self.name_limits)
        c = "BehaviorMonitoring"
        require_args(c, args, "account_id", "region", "partition", "alert_topic_arn")
        try:
            groups = detect.target_groups(list(args.get("target_groups", [])))
            ml, rules, customs = detect.plan_profiles(
                device_metrics=bool(args.get("device_metrics", False)),
                confidence=args.get("confidence", "HIGH"),
                datapoints_to_alarm=args.get("datapoints_to_alarm", 1),
                datapoints_to_clear=args.get("datapoints_to_clear", 1),
                rules=list(args.get("rules", [])),
                custom_metrics=list(args.get("custom_metrics", [])),
            )
        except detect.RuleError as e:
            raise arg_error(c, e.path, e) from None
        super().__init__("aisb:index:BehaviorMonitoring", name, None, opts)

        account_id, region, partition = args["account_id"], args["region"], args["partition"]
        topic_arn = args["alert_topic_arn"]
        tags = merge_tags(args.get("tags"), "AISB-5")
        alert = service_role(
            self,
            f"{name}-alert-role",
            service="iot.amazonaws.com",
            account_id=account_id,
            description="aisb: lets Device Defender send detect alarms to the alert topic",
            source_arn=iot_source_arn(partition, region, account_id),
            policy=policy_json(
                iam.sns_publish_policy, topic_arn, args.get("alert_topic_kms_key_arn")
            ),
            tags=tags,
        )
        alert_targets = {
            "SNS": aws_native.iot.SecurityProfileAlertTargetArgs(
                alert_target_arn=topic_arn, role_arn=alert.role.arn
            )
        }
        # Reads happen in preview too: a group that does not exist stops the preview.
        target_groups = [
            aws.iot.ThingGroup.get(f"{name}-target-{group}", group, opts=child(self))
            for group in groups
        ]
        targets: pulumi.Output[list[str]] = (
            pulumi.Output.all(*[g.arn for g in target_groups])
            if target_groups
            else pulumi.Output.all(partition, region, account_id).apply(
                lambda vals: [all_registered_things(vals[0], vals[1], vals[2])]
            )
        )
        custom_resources = [
            aws_native.iot.CustomMetric(
                f"{name}-metric-{cm.name}",
                metric_name=cm.name,
                metric_type=aws_native.iot.CustomMetricMetricType(cm.type),
                display_name=cm.display_name,
                tags=native_tags(tags),
                opts=child(self),
            )
            for cm in customs
        ]
        # The profiles name custom metrics, so those must exist first; alerts need the role.
        settled = iam_settled(self, f"{name}-iam-settled", [alert])
        after = child(self, depends_on=[*custom_resources, settled])
        device_metrics = bool(args.get("device_metrics", False))
        ml_profile = aws_native.iot.SecurityProfile(
            f"{name}-ml-profile",
            security_profile_description="aisb: ML Detect on device behaviour (AISB #5)",
            behaviors=[_behavior(b) for b in ml],
            alert_targets=alert_targets,
            additional_metrics_to_retain_v2=[
                aws_native.iot.SecurityProfileMetricToRetainArgs(metric=m)
                for m in detect.retained_metrics([b["metric"] for b in ml], device_metrics)
            ],
            target_arns=targets,
            tags=native_tags(tags),
            opts=after,
        )
        self.rules_profile_name = pulumi.Output.from_input(None)
        if rules:
            rules_profile = aws_native.iot.SecurityProfile(
                f"{name}-rules-profile",
                security_profile_description="aisb: static rules on device behaviour (AISB #5)",
                behaviors=[_behavior(b) for b in rules],
                alert_targets=alert_targets,
                additional_metrics_to_retain_v2=[
                    aws_native.iot.SecurityProfileMetricToRetainArgs(metric=m)
                    for m in dict.fromkeys(b["metric"] for b in rules)
                ],
                target_arns=targets,
                tags=native_tags(tags),
                opts=after,
            )
            self.rules_profile_name = rules_profile.security_profile_name
        self.ml_profile_name = ml_profile.security_profile_name
        self.alert_role_arn = alert.role.arn
        self.register_outputs(
            {
                "ml_profile_name": self.ml_profile_name,
                "rules_profile_name": self.rules_profile_name,
                "alert_role_arn": self.alert_role_arn,
            }
        )


def _behavior(b: Mapping[str, Any]) -> aws_native.iot.SecurityProfileBehaviorArgs:
    """A behaviour dict from ``aisb.detect`` as pulumi-aws-native's input type."""
    iot = aws_native.iot
    criteria = dict(b["criteria"])
    if "ml_detection_config" in criteria:
        criteria["ml_detection_config"] = iot.SecurityProfileMachineLearningDetectionConfigArgs(
            confidence_level=iot.SecurityProfileMachineLearningDetectionConfigConfidenceLevel(
                criteria["ml_detection_config"]["confidence_level"]
            )
        )
    if "value" in criteria:
        criteria["value"] = iot.SecurityProfileMetricValueArgs(**criteria["value"])
    if "comparison_operator" in criteria:
        criteria["comparison_operator"] = iot.SecurityProfileBehaviorCriteriaComparisonOperator(
            criteria["comparison_operator"]
        )
    return iot.SecurityProfileBehaviorArgs(
        name=b["name"],
        metric=b["metric"],
        criteria=iot.SecurityProfileBehaviorCriteriaArgs(**criteria),
        suppress_alerts=b["suppress_alerts"],
    )


class FleetAnomalyAlarmsArgs(TypedDict, total=False):
    """Arguments of ``FleetAnomalyAlarms``."""

    alert_topic_arn: pulumi.Input[str]
    """The SNS topic alarms go to (required); CloudWatch must be allowed to publish to it."""
    band_width: int
    """Width of the anomaly-detection band in standard deviations (1-10, default 2)."""
    tags: Mapping[str, str]
    """Tags for every alarm."""


class FleetAnomalyAlarms(pulumi.ComponentResource):
    """AISB #5 and #7 for accounts without Device Defender Detect: CloudWatch anomaly-detection
    alarms on AWS IoT Core's own account metrics (namespace ``AWS/IoT``, protocol MQTT).

    Fleet-level, not per device: an alarm says the fleet as a whole rejects, throttles or
    publishes unusually, not which device; the IoT logs (AISB #3) tell which.

    Creates one ``<name>-<metric>`` alarm per metric in ``aisb.detect.FLEET_ALARMS``:
    authentication and authorization failures on connect, publish and subscribe, connection
    throttling, and publish volume (alarmed both ways), each notifying the alert topic.

    Outputs: ``alarm_arns``.
    """

    alarm_arns: pulumi.Output[list[str]]
    # CloudWatch alarm names take 255 characters; the longest child adds its metric.
    name_limits = MappingProxyType(
        {
            "-"
            + max((a.metric.lower().replace(".", "-") for a in detect.FLEET_ALARMS), key=len): 255
            - RANDOM_SUFFIX
        }
    )

    def __init__(
        self, name: str, args: FleetAnomalyAlarmsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        check_name("FleetAnomalyAlarms", name, self.name_limits)
        c = "FleetAnomalyAlarms"
        if args.get("alert_topic_arn") is None:
            raise ValueError(f"{c}: argument 'alert_topic_arn' is required")
        band = check_arg(
            c,
            "band_width",
            lambda x: v.int_in_range(x, *detect.BAND_WIDTH_RANGE),
            args.get("band_width", 2),
        )
        super().__init__("aisb:index:FleetAnomalyAlarms", name, None, opts)
        topic_arn = args["alert_topic_arn"]
        tags = merge_tags(args.get("tags"), "AISB-5")
        alarms = []
        for alarm in detect.FLEET_ALARMS:
            logical = alarm.metric.lower().replace(".", "-")
            alarms.append(
                aws.cloudwatch.MetricAlarm(
                    f"{name}-{logical}",
                    alarm_description=f"aisb: unusual number of {alarm.what} (AISB #5)",
                    comparison_operator=(
                        "LessThanLowerOrGreaterThanUpperThreshold"
                        if alarm.both_ways
                        else "GreaterThanUpperThreshold"
                    ),
                    # Three 5-minute periods: a single burst does not page anyone.
                    evaluation_periods=3,
                    datapoints_to_alarm=3,
                    threshold_metric_id="band",
                    metric_queries=[
                        {
                            "id": "m",
                            "return_data": True,
                            "metric": {
                                "namespace": detect.FLEET_NAMESPACE,
                                "metric_name": alarm.metric,
                                "dimensions": {"Protocol": detect.FLEET_PROTOCOL},
                                "period": 300,
                                "stat": "Sum",
                            },
                        },
                        {
                            "id": "band",
                            "expression": f"ANOMALY_DETECTION_BAND(m, {band})",
                            "label": f"{alarm.metric} (expected)",
                            "return_data": True,
                        },
                    ],
                    treat_missing_data="notBreaching",
                    alarm_actions=[topic_arn],
                    tags=tags,
                    opts=child(self),
                )
            )
        self.alarm_arns = pulumi.Output.all(*[a.arn for a in alarms])
        self.register_outputs({"alarm_arns": self.alarm_arns})
