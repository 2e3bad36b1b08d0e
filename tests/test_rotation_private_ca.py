"""Issuance from AWS Private CA (``private_ca_arn``), which moto does not run end to end:
botocore's Stubber answers acm-pca and iot, and checks every request against the models."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec

from aisb.functions.cert_rotator import handler as rotator
from tests.harness.aws import StubbedClients
from tests.harness.rotation import TestCa, csr_for

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
