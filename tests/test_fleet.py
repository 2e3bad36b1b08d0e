"""Organisation rollout: the inventory, the stack files rendered from it, the fleet program
that sets up Pulumi Cloud Deployments, and the deploy workflow."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from aisb import fleet
from aisb.cli import app
from aisb.stackfile import readable_config
from tests.harness import ROOT, Recording, copy_project, run_main, run_program

EXAMPLE = ROOT / "examples" / "fleet" / "fleet.yaml"

INVENTORY = """\
organization: acme
repository: https://github.com/acme/iot-baseline.git
deployRole: aisb-deployer
defaults:
  alertEmails: [secops@example.com]
  cloudTrail: true
  cloudTrailObjectLockDays: 365
  certMaxAgeDays: 400
accounts:
  - id: "111111111111"
    name: prod
    homeRegion: us-east-1
    regions: [us-east-1, eu-west-1, ap-southeast-2]
    config: {certMaxAgeDays: 730, auditFrequency: DAILY, behaviorDetection: ml-detect}
    regionConfig:
      eu-west-1: {behaviorDetection: cloudwatch, certMaxAgeDays: 1095}
  - id: "222222222222"
    name: dev
    homeRegion: us-west-2
    regions: [us-west-2, eu-central-1]
    deployRole: aisb-deployer-dev
    config:
      iotLogLevel: INFO
      alertEmails:
        secure: v1:AAAAbase64ciphertext
