"""AISB #5, #7 and #11: behaviour detection with Device Defender, or CloudWatch for accounts
that cannot use Detect."""

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Required, TypedDict

import pulumi
import pulumi_aws as aws
import pulumi_aws_native as aws_native

from aisb import detect, iam
from aisb import validation as v
from aisb.choices import Confidence, CustomMetricType, MetricMonitor, RuleOperator
from aisb.components._util import (
    BOUNDARY,
    CLOUDWATCH,
    IAM_ROLE,
    IOT_NAME,
    RANDOM_SUFFIX,
    check_name,
    child,
    iam_settled,
    iot_source_arn,
    merge_tags,
    native_tags,
    policy_json,
    require_args,
    require_publishers,
    service_role,
)
from aisb.options import Option, Problem, Rule, resolve


class DetectRuleArgs(TypedDict, total=False):
    """A static Device Defender rule. The keys are those of ``aisb:detectRules`` in stack
    config; which operator and which value key a rule takes depends on its metric."""

    name: Required[str]
    """The behaviour's name: 1 to 128 letters, digits, ':', '_' or '-'."""
    metric: Required[str]
    """A Device Defender metric (``aws:num-messages-sent``, ``aws:source-ip-address``, ...)."""
    operator: Required[RuleOperator]
    """The comparison: less-than, less-than-equals, greater-than or greater-than-equals for
    counts; in-cidr-set or not-in-cidr-set for addresses; in-port-set or not-in-port-set for
    ports."""
    value: float
    """The threshold of a count metric (a whole number)."""
    cidrs: Sequence[str]
    """The CIDR blocks of an address metric."""
    ports: Sequence[int]
    """The ports of a port metric."""
    durationSeconds: int
    """The period a count is taken over: 300, 600, 900, 1800 or 3600, for the metrics that
    need one."""
    consecutiveDatapointsToAlarm: int
    """Consecutive violating datapoints before an alarm (1-10)."""
    consecutiveDatapointsToClear: int
    """Consecutive normal datapoints before an alarm clears (1-10)."""


class CustomMetricRuleArgs(TypedDict, total=False):
    """The rule that watches a custom metric (instead of ML Detect)."""

    operator: Required[RuleOperator]
    """less-than, less-than-equals, greater-than or greater-than-equals for a number; in-set or
    not-in-set for number and string lists; in-cidr-set or not-in-cidr-set for address lists."""
    value: float
    """The threshold of a number metric."""
    numbers: Sequence[float]
    """The set of a number-list metric."""
    strings: Sequence[str]
    """The set of a string-list metric."""
    cidrs: Sequence[str]
    """The CIDR blocks of an ip-address-list metric."""
    consecutiveDatapointsToAlarm: int
    """Consecutive violating datapoints before an alarm (1-10)."""
    consecutiveDatapointsToClear: int
    """Consecutive normal datapoints before an alarm clears (1-10)."""


class CustomMetricArgs(TypedDict, total=False):
    """A Device Defender custom metric (AISB #11) and how it is watched. The keys are those of
    ``aisb:customMetrics`` in stack config."""

    name: Required[str]
    """The metric's name: 1 to 128 letters, digits, ':', '_' or '-', not starting with aws:."""
    type: Required[CustomMetricType]
    """number, number-list, string-list or ip-address-list."""
    displayName: str
    """A friendly name for the console."""
    monitor: MetricMonitor
    """ml: watched by ML Detect (number metrics only). Give either this or a rule."""
    rule: CustomMetricRuleArgs
    """Watched by this rule. Give either this or monitor."""


class BehaviorMonitoringArgs(TypedDict, total=False):
    """Arguments of ``BehaviorMonitoring``."""

    account_id: Required[pulumi.Input[str]]
    """The AWS account id."""
    region: Required[pulumi.Input[str]]
    """The AWS region the providers deploy to."""
    partition: Required[pulumi.Input[str]]
    """The AWS partition."""
    alert_topic_arn: Required[pulumi.Input[str]]
    """The SNS topic alarms go to."""
    alert_topic_kms_key_arn: pulumi.Input[str | None]
    """The KMS key encrypting the topic, if any."""
    device_metrics: bool
    """Also watch the 7 device-side metrics with ML Detect (devices run an agent such as AWS
    IoT Device Client)."""
    confidence: Confidence
    """ML Detect confidence level: LOW, MEDIUM or HIGH (fewest alarms)."""
    datapoints_to_alarm: int
    """Consecutive anomalous datapoints before a detect alarm (1-10)."""
    datapoints_to_clear: int
    """Consecutive normal datapoints before a detect alarm clears (1-10)."""
    target_groups: Sequence[str]
    """Thing groups the security profiles watch; empty watches all registered things. Each
    must exist."""
    rules: Sequence[DetectRuleArgs]
    """Static rules for a rules-based security profile: name, metric, operator, the value the
    metric takes (value, cidrs or ports), durationSeconds where the metric needs one."""
    custom_metrics: Sequence[CustomMetricArgs]
    """Device Defender custom metrics (AISB #11): name, type (number, number-list,
    string-list, ip-address-list), displayName, and monitor: ml (number only) or a rule."""
    permissions_boundary: pulumi.Input[str]
    """The ARN of an IAM managed policy set as the permissions boundary of every role this
    component creates (the deploy role's ``aisb-role-boundary`` where deploys run as it)."""
    tags: Mapping[str, str]
    """Tags for every taggable child."""


