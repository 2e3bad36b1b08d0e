"""The certificate rotation functions against moto: chain of custody, issuance, commit,
rollback on job failure and retirement after the grace period."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
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
    assert rotator.sweep(**aws.kw()) == {"retired": 0, "rolledBack": 0}
    aws.clock[0] += 7 * 86400
    assert rotator.sweep(**aws.kw()) == {"retired": 1, "rolledBack": 0}
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
