"""Each rule fires on a crafted bad resource and stays quiet on a good one, for both the
``aws`` and ``aws-native`` resource types that can express it."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from aisb_guard import (
    ABOUT,
    POLICIES,
    account_singletons,
    certificate_from_csr,
    certificate_key_quality,
    certificate_not_shared,
    domain_configuration_tls,
    iot_logging_enabled,
    iot_policy_deny_wildcards,
    iot_policy_overly_permissive,
    role_alias_credential_duration,
    role_alias_role_permissions,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from tests.harness import resource, resource_args, stack_args, violations
from tests.roca import M, roca_key

ARN = "arn:aws:iot:eu-west-1:123456789012"


def _doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _iot_policy(doc: dict[str, Any], native: bool) -> tuple[str, dict[str, Any]]:
    if native:
        return "aws-native:iot:Policy", {"policyDocument": doc}
    return "aws:iot/policy:Policy", {"policy": json.dumps(doc)}


# --- the pack's shape ------------------------------------------------------------------------


def test_every_rule_has_a_stable_id_guidance_and_a_level() -> None:
    ids = [about.id for about in ABOUT]
    assert len(set(ids)) == len(ids) == len(POLICIES) >= 9
    for about, policy in zip(ABOUT, POLICIES, strict=True):
        assert policy.name == about.id and about.id.startswith("aisb-")
        assert about.enforcement in (EnforcementLevel.MANDATORY, EnforcementLevel.ADVISORY)
        assert about.description and about.remediation and about.anticipates
        assert about.url.startswith("https://docs.aws.amazon.com/")
        assert policy.framework is not None and policy.framework.reference == about.anticipates
        assert policy.remediation_steps == about.remediation
        assert isinstance(policy, ResourceValidationPolicy | StackValidationPolicy)


# --- the engine's values ---------------------------------------------------------------------


def test_the_engines_proxies_secrets_and_unknowns_are_read() -> None:
    """pulumi-policy hands rules _DictProxy/_ListProxy values (policy.py:997-998), secrets
    unwrapped (deserialize.py:65-72), unknowns raising on access (proxy.py:102-120)."""
    from aisb_guard._rule import Unknown, plain, read

    props = unknown_checking_proxy(
        deserialize_properties(
            {
                "doc": {"Statement": [{"Action": ["iot:*"], "Resource": UNKNOWN_STRING_VALUE}]},
                "secret": {
                    "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
                    "value": ["a", "b"],
                },
                "later": UNKNOWN_STRING_VALUE,
            }
        )
    )
    assert not isinstance(props["doc"], dict) and not isinstance(props["secret"], list)
    assert read(props, "doc") == {
        "Statement": [{"Action": ["iot:*"], "Resource": Unknown("doc.Statement[0].Resource")}]
    }
    assert read(props, "secret") == ["a", "b"]
    assert read(props, "later") == Unknown("later")
    assert read(props, "absent") is None
    assert plain(UNKNOWN_STRING_VALUE, "x") == Unknown("x")


# --- IOT_POLICY_OVERLY_PERMISSIVE_CHECK --------------------------------------------------------

BAD_IOT_POLICIES = [
    _doc({"Effect": "Allow", "Action": "iot:*", "Resource": f"{ARN}:client/device-1"}),
    _doc({"Effect": "Allow", "Action": ["*"], "Resource": "*"}),
    _doc({"Effect": "Allow", "Action": ["iot:Connect"], "Resource": "*"}),
    _doc({"Effect": "Allow", "Action": "iot:Publish", "Resource": f"{ARN}:topic/*"}),
    _doc({"Effect": "Allow", "Action": "iot:UpdateThingShadow", "Resource": f"{ARN}:thing/*"}),
    _doc({"Effect": "Allow", "Action": "iot:Get*", "Resource": "arn:aws:iot:*:*:*"}),
    # Stricter than the audit page: a shared prefix no policy variable narrows to one device.
    _doc({"Effect": "Allow", "Action": "iot:Publish", "Resource": f"{ARN}:topic/telemetry/*"}),
]
GOOD_IOT_POLICIES = [
    _doc(
        {
            "Effect": "Allow",
            "Action": "iot:Connect",
            "Resource": f"{ARN}:client/${{iot:Connection.Thing.ThingName}}",
        },
        {
            "Effect": "Allow",
            "Action": ["iot:Publish", "iot:Receive"],
            "Resource": f"{ARN}:topic/devices/${{iot:Connection.Thing.ThingName}}/*",
        },
    ),
    _doc({"Effect": "Allow", "Action": "iot:Publish", "Resource": f"{ARN}:topic/telemetry"}),
    _doc({"Effect": "Deny", "Action": "iot:*", "Resource": "*"}),  # a quarantine policy
]


@pytest.mark.parametrize("native", [False, True])
@pytest.mark.parametrize("doc", BAD_IOT_POLICIES)
def test_an_overly_permissive_iot_policy_is_refused(doc: dict[str, Any], native: bool) -> None:
    found = violations(
        iot_policy_overly_permissive.POLICY, resource_args(*_iot_policy(doc, native))
    )
    assert len(found) == 1 and found[0].startswith("IoT policy r: statement 1 allows")


@pytest.mark.parametrize("native", [False, True])
@pytest.mark.parametrize("doc", GOOD_IOT_POLICIES)
def test_a_scoped_iot_policy_passes(doc: dict[str, Any], native: bool) -> None:
    assert (
        violations(iot_policy_overly_permissive.POLICY, resource_args(*_iot_policy(doc, native)))
        == []
    )


# --- IOT_POLICY_POTENTIAL_MIS_CONFIGURATION_CHECK ---------------------------------------------


@pytest.mark.parametrize("native", [False, True])
@pytest.mark.parametrize("wildcard", ["#", "+/temperature"])
def test_a_deny_with_mqtt_wildcards_is_flagged(native: bool, wildcard: str) -> None:
    doc = _doc(
        {
            "Effect": "Deny",
            "Action": "iot:Subscribe",
            "Resource": f"{ARN}:topicfilter/room/{wildcard}",
        }
    )
    (found,) = violations(
        iot_policy_deny_wildcards.POLICY, resource_args(*_iot_policy(doc, native))
    )
    assert "read literally" in found


@pytest.mark.parametrize("native", [False, True])
def test_a_deny_with_the_policy_wildcard_passes(native: bool) -> None:
    ok = _doc(
        {"Effect": "Deny", "Action": "iot:Subscribe", "Resource": f"{ARN}:topicfilter/room/*"},
        {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": f"{ARN}:topicfilter/a/#"},
    )
    assert (
        violations(iot_policy_deny_wildcards.POLICY, resource_args(*_iot_policy(ok, native))) == []
    )


# --- LOGGING_DISABLED_CHECK ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "props"),
    [
        ("aws:iot/loggingOptions:LoggingOptions", {"defaultLogLevel": "DISABLED", "roleArn": "r"}),
        (
            "aws:iot/loggingOptions:LoggingOptions",
            {"defaultLogLevel": "ERROR", "disableAllLogs": True},
        ),
        (
            "aws-native:iot:Logging",
            {"accountId": "1", "defaultLogLevel": "DISABLED", "roleArn": "r"},
        ),
    ],
)
def test_logging_switched_off_is_refused(type_: str, props: dict[str, Any]) -> None:
    (found,) = violations(iot_logging_enabled.POLICY, resource_args(type_, props))
    assert "AWS IoT would log nothing" in found


@pytest.mark.parametrize(
    "type_", ["aws:iot/loggingOptions:LoggingOptions", "aws-native:iot:Logging"]
)
def test_logging_on_passes(type_: str) -> None:
    props = {"defaultLogLevel": "ERROR", "disableAllLogs": False, "roleArn": "r"}
    assert violations(iot_logging_enabled.POLICY, resource_args(type_, props)) == []


# --- IOT_ROLE_ALIAS_OVERLY_PERMISSIVE_CHECK ----------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "key"),
    [
        ("aws:iot/roleAlias:RoleAlias", "credentialDuration"),
        ("aws-native:iot:RoleAlias", "credentialDurationSeconds"),
    ],
)
def test_role_alias_credentials_last_an_hour_at_most(type_: str, key: str) -> None:
    policy = role_alias_credential_duration.POLICY
    (found,) = violations(policy, resource_args(type_, {key: 43200, "roleArn": "r"}))
    assert "43200 s" in found
    assert violations(policy, resource_args(type_, {key: 3600, "roleArn": "r"})) == []
    assert violations(policy, resource_args(type_, {"roleArn": "r"})) == []  # default: 3600


def _alias_stack(role_type: str, policy_doc: dict[str, Any], inline: bool) -> list[Any]:
    role_props: dict[str, Any] = {"assumeRolePolicy": "{}"}
    if inline and role_type == "aws:iam/role:Role":
        role_props["inlinePolicies"] = [{"name": "p", "policy": json.dumps(policy_doc)}]
    if inline and role_type == "aws-native:iam:Role":
        role_props["policies"] = [{"policyName": "p", "policyDocument": policy_doc}]
    role = resource(role_type, "device-role", role_props)
    alias_type = (
        "aws-native:iot:RoleAlias"
        if role_type.startswith("aws-native")
        else "aws:iot/roleAlias:RoleAlias"
    )
    alias = resource(alias_type, "alias", {"roleArn": "arn"}, {"roleArn": [role]})
    found = [role, alias]
    if not inline:
        if role_type == "aws:iam/role:Role":
            found.append(
                resource(
                    "aws:iam/rolePolicy:RolePolicy",
                    "rp",
                    {"policy": json.dumps(policy_doc)},
                    {"role": [role]},
                )
            )
        else:
            found.append(
                resource(
                    "aws-native:iam:RolePolicy",
                    "rp",
                    {"policyDocument": policy_doc},
                    {"roleName": [role]},
                )
            )
    return found


@pytest.mark.parametrize("role_type", ["aws:iam/role:Role", "aws-native:iam:Role"])
@pytest.mark.parametrize("inline", [True, False])
@pytest.mark.parametrize("action", ["*", "s3:*", "iam:PassRole", "guardduty:ListFindings"])
def test_a_role_alias_role_with_broad_actions_is_refused(
    role_type: str, inline: bool, action: str
) -> None:
    doc = _doc({"Effect": "Allow", "Action": ["s3:PutObject", action], "Resource": "*"})
    (found,) = violations(
        role_alias_role_permissions.POLICY, stack_args(_alias_stack(role_type, doc, inline))
    )
    assert found.startswith("role alias alias: its role device-role allows " + action)


@pytest.mark.parametrize("role_type", ["aws:iam/role:Role", "aws-native:iam:Role"])
@pytest.mark.parametrize("inline", [True, False])
def test_a_scoped_role_alias_role_passes(role_type: str, inline: bool) -> None:
    doc = _doc(
        {
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::logs/${credentials-iot:ThingName}/*",
        },
        {"Effect": "Deny", "Action": "*", "Resource": "*"},
    )
    assert (
        violations(
            role_alias_role_permissions.POLICY, stack_args(_alias_stack(role_type, doc, inline))
        )
        == []
    )


def test_a_broad_role_without_a_role_alias_is_not_this_rules_business() -> None:
    role = resource(
        "aws:iam/role:Role",
        "admin",
        {
            "inlinePolicies": [
                {"policy": json.dumps(_doc({"Effect": "Allow", "Action": "*", "Resource": "*"}))}
            ]
        },
    )
    assert violations(role_alias_role_permissions.POLICY, stack_args([role])) == []


# --- certificates --------------------------------------------------------------------------------


def _csr(key: Any) -> str:
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "device-1")]))
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM).decode()


def test_a_certificate_without_a_csr_is_refused() -> None:
    policy = certificate_from_csr.POLICY
    (found,) = violations(
        policy, resource_args("aws:iot/certificate:Certificate", {"active": True})
    )
    assert "neither csr nor certificatePem" in found
    for props in ({"active": True, "csr": "pem"}, {"active": True, "certificatePem": "pem"}):
        assert violations(policy, resource_args("aws:iot/certificate:Certificate", props)) == []
    native = {"certificateMode": "DEFAULT", "status": "ACTIVE"}
    assert violations(policy, resource_args("aws-native:iot:Certificate", native)) == []


@pytest.fixture(scope="module")
def csrs() -> dict[str, str]:
    return {
        "rsa1024": _csr(rsa.generate_private_key(public_exponent=65537, key_size=1024)),
        "rsa2048": _csr(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        "p256": _csr(ec.generate_private_key(ec.SECP256R1())),
        "k256": _csr(ec.generate_private_key(ec.SECP256K1())),
        "roca": _csr(roca_key(2048)),
    }


@pytest.mark.parametrize(
    ("type_", "key"),
    [
        ("aws:iot/certificate:Certificate", "csr"),
        ("aws-native:iot:Certificate", "certificateSigningRequest"),
    ],
)
def test_weak_keys_are_refused_strong_ones_pass(csrs: dict[str, str], type_: str, key: str) -> None:
    policy = certificate_key_quality.POLICY
    (weak_rsa,) = violations(policy, resource_args(type_, {key: csrs["rsa1024"]}))
    assert "an RSA key of 1024 bits" in weak_rsa
    (weak_curve,) = violations(policy, resource_args(type_, {key: csrs["k256"]}))
    assert "secp256k1" in weak_curve
    (roca,) = violations(policy, resource_args(type_, {key: csrs["roca"]}))
    assert "ROCA fingerprint (CVE-2017-15361)" in roca
    for strong in ("rsa2048", "p256"):
        assert violations(policy, resource_args(type_, {key: csrs[strong]})) == []
    (unreadable,) = violations(policy, resource_args(type_, {key: "not a pem"}))
    assert "no PEM certificate signing request or certificate the rule can read" in unreadable


def test_the_roca_fingerprint_is_one_exponent_modulo_the_primorial() -> None:
    """CVE-2017-15361: a modulus of two primes of the vulnerable form is found; a modulus that
    is a power of 65537 modulo each small prime, but not with one exponent for all, is not
    (that test alone would flag about one random modulus in 2^28); random moduli are not."""
    fingerprint = certificate_key_quality.roca_fingerprint
    rng = random.Random(15361)
    # The primorial the library used grows with the key (primes up to 701 for 2048 bits): a
    # multiple of the one the fingerprint tests.
    for bits, seed, largest in ((2048, 1, 167), (3072, 2, 167), (1024, 3, 167), (2048, 4, 701)):
        key = roca_key(bits, seed, largest)
        assert key.key_size == bits
        assert fingerprint(key.public_key().public_numbers().n)
    # A residue modulo each prime, each a power of 65537 with its own random exponent, put
    # together by the Chinese remainder theorem: no one exponent fits them all.
    residues = {p: pow(65537, rng.randrange(p - 1), p) for p in certificate_key_quality.ROCA_PRIMES}
    modulus = sum(r * (M // 2 // p) * pow(M // 2 // p, -1, p) for p, r in residues.items())
    mixed = modulus % (M // 2) + (M // 2) * rng.getrandbits(1800)
    assert all(mixed % p == r for p, r in residues.items())
    assert not fingerprint(mixed)
    # One exponent for all: the same construction is found.
    a = rng.getrandbits(62)
    assert fingerprint(pow(65537, a, M // 2) + (M // 2) * rng.getrandbits(1800))
    assert not any(fingerprint(rng.getrandbits(2048) | 1) for _ in range(2000))
    assert not any(
        fingerprint(rsa.generate_private_key(65537, 2048).public_key().public_numbers().n)
        for _ in range(3)
    )


def test_a_weak_registered_certificate_is_refused() -> None:
    import datetime

    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "device-1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    (found,) = violations(
        certificate_key_quality.POLICY,
        resource_args("aws:iot/certificate:Certificate", {"certificatePem": pem}),
    )
    assert "certificatePem has an RSA key of 1024 bits" in found


@pytest.mark.parametrize(
    ("type_", "thing_key"),
    [
        ("aws:iot/thingPrincipalAttachment:ThingPrincipalAttachment", "thing"),
        ("aws-native:iot:ThingPrincipalAttachment", "thingName"),
    ],
)
def test_a_certificate_attached_to_two_things_is_flagged(type_: str, thing_key: str) -> None:
    cert = resource("aws:iot/certificate:Certificate", "cert", {"csr": "pem"})
    things = [resource("aws:iot/thing:Thing", f"thing-{i}", {}) for i in range(2)]

    def attach(i: int, thing: Any) -> Any:
        # Neither value known (at preview): the certificate and things they come from count.
        return resource(
            type_,
            f"attach-{i}",
            {"principal": UNKNOWN_STRING_VALUE, thing_key: UNKNOWN_STRING_VALUE},
            {"principal": [cert], thing_key: [thing]},
        )

    shared = [cert, *things, attach(0, things[0]), attach(1, things[1])]
    (found,) = violations(certificate_not_shared.POLICY, stack_args(shared))
    assert "certificate cert is attached to 2 things" in found
    one_each = [cert, *things, attach(0, things[0])]
    assert violations(certificate_not_shared.POLICY, stack_args(one_each)) == []
    # Literal principals (certificates registered elsewhere) count too.
    literal = [
        resource(type_, f"attach-{t}", {"principal": f"{ARN}:cert/abc", thing_key: t})
        for t in ("a", "b")
    ]
    assert len(violations(certificate_not_shared.POLICY, stack_args(literal))) == 1


# --- account singletons -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "type_",
    [
        "aws:iot/loggingOptions:LoggingOptions",
        "aws-native:iot:Logging",
        "aws-native:iot:AccountAuditConfiguration",
    ],
)
def test_account_settings_belong_to_the_baseline(type_: str) -> None:
    policy = account_singletons.POLICY
    (found,) = violations(policy, resource_args(type_, {}, "mine", parents=["acme:index:Platform"]))
    assert "managed outside the aisb baseline" in found
    component = "aisb:index:IotLogging" if "ogging" in type_ else "aisb:index:DeviceDefenderAudit"
    inside = resource_args(
        type_, {}, "aisb-x", parents=["aisb:index:IotSecurityBaseline", component]
    )
    assert violations(policy, inside) == []


# --- data in motion: domain configurations' TLS policy ----------------------------------------


@pytest.mark.parametrize(
    "type_",
    ["aws:iot/domainConfiguration:DomainConfiguration", "aws-native:iot:DomainConfiguration"],
)
def test_domain_configurations_keep_tls_1_2_or_later(type_: str) -> None:
    policy = domain_configuration_tls.POLICY

    def found(props: dict[str, Any]) -> list[str]:
        return violations(policy, resource_args(type_, props, name="endpoint"))

    for weak in ("IoTSecurityPolicy_TLS12_1_0_2015_01", "IoTSecurityPolicy_TLS12_1_0_2016_01"):
        (message,) = found({"tlsConfig": {"securityPolicy": weak}})
        assert weak in message and "below 1.2" in message
    (message,) = found({"tlsConfig": {"securityPolicy": "MyOwnPolicy"}})
    assert "not one of AWS IoT's predefined security policies" in message
    for strong in (
        "IoTSecurityPolicy_TLS13_1_3_2022_10",
        "IoTSecurityPolicy_TLS13_1_2_2022_10",
        "IoTSecurityPolicy_TLS12_1_2_2022_10",
        "IoTSecurityPolicy_TLS13_1_2_2022_01",
    ):
        assert found({"tlsConfig": {"securityPolicy": strong}}) == []
    # Unset: a new configuration gets AWS's default, IoTSecurityPolicy_TLS13_1_2_2022_10.
    assert found({}) == []
    assert found({"tlsConfig": {}}) == []
    (message,) = found({"tlsConfig": "TLS12"})
    assert "cannot be read" in message
    # Other types are not this rule's.
    assert violations(policy, resource_args("aws:iot/policy:Policy", {"tlsConfig": "x"})) == []


def test_an_unknown_tls_policy_is_not_judged_and_not_passed() -> None:
    from dataclasses import dataclass

    from aisb_guard._rule import judge_resource

    @dataclass
    class Subject:
        props: Any
        urn: str = "urn:pulumi:dev::p::aws:iot/domainConfiguration:DomainConfiguration::e"
        resource_type: str = "aws:iot/domainConfiguration:DomainConfiguration"
        name: str = "e"

    for tls in ({"securityPolicy": UNKNOWN_STRING_VALUE}, UNKNOWN_STRING_VALUE):
        props = unknown_checking_proxy(deserialize_properties({"tlsConfig": tls}))
        verdict = judge_resource(domain_configuration_tls.judge, Subject(props))
        assert verdict.findings == []
        assert [m for m, _ in verdict.unjudged] and "not known yet" in verdict.unjudged[0][0]
