"""The cloud side of certificate rotation under moto, with a test CA playing AWS IoT's.

moto issues certificates from CSRs with a key of its own and ignores exclusive thing
attachments; here ``CreateCertificateFromCsr`` signs the request's own key with the test CA
(so a broker trusting that CA accepts the device's new certificate), and
``AttachThingPrincipal``/``ListThingPrincipalsV2`` keep and filter ``thingPrincipalType`` as
the service model describes them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from moto import mock_aws
from moto.iot import models as iot_models
from moto.iot import responses as iot_responses

from aisb.components.rotation import job_document
from aisb.functions.cert_rotator import handler as rotator

REGION = "us-east-1"
ACCOUNT = "123456789012"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


class TestCa:
    __test__ = False
    """A root CA (EC P-256) that signs server and client certificates."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aisb test CA")])
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM).decode()
        self.issued = 0
        self.principals: dict[str, str] = {}
        """Certificate label (its common name) -> AWS IoT certificate id."""

    def sign(self, public_key: Any, common_name: str, server: bool = False) -> str:
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName("localhost"),
                        x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1")),
                    ]
                ),
                critical=False,
            )
        return (
            builder.sign(self.key, hashes.SHA256())
            .public_bytes(serialization.Encoding.PEM)
            .decode()
        )

    def sign_csr(self, pem: str) -> str:
        """Like AWS IoT's CA, the subject is the CA's choice: ``<thing>.<n>``, unique per
        certificate, which the broker takes as the username (the connection's principal)."""
        request = x509.load_pem_x509_csr(pem.encode())
        cn = request.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        return self.sign(request.public_key(), self.label(str(cn)))

    def label(self, thing: str) -> str:
        self.issued += 1
        return f"{thing}.{self.issued}"


def _label(pem: str) -> str:
    cert = x509.load_pem_x509_certificate(pem.encode())
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


_EXCLUSIVE: dict[tuple[str, str], str] = {}


@contextmanager
def patched_moto(ca: TestCa) -> Iterator[None]:
    """moto with the two gaps above filled for the duration."""
    backend_cls = iot_models.IoTBackend
    responses_cls = iot_responses.IoTResponse
    saved = (
        backend_cls.create_certificate_from_csr,
        responses_cls.attach_thing_principal,
        responses_cls.list_thing_principals_v2,
        backend_cls.detach_thing_principal,
    )

    def create_from_csr(self: Any, csr: str, set_as_active: bool) -> Any:
        pem = ca.sign_csr(csr)
        made = self.register_certificate_without_ca(pem, "ACTIVE" if set_as_active else "INACTIVE")
        ca.principals[_label(pem)] = made.certificate_id
        return made

    def attach(self: Any) -> Any:
        result = saved[1](self)
        principal = self.headers.get("x-amzn-principal")
        kind = self._get_param("thingPrincipalType") or "NON_EXCLUSIVE_THING"
        _EXCLUSIVE[(principal, self._get_param("thingName"))] = kind
        return result

    def list_v2(self: Any) -> Any:
        thing = self._get_param("thingName")
        wanted = self._get_param("thingPrincipalType")
        objects = [
            {"thingName": thing, "principal": p, "thingPrincipalType": kind}
            for p in self.iot_backend.list_thing_principals(thing)
            if (kind := _EXCLUSIVE.get((p, thing), "NON_EXCLUSIVE_THING")) == wanted or not wanted
        ]
        return iot_responses.ActionResult({"thingPrincipalObjects": objects})

    def detach(self: Any, thing_name: str, principal_arn: str) -> None:
        saved[3](self, thing_name, principal_arn)
        _EXCLUSIVE.pop((principal_arn, thing_name), None)

    backend_cls.create_certificate_from_csr = create_from_csr  # type: ignore[method-assign]
    responses_cls.attach_thing_principal = attach  # type: ignore[method-assign]
    responses_cls.list_thing_principals_v2 = list_v2  # type: ignore[method-assign]
    backend_cls.detach_thing_principal = detach  # type: ignore[method-assign]
    try:
        yield
    finally:
        owners = (backend_cls, responses_cls, responses_cls, backend_cls)
        names = (
            "create_certificate_from_csr",
            "attach_thing_principal",
            "list_thing_principals_v2",
            "detach_thing_principal",
        )
        for owner, attribute, original in zip(owners, names, saved, strict=True):
            setattr(owner, attribute, original)
        _EXCLUSIVE.clear()


