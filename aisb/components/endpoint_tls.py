"""Beyond AISB's eleven: the TLS security policy of the account's default data endpoint."""

from types import MappingProxyType
from typing import TypedDict

import pulumi
import pulumi_aws as aws

from aisb import validation as v
from aisb.choices import IotTlsPolicy, values
from aisb.components._util import check_name, child, require_args
from aisb.options import Option, resolve

DATA_ATS = "iot:Data-ATS"
"""The name AWS gives the domain configuration of the account's default ATS data endpoint
(https://docs.aws.amazon.com/iot/latest/developerguide/iot-endpoints-tls-config.html, CLI
step 4). AWS creates it; it cannot be created (CreateDomainConfiguration's name pattern,
``[\\w.-]+`` in botocore's iot model, has no colon) and aisb never deletes it."""


class EndpointTlsPolicyArgs(TypedDict, total=False):
    """Arguments of ``EndpointTlsPolicy``."""

    domain_name: pulumi.Input[str]
    """The address of the account's ``iot:Data-ATS`` endpoint (``aws.iot.get_endpoint``): the
    default domain configuration's domain name, which cannot change (required unless
    ``security_policy`` is unmanaged)."""
    security_policy: IotTlsPolicy
    """TLS security policy of the account's default data endpoint (iot:Data-ATS):
    IoTSecurityPolicy_TLS13_1_2_2022_10 (TLS 1.2 and 1.3, the default),
    IoTSecurityPolicy_TLS13_1_3_2022_10 (TLS 1.3 only), IoTSecurityPolicy_TLS12_1_2_2022_10
    (TLS 1.2 only), IoTSecurityPolicy_TLS13_1_2_2022_01 (GovCloud), or unmanaged (left as
    it is)."""


OPTIONS = {
    "security_policy": Option(str(IotTlsPolicy.TLS13_1_2_2022_10), v.choice(values(IotTlsPolicy))),
}


class EndpointTlsPolicy(pulumi.ComponentResource):
    """Beyond AISB's eleven -- TLS in motion: the security policy of the account's default
    data endpoint, so devices cannot negotiate TLS below 1.2.

    Creates ``<name>-data-ats``: the existing ``iot:Data-ATS`` domain configuration, adopted
    with ``aws.iot.DomainConfiguration`` and the ``import`` resource option (Pulumi CLI 3.174
    or later imports it and updates its TLS policy in one deployment), with
    ``retain_on_delete``: ``pulumi destroy`` (or ``unmanaged`` later) only forgets it, and
    the endpoint keeps its last policy. Only its TLS policy is set; its name, domain, service
    type and status stay as AWS made them. Not tagged: the configuration is the account's,
    not aisb's. With ``unmanaged`` it creates nothing. Outputs: ``security_policy``,
    ``domain_configuration_arn`` (None when unmanaged).

    A device gets the configured policy only when it sends SNI with the endpoint's address
    (https://docs.aws.amazon.com/iot/latest/developerguide/transport-security.html).
    """

    security_policy: pulumi.Output[str]
    domain_configuration_arn: pulumi.Output[str | None]

    # No child name derives from it; typed by its value (an annotation would be an output).
    name_limits = MappingProxyType(dict[str, int]())

    def __init__(
        self, name: str, args: EndpointTlsPolicyArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        component = "EndpointTlsPolicy"
        check_name(component, name, self.name_limits)
        a = resolve(component, OPTIONS, (), args, declared_by=EndpointTlsPolicyArgs)
        policy = a["security_policy"]
        if policy != IotTlsPolicy.UNMANAGED:
            require_args(component, args, "domain_name")
        super().__init__("aisb:index:EndpointTlsPolicy", name, None, opts)
        self.security_policy = pulumi.Output.from_input(policy)
        self.domain_configuration_arn: pulumi.Output[str | None] = pulumi.Output.from_input(None)
        if policy != IotTlsPolicy.UNMANAGED:
            configuration = aws.iot.DomainConfiguration(
                f"{name}-data-ats",
                # The provider's id is the name (terraform-provider-aws
                # internal/service/iot/domain_configuration.go: Create's d.SetId, and an
                # importer that passes the id through). Every input but tls_config is what AWS
                # reports for the default configuration, so the import is an update of the
                # policy alone: name, domain name, service type and certificates are ForceNew,
                # and a replacement cannot succeed (that name cannot be created).
                name=DATA_ATS,
                domain_name=args["domain_name"],
                service_type="DATA",
                status="ENABLED",
                tls_config=aws.iot.DomainConfigurationTlsConfigArgs(security_policy=policy),
                opts=child(self, import_=DATA_ATS, retain_on_delete=True),
            )
            self.domain_configuration_arn = configuration.arn
        self.register_outputs(
            {
                "security_policy": self.security_policy,
                "domain_configuration_arn": self.domain_configuration_arn,
            }
        )
