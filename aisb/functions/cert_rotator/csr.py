"""A small reader of PKCS #10 certificate signing requests, stdlib only (Lambda has no
``cryptography``): the key algorithm, the RSA modulus size or EC curve, the subject's common
name, and the request's own signature (proof that the device holds the private key).

Why the signature is verified here: the ``CreateCertificateFromCsr`` reference
(https://docs.aws.amazon.com/iot/latest/apireference/API_CreateCertificateFromCsr.html, and
botocore's ``iot`` service model, operation ``CreateCertificateFromCsr``) documents which public
keys AWS IoT accepts -- "an RSA key with a length of at least 2048 bits or an ECC key from NIST
P-256, NIST P-384, or NIST P-521 curves" -- but does not state that it verifies the request's
signature. A request signed by another key than the one it carries must never become a device
certificate, so the function checks the signature itself, as RFC 2986 section 3 defines it
("signature ... of the certification request information ... with the subject's private
key"): RSASSA-PKCS1-v1_5 (RFC 8017 section 8.2.2) and ECDSA over P-256 (FIPS 186-5 section 6.4.2,
SEC 1 section 4.1.4), with SHA-256, SHA-384 or SHA-512.

What a device may ask for is its key and its name, nothing more: the subject must be one common
name and the request must carry no attributes (no extensionRequest). AWS Private CA's templates
copy the subject and the SANs from the request
(https://docs.aws.amazon.com/privateca/latest/userguide/template-order-of-operations.html), so a
request naming another subject or a SAN (a server's DNS name) would have the organisation's CA
sign it. An RSA key's public exponent must be "an odd positive integer such that 2^16 < e <
2^256" (FIPS 186-4 appendix B.3.1, which NIST SP 800-89 section 5.3.3 cites for public-key
validation): with e = 1 the "signature" proves nothing. Anything the reader
cannot read is a ``CsrError``, never another exception.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from typing import cast

RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
EC_PUBLIC_KEY = "1.2.840.10045.2.1"
P256 = "1.2.840.10045.3.1.7"
COMMON_NAME = "2.5.4.3"
# Signature algorithm OID -> (key type, hash).
SIGNATURES = {
    "1.2.840.113549.1.1.11": ("RSA", "sha256"),
    "1.2.840.113549.1.1.12": ("RSA", "sha384"),
    "1.2.840.113549.1.1.13": ("RSA", "sha512"),
    "1.2.840.10045.4.3.2": ("EC", "sha256"),
    "1.2.840.10045.4.3.3": ("EC", "sha384"),
    "1.2.840.10045.4.3.4": ("EC", "sha512"),
}
# RFC 8017 section 9.2, note 1: the DER of DigestInfo before the hash.
DIGEST_INFO = {
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}
MAX_CSR_BYTES = 16 * 1024

# NIST P-256 (FIPS 186-5 / SEC 2): y^2 = x^3 - 3x + b over GF(p), base point G of order n.
_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
_A = _P - 3
_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_G = (
    0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
)


class CsrError(ValueError):
    """The request is not one AWS IoT should sign for this device; the message says why."""


@dataclass(frozen=True)
class Csr:
    """What the function checks of a request."""

    key_algorithm: str
    """``EC-P256``, ``RSA-<bits>``, ``EC-<curve oid>`` or the key's algorithm OID."""
    common_name: str | None
    signature_valid: bool
    public_key: bytes
    """The SubjectPublicKeyInfo, DER: compared with the issued certificate's."""


def _read(data: bytes, at: int) -> tuple[int, int, int, int]:
    """(tag, start of content, end of content, end of element) of the DER element at ``at``."""
    if at + 2 > len(data):
        raise CsrError("truncated DER")
    tag, first = data[at], data[at + 1]
    at += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or at + count > len(data):
            raise CsrError("unsupported DER length")
        length = int.from_bytes(data[at : at + count], "big")
        at += count
    end = at + length
    if end > len(data):
        raise CsrError("truncated DER")
    return tag, at, end, end


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """The elements inside a constructed element's content, as (tag, start, end, element start)."""
    out = []
    at = start
    while at < end:
        tag, cstart, cend, nxt = _read(data, at)
        out.append((tag, cstart, cend, at))
        at = nxt
    if at != end:
        raise CsrError("DER element overruns its parent")
    return out


