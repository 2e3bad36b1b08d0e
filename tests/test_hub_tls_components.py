"""``SecurityHubFindings`` and ``EndpointTlsPolicy`` on their own and in the baseline, under
mocks: what is registered, with which options, and what the stack config switches."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from aisb import EndpointTlsPolicy, SecurityHubFindings
from aisb.choices import IotTlsPolicy
from aisb.components.endpoint_tls import DATA_ATS
from aisb.settings import parse
from tests.harness import MINIMAL_CONFIG, run, run_main

ENDPOINT = "c1a2b3c4d5e6f7-ats.iot.us-east-1.amazonaws.com"


@pytest.mark.parametrize("partition", ["aws", "aws-us-gov", "aws-cn"])
def test_security_hub_subscribes_both_device_defender_products(partition: str) -> None:
    region = {"aws": "eu-west-1", "aws-us-gov": "us-gov-west-1", "aws-cn": "cn-north-1"}[partition]
    rec = run(
        lambda: SecurityHubFindings("hub", {"region": region, "partition": partition}),
        region=region,
        partition=partition,
    )
    subs = rec.of_type("aws:securityhub/productSubscription:ProductSubscription")
    arns = sorted(s.inputs["productArn"] for s in subs)
    assert arns == [
        f"arn:{partition}:securityhub:{region}::product/aws/iot-device-defender-audit",
        f"arn:{partition}:securityhub:{region}::product/aws/iot-device-defender-detect",
    ]
    (component,) = [r for r in rec.resources if r.type == "aisb:index:SecurityHubFindings"]
    for sub in subs:
        assert sub.parent == component.urn
        assert sub.name in ("hub-audit", "hub-detect")
        # Stopping the findings on destroy is what aisb's own subscription should do.
        assert sub.retain_on_delete is False


def test_endpoint_tls_adopts_the_default_configuration_and_keeps_it_on_destroy() -> None:
    rec = run(lambda: EndpointTlsPolicy("tls", {"domain_name": ENDPOINT}))
    config = rec.one("aws:iot/domainConfiguration:DomainConfiguration")
    assert config.import_id == DATA_ATS == "iot:Data-ATS"
    assert config.retain_on_delete is True
    assert config.inputs["name"] == DATA_ATS
    assert config.inputs["domainName"] == ENDPOINT
    assert config.inputs["serviceType"] == "DATA"
    assert config.inputs["status"] == "ENABLED"
    assert config.inputs["tlsConfig"] == {"securityPolicy": "IoTSecurityPolicy_TLS13_1_2_2022_10"}
    # The account's configuration, not aisb's: nothing else is set on it.
    assert "tags" not in config.inputs


def test_endpoint_tls_unmanaged_creates_nothing() -> None:
    rec = run(lambda: EndpointTlsPolicy("tls", {"security_policy": IotTlsPolicy.UNMANAGED}))
    assert rec.of_type("aws:iot/domainConfiguration:DomainConfiguration") == []


def test_endpoint_tls_refuses_a_policy_aws_does_not_offer_or_one_below_tls12() -> None:
    def endpoint(policy: str) -> Callable[[], None]:
        def program() -> None:
            EndpointTlsPolicy(
                "tls",
                {"domain_name": ENDPOINT, "security_policy": policy},  # type: ignore[typeddict-item]
            )

        return program

    for policy in ("IoTSecurityPolicy_TLS12_1_0_2016_01", "TLS13"):
        with pytest.raises(ValueError, match="security_policy"):
            run(endpoint(policy))
    with pytest.raises(ValueError, match="domain_name"):
        run(lambda: EndpointTlsPolicy("tls", {}))


def test_baseline_defaults_set_tls_1_2_and_leave_security_hub_off() -> None:
    rec = run_main(MINIMAL_CONFIG)
    config = rec.one("aws:iot/domainConfiguration:DomainConfiguration")
    assert config.inputs["tlsConfig"]["securityPolicy"] == "IoTSecurityPolicy_TLS13_1_2_2022_10"
    # The domain name is the account's data endpoint, looked up by the baseline.
    assert config.inputs["domainName"].endswith("-ats.iot.us-east-1.amazonaws.com")
    assert config.import_id == DATA_ATS
    assert rec.of_type("aws:securityhub/productSubscription:ProductSubscription") == []


def test_baseline_security_hub_and_unmanaged_tls_from_stack_config() -> None:
    rec = run_main({**MINIMAL_CONFIG, "aisb:securityHub": "true", "aisb:iotTlsPolicy": "unmanaged"})
    assert len(rec.of_type("aws:securityhub/productSubscription:ProductSubscription")) == 2
    assert rec.of_type("aws:iot/domainConfiguration:DomainConfiguration") == []
    assert not [r for r in rec.resources if r.type == "aisb:index:EndpointTlsPolicy"]


def test_stack_config_refuses_a_tls_policy_that_allows_tls_below_1_2() -> None:
    with pytest.raises(Exception, match="aisb:iotTlsPolicy"):
        parse({**MINIMAL_CONFIG, "aisb:iotTlsPolicy": "IoTSecurityPolicy_TLS12_1_0_2015_01"})
    settings = parse({**MINIMAL_CONFIG, "aisb:iotTlsPolicy": "IoTSecurityPolicy_TLS13_1_3_2022_10"})
    assert settings.iot_tls_policy == "IoTSecurityPolicy_TLS13_1_3_2022_10"
    assert parse(MINIMAL_CONFIG).security_hub is False


def test_only_the_aws_provider_can_adopt_the_default_configuration() -> None:
    """The contract behind the choice, from the sources: botocore's iot model takes
    ``iot:Data-ATS`` in Describe/Update but not in Create, and the CloudFormation schema behind
    aws-native (bundled by cfn-lint) identifies a configuration by a name without colons."""
    import re

    import botocore.session
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    iot = botocore.session.get_session().get_service_model("iot")

    def name_pattern(operation: str) -> str:
        shape = iot.operation_model(operation).input_shape.members["domainConfigurationName"]
        return str(shape.metadata["pattern"])

    for operation in ("DescribeDomainConfiguration", "UpdateDomainConfiguration"):
        assert re.fullmatch(name_pattern(operation), DATA_ATS)
    assert not re.fullmatch(name_pattern("CreateDomainConfiguration"), DATA_ATS)
    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(
        "us-east-1", "AWS::IoT::DomainConfiguration"
    ).schema
    assert schema["primaryIdentifier"] == ["/properties/DomainConfigurationName"]
    pattern = schema["properties"]["DomainConfigurationName"]["pattern"]
    assert not re.search(pattern, DATA_ATS)
    # The TLS policy is updatable (not create-only) in both, so adoption changes it in place.
    assert "/properties/TlsConfig" not in schema["createOnlyProperties"]
    assert "tlsConfig" in iot.operation_model("UpdateDomainConfiguration").input_shape.members


def test_a_weak_or_unknown_policy_is_never_called_tls_1_2() -> None:
    from aisb.choices import TLS_POLICY_MINIMUM, allows_below_tls12, values

    for policy in values(IotTlsPolicy):
        if policy != IotTlsPolicy.UNMANAGED:
            assert allows_below_tls12(policy) is False, policy
    assert allows_below_tls12("IoTSecurityPolicy_TLS12_1_0_2015_01") is True
    assert allows_below_tls12("IoTSecurityPolicy_TLS12_1_0_2016_01") is True
    assert allows_below_tls12("IoTSecurityPolicy_Something_New") is None
    # The pack keeps its own copy of the table (its own project): the two agree.
    import ast
    from pathlib import Path

    source = Path(__file__).resolve().parents[1] / "policy/aisb_guard/domain_configuration_tls.py"
    tree = ast.parse(source.read_text())
    (table,) = [
        node.value
        for node in tree.body
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "MINIMUM_TLS"
    ]
    assert table is not None and ast.literal_eval(table) == TLS_POLICY_MINIMUM
