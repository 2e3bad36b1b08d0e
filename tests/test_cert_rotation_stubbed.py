"""The certificate scanner against stubbed clients: request shapes are checked against the
real AWS service models by botocore's Stubber, and no test sleeps."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from aisb.functions.cert_rotation import handler as cr

NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
TOPIC = "arn:aws:sns:us-east-1:123456789012:alerts"
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:cert-rotation"


def _client(service: str) -> Any:
    return boto3.client(
        service,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _cert(n: int, created: datetime, status: str = "ACTIVE") -> dict[str, Any]:
    cert_id = f"{n:064x}"
    return {
        "certificateId": cert_id,
        "certificateArn": f"arn:aws:iot:us-east-1:123456789012:cert/{cert_id}",
        "status": status,
        "creationDate": created,
    }


def _days_old(days: float) -> datetime:
    return NOW - timedelta(days=days)


class Harness:
    def __init__(self, **options: Any) -> None:
        self.options = cr.Options(topic_arn=TOPIC, rotation_days=365, **options)
        self.iot, self.sns, self.s3, self.lam = (
            _client("iot"),
            _client("sns"),
            _client("s3"),
            _client("lambda"),
        )
        self.stubs = {
            name: Stubber(c)
            for name, c in (
                ("iot", self.iot),
                ("sns", self.sns),
                ("s3", self.s3),
                ("lambda", self.lam),
            )
        }
        for stub in self.stubs.values():
            stub.activate()
        self.sleeps: list[float] = []

    def scanner(self) -> cr.Scanner:
        return cr.Scanner(
            self.options,
            iot=self.iot,
            sns=self.sns,
            s3=self.s3,
            lambda_client=self.lam,
            sleep=self.sleeps.append,
        )

    def page(
        self, certs: list[dict[str, Any]], marker: str | None, next_marker: str | None
    ) -> None:
        expected: dict[str, Any] = {"pageSize": 250, "ascendingOrder": True}
        if marker:
            expected["marker"] = marker
        response: dict[str, Any] = {"certificates": certs}
        if next_marker:
            response["nextMarker"] = next_marker
        self.stubs["iot"].add_response("list_certificates", response, expected)

    def expect_publish(self, subject: Any = ANY) -> None:
        self.stubs["sns"].add_response(
            "publish", {"MessageId": "m-1"}, {"TopicArn": TOPIC, "Subject": subject, "Message": ANY}
        )

    def verify(self) -> None:
        for stub in self.stubs.values():
            stub.assert_no_pending_responses()


def _capture_publish(h: Harness) -> list[dict[str, Any]]:
    """Record what is published (Stubber checks shape; this keeps the text)."""
    published: list[dict[str, Any]] = []
    h.sns.meta.events.register(
        "provide-client-params.sns.Publish", lambda params, **_: published.append(dict(params))
    )
    return published


def _state() -> cr.ScanState:
    return cr.ScanState(run_id="run-1", now=NOW.isoformat())


def _plenty() -> int:
    return 900_000


class FakeFence:
    """The run's hold on its lease, as the scanner sees it: the states it handed over."""

    def __init__(self) -> None:
        self.handed: list[dict[str, Any]] = []

    def hand_over(self, state: cr.ScanState) -> str:
        self.handed.append(json.loads(state.dumps()))
        return f"token-{len(self.handed)}"


def _handed(fence: FakeFence, invoked: list[dict[str, Any]]) -> dict[str, Any]:
    """The state handed over; the event names only its run and token."""
    (state,) = fence.handed
    assert json.loads(invoked[0]["Payload"]) == {
        "continuation": {"run_id": state["run_id"], "token": "token-1"}
    }
    return state


# --- classification ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (timedelta(days=365), "due"),  # exactly the rotation period
        (timedelta(days=365, seconds=1), "due"),
        (timedelta(days=365) - timedelta(seconds=1), "due_soon"),
        (timedelta(days=335), "due_soon"),  # exactly the start of the warning window
        (timedelta(days=335) - timedelta(seconds=1), None),
        (timedelta(0), None),
    ],
)
def test_exact_boundaries(age: timedelta, expected: str | None) -> None:
    assert cr.classify(NOW - age, NOW, 365, 30) == expected


def test_no_warning_window() -> None:
    assert cr.classify(NOW - timedelta(days=364), NOW, 365, 0) is None


# --- scanning -------------------------------------------------------------------------------------


def test_several_pages_counted_and_followed_by_marker() -> None:
    h = Harness()
    published = _capture_publish(h)
    h.page([_cert(i, _days_old(400)) for i in range(250)], None, "m1")
    h.page([_cert(250 + i, _days_old(10)) for i in range(250)], "m1", "m2")
    h.page([_cert(500 + i, _days_old(350)) for i in range(7)], "m2", None)
    h.expect_publish()
    summary = h.scanner().run(_state(), _plenty, FUNCTION)
    assert summary["pages"] == 3
    assert (summary["scanned"], summary["considered"], summary["due"], summary["due_soon"]) == (
        507,
        507,
        250,
        7,
    )
    assert summary["notified"] is True
    (message,) = published
    assert "Due for rotation (at least 365 days old): 250" in message["Message"]
    assert "Oldest certificates due (25 of 250)" in message["Message"]
    h.verify()


def test_exact_boundary_certificates_through_the_scanner() -> None:
    h = Harness(warning_days=30)
    h.page(
        [
            _cert(1, NOW - timedelta(days=365)),
            _cert(2, NOW - timedelta(days=365) + timedelta(seconds=1)),
            _cert(3, NOW - timedelta(days=335)),
            _cert(4, NOW - timedelta(days=335) + timedelta(seconds=1)),
        ],
        None,
        None,
    )
    h.expect_publish()
    summary = h.scanner().run(_state(), _plenty, FUNCTION)
    assert (summary["due"], summary["due_soon"]) == (1, 2)


