"""Issuance from AWS Private CA (``private_ca_arn``), which moto does not run end to end:
botocore's Stubber answers acm-pca and iot, and checks every request against the models."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from aisb import iam
from aisb.functions.cert_rotator import handler as rotator
from tests.harness.aws import StubbedClients
from tests.harness.iam_eval import Request, evaluate
from tests.harness.rotation import CREDENTIALS, Cloud, TestCa, cloud, csr_for

CA = "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/ca-1"
ISSUED = f"{CA}/certificate/c-1"


def test_a_private_ca_issues_and_aws_iot_registers_the_certificate() -> None:
    aws = StubbedClients(["acm-pca", "iot"])
    key = ec.generate_private_key(ec.SECP256R1())
    pem = csr_for(key, "pump-1")
    cert_pem = TestCa().sign(key.public_key(), "pump-1")
    options = rotator.Options(
        state_table="t", alert_topic_arn="a", pca_ca_arn=CA, pca_validity_days=90
    )
    aws.ok(
        "acm-pca",
        "issue_certificate",
        {"CertificateArn": ISSUED},
        {
            "CertificateAuthorityArn": CA,
            "Csr": pem.encode(),
            "SigningAlgorithm": "SHA256WITHRSA",
            # Client authentication only: without a template Private CA issues
            # EndEntityCertificate/V1 (server and client authentication).
            "TemplateArn": "arn:aws:acm-pca:::template/EndEntityClientAuthCertificate/V1",
            "Validity": {"Value": 90, "Type": "DAYS"},
        },
    )
    # The waiter's GetCertificate, then the handler's own.
    for _ in range(2):
        aws.ok(
            "acm-pca",
            "get_certificate",
            {"Certificate": cert_pem, "CertificateChain": ""},
            {"CertificateAuthorityArn": CA, "CertificateArn": ISSUED},
        )
    aws.ok(
        "iot",
        "register_certificate_without_ca",
        {
            "certificateArn": "arn:aws:iot:us-east-1:123456789012:cert/" + "b" * 64,
            "certificateId": "b" * 64,
        },
        {"certificatePem": cert_pem, "status": "ACTIVE"},
    )
    clients = rotator.Clients(
        iot=aws.clients["iot"], iot_data=None, dynamodb=None, sns=None, pca=aws.clients["acm-pca"]
    )
    cert_id, arn, issued = rotator.issue(clients, options, pem)
    assert (cert_id, arn.endswith("/" + "b" * 64), issued) == ("b" * 64, True, cert_pem)
    aws.verify()


def test_without_a_private_ca_aws_iot_issues_from_the_csr() -> None:
    aws = StubbedClients(["iot"])
    pem = csr_for(ec.generate_private_key(ec.SECP256R1()), "pump-1")
    aws.ok(
        "iot",
        "create_certificate_from_csr",
        {
            "certificateArn": "arn:aws:iot:us-east-1:1:cert/c",
            "certificateId": "c" * 64,
            "certificatePem": "PEM",
        },
        {"certificateSigningRequest": pem, "setAsActive": True},
    )
    clients = rotator.Clients(iot=aws.clients["iot"], iot_data=None, dynamodb=None, sns=None)
    options = rotator.Options(state_table="t", alert_topic_arn="a")
    assert rotator.issue(clients, options, pem)[0] == "c" * 64
    aws.verify()


def _policy(role: str, ca: str = CA, partition: str = "aws") -> Any:
    return iam.rotation_function_policy(
        role,
        partition=partition,
        region="us-east-1",
        account_id="123456789012",
        log_group_arn="arn:aws:logs:us-east-1:123456789012:log-group:/aisb/r",
        table_arn="arn:aws:dynamodb:us-east-1:123456789012:table/t",
        dead_letter_queue_arn="arn:aws:sqs:us-east-1:123456789012:q",
        topic_arn="arn:aws:sns:us-east-1:123456789012:a",
        topic_key_arn=None,
        private_ca_arn=ca,
    )


@pytest.mark.parametrize("partition", ["aws", "aws-cn", "aws-us-gov"])
def test_the_create_grant_issues_only_with_the_template_the_function_asks_for(
    partition: str,
) -> None:
    ca = f"arn:{partition}:acm-pca:us-east-1:123456789012:certificate-authority/ca-1"
    template = rotator.client_auth_template_arn(ca)
    assert template == f"arn:{partition}:acm-pca:::template/EndEntityClientAuthCertificate/V1"
    assert iam.ROTATION_PCA_TEMPLATE == rotator.CLIENT_AUTH_TEMPLATE
    statements = _policy("create", ca, partition)["Statement"]

    def issue(context: dict[str, Any]) -> bool:
        return evaluate(statements, Request("acm-pca:IssueCertificate", ca, context)).allowed

    assert issue({"acm-pca:TemplateArn": template})
    assert not issue({})  # no template: EndEntityCertificate/V1, server authentication too
    other = f"arn:{partition}:acm-pca:::template/EndEntityCertificate/V1"
    assert not issue({"acm-pca:TemplateArn": other})
    assert evaluate(statements, Request("acm-pca:GetCertificate", ca)).allowed
    assert evaluate(statements, Request("acm-pca:RevokeCertificate", ca)).allowed


def test_only_the_functions_that_discard_certificates_may_revoke() -> None:
    def may_revoke(role: str) -> bool:
        statements = _policy(role)["Statement"]
        return evaluate(statements, Request("acm-pca:RevokeCertificate", CA)).allowed

    assert {r: may_revoke(r) for r in ("create", "commit", "events", "sweep")} == {
        "create": True,
        "commit": False,
        "events": True,
        "sweep": True,
    }
    for role in ("commit", "events", "sweep"):
        assert not evaluate(
            _policy(role)["Statement"],
            Request(
                "acm-pca:IssueCertificate",
                CA,
                {"acm-pca:TemplateArn": rotator.client_auth_template_arn(CA)},
            ),
        ).allowed


def test_the_serial_is_read_as_openssl_prints_it() -> None:
    ca = TestCa()
    for _ in range(20):  # random serials: some with the high bit set (a DER sign byte)
        pem = ca.sign(ec.generate_private_key(ec.SECP256R1()).public_key(), "pump-1")
        number = x509.load_pem_x509_certificate(pem.encode()).serial_number
        raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
        assert rotator.certificate_serial(pem) == ":".join(f"{b:02x}" for b in raw)


# --- Private CA issuance through the real functions: moto's AWS IoT, a stubbed acm-pca ------


@pytest.fixture
def pca_cloud() -> Iterator[tuple[Cloud, Stubber]]:
    with cloud() as aws:
        client = boto3.client("acm-pca", region_name="us-east-1", **CREDENTIALS)
        stub = Stubber(client)
        stub.activate()
        aws.clients.pca = client
        aws.options = rotator.Options(
            state_table=aws.options.state_table,
            alert_topic_arn=aws.options.alert_topic_arn,
            pca_ca_arn=CA,
        )
        yield aws, stub


def _expect_issue(aws: Cloud, stub: Stubber, pem: str) -> str:
    """The stubbed CA signs ``pem``'s key (as AWS IoT's test CA would); returns the PEM."""
    request = x509.load_pem_x509_csr(pem.encode())
    cert_pem = aws.ca.sign(request.public_key(), aws.ca.label("pump-1"))
    stub.add_response(
        "issue_certificate",
        {"CertificateArn": ISSUED},
        {
            "CertificateAuthorityArn": CA,
            "Csr": pem.encode(),
            "SigningAlgorithm": "SHA256WITHRSA",
            "TemplateArn": rotator.client_auth_template_arn(CA),
            "Validity": {"Value": 365, "Type": "DAYS"},
        },
    )
    for _ in range(2):
        stub.add_response(
            "get_certificate",
            {"Certificate": cert_pem, "CertificateChain": ""},
            {"CertificateAuthorityArn": CA, "CertificateArn": ISSUED},
        )
    return cert_pem


def _expect_revoke(stub: Stubber, cert_pem: str, error: str | None = None) -> None:
    number = x509.load_pem_x509_certificate(cert_pem.encode()).serial_number
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    params = {
        "CertificateAuthorityArn": CA,
        "CertificateSerial": ":".join(f"{b:02x}" for b in raw),
        "RevocationReason": "CESSATION_OF_OPERATION",
    }
    if error:
        stub.add_client_error("revoke_certificate", error, "no", 400, expected_params=params)
    else:
        stub.add_response("revoke_certificate", {}, params)


def _event(job: str, status: str) -> dict[str, Any]:
    return {"jobId": job, "status": status, "thingArn": "arn:aws:iot:::thing/pump-1"}


def test_a_rolled_back_private_ca_certificate_is_revoked(pca_cloud: tuple[Cloud, Stubber]) -> None:
    aws, stub = pca_cloud
    device = aws.add_device("pump-1")
    job = aws.start_job(["pump-1"])
    pem = csr_for(ec.generate_private_key(ec.SECP256R1()), "pump-1")
    cert_pem = _expect_issue(aws, stub, pem)
    event = {"jobId": job, "csr": pem, "thingName": "pump-1", "principal": device.cert_id}
    made = rotator.create({**event, "clientId": "pump-1"}, **aws.kw())
    assert made["outcome"] == "accepted", made
    aws.set_execution(job, "pump-1", "FAILED")
    _expect_revoke(stub, cert_pem)
    assert rotator.job_event(_event(job, "FAILED"), **aws.kw())["outcome"] == "rolled-back"
    stub.assert_no_pending_responses()
    assert aws.certificates("pump-1") == {device.cert_id: "ACTIVE"}


def test_a_revocation_that_fails_is_said_and_does_not_block_the_rollback(
    pca_cloud: tuple[Cloud, Stubber],
) -> None:
    aws, stub = pca_cloud
    device = aws.add_device("pump-1")
    job = aws.start_job(["pump-1"])
    pem = csr_for(ec.generate_private_key(ec.SECP256R1()), "pump-1")
    cert_pem = _expect_issue(aws, stub, pem)
    event = {"jobId": job, "csr": pem, "thingName": "pump-1", "principal": device.cert_id}
    assert rotator.create({**event, "clientId": "pump-1"}, **aws.kw())["outcome"] == "accepted"
    aws.set_execution(job, "pump-1", "TIMED_OUT")
    _expect_revoke(stub, cert_pem, "RequestFailedException")
    assert rotator.sweep(**aws.kw())["rolledBack"] == 1
    stub.assert_no_pending_responses()
    assert aws.certificates("pump-1") == {device.cert_id: "ACTIVE"}
    assert "could not be revoked" in aws.alerts()[-1]
    # Day 2: a new rotation of the same thing is not held up.
    job2 = aws.start_job(["pump-1"])
    pem2 = csr_for(ec.generate_private_key(ec.SECP256R1()), "pump-1")
    _expect_issue(aws, stub, pem2)
    again = {"jobId": job2, "csr": pem2, "thingName": "pump-1", "principal": device.cert_id}
    assert rotator.create({**again, "clientId": "pump-1"}, **aws.kw())["outcome"] == "accepted"


def test_a_failed_create_revokes_what_the_private_ca_issued(
    pca_cloud: tuple[Cloud, Stubber], monkeypatch: pytest.MonkeyPatch
) -> None:
    aws, stub = pca_cloud
    device = aws.add_device("pump-1")
    job = aws.start_job(["pump-1"])
    pem = csr_for(ec.generate_private_key(ec.SECP256R1()), "pump-1")
    cert_pem = _expect_issue(aws, stub, pem)

    def broken(**_: Any) -> Any:
        raise RuntimeError("the state table is unreachable")

    monkeypatch.setattr(aws.clients.dynamodb, "put_item", broken)
    _expect_revoke(stub, cert_pem)
    event = {"jobId": job, "csr": pem, "thingName": "pump-1", "principal": device.cert_id}
    with pytest.raises(RuntimeError):
        rotator.create({**event, "clientId": "pump-1"}, **aws.kw())
    stub.assert_no_pending_responses()
    assert aws.certificates("pump-1") == {device.cert_id: "ACTIVE"}
