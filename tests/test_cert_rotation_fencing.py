"""Attacks on the certificate monitor's hand-overs, tried against moto's DynamoDB and SNS: a
duplicate delivery of a continuation, a forged continuation, a drill carrying a link, a start
that times out, a continuation that arrives after another run took the lease.

Lambda may deliver an asynchronous event more than once and retries a failed one, one minute
and then two minutes later (https://docs.aws.amazon.com/lambda/latest/dg/
invocation-async-error-handling.html). The IoT client is a paged stand-in (moto's
ListCertificates does not page); everything the lease and the e-mails depend on is moto's.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.core import DEFAULT_ACCOUNT_ID

from aisb.functions.cert_rotation import handler as cr
from tests.harness.aws import moto_in_process

REGION = "eu-west-1"
FUNCTION = f"arn:aws:lambda:{REGION}:{DEFAULT_ACCOUNT_ID}:function:cert-rotation"
TABLE = "aisb-scan-lock"


class PagedIot:
    """ListCertificates one certificate a page; ``on_list`` runs (once) inside the next call,
    which is how a second copy of an event runs while the first is scanning."""

    def __init__(self, ages: list[int]) -> None:
        now = datetime.now(UTC)
        self.certs = [
            {
                "certificateId": f"{n:064x}",
                "certificateArn": f"arn:aws:iot:{REGION}:{DEFAULT_ACCOUNT_ID}:cert/{n:064x}",
                "status": "ACTIVE",
                "creationDate": now - timedelta(days=age, hours=1),
            }
            for n, age in enumerate(ages)
        ]
        self.calls = 0
        self.on_list: Any = None
        self.fail_next: Exception | BaseException | None = None

    def list_certificates(self, **kwargs: Any) -> dict[str, Any]:
        assert kwargs["pageSize"] == 250 and kwargs["ascendingOrder"] is True
        self.calls += 1
        hook, self.on_list = self.on_list, None
        if hook is not None:
            hook()
        failure, self.fail_next = self.fail_next, None
        if failure is not None:
            raise failure
        index = int(kwargs.get("marker", "0"))
        page: dict[str, Any] = {"certificates": self.certs[index : index + 1]}
        if index + 1 < len(self.certs):
            page["nextMarker"] = str(index + 1)
        return page


class FakeLambda:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        assert kwargs["FunctionName"] == FUNCTION and kwargs["InvocationType"] == "Event"
        self.events.append(json.loads(kwargs["Payload"]))
        return {"StatusCode": 202}


class Context:
    """Plenty of time until ``pages`` pages were listed in this invocation, then too little."""

    invoked_function_arn = FUNCTION

    def __init__(self, iot: PagedIot, pages: int = 1000) -> None:
        self.iot, self.start, self.pages = iot, iot.calls, pages

    def get_remaining_time_in_millis(self) -> int:
        return 800_000 if self.iot.calls - self.start < self.pages else 59_000


class LambdaTimeout(BaseException):
    """Lambda ending an invocation at its deadline: nothing in the function runs after it."""


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Any:
    with moto_in_process(monkeypatch, REGION):
        yield World(monkeypatch)


class World:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.ddb = boto3.client("dynamodb", region_name=REGION)
        self.ddb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "lock", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "lock", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        sns = boto3.client("sns", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.topic = sns.create_topic(Name="aisb-alerts")["TopicArn"]
        self.queue = self.sqs.create_queue(QueueName="inbox")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])
        sns.subscribe(TopicArn=self.topic, Protocol="sqs", Endpoint=arn["Attributes"]["QueueArn"])
        self.iot = PagedIot([800, 700, 600])
        self.lam = FakeLambda()
        for name, value in {
            "TOPIC_ARN": self.topic,
            "ROTATION_DAYS": "365",
            "LOCK_TABLE": TABLE,
            "SCAN_INTERVAL_DAYS": "30",
            "RETRY_ATTEMPTS": "2",
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(cr, "_clients", self.clients)

    def clients(self) -> dict[str, Any]:
        return {
            "iot": self.iot,
            "sns": boto3.client("sns", region_name=REGION),
            "s3": boto3.client("s3", region_name=REGION),
            "lambda_client": self.lam,
            "dynamodb": boto3.client("dynamodb", region_name=REGION),
        }

    def inbox(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            got = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10)
            if not got.get("Messages"):
                return out
            for m in got["Messages"]:
                out.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=m["ReceiptHandle"])

    def lease(self) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self.ddb.get_item(
            TableName=TABLE, Key=dict(cr.LOCK_KEY), ConsistentRead=True
        ).get("Item")
        return item

    def start_and_hand_over(self) -> dict[str, Any]:
        """A scheduled start that scans one page and hands over: the continuation's event."""
        summary = cr.handler({"source": "aisb.schedule"}, Context(self.iot, pages=1))
        assert summary["continued"] is True
        (event,) = self.lam.events
        self.lam.events.clear()
        return event