def test_only_certificates_that_still_authenticate_are_counted() -> None:
    h = Harness()
    statuses = [
        "ACTIVE",
        "PENDING_TRANSFER",
        "INACTIVE",
        "REVOKED",
        "PENDING_ACTIVATION",
        "REGISTER_INACTIVE",
    ]
    h.page([_cert(i, _days_old(500), s) for i, s in enumerate(statuses)], None, None)
    h.expect_publish()
    summary = h.scanner().run(_state(), _plenty, FUNCTION)
    assert (summary["scanned"], summary["considered"], summary["due"]) == (6, 2, 2)


def test_throttling_then_success() -> None:
    h = Harness()
    h.stubs["iot"].add_client_error(
        "list_certificates", "ThrottlingException", "Rate exceeded", 400
    )
    h.stubs["iot"].add_client_error(
        "list_certificates", "ThrottlingException", "Rate exceeded", 400
    )
    h.page([_cert(1, _days_old(1))], None, None)
    summary = h.scanner().run(_state(), _plenty, FUNCTION)
    assert summary["scanned"] == 1 and summary["notified"] is False
    assert h.sleeps == [0.5, 1.0]
    h.verify()


def test_nothing_due_sends_nothing_unless_always_report() -> None:
    quiet = Harness()
    quiet.page([_cert(1, _days_old(3))], None, None)
    assert quiet.scanner().run(_state(), _plenty, FUNCTION)["notified"] is False
    quiet.verify()

    loud = Harness(always_report=True)
    published = _capture_publish(loud)
    loud.page([_cert(1, _days_old(3))], None, None)
    loud.expect_publish("AISB: 0 device certificates due for rotation, 0 due soon")
    assert loud.scanner().run(_state(), _plenty, FUNCTION)["notified"] is True
    assert "Due for rotation (at least 365 days old): 0" in published[0]["Message"]


def test_oldest_due_are_listed_oldest_first() -> None:
    h = Harness(max_listed=3)
    published = _capture_publish(h)
    ages = [400, 900, 366, 1200, 700]
    h.page([_cert(i, _days_old(a)) for i, a in enumerate(ages)], None, None)
    h.expect_publish()
    h.scanner().run(_state(), _plenty, FUNCTION)
    lines = [ln for ln in published[0]["Message"].splitlines() if ln.endswith("days old")]
    assert [int(ln.split()[1]) for ln in lines] == [1200, 900, 700]
    assert "... and 2 more" in published[0]["Message"]


def test_message_stays_under_256_kib_with_100000_due() -> None:
    state = _state()
    state.due = 100_000
    state.scanned = state.considered = 100_000
    state.oldest = [
        [-(NOW - timedelta(days=400 + i)).timestamp(), f"{i:064x}", 400 + i] for i in range(100_000)
    ]
    options = cr.Options(topic_arn=TOPIC, rotation_days=365, max_listed=100_000)
    subject, message = cr.render_report(options, state)
    assert len(message.encode()) <= 256 * 1024
    assert len(subject) < 100
    assert "Due for rotation (at least 365 days old): 100000" in message
    assert "more" in message  # says how many it left out


def test_scan_of_100000_due_certificates_sends_one_bounded_message() -> None:
    h = Harness(max_listed=1_000)
    published = _capture_publish(h)
    pages = 400
    for p in range(pages):
        certs = [_cert(p * 250 + i, _days_old(366 + (p * 250 + i) % 2000)) for i in range(250)]
        h.page(certs, f"m{p}" if p else None, f"m{p + 1}" if p < pages - 1 else None)
    h.expect_publish()
    summary = h.scanner().run(_state(), _plenty, FUNCTION)
    assert summary["due"] == 100_000 and summary["pages"] == 400
    (message,) = published
    assert len(message["Message"].encode()) <= 256 * 1024
    assert len(message["Subject"]) < 100


def test_continues_in_a_new_invocation_when_time_runs_low() -> None:
    h = Harness(reserve_seconds=60)
    h.page([_cert(i, _days_old(400)) for i in range(250)], None, "m1")
    invoked = _expect_invoke(h)
    remaining = iter([59_000])
    fence = FakeFence()
    summary = h.scanner().run(_state(), lambda: next(remaining), FUNCTION, fence)
    assert summary["continued"] is True
    h.verify()  # no e-mail from the first invocation

    payload = _handed(fence, invoked)
    assert payload["marker"] == "m1" and payload["scanned"] == 250 and payload["due"] == 250
    assert payload["invocation"] == 2 and payload["now"] == NOW.isoformat()

    # The next invocation picks up at the marker and, being last, reports the totals.
    second = Harness(reserve_seconds=60)
    published = _capture_publish(second)
    second.page([_cert(1000 + i, _days_old(20)) for i in range(3)], "m1", None)
    second.expect_publish()
    summary = second.scanner().run(cr.ScanState(**payload), _plenty, FUNCTION)
    assert (summary["scanned"], summary["due"], summary["pages"]) == (253, 250, 2)
    assert "(2 invocations)" in published[0]["Message"]
    second.verify()


def test_failure_mid_scan_notifies_and_reraises() -> None:
    h = Harness()
    published = _capture_publish(h)
    h.page([_cert(1, _days_old(400))], None, "m1")
    h.stubs["iot"].add_client_error("list_certificates", "AccessDeniedException", "no", 403)
    h.expect_publish("AISB certificate rotation scan FAILED")
    with pytest.raises(Exception, match="AccessDenied"):
        h.scanner().run(_state(), _plenty, FUNCTION)
    assert "Certificates scanned before the failure: 1" in published[0]["Message"]
    h.verify()


