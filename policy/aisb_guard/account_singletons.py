"""AWS IoT account-wide settings managed outside an aisb component: two owners of one
setting overwrite each other on every deploy.

What the rule can know is the resource's URN: the type names of its parents. It cannot know
that a parent registered as ``aisb:index:IotLogging`` is aisb's component and not another
program's component of the same name, nor whether two stacks both run the baseline in one
account and region; ``aisb preflight`` looks at the account for that.
"""

from __future__ import annotations

from aisb_guard._rule import MANDATORY, About, Subject, Verdict, resource_rule

ABOUT = About(
    id="aisb-account-singletons-in-aisb",
    description=(
        "The account's AWS IoT logging options and Device Defender audit configuration must be "
        "direct children of the aisb baseline's IotLogging and DeviceDefenderAudit components: "
        "there is one of each per account and region (the rule sees the parent's type name "
        "only, which it cannot tell from another program's component of that name)."
    ),
    anticipates="AISB controls 3 and 4 (IoT logging, daily audit)",
    enforcement=MANDATORY,
    remediation=(
        "Remove this resource and set the value through the baseline's configuration "
        "(aisb:iotLogLevel, aisb:auditChecksDisabled, ...) in the region's aisb stack."
    ),
    url="https://docs.aws.amazon.com/iot/latest/apireference/API_SetV2LoggingOptions.html",
    stricter="Not an audit check.",
    cannot_judge=(
        "Whether a parent typed `aisb:index:IotLogging` is aisb's component; other stacks "
        "that target the same account and region."
    ),
)

TYPES = {
    "aws:iot/loggingOptions:LoggingOptions": "aisb:index:IotLogging",
    "aws-native:iot:Logging": "aisb:index:IotLogging",
    "aws-native:iot:AccountAuditConfiguration": "aisb:index:DeviceDefenderAudit",
}


def _parents(urn: str) -> list[str]:
    """The types of a resource's ancestors, from its URN (``...::parent$child::name``)."""
    qualified = urn.split("::")[2] if urn.count("::") >= 3 else ""
    return qualified.split("$")[:-1]


def judge(subject: Subject, verdict: Verdict) -> None:
    if subject.resource_type not in TYPES:
        return
    parents = _parents(subject.urn)
    if not parents or parents[-1] != TYPES[subject.resource_type]:
        verdict.flag(
            f"{subject.name} ({subject.resource_type}) is an account-wide AWS IoT setting "
            f"managed outside the aisb baseline (its parent is not {TYPES[subject.resource_type]})."
        )


POLICY = resource_rule(ABOUT, judge)
