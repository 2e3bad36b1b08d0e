"""Role aliases that hand devices credentials for longer than an hour."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from aisb_guard._rule import MANDATORY, About, resource_rule

MAX_SECONDS = 3600
"""AWS IoT's default credential duration; the API accepts up to 43,200 (12 hours)."""

ABOUT = About(
    id="aisb-role-alias-credential-duration",
    description=(
        "AWS IoT role aliases must not issue credentials for longer than one hour: a stolen "
        "device certificate's credentials should expire quickly."
    ),
    anticipates="IOT_ROLE_ALIAS_OVERLY_PERMISSIVE_CHECK",
    enforcement=MANDATORY,
    remediation=(
        "Set credentialDuration (aws) or credentialDurationSeconds (aws-native) to 3600 or less."
    ),
    url="https://docs.aws.amazon.com/iot/latest/apireference/API_CreateRoleAlias.html",
)

TYPES = {
    "aws:iot/roleAlias:RoleAlias": "credentialDuration",
    "aws-native:iot:RoleAlias": "credentialDurationSeconds",
}


def check(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in TYPES:
        return
    seconds = args.props.get(TYPES[args.resource_type])
    if isinstance(seconds, int | float) and seconds > MAX_SECONDS:
        report(
            f"role alias {args.name} issues credentials for {int(seconds)} s; at most "
            f"{MAX_SECONDS} s is allowed.",
            None,
        )


POLICY = resource_rule(ABOUT, check)
