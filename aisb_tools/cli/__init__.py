"""The ``aisb`` command: checks of an AWS account around a deploy of the baseline.

``aisb preflight --stack <stack>`` reads the account and region a stack targets and reports
what would make ``pulumi up`` fail or a control not work, each with its fix. Exit codes of
``preflight``, ``check`` and ``drill``: 0 every check passed, 1 something to fix, 2 the command
could not run (no credentials, bad stack file), 3 nothing to fix but some checks could not
tell (``--allow-unknown`` turns 3 into 0). With ``--json`` it prints exactly one JSON object on
stdout. Requests go where botocore sends them (``AWS_ENDPOINT_URL`` included).

This module imports only typer: boto3, rich, Pulumi and its providers are imported by the
commands that use them, so ``aisb --help`` and argument errors answer at once.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

try:
    import typer
except ImportError:  # the library installed without the command's extra
    raise SystemExit(
        "aisb: the command needs its extra: pip install 'aisb[cli]' (or uv add 'aisb[cli]')"
    ) from None

if TYPE_CHECKING:
    from aisb_tools.cli.results import Report

EXIT_ERROR = 2
"""The command could not run (the same as ``aisb_tools.cli.results.EXIT_ERROR``)."""

app = typer.Typer(
    name="aisb",
    help="Check an AWS account before and after deploying the AWS IoT Security Baseline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help: rich's help renderer alone takes longer to import than Python to start.
    rich_markup_mode=None,
)

StackOption = Annotated[str, typer.Option("--stack", help="The stack: stacks/Pulumi.<stack>.yaml.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
RootOption = Annotated[
    Path, typer.Option("--project", help="The aisb project folder (with Pulumi.yaml).")
]
AllowUnknownOption = Annotated[
    bool,
    typer.Option(
        "--allow-unknown",
        help="Exit 0, not 3, when nothing is to fix but some checks could not tell.",
    ),
]


def _emit(report: Report, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(report.to_json() + "\n")
    else:
        from rich.console import Console

        from aisb_tools.cli.results import render_table

        render_table(report, Console())


def _could_not_run(stack: str, region: str, detail: str, as_json: bool) -> typer.Exit:
    """Exit 2 with one line (or, with ``--json``, one result) saying why."""
    if as_json:
        run = {"id": "run", "control": None, "status": "fail", "detail": detail, "fix": None}
        sys.stdout.write(json.dumps({"stack": stack, "region": region, "results": [run]}) + "\n")
    else:
        typer.echo(f"aisb: {detail}", err=True)
    return typer.Exit(EXIT_ERROR)


def _yaml_slip(path: Path) -> str | None:
    """Where a YAML file cannot be read, as ``<file>:<line>:<column>: <problem>``."""
    import yaml

    try:
        yaml.safe_load(path.read_text())
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        return f"{where}: not valid YAML: {error.problem or error.context}"
    except yaml.YAMLError as error:
        return f"{path}: not valid YAML: {(str(error).splitlines() or [''])[0]}"
    except (OSError, UnicodeDecodeError) as error:
        return f"{path}: cannot be read: {error}"
    return None


def _project_problem(root: Path) -> str | None:
    """Why ``root`` is not an aisb project folder whose files can be read, in one line."""
    project = root / "Pulumi.yaml"
    if not project.is_file():
        return (
            f"no Pulumi.yaml in {root.resolve()}: run aisb in the aisb project folder, or give "
            "it with --project DIR"
        )
    slip = _yaml_slip(project)
    if slip:
        return slip
    from aisb_tools.stackfile import stacks_dir

    folder = stacks_dir(root)
    if not folder.is_dir():
        return f"no stack folder {folder}: this project has no stacks (stacks/Pulumi.<stack>.yaml)"
    return None


def _load(stack: str, root: Path, as_json: bool) -> tuple[Any, dict[str, str], list[Any]]:
    """The stack's settings and raw config, or exit 2 naming what is wrong with its file."""
    from aisb_tools.cli.results import UNKNOWN, Result
    from aisb_tools.stackfile import StackFileError, readable_config, stack_path

    problem = _project_problem(root)
    if problem:
        raise _could_not_run(stack, "", problem, as_json)
    try:
        path = stack_path(stack, root)
    except StackFileError as error:
        raise _could_not_run(stack, "", str(error), as_json) from None
    slip = _yaml_slip(path)
    if slip:
        raise _could_not_run(stack, "", slip, as_json)
    try:
        config, secrets = readable_config(path, root, stack)
    except (StackFileError, AttributeError, TypeError) as error:
        # AttributeError/TypeError: YAML that parses but is not a mapping of config values.
        raise _could_not_run(stack, "", f"{path}: {error}", as_json) from None
    from aisb.settings import ConfigError, parse

    notes = []
    for key in sorted(secrets):
        notes.append(Result(f"secret:{key}", None, UNKNOWN, f"{key} is encrypted: not checked"))
    try:
        settings = parse(config, secrets)
    except ConfigError as error:
        region = config.get("aws:region", "")
        raise _could_not_run(
            stack, region, f"{path}: " + "; ".join(error.problems), as_json
        ) from None
    return settings, config, notes


