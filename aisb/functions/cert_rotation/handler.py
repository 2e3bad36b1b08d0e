"""AISB #6: find device certificates due for rotation and tell people.

Runs as an AWS Lambda function (stdlib + boto3 only). It streams ``ListCertificates`` 250 at a
time and never holds the fleet in memory: per certificate it keeps only counters, a bounded
heap of the oldest due certificates for the e-mail, and the current chunk of the optional S3
report, which is streamed as a multipart upload.

A certificate is considered when its status is ACTIVE or PENDING_TRANSFER (both still
authenticate). With ``age = now - creationDate``:

- **due** when ``age >= rotation period`` (exactly the rotation period is due);
- **due soon** when ``rotation period - warning window <= age < rotation period``.

Real expiry dates are not read: ``ListCertificates`` does not return them and one
``DescribeCertificate`` per device would take over a day for a million devices at the default
10 requests per second. Device Defender's ``DEVICE_CERTIFICATE_EXPIRING_CHECK`` reports those.

Per-invocation ceiling: ``ListCertificates`` is limited to about 10 requests per second per
account, i.e. at most 2,500 certificates a second. A 900 s invocation keeps
``RESERVE_SECONDS`` (default 60) to finish its report part and hand over, leaving 840 s:
about 8,400 pages, roughly 2.1 million certificates (fewer when thing names are looked up,
which costs one ``ListPrincipalThings`` call per reported certificate, also ~10 per second,
bounded by ``THING_NAME_CALL_BUDGET``). When the remaining time falls below the reserve, the
invocation closes its report part and invokes the function again asynchronously with the page
marker, the position within the page and running totals; only the last invocation e-mails the
summary. Time is checked before every thing-name lookup and before every backoff sleep too, so
sustained throttling hands over mid-page instead of running into the 900 s timeout. Nothing is
silently truncated.

One scan at a time, without reserved concurrency (which fails on accounts whose concurrency
quota is the default 10: Lambda keeps 10 unreserved executions): a run holds a lease in a
DynamoDB table (``LOCK_TABLE``). A start finding the lease held by a live run does nothing; a
continuation whose run no longer holds the lease (a stale or duplicate one) stops; each
invocation renews the lease, and a run that dies leaves a lease that expires after
``LEASE_SECONDS``.

Environment:
``TOPIC_ARN`` (required), ``ROTATION_DAYS`` (required), ``WARNING_DAYS`` (default 30),
``REPORT_BUCKET`` / ``REPORT_PREFIX`` (optional S3 report), ``REPORT_FORMAT`` (``csv`` or
``jsonl``), ``THING_NAMES`` (``true`` to look up attached things),
``THING_NAME_CALL_BUDGET`` (default 1000 per run), ``ALWAYS_REPORT`` (``true`` to e-mail
even when nothing is due), ``MAX_LISTED`` (oldest due certificates in the e-mail, default 25),
``RESERVE_SECONDS`` (default 60), ``LOCK_TABLE`` (the lease table; no lease without it),
``LEASE_SECONDS`` (default 1200).
"""

from __future__ import annotations

import csv
import heapq
import io
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

LOG = logging.getLogger()
LOG.setLevel(logging.INFO)

COUNTED_STATUSES = frozenset({"ACTIVE", "PENDING_TRANSFER"})
PAGE_SIZE = 250  # the most ListCertificates returns per page
SNS_MESSAGE_LIMIT = 256 * 1024
SNS_SUBJECT_LIMIT = 100
PART_SIZE = 5 * 1024 * 1024  # S3 multipart: every part but the last must be >= 5 MiB
THROTTLING_CODES = frozenset(
    {"ThrottlingException", "TooManyRequestsException", "Throttling", "RequestLimitExceeded"}
)
REPORT_FIELDS = (
    "certificate_id",
    "certificate_arn",
    "status",
    "created",
    "age_days",
    "state",
    "things",
)

# Adaptive mode rate-limits on the client side once AWS starts throttling.
BOTO_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 10})


