"""The rotation's CSR reader refuses what a device must not ask for: any subject but its common
name, any attribute (an extensionRequest for SANs, CA rights or uses), an RSA exponent outside
FIPS 186-4's range; and whatever it cannot read is a ``CsrError``, never another exception (a
device's malformed request must be refused, not crash the function into its retries)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from aisb.functions.cert_rotator import csr as reader
from tests.harness.rotation import csr_for


def _pem(der: bytes) -> str:
    body = base64.b64encode(der).decode()
    return f"-----BEGIN CERTIFICATE REQUEST-----\n{body}\n-----END CERTIFICATE REQUEST-----\n"


def _der(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size < 0x80:
        return bytes([tag, size]) + body
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(raw)]) + raw + body


def _integer(n: int) -> bytes:
    return _der(0x02, n.to_bytes(n.bit_length() // 8 + 1, "big"))


def _request(subject: x509.Name, key: Any, more: Callable[[Any], Any] = lambda b: b) -> str:
    builder = more(x509.CertificateSigningRequestBuilder().subject_name(subject))
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


CN = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "thing-1")])


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def test_a_key_and_a_common_name_is_what_a_device_asks_for(key: Any) -> None:
    parsed = reader.parse(csr_for(key, "thing-1"))
    assert (parsed.key_algorithm, parsed.common_name, parsed.signature_valid) == (
        "EC-P256",
        "thing-1",
        True,
    )


def test_a_subject_with_more_than_the_common_name_is_refused(key: Any) -> None:
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "thing-1"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Someone Else Ltd"),
        ]
    )
    with pytest.raises(reader.CsrError, match="only a common name"):
        reader.parse(_request(subject, key))


@pytest.mark.parametrize(
    "extension",
    [
        x509.SubjectAlternativeName([x509.DNSName("api.internal.example.com")]),
        x509.SubjectAlternativeName([x509.UniformResourceIdentifier("spiffe://example/x")]),
        x509.BasicConstraints(ca=True, path_length=None),
        x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
    ],
    ids=["dns-san", "uri-san", "ca", "server-auth"],
)
def test_a_request_that_asks_for_extensions_is_refused(key: Any, extension: Any) -> None:
    pem = _request(CN, key, lambda b: b.add_extension(extension, critical=False))
    with pytest.raises(reader.CsrError, match="carries attributes"):
        reader.parse(pem)


def test_rsa_exponents_outside_fips_186_4_are_refused() -> None:
    three = rsa.generate_private_key(public_exponent=3, key_size=2048)
    with pytest.raises(reader.CsrError, match="public exponent 3"):
        reader.parse(csr_for(three, "thing-1"))
    assert reader.parse(csr_for(rsa.generate_private_key(65537, 2048), "t")).signature_valid


def test_an_exponent_of_one_cannot_forge_the_proof_of_possession() -> None:
    """With e = 1 the "signature" is the padded digest itself: anyone could make one for any
    modulus, so the request proves nothing about a private key."""
    n = rsa.generate_private_key(65537, 2048).public_key().public_numbers().n
    rsa_key = _der(0x30, _integer(n) + _integer(1))
    spki = _der(
        0x30,
        _der(0x30, _der(0x06, bytes.fromhex("2a864886f70d010101")) + b"\x05\x00")
        + _der(0x03, b"\x00" + rsa_key),
    )
    subject = CN.public_bytes()
    info = _der(0x30, _integer(0) + subject + spki + b"\xa0\x00")
    digest = hashlib.sha256(info).digest()
    t = reader.DIGEST_INFO["sha256"] + digest
    size = (n.bit_length() + 7) // 8
    em = b"\x00\x01" + b"\xff" * (size - len(t) - 3) + b"\x00" + t
    algorithm = _der(0x30, _der(0x06, bytes.fromhex("2a864886f70d01010b")) + b"\x05\x00")
    request = _der(0x30, info + algorithm + _der(0x03, b"\x00" + em))
    with pytest.raises(reader.CsrError, match="public exponent 1 "):
        reader.parse(_pem(request))


@pytest.mark.parametrize(
    "spki",
    [
        _der(0x30, _der(0x30, b"") + _der(0x03, b"\x00")),  # an empty AlgorithmIdentifier
        _der(0x30, _der(0x30, b"")),  # no subjectPublicKey at all
        _der(0x30, b""),  # nothing
    ],
    ids=["empty-algorithm", "one-element", "empty"],
)
def test_what_the_reader_cannot_read_is_a_csr_error(spki: bytes) -> None:
    info = _der(0x30, _der(0x02, b"\x00") + _der(0x30, b"") + spki)
    request = _der(0x30, info + _der(0x30, b"") + _der(0x03, b"\x00"))
    with pytest.raises(reader.CsrError):
        reader.parse(_pem(request))
