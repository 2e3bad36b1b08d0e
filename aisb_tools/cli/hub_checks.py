"""Preflight and check for what aisb adds beyond AISB's eleven: Device Defender findings in
AWS Security Hub (``aisb:securityHub``) and the TLS policy of the account's default data
endpoint (``aisb:iotTlsPolicy``). Reads only.

Preflight (``(clients, settings, target, state)``): whether Security Hub is enabled in the region
(aisb never enables or disables it, and a product subscription fails where it is not), and
whether devices may still negotiate TLS below 1.2 on ``iot:Data-ATS`` today. Check
(``(clients, settings)``): whether Device Defender's findings flow (both product
subscriptions exist) and whether the endpoint's policy is the stack's.

The calls, their shapes and errors are botocore's models: securityhub ``DescribeHub`` and
``ListEnabledProductsForImport`` (paginated), iot ``DescribeDomainConfiguration``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from aisb.choices import IotTlsPolicy, allows_below_tls12
from aisb.components.endpoint_tls import DATA_ATS
from aisb.components.security_hub import PRODUCTS
from aisb.settings import BASELINE_NAME, Settings
from aisb_tools.cli.results import FAIL, PASS, UNKNOWN, Result, guarded

if TYPE_CHECKING:
    from aisb_tools.cli.preflight_checks import Target

Clients = Mapping[str, Any]

HUB, TLS, FINDINGS = "security-hub", "endpoint-tls", "security-hub-findings"
UNMANAGED = str(IotTlsPolicy.UNMANAGED)
# "Security policies ... This feature is not available in China"
# (https://docs.amazonaws.cn/en_us/iot/latest/developerguide/transport-security.html).
NO_TLS_POLICIES = frozenset({"aws-cn"})
# "TLS13_1_2_2022_01 is only available in AWS GovCloud (US) regions" (the same page's note).
GOVCLOUD = "aws-us-gov"


def _not_enabled(error: ClientError) -> bool:
    """Security Hub's answer where it is not enabled: InvalidAccessException, "Account ... is
    not subscribed to AWS Security Hub" (what terraform-provider-aws matches in
    internal/service/securityhub/product_subscription.go, findProductSubscriptions)."""
    err = error.response.get("Error", {})
    return err.get("Code") == "InvalidAccessException" and "not subscribed" in str(
        err.get("Message", "")
    )


def _hub_enabled(clients: Clients) -> str | None:
    """The hub's ARN, or None where Security Hub is not enabled; other errors propagate."""
    try:
        return str(clients["securityhub"].describe_hub().get("HubArn", ""))
    except ClientError as error:
        if _not_enabled(error):
            return None
        raise


def _subscribed(clients: Clients) -> set[str]:
    """Which Device Defender products (audit, detect) Security Hub accepts findings from."""
    found: set[str] = set()
    paginator = clients["securityhub"].get_paginator("list_enabled_products_for_import")
    for page in paginator.paginate():
        for arn in page.get("ProductSubscriptions", []):
            for product, name in PRODUCTS.items():
                if str(arn).endswith(f":product-subscription/aws/{name}"):
                    found.add(product)
    return found


def security_hub(
    clients: Clients, settings: Settings, target: Target, state: object = None
) -> list[Result]:
    """Preflight: whether Security Hub is enabled where the stack deploys."""

    def check() -> Result:
        wanted = bool(settings.security_hub)
        hub = _hub_enabled(clients)
        if hub is None:
            if not wanted:
                return Result(
                    HUB,
                    None,
                    PASS,
                    f"Security Hub is not enabled in {target.region}; aisb:securityHub is off",
                )
            return Result(
                HUB,
                None,
                FAIL,
                f"Security Hub is not enabled in {target.region}: the Device Defender product "
                "subscriptions fail (aisb never enables Security Hub)",
                "enable Security Hub in this region (usually the organisation's delegated "
                "administrator does), or set aisb:securityHub: false",
            )
        if not wanted:
            return Result(
                HUB,
                None,
                PASS,
                f"Security Hub is enabled in {target.region}; aisb:securityHub is off, so "
                "Device Defender findings only reach the alert topic",
                "set aisb:securityHub: true to accept them into Security Hub",
            )
        already = sorted(_subscribed(clients))
        if not already:
            return Result(HUB, None, PASS, f"Security Hub is enabled ({hub})")
        parent = target.urn(
            "aisb:index:IotSecurityBaseline$aisb:index:SecurityHubFindings",
            f"{BASELINE_NAME}-security-hub",
        )
        imports = "; ".join(
            "pulumi import aws:securityhub/productSubscription:ProductSubscription "
            f"{BASELINE_NAME}-security-hub-{p} "
            f"'arn:{target.partition}:securityhub:{target.region}::product/aws/{PRODUCTS[p]},"
            f"arn:{target.partition}:securityhub:{target.region}:{target.account}:"
            f"product-subscription/aws/{PRODUCTS[p]}' "
            f"--parent 'hub={parent}' --protect=false --generate-code=false"
            for p in already
        )
        return Result(
            HUB,
            None,
            PASS,
            f"Security Hub is enabled ({hub}) and already accepts Device Defender "
            f"{' and '.join(already)} findings (this stack's, or accepted elsewhere)",
            "if a first `pulumi up` stops on ResourceConflictException, adopt them: " + imports,
        )

    return guarded(HUB, None, check)


