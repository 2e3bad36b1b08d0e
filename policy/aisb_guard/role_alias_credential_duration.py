"""Role aliases that hand devices credentials for longer than an hour."""

from __future__ import annotations

from aisb_guard._rule import MANDATORY, About, Subject, Unknown, Verdict, read, resource_rule

MAX_SECONDS = 3600
"""AWS IoT's default credential duration; the API accepts 900 to 43,200 (12 hours):
https://docs.aws.amazon.com/iot/latest/apireference/API_CreateRoleAlias.html"""

ABOUT = About(
    id="aisb-role-alias-credential-duration",
    description=(
        "AWS IoT role aliases must not issue credentials for longer than one hour: a stolen "
        "device certificate's credentials should expire quickly."
    ),
    # No Device Defender audit check looks at the duration: this is the baseline's own bound.
    anticipates="AISB control 2 (least-privilege access: short-lived device credentials)",
    enforcement=MANDATORY,
    remediation=(
        "Set credentialDuration (aws) or credentialDurationSeconds (aws-native) to 3600 or less."
    ),
    url="https://docs.aws.amazon.com/iot/latest/apireference/API_CreateRoleAlias.html",
    stricter=(
        "No audit check bounds the duration (IOT_ROLE_ALIAS_OVERLY_PERMISSIVE_CHECK has no "
        "duration condition): this is the baseline's own one-hour bound."
    ),
    cannot_judge="A duration computed at preview.",
)

TYPES = {
    "aws:iot/roleAlias:RoleAlias": "credentialDuration",
    "aws-native:iot:RoleAlias": "credentialDurationSeconds",
}


def judge(subject: Subject, verdict: Verdict) -> None:
    if subject.resource_type not in TYPES:
        return
    key = TYPES[subject.resource_type]
    seconds = read(subject.props, key)
    if isinstance(seconds, Unknown):
        verdict.not_judged(f"role alias {subject.name}: its {key} is not known yet.")
    elif isinstance(seconds, bool) or not isinstance(seconds, int | float | None):
        verdict.flag(f"role alias {subject.name}: its {key} cannot be parsed: {seconds!r}.")
    elif seconds is not None and seconds > MAX_SECONDS:
        verdict.flag(
            f"role alias {subject.name} issues credentials for {int(seconds)} s; at most "
            f"{MAX_SECONDS} s is allowed."
        )


POLICY = resource_rule(ABOUT, judge)
