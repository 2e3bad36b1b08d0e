"""What the ``aisb`` commands report: one result per check, as a table or one JSON object."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

# What botocore raises when AWS (or an endpoint standing in for it) cannot answer a call.
AWS_ERRORS = (ClientError, BotoCoreError, ResponseParserError)

PASS, FAIL, UNKNOWN = "pass", "fail", "unknown"

# Exit codes: all clear, something to fix, the command could not run.
EXIT_CLEAR, EXIT_FIX, EXIT_ERROR = 0, 1, 2


@dataclass(frozen=True)
class Result:
    """One check's outcome."""

    id: str
    control: str | None
    """``AISB-<n>``, or None for a check that is not one control's."""
    status: str
    """pass, fail or unknown."""
    detail: str
    fix: str | None = None


@dataclass(frozen=True)
class Report:
    """A command's findings for one stack."""

    stack: str
    region: str
    results: tuple[Result, ...]

    @property
    def exit_code(self) -> int:
        return EXIT_FIX if any(r.status == FAIL for r in self.results) else EXIT_CLEAR

    def to_json(self) -> str:
        return json.dumps(
            {
                "stack": self.stack,
                "region": self.region,
                "results": [asdict(r) for r in self.results],
            },
            sort_keys=False,
        )


def aws_error(error: Exception) -> str:
    """What AWS (or botocore) said, in one line."""
    if isinstance(error, ClientError):
        err = error.response.get("Error", {})
        message = (str(err.get("Message", "")).splitlines() or [""])[0]
        return f"{err.get('Code', 'Error')}: {message}".strip()[:300]
    return f"{type(error).__name__}: {(str(error).splitlines() or [''])[0]}"[:300]


def guarded(
    check_id: str, control: str | None, check: Callable[[], Result | Sequence[Result]]
) -> list[Result]:
    """Run a check; an API that is unavailable or denied gives ``unknown`` with the reason,
    never a traceback."""
    try:
        outcome = check()
    except AWS_ERRORS as error:
        return [Result(check_id, control, UNKNOWN, f"could not tell: {aws_error(error)}")]
    return [outcome] if isinstance(outcome, Result) else list(outcome)


def render_table(report: Report, console: Any) -> None:
    """The report as a rich table."""
    from rich.table import Table

    table = Table(title=f"{report.stack} ({report.region})")
    for column in ("check", "control", "status", "detail", "fix"):
        table.add_column(column, overflow="fold")
    colours = {PASS: "green", FAIL: "red", UNKNOWN: "yellow"}
    for r in report.results:
        table.add_row(
            r.id,
            r.control or "",
            f"[{colours[r.status]}]{r.status}[/]",
            r.detail,
            r.fix or "",
        )
    console.print(table)