def _oid(raw: bytes) -> str:
    if not raw:
        raise CsrError("empty OID")
    parts = [raw[0] // 40, raw[0] % 40] if raw[0] < 80 else [2, raw[0] - 80]
    value = 0
    for byte in raw[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(str(p) for p in parts)


def _expect(tag: int, want: int, what: str) -> None:
    if tag != want:
        raise CsrError(f"{what}: unexpected DER tag 0x{tag:02x}")


def pem_to_der(pem: str) -> bytes:
    """The DER inside a ``CERTIFICATE REQUEST`` PEM block."""
    match = re.search(
        r"-----BEGIN (NEW )?CERTIFICATE REQUEST-----([A-Za-z0-9+/=\s]+)-----END (NEW )?"
        r"CERTIFICATE REQUEST-----",
        pem,
    )
    if not match:
        raise CsrError("not a PEM certificate signing request")
    try:
        der = base64.b64decode("".join(match.group(2).split()), validate=True)
    except ValueError:
        raise CsrError("the PEM block is not base64") from None
    if len(der) > MAX_CSR_BYTES:
        raise CsrError(f"the request is larger than {MAX_CSR_BYTES} bytes")
    return der


def parse(pem: str) -> Csr:
    """Read and verify a PEM certificate signing request; ``CsrError`` when malformed or when
    it asks for more than a key and a common name."""
    try:
        return _parse(pem)
    except CsrError:
        raise
    except (IndexError, ValueError, TypeError, OverflowError) as error:
        # A structure the reader does not expect (an empty sequence, a missing element).
        raise CsrError(f"a malformed request ({type(error).__name__})") from None


def _parse(pem: str) -> Csr:
    der = pem_to_der(pem)
    tag, start, end, total = _read(der, 0)
    _expect(tag, 0x30, "CertificationRequest")
    if total != len(der):
        raise CsrError("trailing data after the request")
    parts = _children(der, start, end)
    if len(parts) != 3:
        raise CsrError("CertificationRequest must have info, algorithm and signature")
    (
        (info_tag, info_start, info_end, info_at),
        (alg_tag, alg_s, alg_e, _),
        (sig_tag, sig_s, sig_e, _),
    ) = parts
    _expect(info_tag, 0x30, "CertificationRequestInfo")
    _expect(alg_tag, 0x30, "signatureAlgorithm")
    _expect(sig_tag, 0x03, "signature")
    signed = der[info_at:info_end]
    info = _children(der, info_start, info_end)
    if len(info) < 3:
        raise CsrError("CertificationRequestInfo is incomplete")
    if len(info) > 4:
        raise CsrError("CertificationRequestInfo has more than its four fields")
    version, subject, spki = info[0], info[1], info[2]
    if len(info) == 4:
        attributes = info[3]
        _expect(attributes[0], 0xA0, "attributes")
        if attributes[2] != attributes[1]:
            raise CsrError(
                "the request carries attributes (an extensionRequest asks for names or uses "
                "aisb does not give): a device asks for its key and its common name only"
            )
    _expect(version[0], 0x02, "version")
    if der[version[1] : version[2]] != b"\x00":
        raise CsrError("only version 1 requests are accepted")
    _expect(subject[0], 0x30, "subject")
    _expect(spki[0], 0x30, "subjectPublicKeyInfo")
    common_name = _common_name(der, subject[1], subject[2])
    public_key = der[spki[3] : spki[2]]
    key_algorithm, key = _public_key(der, spki[1], spki[2])

    alg = _children(der, alg_s, alg_e)
    _expect(alg[0][0], 0x06, "signature algorithm OID")
    sig_oid = _oid(der[alg[0][1] : alg[0][2]])
    if sig_oid not in SIGNATURES:
        raise CsrError(f"signature algorithm {sig_oid} is not accepted")
    sig_key, digest_name = SIGNATURES[sig_oid]
    bits = der[sig_s:sig_e]
    if not bits or bits[0] != 0:
        raise CsrError("signature BIT STRING has unused bits")
    signature = bits[1:]
    digest = hashlib.new(digest_name, signed).digest()
    if sig_key == "RSA" and key_algorithm.startswith("RSA-"):
        valid = _rsa_valid(key, digest_name, digest, signature)
    elif sig_key == "EC" and key_algorithm == "EC-P256":
        valid = _ecdsa_p256_valid(key, digest, signature)
    else:
        valid = False
    return Csr(key_algorithm, common_name, valid, public_key)


def _common_name(der: bytes, start: int, end: int) -> str | None:
    names = []
    for rdn in _children(der, start, end):
        _expect(rdn[0], 0x31, "RelativeDistinguishedName")
        for attr in _children(der, rdn[1], rdn[2]):
            pair = _children(der, attr[1], attr[2])
            if len(pair) != 2 or pair[0][0] != 0x06:
                raise CsrError("a subject attribute is not a type and a value")
            kind = _oid(der[pair[0][1] : pair[0][2]])
            if kind != COMMON_NAME:
                raise CsrError(f"the subject names {kind}: only a common name is accepted")
            names.append(der[pair[1][1] : pair[1][2]].decode("utf-8", "replace"))
    if len(names) > 1:
        raise CsrError("the subject has more than one common name")
    return names[0] if names else None


def _public_key(der: bytes, start: int, end: int) -> tuple[str, object]:
    algorithm, bits = _children(der, start, end)
    alg = _children(der, algorithm[1], algorithm[2])
    oid = _oid(der[alg[0][1] : alg[0][2]])
    raw = der[bits[1] : bits[2]]
    if bits[0] != 0x03 or not raw or raw[0] != 0:
        raise CsrError("subjectPublicKey is not a whole BIT STRING")
    key = raw[1:]
    if oid == RSA_ENCRYPTION:
        tag, s, e, _ = _read(key, 0)
        _expect(tag, 0x30, "RSAPublicKey")
        numbers = _children(key, s, e)
        if len(numbers) != 2:
            raise CsrError("RSAPublicKey must have a modulus and an exponent")
        n = int.from_bytes(key[numbers[0][1] : numbers[0][2]], "big")
        exponent = int.from_bytes(key[numbers[1][1] : numbers[1][2]], "big")
        if not (exponent % 2 and 2**16 < exponent < 2**256):
            raise CsrError(f"the RSA public exponent {exponent} is not odd with 2^16 < e < 2^256")
        return f"RSA-{n.bit_length()}", (n, exponent)
    if oid == EC_PUBLIC_KEY:
        if len(alg) != 2 or alg[1][0] != 0x06:
            raise CsrError("EC keys must name their curve")
        curve = _oid(der[alg[1][1] : alg[1][2]])
        if curve != P256:
            return f"EC-{curve}", None
        if len(key) != 65 or key[0] != 4:
            raise CsrError("the P-256 public key must be an uncompressed point")
        point = (int.from_bytes(key[1:33], "big"), int.from_bytes(key[33:], "big"))
        x, y = point
        if not (0 <= x < _P and 0 <= y < _P) or (y * y - (x * x * x + _A * x + _B)) % _P:
            raise CsrError("the P-256 public key is not on the curve")
        return "EC-P256", point
    return oid, None


def _rsa_valid(key: object, digest_name: str, digest: bytes, signature: bytes) -> bool:
    n, e = cast(tuple[int, int], key)
    size = (n.bit_length() + 7) // 8
    if len(signature) != size:
        return False
    s = int.from_bytes(signature, "big")
    if s >= n:
        return False
    em = pow(s, e, n).to_bytes(size, "big")
    t = DIGEST_INFO[digest_name] + digest
    expected = b"\x00\x01" + b"\xff" * (size - len(t) - 3) + b"\x00" + t
    return size >= len(t) + 11 and em == expected


def _add(p1: tuple[int, int, int], p2: tuple[int, int, int]) -> tuple[int, int, int]:
    """Jacobian point addition on P-256 (Z = 0 is the point at infinity)."""
    x1, y1, z1 = p1
    x2, y2, z2 = p2
    if not z1:
        return p2
    if not z2:
        return p1
    z1z1, z2z2 = z1 * z1 % _P, z2 * z2 % _P
    u1, u2 = x1 * z2z2 % _P, x2 * z1z1 % _P
    s1, s2 = y1 * z2 * z2z2 % _P, y2 * z1 * z1z1 % _P
    if u1 == u2:
        return _double(p1) if s1 == s2 else (0, 1, 0)
    h, r = (u2 - u1) % _P, (s2 - s1) % _P
    hh = h * h % _P
    hhh = h * hh % _P
    v = u1 * hh % _P
    x3 = (r * r - hhh - 2 * v) % _P
    y3 = (r * (v - x3) - s1 * hhh) % _P
    return x3, y3, h * z1 * z2 % _P


def _double(p: tuple[int, int, int]) -> tuple[int, int, int]:
    x, y, z = p
    if not z or not y:
        return 0, 1, 0
    yy = y * y % _P
    s = 4 * x * yy % _P
    zz = z * z % _P
    m = 3 * (x - zz) * (x + zz) % _P  # a = -3
    x3 = (m * m - 2 * s) % _P
    y3 = (m * (s - x3) - 8 * yy * yy) % _P
    return x3, y3, 2 * y * z % _P


def _multiply(k: int, point: tuple[int, int]) -> tuple[int, int, int]:
    result = (0, 1, 0)
    addend = (point[0], point[1], 1)
    while k:
        if k & 1:
            result = _add(result, addend)
        addend = _double(addend)
        k >>= 1
    return result


def _ecdsa_p256_valid(key: object, digest: bytes, signature: bytes) -> bool:
    try:
        tag, s, e, total = _read(signature, 0)
        if tag != 0x30 or total != len(signature):
            return False
        ints = _children(signature, s, e)
    except CsrError:
        return False
    if len(ints) != 2 or any(t != 0x02 for t, *_ in ints):
        return False
    r = int.from_bytes(signature[ints[0][1] : ints[0][2]], "big")
    s_ = int.from_bytes(signature[ints[1][1] : ints[1][2]], "big")
    if not (0 < r < _N and 0 < s_ < _N):
        return False
    z = int.from_bytes(digest[:32], "big")  # the leftmost 256 bits (FIPS 186-5 6.4.2)
    w = pow(s_, -1, _N)
    x, _, zz = _add(_multiply(z * w % _N, _G), _multiply(r * w % _N, key))  # type: ignore[arg-type]
    if not zz:
        return False
    affine_x = x * pow(zz * zz % _P, -1, _P) % _P
    return affine_x % _N == r
