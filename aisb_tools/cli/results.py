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

# Exit codes: every check passed, something to fix, the command could not run, nothing to fix
# but some checks could not tell (``--allow-unknown`` turns that into 0).
EXIT_CLEAR, EXIT_FIX, EXIT_ERROR, EXIT_UNKNOWN = 0, 1, 2, 3
# A fix longer than this is printed whole below the table, where it can be copied.
SHORT_FIX = 40


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
        """0 every check passed, 1 something to fix, 3 nothing to fix but some checks could
        not tell."""
        statuses = {r.status for r in self.results}
        if FAIL in statuses:
            return EXIT_FIX
        if UNKNOWN in statuses or not self.results:
            return EXIT_UNKNOWN
        return EXIT_CLEAR

    def exit_code_for(self, allow_unknown: bool) -> int:
        """The exit code, with "could not tell" accepted as clear when ``allow_unknown``."""
        code = self.exit_code
        return EXIT_CLEAR if allow_unknown and code == EXIT_UNKNOWN else code

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
    """Run a check; an API that is unavailable or denied (or an answer it cannot read) gives
    ``unknown`` with the reason, never a traceback."""
    try:
        outcome = check()
    except AWS_ERRORS as error:
        return [Result(check_id, control, UNKNOWN, f"could not tell: {aws_error(error)}")]
    except (LookupError, TypeError, ValueError, AttributeError) as error:
        detail = f"could not tell: an answer aisb cannot read ({type(error).__name__}: {error})"
        return [Result(check_id, control, UNKNOWN, detail[:300])]
    return [outcome] if isinstance(outcome, Result) else list(outcome)


def render_table(report: Report, console: Any) -> None:
    """The report as a rich table; a fix too long for its column (a ``pulumi import``
    command, say) is printed whole below the table, on one line, to copy."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"{report.stack} ({report.region})")
    for column in ("check", "control", "status", "detail", "fix"):
        table.add_column(column, overflow="fold")
    colours = {PASS: "green", FAIL: "red", UNKNOWN: "yellow"}
    below: list[tuple[str, str]] = []
    for r in report.results:
        fix = r.fix or ""
        if len(fix) > SHORT_FIX:
            below.append((r.id, fix))
            fix = f"see fix {len(below)} below"
        table.add_row(
            escape(r.id),
            r.control or "",
            f"[{colours[r.status]}]{r.status}[/]",
            escape(r.detail),
            escape(fix),
        )
    console.print(table)
    for number, (check_id, fix) in enumerate(below, 1):
        console.print(f"fix {number} ({escape(check_id)}):", style="bold")
        console.print(escape(fix), soft_wrap=True, highlight=False)
