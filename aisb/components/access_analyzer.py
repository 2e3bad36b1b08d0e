"""AISB #2: IAM Access Analyzer for the account."""

from collections.abc import Mapping
from types import MappingProxyType
from typing import TypedDict

import pulumi
import pulumi_aws as aws

from aisb import validation as v
from aisb.components._util import (
    check_name,
    child,
    merge_tags,
)
from aisb.options import Option, resolve


class AccessAnalyzerArgs(TypedDict, total=False):
    """Arguments of ``AccessAnalyzer``."""

    analyzer_name: str
    """Name of the analyzer (default ``aisb-account``); unique in the account and region."""
    tags: Mapping[str, str]
    """Tags for the analyzer."""


OPTIONS = {
    # The analyzer name AWS accepts: ^[A-Za-z][A-Za-z0-9_.-]*$, 1 to 255 characters.
    "analyzer_name": Option(
        "aisb-account",
        v.matching(
            r"[A-Za-z][A-Za-z0-9_.-]{0,254}",
            "a name of 1 to 255 letters, digits, '_', '.' or '-', starting with a letter",
        ),
    ),
    "tags": Option(MappingProxyType({}), v.tags),
}


class AccessAnalyzer(pulumi.ComponentResource):
    """AISB #2 -- an account-zone IAM Access Analyzer.

    It finds resources shared outside the account and, from CloudTrail activity, generates
    least-privilege policies (for a Greengrass token-exchange role, say). AWS allows one
    account-zone analyzer per region, so the baseline can skip it (``accessAnalyzer: false``)
    where the account already has one.

    Creates ``<name>-analyzer`` (type ``ACCOUNT``). Outputs: ``analyzer_arn``.
    """

    analyzer_arn: pulumi.Output[str]

    # No child name derives from it; typed by its value (an annotation would be an output).
    name_limits = MappingProxyType(dict[str, int]())

    def __init__(
        self, name: str, args: AccessAnalyzerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        check_name("AccessAnalyzer", name, self.name_limits)
        a = resolve("AccessAnalyzer", OPTIONS, (), args, declared_by=AccessAnalyzerArgs)
        analyzer_name = a["analyzer_name"]
        super().__init__("aisb:index:AccessAnalyzer", name, None, opts)
        analyzer = aws.accessanalyzer.Analyzer(
            f"{name}-analyzer",
            # AWS requires a name; the analyzer is one per account and region anyway.
            analyzer_name=analyzer_name,
            type="ACCOUNT",
            tags=merge_tags(a["tags"], "AISB-2"),
            opts=child(self),
        )
        self.analyzer_arn = analyzer.arn
        self.register_outputs({"analyzer_arn": self.analyzer_arn})
