"""Organisation rollout: the inventory, the stack files rendered from it, the fleet program
that sets up Pulumi Cloud Deployments, and the deploy workflow."""

from __future__ import annotations

import enum
import inspect
import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from aisb_tools import fleet
from aisb_tools.cli import app
from aisb_tools.stackfile import readable_config
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


SECRET_SIG = "4dabf18193072939515e22adb298388d"  # how the engine marks a secret value


def _plain(value: Any) -> Any:
    """A recorded input without the engine's secret wrappers."""
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return _plain(value["value"])
        return {k: _plain(x) for k, x in value.items()}
    if isinstance(value, list):
        return [_plain(x) for x in value]
    return value


def _settings(recording: Recording) -> dict[str, dict[str, Any]]:
    return {
        r.inputs["stack"]: _plain(r.inputs)
        for r in recording.of_type("pulumiservice:index:DeploymentSettings")
    }


def test_the_fleet_program_sets_up_deployments_and_drift_per_target(tmp_path: Path) -> None:
    inventory = fleet.load(_write(tmp_path, INVENTORY))
    recording = _run_fleet(tmp_path / "fleet.yaml")
    stacks = recording.of_type("pulumiservice:index:Stack")
    settings = _settings(recording)
    drift = {r.inputs["stack"]: r for r in recording.of_type("pulumiservice:index:DriftSchedule")}
    names = [t.stack for t in inventory.targets]
    assert sorted(s.inputs["stackName"] for s in stacks) == sorted(names)
    assert all(
        s.inputs["organizationName"] == "acme" and s.inputs["projectName"] == "aisb" for s in stacks
    )
    assert sorted(settings) == sorted(drift) == sorted(names)
    for target in inventory.targets:
        inputs = settings[target.stack]
        oidc = inputs["operationContext"]["oidc"]["aws"]
        assert oidc["roleARN"] == target.role_arn  # the provider's wire name
        assert inputs["operationContext"]["preRunCommands"] == [
            f"uv run --extra cli aisb preflight --stack {target.stack}"
        ]
        assert drift[target.stack].inputs["scheduleCron"] == "0 6 * * *"
        assert drift[target.stack].inputs["autoRemediate"] is False
    group = recording.one("pulumiservice:index:PolicyGroup").inputs
    assert sorted(s["name"] for s in group["stacks"]) == sorted(names)
    assert {s["routingProject"] for s in group["stacks"]} == {"aisb"}
    assert group["policyPacks"] == [{"name": "aisb-guard"}]
    assert group["mode"] == "preventative" and group["entityType"] == "stacks"


def test_a_github_repository_deploys_through_the_github_integration(tmp_path: Path) -> None:
    """The Git source only clones: pushes, path filters and previews need the integration.
    A change to one stack file deploys that stack; a change to the program deploys all."""
    inventory = fleet.load(_write(tmp_path, INVENTORY))
    assert (inventory.source, inventory.github_repository) == ("github", "acme/iot-baseline")
    settings = _settings(_run_fleet(tmp_path / "fleet.yaml"))
    for target in inventory.targets:
        inputs = settings[target.stack]
        vcs = inputs["vcs"]
        assert vcs["provider"] == "github"
        assert vcs["repository"] == "acme/iot-baseline"
        assert vcs["deployCommits"] is True
        assert vcs["previewPullRequests"] is False  # a PR's code must not get the deploy role
        paths = vcs["paths"]
        assert f"stacks/Pulumi.{target.stack}.yaml" in paths
        others = [t for t in inventory.targets if t.stack != target.stack]
        assert not any(f"stacks/Pulumi.{o.stack}.yaml" in paths for o in others)
        assert {"Pulumi.yaml", "__main__.py", "uv.lock", "aisb/**"} <= set(paths)
        # With an integration the repository is the integration's: no URL, no credentials.
        assert inputs["sourceContext"]["git"] == {"branch": "refs/heads/main"}
        assert "github" not in inputs  # the deprecated input (deployment_settings.py:57-59)
    previews = _settings(_run_fleet(tmp_path / "fleet.yaml", previewPullRequests="true"))
    assert {s["vcs"]["previewPullRequests"] for s in previews.values()} == {True}


