"""A component that publishes to a topic it is given, as a service (alarms as CloudWatch, rules
as EventBridge), never deploys an alarm nobody hears: handed a SecurityAlerts topic whose
policies do not admit that service, it stops naming what to add; handed a topic aisb did not
write, it says what that topic's policies must allow."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pulumi
import pytest

from aisb import (
    CertificateRotationMonitor,
    FleetAnomalyAlarms,
    SecurityAlerts,
    SecurityAlertsArgs,
    ThreatDetection,
)
from tests.harness import ACCOUNT, Recording, run


def _monitor(topic: Any) -> None:
    CertificateRotationMonitor(
        "certs",
        {
            "account_id": ACCOUNT,
            "partition": "aws",
            "region": "us-east-1",
            "alert_topic_arn": topic,
        },
    )


def _fleet(topic: Any) -> None:
    FleetAnomalyAlarms("fleet", {"alert_topic_arn": topic})


def _threats(topic: Any) -> None:
    ThreatDetection(
        "threats", {"partition": "aws", "alert_topic_arn": topic, "rule_name": "findings"}
    )


def _composed(
    publisher: Callable[[Any], None], alerts: dict[str, Any], recording: Recording
) -> Recording:
    def program() -> None:
        args: SecurityAlertsArgs = {
            "account_id": ACCOUNT,
            "partition": "aws",
            "region": "us-east-1",
            "emails": ["secops@example.com"],
            **alerts,  # type: ignore[typeddict-item]
        }
        topic = SecurityAlerts("alerts", args)
        publisher(topic.topic_arn)

    return run(program, recording=recording)


@pytest.mark.parametrize(
    ("publisher", "component", "missing"),
    [
        (_monitor, "CertificateRotationMonitor", "'cloudwatch.amazonaws.com'"),
        (_fleet, "FleetAnomalyAlarms", "'cloudwatch.amazonaws.com'"),
        (_threats, "ThreatDetection", "'cloudwatch.amazonaws.com', 'events.amazonaws.com'"),
    ],
)
def test_a_topic_that_does_not_admit_the_publisher_stops_the_component(
    publisher: Callable[[Any], None], component: str, missing: str
) -> None:
    recording = Recording()
    with pytest.raises(Exception) as caught:
        _composed(publisher, {}, recording)
    message = str(caught.value)
    assert f"{component}: publishes to the topic of SecurityAlerts 'alerts'" in message
    assert f"add {missing} to that SecurityAlerts' service_publishers" in message
    # Nothing of the publisher was registered.
    assert not [r for r in recording.resources if r.type == f"aisb:index:{component}"]
    assert not recording.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")


@pytest.mark.parametrize(
    ("publisher", "alerts"),
    [
        (_monitor, {"service_publishers": ["cloudwatch.amazonaws.com"]}),
        (_fleet, {"service_publishers": ["cloudwatch.amazonaws.com"]}),
        (
            _threats,
            {
                "service_publishers": ["cloudwatch.amazonaws.com"],
                "source_arn_publishers": {
                    "events.amazonaws.com": [f"arn:aws:events:us-east-1:{ACCOUNT}:rule/findings"]
                },
            },
        ),
    ],
)
def test_a_topic_that_admits_the_publisher_gets_the_alarms_and_grants_them(
    publisher: Callable[[Any], None], alerts: dict[str, Any]
) -> None:
    recording = _composed(publisher, alerts, Recording())
    assert recording.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    policy = json.loads(recording.one("aws:sns/topicPolicy:TopicPolicy").inputs["policy"])
    principals = json.dumps(policy)
    for service in alerts["service_publishers"]:
        assert service in principals


def test_a_topic_aisb_did_not_write_gets_a_warning_naming_what_it_must_allow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *a, **k: warnings.append(message))

    def program() -> None:
        _fleet(f"arn:aws:sns:us-east-1:{ACCOUNT}:theirs")
        existing = SecurityAlerts(
            "alerts",
            {
                "account_id": ACCOUNT,
                "partition": "aws",
                "existing_topic_arn": f"arn:aws:sns:us-east-1:{ACCOUNT}:other",
            },
        )
        _monitor(existing.topic_arn)

    run(program)
    assert len(warnings) == 2
    for warning, component in zip(
        warnings, ["FleetAnomalyAlarms", "CertificateRotationMonitor"], strict=True
    ):
        assert warning.startswith(f"{component}: publishes to alert_topic_arn as cloudwatch")
        assert "sns:Publish" in warning and "kms:GenerateDataKey*" in warning


def test_the_baseline_composes_without_a_warning(
    monkeypatch: pytest.MonkeyPatch, stack_recordings: dict[str, Recording]
) -> None:
    # Every stack's baseline (its controls all on in prod-us-east-1) already passed the check
    # when the recordings were made; rendering one more with every publisher proves no warning.
    from aisb import IotSecurityBaseline

    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *a, **k: warnings.append(message))
    run(
        lambda: IotSecurityBaseline(
            "aisb",
            {"alert_emails": ["a@example.com"], "guard_duty": True, "cert_rotation": True},
        )
    )
    assert [w for w in warnings if "publishes to alert_topic_arn" in w] == []
