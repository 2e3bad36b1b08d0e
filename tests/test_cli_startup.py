"""``aisb --help`` starts without Pulumi (issue 18 (16)): the command imports Pulumi and its
providers only in the commands that need them, checked in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.harness import ROOT

HEAVY = (
    "pulumi",
    "pulumi_aws",
    "pulumi_aws_native",
    "pulumiverse_time",
    "boto3",
    "rich",
    "pathlib",
    "json",
    # What the commands do: declared in aisb_tools.cli, loaded only when one runs.
    "aisb_tools.cli.run",
    "aisb_tools.cli.rotation",
)


def _loaded_after(code: str) -> set[str]:
    loaded = f"','.join(m for m in {HEAVY!r} if m in sys.modules)"
    probe = f"import sys\n{code}\nprint('loaded:' + {loaded})"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("loaded:"), done.stdout
    return {m for m in last.removeprefix("loaded:").split(",") if m}


@pytest.mark.slow
def test_importing_the_command_loads_no_pulumi() -> None:
    assert _loaded_after("import aisb_tools.cli") == set()


@pytest.mark.slow
def test_help_and_an_argument_error_load_no_pulumi() -> None:
    for argv in (["aisb", "--help"], ["aisb", "preflight"], ["aisb", "drill", "--help"]):
        code = (
            f"sys.argv = {argv!r}\n"
            "import aisb_tools.cli\n"
            "try:\n"
            "    aisb_tools.cli.main()\n"
            "except SystemExit:\n"
            "    pass"
        )
        assert _loaded_after(code) == set(), argv


def test_the_library_still_exports_every_component_lazily() -> None:
    import aisb

    for name in aisb.__all__:
        assert getattr(aisb, name).__name__ == name
    assert set(aisb.__all__) <= set(dir(aisb))


def test_help_lists_the_commands_in_the_order_of_the_work() -> None:
    """Before, during and after a deploy, then the tools: not the alphabet."""
    from click.testing import CliRunner

    from aisb_tools.cli import app

    done = CliRunner().invoke(app, ["--help"])
    assert done.exit_code == 0
    listed = done.output.split("Commands:\n", 1)[1].strip().splitlines()
    names = [line.split()[0] for line in listed]
    assert names == ["preflight", "check", "drill", "plan", "stacks", "rotate", "fleet"]
    fleet = CliRunner().invoke(app, ["fleet", "--help"]).output.split("Commands:\n", 1)[1]
    assert [line.split()[0] for line in fleet.strip().splitlines()] == [
        "render",
        "matrix",
        "shards",
    ]
