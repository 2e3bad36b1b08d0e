"""Device certificates whose private key AWS generates: the key then sits in the Pulumi state."""

from __future__ import annotations

from aisb_guard._rule import MANDATORY, About, Subject, Verdict, read, resource_rule

ABOUT = About(
    id="aisb-certificate-from-csr",
    description=(
        "AWS IoT certificates must be created from a certificate signing request (or registered "
        "from an existing certificate): without one, AWS generates the key pair and the private "
        "key is stored in the Pulumi state, outside the device."
    ),
    anticipates="AISB control 1 (unique identity per device)",
    enforcement=MANDATORY,
    remediation=(
        "Generate the key on the device (or its secure element) and pass its CSR as `csr`, or "
        "register an existing certificate with `certificatePem`."
    ),
    url="https://docs.aws.amazon.com/iot/latest/developerguide/create-device-cert.html",
    stricter="Not an audit check: AWS accepts certificates it generates.",
    cannot_judge="Nothing: a csr not known yet is still a csr.",
)


def judge(subject: Subject, verdict: Verdict) -> None:
    if subject.resource_type != "aws:iot/certificate:Certificate":
        return  # aws-native:iot:Certificate always takes a CSR or a certificate
    # Presence is all this rule needs: a csr not known yet (at preview) is still a csr.
    if read(subject.props, "csr") is None and read(subject.props, "certificatePem") is None:
        verdict.flag(
            f"certificate {subject.name} has neither csr nor certificatePem: AWS would generate "
            "its private key and Pulumi would keep it in the state."
        )


POLICY = resource_rule(ABOUT, judge)
