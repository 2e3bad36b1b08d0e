"""The account's AWS IoT logging switched off."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from aisb_guard._rule import MANDATORY, About, resource_rule

ABOUT = About(
    id="aisb-iot-logging-enabled",
    description="AWS IoT logging must not be disabled (AISB control 3).",
    anticipates="LOGGING_DISABLED_CHECK",
    enforcement=MANDATORY,
    remediation=(
        "Keep the account's IoT logging at ERROR or more (the aisb `IotLogging` component "
        "sets it, with its own role and an encrypted log group)."
    ),
    url="https://docs.aws.amazon.com/iot-device-defender/latest/devguide/audit-chk-logging-disabled.html",
)

TYPES = ("aws:iot/loggingOptions:LoggingOptions", "aws-native:iot:Logging")


def check(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in TYPES:
        return
    if args.props.get("disableAllLogs") is True:
        report(f"{args.name} sets disableAllLogs: AWS IoT would log nothing.", None)
    if args.props.get("defaultLogLevel") == "DISABLED":
        report(f"{args.name} sets defaultLogLevel DISABLED: AWS IoT would log nothing.", None)


POLICY = resource_rule(ABOUT, check)