@dataclass(frozen=True)
class Options:
    """What the function does, from its environment."""

    topic_arn: str
    rotation_days: int
    warning_days: int = 30
    report_bucket: str | None = None
    report_prefix: str = "certificate-rotation/"
    report_format: str = "csv"
    thing_names: bool = False
    thing_name_budget: int = 1000
    always_report: bool = False
    max_listed: int = 25
    reserve_seconds: int = 60
    lock_table: str | None = None
    lease_seconds: int = 1200

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Options:
        """The options in ``env``, read strictly: a value that is not what a variable takes
        stops the function before any AWS call, naming the variable."""

        def flag(name: str) -> bool:
            raw = env.get(name, "false").strip().lower()
            if raw not in ("true", "false"):
                raise ValueError(f"{name}={env[name]!r}: expected true or false")
            return raw == "true"

        def number(name: str, default: int | None, low: int) -> int:
            raw = env.get(name)
            if raw is None:
                if default is None:
                    raise ValueError(f"{name}: required, a whole number of {low} or more")
                return default
            try:
                value = int(raw)
            except ValueError:
                raise ValueError(f"{name}={raw!r}: expected a whole number") from None
            if value < low:
                raise ValueError(f"{name}={value}: expected a whole number of {low} or more")
            return value

        topic = env.get("TOPIC_ARN", "").strip()
        if not topic:
            raise ValueError("TOPIC_ARN: required, the ARN of the alert topic")
        options = cls(
            topic_arn=topic,
            rotation_days=number("ROTATION_DAYS", None, 1),
            warning_days=number("WARNING_DAYS", 30, 0),
            report_bucket=env.get("REPORT_BUCKET") or None,
            report_prefix=env.get("REPORT_PREFIX", "certificate-rotation/"),
            report_format=env.get("REPORT_FORMAT", "csv"),
            thing_names=flag("THING_NAMES"),
            thing_name_budget=number("THING_NAME_CALL_BUDGET", 1000, 1),
            always_report=flag("ALWAYS_REPORT"),
            max_listed=number("MAX_LISTED", 25, 1),
            reserve_seconds=number("RESERVE_SECONDS", 60, 1),
            lock_table=env.get("LOCK_TABLE") or None,
            lease_seconds=number("LEASE_SECONDS", 1200, 1),
        )
        if options.rotation_days < 1 or not 0 <= options.warning_days < options.rotation_days:
            raise ValueError(
                f"ROTATION_DAYS={options.rotation_days} WARNING_DAYS={options.warning_days}: "
                "expected ROTATION_DAYS >= 1 and 0 <= WARNING_DAYS < ROTATION_DAYS"
            )
        if options.report_format not in ("csv", "jsonl"):
            raise ValueError(f"REPORT_FORMAT={options.report_format!r}: expected csv or jsonl")
        return options


def cutoffs(now: datetime, rotation_days: int, warning_days: int) -> tuple[datetime, datetime]:
    """Creation times at or before which a certificate is due, and due soon."""
    due = now - timedelta(days=rotation_days)
    soon = now - timedelta(days=rotation_days - warning_days) if warning_days else due
    return due, soon


def classify(created: datetime, now: datetime, rotation_days: int, warning_days: int) -> str | None:
    """``"due"``, ``"due_soon"`` or None for a certificate created at ``created``."""
    due, soon = cutoffs(now, rotation_days, warning_days)
    return "due" if created <= due else "due_soon" if created <= soon else None


@dataclass
class ScanState:
    """Everything one invocation hands the next: small, whatever the fleet size."""

    run_id: str
    now: str
    """The run's reference time (ISO 8601): every invocation measures ages from it."""
    marker: str | None = None
    """Where the next page starts (after a mid-page hand-over: the page to fetch again)."""
    skip: int = 0
    """Certificates of the page at ``marker`` already counted by an earlier invocation."""
    page_marker: str | None = None
    """The marker the current page was fetched with."""
    invocation: int = 1
    pages: int = 0
    scanned: int = 0
    considered: int = 0
    due: int = 0
    due_soon: int = 0
    thing_calls: int = 0
    things_skipped: int = 0
    oldest: list[list[Any]] = field(default_factory=list)
    """Heap of [-created_epoch, certificate_id, age_days]: the ``max_listed`` oldest due."""
    report_objects: list[str] = field(default_factory=list)
    report_rows: int = 0
    drill: str | None = None
    """The id of the ``aisb drill`` that asked for this run: it reports even when nothing is
    due, and says so."""

    @classmethod
    def start(cls, now: datetime) -> ScanState:
        return cls(
            run_id=now.strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8], now=now.isoformat()
        )


