"""The certificate rotation functions against moto: chain of custody, issuance, commit,
rollback on job failure and retirement after the grace period."""

from __future__ import annotations

import base64
import unicodedata
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from aisb.functions.cert_rotator import csr as csr_reader
from aisb.functions.cert_rotator import handler as rotator
from tests.harness.rotation import Cloud, cloud, csr_for


@pytest.fixture
def aws() -> Iterator[Cloud]:
    with cloud() as c:
        yield c


def _create(aws: Cloud, thing: str, job: str, principal: str, pem: str, **extra: Any) -> Any:
    event = {
        "jobId": job,
        "csr": pem,
        "thingName": thing,
        "principal": principal,
        "clientId": thing,
        **extra,
    }
    return rotator.create(event, **aws.kw())


def _commit(aws: Cloud, thing: str, job: str, principal: str) -> Any:
    event = {"jobId": job, "thingName": thing, "principal": principal, "clientId": thing}
    return rotator.commit(event, **aws.kw())


def _rotate(aws: Cloud, thing: str, principal: str) -> str:
    job = aws.start_job([thing])
    made = _create(
        aws, thing, job, principal, csr_for(ec.generate_private_key(ec.SECP256R1()), thing)
    )
    assert made["outcome"] == "accepted", made
    assert _commit(aws, thing, job, made["certificateId"])["outcome"] == "accepted"
    aws.set_execution(job, thing, "SUCCEEDED")
    assert (
        rotator.job_event(
            {
                "jobId": job,
                "status": "SUCCEEDED",
                "thingArn": f"arn:aws:iot:us-east-1:123456789012:thing/{thing}",
            },
            **aws.kw(),
        )["outcome"]
        == "succeeded"
    )
    return str(made["certificateId"])


def test_a_rotation_issues_commits_and_retires_after_the_grace_period(aws: Cloud) -> None:
    device = aws.add_device("pump-1")
    job = aws.start_job(["pump-1"])
    key = ec.generate_private_key(ec.SECP256R1())
    made = _create(aws, "pump-1", job, device.cert_id, csr_for(key, "pump-1"))
    assert made["outcome"] == "accepted"
    new = made["certificateId"]
    topic, body = aws.published()[-1]
    assert topic == "aisb/rotation/pump-1/create/accepted"
    issued = x509.load_pem_x509_certificate(body["certificatePem"].encode())
    assert issued.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # Same policies as the old certificate; attached to the thing exclusively.
    arn = aws.clients.iot.describe_certificate(certificateId=new)["certificateDescription"][
        "certificateArn"
    ]
    assert [
        p["policyName"] for p in aws.clients.iot.list_attached_policies(target=arn)["policies"]
    ] == ["device-policy"]
    exclusive = aws.clients.iot.list_thing_principals_v2(
        thingName="pump-1", thingPrincipalType="EXCLUSIVE_THING"
    )["thingPrincipalObjects"]
    assert {o["principal"].rsplit("/", 1)[1] for o in exclusive} == {device.cert_id, new}

    assert _commit(aws, "pump-1", job, new)["outcome"] == "accepted"
    assert aws.certificates("pump-1") == {device.cert_id: "INACTIVE", new: "ACTIVE"}
    # Within the grace period the old certificate stays; after it, it is gone.
    nothing = {"retired": 0, "rolledBack": 0, "completed": 0, "failed": 0}
    assert rotator.sweep(**aws.kw()) == nothing
    aws.clock[0] += 7 * 86400
    assert rotator.sweep(**aws.kw()) == {**nothing, "retired": 1}
    assert aws.certificates("pump-1") == {new: "ACTIVE"}
    # Day 2: the new certificate rotates again the same way.
    newer = _rotate(aws, "pump-1", new)
    aws.clock[0] += 7 * 86400
    rotator.sweep(**aws.kw())
    assert aws.certificates("pump-1") == {newer: "ACTIVE"}


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"clientId": "pump-1-other"}, "ClientIdMismatch"),
        ({"principal": "0" * 64}, "NotTheThingsCertificate"),
        ({"jobId": "someone-elses-job"}, "NotARotationJob"),
        ({"jobId": "aisb-rotation-none"}, "NoJobExecution"),
    ],
)
def test_create_refuses_a_broken_chain_of_custody(
    aws: Cloud, change: dict[str, str], code: str
) -> None:
    device = aws.add_device("pump-1")
    job = aws.start_job(["pump-1"])
    pem = csr_for(ec.generate_private_key(ec.SECP256R1()), "pump-1")
    event = {
        "jobId": job,
        "csr": pem,
        "thingName": "pump-1",
        "principal": device.cert_id,
        "clientId": "pump-1",
        **change,
    }
    answer = rotator.create(event, **aws.kw())
    assert (answer["outcome"], answer["code"]) == ("rejected", code)
    assert aws.published()[-1][0] == "aisb/rotation/pump-1/create/rejected"
    assert aws.active("pump-1") == [device.cert_id]


