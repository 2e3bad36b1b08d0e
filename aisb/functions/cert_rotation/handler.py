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
invocation closes its report part, stores the page marker, the position within the page and
running totals in the lease item and invokes the function again asynchronously; only the last
invocation e-mails the summary. Time is checked before every thing-name lookup and before
every backoff sleep too, so sustained throttling hands over mid-page instead of running into the
900 s timeout. Nothing is silently truncated.

One scan at a time, without reserved concurrency (which fails on accounts whose concurrency
quota is the default 10: Lambda keeps 100 unreserved executions): a run holds a lease on one
item of a DynamoDB table (``LOCK_TABLE``), and that item, not the event, carries the run's
state between invocations. Lambda may deliver an asynchronous event more than once, and retries
a failed one (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html:
"it's possible for it to receive the same event from Lambda multiple times"; "two more times,
with a one-minute wait between the first two attempts"), so every hand-over is fenced:

- a start takes the lease with a conditional write for its own deadline plus
  ``LEASE_MARGIN_SECONDS`` (default 30, under the minute Lambda waits before a retry), so a
  start that times out never keeps Lambda's retry from taking the lease again;
- a hand-over writes the scan state and a fresh random token to the lease (extending it by
  ``HANDOVER_SECONDS``, default 6 hours: how long Lambda keeps an event it cannot deliver yet)
  *before* it invokes the continuation, whose event carries only the run id and that token;
- a continuation takes the token with a conditional write, so of two copies of one event only
  one scans: the other finds the token taken and stops (a duplicate, logged); a continuation
  whose run no longer holds the lease (a new run took it after it expired) is stale and raises,
  so the function's errors alarm fires;
- an invocation that fails with an error Lambda retries puts its event's token back (a start
  gives the lease up), so the retry resumes (or restarts) the run; the last invocation marks
  the lease finished.

A drill (``{"drill": "<id>"}``, sent by ``aisb drill``; the id matches
``[A-Za-z0-9_-]{1,64}``, anything else is refused and logged) is answered at once, without a
scan or the lease: it publishes ``Drill <id>`` to the topic with what the lease says (a scan
holds it, or when the last one finished).

