"""Device Defender Detect facts and the pure logic of behaviour monitoring (AISB #5, #11).

Which metrics ML Detect supports, which operators and values each metric takes in a rule,
the validation of rules and custom metrics, and the behaviours a security profile gets: all
plain data and functions, tested without Pulumi. Facts from the Device Defender developer
guide (cloud-side and device-side metrics, custom metrics, ML Detect).
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aisb import choices
from aisb.validation import InvalidValue, whole

MAX_BEHAVIORS = 100  # per security profile
DURATIONS = (300, 600, 900, 1800, 3600)
CONFIDENCE_LEVELS = choices.values(choices.Confidence)
DETECTION_MODES = choices.values(choices.BehaviorDetection)
_OPS = choices.RuleOperator
COMPARISONS = choices.values(_OPS)[:4]
CIDR_SETS = (str(_OPS.IN_CIDR_SET), str(_OPS.NOT_IN_CIDR_SET))
PORT_SETS = (str(_OPS.IN_PORT_SET), str(_OPS.NOT_IN_PORT_SET))
VALUE_SETS = (str(_OPS.IN_SET), str(_OPS.NOT_IN_SET))
DEVICE_METRICS_TOPIC = "$aws/things/<thingName>/defender/metrics/json"
_NAME = re.compile(r"[a-zA-Z0-9:_-]{1,128}")


@dataclass(frozen=True)
class Metric:
    """A Device Defender metric: what a rule on it compares, and whether ML Detect takes it."""

    name: str
    side: str
    """cloud, device or custom."""
    value: str
    """The MetricValue field a rule sets: count, cidrs, ports, number, numbers or strings."""
    ml: bool
    duration: bool = False
    """Whether a rule on it is evaluated over ``durationSeconds`` (and must give one)."""

    @property
    def operators(self) -> tuple[str, ...]:
        return {
            "count": COMPARISONS,
            "number": COMPARISONS,
            "cidrs": CIDR_SETS,
            "ports": PORT_SETS,
            "numbers": VALUE_SETS,
            "strings": VALUE_SETS,
        }[self.value]


BUILTIN_METRICS: tuple[Metric, ...] = (
    # Cloud-side: measured by AWS IoT itself.
    Metric("aws:message-byte-size", "cloud", "count", ml=True),
    Metric("aws:num-messages-sent", "cloud", "count", ml=True, duration=True),
    Metric("aws:num-messages-received", "cloud", "count", ml=True, duration=True),
    Metric("aws:num-authorization-failures", "cloud", "count", ml=True, duration=True),
    Metric("aws:source-ip-address", "cloud", "cidrs", ml=False),
    Metric("aws:num-connection-attempts", "cloud", "count", ml=True, duration=True),
    Metric("aws:num-disconnects", "cloud", "count", ml=True, duration=True),
    # Device-side: reported by an agent on the device (AWS IoT Device Client, say).
    Metric("aws:all-bytes-out", "device", "count", ml=True, duration=True),
    Metric("aws:all-bytes-in", "device", "count", ml=True, duration=True),
    Metric("aws:all-packets-out", "device", "count", ml=True, duration=True),
    Metric("aws:all-packets-in", "device", "count", ml=True, duration=True),
    Metric("aws:num-listening-tcp-ports", "device", "count", ml=True),
    Metric("aws:num-listening-udp-ports", "device", "count", ml=True),
    Metric("aws:num-established-tcp-connections", "device", "count", ml=True),
    Metric("aws:destination-ip-addresses", "device", "cidrs", ml=False),
    Metric("aws:listening-tcp-ports", "device", "ports", ml=False),
    Metric("aws:listening-udp-ports", "device", "ports", ml=False),
)
METRICS_BY_NAME: dict[str, Metric] = {m.name: m for m in BUILTIN_METRICS}
CUSTOM_METRIC_VALUES = {
    "number": "number",
    "number-list": "numbers",
    "string-list": "strings",
    "ip-address-list": "cidrs",
}


def ml_metrics(device_metrics: bool) -> list[str]:
    """The metrics the ML profile watches: the cloud-side ones ML Detect supports, and the
    device-side ones too when devices run an agent."""
    sides = ("cloud", "device") if device_metrics else ("cloud",)
    return [m.name for m in BUILTIN_METRICS if m.ml and m.side in sides]


def retained_metrics(watched: Sequence[str], device_metrics: bool) -> list[str]:
    """Metrics whose data the profile keeps: those it watches, and the address and port
    metrics ML cannot watch, which an investigation of an alarm wants."""
    extra = [
        m.name
        for m in BUILTIN_METRICS
        if not m.ml and (m.side == "cloud" or (device_metrics and m.side == "device"))
    ]
    return list(dict.fromkeys([*watched, *extra]))


class RuleError(InvalidValue):
    """A rule or custom metric that AWS would refuse; ``path`` says where, e.g. ``[2].ports``."""

    def __init__(self, path: str, value: Any, expected: str) -> None:
        super().__init__(value, expected, field=path)
        self.path = path


def _check_name(path: str, name: Any) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise RuleError(f"{path}.name", name, "1 to 128 letters, digits, ':', '_' or '-'")
    return name


COUNT_MAX = 2**63 - 1
"""The largest ``MetricValue.count`` the service takes (a signed 64-bit long)."""


def _finite(number: float) -> bool:
    return math.isfinite(number)


def _rule_value(path: str, metric: Metric, rule: Mapping[str, Any]) -> dict[str, Any]:
    """The MetricValue of a rule, from the one value key the metric takes."""
    key = {
        "count": "value",
        "number": "value",
        "cidrs": "cidrs",
        "ports": "ports",
        "numbers": "numbers",
        "strings": "strings",
    }[metric.value]
    stray = sorted(k for k in _VALUE_KEYS - {key} if k in rule)
    if stray:
        # A second value would be dropped silently: refuse it.
        raise RuleError(
            f"{path}.{stray[0]}", rule[stray[0]], f"only {key} as the value for {metric.name}"
        )
    value = rule.get(key)
    where = f"{path}.{key}"
    if metric.value == "count":
        count = whole(value)
        # botocore's iot model: MetricValue.count is UnsignedLong, a 64-bit long with min 0.
        if count is None or not 0 <= count <= COUNT_MAX:
            raise RuleError(where, value, f"a whole number from 0 to {COUNT_MAX} for {metric.name}")
        return {"count": str(count)}
    if metric.value == "number":
        # A double on the wire: JSON (and so the API) has no infinity or NaN.
        if isinstance(value, bool) or not isinstance(value, int | float) or not _finite(value):
            raise RuleError(where, value, f"a finite number for {metric.name}")
        return {"number": float(value)}
    if not isinstance(value, list) or not value:
        raise RuleError(where, value, f"a non-empty list for {metric.name}")
    if len(set(map(str, value))) != len(value):
        raise RuleError(where, value, "each value once")
    if metric.value == "cidrs":
        for cidr in value:
            try:
                ipaddress.ip_network(str(cidr), strict=False)
            except ValueError:
                raise RuleError(where, cidr, "CIDR blocks such as 10.0.0.0/8") from None
        return {"cidrs": [str(c) for c in value]}
    if metric.value == "ports":
        ports = [whole(port) for port in value]
        for port, number in zip(value, ports, strict=True):
            if number is None or not 0 <= number <= 65535:
                raise RuleError(where, port, "port numbers from 0 to 65535")
        return {"ports": ports}
    if metric.value == "numbers":
        if not all(
            isinstance(n, int | float) and not isinstance(n, bool) for n in value
        ) or not all(map(_finite, value)):
            raise RuleError(where, value, "a list of finite numbers")
        return {"numbers": [float(n) for n in value]}
    if not all(isinstance(s, str) and s for s in value):
        raise RuleError(where, value, "a list of non-empty strings")
    return {"strings": list(value)}


_VALUE_KEYS = frozenset({"value", "cidrs", "ports", "numbers", "strings"})
_RULE_KEYS = _VALUE_KEYS | {
    "name",
    "metric",
    "operator",
    "durationSeconds",
    "consecutiveDatapointsToAlarm",
    "consecutiveDatapointsToClear",
}


def rule_behavior(path: str, rule: Any, metrics: Mapping[str, Metric]) -> dict[str, Any]:
    """A rules-based behaviour (``SecurityProfileBehaviorArgs`` as a dict) from one rule, or a
    ``RuleError`` naming the offending field."""
    if not isinstance(rule, Mapping):
        raise RuleError(path, rule, "a map with name, metric, operator and a value")
    unknown = sorted(set(rule) - _RULE_KEYS)
    if unknown:
        raise RuleError(
            f"{path}.{unknown[0]}", rule[unknown[0]], "keys " + ", ".join(sorted(_RULE_KEYS))
        )
    name = _check_name(path, rule.get("name"))
    metric = metrics.get(rule.get("metric"))  # type: ignore[arg-type]
    if metric is None:
        raise RuleError(
            f"{path}.metric",
            rule.get("metric"),
            "a Device Defender metric: " + ", ".join(sorted(metrics)),
        )
    operator = rule.get("operator")
    if operator not in metric.operators:
        raise RuleError(
            f"{path}.operator", operator, f"one of {', '.join(metric.operators)} for {metric.name}"
        )
    criteria: dict[str, Any] = {
        "comparison_operator": str(operator),
        "value": _rule_value(path, metric, rule),
    }
    duration = rule.get("durationSeconds")
    if metric.duration:
        if duration not in DURATIONS:
            raise RuleError(
                f"{path}.durationSeconds",
                duration,
                f"one of {', '.join(map(str, DURATIONS))} for {metric.name}",
            )
        criteria["duration_seconds"] = whole(duration)
    elif duration is not None:
        raise RuleError(f"{path}.durationSeconds", duration, f"no duration for {metric.name}")
    for key, arg in (
        ("consecutiveDatapointsToAlarm", "consecutive_datapoints_to_alarm"),
        ("consecutiveDatapointsToClear", "consecutive_datapoints_to_clear"),
    ):
        if key in rule:
            n = rule[key]
            if whole(n) is None or not 1 <= whole(n) <= 10:  # type: ignore[operator]
                raise RuleError(f"{path}.{key}", n, "a whole number from 1 to 10")
            criteria[arg] = whole(n)
    return {"name": name, "metric": metric.name, "criteria": criteria, "suppress_alerts": False}


@dataclass(frozen=True)
class CustomMetric:
    """A validated custom metric."""

    name: str
    type: str
    display_name: str | None
    ml: bool
    rule: dict[str, Any] | None
    """The rules-based behaviour, when it is watched by a threshold rule."""

    @property
    def metric(self) -> Metric:
        return Metric(
            self.name, "custom", CUSTOM_METRIC_VALUES[self.type], ml=self.type == "number"
        )


_CUSTOM_KEYS = frozenset({"name", "type", "displayName", "monitor", "rule"})


def custom_metric(path: str, spec: Any) -> CustomMetric:
    """Validate one ``customMetrics`` entry: name, type, displayName, and either
    ``monitor: ml`` (number metrics only) or a ``rule`` (operator and value)."""
    if not isinstance(spec, Mapping):
        raise RuleError(path, spec, "a map with name, type and either monitor: ml or a rule")
    unknown = sorted(set(spec) - _CUSTOM_KEYS)
    if unknown:
        raise RuleError(
            f"{path}.{unknown[0]}", spec[unknown[0]], "keys " + ", ".join(sorted(_CUSTOM_KEYS))
        )
    name = _check_name(path, spec.get("name"))
    if name.startswith("aws:"):
        raise RuleError(f"{path}.name", name, "a name not starting with 'aws:'")
    kind = spec.get("type")
    if kind not in CUSTOM_METRIC_VALUES:
        raise RuleError(f"{path}.type", kind, "one of " + ", ".join(CUSTOM_METRIC_VALUES))
    display = spec.get("displayName")
    if display is not None and (not isinstance(display, str) or not 1 <= len(display) <= 128):
        raise RuleError(f"{path}.displayName", display, "a name of 1 to 128 characters")
    monitor, rule = spec.get("monitor"), spec.get("rule")
    if (monitor is None) == (rule is None):
        raise RuleError(path, dict(spec), "either monitor: ml or a rule, not both or neither")
    if monitor is not None:
        if monitor != "ml":
            raise RuleError(f"{path}.monitor", monitor, "ml")
        if kind != "number":
            raise RuleError(
                f"{path}.monitor",
                monitor,
                f"a rule: ML Detect only watches number metrics, not {kind}",
            )
        return CustomMetric(name, kind, display, ml=True, rule=None)
    metric = Metric(name, "custom", CUSTOM_METRIC_VALUES[kind], ml=kind == "number")
    behavior = rule_behavior(
        f"{path}.rule",
        {"name": f"custom-{name}"[:128], "metric": name, **rule}
        if isinstance(rule, Mapping)
        else rule,
        {name: metric},
    )
    return CustomMetric(name, kind, display, ml=False, rule=behavior)


def ml_behaviors(
    metrics: Sequence[str], confidence: str, to_alarm: int, to_clear: int
) -> list[dict[str, Any]]:
    """One ML Detect behaviour per metric (``SecurityProfileBehaviorArgs`` as dicts)."""
    return [
        {
            "name": "ml-" + metric.removeprefix("aws:").replace(":", "-"),
            "metric": metric,
            "criteria": {
                "ml_detection_config": {"confidence_level": confidence},
                "consecutive_datapoints_to_alarm": to_alarm,
                "consecutive_datapoints_to_clear": to_clear,
            },
            "suppress_alerts": False,
        }
        for metric in metrics
    ]


def check_profile_size(
    path: str, behaviors: Sequence[Mapping[str, Any]], origins: Sequence[str] = ()
) -> None:
    """AWS allows 100 behaviours per profile and one name each. ``origins`` says where each
    behaviour came from (``custom_metrics[3].name``), so a name used twice (two long custom
    metric names truncated alike, say) is reported where the second one was set."""
    if len(behaviors) > MAX_BEHAVIORS:
        raise RuleError(
            path, f"{len(behaviors)} behaviours", f"at most {MAX_BEHAVIORS} per security profile"
        )
    seen: set[str] = set()
    for index, behavior in enumerate(behaviors):
        if behavior["name"] in seen:
            where = origins[index] if index < len(origins) else path
            raise RuleError(
                where, behavior["name"], "a behaviour name used once per security profile"
            )
        seen.add(behavior["name"])


def thing_group_name(path: str, value: Any) -> str:
    """A thing group name AWS accepts."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise RuleError(
            path, value, "a thing group name of 1 to 128 letters, digits, ':', '_' or '-'"
        )
    return value


