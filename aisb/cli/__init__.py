"""The ``aisb`` command: checks of an AWS account around a deploy of the baseline.

``aisb preflight --stack <stack>`` reads the account and region a stack targets and reports
what would make ``pulumi up`` fail or a control not work, each with its fix. Exit codes: 0 all
clear, 1 something to fix, 2 the command could not run (no credentials, bad stack file). With
``--json`` it prints exactly one JSON object on stdout. Requests go where botocore sends them
(``AWS_ENDPOINT_URL`` included).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from aisb.cli.results import (
    EXIT_ERROR,
    FAIL,
    PASS,
    UNKNOWN,
    Report,
    Result,
    aws_error,
    render_table,
)

app = typer.Typer(
    name="aisb",
    help="Check an AWS account before and after deploying the AWS IoT Security Baseline.",
    no_args_is_help=True,
    add_completion=False,
)

StackOption = Annotated[str, typer.Option("--stack", help="The stack: stacks/Pulumi.<stack>.yaml.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
RootOption = Annotated[
    Path, typer.Option("--project", help="The aisb project folder (with Pulumi.yaml).")
]


def _emit(report: Report, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(report.to_json() + "\n")
    else:
        from rich.console import Console

        render_table(report, Console())


def _could_not_run(stack: str, region: str, detail: str, as_json: bool) -> typer.Exit:
    report = Report(stack, region, (Result("run", None, FAIL, detail),))
    if as_json:
        sys.stdout.write(report.to_json() + "\n")
    else:
        typer.echo(f"aisb: {detail}", err=True)
    return typer.Exit(EXIT_ERROR)


def _load(stack: str, root: Path, as_json: bool) -> tuple[Any, dict[str, str], list[Result]]:
    """The stack's settings and raw config, or exit 2 naming what is wrong with its file."""
    from aisb.settings import ConfigError, parse
    from aisb.stackfile import StackFileError, readable_config, stack_path

    try:
        config, secrets = readable_config(stack_path(stack, root), root, stack)
    except StackFileError as error:
        raise _could_not_run(stack, "", str(error), as_json) from None
    notes = []
    for key in sorted(secrets):
        notes.append(Result(f"secret:{key}", None, UNKNOWN, f"{key} is encrypted: not checked"))
    try:
        settings = parse(config, secrets)
    except ConfigError as error:
        region = config.get("aws:region", "")
        raise _could_not_run(stack, region, "; ".join(error.problems), as_json) from None
    return settings, config, notes


def _connect(
    stack: str, settings: Any, config: dict[str, str], services: tuple[str, ...], as_json: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Clients for ``services`` in the stack's region (its ``aws:profile`` honoured) and the
    caller's identity, or exit 2 when there are no usable credentials."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        session = boto3.Session(profile_name=config.get("aws:profile"), region_name=settings.region)
        identity = session.client("sts").get_caller_identity()
    except (BotoCoreError, ClientError) as error:
        raise _could_not_run(stack, settings.region, aws_error(error), as_json) from None
    return {service: session.client(service) for service in services}, identity


@app.callback()
def _commands() -> None:
    """Check an AWS account before and after deploying the AWS IoT Security Baseline."""


@app.command()
def preflight(
    stack: StackOption, as_json: JsonOption = False, root: RootOption = Path(".")
) -> None:
    """Before `pulumi up`: what in the account would make the deploy fail, with the fix."""
    from aisb.cli import preflight_checks as checks

    settings, config, notes = _load(stack, root, as_json)
    clients, identity = _connect(stack, settings, config, checks.SERVICES, as_json)
    partition = identity["Arn"].split(":")[1]
    target = checks.Target(stack, identity["Account"], settings.region, partition)
    results = [
        Result("stack-config", None, PASS, f"stacks/Pulumi.{stack}.yaml is valid"),
        *notes,
        *checks.preflight(clients, settings, target),
    ]
    report = Report(stack, settings.region, tuple(results))
    _emit(report, as_json)
    raise typer.Exit(report.exit_code)


@app.command()
def check(stack: StackOption, as_json: JsonOption = False, root: RootOption = Path(".")) -> None:
    """After `pulumi up`: does each control of the deployed baseline work?"""
    from aisb.cli import check_checks as checks

    settings, config, notes = _load(stack, root, as_json)
    clients, _ = _connect(stack, settings, config, checks.SERVICES, as_json)
    if as_json:
        results = checks.check_all(clients, settings)
    else:
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task("listing certificates", total=None)
            results = checks.check_all(clients, settings, lambda n: bar.update(task, completed=n))
    report = Report(stack, settings.region, (*notes, *results))
    _emit(report, as_json)
    raise typer.Exit(report.exit_code)


TimeoutOption = Annotated[
    int, typer.Option("--timeout", help="Seconds to wait for every alert to arrive.", min=1)
]


@app.command()
def drill(
    stack: StackOption,
    as_json: JsonOption = False,
    root: RootOption = Path("."),
    timeout: TimeoutOption = 600,
) -> None:
    """A fire drill: send a real alert down each path and confirm it reached the topic."""
    from aisb.cli import drill_checks as drills
    from aisb.cli.results import AWS_ERRORS

    settings, config, notes = _load(stack, root, as_json)
    clients, _ = _connect(stack, settings, config, drills.SERVICES, as_json)
    try:
        results = drills.drill(clients, settings, timeout=timeout)
    except AWS_ERRORS as error:
        results = [Result("drill", "AISB-7", UNKNOWN, f"could not run: {aws_error(error)}")]
    report = Report(stack, settings.region, (*notes, *results))
    _emit(report, as_json)
    raise typer.Exit(report.exit_code)


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
    from aisb import plan as plans

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
        text = plans.markdown(plans.diff_plans(base, head))
        if produced_by:  # one plain line under the marker: the comment stays found by it
            marker, _, rest = text.partition("\n")
            line = re.sub(r"[^A-Za-z0-9 .,;:/@()+-]", "", produced_by)[:200]  # no Markdown
            text = f"{marker}\n_{line}_\n\n{rest}"
        sys.stdout.write(text)
        return
    assert out is not None
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
    from aisb.stackfile import stack_files, stack_name, stack_values

    listed = []
    for path in stack_files(root):
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
    from aisb.fleet import InventoryError, load

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
    from aisb import fleet

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
    from aisb import fleet

    loaded = _inventory(inventory)
    if (shard is None) != (shards is None) or (shards and not 1 <= (shard or 0) <= shards):
        typer.echo("aisb fleet matrix: give --shard K with --shards N, 1 <= K <= N", err=True)
        raise typer.Exit(EXIT_ERROR)
    sys.stdout.write(fleet.matrix(loaded, shard, shards) + "\n")


@fleet_app.command("shards")
def fleet_shards(inventory: InventoryOption = Path("fleet.yaml")) -> None:
    """Print the deploy workflow's shards (JSON), each at most GitHub's 256 matrix jobs."""
    from aisb import fleet

    sys.stdout.write(fleet.shards(_inventory(inventory)) + "\n")


from aisb.cli.rotate import rotate as _rotate  # noqa: E402 - light: typer only

app.command(name="rotate")(_rotate)


def main() -> None:
    """The console script."""
    app()
