"""Component names start AWS names: a name AWS would refuse stops the program before anything
is registered, naming the argument, never halfway through a deploy."""

from __future__ import annotations

from typing import Any

import pytest

import aisb
from aisb import IotSecurityBaseline, IotSecurityBaselineArgs
from aisb.components._util import RANDOM_SUFFIX
from tests.harness import ACCOUNT, Recording, run

COMPONENTS = [getattr(aisb, n) for n in aisb.__all__ if not n.endswith("Args")]


@pytest.mark.parametrize("bad", ["aisb.prod", "aisb_prod", "Aisb", "1aisb", "", "aisb prod"])
def test_a_name_aws_would_refuse_stops_before_anything_is_registered(bad: str) -> None:
    recording = Recording()
    with pytest.raises(ValueError, match=rf"IotSecurityBaseline: name {bad!r} cannot start"):
        run(
            lambda: IotSecurityBaseline(bad, {"alert_emails": ["a@example.com"]}),
            recording=recording,
        )
    assert recording.resources == []


@pytest.mark.parametrize("component", COMPONENTS, ids=lambda c: c.__name__)
def test_every_component_checks_its_name_first(component: Any) -> None:
    recording = Recording()
    with pytest.raises(ValueError, match=rf"{component.__name__}: name 'a\.b' cannot start"):
        run(lambda: component("a.b", {}), recording=recording)
    assert recording.resources == []


def test_the_longest_name_that_fits_every_child() -> None:
    limits = IotSecurityBaseline.name_limits
    longest = min(limit - len(suffix) for suffix, limit in limits.items())
    # The binding child: a mitigation action's role, IAM's 64 characters with the suffix.
    assert longest == 64 - RANDOM_SUFFIX - len("-mitigations-deactivate-role") == 28
    every_option: IotSecurityBaselineArgs = {
        "alert_emails": ["a@example.com"],
        "cloud_trail": True,
        "guard_duty": True,
        "device_logs": True,
        "cert_report_bucket": True,
    }
    rec = run(lambda: IotSecurityBaseline("a" * longest, every_option))
    for r in rec.of_type("aws:iam/role:Role"):
        assert len(r.name) + RANDOM_SUFFIX <= 64, r.name
    for r in rec.of_type("aws:s3/bucket:Bucket"):
        assert len(r.name) + RANDOM_SUFFIX <= 63, r.name
    assert len(rec.by_name("a" * longest + "-guardduty-findings").inputs["name"]) <= 64
    recording = Recording()
    with pytest.raises(
        ValueError,
        match=r"name 'a{29}' is too long: its child 'a{29}-mitigations-[a-z]+-role' .* "
        r"use at most 28 characters",
    ):
        run(lambda: IotSecurityBaseline("a" * (longest + 1), every_option), recording=recording)
    assert recording.resources == []


def test_region_names_fit() -> None:
    # The library page's multi-region example names each baseline after its region.
    rec = run(
        lambda: IotSecurityBaseline("aisb-ap-southeast-2", {"alert_emails": ["a@example.com"]})
    )
    assert rec.by_name("aisb-ap-southeast-2").type == "aisb:index:IotSecurityBaseline"
    assert ACCOUNT in rec.by_name("aisb-ap-southeast-2-alerts-key").inputs["policy"]
