"""The account's AWS IoT logging switched off."""

from __future__ import annotations

from aisb_guard._rule import MANDATORY, About, Subject, Unknown, Verdict, read, resource_rule

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
    stricter="None.",
    cannot_judge="A log level or switch computed at preview.",
)

TYPES = ("aws:iot/loggingOptions:LoggingOptions", "aws-native:iot:Logging")


def judge(subject: Subject, verdict: Verdict) -> None:
    if subject.resource_type not in TYPES:
        return
    disabled = read(subject.props, "disableAllLogs")
    level = read(subject.props, "defaultLogLevel")
    for key, value in (("disableAllLogs", disabled), ("defaultLogLevel", level)):
        if isinstance(value, Unknown):
            verdict.not_judged(f"{subject.name}: its {key} is not known yet.")
    if disabled is True:
        verdict.flag(f"{subject.name} sets disableAllLogs: AWS IoT would log nothing.")
    if level == "DISABLED":
        verdict.flag(f"{subject.name} sets defaultLogLevel DISABLED: AWS IoT would log nothing.")


POLICY = resource_rule(ABOUT, judge)