def test_the_program_paths_cover_every_file_the_program_runs() -> None:
    """A change to any file the program imports must deploy every stack."""
    import fnmatch

    program = [
        str(p.relative_to(ROOT))
        for p in (*ROOT.glob("aisb/**/*.py"), ROOT / "__main__.py", ROOT / "Pulumi.yaml")
    ]
    for path in program:
        assert any(fnmatch.fnmatch(path, g.replace("**", "*")) for g in fleet.PROGRAM_PATHS), path


GIT_INVENTORY = INVENTORY.replace(
    "repository: https://github.com/acme/iot-baseline.git",
    "repository: https://gitlab.example.com/acme/iot-baseline.git",
)


@pytest.mark.parametrize(
    ("auth", "config", "expected"),
    [
        (
            "basic",
            {"gitUsername": "deploy-bot", "gitPassword": "s3cret"},
            {"basicAuth": {"username": "deploy-bot", "password": "s3cret"}},
        ),
        ("ssh", {"gitSshPrivateKey": "KEY"}, {"sshAuth": {"sshPrivateKey": "KEY"}}),
    ],
)
def test_another_host_is_cloned_with_the_inventorys_git_auth(
    tmp_path: Path, auth: str, config: dict[str, str], expected: dict[str, Any]
) -> None:
    _write(tmp_path, GIT_INVENTORY.replace("deployRole:", f"gitAuth: {auth}\ndeployRole:", 1))
    secrets = [f"aisb-fleet:{k}" for k in config if k != "gitUsername"]
    settings = {"aisb-fleet:inventory": str(tmp_path / "fleet.yaml")}
    settings.update({f"aisb-fleet:{k}": v for k, v in config.items()})
    recording = run_program(
        ROOT / "fleet" / "__main__.py",
        settings,
        project="aisb-fleet",
        stack="org",
        secret_keys=secrets,
    )
    registered = recording.of_type("pulumiservice:index:DeploymentSettings")
    for r in registered:
        git = _plain(r.inputs)["sourceContext"]["git"]
        assert git["repoUrl"] == "https://gitlab.example.com/acme/iot-baseline.git"
        assert git["gitAuth"] == expected
        assert "vcs" not in r.inputs
        # The credentials reach the engine as secrets, never as plain state.
        assert SECRET_SIG in r.inputs["sourceContext"]


def test_a_git_source_without_its_credentials_stops_the_program(tmp_path: Path) -> None:
    _write(tmp_path, GIT_INVENTORY.replace("deployRole:", "gitAuth: basic\ndeployRole:", 1))
    with pytest.raises(Exception, match="gitUsername"):
        _run_fleet(tmp_path / "fleet.yaml")


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            ("https://github.com/acme/iot-baseline.git", "https://gitlab.example.com/a/b.git"),
            "gitAuth: got None; expected one of ssh, basic, none",
        ),
        (("deployRole:", "source: svn\ndeployRole:"), "source: got 'svn'"),
        (
            ("deployRole:", "gitAuth: ssh\ndeployRole:"),
            "gitAuth: the GitHub integration clones with the Pulumi GitHub app",
        ),
    ],
)
def test_the_inventory_says_where_deployments_get_the_code(
    tmp_path: Path, edit: tuple[str, str], expected: str
) -> None:
    with pytest.raises(fleet.InventoryError, match=re.escape(expected)):
        fleet.load(_write(tmp_path, INVENTORY.replace(*edit, 1)))


def test_a_github_source_needs_a_github_repository(tmp_path: Path) -> None:
    text = GIT_INVENTORY.replace("deployRole:", "source: github\ndeployRole:", 1)
    with pytest.raises(fleet.InventoryError, match=r"source: github needs a github\.com repo"):
        fleet.load(_write(tmp_path, text))
    ssh = INVENTORY.replace(
        "https://github.com/acme/iot-baseline.git", "git@github.com:acme/iot-baseline.git"
    )
    assert fleet.load(_write(tmp_path, ssh)).github_repository == "acme/iot-baseline"