def test_thing_names_within_a_call_budget() -> None:
    h = Harness(report_bucket="reports", thing_names=True, thing_name_budget=1)
    certs = [_cert(1, _days_old(400)), _cert(2, _days_old(500))]
    h.page(certs, None, None)
    h.stubs["iot"].add_response(
        "list_principal_things",
        {"things": ["pump-7"]},
        {"principal": certs[0]["certificateArn"], "maxResults": 250},
    )
    uploaded: list[bytes] = []
    h.s3.meta.events.register(
        "provide-client-params.s3.UploadPart", lambda params, **_: uploaded.append(params["Body"])
    )
    h.stubs["s3"].add_response(
        "create_multipart_upload",
        {"UploadId": "u1"},
        {"Bucket": "reports", "Key": ANY, "ContentType": "text/csv"},
    )
    h.stubs["s3"].add_response(
        "upload_part",
        {"ETag": '"e1"'},
        {"Bucket": "reports", "Key": ANY, "UploadId": "u1", "PartNumber": 1, "Body": ANY},
    )
    h.stubs["s3"].add_response(
        "complete_multipart_upload",
        {},
        {
            "Bucket": "reports",
            "Key": ANY,
            "UploadId": "u1",
            "MultipartUpload": {"Parts": [{"ETag": '"e1"', "PartNumber": 1}]},
        },
    )
    published = _capture_publish(h)
    h.expect_publish()
    h.scanner().run(_state(), _plenty, FUNCTION)
    rows = uploaded[0].decode().splitlines()
    assert rows[0] == ",".join(cr.REPORT_FIELDS)
    assert rows[1].endswith(",due,pump-7")
    assert rows[2].endswith("(not looked up: call budget spent)")
    assert "Thing names were not looked up for 1 certificates" in published[0]["Message"]
    h.verify()


def _expect_upload(h: Harness, parts: int, content_type: str = "text/csv") -> None:
    s3 = h.stubs["s3"]
    s3.add_response(
        "create_multipart_upload",
        {"UploadId": "u1"},
        {"Bucket": "reports", "Key": ANY, "ContentType": content_type},
    )
    for n in range(1, parts + 1):
        s3.add_response(
            "upload_part",
            {"ETag": f'"e{n}"'},
            {"Bucket": "reports", "Key": ANY, "UploadId": "u1", "PartNumber": n, "Body": ANY},
        )


def test_report_streams_in_parts_and_completes_them_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cr, "PART_SIZE", 400)  # a few rows per part
    h = Harness(report_bucket="reports")
    bodies: list[bytes] = []
    h.s3.meta.events.register(
        "provide-client-params.s3.UploadPart", lambda params, **_: bodies.append(params["Body"])
    )
    h.page([_cert(i, _days_old(400 + i)) for i in range(10)], None, None)
    _expect_upload(h, parts=5)
    h.stubs["s3"].add_response(
        "complete_multipart_upload",
        {},
        {
            "Bucket": "reports",
            "Key": "certificate-rotation/run-1/part-0001.csv",
            "UploadId": "u1",
            "MultipartUpload": {
                "Parts": [{"ETag": f'"e{n}"', "PartNumber": n} for n in range(1, 6)]
            },
        },
    )
    h.expect_publish()
    h.scanner().run(_state(), _plenty, FUNCTION)
    rows = b"".join(bodies).decode().splitlines()
    assert len(rows) == 11 and rows[0].startswith("certificate_id,")
    assert all(len(b) <= 400 + 300 for b in bodies)  # never much more than one part held
    h.verify()


def test_failure_aborts_the_report_upload(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cr, "PART_SIZE", 200)
    h = Harness(report_bucket="reports")
    h.page([_cert(i, _days_old(400)) for i in range(3)], None, "m1")
    _expect_upload(h, parts=3)
    h.stubs["iot"].add_client_error("list_certificates", "InternalFailure", "boom", 500)
    h.stubs["s3"].add_response(
        "abort_multipart_upload", {}, {"Bucket": "reports", "Key": ANY, "UploadId": "u1"}
    )
    h.expect_publish("AISB certificate rotation scan FAILED")
    with pytest.raises(Exception, match="InternalFailure"):
        h.scanner().run(_state(), _plenty, FUNCTION)
    h.verify()


# --- handing over before the reserve is gone, even mid-page -----------------------------------


class Clock:
    """Remaining milliseconds that fall by ``step`` every time they are read."""

    def __init__(self, start: int, step: int) -> None:
        self.value, self.step = start, step

    def __call__(self) -> int:
        self.value -= self.step
        return self.value


def _expect_invoke(h: Harness) -> list[dict[str, Any]]:
    invoked: list[dict[str, Any]] = []
    h.lam.meta.events.register(
        "provide-client-params.lambda.Invoke", lambda params, **_: invoked.append(dict(params))
    )
    h.stubs["lambda"].add_response(
        "invoke",
        {"StatusCode": 202},
        {"FunctionName": FUNCTION, "InvocationType": "Event", "Payload": ANY},
    )
    return invoked


def _expect_report(h: Harness, key_part: int) -> None:
    h.stubs["s3"].add_response(
        "create_multipart_upload",
        {"UploadId": f"u{key_part}"},
        {"Bucket": "reports", "Key": ANY, "ContentType": "text/csv"},
    )
    h.stubs["s3"].add_response(
        "upload_part",
        {"ETag": '"e1"'},
        {"Bucket": "reports", "Key": ANY, "UploadId": f"u{key_part}", "PartNumber": 1, "Body": ANY},
    )
    h.stubs["s3"].add_response(
        "complete_multipart_upload",
        {},
        {
            "Bucket": "reports",
            "Key": ANY,
            "UploadId": f"u{key_part}",
            "MultipartUpload": {"Parts": [{"ETag": '"e1"', "PartNumber": 1}]},
        },
    )


