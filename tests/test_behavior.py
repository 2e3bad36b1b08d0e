"""Behaviour detection (AISB #5, #11), its CloudWatch alternative and the mitigation actions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from aisb import (
    BehaviorMonitoring,
    BehaviorMonitoringArgs,
    DetectMitigations,
    FleetAnomalyAlarms,
    detect,
)
from aisb.choices import (
    BehaviorDetection,
    Confidence,
    CustomMetricType,
    MetricMonitor,
    RuleOperator,
)
from aisb.settings import parse
from tests.harness import (
    ACCOUNT,
    MINIMAL_CONFIG,
    Recording,
    config_problems,
    parliament_findings,
    policy_documents,
    run,
    run_main,
    stack_config,
    stack_files,
    stack_name,
)

TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:alerts"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
BASE: BehaviorMonitoringArgs = {
    "account_id": ACCOUNT,
    "region": "us-east-1",
    "partition": "aws",
    "alert_topic_arn": TOPIC,
    "alert_topic_kms_key_arn": KEY,
}

# From the Device Defender developer guide, independent of aisb.detect.
ML_CLOUD = {
    "aws:message-byte-size",
    "aws:num-messages-sent",
    "aws:num-messages-received",
    "aws:num-authorization-failures",
    "aws:num-connection-attempts",
    "aws:num-disconnects",
}
ML_DEVICE = {
    "aws:all-bytes-out",
    "aws:all-bytes-in",
    "aws:num-listening-tcp-ports",
    "aws:num-listening-udp-ports",
    "aws:all-packets-out",
    "aws:all-packets-in",
    "aws:num-established-tcp-connections",
}
NOT_ML = {
    "aws:source-ip-address",
    "aws:destination-ip-addresses",
    "aws:listening-tcp-ports",
    "aws:listening-udp-ports",
}


# --- pure logic -----------------------------------------------------------------------------------


def test_ml_watches_only_the_13_supported_metrics() -> None:
    assert set(detect.ml_metrics(False)) == ML_CLOUD and len(detect.ml_metrics(False)) == 6
    assert (
        set(detect.ml_metrics(True)) == ML_CLOUD | ML_DEVICE and len(detect.ml_metrics(True)) == 13
    )
    assert not NOT_ML & set(detect.ml_metrics(True))


def test_each_ml_behaviour_watches_the_metric_it_is_named_for() -> None:
    # The original sample's "UDP ports" behaviour watched the TCP metric.
    for b in detect.ml_behaviors(detect.ml_metrics(True), "HIGH", 1, 1):
        assert b["name"] == "ml-" + b["metric"].removeprefix("aws:")
        assert b["criteria"]["ml_detection_config"] == {"confidence_level": "HIGH"}
        assert "comparison_operator" not in b["criteria"]


def test_retained_metrics_cover_the_watched_and_the_lists_ml_cannot_watch() -> None:
    kept = detect.retained_metrics(detect.ml_metrics(False), device_metrics=False)
    assert set(kept) == ML_CLOUD | {"aws:source-ip-address"}
    kept = detect.retained_metrics(detect.ml_metrics(True), device_metrics=True)
    assert set(kept) == ML_CLOUD | ML_DEVICE | NOT_ML


@pytest.mark.parametrize(
    ("rule", "criteria"),
    [
        (
            {
                "name": "src",
                "metric": "aws:source-ip-address",
                "operator": "not-in-cidr-set",
                "cidrs": ["10.0.0.0/8"],
            },
            {"comparison_operator": "not-in-cidr-set", "value": {"cidrs": ["10.0.0.0/8"]}},
        ),
        (
            {
                "name": "ports",
                "metric": "aws:listening-udp-ports",
                "operator": "in-port-set",
                "ports": [53, 123],
            },
            {"comparison_operator": "in-port-set", "value": {"ports": [53, 123]}},
        ),
        (
            {
                "name": "burst",
                "metric": "aws:num-messages-sent",
                "operator": "less-than",
                "value": 100,
                "durationSeconds": 600,
            },
            {
                "comparison_operator": "less-than",
                "value": {"count": "100"},
                "duration_seconds": 600,
            },
        ),
        (
            {
                "name": "size",
                "metric": "aws:message-byte-size",
                "operator": "less-than-equals",
                "value": 4096,
                "consecutiveDatapointsToAlarm": 2,
            },
            {
                "comparison_operator": "less-than-equals",
                "value": {"count": "4096"},
                "consecutive_datapoints_to_alarm": 2,
            },
        ),
    ],
)
def test_valid_rules(rule: dict[str, Any], criteria: dict[str, Any]) -> None:
    behavior = detect.rule_behavior("rules[0]", rule, detect.METRICS_BY_NAME)
    assert behavior == {
        "name": rule["name"],
        "metric": rule["metric"],
        "criteria": criteria,
        "suppress_alerts": False,
    }


@pytest.mark.parametrize(
    ("rule", "path", "expected"),
    [
        (
            {"name": "x", "metric": "aws:cpu", "operator": "less-than", "value": 1},
            "rules[0].metric",
            "a Device Defender metric",
        ),
        (
            {"name": "x", "metric": "aws:source-ip-address", "operator": "less-than", "value": 1},
            "rules[0].operator",
            "in-cidr-set, not-in-cidr-set",
        ),
        (
            {
                "name": "x",
                "metric": "aws:listening-tcp-ports",
                "operator": "in-port-set",
                "ports": [70000],
            },
            "rules[0].ports",
            "0 to 65535",
        ),
        (
            {
                "name": "x",
                "metric": "aws:source-ip-address",
                "operator": "in-cidr-set",
                "cidrs": ["10.0.0.300/8"],
            },
            "rules[0].cidrs",
            "CIDR blocks",
        ),
        (
            {"name": "x", "metric": "aws:num-messages-sent", "operator": "less-than", "value": 5},
            "rules[0].durationSeconds",
            "300, 600",
        ),
        (
            {
                "name": "x",
                "metric": "aws:message-byte-size",
                "operator": "less-than",
                "value": 5,
                "durationSeconds": 300,
            },
            "rules[0].durationSeconds",
            "no duration",
        ),
        (
            {"name": "x", "metric": "aws:message-byte-size", "operator": "less-than", "value": -1},
            "rules[0].value",
            "from 0 to 9223372036854775807",
        ),
        (
            {
                "name": "bad name!",
                "metric": "aws:message-byte-size",
                "operator": "less-than",
                "value": 1,
            },
            "rules[0].name",
            "letters, digits",
        ),
        (
            {
                "name": "x",
                "metric": "aws:message-byte-size",
                "operator": "less-than",
                "value": 1,
                "threshold": 3,
            },
            "rules[0].threshold",
            "keys",
        ),
        (
            {
                "name": "x",
                "metric": "aws:message-byte-size",
                "operator": "less-than",
                "value": 1,
                "consecutiveDatapointsToClear": 0,
            },
            "rules[0].consecutiveDatapointsToClear",
            "1 to 10",
        ),
    ],
)
def test_invalid_rules_name_the_field(rule: dict[str, Any], path: str, expected: str) -> None:
    with pytest.raises(detect.RuleError) as err:
        detect.rule_behavior("rules[0]", rule, detect.METRICS_BY_NAME)
    assert err.value.path == path and expected in str(err.value)


def test_custom_metrics_ml_only_on_numbers_and_rules_by_type() -> None:
    ml = detect.custom_metric("c[0]", {"name": "battery", "type": "number", "monitor": "ml"})
    assert ml.ml and ml.rule is None
    with pytest.raises(
        detect.RuleError, match="ML Detect only watches number metrics, not string-list"
    ):
        detect.custom_metric("c[0]", {"name": "apps", "type": "string-list", "monitor": "ml"})
    listed = detect.custom_metric(
        "c[0]",
        {
            "name": "peers",
            "type": "ip-address-list",
            "rule": {"operator": "in-cidr-set", "cidrs": ["10.1.0.0/16"]},
        },
    )
    assert listed.rule == {
        "name": "custom-peers",
        "metric": "peers",
        "criteria": {"comparison_operator": "in-cidr-set", "value": {"cidrs": ["10.1.0.0/16"]}},
        "suppress_alerts": False,
    }
    numbers = detect.custom_metric(
        "c[0]",
        {
            "name": "codes",
            "type": "number-list",
            "rule": {"operator": "not-in-set", "numbers": [1, 2]},
        },
    )
    assert numbers.rule is not None and numbers.rule["criteria"]["value"] == {"numbers": [1.0, 2.0]}
    with pytest.raises(detect.RuleError, match="either monitor: ml or a rule"):
        detect.custom_metric("c[0]", {"name": "x", "type": "number"})
    with pytest.raises(detect.RuleError, match="one of number, number-list"):
        detect.custom_metric("c[0]", {"name": "x", "type": "float", "monitor": "ml"})
    with pytest.raises(detect.RuleError) as err:
        detect.custom_metric(
            "c[3]",
            {
                "name": "x",
                "type": "string-list",
                "rule": {"operator": "less-than", "strings": ["a"]},
            },
        )
    assert err.value.path == "c[3].rule.operator"


def test_profiles_are_limited_to_100_behaviours() -> None:
    rules = [
        {"name": f"r{i}", "metric": "aws:message-byte-size", "operator": "less-than", "value": i}
        for i in range(101)
    ]
    with pytest.raises(detect.RuleError, match="at most 100 per security profile"):
        detect.check_profile_size(
            "rules",
            [
                detect.rule_behavior(f"rules[{i}]", r, detect.METRICS_BY_NAME)
                for i, r in enumerate(rules)
            ],
        )


# --- BehaviorMonitoring under mocks ---------------------------------------------------------------


def _profiles(rec: Recording) -> dict[str, dict[str, Any]]:
    return {r.name: r.inputs for r in rec.of_type("aws-native:iot:SecurityProfile")}


def test_ml_profile_on_all_registered_things_alerting_the_topic() -> None:
    rec = run(lambda: BehaviorMonitoring("bm", BASE))
    (ml,) = _profiles(rec).values()
    assert {b["metric"] for b in ml["behaviors"]} == ML_CLOUD and len(ml["behaviors"]) == 6
    assert ml["targetArns"] == [f"arn:aws:iot:us-east-1:{ACCOUNT}:all/registered-things"]
    role = rec.by_name("bm-alert-role")
    assert ml["alertTargets"] == {"SNS": {"alertTargetArn": TOPIC, "roleArn": role.state["arn"]}}
    policy = json.loads(rec.by_name("bm-alert-role-policy").inputs["policy"])
    assert {
        (s["Action"] if isinstance(s["Action"], str) else tuple(s["Action"]), s["Resource"])
        for s in policy["Statement"]
    } == {
        ("sns:Publish", TOPIC),
        (("kms:Decrypt", "kms:GenerateDataKey"), KEY),
    }
    retained = {m["metric"] for m in ml["additionalMetricsToRetainV2"]}
    assert retained >= ML_CLOUD
    # The profile hands the role to IoT only once IAM has had time to settle.
    profile, settled = rec.by_name("bm-ml-profile"), rec.by_name("bm-iam-settled")
    assert settled.urn in profile.dependencies
    assert rec.waits_for(profile, rec.by_name("bm-alert-role-policy").urn)


def test_device_metrics_and_thing_groups() -> None:
    rec = run(
        lambda: BehaviorMonitoring(
            "bm",
            {
                **BASE,
                "device_metrics": True,
                "target_groups": ["pumps", "valves"],
                "confidence": Confidence.LOW,
            },
        )
    )
    (ml,) = _profiles(rec).values()
    metrics = [b["metric"] for b in ml["behaviors"]]
    assert set(metrics) == ML_CLOUD | ML_DEVICE and len(metrics) == len(set(metrics)) == 13
    assert {b["criteria"]["mlDetectionConfig"]["confidenceLevel"] for b in ml["behaviors"]} == {
        "LOW"
    }
    # The groups are read, not assumed: the profile targets the ARNs AWS IoT returns.
    assert sorted((r.type, r.id) for r in rec.reads) == [
        ("aws:iot/thingGroup:ThingGroup", "pumps"),
        ("aws:iot/thingGroup:ThingGroup", "valves"),
    ]
    assert sorted(ml["targetArns"]) == sorted(r.state["arn"] for r in rec.reads)
    assert ml["targetArns"] == [
        f"arn:aws:iot:us-east-1:{ACCOUNT}:thinggroup/pumps",
        f"arn:aws:iot:us-east-1:{ACCOUNT}:thinggroup/valves",
    ]
    assert {r.parent for r in rec.reads} == {rec.by_name("bm").urn}


def test_a_target_group_that_does_not_exist_stops_before_any_profile() -> None:
    recording = Recording()
    with pytest.raises(Exception, match=r"reading IoT Thing Group \(valves\)"):
        run(
            lambda: BehaviorMonitoring("bm", {**BASE, "target_groups": ["pumps", "valves"]}),
            recording=recording,
            missing_thing_groups={"valves"},
        )
    assert recording.of_type("aws-native:iot:SecurityProfile") == []


def test_without_groups_every_registered_thing_is_watched() -> None:
    (ml,) = _profiles(run(lambda: BehaviorMonitoring("bm", {**BASE}))).values()
    assert ml["targetArns"] == [f"arn:aws:iot:us-east-1:{ACCOUNT}:all/registered-things"]


def test_custom_metrics_and_rules_are_wired_into_the_right_profiles() -> None:
    rec = run(
        lambda: BehaviorMonitoring(
            "bm",
            {
                **BASE,
                "custom_metrics": [
                    {
                        "name": "battery",
                        "type": CustomMetricType.NUMBER,
                        "displayName": "Battery",
                        "monitor": MetricMonitor.ML,
                    },
                    {
                        "name": "shells",
                        "type": CustomMetricType.NUMBER,
                        "rule": {"operator": RuleOperator.LESS_THAN_EQUALS, "value": 0},
                    },
                ],
                "rules": [
                    {
                        "name": "src",
                        "metric": "aws:source-ip-address",
                        "operator": RuleOperator.IN_CIDR_SET,
                        "cidrs": ["10.0.0.0/8"],
                    }
                ],
            },
        )
    )
    customs = {r.inputs["metricName"]: r for r in rec.of_type("aws-native:iot:CustomMetric")}
    assert (
        customs["battery"].inputs["metricType"] == "number"
        and customs["battery"].inputs["displayName"] == "Battery"
    )
    profiles = _profiles(rec)
    ml, rules = profiles["bm-ml-profile"], profiles["bm-rules-profile"]
    assert {b["metric"] for b in ml["behaviors"]} == ML_CLOUD | {"battery"}
    assert {b["metric"] for b in rules["behaviors"]} == {"aws:source-ip-address", "shells"}
    shells = next(b for b in rules["behaviors"] if b["metric"] == "shells")
    assert shells["criteria"] == {
        "comparisonOperator": "less-than-equals",
        "value": {"number": 0.0},
    }
    assert rules["alertTargets"] == ml["alertTargets"]
    for profile in ("bm-ml-profile", "bm-rules-profile"):
        deps = rec.by_name(profile).dependencies
        assert all(c.urn in deps for c in customs.values())


def test_no_rules_no_rules_profile() -> None:
    rec = run(lambda: BehaviorMonitoring("bm", BASE))
    assert list(_profiles(rec)) == ["bm-ml-profile"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"target_groups": ["bad group"]}, "argument 'target_groups[0]' got 'bad group'"),
        (
            {"rules": [{"name": "x", "metric": "aws:nope", "operator": "less-than", "value": 1}]},
            "argument 'rules[0].metric' got 'aws:nope'",
        ),
        (
            {"custom_metrics": [{"name": "a", "type": "string-list", "monitor": "ml"}]},
            "argument 'custom_metrics[0].monitor' got 'ml'",
        ),
        ({"confidence": "SURE"}, "argument 'confidence' got 'SURE'"),
        ({"datapoints_to_alarm": 0}, "argument 'datapoints_to_alarm' got 0"),
    ],
)
def test_behavior_bad_arguments(args: dict[str, Any], message: str) -> None:
    recording = Recording()
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        run(lambda: BehaviorMonitoring("bm", {**BASE, **args}), recording=recording)  # type: ignore[typeddict-item]
    assert recording.resources == []


# --- FleetAnomalyAlarms ---------------------------------------------------------------------------


def test_cloudwatch_mode_alarms_on_iot_core_metrics() -> None:
    rec = run(lambda: FleetAnomalyAlarms("fleet", {"alert_topic_arn": TOPIC, "band_width": 3}))
    alarms = {a.name: a.inputs for a in rec.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    metrics = {}
    for inputs in alarms.values():
        (m,) = [q for q in inputs["metricQueries"] if q["id"] == "m"]
        (band,) = [q for q in inputs["metricQueries"] if q["id"] == "band"]
        assert m["metric"]["namespace"] == "AWS/IoT"
        assert m["metric"]["dimensions"] == {"Protocol": "MQTT"}
        assert band["expression"] == "ANOMALY_DETECTION_BAND(m, 3)"
        assert inputs["thresholdMetricId"] == "band"
        assert inputs["alarmActions"] == [TOPIC]
        metrics[m["metric"]["metricName"]] = inputs["comparisonOperator"]
    assert metrics == {
        "Connection.AuthNError": "GreaterThanUpperThreshold",
        "Connect.AuthError": "GreaterThanUpperThreshold",
        "PublishIn.AuthError": "GreaterThanUpperThreshold",
        "Subscribe.AuthError": "GreaterThanUpperThreshold",
        "Connect.Throttle": "GreaterThanUpperThreshold",
        "Connect.ClientIDThrottle": "GreaterThanUpperThreshold",
        "PublishIn.Success": "LessThanLowerOrGreaterThanUpperThreshold",
    }


def test_cloudwatch_band_width_is_validated() -> None:
    with pytest.raises(ValueError, match="argument 'band_width' got 0"):
        run(lambda: FleetAnomalyAlarms("fleet", {"alert_topic_arn": TOPIC, "band_width": 0}))


# --- DetectMitigations ----------------------------------------------------------------------------


def test_mitigation_actions_and_their_least_privilege_roles() -> None:
    rec = run(lambda: DetectMitigations("mit", BASE))
    actions = {r.name: r for r in rec.of_type("aws-native:iot:MitigationAction")}
    group = rec.one("aws:iot/thingGroup:ThingGroup")
    assert actions["mit-quarantine"].inputs["actionParams"] == {
        "addThingsToThingGroupParams": {
            "thingGroupNames": [group.state["name"]],
            "overrideDynamicGroups": True,
        }
    }
    assert actions["mit-deactivate-certificate"].inputs["actionParams"] == {
        "updateDeviceCertificateParams": {"action": "DEACTIVATE"}
    }
    assert actions["mit-publish-finding"].inputs["actionParams"] == {
        "publishFindingToSnsParams": {"topicArn": TOPIC}
    }

    def grants(role: str) -> set[tuple[str, str]]:
        doc = json.loads(rec.by_name(f"{role}-policy").inputs["policy"])
        out = set()
        for s in doc["Statement"]:
            for a in [s["Action"]] if isinstance(s["Action"], str) else s["Action"]:
                for r in [s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"]:
                    out.add((a, r))
        return out

    assert grants("mit-quarantine-role") == {
        ("iot:AddThingToThingGroup", group.state["arn"]),
        ("iot:AddThingToThingGroup", f"arn:aws:iot:us-east-1:{ACCOUNT}:thing/*"),
        ("iot:ListPrincipalThings", "*"),
    }
    assert grants("mit-deactivate-role") == {
        ("iot:UpdateCertificate", f"arn:aws:iot:us-east-1:{ACCOUNT}:cert/*")
    }
    assert grants("mit-publish-role") == {
        ("sns:Publish", TOPIC),
        ("kms:Decrypt", KEY),
        ("kms:GenerateDataKey", KEY),
    }
    roles = {
        "mit-quarantine": "mit-quarantine-role",
        "mit-deactivate-certificate": "mit-deactivate-role",
        "mit-publish-finding": "mit-publish-role",
    }
    for name, action in actions.items():
        assert action.inputs["roleArn"] == rec.by_name(roles[name]).state["arn"]
        # IoT checks the role when the action is created: only once IAM has settled.
        settled = rec.by_name(roles[name].replace("-role", "-iam-settled"))
        assert settled.urn in action.dependencies
        assert rec.waits_for(action, rec.by_name(roles[name] + "-policy").urn)
    # Shortened role names keep the roles existing stacks already have.
    assert rec.by_name("mit-deactivate-role").aliases == ["mit-deactivate-certificate-role"]
    assert rec.by_name("mit-publish-role-policy").aliases == ["mit-publish-finding-role-policy"]
    assert rec.by_name("mit-quarantine-role").aliases == []

    deny = json.loads(rec.one("aws:iot/policy:Policy").inputs["policy"])
    assert deny["Statement"] == [
        {"Sid": "QuarantineDeniesEverything", "Effect": "Deny", "Action": "iot:*", "Resource": "*"}
    ]
    attachment = rec.one("aws:iot/policyAttachment:PolicyAttachment").inputs
    assert attachment == {
        "policy": rec.one("aws:iot/policy:Policy").state["name"],
        "target": group.state["arn"],
    }
    assert [f for d in policy_documents(rec) for f in parliament_findings(d)] == []


# --- every stack ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", stack_files(), ids=stack_name)
def test_every_stack_registers_what_its_mode_promises(
    path: Any, stack_recordings: dict[str, Recording]
) -> None:
    rec = stack_recordings[stack_name(path)]
    settings = parse(stack_config(path))
    profiles = rec.of_type("aws-native:iot:SecurityProfile")
    fleet_alarms = [
        a for a in rec.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") if "fleet-alarms" in a.name
    ]
    if settings.behavior_detection == "ml-detect":
        assert profiles and not fleet_alarms
        ml = rec.by_name("aisb-behavior-ml-profile").inputs
        watched = [b["metric"] for b in ml["behaviors"]]
        expected = ML_CLOUD | (ML_DEVICE if settings.ml_device_metrics else set())
        assert {m for m in watched if m.startswith("aws:")} == expected
        ml_customs = {c["name"] for c in settings.custom_metrics if c.get("monitor") == "ml"}
        assert {m for m in watched if not m.startswith("aws:")} == ml_customs
        assert len(watched) == len(set(watched))
        assert all(
            b["criteria"]["mlDetectionConfig"]["confidenceLevel"] == settings.ml_confidence
            for b in ml["behaviors"]
        )
    elif settings.behavior_detection == "cloudwatch":
        assert not profiles and len(fleet_alarms) == len(detect.FLEET_ALARMS)
        topic_key = rec.by_name("aisb-alerts-key").inputs["policy"]
        assert "cloudwatch.amazonaws.com" in topic_key
    else:
        assert not profiles and not fleet_alarms
    for profile in profiles:
        assert (
            profile.inputs["alertTargets"]["SNS"]["alertTargetArn"]
            == rec.one("aws:sns/topic:Topic").state["arn"]
        )
        assert len(profile.inputs["behaviors"]) <= 100
    assert len(rec.of_type("aws-native:iot:MitigationAction")) == (
        3 if settings.mitigation_actions else 0
    )
    assert len(rec.of_type("aws-native:iot:CustomMetric")) == len(settings.custom_metrics)


def test_a_new_account_gets_alarms_that_need_no_detect() -> None:
    from aisb import IotSecurityBaseline

    # Detect answers accounts that never used it with UnauthorizedException: by default no
    # Device Defender Detect resource is created, and the fleet alarms watch behaviour.
    rec = run(lambda: IotSecurityBaseline("b", {"alert_emails": ["a@example.com"]}))
    assert rec.of_type("aws-native:iot:SecurityProfile") == []
    assert rec.of_type("aws-native:iot:CustomMetric") == []
    assert rec.by_name("b-fleet-alarms").type == "aisb:index:FleetAnomalyAlarms"
    assert len(rec.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")) >= 7
    defaults = run_main(dict(MINIMAL_CONFIG))
    assert defaults.of_type("aws-native:iot:SecurityProfile") == []


def test_stacks_cover_each_detection_mode_and_option() -> None:
    settings = [parse(stack_config(p)) for p in stack_files()]
    assert {"ml-detect", "cloudwatch"} <= {s.behavior_detection for s in settings}
    assert any(s.ml_device_metrics for s in settings)
    assert any(s.detect_rules for s in settings) and any(s.custom_metrics for s in settings)
    assert any(s.detect_target_groups for s in settings)


# --- configuration errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            {
                "aisb:detectRules": '[{"name": "x", "metric": "aws:cpu-usage", '
                '"operator": "less-than", "value": 1}]'
            },
            "aisb:detectRules[0].metric: got 'aws:cpu-usage'",
        ),
        (
            {"aisb:customMetrics": '[{"name": "apps", "type": "string-list", "monitor": "ml"}]'},
            "aisb:customMetrics[0].monitor: got 'ml'; expected a rule: ML Detect only watches "
            "number metrics",
        ),
        (
            {"aisb:detectTargetGroups": '["fleet/prod"]'},
            "aisb:detectTargetGroups[0]: got 'fleet/prod'",
        ),
        (
            {
                "aisb:detectRules": json.dumps(
                    [
                        {
                            "name": f"r{i}",
                            "metric": "aws:message-byte-size",
                            "operator": "less-than",
                            "value": i,
                        }
                        for i in range(101)
                    ]
                )
            },
            "aisb:detectRules: got '101 behaviours'; expected at most 100 per security profile",
        ),
        (
            {
                "aisb:behaviorDetection": "cloudwatch",
                "aisb:customMetrics": '[{"name": "b", "type": "number", "monitor": "ml"}]',
            },
            "aisb:customMetrics: got [{'name': 'b', 'type': 'number', 'monitor': 'ml'}]; "
            "expected it unset",
        ),
        (
            {"aisb:behaviorDetection": "off", "aisb:mlDeviceMetrics": "true"},
            "aisb:mlDeviceMetrics: got True; expected it unset",
        ),
        (
            {
                "aisb:detectRules": '[{"name": "p", "metric": "aws:listening-tcp-ports", '
                '"operator": "in-port-set", "ports": [-1]}]'
            },
            "aisb:detectRules[0].ports: got -1",
        ),
    ],
)
def test_detection_config_errors(override: dict[str, str], message: str) -> None:
    problems = config_problems({"aisb:behaviorDetection": "ml-detect", **override})
    assert any(p.startswith(message) for p in problems), problems


def test_baseline_exports_the_profile_and_action_names_operators_need() -> None:
    from aisb import IotSecurityBaseline

    seen: dict[str, Any] = {}

    def program() -> None:
        baseline = IotSecurityBaseline(
            "b",
            {
                "alert_emails": ["a@example.com"],
                "behavior_detection": BehaviorDetection.ML_DETECT,
                "detect_rules": [
                    {
                        "name": "src",
                        "metric": "aws:source-ip-address",
                        "operator": RuleOperator.IN_CIDR_SET,
                        "cidrs": ["10.0.0.0/8"],
                    }
                ],
            },
        )
        baseline.mitigation_action_names.apply(lambda v: seen.update(actions=v))
        baseline.security_profile_names.apply(lambda v: seen.update(profiles=v))

    rec = run(program)
    actions = {
        r.name: r.state["actionName"] for r in rec.of_type("aws-native:iot:MitigationAction")
    }
    assert seen["actions"] == {
        "quarantine": actions["b-mitigations-quarantine"],
        "deactivateCertificate": actions["b-mitigations-deactivate-certificate"],
        "publishFinding": actions["b-mitigations-publish-finding"],
    }
    profiles = {
        r.name: r.state["securityProfileName"]
        for r in rec.of_type("aws-native:iot:SecurityProfile")
    }
    assert seen["profiles"] == [
        profiles["b-behavior-ml-profile"],
        profiles["b-behavior-rules-profile"],
    ]


_ML = {"name": "battery", "type": "number", "monitor": "ml"}


@pytest.mark.parametrize(
    ("spec", "path", "value", "expected"),
    [
        ("battery", "c[1]", "battery", "a map with name, type and either monitor: ml or a rule"),
        ({**_ML, "unit": "V"}, "c[1].unit", "V", "keys displayName, monitor, name, rule, type"),
        ({**_ML, "name": "aws:battery"}, "c[1].name", "aws:battery", "a name not starting"),
        ({**_ML, "name": "bat tery"}, "c[1].name", "bat tery", "1 to 128 letters"),
        ({**_ML, "type": "float"}, "c[1].type", "float", "one of number, number-list"),
        ({**_ML, "displayName": ""}, "c[1].displayName", "", "a name of 1 to 128 characters"),
        ({**_ML, "displayName": 7}, "c[1].displayName", 7, "a name of 1 to 128 characters"),
        ({**_ML, "displayName": "d" * 129}, "c[1].displayName", "d" * 129, "a name of 1 to 128"),
        (
            {**_ML, "rule": {"operator": "less-than", "value": 1}},
            "c[1]",
            {**_ML, "rule": {"operator": "less-than", "value": 1}},
            "either monitor: ml or a rule, not both or neither",
        ),
        ({**_ML, "monitor": "rules"}, "c[1].monitor", "rules", "ml"),
        (
            {"name": "battery", "type": "number", "rule": "less-than 1"},
            "c[1].rule",
            "less-than 1",
            "a map",
        ),
    ],
)
def test_a_custom_metric_refusal_names_its_path_and_value(
    spec: Any, path: str, value: Any, expected: str
) -> None:
    with pytest.raises(detect.RuleError) as err:
        detect.custom_metric("c[1]", spec)
    assert (err.value.path, err.value.value) == (path, value)
    assert err.value.expected.startswith(expected)


def test_a_custom_metric_keeps_its_display_name_at_the_edges() -> None:
    for display in ("d", "d" * 128):
        ml = detect.custom_metric("c[0]", {**_ML, "displayName": display})
        assert (ml.name, ml.type, ml.display_name, ml.ml) == ("battery", "number", display, True)
    ruled = detect.custom_metric(
        "c[0]",
        {
            "name": "temp",
            "type": "number",
            "displayName": "Temperature",
            "rule": {"operator": "greater-than", "value": 80},
        },
    )
    assert (ruled.display_name, ruled.ml) == ("Temperature", False)
    assert ruled.rule is not None and ruled.rule["metric"] == "temp"


def _rule(metric: str, operator: str, **value: Any) -> dict[str, Any]:
    return {"name": "r", "metric": metric, "operator": operator, **value}


METRICS = detect.METRICS_BY_NAME
_PORTS = ("aws:listening-tcp-ports", "in-port-set")
_CIDRS = ("aws:source-ip-address", "in-cidr-set")
_SIZE = ("aws:message-byte-size", "greater-than")


@pytest.mark.parametrize(
    ("rule", "path", "value", "expected"),
    [
        (_rule(*_SIZE, value=-1), "r[0].value", -1, f"a whole number from 0 to {2**63 - 1}"),
        (_rule(*_CIDRS, cidrs="10.0.0.0/8"), "r[0].cidrs", "10.0.0.0/8", "a non-empty list"),
        (_rule(*_CIDRS, cidrs=[]), "r[0].cidrs", [], "a non-empty list"),
        (_rule(*_CIDRS, cidrs=["10.0.0/33"]), "r[0].cidrs", "10.0.0/33", "CIDR blocks such as"),
        (_rule(*_PORTS, ports=[22, 65536]), "r[0].ports", 65536, "port numbers from 0 to 65535"),
        (_rule(*_PORTS, ports=[-1]), "r[0].ports", -1, "port numbers from 0 to 65535"),
        (_rule(*_PORTS, ports=["ssh"]), "r[0].ports", "ssh", "port numbers from 0 to 65535"),
        (_rule(*_SIZE, value=1, unit="B"), "r[0].unit", "B", "keys cidrs, consecutiveDatapoints"),
        (_rule("aws:nope", "less-than", value=1), "r[0].metric", "aws:nope", "a Device Defender"),
        (_rule(_SIZE[0], "in-port-set", value=1), "r[0].operator", "in-port-set", "one of less"),
        (
            _rule("aws:num-messages-sent", "less-than", value=1, durationSeconds=7),
            "r[0].durationSeconds",
            7,
            "one of 300, 600",
        ),
    ],
)
def test_a_rule_refusal_names_its_path_and_value(
    rule: dict[str, Any], path: str, value: Any, expected: str
) -> None:
    with pytest.raises(detect.RuleError) as err:
        detect.rule_behavior("r[0]", rule, detect.METRICS_BY_NAME)
    assert (err.value.path, err.value.value) == (path, value)
    assert err.value.expected.startswith(expected)


def test_rule_values_are_accepted_to_their_edges() -> None:
    def value(rule: dict[str, Any]) -> Any:
        return detect.rule_behavior("r[0]", rule, detect.METRICS_BY_NAME)["criteria"]["value"]

    assert value(_rule(*_PORTS, ports=[0, 65535])) == {"ports": [0, 65535]}
    # Host bits are allowed, as Device Defender allows them.
    assert value(_rule(*_CIDRS, cidrs=["10.0.0.1/8"])) == {"cidrs": ["10.0.0.1/8"]}
    assert value(_rule(*_SIZE, value=0)) == {"count": "0"}


@pytest.mark.parametrize(
    ("kind", "rule", "value", "expected"),
    [
        ("number", {"operator": "less-than", "value": True}, True, "a finite number for bat"),
        ("number", {"operator": "less-than", "value": "1"}, "1", "a finite number for bat"),
        (
            "number-list",
            {"operator": "in-set", "numbers": [1, True]},
            [1, True],
            "a list of finite",
        ),
        ("string-list", {"operator": "in-set", "strings": ["a", ""]}, ["a", ""], "a list of non"),
        ("string-list", {"operator": "in-set", "strings": ["a", 1]}, ["a", 1], "a list of non"),
    ],
)
def test_a_custom_rule_value_refusal_names_the_value(
    kind: str, rule: dict[str, Any], value: Any, expected: str
) -> None:
    with pytest.raises(detect.RuleError) as err:
        detect.custom_metric("c[0]", {"name": "bat", "type": kind, "rule": rule})
    assert (err.value.value, err.value.expected[: len(expected)]) == (value, expected)


def _plan(**overrides: Any) -> Any:
    args: dict[str, Any] = {
        "device_metrics": False,
        "confidence": "HIGH",
        "datapoints_to_alarm": 2,
        "datapoints_to_clear": 3,
        "rules": [],
        "custom_metrics": [],
        **overrides,
    }
    return detect.plan_profiles(**args)


def test_the_plan_carries_each_ml_setting_into_every_ml_behaviour() -> None:
    battery = {"name": "battery", "type": "number", "monitor": "ml"}
    ml, rules, customs = _plan(custom_metrics=[battery])
    assert [c.name for c in customs] == ["battery"] and rules == []
    assert [b["metric"] for b in ml] == [*detect.ml_metrics(False), "battery"]
    assert ml[-1]["name"] == "ml-custom-battery"
    assert ml[0]["name"] == "ml-" + ml[0]["metric"].removeprefix("aws:").replace(":", "-")
    for behavior in ml:
        assert behavior["criteria"] == {
            "ml_detection_config": {"confidence_level": "HIGH"},
            "consecutive_datapoints_to_alarm": 2,
            "consecutive_datapoints_to_clear": 3,
        }
        assert behavior["suppress_alerts"] is False
    for edge in (1, 10):
        _plan(datapoints_to_alarm=edge, datapoints_to_clear=edge)


@pytest.mark.parametrize(
    ("overrides", "path", "value"),
    [
        ({"datapoints_to_alarm": 11}, "datapoints_to_alarm", 11),
        ({"datapoints_to_alarm": 0}, "datapoints_to_alarm", 0),
        ({"datapoints_to_clear": 11}, "datapoints_to_clear", 11),
        ({"datapoints_to_clear": "x"}, "datapoints_to_clear", "x"),
        ({"confidence": "high"}, "confidence", "high"),
        (
            {
                "custom_metrics": [
                    {"name": "a", "type": "number", "monitor": "ml"},
                    {"name": "b", "type": "number", "monitor": "ml"},
                    {"name": "a", "type": "number", "monitor": "ml"},
                ]
            },
            "custom_metrics[0].name",
            "a",
        ),
        (
            {
                "custom_metrics": [
                    {"name": "x" * 128, "type": "number", "monitor": "ml"},
                    {"name": "x" * 127 + "y", "type": "number", "monitor": "ml"},
                ]
            },
            "custom_metrics[1].name",
            "ml-custom-" + "x" * 118,
        ),
    ],
)
def test_the_plan_refuses_naming_the_setting(
    overrides: dict[str, Any], path: str, value: Any
) -> None:
    with pytest.raises(detect.RuleError) as err:
        _plan(**overrides)
    assert (err.value.path, err.value.value) == (path, value)


def test_a_profile_holds_up_to_the_behaviour_limit() -> None:
    behaviors = [{"name": f"b{i}"} for i in range(detect.MAX_BEHAVIORS)]
    detect.check_profile_size("rules", behaviors)
    with pytest.raises(detect.RuleError) as err:
        detect.check_profile_size("rules", [*behaviors, {"name": "one-more"}])
    assert err.value.path == "rules"
    # A repeated name with no recorded origin is reported at the profile's path.
    with pytest.raises(detect.RuleError) as err:
        detect.check_profile_size("rules", [{"name": "a"}, {"name": "a"}], ["rules[0].name"])
    assert (err.value.path, err.value.expected) == (
        "rules",
        "a behaviour name used once per security profile",
    )


@pytest.mark.parametrize("key", ["consecutiveDatapointsToAlarm", "consecutiveDatapointsToClear"])
def test_a_rules_datapoints_are_whole_numbers_from_1_to_10(key: str) -> None:
    for edge in (1, 10):
        behavior = detect.rule_behavior("r[0]", {**_rule(*_SIZE, value=1), key: edge}, METRICS)
        assert edge in behavior["criteria"].values()
    for bad in (0, 11, "2"):
        with pytest.raises(detect.RuleError) as err:
            detect.rule_behavior("r[0]", {**_rule(*_SIZE, value=1), key: bad}, METRICS)
        assert (err.value.path, err.value.value) == (f"r[0].{key}", bad)
        assert err.value.expected == "a whole number from 1 to 10"


def test_a_duration_on_a_metric_without_one_is_refused_by_value() -> None:
    with pytest.raises(detect.RuleError) as err:
        detect.rule_behavior("r[0]", _rule(*_SIZE, value=1, durationSeconds=300), METRICS)
    assert (err.value.path, err.value.value) == ("r[0].durationSeconds", 300)
    assert err.value.expected == "no duration for aws:message-byte-size"
    with pytest.raises(detect.RuleError) as err:
        detect.rule_behavior("r[0]", _rule("aws:nope", "less-than", value=1), METRICS)
    assert err.value.expected == "a Device Defender metric: " + ", ".join(sorted(METRICS))


def test_too_many_ml_custom_metrics_are_refused_at_custom_metrics() -> None:
    many = [{"name": f"m{i}", "type": "number", "monitor": "ml"} for i in range(100)]
    with pytest.raises(detect.RuleError) as err:
        _plan(custom_metrics=many)
    assert err.value.path == "custom_metrics"
    assert err.value.expected == f"at most {detect.MAX_BEHAVIORS} per security profile"
