"""The harness's shortcuts answer what the slow way answers: the command run in the test's
process, botocore's shared loader, cfn-lint's rules loaded once, and renders run once."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ParamValidationError
from botocore.stub import Stubber

from tests.harness import MINIMAL_CONFIG, Recording, cli
from tests.harness.caches import rendered, share_botocore_loader, skip_source_positions

# --- the command in the test's process ---------------------------------------------------------


@pytest.mark.slow
def test_the_command_in_process_answers_as_in_a_fresh_interpreter(tmp_path: Path) -> None:
    for args in (["stacks", "--project", str(tmp_path)], ["--help"], ["preflight"]):
        here = cli.in_process(args)
        fresh = cli.in_subprocess(args)
        assert (here.returncode, here.stdout, here.stderr) == (
            fresh.returncode,
            fresh.stdout,
            fresh.stderr,
        ), args


def test_an_exception_nothing_catches_shows_as_the_interpreter_shows_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import aisb_tools.cli.run

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(aisb_tools.cli.run, "project_problem", broken)
    done = cli.in_process(["stacks", "--project", "."])
    assert done.returncode == 1
    assert "Traceback (most recent call last):" in done.stderr
    assert "RuntimeError: boom" in done.stderr


def test_the_command_sees_only_its_own_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "someone-elses")
    monkeypatch.setenv("PULUMI_ACCESS_TOKEN", "pul-secret")
    env = cli.command_env({"AWS_REGION": "eu-west-1"})
    assert "AWS_PROFILE" not in env and "PULUMI_ACCESS_TOKEN" not in env
    assert env["AWS_REGION"] == "eu-west-1"
    assert all(not (Path(p) / "pulumi").exists() for p in env["PATH"].split(":"))


# --- botocore's loader, one per worker ---------------------------------------------------------


def test_every_session_shares_one_loader_and_still_validates_requests() -> None:
    share_botocore_loader()
    first, second = boto3.Session(), boto3.Session()
    loader = first._session.get_component("data_loader")
    assert second._session.get_component("data_loader") is loader
    assert len(loader.search_paths) == len(set(loader.search_paths))  # boto3's path once
    client = second.client(
        "iot", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    )
    with Stubber(client) as stub:
        stub.add_response("list_things", {"things": []}, {"maxResults": 5})
        assert client.list_things(maxResults=5)["things"] == []
        # The answer is still checked against the service model the shared loader read.
        with pytest.raises(ParamValidationError):
            stub.add_response("list_things", {"things": "not a list"})
    # boto3's resource models are found through the shared loader too.
    assert second.resource("s3").meta.service_name == "s3"


# --- cfn-lint's rules, loaded once -------------------------------------------------------------

HOURLY = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Resources": {
        "Audit": {
            "Type": "AWS::IoT::ScheduledAudit",
            "Properties": {"Frequency": "HOURLY", "TargetCheckNames": ["LOGGING_DISABLED_CHECK"]},
        }
    },
}


@pytest.mark.xdist_group("cfn-lint")
def test_the_rules_loaded_once_find_what_a_fresh_load_finds() -> None:
    from cfnlint.api import lint

    from tests.harness.linters import cfn_lint

    def found(matches: list[object]) -> list[str]:
        return sorted(f"{m.rule.id} {m.message}" for m in matches)  # type: ignore[attr-defined]

    text = json.dumps(HOURLY)
    fresh = found(lint(text, regions=["us-east-1"]))
    assert any("HOURLY" in m for m in fresh)
    # Twice with the shared rules, a clean template between: nothing carries over.
    assert found(cfn_lint(text, regions=["us-east-1"])) == fresh
    clean: dict[str, Any] = json.loads(text)
    clean["Resources"]["Audit"]["Properties"]["Frequency"] = "DAILY"
    assert not any("HOURLY" in m for m in found(cfn_lint(json.dumps(clean), regions=["us-east-1"])))
    assert found(cfn_lint(text, regions=["us-east-1"])) == fresh


@pytest.mark.xdist_group("cfn-lint")
def test_the_rules_are_loaded_once_and_not_for_each_template(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cfnlint.rules import Rules

    from tests.harness.linters import cfn_lint

    cfn_lint(json.dumps(HOURLY), regions=["us-east-1"])
    loads: list[object] = []
    real = Rules.create_from_directory

    def counted(*args: Any, **kwargs: Any) -> Any:
        loads.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(Rules, "create_from_directory", staticmethod(counted))
    for frequency in ("HOURLY", "DAILY"):
        template = json.loads(json.dumps(HOURLY))
        template["Resources"]["Audit"]["Properties"]["Frequency"] = frequency
        cfn_lint(json.dumps(template), regions=["us-east-1", "eu-west-1"])
    assert loads == []


# --- renders, once per configuration -----------------------------------------------------------


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True, default=lambda v: type(v).__name__)


def test_a_shared_render_is_the_programs_and_each_caller_gets_its_own_copy() -> None:
    from tests.harness import run_main

    def seen(rec: Recording) -> list[tuple[str, str, str]]:
        # The mock engine gives each render's physical names their own random suffix.
        return sorted(
            (r.type, r.name, re.sub(r"-[0-9a-f]{8}\b", "-<suffix>", _json(r.inputs)))
            for r in rec.resources
        )

    first = rendered(MINIMAL_CONFIG)
    assert seen(first) == seen(run_main(dict(MINIMAL_CONFIG)))
    first.resources.clear()
    second = rendered(MINIMAL_CONFIG)
    assert second.resources and second is not first
    other = rendered({**MINIMAL_CONFIG, "aisb:guardDuty": "true"})
    assert len(other.of_type("aws:guardduty/detector:Detector")) == 1
    assert second.of_type("aws:guardduty/detector:Detector") == []


def test_renders_without_source_positions_record_what_renders_with_them() -> None:
    from pulumi.runtime import resource

    from tests.harness import run_main

    skip_source_positions()
    skipped = resource._get_stack_trace
    assert getattr(skipped, "skipped", False) and list(skipped().frames) == []
    config = {**MINIMAL_CONFIG, "aisb:certRotationJobs": "true", "aisb:guardDuty": "true"}
    without = run_main(dict(config))
    taken: list[Any] = []

    def take() -> Any:
        taken.append(skipped.taken())  # type: ignore[attr-defined]
        return taken[-1]

    resource._get_stack_trace = take
    try:
        with_them = run_main(dict(config))
    finally:
        resource._get_stack_trace = skipped
    # The SDK took a trace for every registration, with the program's frames in it.
    assert len(taken) >= len(with_them.resources) and all(t.frames for t in taken)
    assert without.resources and _everything(without) == _everything(with_them)


def _everything(rec: Recording) -> list[str]:
    """Every field of every registration, read and invoke, in an order of its own (a render
    registers in an order asyncio chooses; assets compare by their type)."""
    return sorted(
        _json({**r.__dict__, "dependencies": sorted(r.dependencies)})
        for r in [*rec.resources, *rec.reads]
    ) + sorted(_json(call) for call in rec.calls)