def _things(h: Harness, cert: dict[str, Any], thing: str) -> None:
    h.stubs["iot"].add_response(
        "list_principal_things",
        {"things": [thing]},
        {"principal": cert["certificateArn"], "maxResults": 250},
    )


def test_hands_over_mid_page_when_thing_lookups_eat_the_time() -> None:
    certs = [_cert(i, _days_old(400)) for i in range(5)]
    h = Harness(report_bucket="reports", thing_names=True, reserve_seconds=60)
    h.page(certs, "m0", "m1")
    for i in range(2):
        _things(h, certs[i], f"pump-{i}")
    _expect_report(h, 1)
    invoked = _expect_invoke(h)
    # The clock is read before each lookup: the third would start inside the reserve.
    remaining = iter([61_000, 60_500, 59_000])
    state = _state()
    state.marker = "m0"
    fence = FakeFence()
    summary = h.scanner().run(state, lambda: next(remaining), FUNCTION, fence)
    assert summary["continued"] is True
    h.verify()
    payload = _handed(fence, invoked)
    # The page is fetched again from its own marker, and the two counted certificates skipped.
    assert (payload["marker"], payload["skip"]) == ("m0", 2)
    assert (payload["scanned"], payload["due"], payload["thing_calls"]) == (2, 2, 2)

    second = Harness(report_bucket="reports", thing_names=True, reserve_seconds=60)
    second.page(certs, "m0", None)
    for i in range(2, 5):
        _things(second, certs[i], f"pump-{i}")
    _expect_report(second, 2)
    second.expect_publish()
    summary = second.scanner().run(cr.ScanState(**payload), _plenty, FUNCTION)
    # Every certificate counted once, whatever page boundaries the hand-over fell on.
    assert (summary["scanned"], summary["due"], summary["continued"]) == (5, 5, False)
    second.verify()


def test_sustained_throttling_hands_over_instead_of_timing_out() -> None:
    h = Harness(reserve_seconds=60)
    h.page([_cert(1, _days_old(400))], None, "m1")
    for _ in range(3):
        h.stubs["iot"].add_client_error("list_certificates", "ThrottlingException", "slow", 400)
    invoked = _expect_invoke(h)
    # 61.7 s left: backoff waits of 0.5 s and 1 s fit, the 2 s one would eat the reserve.
    clock = Clock(start=61_700, step=0)
    fence = FakeFence()
    summary = h.scanner().run(_state(), clock, FUNCTION, fence)
    assert summary["continued"] is True
    assert h.sleeps == [0.5, 1.0]
    payload = _handed(fence, invoked)
    # The page that was never fetched is where the next invocation starts.
    assert (payload["marker"], payload["skip"], payload["scanned"]) == ("m1", 0, 1)
    h.verify()


def test_backoff_refuses_a_wait_past_the_deadline() -> None:
    calls: list[int] = []

    def throttled() -> dict[str, Any]:
        calls.append(1)
        raise cr.ClientError({"Error": {"Code": "RequestLimitExceeded"}}, "ListCertificates")

    sleeps: list[float] = []
    with pytest.raises(cr.OutOfTime):
        cr.call_with_backoff(throttled, sleep=sleeps.append, overruns=lambda s: s > 1.5)
    assert sleeps == [0.5, 1.0] and len(calls) == 3


# --- handler(): the Lambda entry point, end to end across invocations ------------------------


class Context:
    invoked_function_arn = FUNCTION

    def __init__(self, remaining: list[int]) -> None:
        self.remaining = remaining

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining.pop(0) if len(self.remaining) > 1 else self.remaining[0]