def test_create_refuses_without_an_in_progress_execution(aws: Cloud) -> None:
    device = aws.add_device("pump-1")
    job = aws.start_job(["pump-1"])
    aws.set_execution(job, "pump-1", "QUEUED")
    pem = csr_for(ec.generate_private_key(ec.SECP256R1()), "pump-1")
    assert _create(aws, "pump-1", job, device.cert_id, pem)["code"] == "JobNotInProgress"
    assert aws.active("pump-1") == [device.cert_id]


def test_create_refuses_a_certificate_not_attached_exclusively(aws: Cloud) -> None:
    device = aws.add_device("pump-1", exclusive=False)
    job = aws.start_job(["pump-1"])
    pem = csr_for(ec.generate_private_key(ec.SECP256R1()), "pump-1")
    assert _create(aws, "pump-1", job, device.cert_id, pem)["code"] == "NotTheThingsCertificate"


def _tampered(pem: str) -> str:
    der = bytearray(x509.load_pem_x509_csr(pem.encode()).public_bytes(serialization.Encoding.DER))
    der[-3] ^= 0x01
    return (
        "-----BEGIN CERTIFICATE REQUEST-----\n"
        + base64.b64encode(bytes(der)).decode()
        + "\n-----END CERTIFICATE REQUEST-----\n"
    )


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: csr_for(rsa.generate_private_key(65537, 2048), "pump-1"), "KeyAlgorithmRefused"),
        (lambda: csr_for(ec.generate_private_key(ec.SECP384R1()), "pump-1"), "KeyAlgorithmRefused"),
        (lambda: csr_for(ec.generate_private_key(ec.SECP256R1()), "pump-2"), "BadCsrSubject"),
        (
            lambda: _tampered(csr_for(ec.generate_private_key(ec.SECP256R1()), "pump-1")),
            "BadCsrSignature",
        ),
        (lambda: "not a request", "BadCsr"),
    ],
)
def test_create_refuses_a_request_the_job_did_not_ask_for(aws: Cloud, make: Any, code: str) -> None:
    device = aws.add_device("pump-1")
    job = aws.start_job(["pump-1"], algorithm="EC-P256")
    assert _create(aws, "pump-1", job, device.cert_id, make())["code"] == code
    assert aws.certificates("pump-1") == {device.cert_id: "ACTIVE"}


def test_an_rsa_job_accepts_an_rsa_2048_request(aws: Cloud) -> None:
    device = aws.add_device("pump-1")
    job = aws.start_job(["pump-1"], algorithm="RSA-2048")
    pem = csr_for(rsa.generate_private_key(65537, 2048), "pump-1")
    assert _create(aws, "pump-1", job, device.cert_id, pem)["outcome"] == "accepted"


def test_commit_with_the_old_certificate_is_refused(aws: Cloud) -> None:
    device = aws.add_device("pump-1")
    job = aws.start_job(["pump-1"])
    pem = csr_for(ec.generate_private_key(ec.SECP256R1()), "pump-1")
    new = _create(aws, "pump-1", job, device.cert_id, pem)["certificateId"]
    assert _commit(aws, "pump-1", job, device.cert_id)["code"] == "NotTheNewCertificate"
    assert aws.certificates("pump-1") == {device.cert_id: "ACTIVE", new: "ACTIVE"}