Environment:
``TOPIC_ARN`` (required), ``ROTATION_DAYS`` (required), ``WARNING_DAYS`` (default 30),
``REPORT_BUCKET`` / ``REPORT_PREFIX`` (optional S3 report), ``REPORT_FORMAT`` (``csv`` or
``jsonl``), ``THING_NAMES`` (``true`` to look up attached things),
``THING_NAME_CALL_BUDGET`` (default 1000 per run), ``ALWAYS_REPORT`` (``true`` to e-mail
even when nothing is due), ``MAX_LISTED`` (oldest due certificates in the e-mail, default 25),
``RESERVE_SECONDS`` (default 60), ``LOCK_TABLE`` (the lease table; without it a scan must
finish in one invocation), ``LEASE_MARGIN_SECONDS`` (default 30), ``HANDOVER_SECONDS``
(default 21600), ``RETRY_ATTEMPTS`` and ``SCAN_INTERVAL_DAYS`` (what the failure e-mail says
comes next; defaults 2 and 30, the component sets both), ``ROTATION_JOB_TEMPLATE_ARN`` (when
set, the things of every due certificate get a rotation job from that template, 100 things to
a job; their names cost one ``ListPrincipalThings`` call per due certificate) and
``ROTATION_JOB_BUDGET`` (at most that many jobs a run, default 100; the e-mail says how many
things were left for the next run).
"""

from __future__ import annotations

import csv
import heapq
import io
import json
import logging
import os
import re
import secrets
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

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

# A job takes at most 100 targets ("The total number of targets associated with a job must
# not exceed 100", https://docs.aws.amazon.com/iot/latest/apireference/API_AssociateTargetsWithJob.html),
# so the things of due certificates are started 100 to a job, from the rotation job template.
ROTATION_TARGETS = 100
ROTATION_JOB_PREFIX = "aisb-rotation-"

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
    lease_margin_seconds: int = 30
    handover_seconds: int = 6 * 3600
    retry_attempts: int = 2
    scan_interval_days: int = 30
    rotation_job_template_arn: str | None = None
    rotation_job_budget: int = 100

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
            lease_margin_seconds=number("LEASE_MARGIN_SECONDS", 30, 1),
            handover_seconds=number("HANDOVER_SECONDS", 6 * 3600, 60),
            retry_attempts=number("RETRY_ATTEMPTS", 2, 0),
            scan_interval_days=number("SCAN_INTERVAL_DAYS", 30, 1),
            rotation_job_template_arn=env.get("ROTATION_JOB_TEMPLATE_ARN") or None,
            rotation_job_budget=number("ROTATION_JOB_BUDGET", 100, 1),
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
    rotation_pending: list[str] = field(default_factory=list)
    """Thing ARNs of due certificates waiting for the next rotation job (fewer than
    ``ROTATION_TARGETS``)."""
    rotation_jobs: list[str] = field(default_factory=list)
    rotation_things: int = 0
    rotation_skipped: int = 0

    @classmethod
    def start(cls, now: datetime) -> ScanState:
        return cls(
            run_id=now.strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8], now=now.isoformat()
        )

    def dumps(self) -> str:
        """The state as the lease item keeps it between invocations."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def loads(cls, text: str) -> ScanState:
        return cls(**json.loads(text))


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
DRILL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""What a drill id may be: it is printed into the security e-mail, so no links or markup."""
RUN_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{8}")
"""What ``ScanState.start`` makes: a continuation naming anything else is refused."""
TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")
"""What ``new_token`` makes (24 random bytes, URL-safe base64)."""


def new_token() -> str:
    """A secret no one can guess: who may act for a run next."""
    return secrets.token_urlsafe(24)


class LeaseLost(Exception):
    """The run no longer holds the lease: another invocation or run took it."""


class StaleContinuation(Exception):
    """A continuation whose run no longer holds the lease (raised so the errors alarm fires)."""


class RunLock:
    """One scan at a time: a lease on one item of a DynamoDB table.

    The item holds the run id, ``expires`` (epoch seconds), ``token`` (the secret of whoever
    may act for the run next: the invocation running it, or the continuation it handed over
    to), the scan state between invocations and, once the run is over, ``finished``. Every
    change is one conditional write, so two invocations never both act for a run.
    """

    def __init__(
        self,
        ddb: Any,
        table: str,
        margin_seconds: int = 30,
        handover_seconds: int = 6 * 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ddb, self.table, self.clock = ddb, table, clock
        self.margin, self.handover = margin_seconds, handover_seconds

    def _until(self, seconds: float) -> dict[str, str]:
        return {"N": str(int(self.clock() + seconds))}

    def _update(self, expression: str, condition: str, values: dict[str, Any], **kw: Any) -> Any:
        names = {
            "#run": "run_id",
            "#token": "token",
            "#expires": "expires",
            "#state": "state",
            "#finished": "finished",
            "#lock": "lock",
        }
        used = {k: v for k, v in names.items() if k in expression or k in condition}
        return self.ddb.update_item(
            TableName=self.table,
            Key=LOCK_KEY,
            UpdateExpression=expression,
            ConditionExpression=condition,
            ExpressionAttributeNames=used,
            ExpressionAttributeValues=values,
            **kw,
        )

    def acquire(self, run_id: str, holder: str, deadline_seconds: float) -> bool:
        """Take the lease for a new run until its invocation's deadline plus the margin; False
        while another run holds a live lease."""
        now = int(self.clock())
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item={
                    **LOCK_KEY,
                    "run_id": {"S": run_id},
                    "token": {"S": holder},
                    "expires": self._until(deadline_seconds + self.margin),
                    "started": {"N": str(now)},
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

    def hand_over(self, run_id: str, holder: str, token: str, state: str) -> None:
        """Store the run's state and the continuation's token, and keep the lease for as long
        as Lambda may take to deliver it; ``LeaseLost`` when ``holder`` no longer holds it."""
        try:
            self._update(
                "SET #token = :token, #state = :state, #expires = :expires",
                "#run = :run AND #token = :holder",
                {
                    ":token": {"S": token},
                    ":state": {"S": state},
                    ":expires": self._until(self.handover),
                    ":run": {"S": run_id},
                    ":holder": {"S": holder},
                },
            )
        except ClientError as e:
            if _code(e) == "ConditionalCheckFailedException":
                raise LeaseLost(f"run {run_id} lost its lease before handing over") from None
            raise

    def take(
        self, run_id: str, token: str, holder: str, deadline_seconds: float
    ) -> tuple[bool, Mapping[str, Any] | None]:
        """A continuation takes the token it was handed (once: a second copy of its event
        finds it taken) and the lease until its own deadline plus the margin. Returns whether
        it did, and the item: as written when it did, as found when it did not."""
        try:
            answer = self._update(
                "SET #token = :holder, #expires = :expires",
                "#run = :run AND #token = :token",
                {
                    ":holder": {"S": holder},
                    ":expires": self._until(deadline_seconds + self.margin),
                    ":run": {"S": run_id},
                    ":token": {"S": token},
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as e:
            if _code(e) == "ConditionalCheckFailedException":
                return False, e.response.get("Item")
            raise
        return True, answer["Attributes"]

    def restore(self, run_id: str, holder: str, token: str) -> bool:
        """Give the token back to the event that brought it (Lambda retries that event after a
        failure) and keep the lease for its retries; False when ``holder`` no longer holds it."""
        try:
            self._update(
                "SET #token = :token, #expires = :expires",
                "#run = :run AND #token = :holder",
                {
                    ":token": {"S": token},
                    ":expires": self._until(self.handover),
                    ":run": {"S": run_id},
                    ":holder": {"S": holder},
                },
            )
        except ClientError as e:
            if _code(e) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release(self, run_id: str, holder: str) -> None:
        """End the run's hold: the lease is free at once and remembers that the run finished
        (so a late copy of its last continuation knows it is a duplicate, not a stale one)."""
        now = int(self.clock())
        try:
            self._update(
                "SET #expires = :past, #finished = :now REMOVE #token, #state",
                "#run = :run AND #token = :holder",
                {
                    ":past": {"N": str(now - 1)},
                    ":now": {"N": str(now)},
                    ":run": {"S": run_id},
                    ":holder": {"S": holder},
                },
            )
        except ClientError as e:
            if _code(e) != "ConditionalCheckFailedException":
                raise

    def read(self) -> Mapping[str, Any] | None:
        """The lease item as it is now (a strongly consistent read), or None."""
        item: Mapping[str, Any] | None = self.ddb.get_item(
            TableName=self.table, Key=LOCK_KEY, ConsistentRead=True
        ).get("Item")
        return item


class HandsOver(Protocol):
    """What the scanner needs of its run's hold on the lease: to hand the run over."""

    def hand_over(self, state: ScanState) -> str: ...