class ReportWriter:
    """Streams report rows to one S3 object per invocation with a multipart upload, holding at
    most one encoded part in memory."""

    def __init__(self, s3: Any, bucket: str, key: str, fmt: str) -> None:
        self.s3, self.bucket, self.key, self.fmt = s3, bucket, key, fmt
        self.raw = io.BytesIO()
        # Rows are encoded as they are written, so a part is held once, as bytes.
        self.text = io.TextIOWrapper(self.raw, encoding="utf-8", newline="", write_through=True)
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []
        self.rows = 0
        if fmt == "csv":
            self._csv = csv.writer(self.text)
            self._csv.writerow(REPORT_FIELDS)

    def row(self, values: tuple[Any, ...]) -> None:
        """One report row, its values in ``REPORT_FIELDS`` order."""
        if self.fmt == "csv":
            self._csv.writerow(values)
        else:
            self.text.write(json.dumps(dict(zip(REPORT_FIELDS, values, strict=True))) + "\n")
        self.rows += 1
        if self.raw.tell() >= PART_SIZE:
            self._flush()

    def _flush(self) -> None:
        data = self.raw.getvalue()
        if not data:
            return
        if self.upload_id is None:
            content_type = "text/csv" if self.fmt == "csv" else "application/x-ndjson"
            self.upload_id = self.s3.create_multipart_upload(
                Bucket=self.bucket, Key=self.key, ContentType=content_type
            )["UploadId"]
        number = len(self.parts) + 1
        etag = self.s3.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=data
        )["ETag"]
        self.parts.append({"ETag": etag, "PartNumber": number})
        del data
        self.raw.seek(0)
        self.raw.truncate()

    def close(self) -> str | None:
        """Complete the object; its key, or None when there were no rows."""
        if self.rows == 0:
            return None
        self._flush()
        assert self.upload_id is not None
        self.s3.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts},
        )
        return self.key

    def abort(self) -> None:
        if self.upload_id is not None:
            self.s3.abort_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id
            )


class OutOfTime(Exception):
    """The invocation's time, less the reserve, would run out: hand over now."""


def call_with_backoff(
    fn: Callable[..., dict[str, Any]],
    *,
    sleep: Callable[[float], None] = time.sleep,
    attempts: int = 8,
    overruns: Callable[[float], bool] = lambda _seconds: False,
    **kwargs: Any,
) -> dict[str, Any]:
    """Call ``fn``, waiting out throttling that outlasts botocore's own retries; raises
    ``OutOfTime`` instead of a wait that ``overruns(seconds)`` says would eat the reserve."""
    for attempt in range(attempts):
        try:
            return fn(**kwargs)
        except ClientError as e:
            if (
                e.response.get("Error", {}).get("Code") not in THROTTLING_CODES
                or attempt == attempts - 1
            ):
                raise
            wait = min(2.0**attempt * 0.5, 20.0)
            if overruns(wait):
                raise OutOfTime from e
            sleep(wait)
    raise AssertionError("unreachable")


LOCK_KEY: Mapping[str, Any] = {"lock": {"S": "certificate-scan"}}