@pytest.mark.parametrize("name", ["Acme", "ACME", "acme-Prod"])
def test_an_upper_case_organisation_is_refused_naming_key_and_value(
    tmp_path: Path, name: str
) -> None:
    """The OIDC audience is the organisation's name, lower case, compared case-sensitively."""
    with pytest.raises(fleet.InventoryError) as error:
        text = INVENTORY.replace("organization: acme", f"organization: {name}")
        fleet.load(_write(tmp_path, text))
    message = str(error.value)
    assert f"organization: got {name!r}" in message and "lower case" in message
    assert repr(name.lower()) in message


def test_the_drift_schedule_waits_for_the_deployment_settings(tmp_path: Path) -> None:
    """Pulumi: a schedule needs the stack's deployment settings; created in parallel it fails."""
    _write(tmp_path, INVENTORY)
    recording = _run_fleet(tmp_path / "fleet.yaml")
    settings = {
        r.inputs["stack"]: r for r in recording.of_type("pulumiservice:index:DeploymentSettings")
    }
    stacks = {r.inputs["stackName"]: r for r in recording.of_type("pulumiservice:index:Stack")}
    for drift in recording.of_type("pulumiservice:index:DriftSchedule"):
        stack = drift.inputs["stack"]
        assert settings[stack].urn in drift.dependencies
        assert stacks[stack].urn in drift.dependencies
        assert stacks[stack].urn in settings[stack].dependencies


def test_a_target_removed_from_the_inventory_keeps_its_stack(tmp_path: Path) -> None:
    """Day 2: the next `pulumi up` after a target leaves the inventory deletes what the
    program no longer declares; the Stack (holding the account's baseline) is retained."""
    _write(tmp_path, INVENTORY)
    first = _run_fleet(tmp_path / "fleet.yaml")
    assert {r.retain_on_delete for r in first.of_type("pulumiservice:index:Stack")} == {True}
    for kind in ("DeploymentSettings", "DriftSchedule"):  # these go: nothing deploys it any more
        assert not any(r.retain_on_delete for r in first.of_type(f"pulumiservice:index:{kind}"))
    _write(tmp_path, INVENTORY.replace("[us-west-2, eu-central-1]", "[us-west-2]"))
    second = _run_fleet(tmp_path / "fleet.yaml")
    gone = {r.name for r in first.resources} - {r.name for r in second.resources}
    assert gone == {"dev-eu-central-1", "dev-eu-central-1-deployments", "dev-eu-central-1-drift"}
    kept = next(r for r in first.of_type("pulumiservice:index:Stack") if r.name in gone)
    assert kept.retain_on_delete


def test_the_pre_run_gate_is_strict(tmp_path: Path) -> None:
    """Exit 3 (some checks could not tell) must stop a deployment: no --allow-unknown."""
    _write(tmp_path, INVENTORY)
    for inputs in _settings(_run_fleet(tmp_path / "fleet.yaml")).values():
        commands = inputs["operationContext"]["preRunCommands"]
        assert all("--allow-unknown" not in c for c in commands)
        assert any(c.startswith("uv run --extra cli aisb preflight --stack ") for c in commands)


# --- the registrations against pulumi-pulumiservice's own input types -----------------------