def test_handler_hands_over_and_the_continuation_finishes_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {
        "TOPIC_ARN": TOPIC,
        "ROTATION_DAYS": "365",
        "REPORT_BUCKET": "reports",
        "THING_NAMES": "true",
        "THING_NAME_CALL_BUDGET": "1",
        "LOCK_TABLE": "lock",
        "RESERVE_SECONDS": "60",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    first_page = [_cert(1, _days_old(400))]
    second_page = [_cert(2, _days_old(500))]

    # Invocation 1: takes the lease, scans a page, runs low on time, hands over.
    h = Harness(report_bucket="reports", thing_names=True, thing_name_budget=1)
    ddb = _client("dynamodb")
    ddb_stub = Stubber(ddb)
    ddb_stub.add_response("put_item", {}, {"TableName": "lock", "Item": ANY, **_CONDITION})
    handed: list[dict[str, Any]] = []
    ddb.meta.events.register(
        "provide-client-params.dynamodb.UpdateItem",
        lambda params, **_: handed.append(dict(params)),
    )
    ddb_stub.add_response(
        "update_item",
        {},
        {
            "TableName": "lock",
            "Key": {"lock": {"S": "certificate-scan"}},
            "UpdateExpression": "SET #token = :token, #state = :state, #expires = :expires",
            "ConditionExpression": "#run = :run AND #token = :holder",
            "ExpressionAttributeNames": {
                "#run": "run_id",
                "#token": "token",
                "#expires": "expires",
                "#state": "state",
            },
            "ExpressionAttributeValues": ANY,
        },
    )
    ddb_stub.activate()
    h.page(first_page, None, "m1")
    _things(h, first_page[0], "pump-1")
    _expect_report(h, 1)
    invoked = _expect_invoke(h)
    clients = {"iot": h.iot, "sns": h.sns, "s3": h.s3, "lambda_client": h.lam, "dynamodb": ddb}
    monkeypatch.setattr(cr, "_clients", lambda: dict(clients))
    summary = cr.handler({"source": "aisb.schedule"}, Context([800_000, 800_000, 59_000]))
    assert summary["continued"] is True
    h.verify()
    ddb_stub.assert_no_pending_responses()
    event = json.loads(invoked[0]["Payload"])
    values = handed[0]["ExpressionAttributeValues"]
    assert event == {"continuation": {"run_id": summary["run_id"], "token": values[":token"]["S"]}}
    state = json.loads(values[":state"]["S"])
    assert (state["marker"], state["thing_calls"], state["invocation"]) == ("m1", 1, 2)

    # Invocation 2: takes the token, finishes, e-mails, marks the lease finished.
    second = Harness(report_bucket="reports", thing_names=True, thing_name_budget=1)
    ddb2 = _client("dynamodb")
    ddb2_stub = Stubber(ddb2)
    names = {"#run": "run_id", "#token": "token", "#expires": "expires"}
    ddb2_stub.add_response(
        "update_item",
        {
            "Attributes": {
                "lock": {"S": "certificate-scan"},
                "run_id": {"S": summary["run_id"]},
                "state": values[":state"],
            }
        },
        {
            "TableName": "lock",
            "Key": {"lock": {"S": "certificate-scan"}},
            "UpdateExpression": "SET #token = :holder, #expires = :expires",
            "ConditionExpression": "#run = :run AND #token = :token",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {
                ":holder": ANY,
                ":expires": ANY,
                ":run": {"S": summary["run_id"]},
                ":token": values[":token"],
            },
            "ReturnValues": "ALL_NEW",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        },
    )
    ddb2_stub.add_response(
        "update_item",
        {},
        {
            "TableName": "lock",
            "Key": {"lock": {"S": "certificate-scan"}},
            "UpdateExpression": "SET #expires = :past, #finished = :now REMOVE #token, #state",
            "ConditionExpression": "#run = :run AND #token = :holder",
            "ExpressionAttributeNames": {**names, "#state": "state", "#finished": "finished"},
            "ExpressionAttributeValues": ANY,
        },
    )
    ddb2_stub.activate()
    second.page(second_page, "m1", None)
    uploaded: list[bytes] = []
    second.s3.meta.events.register(
        "provide-client-params.s3.UploadPart", lambda params, **_: uploaded.append(params["Body"])
    )
    _expect_report(second, 2)
    published = _capture_publish(second)
    second.expect_publish()
    clients = {
        "iot": second.iot,
        "sns": second.sns,
        "s3": second.s3,
        "lambda_client": second.lam,
        "dynamodb": ddb2,
    }
    monkeypatch.setattr(cr, "_clients", lambda: dict(clients))
    summary = cr.handler(event, Context([800_000]))
    assert (summary["continued"], summary["scanned"], summary["due"]) == (False, 2, 2)
    # The thing-name budget of 1 was spent in the first invocation: none is looked up now.
    assert uploaded[0].decode().splitlines()[1].endswith("(not looked up: call budget spent)")
    assert "(2 invocations)" in published[0]["Message"]
    second.verify()
    ddb2_stub.assert_no_pending_responses()


_CONDITION = {
    "ConditionExpression": "attribute_not_exists(#lock) OR #expires < :now",
    "ExpressionAttributeNames": {"#lock": "lock", "#expires": "expires"},
    "ExpressionAttributeValues": {":now": ANY},
}


# --- details a lost value would change ---------------------------------------------------------


def test_the_failure_notification_says_what_failed_in_full(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = Harness()
    published = _capture_publish(h)
    h.expect_publish("AISB certificate rotation scan FAILED")
    state = cr.ScanState(run_id="run-7", now=NOW.isoformat(), invocation=3, scanned=12, pages=2)
    h.scanner()._notify_failure(state, ValueError("x" * 5000))
    head = (
        "The AISB certificate-rotation scan failed and did not finish.\n\n"
        "Run: run-7 (invocation 3)\n"
        "Certificates scanned before the failure: 12 in 2 pages\n"
        "Error: ValueError: "
    )
    tail = (
        "\n\nThe function's error alarm and its logs have the details.\n"
        "Lambda retries this invocation up to 2 times, the first a minute from now: a retry "
        "starts this scan again from the beginning. If every attempt fails, the event goes to "
        "the dead-letter queue, whose alarm notifies this topic, and the next scheduled scan, "
        "at most 30 days away, starts again from the beginning."
    )
    assert published[0]["Message"] == (head + "x" * 5000)[:4000] + tail
    h.verify()

    # A notification that cannot be sent is logged, and the scan's own error still counts.
    h = Harness()
    h.stubs["sns"].add_client_error("publish", "AuthorizationError", "no", 403)
    with caplog.at_level("ERROR", logger=cr.LOG.name):
        h.scanner()._notify_failure(state, ValueError("boom"))
    assert [r.getMessage() for r in caplog.records] == ["could not send the failure notification"]


def test_no_hand_over_without_a_function_to_continue_in() -> None:
    h = Harness()
    refusal = "^time is running out and there is no function to continue in$"
    with pytest.raises(RuntimeError, match=refusal):
        h.scanner()._hand_over(_state(), None, FakeFence())
    with pytest.raises(RuntimeError, match=refusal):
        cr.Scanner(h.options, iot=h.iot, sns=h.sns, s3=h.s3, lambda_client=None)._hand_over(
            _state(), FUNCTION, FakeFence()
        )
    with pytest.raises(RuntimeError, match=r"^time is running out and there is no lease table"):
        h.scanner()._hand_over(_state(), FUNCTION, None)
    h.verify()  # nothing was invoked


def test_a_hand_over_is_logged_with_the_next_invocation(caplog: pytest.LogCaptureFixture) -> None:
    h = Harness()
    h.stubs["lambda"].add_response(
        "invoke",
        {"StatusCode": 202},
        {"FunctionName": FUNCTION, "InvocationType": "Event", "Payload": ANY},
    )
    state = cr.ScanState(run_id="run-1", now=NOW.isoformat(), scanned=40)
    with caplog.at_level("INFO", logger=cr.LOG.name):
        assert h.scanner()._hand_over(state, FUNCTION, FakeFence())["continued"] is True
    assert "continuing in invocation 2 after 40 certificates" in [
        r.getMessage() for r in caplog.records
    ]
    h.verify()


def test_an_error_without_a_code_has_an_empty_code() -> None:
    from botocore.exceptions import ClientError

    assert cr._code(ClientError({}, "ListCertificates")) == ""
    assert cr._code(ClientError({"Error": {}}, "ListCertificates")) == ""
    assert cr._code(ClientError({"Error": {"Code": "Throttling"}}, "ListCertificates")) == (
        "Throttling"
    )


def test_json_report_rows_are_counted_and_must_match_the_fields() -> None:
    h = Harness(report_bucket="reports", report_format="jsonl")
    writer = cr.ReportWriter(h.s3, "reports", "r.jsonl", "jsonl")
    row = tuple(f"v{i}" for i in range(len(cr.REPORT_FIELDS)))
    writer.row(row)
    writer.row(row)
    assert writer.rows == 2
    with pytest.raises(ValueError):
        writer.row(row[:-1])


# --- thing names, the time reserve and the report writer at their edges ------------------------


def _scanner_at(h: Harness, remaining_ms: int) -> cr.Scanner:
    scanner = h.scanner()
    scanner._remaining = lambda: remaining_ms
    return scanner


def test_thing_names_follow_every_page_and_wait_out_throttling() -> None:
    h = Harness(thing_names=True, thing_name_budget=10)
    arn = _cert(1, _days_old(400))["certificateArn"]
    iot = h.stubs["iot"]
    iot.add_client_error("list_principal_things", "ThrottlingException", "slow", 400)
    iot.add_response(
        "list_principal_things",
        {"things": ["pump-1", "pump-2"], "nextToken": "t1"},
        {"principal": arn, "maxResults": 250},
    )
    iot.add_response(
        "list_principal_things",
        {"things": ["pump-3"]},
        {"principal": arn, "maxResults": 250, "nextToken": "t1"},
    )
    state = _state()
    assert _scanner_at(h, 900_000).things_of(arn, state) == "pump-1 pump-2 pump-3"
    assert state.thing_calls == 2 and h.sleeps == [0.5]
    h.verify()


def test_thing_names_stop_at_the_call_budget() -> None:
    h = Harness(thing_names=True, thing_name_budget=2)
    arn = _cert(1, _days_old(400))["certificateArn"]
    spent = cr.ScanState(run_id="r", now=NOW.isoformat(), thing_calls=2, things_skipped=1)
    assert h.scanner().things_of(arn, spent) == "(not looked up: call budget spent)"
    assert spent.things_skipped == 2
    h.stubs["iot"].add_response(
        "list_principal_things",
        {"things": ["pump-1"], "nextToken": "t1"},
        {"principal": arn, "maxResults": 250},
    )
    last = cr.ScanState(run_id="r", now=NOW.isoformat(), thing_calls=1)
    names = _scanner_at(h, 900_000).things_of(arn, last)
    assert names == "pump-1 (more: call budget spent)"
    assert last.thing_calls == 2
    assert Harness(thing_names=False).scanner().things_of(arn, _state()) == ""
    h.verify()


def test_the_reserve_is_kept_to_the_millisecond() -> None:
    scanner = _scanner_at(Harness(reserve_seconds=60), 70_000)
    assert not scanner._overruns(10)  # exactly the reserve left: still allowed
    assert scanner._overruns(10.001)
    assert _scanner_at(Harness(reserve_seconds=60), 59_999)._overruns(0)


def test_a_part_is_sent_as_soon_as_it_reaches_the_part_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    row = tuple(f"value-{i}" for i in range(len(cr.REPORT_FIELDS)))
    probe = cr.ReportWriter(None, "reports", "k.csv", "csv")
    probe.row(row)
    monkeypatch.setattr(cr, "PART_SIZE", probe.raw.tell())
    h = Harness(report_bucket="reports")
    _expect_upload(h, parts=1)
    writer = cr.ReportWriter(h.s3, "reports", "k.csv", "csv")
    writer.row(row)
    assert writer.raw.tell() == 0  # sent, not held
    h.stubs["s3"].assert_no_pending_responses()


def test_a_jsonl_report_is_uploaded_as_ndjson() -> None:
    h = Harness(report_bucket="reports")
    h.stubs["s3"].add_response(
        "create_multipart_upload",
        {"UploadId": "u1"},
        {"Bucket": "reports", "Key": "k.jsonl", "ContentType": "application/x-ndjson"},
    )
    h.stubs["s3"].add_response(
        "upload_part",
        {"ETag": '"e1"'},
        {"Bucket": "reports", "Key": "k.jsonl", "UploadId": "u1", "PartNumber": 1, "Body": ANY},
    )
    writer = cr.ReportWriter(h.s3, "reports", "k.jsonl", "jsonl")
    writer.row(tuple("x" for _ in cr.REPORT_FIELDS))
    writer._flush()
    h.stubs["s3"].assert_no_pending_responses()


def test_a_run_id_is_its_start_time_and_a_random_suffix() -> None:
    import re

    state = cr.ScanState.start(NOW)
    assert re.fullmatch(r"20260601T120000Z-[0-9a-f]{8}", state.run_id)
    assert state.now == NOW.isoformat()


def test_the_function_s_clients_retry_adaptively(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    clients = cr._clients()
    assert set(clients) == {"iot", "sns", "s3", "lambda_client", "dynamodb"}
    for client in clients.values():
        # botocore stores max_attempts (retries) as total_max_attempts (calls): 10 + 1.
        assert client.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 11}


def test_thing_lookups_stop_for_time_and_take_an_empty_answer() -> None:
    h = Harness(thing_names=True, thing_name_budget=10, reserve_seconds=60)
    arn = _cert(1, _days_old(400))["certificateArn"]
    # Throttled with 60.4 s left: the 0.5 s wait would eat into the reserve: hand over.
    h.stubs["iot"].add_client_error("list_principal_things", "ThrottlingException", "slow", 400)
    with pytest.raises(cr.OutOfTime):
        _scanner_at(h, 60_400).things_of(arn, _state())
    assert h.sleeps == []
    # A certificate attached to no thing: AWS may leave the list out.
    h.stubs["iot"].add_response("list_principal_things", {}, {"principal": arn, "maxResults": 250})
    assert _scanner_at(h, 900_000).things_of(arn, _state()) == ""
    h.verify()


# --- the report e-mail, word for word ----------------------------------------------------------

_FOOTER = (
    "Expiry dates are not part of this scan: the Device Defender audit's "
    "DEVICE_CERTIFICATE_EXPIRING_CHECK reports certificates close to expiry."
)


def test_a_report_of_a_long_run_word_for_word() -> None:
    options = cr.Options(
        topic_arn=TOPIC, rotation_days=365, report_bucket="reports", thing_name_budget=5
    )
    state = cr.ScanState(
        run_id="r-1",
        now=NOW.isoformat(),
        invocation=3,
        scanned=10,
        considered=9,
        due=4,
        due_soon=2,
        oldest=[[-1.0, "c1", 400], [-3.0, "c3", 500], [-2.0, "c2", 450]],
        report_objects=["a.csv", "b.csv"],
        report_rows=7,
        things_skipped=2,
    )
    subject, message = cr.render_report(options, state)
    assert subject == "AISB: 4 device certificates due for rotation, 2 due soon"
    assert message == "\n".join(
        [
            "AISB certificate rotation report",
            "",
            "Run: r-1 (3 invocations)",
            "Rotation period: 365 days; warning window: 30 days.",
            "Certificates listed: 10 (ACTIVE or PENDING_TRANSFER: 9)",
            "Due for rotation (at least 365 days old): 4",
            "Due within 30 days: 2",
            "",
            "Oldest certificates due (3 of 4):",
            "  c1  400 days old",
            "  c2  450 days old",
            "  c3  500 days old",
            "  ... and 1 more",
            "",
            "Full report (7 certificates, csv): s3://reports/a.csv, s3://reports/b.csv",
            "Thing names were not looked up for 2 certificates: the budget of 5 calls was spent.",
            _FOOTER,
        ]
    )


def test_a_quiet_report_without_a_bucket_word_for_word() -> None:
    options = cr.Options(topic_arn=TOPIC, rotation_days=90, warning_days=0)
    state = cr.ScanState(run_id="r-2", now=NOW.isoformat(), scanned=1, considered=1)
    _, message = cr.render_report(options, state)
    assert message == "\n".join(
        [
            "AISB certificate rotation report",
            "",
            "Run: r-2",
            "Rotation period: 90 days; warning window: 0 days.",
            "Certificates listed: 1 (ACTIVE or PENDING_TRANSFER: 1)",
            "Due for rotation (at least 90 days old): 0",
            "Due within 0 days: 0",
            "",
            "",
            "No full report is kept: enable the report bucket (aisb:certReportBucket).",
            _FOOTER,
        ]
    )


def _listed(message: str) -> int:
    return sum(1 for line in message.splitlines() if line.startswith("  ") and "days old" in line)


@pytest.mark.parametrize(
    ("size", "listed"), [(cr.SNS_MESSAGE_LIMIT - 1024, 3000), (cr.SNS_MESSAGE_LIMIT - 1023, 1500)]
)
def test_the_listing_is_halved_exactly_when_the_message_passes_its_margin(
    size: int, listed: int
) -> None:
    """A message may use SNS's limit less a 1 KiB margin; one byte more halves the listing."""
    options = cr.Options(topic_arn=TOPIC, rotation_days=365)
    oldest = [[-float(i), f"{i:064x}", 400 + i % 100] for i in range(3000)]

    def render(run_id: str) -> str:
        state = cr.ScanState(run_id=run_id, now=NOW.isoformat(), due=5000, oldest=oldest)
        return cr.render_report(options, state)[1]

    unpadded = len(render("").encode())
    message = render("r" * (size - unpadded))
    assert _listed(message) == listed
    assert len(message.encode()) <= cr.SNS_MESSAGE_LIMIT - 1024
    huge = [[-float(i), f"{i:064x}", 400] for i in range(20000)]
    state = cr.ScanState(run_id="r", now=NOW.isoformat(), due=20000, oldest=huge)
    assert _listed(cr.render_report(options, state)[1]) == 2500  # halved three times


def test_a_page_without_certificates_is_an_empty_page() -> None:
    h = Harness()
    h.stubs["iot"].add_response("list_certificates", {}, {"pageSize": 250, "ascendingOrder": True})
    assert list(cr.certificate_pages(h.iot, _state())) == [[]]
    h.verify()


def test_a_run_counts_naive_dates_and_looks_up_things_only_for_the_report() -> None:
    h = Harness(thing_names=True)  # names go into the report file, and there is none
    published = _capture_publish(h)
    naive = _days_old(400).replace(tzinfo=None)
    h.page([_cert(1, naive)], None, None)
    h.expect_publish()
    summary = h.scanner().run(_state(), _plenty, FUNCTION)
    assert (summary["run_id"], summary["due"]) == ("run-1", 1)
    assert "Due for rotation (at least 365 days old): 1" in published[0]["Message"]
    h.verify()  # no ListPrincipalThings call


def test_report_rows_add_up_across_invocations() -> None:
    class Writer:
        rows = 2

        def close(self) -> str:
            return "k2"

    state = cr.ScanState(run_id="r", now=NOW.isoformat(), report_rows=5, report_objects=["k1"])
    Harness().scanner()._close(Writer(), state)  # type: ignore[arg-type]
    assert (state.report_rows, state.report_objects) == (7, ["k1", "k2"])


def test_a_failed_run_s_notification_names_the_error() -> None:
    h = Harness()
    published = _capture_publish(h)
    h.stubs["iot"].add_client_error("list_certificates", "AccessDeniedException", "no", 403)
    h.expect_publish("AISB certificate rotation scan FAILED")
    with pytest.raises(Exception, match="AccessDenied"):
        h.scanner().run(_state(), _plenty, FUNCTION)
    assert (
        "Error: ClientError: An error occurred (AccessDeniedException)" in (published[0]["Message"])
    )


def test_backoff_makes_eight_attempts_waiting_at_most_twenty_seconds() -> None:
    from botocore.exceptions import ClientError

    calls: list[int] = []

    def throttled() -> dict[str, Any]:
        calls.append(1)
        raise ClientError({"Error": {"Code": "ThrottlingException"}}, "ListCertificates")

    sleeps: list[float] = []
    with pytest.raises(ClientError):
        cr.call_with_backoff(throttled, sleep=sleeps.append)
    assert len(calls) == 8  # the last attempt's error is raised, not waited on
    assert sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 20.0]


def test_a_listing_of_every_due_certificate_has_no_more_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    options = cr.Options(topic_arn=TOPIC, rotation_days=365)
    state = cr.ScanState(
        run_id="r", now=NOW.isoformat(), due=2, oldest=[[-1.0, "c1", 400], [-2.0, "c2", 401]]
    )
    _, message = cr.render_report(options, state)
    assert "Oldest certificates due (2 of 2):" in message and "more" not in message
    # Nothing due and nothing asked for: no mail, and the log says why.
    h = Harness()
    h.page([_cert(1, _days_old(10))], None, None)
    with caplog.at_level("INFO", logger=cr.LOG.name):
        assert h.scanner().run(_state(), _plenty, FUNCTION)["notified"] is False
    assert "nothing due: no notification" in [
        r.getMessage() for r in caplog.records if r.module == "handler"
    ]
    h.verify()


@pytest.mark.parametrize(
    ("retries", "interval", "began", "lock", "expected"),
    [
        (
            0,
            1,
            1,
            None,
            "Lambda does not retry this invocation: the next scheduled scan, at most 1 day away, "
            "starts again from the beginning.",
        ),
        (
            1,
            14,
            3,
            "lock",
            "Lambda retries this invocation once, the first a minute from now: a retry resumes "
            "run r-9 from its last hand-over (the lease is kept for it). If every attempt fails, "
            "the event goes to the dead-letter queue, whose alarm notifies this topic, and the "
            "next scheduled scan, at most 14 days away, starts again from the beginning.",
        ),
    ],
)
def test_the_failure_e_mail_says_what_comes_next(
    retries: int, interval: int, began: int, lock: str | None, expected: str
) -> None:
    options = cr.Options(
        topic_arn=TOPIC,
        rotation_days=365,
        retry_attempts=retries,
        scan_interval_days=interval,
        lock_table=lock,
    )
    assert cr.what_comes_next(options, "r-9", began) == expected


def test_a_drill_says_what_the_lease_says_word_for_word() -> None:
    epoch = NOW.timestamp()
    expired = {"run_id": {"S": "r-1"}, "expires": {"N": str(int(epoch) - 5)}}
    assert cr.lease_status(expired, epoch) == (
        "expired",
        "No scan holds the lease: run r-1 stopped without finishing and its lease expired at "
        "2026-06-01 11:59:55 UTC (its failure e-mail, the errors alarm or the dead-letter "
        "queue say why); a scheduled scan starting now would run.",
    )
    held = {"run_id": {"S": "r-2"}, "expires": {"N": str(int(epoch) + 60)}}
    assert cr.lease_status(held, epoch) == (
        "held",
        "Scan run r-2 holds the lease until 2026-06-01 12:01:00 UTC: a scheduled scan "
        "starting now would be skipped.",
    )

    # A lease that cannot be read is said so, and the drill is still answered.
    h = Harness()
    published = _capture_publish(h)
    h.expect_publish("AISB certificate monitor: Drill d-7")
    ddb = _client("dynamodb")
    ddb_stub = Stubber(ddb)
    ddb_stub.add_client_error("get_item", "AccessDeniedException", "no", 400)
    ddb_stub.activate()
    answer = cr.answer_drill(h.options, h.sns, cr.RunLock(ddb, "lock"), "d-7", epoch)
    assert answer == {"drill": "d-7", "lease": "unknown", "notified": True}
    assert published[0]["Message"] == "\n".join(
        [
            "Drill d-7: asked for by `aisb drill`; nothing to act on.",
            "",
            "The AISB certificate-rotation monitor received the drill and answers at once, "
            "without scanning the fleet.",
            "The lease could not be read (AccessDeniedException).",
            "Scans run every 30 days; rotation period 365 days, warning window 30 days.",
        ]
    )
    h.verify()
    ddb_stub.assert_no_pending_responses()
