"""Beyond AISB's eleven: Device Defender findings accepted into AWS Security Hub."""

from types import MappingProxyType
from typing import Required, TypedDict

import pulumi
import pulumi_aws as aws

from aisb.components._util import check_name, child, require_args
from aisb.options import Option, resolve

# The Security Hub products AWS IoT Device Defender sends findings as (the ProductArn of the
# findings in the Device Defender guide's "Integration with AWS Security Hub":
# https://docs.aws.amazon.com/iot-device-defender/latest/devguide/securityhub-integration.html).
# A product ARN has no account: arn:<partition>:securityhub:<region>::product/aws/<product>.
PRODUCTS: dict[str, str] = {
    "audit": "iot-device-defender-audit",
    "detect": "iot-device-defender-detect",
}


def product_arn(partition: str, region: str, product: str) -> str:
    """The Security Hub product ARN of a Device Defender feature (``audit`` or ``detect``)."""
    return f"arn:{partition}:securityhub:{region}::product/aws/{PRODUCTS[product]}"


class SecurityHubFindingsArgs(TypedDict, total=False):
    """Arguments of ``SecurityHubFindings``."""

    region: Required[pulumi.Input[str]]
    """The AWS region the providers deploy to (the products' ARNs name it)."""
    partition: Required[pulumi.Input[str]]
    """The AWS partition."""


OPTIONS: dict[str, Option] = {}


class SecurityHubFindings(pulumi.ComponentResource):
    """Beyond AISB's eleven -- AWS IoT Device Defender findings in AWS Security Hub.

    Security teams triage in Security Hub; this accepts Device Defender's audit and detect
    findings there (in ASFF), beside GuardDuty's. Security Hub itself must already be enabled
    in the region (usually by the organisation's delegated administrator): this never enables
    or disables it, and a subscription fails where it is not enabled (``aisb preflight`` says
    so first).

    Creates ``<name>-audit`` and ``<name>-detect``: an ``aws.securityhub.ProductSubscription``
    for each of Device Defender's two products (``EnableImportFindingsForProduct``;
    ``pulumi destroy`` stops the findings with ``DisableImportFindingsForProduct``; findings
    already in Security Hub stay). Not taggable. Outputs: ``subscription_arns`` (product:
    subscription ARN).
    """

    subscription_arns: pulumi.Output[dict[str, str]]

    # No child name derives from it; typed by its value (an annotation would be an output).
    name_limits = MappingProxyType(dict[str, int]())

    def __init__(
        self, name: str, args: SecurityHubFindingsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        component = "SecurityHubFindings"
        check_name(component, name, self.name_limits)
        resolve(component, OPTIONS, (), args, declared_by=SecurityHubFindingsArgs)
        require_args(component, args, "region", "partition")
        super().__init__("aisb:index:SecurityHubFindings", name, None, opts)
        region, partition = args["region"], args["partition"]

        def arn_of(product: str) -> pulumi.Output[str]:
            return pulumi.Output.all(partition, region).apply(
                lambda pr: product_arn(pr[0], pr[1], product)
            )

        subscriptions = {
            product: aws.securityhub.ProductSubscription(
                f"{name}-{product}", product_arn=arn_of(product), opts=child(self)
            )
            for product in PRODUCTS
        }
        self.subscription_arns = pulumi.Output.all(
            **{product: s.arn for product, s in subscriptions.items()}
        )
        self.register_outputs({"subscription_arns": self.subscription_arns})