def _sdk_check(value: Any, typ: Any, where: str, problems: list[str]) -> None:
    """``value`` (wire names, as registered) against the SDK type ``typ``: every key an input
    of that type, every required input present, leaves of the declared kind."""
    import typing
    from collections import abc

    from pulumi import _types

    typ = _types.unwrap_type(typ)  # Input[T] / Optional[T] -> T
    if _types.is_input_type(typ):
        if not isinstance(value, dict):
            problems.append(f"{where}: got {value!r}; expected an object ({typ.__name__})")
            return
        fields = _types.input_type_types(typ)
        for key, item in value.items():
            if key not in fields:
                problems.append(f"{where}.{key}: not an input of {typ.__name__}")
                continue
            _sdk_check(item, fields[key], f"{where}.{key}", problems)
        names = _types.input_type_py_to_pulumi_names(typ)
        init = inspect.signature(typ.__init__).parameters
        for py, wire in names.items():
            if py in init and init[py].default is inspect.Parameter.empty and wire not in value:
                problems.append(f"{where}.{wire}: required by {typ.__name__}, missing")
        return
    origin = typing.get_origin(typ) or typ
    kinds: dict[Any, type | tuple[type, ...]] = {
        str: str,
        bool: bool,
        int: int,
        float: (int, float),
    }
    if origin in kinds:
        if not isinstance(value, kinds[origin]):
            problems.append(f"{where}: got {value!r}; expected {origin.__name__}")
    elif isinstance(origin, type) and issubclass(origin, abc.Mapping):
        if not isinstance(value, dict):
            problems.append(f"{where}: got {value!r}; expected a map")
        else:
            for key, item in value.items():
                _sdk_check(item, typing.get_args(typ)[1], f"{where}.{key}", problems)
    elif isinstance(origin, type) and issubclass(origin, abc.Sequence):
        if not isinstance(value, list):
            problems.append(f"{where}: got {value!r}; expected a list")
        else:
            for i, item in enumerate(value):
                _sdk_check(item, typing.get_args(typ)[0], f"{where}[{i}]", problems)
    elif isinstance(origin, type) and issubclass(origin, enum.Enum):
        if value not in {m.value for m in origin}:
            problems.append(f"{where}: got {value!r}; expected one of {[m.value for m in origin]}")
    else:
        problems.append(f"{where}: no rule for SDK type {typ!r}")


def _sdk_args(type_token: str) -> type:
    """The SDK's Args class for a resource type token, checked against the resource class's
    own registration (``super().__init__('<token>', ...)`` in its module)."""
    import pulumi_pulumiservice as ps

    name = type_token.rsplit(":", 1)[1]
    resource = getattr(ps, name)
    assert f"'{type_token}'" in inspect.getsource(resource), type_token
    args: type = getattr(ps, f"{name}Args")
    return args


def _fleet_recordings(tmp_path: Path) -> list[Recording]:
    _write(tmp_path, INVENTORY)
    git = tmp_path / "git"
    git.mkdir()
    _write(git, GIT_INVENTORY.replace("deployRole:", "gitAuth: ssh\ndeployRole:", 1))
    return [
        _run_fleet(tmp_path / "fleet.yaml", previewPullRequests="true"),
        _run_fleet(git / "fleet.yaml", gitSshPrivateKey="KEY", gitSshPassphrase="pass"),
    ]


def test_every_fleet_registration_matches_the_pulumiservice_sdk(tmp_path: Path) -> None:
    """Input names and shapes come from pulumi-pulumiservice 1.5.0 itself (the pinned SDK's
    ``@pulumi.input_type`` classes, ``pulumi_pulumiservice/_inputs.py``), not from our tests."""
    problems: list[str] = []
    seen = set()
    for recording in _fleet_recordings(tmp_path):
        for r in recording.resources:
            if not r.type.startswith("pulumiservice:"):
                continue
            seen.add(r.type)
            _sdk_check(_plain(r.inputs), _sdk_args(r.type), f"{r.type} {r.name}", problems)
    assert seen == {
        "pulumiservice:index:Stack",
        "pulumiservice:index:DeploymentSettings",
        "pulumiservice:index:DriftSchedule",
        "pulumiservice:index:PolicyGroup",
    }
    assert problems == []


