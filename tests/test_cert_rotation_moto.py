"""The certificate-rotation Lambda end to end against moto: real boto3 calls to an
in-process AWS with certificates, things, a topic and a report bucket."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.iot.models import iot_backends

from aisb.functions.cert_rotation import handler as cr
from tests.harness.aws import moto_in_process

REGION = "eu-west-1"


class Context:
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{DEFAULT_ACCOUNT_ID}:function:cert-rotation"

    def get_remaining_time_in_millis(self) -> int:
        return 800_000


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Any:
    with moto_in_process(monkeypatch, REGION):
        yield


def _fleet(ages_and_status: list[tuple[int, str]], things: dict[int, str]) -> list[str]:
    iot = boto3.client("iot", region_name=REGION)
    backend = iot_backends[DEFAULT_ACCOUNT_ID][REGION]
    ids = []
    now = datetime.now(UTC).replace(tzinfo=None)
    for n, (age, status) in enumerate(ages_and_status):
        cert = iot.create_keys_and_certificate(setAsActive=status == "ACTIVE")
        if status not in ("ACTIVE", "INACTIVE"):
            iot.update_certificate(certificateId=cert["certificateId"], newStatus=status)
        backend.certificates[cert["certificateId"]].creation_date = now - timedelta(
            days=age, hours=1
        )
        if n in things:
            iot.create_thing(thingName=things[n])
            iot.attach_thing_principal(thingName=things[n], principal=cert["certificateArn"])
        ids.append(cert["certificateId"])
    return ids


def _inbox() -> tuple[str, Any]:
    """A topic with an SQS queue subscribed, standing in for the e-mail subscribers."""
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    topic = sns.create_topic(Name="aisb-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

    def read() -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]

    return topic, read


def test_end_to_end_email_and_csv_report(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = _fleet(
        [
            (800, "ACTIVE"),
            (400, "ACTIVE"),
            (20, "ACTIVE"),
            (350, "ACTIVE"),
            (900, "REVOKED"),
            (500, "INACTIVE"),
        ],
        things={0: "pump-1", 3: "valve-9"},
    )
    topic, inbox = _inbox()
    boto3.client("s3", region_name=REGION).create_bucket(
        Bucket="aisb-reports", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    for name, value in {
        "TOPIC_ARN": topic,
        "ROTATION_DAYS": "365",
        "WARNING_DAYS": "30",
        "REPORT_BUCKET": "aisb-reports",
        "REPORT_PREFIX": "rotation/",
        "THING_NAMES": "true",
    }.items():
        monkeypatch.setenv(name, value)

    summary = cr.handler({"source": "aws.events"}, Context())

    assert (summary["scanned"], summary["considered"], summary["due"], summary["due_soon"]) == (
        6,
        4,
        2,
        1,
    )
    (email,) = inbox()
    assert email["Subject"] == "AISB: 2 device certificates due for rotation, 1 due soon"
    text = email["Message"]
    assert f"  {ids[0]}  800 days old" in text and f"  {ids[1]}  400 days old" in text
    assert text.index(ids[0]) < text.index(ids[1])  # oldest first
    assert ids[4] not in text and ids[5] not in text  # revoked and inactive are not counted
    assert "s3://aisb-reports/rotation/" in text

    s3 = boto3.client("s3", region_name=REGION)
    (obj,) = s3.list_objects_v2(Bucket="aisb-reports", Prefix="rotation/")["Contents"]
    body = s3.get_object(Bucket="aisb-reports", Key=obj["Key"])["Body"].read().decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert {r["certificate_id"]: (r["state"], r["things"]) for r in rows} == {
        ids[0]: ("due", "pump-1"),
        ids[1]: ("due", ""),
        ids[3]: ("due_soon", "valve-9"),
    }


def test_end_to_end_jsonl_and_quiet_when_nothing_due(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fleet([(10, "ACTIVE"), (30, "ACTIVE")], things={})
    topic, inbox = _inbox()
    boto3.client("s3", region_name=REGION).create_bucket(
        Bucket="aisb-reports", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    monkeypatch.setenv("TOPIC_ARN", topic)
    monkeypatch.setenv("ROTATION_DAYS", "365")
    monkeypatch.setenv("REPORT_BUCKET", "aisb-reports")
    monkeypatch.setenv("REPORT_FORMAT", "jsonl")
    summary = cr.handler({}, Context())
    assert summary["notified"] is False and summary["scanned"] == 2
    assert inbox() == []
    listed = boto3.client("s3", region_name=REGION).list_objects_v2(Bucket="aisb-reports")
    assert listed["KeyCount"] == 0


def test_jsonl_report_rows(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = _fleet([(1100, "PENDING_TRANSFER")], things={})
    topic, inbox = _inbox()
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="aisb-jsonl", CreateBucketConfiguration={"LocationConstraint": REGION})
    for name, value in {
        "TOPIC_ARN": topic,
        "ROTATION_DAYS": "1095",
        "REPORT_BUCKET": "aisb-jsonl",
        "REPORT_FORMAT": "jsonl",
    }.items():
        monkeypatch.setenv(name, value)
    cr.handler({}, Context())
    (obj,) = s3.list_objects_v2(Bucket="aisb-jsonl")["Contents"]
    assert obj["Key"].endswith(".jsonl")
    (row,) = [
        json.loads(line)
        for line in s3.get_object(Bucket="aisb-jsonl", Key=obj["Key"])["Body"]
        .read()
        .decode()
        .splitlines()
    ]
    assert (
        row["certificate_id"] == ids[0]
        and row["status"] == "PENDING_TRANSFER"
        and row["age_days"] == 1100
    )
    assert len(inbox()) == 1


def test_bad_environment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="WARNING_DAYS"):
        cr.Options.from_env({"TOPIC_ARN": "t", "ROTATION_DAYS": "30", "WARNING_DAYS": "30"})
    with pytest.raises(ValueError, match="REPORT_FORMAT"):
        cr.Options.from_env({"TOPIC_ARN": "t", "ROTATION_DAYS": "365", "REPORT_FORMAT": "xml"})


# --- one scan at a time, without reserved concurrency -----------------------------------------


def _lock_table() -> str:
    ddb = boto3.client("dynamodb", region_name=REGION)
    ddb.create_table(
        TableName="aisb-scan-lock",
        KeySchema=[{"AttributeName": "lock", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "lock", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return "aisb-scan-lock"


def test_run_lock_lease(aws: Any) -> None:
    ddb = boto3.client("dynamodb", region_name=REGION)
    table = _lock_table()
    now = [1_000_000.0]
    lock = cr.RunLock(ddb, table, margin_seconds=30, handover_seconds=3600, clock=lambda: now[0])
    assert lock.acquire("run-a", "holder-a", 900)
    assert not lock.acquire("run-b", "holder-b", 900)  # a live run holds it
    lock.hand_over("run-a", "holder-a", "token-1", '{"run_id": "run-a"}')
    with pytest.raises(cr.LeaseLost):  # the holder handed its hold over: it is no longer one
        lock.hand_over("run-a", "holder-a", "token-2", "{}")
    took, item = lock.take("run-a", "token-1", "holder-a2", 900)
    assert took and item is not None and item["state"] == {"S": '{"run_id": "run-a"}'}
    assert lock.take("run-a", "token-1", "holder-x", 900) == (False, item)  # taken once
    now[0] += 929
    assert not lock.acquire("run-b", "holder-b", 900)  # taken for 900 s + the margin
    now[0] += 2
    assert lock.acquire("run-b", "holder-b", 900)  # run-a died: its lease expired
    assert not lock.restore("run-a", "holder-a2", "token-1")  # its hold is gone
    lock.release("run-a", "holder-a2")  # not the holder: changes nothing
    assert not lock.acquire("run-c", "holder-c", 900)
    lock.release("run-b", "holder-b")
    assert lock.acquire("run-c", "holder-c", 900)


def test_handler_runs_one_scan_at_a_time(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _fleet([(800, "ACTIVE")], things={})
    topic, inbox = _inbox()
    table = _lock_table()
    for name, value in {"TOPIC_ARN": topic, "ROTATION_DAYS": "365", "LOCK_TABLE": table}.items():
        monkeypatch.setenv(name, value)
    ddb = boto3.client("dynamodb", region_name=REGION)

    # Another run holds a live lease: a scheduled start (or a duplicate delivery) does nothing.
    assert cr.RunLock(ddb, table).acquire("run-elsewhere", "holder", 900)
    summary = cr.handler({"source": "aisb.schedule"}, Context())
    assert summary["skipped"] == "another scan holds the lease"
    assert inbox() == []
    # A continuation of a run that does not hold the lease is stale: it raises.
    stale = {"run_id": "20260101T000000Z-0badc0de", "token": "t" * 32}
    with pytest.raises(cr.StaleContinuation, match="held by run run-elsewhere"):
        cr.handler({"continuation": stale}, Context())
    # Once the lease is free, a run scans, reports and gives the lease up.
    cr.RunLock(ddb, table).release("run-elsewhere", "holder")
    summary = cr.handler({"source": "aisb.schedule"}, Context())
    assert summary["due"] == 1 and summary["notified"] is True
    assert len(inbox()) == 1
    item = ddb.get_item(TableName=table, Key=dict(cr.LOCK_KEY))["Item"]
    assert item["run_id"] == {"S": summary["run_id"]} and "token" not in item
    # Day 2: the next scheduled start takes the free lease again.
    assert cr.handler({"source": "aisb.schedule"}, Context())["due"] == 1


def test_a_failed_start_gives_the_lease_up(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    table = _lock_table()
    for name, value in {
        "TOPIC_ARN": f"arn:aws:sns:{REGION}:{DEFAULT_ACCOUNT_ID}:no-such-topic",
        "ROTATION_DAYS": "365",
        "LOCK_TABLE": table,
    }.items():
        monkeypatch.setenv(name, value)
    _fleet([(800, "ACTIVE")], things={})
    with pytest.raises(Exception, match=r"NotFound|does not exist"):
        cr.handler({}, Context())
    ddb = boto3.client("dynamodb", region_name=REGION)
    # Lambda's retry of the failed start can take the lease again at once.
    assert cr.RunLock(ddb, table).acquire("retry", "holder", 900)


def test_a_lease_expires_by_itself(aws: Any) -> None:
    """Without a renewal, a start's lease ends at its deadline plus the margin."""
    ddb = boto3.client("dynamodb", region_name=REGION)
    table = _lock_table()
    now = [2_000_000.0]
    lock = cr.RunLock(ddb, table, margin_seconds=30, clock=lambda: now[0])
    assert lock.acquire("run-a", "holder-a", 570)
    item = ddb.get_item(TableName=table, Key=dict(cr.LOCK_KEY))["Item"]
    assert item["expires"] == {"N": "2000600"} and item["run_id"] == {"S": "run-a"}
    assert item["token"] == {"S": "holder-a"} and item["started"] == {"N": "2000000"}
    now[0] += 600
    assert not lock.acquire("run-b", "holder-b", 900)
    now[0] += 1
    assert lock.acquire("run-b", "holder-b", 900)


