"""The aisb-guard policy pack, as Pulumi starts it (``pulumi preview --policy-pack policy/``)."""

from aisb_guard import POLICIES
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(
    name="aisb-guard",
    policies=list(POLICIES),
    enforcement_level=EnforcementLevel.ADVISORY,  # each rule sets its own level
    description="Keeps the AWS IoT Security Baseline true in every Pulumi stack.",
    provider="aws",
    tags=["aws-iot", "aisb"],
)
