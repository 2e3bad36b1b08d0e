"""``aisb drill``: every path set off, delivery confirmed through a temporary inbox on the
alert topic, the inbox removed whatever happens (Stubber, with a clock that does not sleep),
and the certificate monitor's drill report."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from botocore.stub import ANY

from aisb.cli import drill_checks as dc
from aisb.cli.results import FAIL, PASS, UNKNOWN
from aisb.settings import parse
from tests.harness import MINIMAL_CONFIG
from tests.harness.aws import StubbedClients
from tests.test_cli_preflight import _aisb, _creds, moto_endpoint  # noqa: F401 - fixture

TOPIC = "arn:aws:sns:us-east-1:123456789012:aisb-alerts-topic-1"
QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/aisb-drill-d1"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:aisb-drill-d1"
SUBSCRIPTION = f"{TOPIC}:sub-1"
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:aisb-cert-rotation-function-1"
ALARM = "aisb-cert-rotation-errors-alarm-1"


class Stubs(StubbedClients):
    def __init__(self) -> None:
        super().__init__(dc.SERVICES)


@pytest.fixture
def aws() -> Iterator[Stubs]:
    stubs = Stubs()
    yield stubs
    stubs.verify()


def _inbox(aws: Stubs, drill_id: str = "d1") -> None:
    aws.ok(
        "sqs",
        "create_queue",
        {"QueueUrl": QUEUE},
        {
            "QueueName": f"aisb-drill-{drill_id}",
            "Attributes": {"SqsManagedSseEnabled": "true", "MessageRetentionPeriod": "3600"},
        },
    )
    aws.ok("sqs", "get_queue_attributes", {"Attributes": {"QueueArn": QUEUE_ARN}})
    aws.ok("sqs", "set_queue_attributes", {}, {"QueueUrl": QUEUE, "Attributes": ANY})
    aws.ok(
        "sns",
        "subscribe",
        {"SubscriptionArn": SUBSCRIPTION},
        {
            "TopicArn": TOPIC,
            "Protocol": "sqs",
            "Endpoint": QUEUE_ARN,
            "ReturnSubscriptionArn": True,
        },
    )


def _delivered(aws: Stubs, *messages: str) -> None:
    aws.ok(
        "sqs",
        "receive_message",
        {
            "Messages": [
                {"Body": json.dumps({"Message": m}), "ReceiptHandle": f"r{i}"}
                for i, m in enumerate(messages)
            ]
        },
    )
    for i in range(len(messages)):
        aws.ok("sqs", "delete_message", {}, {"QueueUrl": QUEUE, "ReceiptHandle": f"r{i}"})


def test_each_path_set_off_confirmed_and_the_inbox_removed(aws: Stubs) -> None:
    settings = parse({**MINIMAL_CONFIG, "aisb:guardDuty": "true"})
    aws.tagged([TOPIC])
    _inbox(aws)
    aws.ok("cloudwatch", "describe_alarms", {"MetricAlarms": [{"AlarmName": ALARM}]})
    aws.ok(
        "cloudwatch",
        "set_alarm_state",
        {},
        {"AlarmName": ALARM, "StateValue": "ALARM", "StateReason": "aisb drill d1"},
    )
    aws.ok(
        "iot",
        "start_on_demand_audit_task",
        {"taskId": "task-7"},
        {"targetCheckNames": ["LOGGING_DISABLED_CHECK"]},
    )
    aws.tagged([FUNCTION])
    aws.ok(
        "lambda",
        "invoke",
        {"StatusCode": 202},
        {"FunctionName": FUNCTION, "InvocationType": "Event", "Payload": ANY},
    )
    aws.ok("guardduty", "list_detectors", {"DetectorIds": ["det"]})
    aws.ok(
        "guardduty",
        "create_sample_findings",
        {},
        {"DetectorId": "det", "FindingTypes": [dc.GUARDDUTY_SAMPLE]},
    )
    # The alarm's and the audit's messages arrive; the monitor's and GuardDuty's never do.
    _delivered(aws, f'{{"AlarmName": "{ALARM}"}}', "Audit task-7 completed", "unrelated")
    aws.ok("sqs", "receive_message", {})
    # Afterwards: the alarm back to OK, the subscription and queue removed.
    aws.ok(
        "cloudwatch",
        "set_alarm_state",
        {},
        {"AlarmName": ALARM, "StateValue": "OK", "StateReason": ANY},
    )
    aws.ok("sns", "unsubscribe", {}, {"SubscriptionArn": SUBSCRIPTION})
    aws.ok("sqs", "delete_queue", {}, {"QueueUrl": QUEUE})
    ticks = iter([0, 0, 5, 5, 40, 40, 40])
    results = dc.drill(aws.clients, settings, timeout=30, clock=lambda: next(ticks), drill_id="d1")
    by_id = {r.id: r for r in results}
    assert by_id["drill:alarm"].status == PASS
    assert by_id["drill:audit"].status == PASS
    assert by_id["drill:cert-monitor"].status == FAIL
    assert "nothing reached the alert topic in 30 s" in by_id["drill:cert-monitor"].detail
    assert by_id["drill:guardduty"].status == FAIL
    assert "dead-letter queue" in (by_id["drill:guardduty"].fix or "")
    assert "drill-cleanup" not in by_id


def test_a_path_that_cannot_be_set_off_is_unknown_and_the_inbox_still_goes(aws: Stubs) -> None:
    settings = parse({**MINIMAL_CONFIG, "aisb:certRotation": "false"})
    aws.tagged([TOPIC])
    _inbox(aws)
    aws.ok("cloudwatch", "describe_alarms", {"MetricAlarms": []})
    aws.stubs["iot"].add_client_error("start_on_demand_audit_task", "AccessDeniedException", "no")
    aws.ok("sns", "unsubscribe", {}, {"SubscriptionArn": SUBSCRIPTION})
    aws.ok("sqs", "delete_queue", {}, {"QueueUrl": QUEUE})
    results = dc.drill(aws.clients, settings, timeout=30, clock=lambda: 0, drill_id="d1")
    assert [(r.id, r.status) for r in results] == [("drill:audit", UNKNOWN)]
    assert results[0].detail == "not set off: AccessDeniedException: no"


def test_no_alert_topic_no_drill(aws: Stubs) -> None:
    aws.tagged([])
    (result,) = dc.drill(aws.clients, parse(MINIMAL_CONFIG), drill_id="d1")
    assert (result.id, result.status) == ("drill", FAIL)


def test_the_certificate_monitor_reports_for_a_drill(monkeypatch: pytest.MonkeyPatch) -> None:
    from aisb.functions.cert_rotation import handler as cr
    from tests.test_cert_rotation_stubbed import Harness, _capture_publish

    h = Harness()
    published = _capture_publish(h)
    h.expect_publish()  # and no ListCertificates: a drill is answered without a scan
    for name, value in {"TOPIC_ARN": h.options.topic_arn, "ROTATION_DAYS": "365"}.items():
        monkeypatch.setenv(name, value)
    clients = {"iot": h.iot, "sns": h.sns, "s3": h.s3, "lambda_client": h.lam, "dynamodb": None}
    monkeypatch.setattr(cr, "_clients", lambda: dict(clients))

    class Context:
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:f"

        def get_remaining_time_in_millis(self) -> int:
            return 800_000

    summary = cr.handler({"drill": "d1"}, Context())
    # A drill gets its answer at once, marked as the drill's.
    assert summary["notified"] is True
    assert "Drill d1: asked for by `aisb drill`" in published[0]["Message"]
    h.verify()


def test_the_command_against_a_local_aws(moto_endpoint: str) -> None:  # noqa: F811
    env = {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    done = _aisb("drill", "--stack", "dev-us-west-2", "--json", "--timeout", "1", env=env)
    report = json.loads(done.stdout)
    assert done.returncode == 1, done.stderr  # nothing deployed: no alert topic to drill
    assert report["results"] == [
        {
            "id": "drill",
            "control": "AISB-7",
            "status": "fail",
            "detail": "no aisb alert topic",
            "fix": "run pulumi up",
        }
    ]


def test_the_monitor_and_guardduty_deliver_while_the_alarm_does_not(aws: Stubs) -> None:
    settings = parse({**MINIMAL_CONFIG, "aisb:guardDuty": "true"})
    aws.tagged([TOPIC])
    _inbox(aws, "d2")
    aws.ok("cloudwatch", "describe_alarms", {"MetricAlarms": [{"AlarmName": ALARM}]})
    aws.ok("cloudwatch", "set_alarm_state", {})
    aws.ok("iot", "start_on_demand_audit_task", {"taskId": "task-8"})
    aws.tagged([FUNCTION])
    aws.ok("lambda", "invoke", {"StatusCode": 202})
    aws.ok("guardduty", "list_detectors", {"DetectorIds": ["det"]})
    aws.ok("guardduty", "create_sample_findings", {})
    _delivered(
        aws,
        "AISB certificate rotation report\nDrill d2: asked for by `aisb drill`",
        f'"GuardDuty finding, severity 8: {dc.GUARDDUTY_SAMPLE}"',
    )
    aws.ok("sqs", "receive_message", {})
    aws.ok("cloudwatch", "set_alarm_state", {})
    aws.ok("sns", "unsubscribe", {})
    aws.ok("sqs", "delete_queue", {})
    ticks = iter([0, 0, 5, 5, 40, 40, 40])
    results = dc.drill(aws.clients, settings, timeout=30, clock=lambda: next(ticks), drill_id="d2")
    assert {r.id: r.status for r in results} == {
        "drill:alarm": FAIL,
        "drill:audit": FAIL,
        "drill:cert-monitor": PASS,
        "drill:guardduty": PASS,
    }
