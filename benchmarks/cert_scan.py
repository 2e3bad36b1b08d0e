"""Benchmark of the certificate-rotation scanner on synthetic fleets.

    uv run python benchmarks/cert_scan.py [--sizes 10000 100000 1000000]

A fake IoT client serves ListCertificates page by page (250 per page, generated on demand,
no sleeping), a fake SNS client keeps the message. For each fleet size it prints:
certificates per second, ListCertificates calls per 1,000 certificates (and any other IoT
calls), peak memory traced during the scan, the scanner's time over a bare loop that only
pages through the same fake client, and the size of the e-mail. Targets: exactly
ceil(N/250) list calls and no per-certificate call; time <= 1.5x the bare loop; peak
memory growth < 50 MB from 10k to 1M; every message <= 256 KiB.
"""

from __future__ import annotations

import argparse
import gc
import math
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any

from machine import print_header

from aisb.functions.cert_rotation import handler as cr

NOW = datetime(2026, 11, 1, tzinfo=UTC)
BASE = NOW - timedelta(days=2000)


class FakeIot:
    """Serves a fleet of ``size`` certificates, 1 in 4 older than three years, page by page."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.list_calls = 0
        self.other_calls = 0

    def list_certificates(
        self, pageSize: int, marker: str | None = None, **_: Any
    ) -> dict[str, Any]:
        self.list_calls += 1
        start = int(marker) if marker else 0
        end = min(start + pageSize, self.size)
        certificates = [
            {
                "certificateId": f"{i:064x}",
                "certificateArn": f"arn:aws:iot:us-east-1:123456789012:cert/{i:064x}",
                "status": "ACTIVE" if i % 10 else "INACTIVE",
                "creationDate": BASE + timedelta(minutes=(i * 7919) % (2000 * 1440)),
            }
            for i in range(start, end)
        ]
        page: dict[str, Any] = {"certificates": certificates}
        if end < self.size:
            page["nextMarker"] = str(end)
        return page

    def list_principal_things(self, **_: Any) -> dict[str, Any]:
        self.other_calls += 1
        return {"things": []}


class FakeSns:
    def __init__(self) -> None:
        self.messages: list[dict[str, str]] = []

    def publish(self, **kwargs: str) -> dict[str, str]:
        self.messages.append(kwargs)
        return {"MessageId": "m"}


class FakeS3:
    """Accepts the multipart report upload and keeps only its size."""

    def __init__(self) -> None:
        self.bytes = 0

    def create_multipart_upload(self, **_: Any) -> dict[str, str]:
        return {"UploadId": "u"}

    def upload_part(self, Body: bytes, **_: Any) -> dict[str, str]:
        self.bytes += len(Body)
        return {"ETag": '"e"'}

    def complete_multipart_upload(self, **_: Any) -> dict[str, str]:
        return {}

    def abort_multipart_upload(self, **_: Any) -> dict[str, str]:
        return {}


def bare_loop(size: int) -> float:
    iot = FakeIot(size)
    started = time.perf_counter()
    marker = None
    while True:
        page = iot.list_certificates(pageSize=250, marker=marker)
        for _cert in page["certificates"]:
            pass
        marker = page.get("nextMarker")
        if not marker:
            break
    return time.perf_counter() - started


def scan(
    size: int, trace: bool, report: bool = False
) -> tuple[float, FakeIot, FakeSns, dict[str, Any], int]:
    iot, sns, s3 = FakeIot(size), FakeSns(), FakeS3()
    options = cr.Options(
        topic_arn="arn:aws:sns:us-east-1:123456789012:t",
        rotation_days=1095,
        report_bucket="reports" if report else None,
    )
    scanner = cr.Scanner(options, iot=iot, sns=sns, s3=s3)
    state = cr.ScanState(run_id="bench", now=NOW.isoformat())
    gc.collect()
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    summary = scanner.run(state, lambda: 900_000, None)
    elapsed = time.perf_counter() - started
    peak = 0
    if trace:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return elapsed, iot, sns, summary, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3, help="timing runs; the best is kept")
    parser.add_argument(
        "--report", action="store_true", help="also stream the CSV report (to a fake S3)"
    )
    args = parser.parse_args()
    print_header()

    print(
        f"{'certs':>9} {'certs/s':>10} {'list calls':>10} {'/1k':>5} {'other':>5} "
        f"{'peak MB':>8} {'x bare':>7} {'msg KiB':>8} {'due':>8}"
    )
    peaks = {}
    for size in args.sizes:
        handler_time = min(scan(size, False, args.report)[0] for _ in range(args.repeat))
        bare_time = min(bare_loop(size) for _ in range(args.repeat))
        _, iot, sns, summary, peak = scan(size, True, args.report)
        peaks[size] = peak
        message = sns.messages[0]["Message"].encode() if sns.messages else b""
        assert iot.list_calls == math.ceil(size / 250), "list calls"
        assert len(message) <= 256 * 1024, "message size"
        print(
            f"{size:>9} {size / handler_time:>10,.0f} {iot.list_calls:>10} "
            f"{iot.list_calls * 1000 / size:>5.1f} {iot.other_calls:>5} {peak / 2**20:>8.2f} "
            f"{handler_time / bare_time:>7.2f} {len(message) / 1024:>8.1f} {summary['due']:>8}"
        )
    if len(peaks) > 1:
        small, large = min(peaks), max(peaks)
        print(
            f"peak memory growth {small} -> {large}: {(peaks[large] - peaks[small]) / 2**20:.2f} MB"
        )


if __name__ == "__main__":
    main()