def test_two_copies_of_one_continuation_scan_once(world: World) -> None:
    """Lambda delivers the continuation twice; the second copy arrives while the first scans.
    Only one may scan, e-mail and give the lease up."""
    event = world.start_and_hand_over()
    summaries: list[dict[str, Any]] = []
    world.iot.on_list = lambda: summaries.append(cr.handler(event, Context(world.iot)))
    summaries.append(cr.handler(event, Context(world.iot)))

    duplicate, first = summaries  # the second copy finished inside the first copy's scan
    assert duplicate == {"skipped": "a duplicate delivery", "run_id": first["run_id"]}
    assert (first["continued"], first["scanned"], first["due"]) == (False, 3, 3)
    (email,) = world.inbox()
    assert email["Subject"] == "AISB: 3 device certificates due for rotation, 0 due soon"
    # Day 2: the lease is free for the next scheduled run, and that run scans on its own.
    lease = world.lease()
    assert lease is not None and "token" not in lease and "finished" in lease
    assert cr.handler({}, Context(world.iot))["due"] == 3
    assert len(world.inbox()) == 1


def test_a_late_copy_of_a_finished_run_s_continuation_is_a_duplicate(world: World) -> None:
    event = world.start_and_hand_over()
    assert cr.handler(event, Context(world.iot))["continued"] is False
    world.inbox()
    assert cr.handler(event, Context(world.iot))["skipped"] == "a duplicate delivery"
    assert world.inbox() == []


def test_a_forged_continuation_cannot_choose_what_the_e_mail_says(world: World) -> None:
    """Whoever may invoke the function sends the hand-over event with chosen counts and
    "oldest" entries: the state comes from the lease item, never from the event."""
    event = world.start_and_hand_over()
    forged = {
        **event["continuation"],
        "due": 10**6,
        "scanned": 10**6,
        "oldest": [[-1.0, "[rotate now](https://evil.example/login)", 9999]],
    }
    assert cr.handler({"continuation": forged}, Context(world.iot))["due"] == 3
    (email,) = world.inbox()
    assert "evil.example" not in email["Message"] and "1000000" not in email["Message"]
    assert email["Subject"] == "AISB: 3 device certificates due for rotation, 0 due soon"