class Fence:
    """What one invocation holds of its run's lease: the token now written in the item."""

    def __init__(self, lock: RunLock, run_id: str, holder: str) -> None:
        self.lock, self.run_id, self.holder = lock, run_id, holder

    def hand_over(self, state: ScanState) -> str:
        """Write the state and a new token to the lease; the token for the continuation."""
        token = new_token()
        self.lock.hand_over(self.run_id, self.holder, token, state.dumps())
        self.holder = token
        return token


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
        self._began = 1

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
        self,
        state: ScanState,
        remaining_ms: Callable[[], int],
        function_arn: str | None,
        fence: HandsOver | None = None,
    ) -> dict[str, Any]:
        """Scan from ``state.marker``; hand over (through ``fence``, the run's hold on its
        lease) or report. Returns a summary for the logs."""
        options = self.options
        self._began = state.invocation
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
                return self._hand_over(state, function_arn, fence)
            self._close(writer, state)
            if self.options.rotation_job_template_arn:
                self._start_rotation(state)
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
        rotate = (
            self._rotation_things(cert["certificateArn"])
            if verdict == "due" and self.options.rotation_job_template_arn
            else []
        )
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
        for thing_arn in rotate:
            state.rotation_pending.append(thing_arn)
            if len(state.rotation_pending) >= ROTATION_TARGETS:
                self._start_rotation(state)
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

    def _rotation_things(self, cert_arn: str) -> list[str]:
        """The ARNs of the things a due certificate is attached to (one or more
        ListPrincipalThings calls; out of time raises ``OutOfTime`` before anything counts)."""
        prefix = cert_arn.split(":cert/", 1)[0]
        arns: list[str] = []
        token: str | None = None
        while True:
            if self._overruns(0):
                raise OutOfTime
            kwargs: dict[str, Any] = {"principal": cert_arn, "maxResults": 250}
            if token:
                kwargs["nextToken"] = token
            page = call_with_backoff(
                self.iot.list_principal_things,
                sleep=self.sleep,
                overruns=self._overruns,
                **kwargs,
            )
            arns += [f"{prefix}:thing/{name}" for name in page.get("things", [])]
            token = page.get("nextToken")
            if not token:
                return arns

    def _start_rotation(self, state: ScanState) -> None:
        """One rotation job from the template for the pending things (at most
        ``ROTATION_TARGETS``); its id is the run's and the job's number, so a retried
        invocation finds the job it already made instead of making another."""
        targets = sorted(set(state.rotation_pending))
        state.rotation_pending = []
        if not targets:
            return
        if len(state.rotation_jobs) >= self.options.rotation_job_budget:
            state.rotation_skipped += len(targets)
            return
        job_id = f"{ROTATION_JOB_PREFIX}{state.run_id}-{len(state.rotation_jobs) + 1}"[:64]
        try:
            call_with_backoff(
                self.iot.create_job,
                sleep=self.sleep,
                overruns=self._overruns,
                jobId=job_id,
                targets=targets,
                jobTemplateArn=self.options.rotation_job_template_arn,
                targetSelection="SNAPSHOT",
                description=f"aisb: rotate certificates due in run {state.run_id}",
            )
        except ClientError as e:
            if _code(e) != "ResourceAlreadyExistsException":
                raise
        state.rotation_jobs.append(job_id)
        state.rotation_things += len(targets)
        LOG.info("rotation job %s started for %d things", job_id, len(targets))

    def _close(self, writer: ReportWriter | None, state: ScanState) -> None:
        if writer is None:
            return
        key = writer.close()
        state.report_rows += writer.rows
        if key:
            state.report_objects.append(key)

    # -- handing over and reporting ---------------------------------------------------------------

    def _hand_over(
        self, state: ScanState, function_arn: str | None, fence: HandsOver | None
    ) -> dict[str, Any]:
        if self.lambda_client is None or not function_arn:
            raise RuntimeError("time is running out and there is no function to continue in")
        if fence is None:
            raise RuntimeError("time is running out and there is no lease table to hand over in")
        state.invocation += 1
        # The state stays in the lease item; the event names the run and the one token that
        # lets a single copy of it continue (an event may be delivered more than once).
        token = fence.hand_over(state)
        self.lambda_client.invoke(
            FunctionName=function_arn,
            InvocationType="Event",
            Payload=json.dumps({"continuation": {"run_id": state.run_id, "token": token}}).encode(),
        )
        LOG.info(
            "continuing in invocation %d after %d certificates", state.invocation, state.scanned
        )
        return {"continued": True, **_counts(state)}

    def _report(self, state: ScanState) -> dict[str, Any]:
        summary = {"continued": False, **_counts(state)}
        if state.due == 0 and state.due_soon == 0 and not self.options.always_report:
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
            + "\n\nThe function's error alarm and its logs have the details.\n"
            + what_comes_next(self.options, state.run_id, self._began)
        )
        try:
            self.sns.publish(
                TopicArn=self.options.topic_arn,
                Subject="AISB certificate rotation scan FAILED",
                Message=message,
            )
        except Exception:
            LOG.exception("could not send the failure notification")