def test_a_repeated_create_replaces_the_unused_certificate(aws: Cloud) -> None:
    device = aws.add_device("pump-1")
    job = aws.start_job(["pump-1"])
    first = _create(
        aws,
        "pump-1",
        job,
        device.cert_id,
        csr_for(ec.generate_private_key(ec.SECP256R1()), "pump-1"),
    )["certificateId"]
    second = _create(
        aws,
        "pump-1",
        job,
        device.cert_id,
        csr_for(ec.generate_private_key(ec.SECP256R1()), "pump-1"),
    )["certificateId"]
    assert first != second
    assert aws.certificates("pump-1") == {device.cert_id: "ACTIVE", second: "ACTIVE"}


@pytest.mark.parametrize("status", ["FAILED", "TIMED_OUT", "CANCELED"])
def test_a_job_that_ends_badly_before_the_commit_rolls_back_and_alerts(
    aws: Cloud, status: str
) -> None:
    device = aws.add_device("pump-1")
    job = aws.start_job(["pump-1"])
    pem = csr_for(ec.generate_private_key(ec.SECP256R1()), "pump-1")
    assert _create(aws, "pump-1", job, device.cert_id, pem)["outcome"] == "accepted"
    aws.set_execution(job, "pump-1", status)
    event = {
        "jobId": job,
        "status": status,
        "statusDetails": {"reason": "new cert refused"},
        "thingArn": "arn:aws:iot:us-east-1:123456789012:thing/pump-1",
    }
    assert rotator.job_event(event, **aws.kw())["outcome"] == "rolled-back"
    assert aws.certificates("pump-1") == {device.cert_id: "ACTIVE"}
    assert status in aws.alerts()[-1] and "old one is still active" in aws.alerts()[-1]
    # A late duplicate of the event changes nothing and still tells people.
    assert rotator.job_event(event, **aws.kw())["outcome"] == "nothing-issued"
    assert aws.certificates("pump-1") == {device.cert_id: "ACTIVE"}


def test_a_timeout_after_the_commit_keeps_the_new_certificate(aws: Cloud) -> None:
    device = aws.add_device("pump-1")
    job = aws.start_job(["pump-1"])
    pem = csr_for(ec.generate_private_key(ec.SECP256R1()), "pump-1")
    new = _create(aws, "pump-1", job, device.cert_id, pem)["certificateId"]
    _commit(aws, "pump-1", job, new)
    event = {
        "jobId": job,
        "status": "TIMED_OUT",
        "thingArn": "arn:aws:iot:us-east-1:123456789012:thing/pump-1",
    }
    assert rotator.job_event(event, **aws.kw())["outcome"] == "kept-commit"
    assert aws.active("pump-1") == [new]


def test_the_sweeper_rolls_back_a_rotation_whose_event_never_came(aws: Cloud) -> None:
    device = aws.add_device("pump-1")
    job = aws.start_job(["pump-1"])
    pem = csr_for(ec.generate_private_key(ec.SECP256R1()), "pump-1")
    _create(aws, "pump-1", job, device.cert_id, pem)
    assert rotator.sweep(**aws.kw())["rolledBack"] == 0
    aws.set_execution(job, "pump-1", "TIMED_OUT")
    assert rotator.sweep(**aws.kw())["rolledBack"] == 1
    assert aws.certificates("pump-1") == {device.cert_id: "ACTIVE"}


def test_events_of_other_jobs_are_ignored(aws: Cloud) -> None:
    event = {
        "jobId": "firmware-1",
        "status": "FAILED",
        "thingArn": "arn:aws:iot:us-east-1:123456789012:thing/pump-1",
    }
    assert rotator.job_event(event, **aws.kw()) == {"outcome": "ignored"}


