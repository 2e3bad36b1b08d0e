"""The consumer example: aisb as a library, two regions from one program."""

from __future__ import annotations

import json

from tests.harness import ROOT, Recording, run_program

EXAMPLE = ROOT / "examples" / "consumer"
REGIONS = ["us-east-1", "eu-central-1"]


def _run_example() -> Recording:
    config = {
        "iot-fleet-security:regions": json.dumps(REGIONS),
        "iot-fleet-security:alertEmails": json.dumps(["secops@example.com"]),
    }
    return run_program(EXAMPLE / "__main__.py", config, project="iot-fleet-security")


def _descendants(rec: Recording, root_urn: str) -> list:
    out, frontier = [], {root_urn}
    while frontier:
        children = [r for r in rec.resources if r.parent in frontier]
        out.extend(children)
        frontier = {r.urn for r in children}
    return out


def test_every_resource_of_each_region_uses_that_regions_providers() -> None:
    rec = _run_example()
    providers = {
        (r.type, r.inputs["region"]): f"{r.urn}::{r.id}"
        for r in rec.resources
        if r.type in ("pulumi:providers:aws", "pulumi:providers:aws-native")
    }
    assert len(providers) == 4

    for region in REGIONS:
        baseline = rec.by_name(f"aisb-{region}")
        own_aws = providers[("pulumi:providers:aws", region)]
        own_native = providers[("pulumi:providers:aws-native", region)]
        resources = [r for r in _descendants(rec, baseline.urn) if r.custom]
        assert len(resources) >= 15
        for r in resources:
            if r.type.startswith("time:"):
                continue  # the IAM propagation pauses: no AWS call, no region
            expected = own_native if r.type.startswith("aws-native:") else own_aws
            assert r.provider == expected, f"{r.name} ({r.type}) uses {r.provider}"
            # ARNs the region's resources were given point at the region too.
            for value in r.state.values():
                if isinstance(value, str) and value.startswith("arn:") and ":iam::" not in value:
                    assert f":{region}:" in value, (r.name, value)
        # Lookups answered for the region reach the policies built from them.
        logging_policy = next(
            r for r in resources if r.name == f"aisb-{region}-logging-role-policy"
        ).inputs["policy"]
        assert f":logs:{region}:" in logging_policy
        assert {t for t, _, p in rec.calls if p == own_aws} == {
            "aws:index/getCallerIdentity:getCallerIdentity",
            "aws:index/getRegion:getRegion",
            "aws:index/getPartition:getPartition",
            # The data endpoint whose TLS policy the baseline sets (aisb:iotTlsPolicy).
            "aws:iot/getEndpoint:getEndpoint",
        }
    # No lookup went to a default provider.
    assert all(p for _, _, p in rec.calls)


def test_both_regions_get_the_core_controls_and_the_singletons_once_each() -> None:
    rec = _run_example()
    for kind in (
        "aws-native:iot:AccountAuditConfiguration",
        "aws:iot/loggingOptions:LoggingOptions",
    ):
        assert len(rec.of_type(kind)) == len(REGIONS)
    assert len(rec.of_type("aws:accessanalyzer/analyzer:Analyzer")) == 1
    names = [r.name for r in rec.resources]
    assert len(names) == len(set(names)), "two regions' resources share a logical name"
