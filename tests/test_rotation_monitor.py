"""The certificate monitor starting rotation jobs for the things of due certificates (moto):
100 things to a job, from the rotation template, idempotent on a retried invocation, bounded
by a per-run budget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.iot.models import iot_backends

from aisb.functions.cert_rotation import handler as cr
from tests.harness.aws import moto_in_process

REGION = "eu-west-1"
TEMPLATE = f"arn:aws:iot:{REGION}:{DEFAULT_ACCOUNT_ID}:jobtemplate/aisb-rotation-rotate"


class Context:
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{DEFAULT_ACCOUNT_ID}:function:monitor"

    def get_remaining_time_in_millis(self) -> int:
        return 800_000


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Any:
    with moto_in_process(monkeypatch, REGION):
        sns = boto3.client("sns", region_name=REGION)
        monkeypatch.setenv("TOPIC_ARN", sns.create_topic(Name="alerts")["TopicArn"])
        monkeypatch.setenv("ROTATION_DAYS", "365")
        yield boto3.client("iot", region_name=REGION)


def _fleet(iot: Any, due: int, fresh: int) -> None:
    backend = iot_backends[DEFAULT_ACCOUNT_ID][REGION]
    now = datetime.now(UTC).replace(tzinfo=None)
    for n in range(due + fresh):
        cert = iot.create_keys_and_certificate(setAsActive=True)
        age = 400 if n < due else 10
        backend.certificates[cert["certificateId"]].creation_date = now - timedelta(days=age)
        iot.create_thing(thingName=f"thing-{n:03d}")
        iot.attach_thing_principal(thingName=f"thing-{n:03d}", principal=cert["certificateArn"])


def _jobs() -> dict[str, list[str]]:
    backend = iot_backends[DEFAULT_ACCOUNT_ID][REGION]
    return {j.job_id: sorted(t.rsplit("/", 1)[1] for t in j.targets) for j in backend.jobs.values()}


def test_due_certificates_start_rotation_jobs_100_things_each(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fleet(aws, due=205, fresh=3)
    monkeypatch.setenv("ROTATION_JOB_TEMPLATE_ARN", TEMPLATE)
    requests: list[dict[str, Any]] = []
    real_clients = cr._clients

    def recording_clients() -> dict[str, Any]:
        clients = real_clients()
        clients["iot"].meta.events.register(
            "provide-client-params.iot.CreateJob", lambda params, **_: requests.append(params)
        )
        return clients

    monkeypatch.setattr(cr, "_clients", recording_clients)
    summary = cr.handler({"source": "aws.events"}, Context())
    assert summary["rotation_jobs"] == 3
    jobs = _jobs()
    assert sorted(len(t) for t in jobs.values()) == [5, 100, 100]
    assert all(j.startswith("aisb-rotation-") and len(j) <= 64 for j in jobs)
    started = sorted(t for targets in jobs.values() for t in targets)
    assert started == [f"thing-{n:03d}" for n in range(205)]  # the fresh ones are not started
    assert {r["jobTemplateArn"] for r in requests} == {TEMPLATE}
    assert {r["targetSelection"] for r in requests} == {"SNAPSHOT"}


def test_without_a_template_no_job_is_started(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _fleet(aws, due=3, fresh=0)
    monkeypatch.delenv("ROTATION_JOB_TEMPLATE_ARN", raising=False)
    assert cr.handler({"source": "aws.events"}, Context())["rotation_jobs"] == 0
    assert _jobs() == {}


def test_the_job_budget_bounds_a_run_and_the_report_says_so(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fleet(aws, due=150, fresh=0)
    monkeypatch.setenv("ROTATION_JOB_TEMPLATE_ARN", TEMPLATE)
    monkeypatch.setenv("ROTATION_JOB_BUDGET", "1")
    published: list[str] = []
    real = cr.Scanner._report

    def report(self: Any, state: Any) -> Any:
        published.append(cr.render_report(self.options, state)[1])
        return real(self, state)

    monkeypatch.setattr(cr.Scanner, "_report", report)
    assert cr.handler({"source": "aws.events"}, Context())["rotation_jobs"] == 1
    assert [len(t) for t in _jobs().values()] == [100]
    assert "Not started for 50 things" in published[0]


def test_a_retried_job_start_finds_the_job_it_made(aws: Any) -> None:
    _fleet(aws, due=1, fresh=0)
    options = cr.Options(topic_arn="t", rotation_days=365, rotation_job_template_arn=TEMPLATE)
    scanner = cr.Scanner(options, iot=aws, sns=None)
    scanner._remaining = lambda: 800_000
    state = cr.ScanState.start(datetime.now(UTC))
    thing = f"arn:aws:iot:{REGION}:{DEFAULT_ACCOUNT_ID}:thing/thing-000"
    state.rotation_pending = [thing]
    scanner._start_rotation(state)
    # The same invocation retried by Lambda: the same job id, already there.
    state.rotation_jobs, state.rotation_pending = [], [thing]
    scanner._start_rotation(state)
    assert len(_jobs()) == 1 and state.rotation_jobs == list(_jobs())