@dataclass
class Device:
    """A thing with the certificate and key it was provisioned with."""

    thing: str
    cert_id: str
    cert_pem: str
    key_pem: str


@dataclass
class Cloud:
    """moto's AWS IoT, DynamoDB and SNS, set up as the component deploys them."""

    ca: TestCa
    options: rotator.Options
    clients: rotator.Clients
    topic_arn: str
    policy: str = "device-policy"
    clock: list[float] = field(default_factory=lambda: [1_800_000_000.0])

    def now(self) -> float:
        return self.clock[0]

    @property
    def backend(self) -> Any:
        return iot_models.iot_backends[ACCOUNT][REGION]

    def kw(self) -> dict[str, Any]:
        return {"options": self.options, "clients": self.clients, "now": self.now}

    def add_device(self, thing: str, exclusive: bool = True) -> Device:
        iot = self.clients.iot
        iot.create_thing(thingName=thing)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = self.ca.sign(key.public_key(), self.ca.label(thing))
        made = iot.register_certificate_without_ca(certificatePem=pem, status="ACTIVE")
        self.ca.principals[_label(pem)] = made["certificateId"]
        iot.attach_policy(policyName=self.policy, target=made["certificateArn"])
        iot.attach_thing_principal(
            thingName=thing,
            principal=made["certificateArn"],
            thingPrincipalType="EXCLUSIVE_THING" if exclusive else "NON_EXCLUSIVE_THING",
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return Device(thing, made["certificateId"], pem, key_pem)

    def start_job(self, things: list[str], algorithm: str = "EC-P256", job_id: str = "") -> str:
        job_id = job_id or f"{rotator.JOB_PREFIX}{len(self.backend.jobs) + 1}"
        arns = [self.clients.iot.describe_thing(thingName=t)["thingArn"] for t in things]
        self.clients.iot.create_job(
            jobId=job_id, targets=arns, document=json.dumps(job_document(algorithm))
        )
        for thing in things:
            self.set_execution(job_id, thing, "IN_PROGRESS")
        return job_id

    def set_execution(self, job_id: str, thing: str, status: str) -> None:
        self.backend.job_executions[(job_id, thing)].status = status

    def execution(self, job_id: str, thing: str) -> str:
        return str(self.backend.job_executions[(job_id, thing)].status)

    def certificates(self, thing: str) -> dict[str, str]:
        """Certificate id -> status of the thing's certificates."""
        out = {}
        for arn in self.clients.iot.list_thing_principals(thingName=thing)["principals"]:
            cid = arn.rsplit("/", 1)[1]
            out[cid] = self.clients.iot.describe_certificate(certificateId=cid)[
                "certificateDescription"
            ]["status"]
        return out

    def active(self, thing: str) -> list[str]:
        return [c for c, s in self.certificates(thing).items() if s == "ACTIVE"]

    def published(self) -> list[tuple[str, dict[str, Any]]]:
        from moto.iotdata.models import iotdata_backends

        return [(t, json.loads(p)) for t, p in iotdata_backends[ACCOUNT][REGION].published_payloads]

    def alerts(self) -> list[str]:
        from moto.sns.models import sns_backends

        topic = sns_backends[ACCOUNT][REGION].topics[self.topic_arn]
        return [n[1] for n in topic.sent_notifications]


@contextmanager
def cloud() -> Iterator[Cloud]:
    """A fresh moto account with the rotation's table, topic and device policy."""
    ca = TestCa()
    with mock_aws(), patched_moto(ca):
        make = lambda s: boto3.client(s, region_name=REGION, **CREDENTIALS)  # noqa: E731
        c = rotator.Clients(
            iot=make("iot"), iot_data=make("iot-data"), dynamodb=make("dynamodb"), sns=make("sns")
        )
        c.dynamodb.create_table(
            TableName="rotation-state",
            KeySchema=[{"AttributeName": "thing", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "thing", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        topic = c.sns.create_topic(Name="alerts")["TopicArn"]
        c.iot.create_policy(
            policyName="device-policy",
            policyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}],
                }
            ),
        )
        options = rotator.Options(state_table="rotation-state", alert_topic_arn=topic, grace_days=7)
        yield Cloud(ca, options, c, topic)


def csr_for(key: Any, common_name: str) -> str:
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM).decode()