def all_registered_things(partition: str, region: str, account_id: str) -> str:
    """The target that attaches a profile to every registered thing."""
    return f"arn:{partition}:iot:{region}:{account_id}:all/registered-things"


def _plan(
    values: Mapping[str, Any],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[detect.CustomMetric]]:
    """The profiles' behaviours and custom metrics, from resolved arguments."""
    return detect.plan_profiles(
        device_metrics=values["device_metrics"],
        confidence=values["confidence"],
        datapoints_to_alarm=values["datapoints_to_alarm"],
        datapoints_to_clear=values["datapoints_to_clear"],
        rules=list(values["rules"]),
        custom_metrics=list(values["custom_metrics"]),
    )


def _profiles(values: dict[str, Any]) -> list[Problem]:
    """Rules and custom metrics, checked metric by metric, and the profiles they make."""
    try:
        _plan(values)
    except detect.RuleError as e:
        return [(e.path, e)]
    return []


def _items(value: Any) -> list[Any]:
    """A list of rules or metrics (each is checked by the profiles rule)."""
    if not isinstance(value, list | tuple):
        raise v.InvalidValue(value, "a list of maps")
    return list(value)


OPTIONS = {
    "device_metrics": Option(False, v.boolean),
    "confidence": Option("HIGH", v.choice(detect.CONFIDENCE_LEVELS)),
    "datapoints_to_alarm": Option(1, v.in_range(1, 10)),
    "datapoints_to_clear": Option(1, v.in_range(1, 10)),
    "target_groups": Option((), lambda x: tuple(detect.target_groups(_items(x)))),
    "rules": Option((), _items),
    "custom_metrics": Option((), _items),
    "tags": Option(MappingProxyType({}), v.tags),
    "permissions_boundary": BOUNDARY,
}
RULES = (
    Rule(
        (
            "device_metrics",
            "confidence",
            "datapoints_to_alarm",
            "datapoints_to_clear",
            "rules",
            "custom_metrics",
        ),
        _profiles,
    ),
)


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
        a = resolve(c, OPTIONS, RULES, args, declared_by=BehaviorMonitoringArgs)
        require_args(c, args, "account_id", "region", "partition", "alert_topic_arn")
        groups = list(a["target_groups"])
        ml, rules, customs = _plan(a)
        super().__init__("aisb:index:BehaviorMonitoring", name, None, opts)

        account_id, region, partition = args["account_id"], args["region"], args["partition"]
        topic_arn = args["alert_topic_arn"]
        tags = merge_tags(a["tags"], "AISB-5")
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
            permissions_boundary=a["permissions_boundary"],
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
        device_metrics = a["device_metrics"]
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

    alert_topic_arn: Required[pulumi.Input[str]]
    """The SNS topic alarms go to; CloudWatch must be allowed to publish to it."""
    band_width: int
    """Width of the anomaly-detection band in standard deviations (1-10, default 2)."""
    tags: Mapping[str, str]
    """Tags for every alarm."""


FLEET_OPTIONS = {
    "band_width": Option(2, v.in_range(*detect.BAND_WIDTH_RANGE)),
    "tags": Option(MappingProxyType({}), v.tags),
}


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
        a = resolve(c, FLEET_OPTIONS, (), args, declared_by=FleetAnomalyAlarmsArgs)
        require_args(c, args, "alert_topic_arn")
        require_publishers(c, args["alert_topic_arn"], [CLOUDWATCH])
        band = a["band_width"]
        super().__init__("aisb:index:FleetAnomalyAlarms", name, None, opts)
        topic_arn = args["alert_topic_arn"]
        tags = merge_tags(a["tags"], "AISB-5")
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
