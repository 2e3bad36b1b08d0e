"""The ``aisb`` command: checks of an AWS account around a deploy of the baseline.

``aisb preflight --stack <stack>`` reads the account and region a stack targets and reports
what would make ``pulumi up`` fail or a control not work, each with its fix. Exit codes of
``preflight``, ``check`` and ``drill``: 0 every check passed, 1 something to fix, 2 the command
could not run (no credentials, bad stack file), 3 nothing to fix but some checks could not
tell (``--allow-unknown`` turns 3 into 0). With ``--json`` it prints exactly one JSON object on
stdout. Requests go where botocore sends them (``AWS_ENDPOINT_URL`` included).

This module imports only click: boto3, rich, Pulumi and its providers are imported by the
commands that use them, so ``aisb --help`` and argument errors answer at once (within five times
a bare Python start: ``benchmarks/cli_startup.py``).
"""

from __future__ import annotations

try:
    import click
except ImportError:  # the library installed without the command's extra
    raise SystemExit(
        "aisb: the command needs its extra: pip install 'aisb[cli]' (or uv add 'aisb[cli]')"
    ) from None

EXIT_ERROR = 2
"""The command could not run (the same as ``aisb_tools.cli.results.EXIT_ERROR``)."""

CONTEXT = {"show_default": True}


class InOrder(click.Group):
    """A group whose help lists its commands in the order they are declared: the order of the
    work (preflight, check, drill, ...), not the alphabet."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


@click.group(
    name="aisb",
    cls=InOrder,
    context_settings=CONTEXT,
    help="Check an AWS account before and after deploying the AWS IoT Security Baseline.",
)
def app() -> None:
    """The ``aisb`` command group (``no_args_is_help``: a bare ``aisb`` prints the help)."""


_PATH = click.Path()
"""A path option: a string here, a :class:`pathlib.Path` in ``run`` (pathlib would cost the
start-up of ``aisb --help`` a tenth)."""
stack_option = click.option(
    "--stack", "stack", required=True, help="The stack: stacks/Pulumi.<stack>.yaml."
)
json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object on stdout."
)
root_option = click.option(
    "--project",
    "root",
    type=_PATH,
    default=".",
    help="The aisb project folder (with Pulumi.yaml).",
)
allow_unknown_option = click.option(
    "--allow-unknown",
    is_flag=True,
    help="Exit 0, not 3, when nothing is to fix but some checks could not tell.",
)


@app.command()
@stack_option
@json_option
@root_option
@allow_unknown_option
def preflight(stack: str, as_json: bool, root: str, allow_unknown: bool) -> None:
    """Before `pulumi up`: what in the account would make the deploy fail, with the fix."""
    from aisb_tools.cli import run

    run.preflight(stack, as_json, run.Path(root), allow_unknown)


@app.command()
@stack_option
@json_option
@root_option
@allow_unknown_option
def check(stack: str, as_json: bool, root: str, allow_unknown: bool) -> None:
    """After `pulumi up`: does each control of the deployed baseline work?"""
    from aisb_tools.cli import run

    run.check(stack, as_json, run.Path(root), allow_unknown)


@app.command()
@stack_option
@json_option
@root_option
@click.option(
    "--timeout",
    type=click.IntRange(min=1),
    default=600,
    help="Seconds to wait for every alert to arrive.",
)
@allow_unknown_option
def drill(stack: str, as_json: bool, root: str, timeout: int, allow_unknown: bool) -> None:
    """A fire drill: send a real alert down each path and confirm it reached the topic.
    It leaves e-mails to every subscriber, audit results and a report (see the README)."""
    from aisb_tools.cli import run

    run.drill(stack, as_json, run.Path(root), timeout, allow_unknown)


@app.command()
@click.option(
    "--out",
    type=_PATH,
    default=None,
    metavar="DIR",
    help="Write <DIR>/<stack>.json for each stack.",
)
@click.option(
    "--stack",
    "stacks",
    multiple=True,
    metavar="NAME",
    help="Only this stack (repeatable); default: every stack file.",
)
@click.option(
    "--compare",
    type=(_PATH, _PATH),
    default=None,
    metavar="BASE HEAD",
    help="Print, as Markdown, what changed from the plans in BASE to those in HEAD.",
)
@root_option
@click.option(
    "--produced-by",
    default="",
    show_default=False,
    help="With --compare: a line naming the code used.",
)
def plan(
    out: str | None,
    stacks: tuple[str, ...],
    compare: tuple[str, str] | None,
    root: str,
    produced_by: str,
) -> None:
    """Without credentials: render each stack under Pulumi's mock engine, or compare two
    renders. Shows what the code asks for, not a diff against what is deployed."""
    from aisb_tools.cli import run

    run.plan(
        None if out is None else run.Path(out),
        stacks,
        None if compare is None else (run.Path(compare[0]), run.Path(compare[1])),
        run.Path(root),
        produced_by,
    )


PREVIEW_ROLE_KEY = "aisb-ci:previewRoleArn"
"""A stack file's IAM role for the pull-request workflow's ``pulumi preview``."""


@app.command()
@json_option
@root_option
def stacks(as_json: bool, root: str) -> None:
    """List the stack files: name, region and preview role (the workflow's matrix)."""
    from aisb_tools.cli import run

    run.stacks(as_json, run.Path(root))


@app.command()
@click.option("--stack", required=True, help="The stack: stacks/Pulumi.<stack>.yaml.")
@click.option("--things", default=None, help="Comma-separated thing names.")
@click.option("--group", default=None, help="A thing group's name.")
@click.option("--due", is_flag=True, help="The things of certificates due for rotation.")
@click.option("--dry-run", is_flag=True, help="Print the jobs; create nothing.")
@root_option
def rotate(
    stack: str, things: str | None, group: str | None, due: bool, dry_run: bool, root: str
) -> None:
    """Start a certificate rotation job for things, a thing group or the due certificates."""
    from aisb_tools.cli import rotation as run

    run.rotate(stack, things, group, due, dry_run, run.Path(root))


@app.group(name="fleet", cls=InOrder)
def fleet_app() -> None:
    """Roll the baseline out to every account and region of an inventory (fleet.yaml)."""


inventory_option = click.option(
    "--inventory",
    type=_PATH,
    default="fleet.yaml",
    metavar="PATH",
    help="The inventory file.",
)


@fleet_app.command("render")
@inventory_option
@click.option(
    "--out", type=_PATH, default="stacks", metavar="DIR", help="Where the stack files go."
)
@click.option("--check", is_flag=True, help="Write nothing; exit 1 naming the files that differ.")
def fleet_render(inventory: str, out: str, check: bool) -> None:
    """Write Pulumi.<name>-<region>.yaml for every account and region of the inventory."""
    from aisb_tools.cli import run

    run.fleet_render(run.Path(inventory), run.Path(out), check)


@fleet_app.command("matrix")
@inventory_option
@click.option("--shard", type=int, default=None, metavar="K", help="Only shard K.")
@click.option("--shards", type=int, default=None, metavar="N", help="Of N.")
def fleet_matrix(inventory: str, shard: int | None, shards: int | None) -> None:
    """Print the deploy workflow's matrix (JSON): stack, region, account and role of each."""
    from aisb_tools.cli import run

    run.fleet_matrix(run.Path(inventory), shard, shards)


@fleet_app.command("shards")
@inventory_option
def fleet_shards(inventory: str) -> None:
    """Print the deploy workflow's shards (JSON), each at most GitHub's 256 matrix jobs."""
    from aisb_tools.cli import run

    run.fleet_shards(run.Path(inventory))


def main() -> None:
    """The console script."""
    app()
