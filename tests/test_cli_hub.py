"""The Security Hub and endpoint-TLS checks of ``aisb preflight`` and ``aisb check``, each where
it passes, fails and cannot tell, on a first run and on the day after a deploy. AWS answers
through botocore's Stubber, which validates every request against the service models
(securityhub DescribeHub, ListEnabledProductsForImport; iot DescribeDomainConfiguration)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from aisb.settings import parse
from aisb_tools.cli import check_checks as cc
from aisb_tools.cli import hub_checks as hub
from aisb_tools.cli import preflight_checks as pf
from aisb_tools.cli.results import FAIL, PASS, UNKNOWN
from tests.harness import MINIMAL_CONFIG
from tests.harness.aws import StubbedClients

TARGET = pf.Target("prod-us-east-1", "123456789012", "us-east-1", "aws")
HUB_ARN = "arn:aws:securityhub:us-east-1:123456789012:hub/default"
SUB = "arn:aws:securityhub:us-east-1:123456789012:product-subscription/aws/"
NOT_SUBSCRIBED = "Account 123456789012 is not subscribed to AWS Security Hub"
DATA_ATS = {"domainConfigurationName": "iot:Data-ATS"}


def _settings(**config: str) -> Any:
    return parse({**MINIMAL_CONFIG, **{f"aisb:{k}": v for k, v in config.items()}})


@pytest.fixture
def aws() -> Iterator[StubbedClients]:
    stubs = StubbedClients(hub.SERVICES)
    yield stubs
    stubs.verify()


def _hub_off(aws: StubbedClients, method: str) -> None:
    aws.stubs["securityhub"].add_client_error(method, "InvalidAccessException", NOT_SUBSCRIBED, 401)


def _policy(aws: StubbedClients, policy: str | None) -> None:
    response: dict[str, Any] = {"domainConfigurationName": "iot:Data-ATS"}
    if policy:
        response["tlsConfig"] = {"securityPolicy": policy}
    aws.ok("iot", "describe_domain_configuration", response, DATA_ATS)


def _only(results: list[Any]) -> Any:
    (result,) = results
    return result


def test_the_checks_are_registered_with_their_clients() -> None:
    assert set(hub.PREFLIGHT) <= set(pf.CHECKS) and set(hub.CHECK) <= set(cc.CHECKS)
    assert set(hub.SERVICES) <= set(pf.SERVICES) and set(hub.SERVICES) <= set(cc.SERVICES)


# --- preflight: Security Hub ------------------------------------------------------------------


def test_preflight_fails_when_findings_are_asked_for_and_security_hub_is_off(
    aws: StubbedClients,
) -> None:
    _hub_off(aws, "describe_hub")
    result = _only(hub.security_hub(aws.clients, _settings(securityHub="true"), TARGET))
    assert result.status == FAIL
    assert "not enabled in us-east-1" in result.detail
    assert "aisb:securityHub: false" in result.fix


def test_preflight_says_whether_security_hub_is_enabled_when_the_setting_is_off(
    aws: StubbedClients,
) -> None:
    _hub_off(aws, "describe_hub")
    result = _only(hub.security_hub(aws.clients, _settings(), TARGET))
    assert (result.status, "not enabled" in result.detail) == (PASS, True)
    aws.ok("securityhub", "describe_hub", {"HubArn": HUB_ARN})
    result = _only(hub.security_hub(aws.clients, _settings(), TARGET))
    assert result.status == PASS and "is enabled" in result.detail
    assert "aisb:securityHub: true" in result.fix


def test_preflight_first_run_and_day_two(aws: StubbedClients) -> None:
    on = _settings(securityHub="true")
    aws.ok("securityhub", "describe_hub", {"HubArn": HUB_ARN})
    aws.ok("securityhub", "list_enabled_products_for_import", {"ProductSubscriptions": []})
    first = _only(hub.security_hub(aws.clients, on, TARGET))
    assert (first.status, first.fix) == (PASS, None)
    # The day after a deploy both subscriptions exist (paginated): still a pass, with the
    # import commands in case they were accepted outside the stack.
    aws.ok("securityhub", "describe_hub", {"HubArn": HUB_ARN})
    aws.ok(
        "securityhub",
        "list_enabled_products_for_import",
        {"ProductSubscriptions": [SUB + "iot-device-defender-audit"], "NextToken": "t"},
    )
    aws.ok(
        "securityhub",
        "list_enabled_products_for_import",
        {"ProductSubscriptions": [SUB + "iot-device-defender-detect", SUB + "guardduty"]},
        {"NextToken": "t"},
    )
    second = _only(hub.security_hub(aws.clients, on, TARGET))
    assert second.status == PASS and "audit and detect" in second.detail
    assert second.fix.count("pulumi import aws:securityhub/productSubscription") == 2
    assert (
        "aisb-security-hub-audit 'arn:aws:securityhub:us-east-1::product/aws/"
        "iot-device-defender-audit,arn:aws:securityhub:us-east-1:123456789012:"
        "product-subscription/aws/iot-device-defender-audit'" in second.fix
    )


def test_preflight_security_hub_that_cannot_be_read_is_unknown(aws: StubbedClients) -> None:
    for config in ({}, {"securityHub": "true"}):
        aws.error("securityhub", "describe_hub", "AccessDeniedException")
        result = _only(hub.security_hub(aws.clients, _settings(**config), TARGET))
        assert result.status == UNKNOWN
    # An InvalidAccessException that is not "not subscribed" is not read as "not enabled".
    aws.error("securityhub", "describe_hub", "InvalidAccessException")
    assert _only(hub.security_hub(aws.clients, _settings(), TARGET)).status == UNKNOWN


# --- preflight: endpoint TLS ------------------------------------------------------------------


def test_preflight_warns_when_devices_may_still_negotiate_old_tls(aws: StubbedClients) -> None:
    _policy(aws, "IoTSecurityPolicy_TLS12_1_0_2015_01")
    result = _only(hub.endpoint_tls(aws.clients, _settings(), TARGET))
    assert result.status == PASS
    assert "may still negotiate TLS below 1.2" in result.detail
    assert "`pulumi up` sets IoTSecurityPolicy_TLS13_1_2_2022_10" in result.detail
    assert "cannot connect" in result.fix
    # Unmanaged, nothing would fix it.
    _policy(aws, "IoTSecurityPolicy_TLS12_1_0_2016_01")
    result = _only(hub.endpoint_tls(aws.clients, _settings(iotTlsPolicy="unmanaged"), TARGET))
    assert result.status == FAIL and "below 1.2" in result.detail


def test_preflight_endpoint_tls_day_two_and_what_it_cannot_tell(aws: StubbedClients) -> None:
    _policy(aws, "IoTSecurityPolicy_TLS13_1_2_2022_10")
    result = _only(hub.endpoint_tls(aws.clients, _settings(), TARGET))
    assert (result.status, result.fix) == (PASS, None)
    _policy(aws, None)
    assert _only(hub.endpoint_tls(aws.clients, _settings(), TARGET)).status == UNKNOWN
    _policy(aws, "IoTSecurityPolicy_TLS14_1_3_2030_01")
    assert _only(hub.endpoint_tls(aws.clients, _settings(), TARGET)).status == UNKNOWN
    aws.error("iot", "describe_domain_configuration", "UnauthorizedException")
    assert _only(hub.endpoint_tls(aws.clients, _settings(), TARGET)).status == UNKNOWN
    aws.error("iot", "describe_domain_configuration", "ResourceNotFoundException")
    result = _only(hub.endpoint_tls(aws.clients, _settings(), TARGET))
    assert result.status == FAIL and "unmanaged" in result.fix


def test_preflight_refuses_tls_policies_in_china_before_asking(aws: StubbedClients) -> None:
    china = pf.Target("prod-cn-north-1", "123456789012", "cn-north-1", "aws-cn")
    result = _only(hub.endpoint_tls(aws.clients, _settings(), china))
    assert result.status == FAIL and "aisb:iotTlsPolicy: unmanaged" in result.fix


def test_preflight_keeps_the_govcloud_policy_to_govcloud(aws: StubbedClients) -> None:
    gov = _settings(iotTlsPolicy="IoTSecurityPolicy_TLS13_1_2_2022_01")
    result = _only(hub.endpoint_tls(aws.clients, gov, TARGET))
    assert result.status == FAIL and "GovCloud" in result.detail
    west = pf.Target("prod-us-gov-west-1", "123456789012", "us-gov-west-1", "aws-us-gov")
    _policy(aws, "IoTSecurityPolicy_TLS13_1_2_2022_01")
    assert _only(hub.endpoint_tls(aws.clients, gov, west)).status == PASS


# --- check ------------------------------------------------------------------------------------


def test_check_findings_flow(aws: StubbedClients) -> None:
    on = _settings(securityHub="true")
    assert hub.security_hub_findings(aws.clients, _settings()) == []
    aws.ok(
        "securityhub",
        "list_enabled_products_for_import",
        {
            "ProductSubscriptions": [
                SUB + "iot-device-defender-audit",
                SUB + "iot-device-defender-detect",
            ]
        },
    )
    assert _only(hub.security_hub_findings(aws.clients, on)).status == PASS
    aws.ok(
        "securityhub",
        "list_enabled_products_for_import",
        {"ProductSubscriptions": [SUB + "iot-device-defender-audit"]},
    )
    result = _only(hub.security_hub_findings(aws.clients, on))
    assert result.status == FAIL and "detect" in result.detail
    _hub_off(aws, "list_enabled_products_for_import")
    result = _only(hub.security_hub_findings(aws.clients, on))
    assert result.status == FAIL and "not enabled" in result.detail
    aws.error("securityhub", "list_enabled_products_for_import", "AccessDeniedException")
    assert _only(hub.security_hub_findings(aws.clients, on)).status == UNKNOWN


def test_check_verifies_the_endpoint_policy(aws: StubbedClients) -> None:
    _policy(aws, "IoTSecurityPolicy_TLS13_1_2_2022_10")
    assert _only(hub.endpoint_tls_policy(aws.clients, _settings())).status == PASS
    # Changed outside the stack.
    _policy(aws, "IoTSecurityPolicy_TLS12_1_2_2022_10")
    result = _only(hub.endpoint_tls_policy(aws.clients, _settings()))
    assert result.status == FAIL and "the stack sets IoTSecurityPolicy_TLS13_1_2_2022_10" in (
        result.detail
    )
    _policy(aws, None)
    assert _only(hub.endpoint_tls_policy(aws.clients, _settings())).status == UNKNOWN
    aws.error("iot", "describe_domain_configuration", "ThrottlingException")
    assert _only(hub.endpoint_tls_policy(aws.clients, _settings())).status == UNKNOWN
    unmanaged = _settings(iotTlsPolicy="unmanaged")
    _policy(aws, "IoTSecurityPolicy_TLS12_1_0_2016_01")
    assert _only(hub.endpoint_tls_policy(aws.clients, unmanaged)).status == FAIL
    _policy(aws, "IoTSecurityPolicy_TLS13_1_3_2022_10")
    assert _only(hub.endpoint_tls_policy(aws.clients, unmanaged)).status == PASS
    _policy(aws, "IoTSecurityPolicy_Custom")
    assert _only(hub.endpoint_tls_policy(aws.clients, unmanaged)).status == UNKNOWN