def target_groups(groups: Sequence[Any]) -> list[str]:
    """Distinct thing group names AWS accepts (``RuleError`` paths ``target_groups[i]``)."""
    names = [thing_group_name(f"target_groups[{i}]", g) for i, g in enumerate(groups)]
    if len(set(names)) != len(names):
        raise RuleError("target_groups", names, "each thing group once")
    return names


def plan_profiles(
    *,
    device_metrics: bool,
    confidence: str,
    datapoints_to_alarm: int,
    datapoints_to_clear: int,
    rules: Sequence[Any],
    custom_metrics: Sequence[Any],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[CustomMetric]]:
    """(ML behaviours, rules behaviours, custom metrics), validated; raises ``RuleError`` with
    a path such as ``rules[2].operator`` or ``custom_metrics[0].monitor``."""
    for path, n in (
        ("datapoints_to_alarm", datapoints_to_alarm),
        ("datapoints_to_clear", datapoints_to_clear),
    ):
        if whole(n) is None or not 1 <= whole(n) <= 10:  # type: ignore[operator]
            raise RuleError(path, n, "a whole number from 1 to 10")
    if confidence not in CONFIDENCE_LEVELS:
        raise RuleError("confidence", confidence, "one of " + ", ".join(CONFIDENCE_LEVELS))
    customs = [custom_metric(f"custom_metrics[{i}]", c) for i, c in enumerate(custom_metrics)]
    names = [c.name for c in customs]
    for i, c in enumerate(customs):
        if names.count(c.name) > 1:
            raise RuleError(f"custom_metrics[{i}].name", c.name, "each custom metric name once")
    metrics = {**METRICS_BY_NAME, **{c.name: c.metric for c in customs}}
    ml = ml_behaviors(
        ml_metrics(device_metrics), confidence, datapoints_to_alarm, datapoints_to_clear
    )
    ml_origins = ["device_metrics"] * len(ml) + [
        f"custom_metrics[{i}].name" for i, c in enumerate(customs) if c.ml
    ]
    ml += [
        {**b, "name": f"ml-custom-{c.name}"[:128], "metric": c.name}
        for c in customs
        if c.ml
        for b in ml_behaviors([c.name], confidence, datapoints_to_alarm, datapoints_to_clear)
    ]
    rule_behaviors = [rule_behavior(f"rules[{i}]", r, metrics) for i, r in enumerate(rules)]
    rule_behaviors += [c.rule for c in customs if c.rule is not None]
    rule_origins = [f"rules[{i}].name" for i in range(len(rules))] + [
        f"custom_metrics[{i}].name" for i, c in enumerate(customs) if c.rule is not None
    ]
    check_profile_size("custom_metrics", ml, ml_origins)
    check_profile_size("rules", rule_behaviors, rule_origins)
    return ml, rule_behaviors, customs