def _current_policy(clients: Clients) -> str | None:
    described = clients["iot"].describe_domain_configuration(domainConfigurationName=DATA_ATS)
    policy = (described.get("tlsConfig") or {}).get("securityPolicy")
    return str(policy) if policy else None


def endpoint_tls(
    clients: Clients, settings: Settings, target: Target, state: object = None
) -> list[Result]:
    """Preflight: whether devices may still negotiate TLS below 1.2 on iot:Data-ATS."""
    wanted = str(settings.iot_tls_policy)

    def check() -> Result:
        if wanted != UNMANAGED and target.partition in NO_TLS_POLICIES:
            return Result(
                TLS,
                None,
                FAIL,
                f"AWS IoT security policies are not available in {target.partition} regions",
                "set aisb:iotTlsPolicy: unmanaged",
            )
        if wanted == IotTlsPolicy.TLS13_1_2_2022_01 and target.partition != GOVCLOUD:
            return Result(
                TLS,
                None,
                FAIL,
                f"{wanted} is only available in AWS GovCloud (US) Regions",
                f"set aisb:iotTlsPolicy: {IotTlsPolicy.TLS13_1_2_2022_10}",
            )
        try:
            current = _current_policy(clients)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
            if wanted == UNMANAGED:
                return Result(TLS, None, UNKNOWN, f"no {DATA_ATS} domain configuration to read")
            return Result(
                TLS,
                None,
                FAIL,
                f"AWS IoT has no {DATA_ATS} domain configuration here: there is nothing to adopt",
                "set aisb:iotTlsPolicy: unmanaged",
            )
        if current is None:
            return Result(TLS, None, UNKNOWN, f"{DATA_ATS} reports no TLS security policy")
        weak = allows_below_tls12(current)
        if weak is None:
            return Result(
                TLS, None, UNKNOWN, f"{DATA_ATS} uses {current}, a policy aisb does not know"
            )
        if wanted == UNMANAGED:
            if weak:
                return Result(
                    TLS,
                    None,
                    FAIL,
                    f"{DATA_ATS} uses {current}: devices may negotiate TLS below 1.2, and "
                    "aisb:iotTlsPolicy is unmanaged",
                    f"set aisb:iotTlsPolicy: {IotTlsPolicy.TLS13_1_2_2022_10}",
                )
            return Result(TLS, None, PASS, f"{DATA_ATS} uses {current} (TLS 1.2 or later)")
        if current == wanted:
            return Result(TLS, None, PASS, f"{DATA_ATS} already uses {current}")
        return Result(
            TLS,
            None,
            PASS,
            f"{DATA_ATS} uses {current}"
            + (" (devices may still negotiate TLS below 1.2)" if weak else "")
            + f"; `pulumi up` sets {wanted}",
            (
                "devices that cannot negotiate the new policy's TLS versions cannot connect "
                "after `pulumi up`: check the fleet's TLS versions first"
            ),
        )

    return guarded(TLS, None, check)


def security_hub_findings(clients: Clients, settings: Settings) -> list[Result]:
    """Check: whether Device Defender's findings flow into Security Hub."""
    if not settings.security_hub:
        return []

    def check() -> Result:
        try:
            subscribed = _subscribed(clients)
        except ClientError as error:
            if not _not_enabled(error):
                raise
            return Result(
                FINDINGS,
                None,
                FAIL,
                "Security Hub is not enabled in this region: no Device Defender findings reach it",
                "enable Security Hub (the organisation's delegated administrator), then "
                "`pulumi up`",
            )
        missing = sorted(set(PRODUCTS) - subscribed)
        if missing:
            return Result(
                FINDINGS,
                None,
                FAIL,
                f"Security Hub does not accept Device Defender {' or '.join(missing)} findings",
                "`pulumi up` (the subscriptions were removed outside the stack)",
            )
        return Result(
            FINDINGS, None, PASS, "Security Hub accepts Device Defender audit and detect findings"
        )

    return guarded(FINDINGS, None, check)


def endpoint_tls_policy(clients: Clients, settings: Settings) -> list[Result]:
    """Check: the endpoint's TLS policy is the stack's (or, unmanaged, at least TLS 1.2)."""
    wanted = str(settings.iot_tls_policy)

    def check() -> Result:
        current = _current_policy(clients)
        if current is None:
            return Result(TLS, None, UNKNOWN, f"{DATA_ATS} reports no TLS security policy")
        weak = allows_below_tls12(current)
        if wanted != UNMANAGED:
            if current != wanted:
                return Result(
                    TLS,
                    None,
                    FAIL,
                    f"{DATA_ATS} uses {current}; the stack sets {wanted}",
                    "`pulumi up` (changed outside the stack)",
                )
            return Result(TLS, None, PASS, f"{DATA_ATS} uses {current}")
        if weak is None:
            return Result(
                TLS, None, UNKNOWN, f"{DATA_ATS} uses {current}, a policy aisb does not know"
            )
        if weak:
            return Result(
                TLS,
                None,
                FAIL,
                f"{DATA_ATS} uses {current}: devices may negotiate TLS below 1.2",
                f"set aisb:iotTlsPolicy: {IotTlsPolicy.TLS13_1_2_2022_10} and `pulumi up`",
            )
        return Result(TLS, None, PASS, f"{DATA_ATS} uses {current} (not managed by aisb)")

    return guarded(TLS, None, check)


PREFLIGHT = (security_hub, endpoint_tls)
CHECK = (security_hub_findings, endpoint_tls_policy)
SERVICES = ("securityhub", "iot")
"""The clients these checks use (both commands already make an iot client)."""