def test_the_sdk_check_catches_a_wrong_input_name() -> None:
    from pulumi_pulumiservice import DeploymentSettingsArgs

    problems: list[str] = []
    wrong = {"organization": "a", "project": "b", "stack": "c", "vcs": {"repo": "a/b"}}
    _sdk_check(wrong, DeploymentSettingsArgs, "ds", problems)
    assert "ds.vcs.repo: not an input of DeploymentSettingsVcsArgs" in problems
    assert "ds.vcs.provider: required by DeploymentSettingsVcsArgs, missing" in problems
    problems.clear()
    _sdk_check({"project": "b", "stack": "c"}, DeploymentSettingsArgs, "ds", problems)
    assert problems == ["ds.organization: required by DeploymentSettingsArgs, missing"]


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
        "previewPullRequests",
        "policyGroupMode",
    }


# --- the deploy workflow ---------------------------------------------------------------------


def _workflow(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / ".github/workflows" / name).read_text())
    return loaded


def test_the_deploy_workflow_takes_its_shards_from_the_inventory() -> None:
    workflow = _workflow("deploy.yml")
    triggers = workflow.get("on") or workflow.get(True)  # type: ignore[call-overload]
    assert triggers["push"] == {"branches": ["main"]}
    targets = workflow["jobs"]["targets"]
    run_steps = "\n".join(s.get("run", "") for s in targets["steps"])
    assert "aisb fleet render --check" in run_steps and "aisb fleet shards" in run_steps
    deploy = workflow["jobs"]["deploy"]
    assert deploy["uses"] == "./.github/workflows/deploy-shard.yml"
    assert deploy["strategy"]["matrix"] == {
        "include": "${{ fromJSON(needs.targets.outputs.shards) }}"
    }
    assert deploy["strategy"]["max-parallel"] == 1  # shards one after the other
    assert deploy["with"] == {"shard": "${{ matrix.shard }}", "shards": "${{ matrix.shards }}"}
    # By name only: the value comes from the environment of the called job.
    assert deploy["secrets"] == {"PULUMI_ACCESS_TOKEN": "${{ secrets.PULUMI_ACCESS_TOKEN }}"}
    text = (ROOT / ".github/workflows/deploy.yml").read_text()
    for stack in ("prod-us-east-1", "dev-us-west-2", "111111111111"):
        assert stack not in text


def test_each_shard_deploys_its_stacks_with_bounded_parallelism() -> None:
    workflow = _workflow("deploy-shard.yml")
    triggers = workflow.get("on") or workflow.get(True)  # type: ignore[call-overload]
    assert set(triggers) == {"workflow_call"}
    targets = workflow["jobs"]["targets"]
    run_steps = "\n".join(s.get("run", "") for s in targets["steps"])
    assert 'aisb fleet matrix --shard "$SHARD" --shards "$SHARDS"' in run_steps
    deploy = workflow["jobs"]["deploy"]
    assert deploy["strategy"]["matrix"] == {
        "include": "${{ fromJSON(needs.targets.outputs.targets) }}"
    }
    # At most 1 shard x 4 stacks deploy at once, whatever the fleet's size.
    assert 1 <= deploy["strategy"]["max-parallel"] <= 10
    assert deploy["concurrency"] == {
        "group": "deploy-${{ matrix.stack }}",
        "cancel-in-progress": False,
    }
    assert deploy["environment"] == "aisb-deploy"
    assert deploy["permissions"]["id-token"] == "write"
    steps = {s.get("uses", "").split("@")[0]: s for s in deploy["steps"]}
    creds = steps["aws-actions/configure-aws-credentials"]["with"]
    assert creds == {"role-to-assume": "${{ matrix.role }}", "aws-region": "${{ matrix.region }}"}
    pulumi = steps["pulumi/actions"]
    assert pulumi["with"]["command"] == "up"
    # pulumi/actions v7.0.0 action.yml: `upsert`, "Create the stack if it currently does not
    # exist" (without it, `pulumi stack select` fails with "no stack named" on a new target).
    assert pulumi["with"]["upsert"] is True
    assert pulumi["with"]["stack-name"] == "${{ matrix.organization }}/${{ matrix.stack }}"
    assert pulumi["env"] == {"PULUMI_ACCESS_TOKEN": "${{ secrets.PULUMI_ACCESS_TOKEN }}"}
    preflight = next(s for s in deploy["steps"] if s.get("name") == "Preflight")
    assert 'aisb preflight --stack "$STACK"' in preflight["run"]
    assert "--allow-unknown" not in preflight["run"]  # exit 3 stops the deploy
    names = [s.get("name") or s.get("uses", "").split("@")[0] for s in deploy["steps"]]
    assert names.index("Preflight") < names.index("pulumi/actions")