def what_comes_next(options: Options, run_id: str, began: int) -> str:
    """The failure e-mail's last sentences: what Lambda and the schedule do after this failure
    (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html)."""
    schedule = (
        "the next scheduled scan, at most "
        + ("1 day" if options.scan_interval_days == 1 else f"{options.scan_interval_days} days")
        + " away, starts again from the beginning."
    )
    if options.retry_attempts == 0:
        return f"Lambda does not retry this invocation: {schedule}"
    times = "once" if options.retry_attempts == 1 else f"up to {options.retry_attempts} times"
    if began > 1:
        retry = f"a retry resumes run {run_id} from its last hand-over (the lease is kept for it)"
    elif options.lock_table:
        retry = "a retry starts this scan again from the beginning (the lease was given up)"
    else:
        retry = "a retry starts this scan again from the beginning"
    return (
        f"Lambda retries this invocation {times}, the first a minute from now: {retry}. If "
        "every attempt fails, the event goes to the dead-letter queue, whose alarm notifies "
        f"this topic, and {schedule}"
    )


def _counts(state: ScanState) -> dict[str, Any]:
    return {
        "run_id": state.run_id,
        "pages": state.pages,
        "scanned": state.scanned,
        "considered": state.considered,
        "due": state.due,
        "due_soon": state.due_soon,
        "rotation_jobs": len(state.rotation_jobs),
    }


