"""Organisation rollout: one inventory (``fleet.yaml``) -> one stack per account and region.

The inventory names the Pulumi Cloud organisation, the repository, the IAM role each account's
deployments assume, the aisb configuration every stack shares, and per account its regions,
home region and overrides. ``load`` validates it as strictly as a stack file: unknown keys
(with a "did you mean"), account ids, names, regions, a home region outside ``regions``,
overrides for regions the account does not deploy, duplicate stack names, and every target's
resulting configuration through the program's own settings. Each problem names its path in
the file (``accounts[1].regionConfig.eu-west-1.behaviorDetection``); all are reported at once.

The inventory also says where Pulumi Deployments gets the code (``source``): ``github``, the
GitHub integration (push-to-deploy, path filters; the Pulumi GitHub app must be installed on
the repository), the default for a github.com repository; or ``git``, a plain clone from any
other host with ``gitAuth`` (``ssh``, ``basic`` or ``none``) naming the credentials the fleet
program takes from its own secret config.

``render`` turns it into ``Pulumi.<name>-<region>.yaml`` files: both providers' regions set,
defaults < account < region overrides, and the account-wide controls (the multi-region
CloudTrail trail) only in the account's home region. Output is deterministic; ``secure:``
values are kept as they are.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from aisb import validation as v
from aisb.mockengine import partition
from aisb_tools.deploy_role import BOUNDARY_NAME

HEADER = (
    "# Rendered by `aisb fleet render` from {inventory}: edit the inventory, not this file\n"
    "# (`aisb fleet render --check` fails while they differ).\n"
)
MARK = "# Rendered by `aisb fleet render`"

ACCOUNT_WIDE = (
    "cloudTrail",
    "cloudTrailArchiveDays",
    "cloudTrailObjectLockDays",
    "cloudTrailObjectLockMode",
)
"""Keys of controls that cover the whole account: the trail is multi-region
(``is_multi_region_trail``), so a second one in another region would log every event twice.
They are set in the home region only; other regions get ``cloudTrail: false``."""

_TOP = (
    "organization",
    "repository",
    "branch",
    "source",
    "gitAuth",
    "deployRole",
    "defaults",
    "accounts",
)
_ACCOUNT = ("id", "name", "homeRegion", "regions", "config", "regionConfig", "deployRole")
# Pulumi Cloud organisation names are lower case, and the deploy role's OIDC trust compares
# the audience (the organisation's name) with a case-sensitive StringEquals (Pulumi's AWS OIDC
# guide, https://www.pulumi.com/docs/pulumi-cloud/access-management/oidc/provider/aws/): an
# upper-case name here would render a trust no deployment can ever satisfy.
_ORG = re.compile(r"[a-z0-9][a-z0-9_.-]{0,39}")
_ORG_ANY_CASE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")
_NAME = re.compile(r"[a-z][a-z0-9-]{0,39}")
_ACCOUNT_ID = re.compile(r"\d{12}")
_ROLE = re.compile(r"[\w+=,.@-]{1,64}")
_REPO = re.compile(r"https://[^\s]+\.git|git@[^\s]+:[^\s]+\.git")
_BRANCH = re.compile(r"[A-Za-z0-9._/-]{1,255}")
_GITHUB = re.compile(
    r"(?:https://github\.com/|git@github\.com:)(?P<repo>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?)\.git"
)
SOURCES = ("github", "git")
"""Where Pulumi Deployments gets the code: the GitHub integration, or a plain git clone."""
GIT_AUTH = ("ssh", "basic", "none")
"""How a plain git clone authenticates (the fleet program's secret config holds the keys)."""

MAX_MATRIX = 256
"""GitHub Actions: "A matrix will generate a maximum of 256 jobs per workflow run"
(https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-syntax#jobsjob_idstrategymatrix).
The deploy workflow splits the targets into shards of at most this many."""

PROGRAM_PATHS = ("Pulumi.yaml", "__main__.py", "pyproject.toml", "uv.lock", "aisb/**")
"""The files every stack's deployment runs (the program, its package and its lock): a push
that changes one of them deploys every stack; a push that changes only a stack file deploys
that stack (Pulumi Deployments path filters,
https://www.pulumi.com/docs/deployments/concepts/settings/path-filtering/)."""


class InventoryError(Exception):
    """The inventory is invalid; nothing was rendered."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{path}: invalid inventory:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class Target:
    """One stack of the rollout: an account in a region."""

    stack: str
    account_id: str
    account_name: str
    region: str
    home: bool
    deploy_role: str
    config: dict[str, Any] = field(default_factory=dict)
    """aisb keys (without the namespace) -> values as the stack file writes them."""

    @property
    def role_arn(self) -> str:
        return f"arn:{partition(self.region)}:iam::{self.account_id}:role/{self.deploy_role}"

    @property
    def file_name(self) -> str:
        return f"Pulumi.{self.stack}.yaml"

    @property
    def paths(self) -> tuple[str, ...]:
        """The repository paths whose change deploys this stack."""
        return (*PROGRAM_PATHS, f"stacks/{self.file_name}")


@dataclass(frozen=True)
class Inventory:
    organization: str
    repository: str
    branch: str
    targets: tuple[Target, ...]
    source: str = "github"
    """``github`` (the GitHub integration) or ``git`` (a plain clone, ``git_auth``)."""
    git_auth: str = "none"

    @property
    def github_repository(self) -> str:
        """``owner/repo`` of a github.com repository, "" for another host."""
        match = _GITHUB.fullmatch(self.repository)
        return match["repo"] if match else ""


def _unknown(
    where: str, given: Mapping[str, Any], known: tuple[str, ...], problems: list[str]
) -> None:
    for key in sorted(str(k) for k in given if k not in known):
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        problems.append(f"{where}{key}: unknown key{hint} (valid: {', '.join(known)})")


def _text(
    value: Any, pattern: re.Pattern[str], where: str, expected: str, problems: list[str]
) -> str:
    if isinstance(value, str) and pattern.fullmatch(value):
        return value
    problems.append(f"{where}: got {value!r}; expected {expected}")
    return ""


def _field(
    given: Mapping[str, Any],
    key: str,
    pattern: re.Pattern[str],
    where: str,
    expected: str,
    problems: list[str],
) -> str:
    """A text field matching ``pattern``; "" when absent (reported as missing elsewhere)."""
    if key not in given:
        return ""
    return _text(given[key], pattern, where, expected, problems)


def _config_map(
    value: Any, where: str, keys: Mapping[str, Any], problems: list[str]
) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problems.append(f"{where}: got {value!r}; expected a map of aisb keys (without 'aisb:')")
        return {}
    for key in value:
        if isinstance(key, str) and key.startswith("aisb:"):
            problems.append(f"{where}.{key}: write keys without the 'aisb:' prefix")
    plain = {k: x for k, x in value.items() if not str(k).startswith("aisb:")}
    _unknown(f"{where}.", plain, tuple(keys), problems)
    return {str(k): x for k, x in value.items() if k in keys}


def _stack_config(target: Target) -> dict[str, str]:
    """The target's config as the Pulumi CLI hands it to the program (``secure:`` values get
    the stand-ins ``aisb plan`` uses, as there is nothing here to decrypt them)."""
    from aisb_tools.stackfile import SECRET_PLACEHOLDERS, cli_string, is_secure

    config = {"aws:region": target.region, "aws-native:region": target.region}
    for key, value in target.config.items():
        full = f"aisb:{key}"
        if is_secure(value):
            if full in SECRET_PLACEHOLDERS:
                config[full] = SECRET_PLACEHOLDERS[full]
            continue
        config[full] = cli_string(value)
    return config


def _secret_keys(target: Target) -> set[str]:
    from aisb_tools.stackfile import is_secure

    return {f"aisb:{k}" for k, x in target.config.items() if is_secure(x)}


def load(path: Path) -> Inventory:
    """Read and validate an inventory, or raise ``InventoryError`` listing every problem."""
    from aisb.settings import KEYS, ConfigError, parse

    keys = {k.name: k for k in KEYS}
    problems: list[str] = []
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise InventoryError(path, [f"cannot read: {error}"]) from None
    if not isinstance(raw, Mapping):
        raise InventoryError(path, ["expected a map with organization, repository and accounts"])
    _unknown("", raw, _TOP, problems)
    for required in ("organization", "repository", "deployRole", "accounts"):
        if required not in raw:
            problems.append(f"{required}: missing")
    organization = _organization(raw, problems)
    repository = _field(
        raw, "repository", _REPO, "repository", "a git URL ending in .git", problems
    )
    branch = _text(raw.get("branch", "main"), _BRANCH, "branch", "a branch name", problems)
    source, git_auth = _source(raw, repository, problems)
    default_role = _field(raw, "deployRole", _ROLE, "deployRole", "an IAM role name", problems)
    defaults = _config_map(raw.get("defaults"), "defaults", keys, problems)

    accounts = raw.get("accounts")
    if "accounts" in raw and not (isinstance(accounts, list) and accounts):
        problems.append(f"accounts: got {accounts!r}; expected a list of at least one account")
        accounts = []
    targets: list[Target] = []
    origins: dict[tuple[str, str], str] = {}  # (stack, key) -> where in the file its value is
    seen: dict[str, str] = {}
    for i, account in enumerate(accounts or []):
        at = f"accounts[{i}]"
        if not isinstance(account, Mapping):
            problems.append(f"{at}: got {account!r}; expected a map")
            continue
        _unknown(f"{at}.", account, _ACCOUNT, problems)
        for required in ("id", "name", "homeRegion", "regions"):
            if required not in account:
                problems.append(f"{at}.{required}: missing")
        # Quoted: YAML reads an unquoted id as a number and drops its leading zeros.
        account_id = _field(
            account, "id", _ACCOUNT_ID, f"{at}.id", "a 12-digit AWS account id, quoted", problems
        )
        name = _field(
            account, "name", _NAME, f"{at}.name", "a name matching [a-z][a-z0-9-]{0,39}", problems
        )
        role = (
            _field(account, "deployRole", _ROLE, f"{at}.deployRole", "an IAM role name", problems)
            or default_role
        )
        regions_raw = account.get("regions")
        regions: list[str] = []
        if not (isinstance(regions_raw, list) and regions_raw):
            if "regions" in account:
                problems.append(
                    f"{at}.regions: got {regions_raw!r}; expected a list of AWS regions"
                )
        else:
            for j, region in enumerate(regions_raw):
                try:
                    regions.append(v.region(region))
                except v.InvalidValue as error:
                    problems.append(f"{at}.regions[{j}]: {error}")
            for dup in sorted({r for r in regions if regions.count(r) > 1}):
                problems.append(f"{at}.regions: {dup} is listed twice")
        home = account.get("homeRegion")
        if "homeRegion" in account and home not in regions:
            problems.append(
                f"{at}.homeRegion: got {home!r}; expected one of the account's regions "
                f"({', '.join(regions)})"
            )
        overrides = _config_map(account.get("config"), f"{at}.config", keys, problems)
        region_config = account.get("regionConfig") or {}
        if not isinstance(region_config, Mapping):
            problems.append(
                f"{at}.regionConfig: got {region_config!r}; expected a map of region -> config"
            )
            region_config = {}
        for region in sorted(str(r) for r in region_config if r not in regions):
            problems.append(
                f"{at}.regionConfig.{region}: not one of the account's regions "
                f"({', '.join(regions)})"
            )
        if not name or not account_id:
            continue
        for region in sorted(set(regions)):
            per_region = _config_map(
                region_config.get(region), f"{at}.regionConfig.{region}", keys, problems
            )
            if region != home:
                for key in sorted(k for k in per_region if k in ACCOUNT_WIDE):
                    problems.append(
                        f"{at}.regionConfig.{region}.{key}: the trail is account-wide "
                        f"(multi-region): set it for the home region ({home}) only"
                    )
            stack = f"{name}-{region}"
            if stack in seen:
                problems.append(f"{at}: stack {stack} is also rendered by {seen[stack]}")
                continue
            seen[stack] = at
            merged: dict[str, Any] = {}
            layers = (
                (defaults, "defaults"),
                (overrides, f"{at}.config"),
                (per_region, f"{at}.regionConfig.{region}"),
            )
            for layer, where in layers:
                for key, value in layer.items():
                    merged[key] = value
                    origins[(stack, key)] = f"{where}.{key}"
            # Every target deploys as the account's deploy role, which creates roles only with
            # its permissions boundary (aisb_tools.deploy_role).
            merged.setdefault("rolePermissionsBoundary", BOUNDARY_NAME)
            is_home = region == home
            if not is_home:
                for key in ACCOUNT_WIDE:
                    if key in merged and key != "cloudTrail":
                        merged.pop(key)
                if merged.get("cloudTrail") not in (None, False):
                    merged["cloudTrail"] = False
            ordered = {k: merged[k] for k in keys if k in merged}
            targets.append(Target(stack, account_id, name, region, is_home, role, ordered))

    if problems:
        raise InventoryError(path, problems)
    for target in targets:
        try:
            parse(_stack_config(target), _secret_keys(target))
        except ConfigError as error:
            for problem in error.problems:
                key = problem.split(":", 2)[1] if problem.startswith("aisb:") else ""
                head = key.partition("[")[0].partition(".")[0]
                where = origins.get((target.stack, head), "")
                detail = problem.split(": ", 1)[1] if ": " in problem else problem
                problems.append(f"{where or target.stack}: {detail} (stack {target.stack})")
    if problems:
        raise InventoryError(path, problems)
    return Inventory(organization, repository, branch, tuple(targets), source, git_auth)


def _organization(raw: Mapping[str, Any], problems: list[str]) -> str:
    value = raw.get("organization")
    if "organization" not in raw:
        return ""
    if isinstance(value, str) and _ORG_ANY_CASE.fullmatch(value) and not _ORG.fullmatch(value):
        problems.append(
            f"organization: got {value!r}; Pulumi Cloud organisation names are lower case and "
            f"the deploy role's OIDC audience must equal it exactly: write {value.lower()!r}"
        )
        return ""
    return _text(value, _ORG, "organization", "a Pulumi Cloud organisation name", problems)


def _source(raw: Mapping[str, Any], repository: str, problems: list[str]) -> tuple[str, str]:
    """Where Deployments gets the code, and how a plain clone authenticates."""
    on_github = bool(_GITHUB.fullmatch(repository))
    source = raw.get("source", "github" if on_github or not repository else "git")
    if source not in SOURCES:
        problems.append(f"source: got {source!r}; expected one of {', '.join(SOURCES)}")
        return "github", "none"
    if source == "github" and repository and not on_github:
        problems.append(
            f"source: github needs a github.com repository (https://github.com/<owner>/<repo>"
            f".git); got {repository!r}: use source: git with gitAuth for another host"
        )
    git_auth = raw.get("gitAuth")
    if source == "github":
        if git_auth is not None:
            problems.append(
                "gitAuth: the GitHub integration clones with the Pulumi GitHub app; gitAuth "
                "goes with source: git"
            )
        return source, "none"
    if git_auth not in GIT_AUTH:
        problems.append(
            f"gitAuth: got {git_auth!r}; expected one of {', '.join(GIT_AUTH)} "
            "(source: git needs to say how the clone authenticates)"
        )
        return source, "none"
    return source, str(git_auth)


def stack_file(target: Target, inventory_name: str) -> str:
    """The text of a target's stack file."""
    body: dict[str, Any] = {"aws:region": target.region, "aws-native:region": target.region}
    body.update({f"aisb:{k}": x for k, x in target.config.items()})
    where = f"# Account {target.account_id} ({target.account_name}), {target.region}"
    where += ", home region.\n" if target.home else ".\n"
    text = yaml.safe_dump(
        {"config": body}, sort_keys=False, default_flow_style=False, allow_unicode=True
    )
    return HEADER.format(inventory=inventory_name) + where + text