def _env(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def test_a_drill_is_answered_and_a_plain_event_of_any_shape_starts_a_scan(
    aws: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _fleet([(800, "ACTIVE")], things={})
    topic, inbox = _inbox()
    _env(monkeypatch, TOPIC_ARN=topic, ROTATION_DAYS="365")
    with caplog.at_level("INFO", logger=cr.LOG.name):
        summary = cr.handler({"drill": "d-42"}, Context())
    assert summary == {"drill": "d-42", "lease": "unknown", "notified": True}
    (message,) = inbox()
    assert "Drill d-42: asked for by `aisb drill`" in message["Message"]
    assert (
        "This function has no lease table: it cannot tell whether a scan runs."
        in (message["Message"])
    )
    assert "Due for rotation" not in message["Message"]  # no scan, so no counts
    # The summary is logged as one JSON object.
    own = [r.getMessage() for r in caplog.records if r.module == "handler"]
    assert json.loads(own[-1]) == summary
    # Lambda may hand the function an event that is not a map: a plain start.
    assert cr.handler([], Context())["due"] == 1  # type: ignore[arg-type]
    assert "Drill" not in inbox()[-1]["Message"]


def test_a_skipped_start_names_its_run_in_the_log_and_the_result(
    aws: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    table = _lock_table()
    topic, _ = _inbox()
    _env(monkeypatch, TOPIC_ARN=topic, ROTATION_DAYS="365", LOCK_TABLE=table)
    ddb = boto3.client("dynamodb", region_name=REGION)
    assert cr.RunLock(ddb, table).acquire("run-elsewhere", "holder", 900)
    with caplog.at_level("WARNING", logger=cr.LOG.name):
        summary = cr.handler({}, Context())
    assert summary["skipped"] == "another scan holds the lease"
    assert summary["run_id"] and summary["run_id"] != "run-elsewhere"
    assert [r.getMessage() for r in caplog.records if r.module == "handler"] == [
        f"run {summary['run_id']} not started: another scan holds the lease"
    ]


def test_a_failed_start_without_a_lock_table_raises_the_scan_s_error(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fleet([(800, "ACTIVE")], things={})
    _env(
        monkeypatch,
        TOPIC_ARN=f"arn:aws:sns:{REGION}:{DEFAULT_ACCOUNT_ID}:no-such-topic",
        ROTATION_DAYS="365",
    )
    with pytest.raises(Exception, match=r"NotFound|does not exist"):
        cr.handler({}, Context())


def test_the_subject_stays_under_sns_s_limit_for_any_count() -> None:
    options = cr.Options(topic_arn="t", rotation_days=365)
    state = cr.ScanState(run_id="r", now="2026-01-01T00:00:00+00:00", due=10**60, due_soon=1)
    subject, _ = cr.render_report(options, state)
    assert len(subject) == cr.SNS_SUBJECT_LIMIT - 1
    assert subject.startswith("AISB: 1000")
