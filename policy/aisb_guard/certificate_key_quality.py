"""Device certificates, or their signing requests, with keys AWS IoT does not accept or audits
as weak.

AWS IoT takes "an RSA key with a length of at least 2048 bits or an ECC key from NIST P-256,
NIST P-384, or NIST P-521 curves" in a CSR
(https://docs.aws.amazon.com/iot/latest/apireference/API_CreateCertificateFromCsr.html), and
DEVICE_CERTIFICATE_KEY_QUALITY_CHECK flags weak keys of registered certificates
(https://docs.aws.amazon.com/iot-device-defender/latest/devguide/audit-chk-device-cert-key-quality.html).
A key the rule cannot read (DSA, Ed25519, explicit EC parameters, no PEM at all) is reported,
never passed.

Of the audit's two CVEs, it tests ROCA (CVE-2017-15361) by the fingerprint its paper gives: the
primes of the vulnerable library's RSA keys are ``k * M + (65537 ** a mod M)``, M the product of
the primes up to 167, so the modulus is a power of 65537 modulo M. A random modulus is one with
a probability of about 2^-155 (the order of 65537 modulo M over Euler's totient of M)
(Nemec, Sys, Svenda, Klinec, Matyas, "The Return of Coppersmith's Attack: Practical
Factorization of Widely Used RSA Moduli", ACM CCS 2017:
https://crocs.fi.muni.cz/public/papers/rsa_ccs17). Debian's predictable keys (CVE-2008-0166)
are found only against lists of every key those builds could make, which the pack does not
carry.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations
from math import gcd

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from pulumi_policy import Severity

from aisb_guard._rule import MANDATORY, About, Subject, Unknown, Verdict, read, resource_rule

ABOUT = About(
    id="aisb-certificate-key-quality",
    description=(
        "Keys of AWS IoT device certificates must be RSA of at least 2048 bits or EC on the "
        "named NIST P-256, P-384 or P-521 curves, when the CSR or certificate is in the "
        "program; DSA, Ed25519, explicit-parameter EC, RSA keys with the ROCA fingerprint "
        "(CVE-2017-15361) and unreadable PEMs are refused."
    ),
    anticipates="DEVICE_CERTIFICATE_KEY_QUALITY_CHECK",
    enforcement=MANDATORY,
    remediation="Generate a new key (RSA 2048+ or EC P-256) and a new CSR on the device.",
    url="https://docs.aws.amazon.com/iot-device-defender/latest/devguide/audit-chk-device-cert-key-quality.html",
    stricter=(
        "Refuses what AWS IoT would not accept in a CSR (DSA, Ed25519, explicit-parameter EC) "
        "and PEMs it cannot read. Of the audit's two CVEs it tests ROCA (CVE-2017-15361), by "
        "the modulus's fingerprint, not Debian's predictable keys (CVE-2008-0166)."
    ),
    cannot_judge=(
        "A CSR or certificate computed at preview; certificates registered outside the program."
    ),
    severity=Severity.CRITICAL,
)

MIN_RSA_BITS = 2048
CURVES = ("secp256r1", "secp384r1", "secp521r1")
_EC_PUBLIC_KEY = bytes.fromhex("06072a8648ce3d0201")  # OID 1.2.840.10045.2.1, DER-encoded

TYPES = {
    "aws:iot/certificate:Certificate": ("csr", "certificatePem"),
    "aws-native:iot:Certificate": ("certificateSigningRequest", "certificatePem"),
}
ROCA_PRIMES: tuple[int, ...] = tuple(n for n in range(3, 168) if all(n % d for d in range(2, n)))
"""The odd primes up to 167, the fingerprint's (with 2, their product is the paper's M)."""
ROCA_GENERATOR = 65537


def _logarithms(prime: int) -> dict[int, int]:
    """Each power of 65537 modulo ``prime``, with its exponent (below the generator's order)."""
    logs: dict[int, int] = {}
    power = 1
    while power not in logs:
        logs[power] = len(logs)
        power = power * ROCA_GENERATOR % prime
    return logs


_LOGS = {p: _logarithms(p) for p in ROCA_PRIMES}


def _tlv(data: bytes, at: int) -> tuple[int, int, int]:
    """One DER element at ``at``: its tag, where its content starts and where it ends."""
    tag, length = data[at], data[at + 1]
    start = at + 2
    if length & 0x80:
        size = length & 0x7F
        length = int.from_bytes(data[start : start + size], "big")
        start += size
    return tag, start, start + length


def _children(data: bytes, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    at = start
    while at < end:
        tag, content, after = _tlv(data, at)
        yield tag, content, after
        at = after


def _explicit_curve(tbs: bytes, certificate: bool) -> bool:
    """Whether the SubjectPublicKeyInfo of a to-be-signed CSR or certificate (RFC 2986, RFC
    5280) is an EC key given by explicit parameters rather than a named curve (RFC 5480 2.1.1:
    named curves only). The cryptography library names the curve either way."""
    _, start, end = _tlv(tbs, 0)
    fields = list(_children(tbs, start, end))
    # A certificate: [0] version?, serial, signature, issuer, validity, subject, spki, ...
    # A CSR: version, subject, spki, attributes.
    at = (6 if fields[0][0] == 0xA0 else 5) if certificate else 2
    spki = fields[at]
    _, algorithm_start, algorithm_end = next(_children(tbs, spki[1], spki[2]))
    parts = list(_children(tbs, algorithm_start, algorithm_end))
    oid = tbs[algorithm_start : parts[0][2]]
    return oid == _EC_PUBLIC_KEY and len(parts) > 1 and parts[1][0] == 0x30


def roca_fingerprint(modulus: int) -> bool:
    """Whether an RSA modulus has the ROCA fingerprint (CVE-2017-15361): it is ``65537 ** a``
    modulo the product of ``ROCA_PRIMES`` for one exponent ``a``. Modulo each prime it must be
    a power of 65537, ``65537 ** k`` with ``k`` known modulo the generator's order there; one
    ``a`` meets all those congruences exactly when each two agree modulo the greatest common
    divisor of their orders (the Chinese remainder theorem for moduli that share factors)."""
    exponents = []
    for prime in ROCA_PRIMES:
        k = _LOGS[prime].get(modulus % prime)
        if k is None:
            return False
        exponents.append((k, len(_LOGS[prime])))
    return all(
        (k1 - k2) % gcd(order1, order2) == 0
        for (k1, order1), (k2, order2) in combinations(exponents, 2)
    )


def weakness(pem: str) -> str | None:
    """What is weak or unreadable about the key of a PEM CSR or certificate; None when the key
    is one AWS IoT accepts."""
    data = pem.encode()
    loaded: x509.CertificateSigningRequest | x509.Certificate
    try:
        request = x509.load_pem_x509_csr(data)
        tbs, certificate, loaded = request.tbs_certrequest_bytes, False, request
    except ValueError:
        try:
            cert = x509.load_pem_x509_certificate(data)
        except ValueError:
            return "no PEM certificate signing request or certificate the rule can read"
        tbs, certificate, loaded = cert.tbs_certificate_bytes, True, cert
    try:
        if _explicit_curve(tbs, certificate):
            return "an EC key with explicit curve parameters (named NIST curves only)"
        key = loaded.public_key()
    except (ValueError, IndexError, StopIteration, UnsupportedAlgorithm) as error:
        return f"a public key the rule cannot read ({error or type(error).__name__})"
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            return f"an RSA key of {key.key_size} bits (at least {MIN_RSA_BITS})"
        if roca_fingerprint(key.public_numbers().n):
            return (
                "an RSA key with the ROCA fingerprint (CVE-2017-15361): its modulus can be "
                "factored; replace the device's key (and update the firmware or secure element "
                "that made it)"
            )
        return None
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in CURVES:
            return f"an EC key on {key.curve.name} (NIST P-256, P-384 or P-521)"
        return None
    kinds = {
        dsa.DSAPublicKey: "a DSA key",
        ed25519.Ed25519PublicKey: "an Ed25519 key",
        ed448.Ed448PublicKey: "an Ed448 key",
    }
    kind = next((v for k, v in kinds.items() if isinstance(key, k)), f"a {type(key).__name__}")
    return f"{kind}, which AWS IoT does not accept (RSA 2048+ or EC P-256, P-384, P-521)"


def judge(subject: Subject, verdict: Verdict) -> None:
    if subject.resource_type not in TYPES:
        return
    for name in TYPES[subject.resource_type]:
        pem = read(subject.props, name)
        if isinstance(pem, Unknown):
            verdict.not_judged(f"certificate {subject.name}: its {name} is not known yet.")
        elif isinstance(pem, str):
            if found := weakness(pem):
                verdict.flag(f"certificate {subject.name}: its {name} has {found}.")
        elif pem is not None:
            verdict.flag(f"certificate {subject.name}: its {name} is not a PEM string.")


POLICY = resource_rule(ABOUT, judge)