class RunLock:
    """One scan at a time: a lease on one item of a DynamoDB table, held by a run id.

    Conditional writes make taking, renewing and releasing the lease atomic; the lease's
    expiry lets the next scheduled run start after a run that died.
    """

    def __init__(
        self, ddb: Any, table: str, lease_seconds: int, clock: Callable[[], float] = time.time
    ) -> None:
        self.ddb, self.table, self.lease, self.clock = ddb, table, lease_seconds, clock

    def acquire(self, run_id: str) -> bool:
        """Take the lease for a new run; False while another run holds a live lease."""
        now = int(self.clock())
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item={
                    **LOCK_KEY,
                    "run_id": {"S": run_id},
                    "expires": {"N": str(now + self.lease)},
                },
                ConditionExpression="attribute_not_exists(#lock) OR #expires < :now",
                ExpressionAttributeNames={"#lock": "lock", "#expires": "expires"},
                ExpressionAttributeValues={":now": {"N": str(now)}},
            )
        except ClientError as e:
            if _code(e) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def renew(self, run_id: str) -> bool:
        """Extend the lease of a running scan; False when the run no longer holds it."""
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key=LOCK_KEY,
                UpdateExpression="SET #expires = :expires",
                ConditionExpression="#run = :run",
                ExpressionAttributeNames={"#expires": "expires", "#run": "run_id"},
                ExpressionAttributeValues={
                    ":expires": {"N": str(int(self.clock()) + self.lease)},
                    ":run": {"S": run_id},
                },
            )
        except ClientError as e:
            if _code(e) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release(self, run_id: str) -> None:
        """Give the lease up, if this run still holds it."""
        try:
            self.ddb.delete_item(
                TableName=self.table,
                Key=LOCK_KEY,
                ConditionExpression="#run = :run",
                ExpressionAttributeNames={"#run": "run_id"},
                ExpressionAttributeValues={":run": {"S": run_id}},
            )
        except ClientError as e:
            if _code(e) != "ConditionalCheckFailedException":
                raise


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def certificate_pages(
    iot: Any,
    state: ScanState,
    *,
    sleep: Callable[[float], None] = time.sleep,
    overruns: Callable[[float], bool] = lambda _seconds: False,
) -> Iterator[list[dict[str, Any]]]:
    """Every page of ``ListCertificates`` from ``state.marker`` on, oldest first, waiting out
    throttling; ``state`` follows the pages (``aisb check`` streams the fleet with it too)."""
    while True:
        kwargs: dict[str, Any] = {"pageSize": PAGE_SIZE, "ascendingOrder": True}
        marker = state.marker
        if marker:
            kwargs["marker"] = marker
        page = call_with_backoff(iot.list_certificates, sleep=sleep, overruns=overruns, **kwargs)
        state.pages += 1
        state.page_marker, state.marker = marker, page.get("nextMarker")
        yield page.get("certificates", [])
        if not state.marker:
            return


