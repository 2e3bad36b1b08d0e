"""What the ``aisb`` commands do, loaded when one runs (``aisb_tools.cli`` declares them:
``aisb --help`` and argument errors never compile or import this module)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from aisb_tools.cli import EXIT_ERROR, PREVIEW_ROLE_KEY

if TYPE_CHECKING:
    from aisb_tools.cli.results import Report


def leave(code: int) -> NoReturn:
    """End the command with exit code ``code`` (click's ``Exit``: no traceback, no message)."""
    raise click.exceptions.Exit(code)


def fail(message: str) -> NoReturn:
    """Print ``message`` on stderr and exit 2: the command could not run."""
    click.echo(message, err=True)
    leave(EXIT_ERROR)


def emit(report: Report, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(report.to_json() + "\n")
    else:
        from rich.console import Console

        from aisb_tools.cli.results import render_table

        render_table(report, Console())


def could_not_run(stack: str, region: str, detail: str, as_json: bool) -> click.exceptions.Exit:
    """Exit 2 with one line (or, with ``--json``, one result) saying why."""
    if as_json:
        run = {"id": "run", "control": None, "status": "fail", "detail": detail, "fix": None}
        sys.stdout.write(json.dumps({"stack": stack, "region": region, "results": [run]}) + "\n")
    else:
        click.echo(f"aisb: {detail}", err=True)
    return click.exceptions.Exit(EXIT_ERROR)


def yaml_slip(path: Path) -> str | None:
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


def project_problem(root: Path) -> str | None:
    """Why ``root`` is not an aisb project folder whose files can be read, in one line."""
    project = root / "Pulumi.yaml"
    if not project.is_file():
        return (
            f"no Pulumi.yaml in {root.resolve()}: run aisb in the aisb project folder, or give "
            "it with --project DIR"
        )
    slip = yaml_slip(project)
    if slip:
        return slip
    from aisb_tools.stackfile import stacks_dir

    folder = stacks_dir(root)
    if not folder.is_dir():
        return f"no stack folder {folder}: this project has no stacks (stacks/Pulumi.<stack>.yaml)"
    return None


def load(stack: str, root: Path, as_json: bool) -> tuple[Any, dict[str, str], list[Any]]:
    """The stack's settings and raw config, or exit 2 naming what is wrong with its file."""
    from aisb_tools.cli.results import UNKNOWN, Result
    from aisb_tools.stackfile import StackFileError, readable_config, stack_path

    problem = project_problem(root)
    if problem:
        raise could_not_run(stack, "", problem, as_json)
    try:
        path = stack_path(stack, root)
    except StackFileError as error:
        raise could_not_run(stack, "", str(error), as_json) from None
    slip = yaml_slip(path)
    if slip:
        raise could_not_run(stack, "", slip, as_json)
    try:
        config, secrets = readable_config(path, root, stack)
    except (StackFileError, AttributeError, TypeError) as error:
        # AttributeError/TypeError: YAML that parses but is not a mapping of config values.
        raise could_not_run(stack, "", f"{path}: {error}", as_json) from None
    from aisb.settings import ConfigError, parse

    notes = []
    for key in sorted(secrets):
        notes.append(Result(f"secret:{key}", None, UNKNOWN, f"{key} is encrypted: not checked"))
    try:
        settings = parse(config, secrets)
    except ConfigError as error:
        region = config.get("aws:region", "")
        raise could_not_run(
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


def connect(
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
        raise could_not_run(stack, settings.region, detail, as_json) from None
    return clients, identity


def preflight(stack: str, as_json: bool, root: Path, allow_unknown: bool) -> None:
    """``aisb preflight``."""
    from aisb_tools.cli import preflight_checks as checks
    from aisb_tools.cli.results import PASS, Report, Result

    settings, config, notes = load(stack, root, as_json)
    clients, identity = connect(stack, settings, config, checks.SERVICES, as_json)
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
        raise could_not_run(stack, settings.region, "interrupted", as_json) from None
    report = Report(stack, settings.region, tuple(results))
    emit(report, as_json)
    leave(report.exit_code_for(allow_unknown))


def check(stack: str, as_json: bool, root: Path, allow_unknown: bool) -> None:
    """``aisb check``."""
    from aisb_tools.cli import check_checks as checks
    from aisb_tools.cli.results import Report

    settings, config, notes = load(stack, root, as_json)
    clients, _ = connect(stack, settings, config, checks.SERVICES, as_json)
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
        raise could_not_run(stack, settings.region, "interrupted", as_json) from None
    report = Report(stack, settings.region, (*notes, *results))
    emit(report, as_json)
    leave(report.exit_code_for(allow_unknown))


def drill(stack: str, as_json: bool, root: Path, timeout: int, allow_unknown: bool) -> None:
    """``aisb drill``."""
    from aisb_tools.cli import drill_checks as drills
    from aisb_tools.cli.results import Report

    settings, config, notes = load(stack, root, as_json)
    clients, _ = connect(stack, settings, config, drills.SERVICES, as_json)
    try:
        results = drills.drill(clients, settings, timeout=timeout)
    except drills.Interrupted as stop:
        left = "; left behind: " + "; ".join(stop.left) if stop.left else "; nothing left behind"
        raise could_not_run(stack, settings.region, f"drill interrupted{left}", as_json) from None
    report = Report(stack, settings.region, (*notes, *results))
    emit(report, as_json)
    leave(report.exit_code_for(allow_unknown))


def plan(
    out: Path | None,
    stacks: tuple[str, ...],
    compare: tuple[Path, Path] | None,
    root: Path,
    produced_by: str,
) -> None:
    """``aisb plan``."""
    if (out is None) == (compare is None):
        fail("aisb plan: give exactly one of --out DIR or --compare BASE HEAD")
    if compare is not None:
        if stacks:
            fail("aisb plan: --stack goes with --out, not --compare")
        base, head = compare
        if not head.is_dir():
            fail(f"aisb plan: {head} is not a folder of plans")
        from aisb_tools import plan as plans

        text = plans.markdown(plans.diff_plans(base, head))
        if produced_by:  # one plain line under the marker: the comment stays found by it
            marker, _, rest = text.partition("\n")
            line = re.sub(r"[^A-Za-z0-9 .,;:/@()+-]", "", produced_by)[:200]  # no Markdown
            text = f"{marker}\n_{line}_\n\n{rest}"
        sys.stdout.write(text)
        return
    assert out is not None
    problem = project_problem(root)
    if problem:
        fail(f"aisb plan: {problem}")
    from aisb_tools import plan as plans
    from aisb_tools.stackfile import stack_files

    files = stack_files(root)
    if not stacks and not files:
        fail(f"aisb plan: no stack files (Pulumi.<stack>.yaml) in {root}")
    for path in files:
        slip = yaml_slip(path)
        if slip:
            fail(f"aisb plan: {slip}")
    try:
        written = plans.write(out, root, stacks or ())
    except plans.PlanError as error:
        fail(f"aisb plan: {error}")
    for path in written:
        click.echo(f"wrote {path}", err=True)


_ROLE_ARN = re.compile(r"arn:aws(-cn|-us-gov)?:iam::\d{12}:role/[\w+=,.@/-]{1,512}")


def stacks(as_json: bool, root: Path) -> None:
    """``aisb stacks``."""
    problem = project_problem(root)
    if problem:
        fail(f"aisb stacks: {problem}")
    from aisb_tools.stackfile import stack_files, stack_name, stack_values, stacks_dir

    files = stack_files(root)
    if not files:
        fail(f"aisb stacks: no stack files (Pulumi.<stack>.yaml) in {stacks_dir(root)}")
    listed = []
    for path in files:
        slip = yaml_slip(path)
        if slip:
            fail(f"aisb stacks: {slip}")
        values = stack_values(path, root)
        role = values.get(PREVIEW_ROLE_KEY, "")
        if role and not (isinstance(role, str) and _ROLE_ARN.fullmatch(role)):
            fail(
                f"aisb stacks: {path}: {PREVIEW_ROLE_KEY}: got {role!r}; expected an IAM role "
                "ARN (arn:aws:iam::123456789012:role/name)"
            )
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
        click.echo("\t".join(entry.values()))


def _inventory(path: Path) -> Any:
    from aisb_tools.fleet import InventoryError, load

    try:
        return load(path)
    except InventoryError as error:
        fail(f"aisb fleet: {error}")


def fleet_render(inventory: Path, out: Path, check: bool) -> None:
    """``aisb fleet render``."""
    from aisb_tools import fleet

    rendered = fleet.render(_inventory(inventory), inventory.name)
    if check:
        stale = fleet.differences(rendered, out)
        for line in stale:
            click.echo(line, err=True)
        if stale:
            click.echo(f"aisb fleet: run `aisb fleet render --inventory {inventory}`", err=True)
            leave(1)
        click.echo(f"{len(rendered)} stack files match {inventory}", err=True)
        return
    for path in fleet.write(rendered, out):
        click.echo(f"wrote {path}", err=True)


def fleet_matrix(inventory: Path, shard: int | None, shards: int | None) -> None:
    """``aisb fleet matrix``."""
    from aisb_tools import fleet

    loaded = _inventory(inventory)
    if (shard is None) != (shards is None) or (shards and not 1 <= (shard or 0) <= shards):
        fail("aisb fleet matrix: give --shard K with --shards N, 1 <= K <= N")
    sys.stdout.write(fleet.matrix(loaded, shard, shards) + "\n")


def fleet_shards(inventory: Path) -> None:
    """``aisb fleet shards``."""
    from aisb_tools import fleet

    sys.stdout.write(fleet.shards(_inventory(inventory)) + "\n")
