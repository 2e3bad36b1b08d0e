"""AWS IoT account-wide settings managed outside an aisb component: two owners of one
setting overwrite each other on every deploy."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from aisb_guard._rule import MANDATORY, About, resource_rule

ABOUT = About(
    id="aisb-account-singletons-in-aisb",
    description=(
        "The account's AWS IoT logging options and Device Defender audit configuration must be "
        "managed by the aisb baseline (its IotLogging and DeviceDefenderAudit components): "
        "there is one of each per account and region."
    ),
    anticipates="AISB controls 3 and 4 (IoT logging, daily audit)",
    enforcement=MANDATORY,
    remediation=(
        "Remove this resource and set the value through the baseline's configuration "
        "(aisb:iotLogLevel, aisb:auditChecksDisabled, ...) in the region's aisb stack."
    ),
    url="https://docs.aws.amazon.com/iot/latest/apireference/API_SetV2LoggingOptions.html",
)

TYPES = (
    "aws:iot/loggingOptions:LoggingOptions",
    "aws-native:iot:Logging",
    "aws-native:iot:AccountAuditConfiguration",
)

COMPONENTS = ("aisb:index:IotLogging", "aisb:index:DeviceDefenderAudit")


def _parents(urn: str) -> list[str]:
    """The types of a resource's ancestors, from its URN (``...::parent$child::name``)."""
    qualified = urn.split("::")[2] if urn.count("::") >= 3 else ""
    return qualified.split("$")[:-1]


def check(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in TYPES:
        return
    if not any(parent in COMPONENTS for parent in _parents(args.urn)):
        report(
            f"{args.name} ({args.resource_type}) is an account-wide AWS IoT setting managed "
            "outside the aisb baseline.",
            None,
        )


POLICY = resource_rule(ABOUT, check)