def credentials_problem(error: Exception, profile: str | None) -> str:
    """What to do when no usable AWS credentials were found, in one line."""
    from botocore.exceptions import (
        NoCredentialsError,
        NoRegionError,
        ProfileNotFound,
        SSOError,
        TokenRetrievalError,
        UnauthorizedSSOTokenError,
    )

    from aisb_tools.cli.results import aws_error

    named = f" --profile {profile}" if profile else ""
    if isinstance(error, NoCredentialsError):
        return (
            "no AWS credentials found: sign in (`aws sso login" + named + "`), set AWS_PROFILE "
            "or aws:profile in the stack file, or export AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY"
        )
    if isinstance(error, ProfileNotFound):
        return f"{aws_error(error)}: set AWS_PROFILE or aws:profile to a profile in ~/.aws/config"
    if isinstance(error, SSOError | TokenRetrievalError | UnauthorizedSSOTokenError):
        return f"{aws_error(error)}: sign in again with `aws sso login{named}`"
    if isinstance(error, NoRegionError):
        return f"{aws_error(error)}: set aws:region in the stack file"
    code = ""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = str(response.get("Error", {}).get("Code", ""))
    if code in ("ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId"):
        return f"{aws_error(error)}: the credentials expired or are wrong; sign in again"
    return f"could not reach AWS: {aws_error(error)}"