def test_a_continuation_with_a_guessed_token_is_refused(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    event = world.start_and_hand_over()
    run_id = event["continuation"]["run_id"]
    guess = {"continuation": {"run_id": run_id, "token": "A" * 32}}
    with caplog.at_level(logging.WARNING, logger=cr.LOG.name):
        assert cr.handler(guess, Context(world.iot)) == {
            "skipped": "a duplicate delivery",
            "run_id": run_id,
        }
    assert f"run {run_id}: continuation skipped: its token was already taken" in caplog.messages
    assert world.inbox() == []
    # The real continuation still runs: the guess took nothing.
    assert cr.handler(event, Context(world.iot))["due"] == 3
    for malformed in (
        {"run_id": run_id},
        {"run_id": run_id, "token": "short"},
        {"run_id": "run\nforged log line", "token": "A" * 32},
        {"run_id": run_id, "token": ["A" * 32]},
        "not a map",
    ):
        assert cr.handler({"continuation": malformed}, Context(world.iot)) == {
            "refused": "continuation without a run id and token"
        }
    assert len(world.inbox()) == 1  # the real run's report; the refusals sent nothing


def test_hand_over_events_carry_only_the_run_and_its_token(world: World) -> None:
    event = world.start_and_hand_over()
    assert sorted(event["continuation"]) == ["run_id", "token"]
    assert cr.RUN_ID.fullmatch(event["continuation"]["run_id"])
    assert cr.TOKEN.fullmatch(event["continuation"]["token"])
    lease = world.lease()
    assert lease is not None and lease["token"]["S"] == event["continuation"]["token"]
    state = json.loads(lease["state"]["S"])
    assert (state["marker"], state["scanned"], state["due"]) == ("1", 1, 1)
    # Extended at the hand-over for as long as Lambda keeps an undelivered event (6 hours).
    assert int(lease["expires"]["N"]) - time.time() > 6 * 3600 - 60


@pytest.mark.parametrize(
    "drill",
    ["[urgent](https://evil.example) rotate", "d-1\n", "", "x" * 65, 42, "<img src=x>"],
)
def test_a_drill_id_that_is_not_a_plain_word_is_refused(
    world: World, caplog: pytest.LogCaptureFixture, drill: Any
) -> None:
    with caplog.at_level(logging.WARNING, logger=cr.LOG.name):
        assert cr.handler({"drill": drill}, Context(world.iot)) == {"refused": "drill id"}
    assert world.inbox() == [] and world.iot.calls == 0
    (refusal,) = caplog.messages
    assert refusal.startswith("drill refused: its id must be 1 to 64 letters, digits")
    assert "\n" not in refusal


def test_a_drill_is_answered_at_once_and_says_who_holds_the_lease(world: World) -> None:
    answer = cr.handler({"drill": "d-42"}, Context(world.iot))
    assert answer == {"drill": "d-42", "lease": "free", "notified": True}
    assert world.iot.calls == 0 and world.lease() is None  # no scan, no lease taken
    (email,) = world.inbox()
    assert email["Subject"] == "AISB certificate monitor: Drill d-42"
    assert email["Message"].startswith("Drill d-42: asked for by `aisb drill`")
    assert "No scan holds the lease: a scheduled scan starting now would run." in (email["Message"])

    # A scheduled scan is running (handed over): the drill says a start now would be skipped.
    event = world.start_and_hand_over()
    calls = world.iot.calls
    assert cr.handler({"drill": "d-43"}, Context(world.iot))["lease"] == "held"
    (email,) = world.inbox()
    run_id = event["continuation"]["run_id"]
    assert f"Scan run {run_id} holds the lease until " in email["Message"]
    assert "(handed over, waiting for its next invocation)" in email["Message"]
    assert world.iot.calls == calls
    # The drill changed nothing: the run finishes, and the next drill names it as the last.
    assert cr.handler(event, Context(world.iot))["due"] == 3
    world.inbox()
    assert cr.handler({"drill": "d-44"}, Context(world.iot))["lease"] == "free"
    (email,) = world.inbox()
    assert f"the last scan, run {run_id}, ended at " in email["Message"]


def test_a_start_that_times_out_lets_lambda_s_retry_take_the_lease(world: World) -> None:
    """The lease of a start lasts its deadline plus a margin shorter than the minute Lambda
    waits before retrying, so the retry of a timed-out start scans instead of being skipped."""
    world.iot.fail_next = LambdaTimeout()
    before = time.time()
    with pytest.raises(LambdaTimeout):
        cr.handler({"source": "aisb.schedule"}, Context(world.iot))
    lease = world.lease()
    assert lease is not None
    assert int(lease["expires"]["N"]) <= before + 800 + 59  # 800 s left when it started

    retry_at = time.time() + 800 + 60
    summary = cr.handler({"source": "aisb.schedule"}, Context(world.iot), clock=lambda: retry_at)
    assert (summary["continued"], summary["due"]) == (False, 3)
    assert len(world.inbox()) == 1


def test_a_continuation_after_another_run_took_the_lease_raises(world: World) -> None:
    """A throttled continuation arriving once its lease expired and a new run took it: it
    must not scan, and must not end quietly either (the errors alarm fires on a raise)."""
    event = world.start_and_hand_over()
    later = time.time() + 6 * 3600 + 120
    taken = cr.handler({}, Context(world.iot), clock=lambda: later)
    assert taken["due"] == 3
    world.inbox()
    with pytest.raises(cr.StaleContinuation, match="stale continuation"):
        cr.handler(event, Context(world.iot), clock=lambda: later + 10)
    assert world.inbox() == []


def test_a_late_continuation_resumes_when_no_other_run_took_the_lease(world: World) -> None:
    """Throttled past its hand-over window, a continuation still resumes its run as long as
    no other run took the lease: nothing ran in between, so nothing is counted twice."""
    event = world.start_and_hand_over()
    later = time.time() + 7 * 3600
    summary = cr.handler(event, Context(world.iot), clock=lambda: later)
    assert (summary["continued"], summary["scanned"], summary["due"]) == (False, 3, 3)
    assert len(world.inbox()) == 1


def test_a_continuation_of_a_run_that_timed_out_raises(world: World) -> None:
    event = world.start_and_hand_over()
    world.iot.fail_next = LambdaTimeout()
    with pytest.raises(LambdaTimeout):
        cr.handler(event, Context(world.iot))
    # Lambda retries the event a minute after the deadline: the token it carries was taken
    # by the invocation that timed out, and that invocation's lease has expired.
    later = time.time() + 800 + 60
    with pytest.raises(cr.StaleContinuation, match="no longer held by it"):
        cr.handler(event, Context(world.iot), clock=lambda: later)


def test_a_failed_continuation_gives_its_token_back_for_lambda_s_retry(world: World) -> None:
    event = world.start_and_hand_over()
    world.iot.fail_next = ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "ListCertificates"
    )
    with pytest.raises(ClientError):
        cr.handler(event, Context(world.iot))
    (failure,) = world.inbox()
    assert failure["Subject"] == "AISB certificate rotation scan FAILED"
    run_id = event["continuation"]["run_id"]
    assert failure["Message"].endswith(
        "The function's error alarm and its logs have the details.\n"
        "Lambda retries this invocation up to 2 times, the first a minute from now: a retry "
        f"resumes run {run_id} from its last hand-over (the lease is kept for it). If every "
        "attempt fails, the event goes to the dead-letter queue, whose alarm notifies this "
        "topic, and the next scheduled scan, at most 30 days away, starts again from the "
        "beginning."
    )
    lease = world.lease()
    assert lease is not None and lease["token"]["S"] == event["continuation"]["token"]
    # Lambda's retry of the same event resumes the run and finishes it.
    summary = cr.handler(event, Context(world.iot))
    assert (summary["scanned"], summary["due"]) == (3, 3)
    assert len(world.inbox()) == 1


def test_a_failed_start_says_a_retry_starts_again(world: World) -> None:
    world.iot.fail_next = ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "ListCertificates"
    )
    with pytest.raises(ClientError):
        cr.handler({}, Context(world.iot))
    (failure,) = world.inbox()
    assert (
        "Lambda retries this invocation up to 2 times, the first a minute from now: a retry "
        "starts this scan again from the beginning (the lease was given up)."
    ) in failure["Message"]
    lease = world.lease()
    assert lease is not None and int(lease["expires"]["N"]) < time.time()
    assert cr.handler({}, Context(world.iot))["due"] == 3  # the retry takes the lease


def test_without_a_lease_table_a_continuation_is_refused(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOCK_TABLE")
    event = {"continuation": {"run_id": "r", "token": "t"}}
    with pytest.raises(RuntimeError, match="needs the lease table"):
        cr.handler(event, Context(world.iot))
    # A scan that does not fit in one invocation cannot hand over without one.
    with pytest.raises(RuntimeError, match="no lease table to hand over in"):
        cr.handler({}, Context(world.iot, pages=1))
