"""AWS IoT domain configurations whose TLS security policy lets devices negotiate TLS below
1.2."""

from __future__ import annotations

from collections.abc import Mapping

from aisb_guard._rule import MANDATORY, About, Subject, Unknown, Verdict, read, resource_rule

TABLE = "https://docs.aws.amazon.com/iot/latest/developerguide/iot-endpoints-tls-config.html"

MINIMUM_TLS: Mapping[str, str] = {
    "IoTSecurityPolicy_TLS13_1_3_2022_10": "1.3",
    "IoTSecurityPolicy_TLS13_1_2_2022_10": "1.2",
    "IoTSecurityPolicy_TLS12_1_2_2022_10": "1.2",
    "IoTSecurityPolicy_TLS13_1_2_2022_01": "1.2",
    "IoTSecurityPolicy_TLS12_1_0_2016_01": "1.0",
    "IoTSecurityPolicy_TLS12_1_0_2015_01": "1.0",
}
"""AWS IoT Core's predefined security policies and the lowest TLS version each is named for
(``TLS<highest>_<lowest>_<date>``): the table of "Configuring TLS settings in domain
configurations" (``TABLE``) and the security-policies table of "Transport security in AWS IoT
Core" (https://docs.aws.amazon.com/iot/latest/developerguide/transport-security.html). The two
region-limited ``TLS12_1_0`` policies are the legacy ones named for TLS 1.0."""

ABOUT = About(
    id="aisb-domain-configuration-tls",
    description=(
        "AWS IoT domain configurations must use a TLS security policy whose lowest version is "
        "TLS 1.2 (IoTSecurityPolicy_TLS13_1_2_2022_10, TLS13_1_3_2022_10, TLS12_1_2_2022_10 or, "
        "in GovCloud, TLS13_1_2_2022_01): data in motion is not left to TLS 1.0 or 1.1."
    ),
    # No Device Defender audit check reads a domain configuration's TLS policy.
    anticipates="Data protection in motion (beyond AISB's eleven controls)",
    enforcement=MANDATORY,
    remediation=(
        "Set tlsConfig.securityPolicy to IoTSecurityPolicy_TLS13_1_2_2022_10 (or leave it "
        "unset on a new domain configuration: AWS then uses that policy); for the account's "
        "default endpoint use aisb:iotTlsPolicy."
    ),
    url=TABLE,
    stricter=(
        "Not an audit check. The two TLS12_1_0 policies are refused by their names (AWS's "
        "current table lists only TLS 1.2 for them), and so is a policy AWS does not list."
    ),
    cannot_judge=(
        "A policy computed at preview; an adopted configuration without tlsConfig keeps the "
        "policy it has (aisb check reads it)."
    ),
)

TYPES = ("aws:iot/domainConfiguration:DomainConfiguration", "aws-native:iot:DomainConfiguration")


def judge(subject: Subject, verdict: Verdict) -> None:
    if subject.resource_type not in TYPES:
        return
    tls = read(subject.props, "tlsConfig")
    if isinstance(tls, Unknown):
        verdict.not_judged(f"domain configuration {subject.name}: its tlsConfig is not known yet.")
        return
    if tls is None:
        return  # a new configuration gets AWS's default, IoTSecurityPolicy_TLS13_1_2_2022_10
    if not isinstance(tls, Mapping):
        verdict.flag(f"domain configuration {subject.name}: its tlsConfig cannot be read: {tls!r}.")
        return
    policy = tls.get("securityPolicy")
    if isinstance(policy, Unknown):
        verdict.not_judged(
            f"domain configuration {subject.name}: its tlsConfig.securityPolicy is not known yet."
        )
    elif policy is None or policy == "":
        return  # the service default, as above
    elif not isinstance(policy, str) or policy not in MINIMUM_TLS:
        verdict.flag(
            f"domain configuration {subject.name} uses {policy!r}, which is not one of AWS IoT's "
            "predefined security policies: it cannot be shown to refuse TLS below 1.2."
        )
    elif MINIMUM_TLS[policy] < "1.2":
        verdict.flag(
            f"domain configuration {subject.name} uses {policy}, which is named for TLS "
            f"{MINIMUM_TLS[policy]}: devices may negotiate TLS below 1.2."
        )


POLICY = resource_rule(ABOUT, judge)