def _connect(
    stack: str, settings: Any, config: dict[str, str], services: tuple[str, ...], as_json: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Clients for ``services`` in the stack's region (its ``aws:profile`` honoured) and the
    caller's identity, or exit 2 when there are no usable credentials."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    profile = config.get("aws:profile")
    try:
        session = boto3.Session(profile_name=profile, region_name=settings.region)
        # Every call goes through these clients, the caller's identity too (no other session).
        clients = {service: session.client(service) for service in (*services, "sts")}
        identity = clients["sts"].get_caller_identity()
    except (BotoCoreError, ClientError) as error:
        detail = credentials_problem(error, profile)
        raise _could_not_run(stack, settings.region, detail, as_json) from None
    return clients, identity


@app.callback()
def _commands() -> None:
    """Check an AWS account before and after deploying the AWS IoT Security Baseline."""


@app.command()
def preflight(
    stack: StackOption,
    as_json: JsonOption = False,
    root: RootOption = Path("."),
    allow_unknown: AllowUnknownOption = False,
) -> None:
    """Before `pulumi up`: what in the account would make the deploy fail, with the fix."""
    from aisb_tools.cli import preflight_checks as checks
    from aisb_tools.cli.results import PASS, Report, Result

    settings, config, notes = _load(stack, root, as_json)
    clients, identity = _connect(stack, settings, config, checks.SERVICES, as_json)
    partition = identity["Arn"].split(":")[1]
    target = checks.Target(stack, identity["Account"], settings.region, partition)
    try:
        state = checks.stack_state(stack, root)
        results = [
            Result("stack-config", None, PASS, f"stacks/Pulumi.{stack}.yaml is valid"),
            *notes,
            *checks.preflight(clients, settings, target, state),
        ]
    except KeyboardInterrupt:
        raise _could_not_run(stack, settings.region, "interrupted", as_json) from None
    report = Report(stack, settings.region, tuple(results))
    _emit(report, as_json)
    raise typer.Exit(report.exit_code_for(allow_unknown))


@app.command()
def check(
    stack: StackOption,
    as_json: JsonOption = False,
    root: RootOption = Path("."),
    allow_unknown: AllowUnknownOption = False,
) -> None:
    """After `pulumi up`: does each control of the deployed baseline work?"""
    from aisb_tools.cli import check_checks as checks
    from aisb_tools.cli.results import Report

    settings, config, notes = _load(stack, root, as_json)
    clients, _ = _connect(stack, settings, config, checks.SERVICES, as_json)
    try:
        if as_json:
            results = checks.check_all(clients, settings)
        else:
            from rich.progress import Progress

            with Progress(transient=True) as bar:
                task = bar.add_task("listing certificates", total=None)
                results = checks.check_all(
                    clients, settings, lambda n: bar.update(task, completed=n)
                )
    except KeyboardInterrupt:
        raise _could_not_run(stack, settings.region, "interrupted", as_json) from None
    report = Report(stack, settings.region, (*notes, *results))
    _emit(report, as_json)
    raise typer.Exit(report.exit_code_for(allow_unknown))


TimeoutOption = Annotated[
    int, typer.Option("--timeout", help="Seconds to wait for every alert to arrive.", min=1)
]


@app.command()
def drill(
    stack: StackOption,
    as_json: JsonOption = False,
    root: RootOption = Path("."),
    timeout: TimeoutOption = 600,
    allow_unknown: AllowUnknownOption = False,
) -> None:
    """A fire drill: send a real alert down each path and confirm it reached the topic.
    It leaves e-mails to every subscriber, audit results and a report (see the README)."""
    from aisb_tools.cli import drill_checks as drills
    from aisb_tools.cli.results import Report

    settings, config, notes = _load(stack, root, as_json)
    clients, _ = _connect(stack, settings, config, drills.SERVICES, as_json)
    try:
        results = drills.drill(clients, settings, timeout=timeout)
    except drills.Interrupted as stop:
        left = "; left behind: " + "; ".join(stop.left) if stop.left else "; nothing left behind"
        raise _could_not_run(stack, settings.region, f"drill interrupted{left}", as_json) from None
    report = Report(stack, settings.region, (*notes, *results))
    _emit(report, as_json)
    raise typer.Exit(report.exit_code_for(allow_unknown))


OutOption = Annotated[
    Path | None,
    typer.Option("--out", help="Write <DIR>/<stack>.json for each stack.", metavar="DIR"),
]
StacksOption = Annotated[
    list[str] | None,
    typer.Option(
        "--stack", help="Only this stack (repeatable); default: every stack file.", metavar="NAME"
    ),
]
CompareOption = Annotated[
    tuple[Path, Path] | None,
    typer.Option(
        "--compare",
        help="Print, as Markdown, what changed from the plans in BASE to those in HEAD.",
        metavar="BASE HEAD",
    ),
]


@app.command()
def plan(
    out: OutOption = None,
    stacks: StacksOption = None,
    compare: CompareOption = None,
    root: RootOption = Path("."),
    produced_by: Annotated[
        str, typer.Option("--produced-by", help="With --compare: a line naming the code used.")
    ] = "",
) -> None:
    """Without credentials: render each stack under Pulumi's mock engine, or compare two
    renders. Shows what the code asks for, not a diff against what is deployed."""
    if (out is None) == (compare is None):
        typer.echo("aisb plan: give exactly one of --out DIR or --compare BASE HEAD", err=True)
        raise typer.Exit(EXIT_ERROR)
    if compare is not None:
        if stacks:
            typer.echo("aisb plan: --stack goes with --out, not --compare", err=True)
            raise typer.Exit(EXIT_ERROR)
        base, head = compare
        if not head.is_dir():
            typer.echo(f"aisb plan: {head} is not a folder of plans", err=True)
            raise typer.Exit(EXIT_ERROR)
        from aisb_tools import plan as plans

        text = plans.markdown(plans.diff_plans(base, head))
        if produced_by:  # one plain line under the marker: the comment stays found by it
            marker, _, rest = text.partition("\n")
            line = re.sub(r"[^A-Za-z0-9 .,;:/@()+-]", "", produced_by)[:200]  # no Markdown
            text = f"{marker}\n_{line}_\n\n{rest}"
        sys.stdout.write(text)
        return
    assert out is not None
    problem = _project_problem(root)
    if problem:
        typer.echo(f"aisb plan: {problem}", err=True)
        raise typer.Exit(EXIT_ERROR)
    from aisb_tools import plan as plans
    from aisb_tools.stackfile import stack_files

    files = stack_files(root)
    if not stacks and not files:
        typer.echo(f"aisb plan: no stack files (Pulumi.<stack>.yaml) in {root}", err=True)
        raise typer.Exit(EXIT_ERROR)
    for path in files:
        slip = _yaml_slip(path)
        if slip:
            typer.echo(f"aisb plan: {slip}", err=True)
            raise typer.Exit(EXIT_ERROR)
    try:
        written = plans.write(out, root, stacks or ())
    except plans.PlanError as error:
        typer.echo(f"aisb plan: {error}", err=True)
        raise typer.Exit(EXIT_ERROR) from None
    for path in written:
        typer.echo(f"wrote {path}", err=True)


PREVIEW_ROLE_KEY = "aisb-ci:previewRoleArn"
"""A stack file's IAM role for the pull-request workflow's ``pulumi preview``."""
_ROLE_ARN = re.compile(r"arn:aws(-cn|-us-gov)?:iam::\d{12}:role/[\w+=,.@/-]{1,512}")


@app.command()
def stacks(as_json: JsonOption = False, root: RootOption = Path(".")) -> None:
    """List the stack files: name, region and preview role (the workflow's matrix)."""
    problem = _project_problem(root)
    if problem:
        typer.echo(f"aisb stacks: {problem}", err=True)
        raise typer.Exit(EXIT_ERROR)
    from aisb_tools.stackfile import stack_files, stack_name, stack_values, stacks_dir

    files = stack_files(root)
    if not files:
        typer.echo(
            f"aisb stacks: no stack files (Pulumi.<stack>.yaml) in {stacks_dir(root)}", err=True
        )
        raise typer.Exit(EXIT_ERROR)
    listed = []
    for path in files:
        slip = _yaml_slip(path)
        if slip:
            typer.echo(f"aisb stacks: {slip}", err=True)
            raise typer.Exit(EXIT_ERROR)
        values = stack_values(path, root)
        role = values.get(PREVIEW_ROLE_KEY, "")
        if role and not (isinstance(role, str) and _ROLE_ARN.fullmatch(role)):
            typer.echo(
                f"aisb stacks: {path}: {PREVIEW_ROLE_KEY}: got {role!r}; expected an IAM role "
                "ARN (arn:aws:iam::123456789012:role/name)",
                err=True,
            )
            raise typer.Exit(EXIT_ERROR)
        listed.append(
            {
                "stack": stack_name(path),
                "region": str(values.get("aws:region", "")),
                "role": str(values.get(PREVIEW_ROLE_KEY, "")),
            }
        )
    if as_json:
        sys.stdout.write(json.dumps(listed, separators=(",", ":")) + "\n")
        return
    for entry in listed:
        typer.echo("\t".join(entry.values()))


fleet_app = typer.Typer(
    help="Roll the baseline out to every account and region of an inventory (fleet.yaml).",
    no_args_is_help=True,
)
app.add_typer(fleet_app, name="fleet")

InventoryOption = Annotated[
    Path, typer.Option("--inventory", help="The inventory file.", metavar="PATH")
]
FleetOutOption = Annotated[
    Path, typer.Option("--out", help="Where the stack files go.", metavar="DIR")
]


def _inventory(path: Path) -> Any:
    from aisb_tools.fleet import InventoryError, load

    try:
        return load(path)
    except InventoryError as error:
        typer.echo(f"aisb fleet: {error}", err=True)
        raise typer.Exit(EXIT_ERROR) from None


@fleet_app.command("render")
def fleet_render(
    inventory: InventoryOption = Path("fleet.yaml"),
    out: FleetOutOption = Path("stacks"),
    check: Annotated[
        bool,
        typer.Option("--check", help="Write nothing; exit 1 naming the files that differ."),
    ] = False,
) -> None:
    """Write Pulumi.<name>-<region>.yaml for every account and region of the inventory."""
    from aisb_tools import fleet

    rendered = fleet.render(_inventory(inventory), inventory.name)
    if check:
        stale = fleet.differences(rendered, out)
        for line in stale:
            typer.echo(line, err=True)
        if stale:
            typer.echo(f"aisb fleet: run `aisb fleet render --inventory {inventory}`", err=True)
            raise typer.Exit(1)
        typer.echo(f"{len(rendered)} stack files match {inventory}", err=True)
        return
    for path in fleet.write(rendered, out):
        typer.echo(f"wrote {path}", err=True)


@fleet_app.command("matrix")
def fleet_matrix(
    inventory: InventoryOption = Path("fleet.yaml"),
    shard: Annotated[int | None, typer.Option("--shard", help="Only shard K.", metavar="K")] = None,
    shards: Annotated[int | None, typer.Option("--shards", help="Of N.", metavar="N")] = None,
) -> None:
    """Print the deploy workflow's matrix (JSON): stack, region, account and role of each."""
    from aisb_tools import fleet

    loaded = _inventory(inventory)
    if (shard is None) != (shards is None) or (shards and not 1 <= (shard or 0) <= shards):
        typer.echo("aisb fleet matrix: give --shard K with --shards N, 1 <= K <= N", err=True)
        raise typer.Exit(EXIT_ERROR)
    sys.stdout.write(fleet.matrix(loaded, shard, shards) + "\n")


@fleet_app.command("shards")
def fleet_shards(inventory: InventoryOption = Path("fleet.yaml")) -> None:
    """Print the deploy workflow's shards (JSON), each at most GitHub's 256 matrix jobs."""
    from aisb_tools import fleet

    sys.stdout.write(fleet.shards(_inventory(inventory)) + "\n")


from aisb_tools.cli.rotate import rotate as _rotate  # noqa: E402 - light: typer only

app.command(name="rotate")(_rotate)


def main() -> None:
    """The console script."""
    app()