@dataclass(frozen=True)
class FleetAlarm:
    """A CloudWatch anomaly-detection alarm on one AWS IoT Core account metric."""

    metric: str
    what: str
    both_ways: bool = False
    """Alarm on an unusual drop as well as a rise (publish volume)."""


# AWS IoT Core's own metrics (namespace AWS/IoT, dimension Protocol), per its developer guide
# ("AWS IoT metrics and dimensions": authentication and message broker metrics).
FLEET_NAMESPACE = "AWS/IoT"
FLEET_PROTOCOL = "MQTT"
FLEET_ALARMS: tuple[FleetAlarm, ...] = (
    FleetAlarm(
        "Connection.AuthNError", "connection attempts rejected because authentication failed"
    ),
    FleetAlarm("Connect.AuthError", "connection requests that could not be authorized"),
    FleetAlarm("PublishIn.AuthError", "publish requests that could not be authorized"),
    FleetAlarm("Subscribe.AuthError", "subscribe requests that could not be authorized"),
    FleetAlarm("Connect.Throttle", "connection requests throttled for the account's connect rate"),
    FleetAlarm(
        "Connect.ClientIDThrottle",
        "connection requests throttled for one client ID (often a shared identity)",
    ),
    FleetAlarm("PublishIn.Success", "messages published by devices", both_ways=True),
)
BAND_WIDTH_RANGE = (1, 10)