def render(inventory: Inventory, inventory_name: str) -> dict[str, str]:
    """Every target's stack file, by file name."""
    return {t.file_name: stack_file(t, inventory_name) for t in inventory.targets}


def differences(rendered: Mapping[str, str], folder: Path) -> list[str]:
    """The stack files in ``folder`` that differ from ``rendered``: changed or missing, and
    rendered ones the inventory no longer has (hand-written stack files are left alone)."""
    found = []
    for name, text in sorted(rendered.items()):
        path = folder / name
        if not path.is_file():
            found.append(f"{path}: missing")
        elif path.read_text() != text:
            found.append(f"{path}: differs from the inventory")
    for path in sorted(folder.glob("Pulumi.*.yaml")):
        if path.name not in rendered and path.read_text().startswith(MARK):
            found.append(f"{path}: rendered from the inventory, which no longer has it")
    return found


def write(rendered: Mapping[str, str], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in sorted(rendered.items()):
        (folder / name).write_text(text)
        written.append(folder / name)
    for path in sorted(folder.glob("Pulumi.*.yaml")):
        if path.name not in rendered and path.read_text().startswith(MARK):
            path.unlink()
    return written


def shard_count(inventory: Inventory, size: int = MAX_MATRIX) -> int:
    """How many shards of at most ``size`` targets the deploy workflow needs (at least one)."""
    return max(1, math.ceil(len(inventory.targets) / size))


def shard(inventory: Inventory, number: int, shards: int) -> tuple[Target, ...]:
    """Shard ``number`` (1-based) of ``shards``: contiguous, balanced slices of the targets in
    inventory order, so every target is in exactly one shard."""
    if not (shards >= 1 and 1 <= number <= shards):
        raise ValueError(f"shard {number} of {shards}: expected 1 <= shard <= shards")
    targets = inventory.targets
    start = len(targets) * (number - 1) // shards
    end = len(targets) * number // shards
    return targets[start:end]


def shards(inventory: Inventory, size: int = MAX_MATRIX) -> str:
    """The deploy workflow's outer matrix: one entry per shard (``shard``, ``shards``)."""
    count = shard_count(inventory, size)
    return json.dumps(
        [{"shard": k, "shards": count} for k in range(1, count + 1)], separators=(",", ":")
    )


def matrix(inventory: Inventory, number: int | None = None, of: int | None = None) -> str:
    """The deploy workflow's matrix: one entry per target with its role and region; with
    ``number`` and ``of``, only that shard's targets."""
    targets = inventory.targets if number is None else shard(inventory, number, of or 1)
    return json.dumps(
        [
            {
                "stack": t.stack,
                "organization": inventory.organization,
                "region": t.region,
                "account": t.account_id,
                "role": t.role_arn,
            }
            for t in targets
        ],
        separators=(",", ":"),
    )