# --- sharding: GitHub's 256 jobs per matrix ------------------------------------------------


def _big_inventory(tmp_path: Path, accounts: int, regions: int = 5) -> Path:
    """``accounts`` x ``regions`` targets."""
    names = ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-south-1"]
    lines = [
        "organization: acme",
        "repository: https://github.com/acme/iot-baseline.git",
        "deployRole: aisb-deployer",
        "defaults: {alertEmails: [secops@example.com]}",
        "accounts:",
    ]
    for i in range(accounts):
        lines += [
            f'  - id: "{100000000000 + i}"',
            f"    name: a{i:03d}",
            "    homeRegion: us-east-1",
            f"    regions: [{', '.join(names[:regions])}]",
        ]
    return _write(tmp_path, "\n".join(lines) + "\n")


def test_a_500_target_fleet_deploys_in_shards_of_at_most_256(tmp_path: Path) -> None:
    path = _big_inventory(tmp_path, 101)  # 505 targets
    inventory = fleet.load(path)
    assert len(inventory.targets) == 505
    runner = CliRunner()
    listed = json.loads(runner.invoke(app, ["fleet", "shards", "--inventory", str(path)]).stdout)
    assert listed == [{"shard": k, "shards": 2} for k in (1, 2)]
    deployed: list[str] = []
    for entry in listed:
        args = ["fleet", "matrix", "--inventory", str(path)]
        args += ["--shard", str(entry["shard"]), "--shards", str(entry["shards"])]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        jobs = json.loads(result.stdout)
        assert 0 < len(jobs) <= fleet.MAX_MATRIX
        deployed += [j["stack"] for j in jobs]
    # Every target deploys exactly once, whichever shard it falls in.
    assert sorted(deployed) == sorted(t.stack for t in inventory.targets)
    assert len(set(deployed)) == len(deployed)


@pytest.mark.parametrize("count", [1, 255, 256, 257, 512, 513, 1000])
def test_shards_cover_every_target_once_and_stay_under_the_limit(count: int) -> None:
    targets = tuple(
        fleet.Target(f"s{i}", "111111111111", "a", "us-east-1", True, "r") for i in range(count)
    )
    inventory = fleet.Inventory("acme", "https://github.com/acme/x.git", "main", targets)
    n = fleet.shard_count(inventory)
    assert n == -(-count // 256)
    parts = [fleet.shard(inventory, k, n) for k in range(1, n + 1)]
    assert all(0 < len(p) <= 256 for p in parts)
    assert [t for p in parts for t in p] == list(targets)


def test_a_bad_shard_is_refused(tmp_path: Path) -> None:
    for extra in (["--shard", "3", "--shards", "2"], ["--shard", "1"], ["--shards", "2"]):
        result = CliRunner().invoke(app, ["fleet", "matrix", "--inventory", str(EXAMPLE), *extra])
        assert result.exit_code == 2, extra


def test_every_target_creates_its_roles_under_the_deploy_role_s_boundary(tmp_path: Path) -> None:
    from aisb_tools.deploy_role import BOUNDARY_NAME

    for target in fleet.load(_write(tmp_path, INVENTORY)).targets:
        assert target.config["rolePermissionsBoundary"] == BOUNDARY_NAME, target.stack
    # An inventory may still choose another boundary.
    custom = INVENTORY.replace("defaults:\n", "defaults:\n  rolePermissionsBoundary: ours\n", 1)
    assert "rolePermissionsBoundary: ours" in custom
    for target in fleet.load(_write(tmp_path, custom)).targets:
        assert target.config["rolePermissionsBoundary"] == "ours"
