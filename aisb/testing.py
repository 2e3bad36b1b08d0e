"""Unit tests for your own Pulumi program that uses aisb: Pulumi's mock engine, set up to answer
what aisb's components ask of AWS.

Pulumi's unit-testing guide (https://www.pulumi.com/docs/iac/guides/testing/unit/) has you
write a ``pulumi.runtime.Mocks`` whose ``call`` answers every invoke. aisb's components look up
the caller's account, the region, the partition and the AWS IoT credential endpoint, so a
guide-style mock that returns ``{}`` fails deep inside a component. ``Mocks`` here answers
those lookups, gives every resource outputs shaped like AWS's own (ARNs in the mock account,
region and partition), and can be subclassed like any ``pulumi.runtime.Mocks``::

    import pulumi
    from aisb import testing

    testing.set_mocks()  # before the program's modules create resources

    from aisb import IotSecurityBaseline


    @pulumi.runtime.test
    def test_alerts_are_encrypted_with_a_key_of_the_account():
        baseline = IotSecurityBaseline("aisb", {"alert_emails": ["secops@example.com"]})
        return baseline.alert_key_arn.apply(lambda arn: testing.assert_arn(arn, "kms"))

Or record every registration and assert on what ``pulumi up`` would create::

    recording = testing.run(lambda: IotSecurityBaseline("aisb", {"alert_emails": [...]}))
    assert recording.one("aws:sns/topic:Topic").inputs["kmsMasterKeyId"]

This module needs only ``pulumi`` (no AWS credentials, Pulumi CLI, plugins or network).
"""

from __future__ import annotations

import pulumi

from aisb.mockengine import (
    ACCOUNT,
    FakeAws,
    Recording,
    Registration,
    run,
    run_program,
)
from aisb.mockengine import (
    partition as partition_of,
)

__all__ = [
    "ACCOUNT",
    "Mocks",
    "Recording",
    "Registration",
    "assert_arn",
    "run",
    "run_program",
    "set_mocks",
]


class Mocks(FakeAws):
    """A ``pulumi.runtime.Mocks`` for aisb: one account (``ACCOUNT`` unless given), one region
    (``us-east-1`` unless given) and that region's partition. Override ``new_resource`` or
    ``call`` to answer for your own resources and invokes, calling ``super()`` for the rest."""

    def __init__(
        self, account: str = ACCOUNT, region: str = "us-east-1", partition: str | None = None
    ) -> None:
        super().__init__(account, region, partition or partition_of(region))


def set_mocks(
    mocks: pulumi.runtime.Mocks | None = None,
    *,
    project: str = "project",
    stack: str = "test",
    preview: bool = False,
) -> pulumi.runtime.Mocks:
    """Install ``mocks`` (``Mocks()`` unless given) as Pulumi's mock engine, as
    ``pulumi.runtime.set_mocks`` does, and return it."""
    installed = mocks if mocks is not None else Mocks()
    pulumi.runtime.set_mocks(installed, project=project, stack=stack, preview=preview)
    return installed


def assert_arn(value: str | None, service: str) -> None:
    """Fail unless ``value`` is an ARN of ``service`` (``kms``, ``sns``, ...)."""
    parts = (value or "").split(":")
    if len(parts) < 6 or parts[0] != "arn" or parts[2] != service:
        raise AssertionError(f"expected an ARN of {service}, got {value!r}")
