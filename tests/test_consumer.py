"""A consumer's project: the built wheel installed without extras composes the baseline and
single components under the documented test module, and neither the wheel's metadata nor its
import pulls in a tooling package."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.harness import ROOT
from tests.harness.consumer import build_wheel, install, run, wheel_requirements

LIBRARY = {"pulumi", "pulumi-aws", "pulumi-aws-native", "pulumiverse-time"}
TOOLING = {"aisb_tools", "rich", "click", "boto3", "botocore", "pulumi_pulumiservice"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(ROOT, tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def site(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("consumer") / "site-packages"
    install(wheel, folder)
    return folder


def test_the_wheel_requires_only_what_the_components_need_in_ranges(wheel: Path) -> None:
    requirements = [Requirement(r) for r in wheel_requirements(wheel)]
    always = {r.name: r for r in requirements if r.marker is None}
    assert set(always) == LIBRARY
    for req in always.values():
        operators = {spec.operator for spec in req.specifier}
        assert "==" not in operators and {">=", "<"} <= operators, str(req)
    extras = {str(r.marker) for r in requirements if r.marker is not None}
    assert extras == {'extra == "cli"', 'extra == "functions"'}
    assert "pulumi-pulumiservice" not in {r.name for r in requirements}


@pytest.mark.slow
def test_a_consumer_composes_the_baseline_and_components_without_the_tooling(
    site: Path, tmp_path: Path
) -> None:
    code = """
import importlib.util, sys
from aisb import testing, IotSecurityBaseline, SecurityAlerts
whole = testing.run(lambda: IotSecurityBaseline("aisb", {"alert_emails": ["a@example.com"]}))
assert whole.one("aws:sns/topic:Topic").inputs["kmsMasterKeyId"]
single = testing.run(lambda: SecurityAlerts(
    "alerts", {"account_id": testing.ACCOUNT, "partition": "aws", "emails": ["a@example.com"]}
))
assert len(single.of_type("aws:sns/topicSubscription:TopicSubscription")) == 1
import aisb
print("FROM", aisb.__file__)
print("LOADED", sorted({m.split(".")[0] for m in sys.modules} & TOOLING))
print("INSTALLED", [n for n in sorted(TOOLING - {"aisb_tools"}) if importlib.util.find_spec(n)])
""".replace("TOOLING", repr(TOOLING))
    done = run(site, code, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert lines["FROM"] == str(site / "aisb" / "__init__.py")
    assert lines["LOADED"] == "[]"
    assert lines["INSTALLED"] == "[]"


def test_the_command_without_its_extra_says_what_to_install(site: Path, tmp_path: Path) -> None:
    done = run(site, "import aisb_tools.cli", tmp_path)
    assert done.returncode == 1
    assert "pip install 'aisb[cli]'" in done.stderr
    assert "Traceback" not in done.stderr
