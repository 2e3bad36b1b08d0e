"""The ``aisb`` command as a person runs it: its environment without AWS or Pulumi settings and
without a real Pulumi CLI, run either in a fresh interpreter (``python -m aisb_tools.cli``, for the
few end-to-end tests) or in the test's own process.

In the test's process it is the same ``click`` application the console script runs
(``aisb_tools.cli.main`` is ``app()``), with the same arguments, the same environment
(``os.environ`` is swapped for the call), stdout and stderr apart, and the exit code; an
exception that would have ended the interpreter with a traceback is shown on stderr the way
the interpreter shows it.
What only a fresh interpreter can show (what ``python -m aisb_tools.cli`` imports at start-up) is
tested in ``tests/test_cli_startup.py``, in a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path


def command_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment the command runs in: this one without ``AWS_*`` and ``PULUMI_*``, and
    ``PATH`` without any folder that holds a real Pulumi CLI, then ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PULUMI_"))}
    base["PATH"] = os.pathsep.join(
        p for p in os.environ.get("PATH", "").split(os.pathsep) if not (Path(p) / "pulumi").exists()
    )
    return {**base, **(env or {})}


def in_subprocess(
    args: Sequence[str], env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m aisb_tools.cli <args>`` in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "aisb_tools.cli", *args],
        env=command_env(env),
        capture_output=True,
        text=True,
        timeout=120,
    )


@contextmanager
def _environ(env: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _help_width(env: Mapping[str, str]) -> int:
    """The width click wraps help to in a fresh interpreter whose output is a pipe: its terminal
    size is $COLUMNS or, with none, 80 columns (``shutil.get_terminal_size``), less 2, at most 78
    (``click.formatting.HelpFormatter``). CliRunner would otherwise force 80."""
    try:
        columns = int(env.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    return max(min(columns if columns > 0 else 80, 80) - 2, 50)


def in_process(
    args: Sequence[str], env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``aisb <args>`` run in this process, answered as :func:`in_subprocess` answers."""
    from click.testing import CliRunner

    import aisb_tools.cli

    environ = command_env(env)
    with _environ(environ):
        result = CliRunner().invoke(
            aisb_tools.cli.app,
            list(args),
            prog_name="python -m aisb_tools.cli",
            terminal_width=_help_width(environ),
        )
    stderr = result.stderr
    code = result.exit_code
    error = result.exception
    if error is not None and not isinstance(error, SystemExit):
        # What the interpreter prints for an exception nothing caught, and its exit code.
        stderr += "".join(traceback.format_exception(error))
        code = 1
    return subprocess.CompletedProcess(
        ["aisb", *args], returncode=code, stdout=result.stdout, stderr=stderr
    )
