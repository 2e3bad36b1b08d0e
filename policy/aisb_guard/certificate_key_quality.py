"""Device certificates, or their signing requests, with keys AWS IoT audits as weak."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity

from aisb_guard._rule import MANDATORY, About, resource_rule

ABOUT = About(
    id="aisb-certificate-key-quality",
    description=(
        "Keys of AWS IoT device certificates must be RSA of at least 2048 bits or EC on the "
        "NIST P-256, P-384 or P-521 curves, when the CSR or certificate is in the program."
    ),
    anticipates="DEVICE_CERTIFICATE_KEY_QUALITY_CHECK",
    enforcement=MANDATORY,
    remediation="Generate a new key (RSA 2048+ or EC P-256) and a new CSR on the device.",
    url="https://docs.aws.amazon.com/iot/latest/developerguide/audit-chk-device-cert-key-quality.html",
    severity=Severity.CRITICAL,
)

MIN_RSA_BITS = 2048
CURVES = ("secp256r1", "secp384r1", "secp521r1")

TYPES = {
    "aws:iot/certificate:Certificate": ("csr", "certificatePem"),
    "aws-native:iot:Certificate": ("certificateSigningRequest", "certificatePem"),
}


def weakness(pem: str) -> str | None:
    """What is weak about the key of a PEM CSR or certificate; None when it is strong or the
    text is not one the check can read."""
    data = pem.encode()
    key = None
    for load in (x509.load_pem_x509_csr, x509.load_pem_x509_certificate):
        try:
            key = load(data).public_key()
            break
        except ValueError:
            continue
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        return f"an RSA key of {key.key_size} bits (at least {MIN_RSA_BITS})"
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name not in CURVES:
        return f"an EC key on {key.curve.name} (NIST P-256, P-384 or P-521)"
    return None


def check(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in TYPES:
        return
    for name in TYPES[args.resource_type]:
        pem = args.props.get(name)
        if isinstance(pem, str) and (found := weakness(pem)):
            report(f"certificate {args.name}: its {name} has {found}.", None)


POLICY = resource_rule(ABOUT, check)
