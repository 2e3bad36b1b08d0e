"""``aisb drill``: a probe through the inbox before anything is set off, every path set off
and confirmed, the inbox removed whatever happens (a failure injected at every step, Ctrl-C),
(Stubber, with a clock that advances 5 s a call and never sleeps)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY

from aisb.settings import parse
from aisb_tools.cli import drill_checks as dc
from aisb_tools.cli.results import FAIL, PASS, UNKNOWN
from tests.harness import MINIMAL_CONFIG
from tests.harness.aws import StubbedClients
from tests.test_cli_preflight import _aisb, _creds, moto_endpoint  # noqa: F401 - fixture

TOPIC = "arn:aws:sns:us-east-1:123456789012:aisb-alerts-topic-1"
QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/aisb-drill-d1"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:aisb-drill-d1"
SUBSCRIPTION = f"{TOPIC}:sub-1"
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:aisb-cert-rotation-function-1"
ALARM = "aisb-cert-rotation-errors-alarm-1"
PROBE = "aisb drill d1 probe: checks that the drill's inbox receives"


class Stubs(StubbedClients):
    def __init__(self) -> None:
        super().__init__(dc.SERVICES)


@pytest.fixture
def aws() -> Iterator[Stubs]:
    stubs = Stubs()
    yield stubs
    stubs.verify()


def _clock() -> Callable[[], float]:
    return itertools.count(0, 5).__next__


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
        {"QueueUrl": QUEUE, "MaxNumberOfMessages": 10, "WaitTimeSeconds": ANY},
    )
    for i in range(len(messages)):
        aws.ok("sqs", "delete_message", {}, {"QueueUrl": QUEUE, "ReceiptHandle": f"r{i}"})


def _inbox(aws: Stubs, drill_id: str = "d1", probe: bool = True) -> None:
    aws.tagged([TOPIC])
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
    if probe:
        aws.ok(
            "sns",
            "publish",
            {"MessageId": "m"},
            {"TopicArn": TOPIC, "Subject": f"aisb drill {drill_id}: probe", "Message": ANY},
        )
        _delivered(aws, PROBE.replace("d1", drill_id))


def _closed(aws: Stubs) -> None:
    aws.ok("sns", "unsubscribe", {}, {"SubscriptionArn": SUBSCRIPTION})
    aws.ok("sqs", "delete_queue", {}, {"QueueUrl": QUEUE})


def _alarm(name: str = ALARM, state: str = "OK", **extra: Any) -> dict[str, Any]:
    return {
        "AlarmName": name,
        "StateValue": state,
        "ActionsEnabled": True,
        "AlarmActions": [TOPIC],
        **extra,
    }


def _detector(aws: Stubs, frequency: str = "FIFTEEN_MINUTES") -> None:
    aws.ok("guardduty", "list_detectors", {"DetectorIds": ["det"]})
    aws.ok(
        "guardduty",
        "get_detector",
        {
            "ServiceRole": "r",
            "Status": "ENABLED",
            "FindingPublishingFrequency": frequency,
            "Tags": {"aisb:control": "AISB-9"},
        },
        {"DetectorId": "det"},
    )


def test_each_path_set_off_confirmed_and_the_inbox_removed(aws: Stubs) -> None:
    settings = parse({**MINIMAL_CONFIG, "aisb:guardDuty": "true"})
    _inbox(aws)
    aws.ok("cloudwatch", "describe_alarms", {"MetricAlarms": [_alarm()]})
    aws.ok(
        "cloudwatch",
        "set_alarm_state",
        {},
        {"AlarmName": ALARM, "StateValue": "ALARM", "StateReason": "aisb drill d1: alarm path"},
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
    _detector(aws)
    aws.ok(
        "guardduty",
        "create_sample_findings",
        {},
        {"DetectorId": "det", "FindingTypes": [dc.GUARDDUTY_SAMPLE]},
    )
    # The alarm's and the audit's messages arrive; the monitor's and GuardDuty's never do.
    alarm_message = json.dumps({"AlarmName": ALARM, "NewStateReason": "aisb drill d1: alarm path"})
    _delivered(aws, alarm_message, "Audit task-7 completed", "unrelated")
    for _ in range(3):
        aws.ok("sqs", "receive_message", {})
    # Afterwards the alarm is not forced back to OK (that would e-mail a genuine OK).
    _closed(aws)
    results = dc.drill(aws.clients, settings, timeout=30, clock=_clock(), drill_id="d1")
    by_id = {r.id: r for r in results}
    assert by_id["drill:alarm"].status == PASS
    assert by_id["drill:audit"].status == PASS
    assert by_id["drill:cert-monitor"].status == FAIL
    assert "nothing reached the alert topic in 30 s" in by_id["drill:cert-monitor"].detail
    assert by_id["drill:guardduty"].status == FAIL
    assert "dead-letter queue" in (by_id["drill:guardduty"].fix or "")
    assert "publishing frequency (FIFTEEN_MINUTES)" in (by_id["drill:guardduty"].fix or "")
    assert "drill-cleanup" not in by_id


def test_nothing_is_set_off_before_a_probe_arrives(aws: Stubs) -> None:
    # Issue 18 (9): SNS does not retry a delivery the queue refused while its policy
    # propagates; a probe is published again until one arrives.
    settings = parse({**MINIMAL_CONFIG, "aisb:certRotation": "false"})
    _inbox(aws, probe=False)
    aws.ok("sns", "publish", {"MessageId": "m1"})
    for _ in range(4):  # 5, 10, 15, 20 s: nothing
        aws.ok("sqs", "receive_message", {})
    aws.ok("sns", "publish", {"MessageId": "m2"})  # 25 s: another probe
    _delivered(aws, PROBE)
    aws.ok("cloudwatch", "describe_alarms", {"MetricAlarms": []})
    aws.ok("iot", "start_on_demand_audit_task", {"taskId": "task-9"})
    _delivered(aws, "Audit task-9 completed")
    _closed(aws)
    results = dc.drill(aws.clients, settings, timeout=60, clock=_clock(), drill_id="d1")
    assert {r.id: r.status for r in results} == {"drill:alarm": UNKNOWN, "drill:audit": PASS}


def test_a_late_probe_is_not_taken_for_the_alarm(aws: Stubs) -> None:
    settings = parse({**MINIMAL_CONFIG, "aisb:certRotation": "false"})
    _inbox(aws)
    aws.ok("cloudwatch", "describe_alarms", {"MetricAlarms": [_alarm()]})
    aws.ok("cloudwatch", "set_alarm_state", {})
    aws.ok("iot", "start_on_demand_audit_task", {"taskId": "task-3"})
    _delivered(aws, PROBE, "Audit task-3 completed")  # the first probe's twin, late
    for _ in range(3):
        aws.ok("sqs", "receive_message", {})
    _closed(aws)
    results = dc.drill(aws.clients, settings, timeout=30, clock=_clock(), drill_id="d1")
    assert {r.id: r.status for r in results} == {"drill:alarm": FAIL, "drill:audit": PASS}


def test_no_probe_no_drill(aws: Stubs) -> None:
    _inbox(aws, probe=False)
    aws.ok("sns", "publish", {"MessageId": "m1"})
    aws.ok("sqs", "receive_message", {})  # 5 s
    aws.ok("sqs", "receive_message", {})  # 10 s; at 15 s the time is up
    _closed(aws)
    settings = parse(MINIMAL_CONFIG)
    (result,) = dc.drill(aws.clients, settings, timeout=15, clock=_clock(), drill_id="d1")
    assert (result.id, result.status) == ("drill", UNKNOWN)
    assert (
        "never reached the drill's inbox" in result.detail
        and "nothing was set off" in result.detail
    )


def test_the_alarm_is_one_that_will_notify(aws: Stubs) -> None:
    # Issue 18 (10): in ALARM already (no change, no e-mail), actions disabled, or not
    # publishing to the topic: not chosen.
    alarms = [
        _alarm("aisb-a", "ALARM"),
        _alarm("aisb-b", ActionsEnabled=False),
        _alarm("aisb-c", AlarmActions=["arn:aws:sns:us-east-1:123456789012:other"]),
        _alarm("aisb-d", "INSUFFICIENT_DATA"),
    ]
    chosen = dc.choose_alarm(alarms, TOPIC)
    assert chosen is not None and chosen["AlarmName"] == "aisb-d"
    assert dc.choose_alarm(alarms[:3], TOPIC) is None
    settings = parse({**MINIMAL_CONFIG, "aisb:certRotation": "false"})
    _inbox(aws)
    aws.ok("cloudwatch", "describe_alarms", {"MetricAlarms": alarms[:2], "NextToken": "n"})
    aws.ok(
        "cloudwatch",
        "describe_alarms",
        {"MetricAlarms": alarms[2:]},
        {"AlarmNamePrefix": "aisb-", "NextToken": "n"},
    )
    aws.ok(
        "cloudwatch",
        "set_alarm_state",
        {},
        {"AlarmName": "aisb-d", "StateValue": "ALARM", "StateReason": ANY},
    )
    aws.ok("iot", "start_on_demand_audit_task", {"taskId": "t"})
    _delivered(aws, '{"NewStateReason": "aisb drill d1: alarm path"}', "Audit t completed")
    _closed(aws)
    results = dc.drill(aws.clients, settings, timeout=30, clock=_clock(), drill_id="d1")
    assert (
        results[0].status == PASS
        and "aisb-d set to ALARM (from INSUFFICIENT_DATA)" in results[0].detail
    )


def test_guardduty_at_severity_9_cannot_be_drilled(aws: Stubs) -> None:
    # Issue 18 (11): sample findings are severity 8.
    settings = parse(
        {
            **MINIMAL_CONFIG,
            "aisb:guardDuty": "true",
            "aisb:guardDutyMinSeverity": "9",
            "aisb:certRotation": "false",
        }
    )
    _inbox(aws)
    aws.ok("cloudwatch", "describe_alarms", {"MetricAlarms": []})
    aws.ok("iot", "start_on_demand_audit_task", {"taskId": "t"})
    _delivered(aws, "Audit t completed")
    _closed(aws)
    results = dc.drill(aws.clients, settings, timeout=30, clock=_clock(), drill_id="d1")
    by_id = {r.id: r for r in results}
    assert by_id["drill:guardduty"].status == UNKNOWN
    assert "aisb:guardDutyMinSeverity is 9" in by_id["drill:guardduty"].detail


def test_the_audit_drill_runs_a_check_the_stack_enables(aws: Stubs) -> None:
    # Issue 18 (13): not hard-wired to LOGGING_DISABLED_CHECK.
    settings = parse(
        {
            **MINIMAL_CONFIG,
            "aisb:certRotation": "false",
            "aisb:auditChecksDisabled": '["LOGGING_DISABLED_CHECK"]',
        }
    )
    assert dc.audit_check(parse(MINIMAL_CONFIG)) == "LOGGING_DISABLED_CHECK"
    chosen = dc.audit_check(settings)
    assert chosen and chosen != "LOGGING_DISABLED_CHECK"
    _inbox(aws)
    aws.ok("cloudwatch", "describe_alarms", {"MetricAlarms": []})
    aws.ok("iot", "start_on_demand_audit_task", {"taskId": "t"}, {"targetCheckNames": [chosen]})
    _delivered(aws, "Audit t completed")
    _closed(aws)
    results = dc.drill(aws.clients, settings, timeout=30, clock=_clock(), drill_id="d1")
    assert {r.id: r.status for r in results}["drill:audit"] == PASS


def test_the_monitor_says_when_a_scheduled_scan_holds_the_lease(aws: Stubs) -> None:
    # Issue 18 (13): the monitor answers a drill at once; its message says whether a
    # scheduled scan holds the lease (a run was or would be skipped).
    settings = parse(MINIMAL_CONFIG)
    _inbox(aws, "d2")
    aws.ok("cloudwatch", "describe_alarms", {"MetricAlarms": []})
    aws.ok("iot", "start_on_demand_audit_task", {"taskId": "task-41"})
    # Another function tagged AISB-6 (a rotation's), listed first: never the one invoked.
    aws.tagged(
        [FUNCTION.replace("aisb-cert-rotation-function", "aisb-a-rotation-commit"), FUNCTION]
    )
    aws.ok(
        "lambda",
        "invoke",
        {"StatusCode": 202},
        {
            "FunctionName": FUNCTION,
            "InvocationType": "Event",
            "Payload": json.dumps({"drill": "d2"}).encode(),
        },
    )
    _delivered(
        aws,
        "AISB certificate monitor drill\nDrill d2: the monitor answers.\n"
        "A scheduled scan holds the lease: a scheduled run was skipped.",
    )
    for _ in range(3):  # 15, 20, 25 s; the audit's never comes
        aws.ok("sqs", "receive_message", {})
    aws.ok("sns", "unsubscribe", {})
    aws.ok("sqs", "delete_queue", {})
    results = dc.drill(aws.clients, settings, timeout=30, clock=_clock(), drill_id="d2")
    by_id = {r.id: r for r in results}
    assert "drill-cleanup" not in by_id and by_id["drill:audit"].status == FAIL
    monitor = by_id["drill:cert-monitor"]
    assert monitor.status == PASS and "a run was or would be skipped" in monitor.detail
    assert dc.lease_note("Drill d2\nNo scan holds the lease.").startswith("the monitor says")
    assert dc.lease_note("Drill d2\nnothing else") == ""


def test_drill_ids_are_what_the_monitor_accepts() -> None:
    assert dc.DRILL_ID.fullmatch("0123abcd_-XY")
    with pytest.raises(ValueError, match="must match"):
        dc.drill({}, parse(MINIMAL_CONFIG), drill_id="a b")


def test_no_alert_topic_no_drill(aws: Stubs) -> None:
    aws.tagged([])
    (result,) = dc.drill(aws.clients, parse(MINIMAL_CONFIG), drill_id="d1")
    assert (result.id, result.status) == ("drill", FAIL)


def test_a_path_that_cannot_be_set_off_is_unknown_and_the_inbox_still_goes(aws: Stubs) -> None:
    settings = parse({**MINIMAL_CONFIG, "aisb:certRotation": "false", "aisb:guardDuty": "true"})
    _inbox(aws)
    aws.ok("cloudwatch", "describe_alarms", {"MetricAlarms": []})
    aws.stubs["iot"].add_client_error("start_on_demand_audit_task", "AccessDeniedException", "no")
    aws.ok("guardduty", "list_detectors", {"DetectorIds": []})  # no detector: no traceback
    _closed(aws)
    results = dc.drill(aws.clients, settings, timeout=30, clock=_clock(), drill_id="d1")
    assert [(r.id, r.status) for r in results] == [
        ("drill:alarm", UNKNOWN),
        ("drill:audit", UNKNOWN),
        ("drill:guardduty", UNKNOWN),
    ]
    assert results[1].detail == "not set off: AccessDeniedException: no"
    assert "no GuardDuty detector of this stack" in results[2].detail


# --- clean-up with a failure injected at every step (issue 18 (12)) ------------------------------


class Raising:
    """A client whose ``method`` raises ``error`` (any exception, KeyboardInterrupt too)."""

    def __init__(self, client: Any, method: str, error: BaseException) -> None:
        self.client, self.method, self.error = client, method, error

    def __getattr__(self, name: str) -> Any:
        if name == self.method:

            def boom(*args: Any, **kwargs: Any) -> Any:
                raise self.error

            return boom
        return getattr(self.client, name)


STEPS = [
    ("sqs", "create_queue"),
    ("sqs", "get_queue_attributes"),
    ("sqs", "set_queue_attributes"),
    ("sns", "subscribe"),
    ("sns", "publish"),
    ("sqs", "receive_message"),
]
ERRORS: list[BaseException] = [
    ClientError({"Error": {"Code": "InternalError", "Message": "boom"}}, "X"),
    RuntimeError("not botocore"),
    KeyboardInterrupt(),
]


@pytest.mark.parametrize("step", range(len(STEPS)), ids=[m for _, m in STEPS])
@pytest.mark.parametrize("error", ERRORS, ids=["aws", "other", "ctrl-c"])
def test_the_inbox_goes_whatever_fails(aws: Stubs, step: int, error: BaseException) -> None:
    aws.tagged([TOPIC])
    answers: list[tuple[str, str, dict[str, Any]]] = [
        ("sqs", "create_queue", {"QueueUrl": QUEUE}),
        ("sqs", "get_queue_attributes", {"Attributes": {"QueueArn": QUEUE_ARN}}),
        ("sqs", "set_queue_attributes", {}),
        ("sns", "subscribe", {"SubscriptionArn": SUBSCRIPTION}),
        ("sns", "publish", {"MessageId": "m"}),
    ]
    for service, method, answer in answers[:step]:
        aws.ok(service, method, answer)
    service, method = STEPS[step]
    clients = dict(aws.clients)
    clients[service] = Raising(aws.clients[service], method, error)
    # The clean-up, last registered first: what the failed call may have made is looked for.
    if step >= 3:
        if step == 3:
            aws.ok(
                "sns",
                "list_subscriptions_by_topic",
                {
                    "Subscriptions": [
                        {"SubscriptionArn": SUBSCRIPTION, "Endpoint": QUEUE_ARN, "Protocol": "sqs"}
                    ]
                },
                {"TopicArn": TOPIC},
            )
        aws.ok("sns", "unsubscribe", {}, {"SubscriptionArn": SUBSCRIPTION})
    if step == 0:
        aws.stubs["sqs"].add_client_error(
            "get_queue_url", "AWS.SimpleQueueService.NonExistentQueue", "gone"
        )
    else:
        aws.ok("sqs", "delete_queue", {}, {"QueueUrl": QUEUE})
    settings = parse(MINIMAL_CONFIG)
    if isinstance(error, KeyboardInterrupt):
        with pytest.raises(dc.Interrupted) as stopped:
            dc.drill(clients, settings, timeout=30, clock=_clock(), drill_id="d1")
        assert stopped.value.left == []
        return
    (result,) = dc.drill(clients, settings, timeout=30, clock=_clock(), drill_id="d1")
    assert (result.id, result.status) == ("drill", UNKNOWN)
    assert "could not open the inbox" in result.detail


def test_ctrl_c_while_paths_are_set_off_or_read_still_cleans_up(aws: Stubs) -> None:
    settings = parse({**MINIMAL_CONFIG, "aisb:certRotation": "false"})
    for broken in ("cloudwatch", "sqs"):
        _inbox(aws)
        if broken == "sqs":
            aws.ok("cloudwatch", "describe_alarms", {"MetricAlarms": []})
        aws.ok("iot", "start_on_demand_audit_task", {"taskId": "t"}) if broken == "sqs" else None
        _closed(aws)
        clients = dict(aws.clients)
        if broken == "cloudwatch":
            clients["cloudwatch"] = Raising(
                aws.clients["cloudwatch"], "get_paginator", KeyboardInterrupt()
            )
        else:
            real = aws.clients["sqs"]
            calls = itertools.count()

            class InterruptOnSecondReceive(Raising):
                def __getattr__(self, name: str) -> Any:
                    if name == "receive_message" and next(calls) >= 1:  # noqa: B023
                        return Raising.__getattr__(self, name)
                    return getattr(self.client, name)

            clients["sqs"] = InterruptOnSecondReceive(real, "receive_message", KeyboardInterrupt())
        with pytest.raises(dc.Interrupted):
            dc.drill(clients, settings, timeout=30, clock=_clock(), drill_id="d1")
        aws.verify()


def test_what_the_clean_up_cannot_remove_is_reported(aws: Stubs) -> None:
    settings = parse({**MINIMAL_CONFIG, "aisb:certRotation": "false"})
    _inbox(aws)
    aws.ok("cloudwatch", "describe_alarms", {"MetricAlarms": []})
    aws.ok("iot", "start_on_demand_audit_task", {"taskId": "t"})
    _delivered(aws, "Audit t completed")
    aws.stubs["sns"].add_client_error("unsubscribe", "AuthorizationError", "denied")
    aws.ok("sqs", "delete_queue", {}, {"QueueUrl": QUEUE})  # still removed
    results = dc.drill(aws.clients, settings, timeout=30, clock=_clock(), drill_id="d1")
    cleanup = {r.id: r for r in results}["drill-cleanup"]
    assert cleanup.status == FAIL and "AuthorizationError: denied" in cleanup.detail
    assert "subscription of aisb-drill-d1" in cleanup.detail


@pytest.mark.slow
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


def test_a_path_or_the_inbox_breaking_with_any_error_is_reported_and_cleaned_up(
    aws: Stubs,
) -> None:
    settings = parse(MINIMAL_CONFIG)
    _inbox(aws)
    aws.ok("cloudwatch", "describe_alarms", {"MetricAlarms": []})
    aws.ok("iot", "start_on_demand_audit_task", {"taskId": "task-5"})
    aws.tagged([FUNCTION])
    _closed(aws)
    clients = dict(aws.clients)
    clients["lambda"] = Raising(aws.clients["lambda"], "invoke", RuntimeError("no route"))
    calls = itertools.count()

    class BreaksAfterTheProbe(Raising):
        def __getattr__(self, name: str) -> Any:
            if name == "receive_message" and next(calls) >= 1:
                return Raising.__getattr__(self, name)
            return getattr(self.client, name)

    clients["sqs"] = BreaksAfterTheProbe(aws.clients["sqs"], "receive_message", OSError("reset"))
    results = dc.drill(clients, settings, timeout=30, clock=_clock(), drill_id="d1")
    by_id = {r.id: r for r in results}
    assert by_id["drill:cert-monitor"].status == UNKNOWN
    assert by_id["drill:cert-monitor"].detail == "not set off: RuntimeError: no route"
    assert (
        by_id["drill-inbox"].status == UNKNOWN and "OSError: reset" in by_id["drill-inbox"].detail
    )
    assert by_id["drill:audit"].status == FAIL  # nothing could be read after the probe
    assert "drill-cleanup" not in by_id


def test_the_command_says_what_an_interrupted_drill_left(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    import aisb_tools.cli as cli
    import aisb_tools.cli.run as run
    from aisb_tools.cli import preflight_checks as pf
    from tests.harness import ROOT

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise dc.Interrupted(["queue aisb-drill-d1 (InternalError: boom)"])

    identity = {"Arn": "arn:aws:iam::123456789012:user/ana", "Account": "123456789012"}
    monkeypatch.setattr(run, "connect", lambda *a, **k: ({}, identity))
    monkeypatch.setattr(dc, "drill", interrupted)
    done = CliRunner().invoke(
        cli.app, ["drill", "--stack", "dev-us-west-2", "--project", str(ROOT)]
    )
    assert done.exit_code == 2
    assert "drill interrupted; left behind: queue aisb-drill-d1" in done.output

    def ctrl_c(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(pf, "preflight", ctrl_c)
    monkeypatch.setattr(pf, "stack_state", lambda *a, **k: pf.NO_STATE)
    done = CliRunner().invoke(
        cli.app, ["preflight", "--stack", "dev-us-west-2", "--project", str(ROOT)]
    )
    assert done.exit_code == 2 and "interrupted" in done.output