def test_the_csr_reader_reports_key_sizes_and_curves() -> None:
    assert csr_reader.parse(csr_for(rsa.generate_private_key(65537, 3072), "t")).key_algorithm == (
        "RSA-3072"
    )
    p384 = csr_reader.parse(csr_for(ec.generate_private_key(ec.SECP384R1()), "t"))
    assert (p384.key_algorithm, p384.signature_valid) == ("EC-1.3.132.0.34", False)
    with pytest.raises(csr_reader.CsrError):
        csr_reader.parse(
            "-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----"
        )


def test_an_internal_error_tells_the_device_and_fails_the_invocation(
    aws: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    device = aws.add_device("pump-1")
    job = aws.start_job(["pump-1"])
    pem = csr_for(ec.generate_private_key(ec.SECP256R1()), "pump-1")

    def broken(**_: Any) -> Any:
        raise RuntimeError("the state table is unreachable")

    monkeypatch.setattr(aws.clients.dynamodb, "put_item", broken)
    with pytest.raises(RuntimeError):
        _create(aws, "pump-1", job, device.cert_id, pem)
    assert aws.published()[-1] == (
        "aisb/rotation/pump-1/create/rejected",
        {"jobId": job, "code": "InternalError", "reason": "try again"},
    )
    # What it had issued is gone again: one active certificate, the old one.
    assert aws.certificates("pump-1") == {device.cert_id: "ACTIVE"}


def test_the_lambda_archive_imports_on_its_own(tmp_path: Any) -> None:
    """Lambda imports ``handler`` from the archive's root, beside ``csr`` and ``protocol``."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    from aisb.components.rotation import FUNCTION_DIR, HANDLERS

    for path in FUNCTION_DIR.glob("*.py"):
        shutil.copy(path, tmp_path / path.name)
    code = "import handler, sys; print(sorted(n for n in sys.modules if n.startswith('aisb')))"
    for entry in HANDLERS.values():
        code += f"; assert callable(handler.{entry.split('.')[1]})"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": "", "PYTHONPATH": str(tmp_path)},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"  # nothing of the aisb package: the archive alone
    assert Path(FUNCTION_DIR / "protocol.py").exists()


def test_a_new_rotation_within_the_grace_period_retires_the_old_one_first(aws: Cloud) -> None:
    device = aws.add_device("pump-1")
    first = _rotate(aws, "pump-1", device.cert_id)
    assert aws.certificates("pump-1") == {device.cert_id: "INACTIVE", first: "ACTIVE"}
    second = _rotate(aws, "pump-1", first)  # before the sweeper ran
    assert aws.certificates("pump-1") == {first: "INACTIVE", second: "ACTIVE"}
    aws.clock[0] += 7 * 86400
    assert rotator.sweep(**aws.kw())["retired"] == 1
    assert aws.certificates("pump-1") == {second: "ACTIVE"}


# --- a commit that fails part-way: claimed first, completed by whoever comes next ------------


def _throttled(operation: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, operation
    )


def _replies(aws: Cloud, thing: str, verb: str) -> list[str]:
    """The outcomes the device was sent on ``<verb>/accepted|rejected``, in order."""
    prefix = f"aisb/rotation/{thing}/{verb}/"
    return [t.removeprefix(prefix) for t, _ in aws.published() if t.startswith(prefix)]


def _issued(aws: Cloud, thing: str = "pump-1") -> tuple[Any, str, str]:
    device = aws.add_device(thing)
    job = aws.start_job([thing])
    pem = csr_for(ec.generate_private_key(ec.SECP256R1()), thing)
    made = _create(aws, thing, job, device.cert_id, pem)
    assert made["outcome"] == "accepted", made
    return device, job, str(made["certificateId"])


def _fail_once(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, when: Any) -> list[int]:
    """``owner.name`` raises a throttling error the first time ``when(kwargs)`` holds."""
    real = getattr(owner, name)
    failed: list[int] = []

    def flaky(*args: Any, **kwargs: Any) -> Any:
        if not failed and when(*args, **kwargs):
            failed.append(1)
            raise _throttled(name)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, flaky)
    return failed


@pytest.mark.parametrize(
    "step",
    ["claim write", "deactivation", "committed write", "reply"],
)
def test_a_commit_failing_part_way_is_completed_by_lambdas_retry_and_never_rejected(
    aws: Cloud, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    """Lambda retries a failed invocation (the same event) twice; whatever step of the first
    delivery was throttled, the device is never told ``rejected`` (it would go back to the old
    certificate), and the retry completes the commit."""
    device, job, new = _issued(aws)
    c = aws.clients
    writes: list[str] = []

    def nth_write(n: int) -> Any:
        def when(_c: Any, _o: Any, state: Any, _p: Any) -> bool:
            writes.append(state["phase"])
            return len(writes) == n

        return when

    if step == "claim write":
        failed = _fail_once(monkeypatch, rotator, "put_state", nth_write(1))
    elif step == "committed write":
        failed = _fail_once(monkeypatch, rotator, "put_state", nth_write(2))
    elif step == "deactivation":
        failed = _fail_once(
            monkeypatch, c.iot, "update_certificate", lambda **k: k["newStatus"] == "INACTIVE"
        )
    else:
        failed = _fail_once(
            monkeypatch, c.iot_data, "publish", lambda **k: k["topic"].endswith("/commit/accepted")
        )
    with pytest.raises(ClientError):  # the invocation fails, so Lambda retries it
        _commit(aws, "pump-1", job, new)
    assert failed == [1]
    # Before its claim is known to be written the commit says nothing (the device commits
    # again); after it, "accepted": whoever comes next completes it. (When the reply itself
    # failed, the device heard nothing either.)
    first_answers = [] if step in ("claim write", "reply") else ["accepted"]
    assert _replies(aws, "pump-1", "commit") == first_answers
    # Lambda's retry of the same event, a minute later.
    assert _commit(aws, "pump-1", job, new)["outcome"] == "accepted"
    assert aws.certificates("pump-1") == {device.cert_id: "INACTIVE", new: "ACTIVE"}
    assert set(_replies(aws, "pump-1", "commit")) == {"accepted"}
    state = rotator.get_state(c, aws.options, "pump-1")
    assert state is not None and state["phase"] == "COMMITTED"
    # And the rotation ends as any other: the job's event, then retirement.
    aws.set_execution(job, "pump-1", "SUCCEEDED")
    event = {"jobId": job, "status": "SUCCEEDED", "thingArn": "arn:aws:iot:::thing/pump-1"}
    assert rotator.job_event(event, **aws.kw())["outcome"] == "succeeded"
    aws.clock[0] += 7 * 86400
    assert rotator.sweep(**aws.kw())["retired"] == 1
    assert aws.certificates("pump-1") == {new: "ACTIVE"}
    # Day 2: the certificate rotates again, the service answering.
    monkeypatch.undo()
    newer = _rotate(aws, "pump-1", new)
    assert aws.certificates("pump-1") == {new: "INACTIVE", newer: "ACTIVE"}


@pytest.mark.parametrize(
    ("status", "outcome"), [("SUCCEEDED", "succeeded"), ("FAILED", "kept-commit")]
)
def test_a_claimed_commit_whose_retries_all_failed_is_completed_not_rolled_back(
    aws: Cloud, monkeypatch: pytest.MonkeyPatch, status: str, outcome: str
) -> None:
    """The device heard ``accepted`` (it may have dropped its old key); the job's event, or the
    sweep when no event comes, completes the commit instead of rolling it back."""
    device, job, new = _issued(aws)
    real = aws.clients.iot.update_certificate

    def down(**kwargs: Any) -> Any:
        raise _throttled("UpdateCertificate")

    monkeypatch.setattr(aws.clients.iot, "update_certificate", down)
    for _ in range(3):  # the first delivery and Lambda's two retries
        with pytest.raises(ClientError):
            _commit(aws, "pump-1", job, new)
    assert set(_replies(aws, "pump-1", "commit")) == {"accepted"}
    monkeypatch.setattr(aws.clients.iot, "update_certificate", real)
    aws.set_execution(job, "pump-1", status)
    event = {"jobId": job, "status": status, "thingArn": "arn:aws:iot:::thing/pump-1"}
    assert rotator.job_event(event, **aws.kw())["outcome"] == outcome
    assert aws.certificates("pump-1") == {device.cert_id: "INACTIVE", new: "ACTIVE"}
    # A late duplicate of the event changes nothing.
    rotator.job_event(event, **aws.kw())
    assert aws.certificates("pump-1") == {device.cert_id: "INACTIVE", new: "ACTIVE"}


def test_the_sweep_completes_a_claimed_commit_whose_event_never_came(
    aws: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    device, job, new = _issued(aws)
    _fail_once(monkeypatch, aws.clients.iot, "update_certificate", lambda **k: True)
    with pytest.raises(ClientError):
        _commit(aws, "pump-1", job, new)
    aws.set_execution(job, "pump-1", "TIMED_OUT")
    assert rotator.sweep(**aws.kw())["completed"] == 1
    assert aws.certificates("pump-1") == {device.cert_id: "INACTIVE", new: "ACTIVE"}
    assert rotator.sweep(**aws.kw())["completed"] == 0  # day 2: nothing left to do


# --- a commit repeated after the job ended -------------------------------------------------


def test_a_repeated_commit_after_the_job_timed_out_is_accepted_when_committed(aws: Cloud) -> None:
    """Every answer to the commit was lost, the device kept the new key and the rotation
    pending; the job timed out before its next run. The cloud committed: it says so again."""
    device, job, new = _issued(aws)
    assert _commit(aws, "pump-1", job, new)["outcome"] == "accepted"
    aws.set_execution(job, "pump-1", "TIMED_OUT")
    event = {"jobId": job, "status": "TIMED_OUT", "thingArn": "arn:aws:iot:::thing/pump-1"}
    assert rotator.job_event(event, **aws.kw())["outcome"] == "kept-commit"
    again = _commit(aws, "pump-1", job, new)
    assert (again["outcome"], again["certificateId"]) == ("accepted", new)
    assert _replies(aws, "pump-1", "commit") == ["accepted", "accepted"]
    assert aws.certificates("pump-1") == {device.cert_id: "INACTIVE", new: "ACTIVE"}
    # Only the new certificate can commit, and only a rotation that was committed.
    assert _commit(aws, "pump-1", job, device.cert_id)["code"] == "NotTheNewCertificate"


def test_a_commit_after_the_job_timed_out_without_a_commit_is_refused(aws: Cloud) -> None:
    device, job, new = _issued(aws)
    aws.set_execution(job, "pump-1", "TIMED_OUT")
    assert _commit(aws, "pump-1", job, new)["code"] == "JobNotInProgress"
    assert aws.certificates("pump-1") == {device.cert_id: "ACTIVE", new: "ACTIVE"}


# --- commit and rollback racing for one rotation -------------------------------------------


def test_a_rollback_between_a_commits_checks_and_its_claim_wins_and_the_commit_is_refused(
    aws: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    device, job, new = _issued(aws)
    real = rotator.exclusive_certificates
    ran: list[str] = []

    def then_time_out(c: Any, thing: str) -> Any:
        found = real(c, thing)
        if not ran:  # the commit checked the job; now it times out and the event is handled
            aws.set_execution(job, thing, "TIMED_OUT")
            event = {"jobId": job, "status": "TIMED_OUT", "thingArn": f"arn:x:iot:::thing/{thing}"}
            ran.append(rotator.job_event(event, **aws.kw())["outcome"])
        return found

    monkeypatch.setattr(rotator, "exclusive_certificates", then_time_out)
    answer = _commit(aws, "pump-1", job, new)
    assert ran == ["rolled-back"]
    assert answer["outcome"] == "rejected"  # the device goes back to its old certificate ...
    assert aws.certificates("pump-1") == {device.cert_id: "ACTIVE"}  # ... which is active


def test_a_commit_between_a_rollbacks_read_and_its_claim_wins_and_is_kept(
    aws: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    device, job, new = _issued(aws)
    real = rotator.get_state
    armed: list[bool] = [True]
    answers: list[str] = []

    def then_commit(c: Any, options: Any, thing: str) -> Any:
        state = real(c, options, thing)
        if armed[0]:  # the event read CREATED; the device's commit lands before it acts
            armed[0] = False
            answers.append(_commit(aws, thing, job, new)["outcome"])
            aws.set_execution(job, thing, "TIMED_OUT")
        return state

    monkeypatch.setattr(rotator, "get_state", then_commit)
    event = {"jobId": job, "status": "TIMED_OUT", "thingArn": "arn:aws:iot:::thing/pump-1"}
    assert rotator.job_event(event, **aws.kw())["outcome"] == "kept-commit"
    assert answers == ["accepted"]  # the device uses the new certificate ...
    assert aws.certificates("pump-1") == {device.cert_id: "INACTIVE", new: "ACTIVE"}  # ... kept


def test_an_interrupted_rollback_is_resumed_and_a_commit_meanwhile_is_refused(
    aws: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    device, job, new = _issued(aws)
    failed = _fail_once(monkeypatch, aws.clients.iot, "delete_certificate", lambda **k: True)
    aws.set_execution(job, "pump-1", "FAILED")
    event = {"jobId": job, "status": "FAILED", "thingArn": "arn:aws:iot:::thing/pump-1"}
    with pytest.raises(ClientError):
        rotator.job_event(event, **aws.kw())
    assert failed == [1]
    state = rotator.get_state(aws.clients, aws.options, "pump-1")
    assert state is not None and state["phase"] == "ROLLING_BACK"
    # A commit now (the job ended; the rollback claimed the rotation) is refused ...
    assert _commit(aws, "pump-1", job, new)["code"] in ("NothingToCommit", "JobNotInProgress")
    # ... a create of a new job waits for the rollback ...
    job2 = aws.start_job(["pump-1"])
    pem = csr_for(ec.generate_private_key(ec.SECP256R1()), "pump-1")
    assert _create(aws, "pump-1", job2, device.cert_id, pem)["code"] == "RotationInProgress"
    # ... and Lambda's retry of the event finishes the rollback.
    assert rotator.job_event(event, **aws.kw())["outcome"] == "rolled-back"
    assert aws.certificates("pump-1") == {device.cert_id: "ACTIVE"}
    assert rotator.get_state(aws.clients, aws.options, "pump-1") is None


def test_the_sweep_resumes_an_interrupted_rollback(
    aws: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    device, job, _ = _issued(aws)
    _fail_once(monkeypatch, aws.clients.iot, "delete_certificate", lambda **k: True)
    aws.set_execution(job, "pump-1", "CANCELED")
    event = {"jobId": job, "status": "CANCELED", "thingArn": "arn:aws:iot:::thing/pump-1"}
    with pytest.raises(ClientError):
        rotator.job_event(event, **aws.kw())
    assert rotator.sweep(**aws.kw())["rolledBack"] == 1
    assert aws.certificates("pump-1") == {device.cert_id: "ACTIVE"}


# --- the sweep goes on past one bad item; device text in alerts ----------------------------


def test_one_failing_rotation_does_not_stop_the_sweep(
    aws: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = {}
    devices = {}
    for thing in ("pump-1", "pump-2", "pump-3"):
        devices[thing], jobs[thing], _ = _issued(aws, thing)
        aws.set_execution(jobs[thing], thing, "TIMED_OUT")
    real = aws.clients.iot.describe_job_execution

    def broken_for_pump_2(**kwargs: Any) -> Any:
        if kwargs["thingName"] == "pump-2":
            raise _throttled("DescribeJobExecution")
        return real(**kwargs)

    monkeypatch.setattr(aws.clients.iot, "describe_job_execution", broken_for_pump_2)
    swept = rotator.sweep(**aws.kw())
    assert (swept["rolledBack"], swept["failed"]) == (2, 1)
    assert aws.active("pump-1") == [devices["pump-1"].cert_id]
    assert aws.active("pump-3") == [devices["pump-3"].cert_id]
    assert "pump-2 (CREATED): ThrottlingException" in aws.alerts()[-1]
    # The next run, the service answering again, rolls back the one left.
    monkeypatch.setattr(aws.clients.iot, "describe_job_execution", real)
    assert rotator.sweep(**aws.kw()) == {"retired": 0, "rolledBack": 1, "completed": 0, "failed": 0}
    assert aws.active("pump-2") == [devices["pump-2"].cert_id]


def test_device_status_details_are_labelled_printable_and_short_in_the_alert(aws: Cloud) -> None:
    _, job, _ = _issued(aws)
    aws.set_execution(job, "pump-1", "FAILED")
    evil = "\x1b[2J\u202eelif\r\nSubject: urgent\x00 " + "A" * 5000
    event = {
        "jobId": job,
        "status": "FAILED",
        "statusDetails": {"reason": evil, "step\n": "x"},
        "thingArn": "arn:aws:iot:::thing/pump-1",
    }
    assert rotator.job_event(event, **aws.kw())["outcome"] == "rolled-back"
    message = aws.alerts()[-1]
    assert "device-supplied, unverified" in message
    assert "Subject: urgent" in message  # kept as text, on the same line
    assert not [ch for ch in message if unicodedata.category(ch).startswith("C")]
    assert len(message) < rotator.DEVICE_TEXT_LIMIT + 300
    assert rotator.device_text(None) == "the device gave no details"


def test_a_final_refusal_of_a_commit_claims_the_rollback_first(
    aws: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commit A passes its checks; the job times out; the device's next commit B is refused
    (JobNotInProgress, final: the device goes back to its old certificate). A must not claim
    the commit afterwards and deactivate the certificate the device went back to."""
    device, job, new = _issued(aws)
    real = rotator.exclusive_certificates
    armed = [True]
    answers: list[Any] = []

    def checks_then_b(c: Any, thing: str) -> Any:
        found = real(c, thing)
        if armed[0]:
            armed[0] = False
            aws.set_execution(job, thing, "TIMED_OUT")
            answers.append(_commit(aws, thing, job, new).get("code"))  # commit B
        return found

    monkeypatch.setattr(rotator, "exclusive_certificates", checks_then_b)
    a = _commit(aws, "pump-1", job, new)  # commit A, whose checks passed before the timeout
    assert answers == ["JobNotInProgress"]
    assert a["outcome"] == "rejected"
    assert aws.certificates("pump-1")[device.cert_id] == "ACTIVE"
    state = rotator.get_state(aws.clients, aws.options, "pump-1")
    assert state is not None and state["phase"] == "ROLLING_BACK"
    # The job's event completes the rollback the refusal claimed.
    monkeypatch.undo()
    rotator.sweep(**aws.kw())
    assert aws.active("pump-1") == [device.cert_id]


def test_a_repeated_create_racing_a_commit_never_leaves_no_active_certificate(
    aws: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A redelivered create of the same job runs while the device commits with the first
    certificate: whichever claims first wins, and the thing keeps an active certificate the
    device can use."""
    device, job, first = _issued(aws)
    real = rotator.csr_reader.parse
    armed = [True]
    answers: list[Any] = []

    def parse_then_commit(pem: str) -> Any:
        if armed[0]:  # create has read CREATED(first); the device's commit lands now
            armed[0] = False
            answers.append(_commit(aws, "pump-1", job, first)["outcome"])
        return real(pem)

    monkeypatch.setattr(rotator.csr_reader, "parse", parse_then_commit)
    pem = csr_for(ec.generate_private_key(ec.SECP256R1()), "pump-1")
    created = _create(aws, "pump-1", job, device.cert_id, pem)
    assert answers == ["accepted"]
    # The commit claimed first: the redelivered create finds the rotation committed.
    assert created["outcome"] == "rejected"
    assert aws.active("pump-1") == [first]
    state = rotator.get_state(aws.clients, aws.options, "pump-1")
    assert state is not None and state["phase"] == "COMMITTED"