"""


def _write(tmp_path: Path, text: str, name: str = "fleet.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


# --- the inventory -------------------------------------------------------------------------------


def test_an_inventory_becomes_one_target_per_account_and_region(tmp_path: Path) -> None:
    inventory = fleet.load(_write(tmp_path, INVENTORY))
    assert (inventory.organization, inventory.branch) == ("acme", "main")
    assert [t.stack for t in inventory.targets] == [
        "prod-ap-southeast-2",
        "prod-eu-west-1",
        "prod-us-east-1",
        "dev-eu-central-1",
        "dev-us-west-2",
    ]
    by_stack = {t.stack: t for t in inventory.targets}
    assert by_stack["prod-eu-west-1"].role_arn == "arn:aws:iam::111111111111:role/aisb-deployer"
    assert by_stack["dev-us-west-2"].role_arn == "arn:aws:iam::222222222222:role/aisb-deployer-dev"
    assert [t.stack for t in inventory.targets if t.home] == ["prod-us-east-1", "dev-us-west-2"]


def test_overrides_layer_defaults_then_account_then_region(tmp_path: Path) -> None:
    targets = {t.stack: t.config for t in fleet.load(_write(tmp_path, INVENTORY)).targets}
    assert targets["prod-us-east-1"]["certMaxAgeDays"] == 730  # account over defaults
    assert targets["prod-eu-west-1"]["certMaxAgeDays"] == 1095  # region over account
    assert targets["dev-us-west-2"]["certMaxAgeDays"] == 400  # defaults
    assert targets["prod-eu-west-1"]["behaviorDetection"] == "cloudwatch"
    assert targets["prod-us-east-1"]["behaviorDetection"] == "ml-detect"
    assert "behaviorDetection" not in targets["dev-us-west-2"]
    assert targets["dev-eu-central-1"]["alertEmails"] == {"secure": "v1:AAAAbase64ciphertext"}


def test_the_trail_is_set_in_home_regions_only(tmp_path: Path) -> None:
    for target in fleet.load(_write(tmp_path, INVENTORY)).targets:
        if target.home:
            assert target.config["cloudTrail"] is True
            assert target.config["cloudTrailObjectLockDays"] == 365
        else:
            assert target.config["cloudTrail"] is False
            assert "cloudTrailObjectLockDays" not in target.config


BAD = [
    ("acounts: []\n", ["acounts: unknown key; did you mean accounts?", "accounts: missing"]),
    (
        INVENTORY.replace('id: "111111111111"', "id: 111111111111"),
        ["accounts[0].id: got 111111111111; expected a 12-digit AWS account id, quoted"],
    ),
    (INVENTORY.replace('"222222222222"', '"2222"'), ["accounts[1].id: got '2222'"]),
    (INVENTORY.replace("name: prod", "name: Prod"), ["accounts[0].name: got 'Prod'"]),
    (
        INVENTORY.replace("homeRegion: us-east-1", "homeRegion: us-east-2"),
        ["accounts[0].homeRegion: got 'us-east-2'; expected one of the account's regions"],
    ),
    (
        INVENTORY.replace("[us-west-2, eu-central-1]", "[us-west-2, us-west-2]"),
        ["accounts[1].regions: us-west-2 is listed twice"],
    ),
    (
        INVENTORY.replace("[us-west-2, eu-central-1]", "[us-west-2, mars-north-1x]"),
        ["accounts[1].regions[1]: got 'mars-north-1x'"],
    ),
    (
        INVENTORY.replace("eu-west-1: {", "eu-north-1: {"),
        ["accounts[0].regionConfig.eu-north-1: not one of the account's regions"],
    ),
    (
        INVENTORY.replace("config: {certMaxAgeDays: 730,", "config: {certMaxAge: 730,"),
        ["accounts[0].config.certMaxAge: unknown key; did you mean certMaxAgeDays?"],
    ),
    (
        INVENTORY.replace("  certMaxAgeDays: 400\n", "  aisb:certMaxAgeDays: 400\n"),
        ["defaults.aisb:certMaxAgeDays: write keys without the 'aisb:' prefix"],
    ),
    (
        INVENTORY.replace("name: dev", "name: prod").replace(
            "[us-west-2, eu-central-1]", "[us-west-2, eu-west-1]"
        ),
        ["accounts[1]: stack prod-eu-west-1 is also rendered by accounts[0]"],
    ),
    (
        INVENTORY.replace("behaviorDetection: cloudwatch,", "cloudTrail: true,"),
        ["accounts[0].regionConfig.eu-west-1.cloudTrail: the trail is account-wide"],
    ),
    (
        INVENTORY.replace("certMaxAgeDays: 1095", "certMaxAgeDays: 5"),
        ["accounts[0].regionConfig.eu-west-1.certMaxAgeDays: got 5", "(stack prod-eu-west-1)"],
    ),
    (
        INVENTORY.replace("auditFrequency: DAILY", "auditFrequency: HOURLY"),
        ["accounts[0].config.auditFrequency: got 'HOURLY'", "(stack prod-us-east-1)"],
    ),
    (
        INVENTORY.replace("https://github.com/acme/iot-baseline.git", "github.com/acme"),
        ["repository: got 'github.com/acme'; expected a git URL ending in .git"],
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD)
def test_a_bad_inventory_is_refused_naming_the_path(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    with pytest.raises(fleet.InventoryError) as error:
        fleet.load(_write(tmp_path, text))
    message = str(error.value)
    for part in expected:
        assert part in message, message


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = INVENTORY.replace("name: Prod", "x").replace("name: prod", "name: Prod")
    text = text.replace('"222222222222"', '"2"').replace("deployRole: aisb-deployer\n", "")
    with pytest.raises(fleet.InventoryError) as error:
        fleet.load(_write(tmp_path, text))
    assert len(error.value.problems) == 3, error.value.problems


# --- rendering -----------------------------------------------------------------------------------


@pytest.fixture
def rendered(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    root = copy_project(tmp_path, stacks=False)
    inventory = _write(root, INVENTORY)
    result = CliRunner().invoke(
        app, ["fleet", "render", "--inventory", str(inventory), "--out", str(root / "stacks")]
    )
    assert result.exit_code == 0, result.output
    return root, {p.name: p.read_text() for p in sorted((root / "stacks").iterdir())}


def test_render_writes_one_stack_file_per_target_deterministically(
    tmp_path: Path, rendered: tuple[Path, dict[str, str]]
) -> None:
    root, files = rendered
    assert sorted(files) == sorted(
        f"Pulumi.{s}.yaml"
        for s in (
            "prod-ap-southeast-2",
            "prod-eu-west-1",
            "prod-us-east-1",
            "dev-eu-central-1",
            "dev-us-west-2",
        )
    )
    again = fleet.render(fleet.load(root / "fleet.yaml"), "fleet.yaml")
    assert again == files
    config = yaml.safe_load(files["Pulumi.prod-eu-west-1.yaml"])["config"]
    assert config["aws:region"] == config["aws-native:region"] == "eu-west-1"
    assert list(config)[:2] == ["aws:region", "aws-native:region"]
    dev = yaml.safe_load(files["Pulumi.dev-eu-central-1.yaml"])["config"]
    assert dev["aisb:alertEmails"] == {"secure": "v1:AAAAbase64ciphertext"}  # kept as is


def _recording(root: Path, stack: str) -> Recording:
    config, secrets = readable_config(root / "stacks" / f"Pulumi.{stack}.yaml", root, stack)
    return run_main(config, region=config["aws:region"], secret_keys=sorted(secrets))


def test_every_rendered_file_runs_through_the_program(
    rendered: tuple[Path, dict[str, str]],
) -> None:
    root, files = rendered
    trails = {}
    for name in files:
        stack = name.removeprefix("Pulumi.").removesuffix(".yaml")
        recording = _recording(root, stack)
        trails[stack] = len(recording.of_type("aws:cloudtrail/trail:Trail"))
        audit = recording.one("aws-native:iot:AccountAuditConfiguration").inputs
        age = audit["auditCheckConfigurations"]["deviceCertificateAgeCheck"]["configuration"]
        expected = {"prod-eu-west-1": "1095", "dev-us-west-2": "400", "dev-eu-central-1": "400"}
        assert age["certAgeThresholdInDays"] == expected.get(stack, "730"), stack
        profiles = recording.of_type("aws-native:iot:SecurityProfile")
        ml_detect = stack in ("prod-us-east-1", "prod-ap-southeast-2")  # eu-west-1 overrides
        assert ml_detect == (profiles != []), stack
    assert trails == {
        "prod-ap-southeast-2": 0,
        "prod-eu-west-1": 0,
        "prod-us-east-1": 1,
        "dev-eu-central-1": 0,
        "dev-us-west-2": 1,
    }


def test_check_names_hand_edited_missing_and_stale_files(
    rendered: tuple[Path, dict[str, str]],
) -> None:
    root, _ = rendered
    stacks = root / "stacks"
    args = ["fleet", "render", "--check", "--inventory", str(root / "fleet.yaml")]
    args += ["--out", str(stacks)]
    assert CliRunner().invoke(app, args).exit_code == 0
    edited = stacks / "Pulumi.prod-eu-west-1.yaml"
    edited.write_text(edited.read_text().replace("1095", "900"))
    (stacks / "Pulumi.dev-us-west-2.yaml").unlink()
    (stacks / "Pulumi.gone-us-east-1.yaml").write_text(fleet.MARK + "\nconfig: {}\n")
    (stacks / "Pulumi.hand-us-east-1.yaml").write_text("config: {}\n")  # not the inventory's
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "Pulumi.prod-eu-west-1.yaml: differs from the inventory" in result.output
    assert "Pulumi.dev-us-west-2.yaml: missing" in result.output
    assert "Pulumi.gone-us-east-1.yaml: rendered from the inventory" in result.output
    assert "hand-us-east-1" not in result.output
    # Rendering again puts everything right and removes what the inventory no longer has.
    assert CliRunner().invoke(app, [a for a in args if a != "--check"]).exit_code == 0
    assert CliRunner().invoke(app, args).exit_code == 0
    assert not (stacks / "Pulumi.gone-us-east-1.yaml").exists()
    assert (stacks / "Pulumi.hand-us-east-1.yaml").exists()


def test_a_bad_inventory_makes_the_command_exit_2_naming_the_path(tmp_path: Path) -> None:
    path = _write(tmp_path, INVENTORY.replace("name: prod", "name: Prod"))
    result = CliRunner().invoke(app, ["fleet", "render", "--inventory", str(path)])
    assert result.exit_code == 2
    assert "accounts[0].name: got 'Prod'" in result.output


def test_the_example_inventory_matches_its_rendered_stacks() -> None:
    out = EXAMPLE.parent / "stacks"
    rendered = fleet.render(fleet.load(EXAMPLE), EXAMPLE.name)
    assert fleet.differences(rendered, out) == []


def test_the_matrix_lists_each_target_with_its_account_role() -> None:
    result = CliRunner().invoke(app, ["fleet", "matrix", "--inventory", str(EXAMPLE)])
    assert result.exit_code == 0
    entries = json.loads(result.stdout)
    assert {e["stack"]: e["role"] for e in entries} == {
        "prod-eu-west-1": "arn:aws:iam::111111111111:role/aisb-deployer",
        "prod-us-east-1": "arn:aws:iam::111111111111:role/aisb-deployer",
        "dev-us-west-2": "arn:aws:iam::222222222222:role/aisb-deployer-dev",
    }
    assert {e["organization"] for e in entries} == {"acme"}


# --- the fleet program -----------------------------------------------------------------------


def _run_fleet(inventory: Path, **config: str) -> Recording:
    settings = {"aisb-fleet:inventory": str(inventory)}
    settings.update({f"aisb-fleet:{k}": val for k, val in config.items()})
    return run_program(ROOT / "fleet" / "__main__.py", settings, project="aisb-fleet", stack="org")


def test_the_fleet_program_sets_up_deployments_and_drift_per_target(tmp_path: Path) -> None:
    inventory = fleet.load(_write(tmp_path, INVENTORY))
    recording = _run_fleet(tmp_path / "fleet.yaml")
    stacks = recording.of_type("pulumiservice:index:Stack")
    settings = {
        r.inputs["stack"]: r for r in recording.of_type("pulumiservice:index:DeploymentSettings")
    }
    drift = {r.inputs["stack"]: r for r in recording.of_type("pulumiservice:index:DriftSchedule")}
    names = [t.stack for t in inventory.targets]
    assert sorted(s.inputs["stackName"] for s in stacks) == sorted(names)
    assert all(
        s.inputs["organizationName"] == "acme" and s.inputs["projectName"] == "aisb" for s in stacks
    )
    assert sorted(settings) == sorted(drift) == sorted(names)
    for target in inventory.targets:
        inputs = settings[target.stack].inputs
        oidc = inputs["operationContext"]["oidc"]["aws"]
        assert oidc["roleARN"] == target.role_arn  # the provider's wire name
        assert inputs["operationContext"]["preRunCommands"] == [
            f"uv run aisb preflight --stack {target.stack}"
        ]
        assert inputs["sourceContext"]["git"] == {
            "repoUrl": "https://github.com/acme/iot-baseline.git",
            "branch": "main",
        }
        assert drift[target.stack].inputs["scheduleCron"] == "0 6 * * *"
        assert drift[target.stack].inputs["autoRemediate"] is False
        stack_urn = next(s.urn for s in stacks if s.inputs["stackName"] == target.stack)
        assert stack_urn in settings[target.stack].dependencies
    group = recording.one("pulumiservice:index:PolicyGroup").inputs
    assert sorted(s["name"] for s in group["stacks"]) == sorted(names)
    assert {s["routingProject"] for s in group["stacks"]} == {"aisb"}
    assert group["policyPacks"] == [{"name": "aisb-guard"}]
    assert group["mode"] == "preventative" and group["entityType"] == "stacks"


def test_the_fleet_program_takes_its_schedule_and_refuses_a_bad_mode(tmp_path: Path) -> None:
    _write(tmp_path, INVENTORY)
    recording = _run_fleet(
        tmp_path / "fleet.yaml", driftSchedule="30 2 * * 1", autoRemediateDrift="true"
    )
    schedules = recording.of_type("pulumiservice:index:DriftSchedule")
    assert {(r.inputs["scheduleCron"], r.inputs["autoRemediate"]) for r in schedules} == {
        ("30 2 * * 1", True)
    }
    with pytest.raises(Exception, match="aisb-fleet:policyGroupMode: got 'strict'"):
        _run_fleet(tmp_path / "fleet.yaml", policyGroupMode="strict")


def test_the_fleet_project_declares_its_config() -> None:
    project = yaml.safe_load((ROOT / "fleet" / "Pulumi.yaml").read_text())
    assert project["name"] == "aisb-fleet"
    assert set(project["config"]) == {
        "inventory",
        "driftSchedule",
        "autoRemediateDrift",
        "policyGroupMode",
    }


# --- the deploy workflow ---------------------------------------------------------------------


def _deploy() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / ".github/workflows/deploy.yml").read_text())
    return loaded


def test_the_deploy_workflow_takes_its_matrix_from_the_inventory() -> None:
    workflow = _deploy()
    triggers = workflow.get("on") or workflow.get(True)  # type: ignore[call-overload]
    assert triggers["push"] == {"branches": ["main"]}
    targets = workflow["jobs"]["targets"]
    run_steps = "\n".join(s.get("run", "") for s in targets["steps"])
    assert "aisb fleet render --check" in run_steps and "aisb fleet matrix" in run_steps
    deploy = workflow["jobs"]["deploy"]
    assert deploy["strategy"]["matrix"] == {
        "include": "${{ fromJSON(needs.targets.outputs.targets) }}"
    }
    assert 1 <= deploy["strategy"]["max-parallel"] <= 10
    assert deploy["concurrency"] == {
        "group": "deploy-${{ matrix.stack }}",
        "cancel-in-progress": False,
    }
    assert deploy["permissions"]["id-token"] == "write"
    steps = {s.get("uses", "").split("@")[0]: s for s in deploy["steps"]}
    creds = steps["aws-actions/configure-aws-credentials"]["with"]
    assert creds == {"role-to-assume": "${{ matrix.role }}", "aws-region": "${{ matrix.region }}"}
    assert steps["pulumi/actions"]["with"]["command"] == "up"
    preflight = next(s for s in deploy["steps"] if s.get("name") == "Preflight")
    assert 'aisb preflight --stack "$STACK"' in preflight["run"]
    text = (ROOT / ".github/workflows/deploy.yml").read_text()
    for stack in ("prod-us-east-1", "dev-us-west-2", "111111111111"):
        assert stack not in text