class Scanner:
    """One invocation's work; the clients are passed in so tests can stub them."""

    def __init__(
        self,
        options: Options,
        *,
        iot: Any,
        sns: Any,
        s3: Any | None = None,
        lambda_client: Any | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.options = options
        self.iot, self.sns, self.s3, self.lambda_client = iot, sns, s3, lambda_client
        self.sleep = sleep

    # -- scanning -------------------------------------------------------------------------------

    def pages(self, state: ScanState) -> Iterator[list[dict[str, Any]]]:
        return certificate_pages(self.iot, state, sleep=self.sleep, overruns=self._overruns)

    def _overruns(self, seconds: float) -> bool:
        """Whether ``seconds`` more would leave less than the reserve."""
        return self._remaining() - seconds * 1000 < self.options.reserve_seconds * 1000

    def things_of(self, cert_arn: str, state: ScanState) -> str:
        if not self.options.thing_names:
            return ""
        if state.thing_calls >= self.options.thing_name_budget:
            state.things_skipped += 1
            return "(not looked up: call budget spent)"
        names: list[str] = []
        token: str | None = None
        while True:
            if state.thing_calls >= self.options.thing_name_budget:
                names.append("(more: call budget spent)")
                break
            if self._overruns(0):
                raise OutOfTime
            kwargs: dict[str, Any] = {"principal": cert_arn, "maxResults": 250}
            if token:
                kwargs["nextToken"] = token
            state.thing_calls += 1
            page = call_with_backoff(
                self.iot.list_principal_things,
                sleep=self.sleep,
                overruns=self._overruns,
                **kwargs,
            )
            names.extend(page.get("things", []))
            token = page.get("nextToken")
            if not token:
                break
        return " ".join(names)

    def run(
        self, state: ScanState, remaining_ms: Callable[[], int], function_arn: str | None
    ) -> dict[str, Any]:
        """Scan from ``state.marker``; hand over or report. Returns a summary for the logs."""
        options = self.options
        now = datetime.fromisoformat(state.now)
        self._cutoffs = cutoffs(now, options.rotation_days, options.warning_days)
        self._remaining = remaining_ms
        writer: ReportWriter | None = None
        if options.report_bucket:
            assert self.s3 is not None
            ext = "csv" if options.report_format == "csv" else "jsonl"
            key = f"{options.report_prefix}{state.run_id}/part-{state.invocation:04d}.{ext}"
            writer = ReportWriter(self.s3, options.report_bucket, key, options.report_format)
        try:
            try:
                for certificates in self.pages(state):
                    skip, state.skip = state.skip, 0
                    for index in range(skip, len(certificates)):
                        try:
                            self._consider(certificates[index], now, state, writer)
                        except OutOfTime:
                            # Fetch this page again next time and skip what was counted.
                            state.marker, state.skip = state.page_marker, index
                            raise
                    if state.marker and self._overruns(0):
                        raise OutOfTime
            except OutOfTime:
                self._close(writer, state)
                return self._hand_over(state, function_arn)
            self._close(writer, state)
            return self._report(state)
        except Exception as error:
            if writer is not None:
                try:
                    writer.abort()
                except Exception:
                    LOG.exception("could not abort the report upload")
            self._notify_failure(state, error)
            raise

    def _consider(
        self, cert: dict[str, Any], now: datetime, state: ScanState, writer: ReportWriter | None
    ) -> None:
        """Count one certificate. Nothing is counted until its thing names (the one step that
        can run out of time) are known, so a hand-over here counts it in the next invocation."""
        if cert.get("status") not in COUNTED_STATUSES:
            state.scanned += 1
            return
        created: datetime = cert["creationDate"]
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        due_at, soon_at = self._cutoffs
        if created > soon_at:
            state.scanned += 1
            state.considered += 1
            return  # the common case: not due, nothing else to do
        verdict = "due" if created <= due_at else "due_soon"
        age_days = (now - created).days
        things = self.things_of(cert["certificateArn"], state) if writer is not None else ""
        state.scanned += 1
        state.considered += 1
        if verdict == "due":
            state.due += 1
            entry = [-created.timestamp(), cert["certificateId"], age_days]
            if len(state.oldest) < self.options.max_listed:
                heapq.heappush(state.oldest, entry)
            elif self.options.max_listed and entry > state.oldest[0]:
                heapq.heapreplace(state.oldest, entry)
        else:
            state.due_soon += 1
        if writer is not None:
            writer.row(
                (
                    cert["certificateId"],
                    cert["certificateArn"],
                    cert["status"],
                    created.isoformat(),
                    age_days,
                    verdict,
                    things,
                )
            )

    def _close(self, writer: ReportWriter | None, state: ScanState) -> None:
        if writer is None:
            return
        key = writer.close()
        state.report_rows += writer.rows
        if key:
            state.report_objects.append(key)

    # -- handing over and reporting ---------------------------------------------------------------

    def _hand_over(self, state: ScanState, function_arn: str | None) -> dict[str, Any]:
        if self.lambda_client is None or not function_arn:
            raise RuntimeError("time is running out and there is no function to continue in")
        state.invocation += 1
        self.lambda_client.invoke(
            FunctionName=function_arn,
            InvocationType="Event",
            Payload=json.dumps({"continuation": asdict(state)}).encode(),
        )
        LOG.info(
            "continuing in invocation %d after %d certificates", state.invocation, state.scanned
        )
        return {"continued": True, **_counts(state)}

    def _report(self, state: ScanState) -> dict[str, Any]:
        summary = {"continued": False, **_counts(state)}
        if (
            state.due == 0
            and state.due_soon == 0
            and not (self.options.always_report or state.drill)
        ):
            LOG.info("nothing due: no notification")
            return {**summary, "notified": False}
        subject, message = render_report(self.options, state)
        self.sns.publish(TopicArn=self.options.topic_arn, Subject=subject, Message=message)
        return {**summary, "notified": True}

    def _notify_failure(self, state: ScanState, error: Exception) -> None:
        message = (
            "The AISB certificate-rotation scan failed and did not finish.\n\n"
            f"Run: {state.run_id} (invocation {state.invocation})\n"
            f"Certificates scanned before the failure: {state.scanned} in {state.pages} pages\n"
            f"Error: {type(error).__name__}: {error}"[:4000]
            + "\n\nThe function's error alarm and its logs have the details; the next scheduled "
            "run starts again from the beginning."
        )
        try:
            self.sns.publish(
                TopicArn=self.options.topic_arn,
                Subject="AISB certificate rotation scan FAILED",
                Message=message,
            )
        except Exception:
            LOG.exception("could not send the failure notification")


def _counts(state: ScanState) -> dict[str, Any]:
    return {
        "run_id": state.run_id,
        "pages": state.pages,
        "scanned": state.scanned,
        "considered": state.considered,
        "due": state.due,
        "due_soon": state.due_soon,
    }


def render_report(options: Options, state: ScanState) -> tuple[str, str]:
    """The e-mail's subject (< 100 characters) and body (< 256 KiB, whatever the fleet size)."""
    subject = f"AISB: {state.due} device certificates due for rotation, {state.due_soon} due soon"
    subject = subject[: SNS_SUBJECT_LIMIT - 1]
    # Heap entries are [-created, id, age]: the largest first is the oldest first.
    oldest = sorted(state.oldest, key=lambda e: e[0], reverse=True)
    head = [
        "AISB certificate rotation report",
        *(
            [f"Drill {state.drill}: asked for by `aisb drill`; nothing to act on.", ""]
            if state.drill
            else []
        ),
        "",
        f"Run: {state.run_id}"
        + (f" ({state.invocation} invocations)" if state.invocation > 1 else ""),
        f"Rotation period: {options.rotation_days} days; "
        f"warning window: {options.warning_days} days.",
        f"Certificates listed: {state.scanned} (ACTIVE or PENDING_TRANSFER: {state.considered})",
        f"Due for rotation (at least {options.rotation_days} days old): {state.due}",
        f"Due within {options.warning_days} days: {state.due_soon}",
        "",
    ]
    tail = [""]
    if options.report_bucket:
        if state.report_objects:
            tail.append(
                f"Full report ({state.report_rows} certificates, {options.report_format}): "
                + ", ".join(f"s3://{options.report_bucket}/{key}" for key in state.report_objects)
            )
        else:
            tail.append("Full report: no certificate due or due soon, so no report file.")
        if state.things_skipped:
            tail.append(
                f"Thing names were not looked up for {state.things_skipped} certificates: "
                f"the budget of {options.thing_name_budget} calls was spent."
            )
    else:
        tail.append("No full report is kept: enable the report bucket (aisb:certReportBucket).")
    tail.append(
        "Expiry dates are not part of this scan: the Device Defender audit's "
        "DEVICE_CERTIFICATE_EXPIRING_CHECK reports certificates close to expiry."
    )

    def body(listed: list[list[Any]]) -> str:
        lines = list(head)
        if listed:
            lines.append(f"Oldest certificates due ({len(listed)} of {state.due}):")
            lines.extend(f"  {cert_id}  {age} days old" for _, cert_id, age in listed)
            if state.due > len(listed):
                lines.append(f"  ... and {state.due - len(listed)} more")
        return "\n".join(lines + tail)

    message = body(oldest)
    while len(message.encode()) > SNS_MESSAGE_LIMIT - 1024 and oldest:
        oldest = oldest[: len(oldest) // 2]
        message = body(oldest)
    return subject, message


def _clients() -> dict[str, Any]:
    session = boto3.session.Session()
    return {
        name: session.client(service, config=BOTO_CONFIG)
        for name, service in (
            ("iot", "iot"),
            ("sns", "sns"),
            ("s3", "s3"),
            ("lambda_client", "lambda"),
            ("dynamodb", "dynamodb"),
        )
    }


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point: a scheduled start (any event) or a continuation."""
    options = Options.from_env(os.environ)
    clients = _clients()
    ddb = clients.pop("dynamodb")
    lock = RunLock(ddb, options.lock_table, options.lease_seconds) if options.lock_table else None
    continuation = event.get("continuation") if isinstance(event, Mapping) else None
    state = ScanState(**continuation) if continuation else ScanState.start(datetime.now(UTC))
    if not continuation and isinstance(event, Mapping) and event.get("drill"):
        state.drill = str(event["drill"])
    if lock is not None:
        held = lock.renew(state.run_id) if continuation else lock.acquire(state.run_id)
        if not held:
            what = "a stale continuation" if continuation else "another scan holds the lease"
            LOG.warning("run %s not started: %s", state.run_id, what)
            return {"skipped": what, "run_id": state.run_id}
    scanner = Scanner(options, **clients)
    try:
        summary = scanner.run(
            state, context.get_remaining_time_in_millis, context.invoked_function_arn
        )
    except Exception:
        # A failed start gives the lease up so Lambda's retry can start again; a failed
        # continuation keeps it, so its retry resumes the same run.
        if lock is not None and not continuation:
            lock.release(state.run_id)
        raise
    if lock is not None and not summary["continued"]:
        lock.release(state.run_id)
    LOG.info(json.dumps(summary))
    return summary