def render_report(options: Options, state: ScanState) -> tuple[str, str]:
    """The e-mail's subject (< 100 characters) and body (< 256 KiB, whatever the fleet size)."""
    subject = f"AISB: {state.due} device certificates due for rotation, {state.due_soon} due soon"
    subject = subject[: SNS_SUBJECT_LIMIT - 1]
    # Heap entries are [-created, id, age]: the largest first is the oldest first.
    oldest = sorted(state.oldest, key=lambda e: e[0], reverse=True)
    head = [
        "AISB certificate rotation report",
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
    if options.rotation_job_template_arn:
        tail.append(
            f"Rotation jobs started: {len(state.rotation_jobs)} for {state.rotation_things} "
            "things" + (f" ({', '.join(state.rotation_jobs[:20])})" if state.rotation_jobs else "")
        )
        if state.rotation_skipped:
            tail.append(
                f"Not started for {state.rotation_skipped} things: the budget of "
                f"{options.rotation_job_budget} jobs per run was spent."
            )
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


def _iso(epoch: str | int | float) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def lease_status(item: Mapping[str, Any] | None, now: float) -> tuple[str, str]:
    """What the lease item says, for a drill: a short word and a sentence."""
    if not item:
        return "free", "No scan holds the lease: a scheduled scan starting now would run."
    run = item.get("run_id", {}).get("S", "?")
    expires = item.get("expires", {}).get("N", "0")
    if "finished" in item:
        return "free", (
            f"No scan holds the lease; the last scan, run {run}, ended at "
            f"{_iso(item['finished']['N'])}."
        )
    if int(expires) < now:
        return "expired", (
            f"No scan holds the lease: run {run} stopped without finishing and its lease "
            f"expired at {_iso(expires)} (its failure e-mail, the errors alarm or the "
            "dead-letter queue say why); a scheduled scan starting now would run."
        )
    waiting = " (handed over, waiting for its next invocation)" if "state" in item else ""
    return "held", (
        f"Scan run {run} holds the lease until {_iso(expires)}{waiting}: a scheduled scan "
        "starting now would be skipped."
    )


def answer_drill(
    options: Options, sns: Any, lock: RunLock | None, drill_id: str, now: float
) -> dict[str, Any]:
    """Answer ``aisb drill`` at once: no scan, no lease, one message naming the drill."""
    if lock is None:
        word, lease = (
            "unknown",
            "This function has no lease table: it cannot tell whether a scan runs.",
        )
    else:
        try:
            word, lease = lease_status(lock.read(), now)
        except ClientError as error:
            word, lease = "unknown", f"The lease could not be read ({_code(error)})."
    message = "\n".join(
        [
            f"Drill {drill_id}: asked for by `aisb drill`; nothing to act on.",
            "",
            "The AISB certificate-rotation monitor received the drill and answers at once, "
            "without scanning the fleet.",
            lease,
            f"Scans run every {options.scan_interval_days} days; rotation period "
            f"{options.rotation_days} days, warning window {options.warning_days} days.",
        ]
    )
    sns.publish(
        TopicArn=options.topic_arn,
        Subject=f"AISB certificate monitor: Drill {drill_id}"[: SNS_SUBJECT_LIMIT - 1],
        Message=message,
    )
    return {"drill": drill_id, "lease": word, "notified": True}


def handler(
    event: Mapping[str, Any], context: Any, *, clock: Callable[[], float] = time.time
) -> dict[str, Any]:
    """Lambda entry point: a continuation, a drill, or a scheduled start (any other event)."""
    options = Options.from_env(os.environ)
    clients = _clients()
    ddb = clients.pop("dynamodb")
    lock = (
        RunLock(
            ddb,
            options.lock_table,
            options.lease_margin_seconds,
            options.handover_seconds,
            clock=clock,
        )
        if options.lock_table
        else None
    )
    event = event if isinstance(event, Mapping) else {}
    deadline = context.get_remaining_time_in_millis() / 1000
    if "continuation" in event:
        return _continue(options, clients, lock, event["continuation"], context, deadline)
    if "drill" in event:
        drill = event["drill"]
        if not isinstance(drill, str) or not DRILL_ID.fullmatch(drill):
            LOG.warning(
                "drill refused: its id must be 1 to 64 letters, digits, '-' or '_' (got %.80r)",
                drill,
            )
            return {"refused": "drill id"}
        summary = answer_drill(options, clients["sns"], lock, drill, clock())
        LOG.info(json.dumps(summary))
        return summary

    state = ScanState.start(datetime.fromtimestamp(clock(), UTC))
    fence: Fence | None = None
    if lock is not None:
        holder = new_token()
        if not lock.acquire(state.run_id, holder, deadline):
            LOG.warning("run %s not started: another scan holds the lease", state.run_id)
            return {"skipped": "another scan holds the lease", "run_id": state.run_id}
        fence = Fence(lock, state.run_id, holder)
    scanner = Scanner(options, **clients)
    try:
        summary = scanner.run(
            state, context.get_remaining_time_in_millis, context.invoked_function_arn, fence
        )
    except Exception:
        # A failed start gives the lease up so that Lambda's retry (a new run) can take it.
        if fence is not None:
            fence.lock.release(fence.run_id, fence.holder)
        raise
    return _finish(summary, fence)


def _finish(summary: dict[str, Any], fence: Fence | None) -> dict[str, Any]:
    if fence is not None and not summary["continued"]:
        fence.lock.release(fence.run_id, fence.holder)
    LOG.info(json.dumps(summary))
    return summary


def _continue(
    options: Options,
    clients: dict[str, Any],
    lock: RunLock | None,
    continuation: Any,
    context: Any,
    deadline: float,
) -> dict[str, Any]:
    """Resume a run from the state in its lease, if this event's token still opens it."""
    if lock is None:
        raise RuntimeError("a continuation needs the lease table that holds its run's state")
    run_id = continuation.get("run_id") if isinstance(continuation, Mapping) else None
    token = continuation.get("token") if isinstance(continuation, Mapping) else None
    if not (
        isinstance(run_id, str)
        and isinstance(token, str)
        and RUN_ID.fullmatch(run_id)
        and TOKEN.fullmatch(token)
    ):
        LOG.warning("continuation refused: it carries no well-formed run id and token")
        return {"refused": "continuation without a run id and token"}
    holder = new_token()
    took, item = lock.take(run_id, token, holder, deadline)
    if not took:
        owner = (item or {}).get("run_id", {}).get("S")
        live = int((item or {}).get("expires", {}).get("N", "0")) >= lock.clock()
        if owner == run_id and ("finished" in (item or {}) or live):
            # Another copy of this event took the token first (or a forged token).
            LOG.warning("run %s: continuation skipped: its token was already taken", run_id)
            return {"skipped": "a duplicate delivery", "run_id": run_id}
        held = f"held by run {owner}" if owner and live else "no longer held by it"
        raise StaleContinuation(
            f"run {run_id}: a stale continuation: the lease is {held}; the run did not finish "
            "and the next scheduled scan starts again"
        )
    assert item is not None
    state = ScanState.loads(item["state"]["S"])
    fence = Fence(lock, run_id, holder)
    scanner = Scanner(options, **clients)
    try:
        summary = scanner.run(
            state, context.get_remaining_time_in_millis, context.invoked_function_arn, fence
        )
    except Exception:
        # Lambda retries this event: give its token back so the retry resumes the run.
        if not lock.restore(run_id, fence.holder, token):
            LOG.warning("run %s: could not give the token back: the lease was lost", run_id)
        raise
    return _finish(summary, fence)
