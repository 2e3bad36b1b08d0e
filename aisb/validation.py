"""Pure validators shared by stack settings and component arguments.

Each validator returns the normalised value or raises ``InvalidValue`` saying what is accepted.
``settings.py`` reports the failure against the ``aisb:`` config key, components against their
argument name, so a library user gets the same checks as a stack user.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aisb import choices
from aisb.catalog import AUDIT_CHECK_NAMES

LOG_LEVELS = choices.values(choices.LogLevel)
AUDIT_FREQUENCIES = choices.values(choices.AuditFrequency)
DAYS_OF_WEEK = choices.values(choices.DayOfWeek)
# The values CloudWatch Logs accepts for retentionInDays (0, "never expire", is left out on
# purpose: security logs get an explicit retention).
LOG_RETENTION_DAYS: tuple[int, ...] = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip
REPORT_FORMATS = choices.values(choices.ReportFormat)
OBJECT_LOCK_MODES = choices.values(choices.ObjectLockMode)
CERT_AGE_RANGE = (30, 3652)
CERT_SCAN_INTERVAL_RANGE = (1, 365)
CERT_EXPIRY_RANGE = (30, 3652)

# Deliberately simple: one "@", no spaces, a dotted domain. SNS sends a confirmation e-mail,
# which is the real test of an address.
_EMAIL = re.compile(r"[^@\s,;]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d+")


class InvalidValue(ValueError):
    """A value outside what is accepted; the message says what is."""

    def __init__(self, value: Any, expected: str, field: str | None = None) -> None:
        self.value = value
        self.expected = expected
        self.field = field
        super().__init__(f"got {value!r}; expected {expected}")


def one_of(value: Any, allowed: Iterable[str]) -> str:
    """An upper-case string from ``allowed``."""
    allowed = tuple(allowed)
    if not isinstance(value, str) or value not in allowed:
        raise InvalidValue(value, "one of " + ", ".join(allowed))
    return str(value)


def whole(value: Any) -> int | None:
    """``value`` as a whole number, or None. Numbers from other Pulumi languages arrive as
    floats, so an integral float counts; a boolean does not."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def int_in_range(value: Any, low: int, high: int) -> int:
    """A whole number from ``low`` to ``high``."""
    number = whole(value)
    if number is None or not low <= number <= high:
        raise InvalidValue(value, f"a whole number from {low} to {high}")
    return number


def matching(pattern: str, expected: str) -> Callable[[Any], str]:
    """A check for strings that match ``pattern`` whole."""
    compiled = re.compile(pattern)
    return lambda value: _matching(value, compiled, expected)


def _matching(value: Any, pattern: re.Pattern[str], expected: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidValue(value, expected)
    return value


def boolean(value: Any) -> bool:
    """true or false."""
    if not isinstance(value, bool):
        raise InvalidValue(value, "true or false")
    return value


@dataclass(frozen=True)
class Range:
    """A check for whole numbers from ``low`` to ``high`` (its bounds are visible, so tests
    probe every range at its edges)."""

    low: int
    high: int

    def __call__(self, value: Any) -> int:
        return int_in_range(value, self.low, self.high)


def in_range(low: int, high: int) -> Range:
    """A check for whole numbers from ``low`` to ``high``."""
    return Range(low, high)


def choice(allowed: Iterable[str]) -> Callable[[Any], str]:
    """A check for one of ``allowed``."""
    allowed = tuple(allowed)
    return lambda value: one_of(value, allowed)


def log_retention(value: Any) -> int:
    """A retention in days that CloudWatch Logs accepts."""
    if isinstance(value, bool) or value not in LOG_RETENTION_DAYS:
        raise InvalidValue(value, "one of " + ", ".join(map(str, LOG_RETENTION_DAYS)))
    return int(value)


def emails(value: Any, *, at_least_one: bool) -> tuple[str, ...]:
    """A list of distinct e-mail addresses."""
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise InvalidValue(value, "a list of e-mail addresses")
    if at_least_one and not value:
        raise InvalidValue(value, "at least one e-mail address")
    bad = [v for v in value if not _EMAIL.fullmatch(v)]
    if bad:
        raise InvalidValue(bad[0], "an e-mail address such as security@example.com")
    dupes = sorted({v.lower() for v in value if [w.lower() for w in value].count(v.lower()) > 1})
    if dupes:
        raise InvalidValue(dupes[0], "each address once")
    return tuple(value)


def audit_check_names(value: Any) -> frozenset[str]:
    """Distinct Device Defender audit check names."""
    if not isinstance(value, list | tuple | set | frozenset) or not all(
        isinstance(v, str) for v in value
    ):
        raise InvalidValue(value, "a list of audit check names")
    unknown = sorted(v for v in value if v not in AUDIT_CHECK_NAMES)
    if unknown:
        raise InvalidValue(
            unknown[0], "audit check names from " + ", ".join(sorted(AUDIT_CHECK_NAMES))
        )
    if len(set(value)) != len(value):
        raise InvalidValue(value, "each check name once")
    return frozenset(value)


def audit_schedule(
    frequency: Any, day_of_week: Any, day_of_month: Any
) -> tuple[str, str | None, str | None]:
    """(frequency, day_of_week, day_of_month) as ScheduledAudit accepts them.

    The ``InvalidValue`` raised names the offending part in ``.field``: ``frequency``,
    ``day_of_week`` or ``day_of_month``.
    """
    if not isinstance(frequency, str) or frequency not in AUDIT_FREQUENCIES:
        raise InvalidValue(frequency, "one of " + ", ".join(AUDIT_FREQUENCIES), field="frequency")
    frequency = str(frequency)
    day_of_week = str(day_of_week) if isinstance(day_of_week, str) else day_of_week
    weekly = frequency in ("WEEKLY", "BIWEEKLY")
    if weekly and day_of_week not in DAYS_OF_WEEK:
        raise InvalidValue(
            day_of_week,
            f"one of {', '.join(DAYS_OF_WEEK)} ({frequency} audits need a day of week)",
            field="day_of_week",
        )
    if not weekly and day_of_week is not None:
        raise InvalidValue(
            day_of_week,
            "no day of week: it is only used by WEEKLY and BIWEEKLY audits",
            "day_of_week",
        )
    if frequency == "MONTHLY":
        dom = None if day_of_month is None or isinstance(day_of_month, bool) else str(day_of_month)
        if dom is None or not (dom == "LAST" or re.fullmatch(r"[1-9]|[12][0-9]|3[01]", dom)):
            raise InvalidValue(day_of_month, "a day of month from 1 to 31, or LAST", "day_of_month")
        return frequency, None, dom
    if day_of_month is not None:
        raise InvalidValue(
            day_of_month, "no day of month: it is only used by MONTHLY audits", "day_of_month"
        )
    return frequency, (day_of_week if weekly else None), None


# What AWS accepts in tag keys and values: letters, digits and spaces in any language, and
# _ . : / = + - @ (https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html,
# the pattern ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$).
_TAG_PUNCTUATION = frozenset("_.:/=+-@")
TAG_CHARACTERS = "letters, digits, spaces and _ . : / = + - @"


def _tag_text(text: str) -> bool:
    return all(
        c in _TAG_PUNCTUATION
        or unicodedata.category(c)[0] in "LN"
        or unicodedata.category(c)[0] == "Z"
        for c in text
    )


def tags(value: Any) -> dict[str, str]:
    """AWS resource tags: keys of 1-128 and values of at most 256 characters AWS accepts
    (``TAG_CHARACTERS``), keys not starting with ``aws:``."""
    if not isinstance(value, Mapping):
        raise InvalidValue(value, "a map of tag names to string values")
    for k, v in value.items():
        if not isinstance(k, str) or not 1 <= len(k) <= 128 or k.lower().startswith("aws:"):
            raise InvalidValue(k, "tag names of 1 to 128 characters not starting with 'aws:'")
        if not _tag_text(k):
            raise InvalidValue(k, f"tag names made of {TAG_CHARACTERS}")
        if not isinstance(v, str) or len(v) > 256:
            raise InvalidValue({k: v}, "tag values that are strings of at most 256 characters")
        if not _tag_text(v):
            raise InvalidValue({k: v}, f"tag values made of {TAG_CHARACTERS}")
    if len(value) > 40:
        # 50 is AWS's limit; aisb keeps room for the tags it adds itself.
        raise InvalidValue(f"{len(value)} tags", "at most 40 tags")
    return dict(value)


def region(value: Any) -> str:
    """An AWS region name such as eu-west-1."""
    if not isinstance(value, str) or not _REGION.fullmatch(value):
        raise InvalidValue(value, "an AWS region name such as us-east-1")
    return value


def log_paths(value: Any) -> tuple[str, ...]:
    """Absolute paths of files on a device: 1 to 20, each once, without ``.`` or ``..`` (the
    device uploads each under its path: ``..`` would name one file twice or leave the
    allowed tree)."""
    if not isinstance(value, list | tuple) or not 1 <= len(value) <= 20:
        raise InvalidValue(value, "a list of 1 to 20 absolute file paths")
    for path in value:
        if not isinstance(path, str) or not path.startswith("/") or path.endswith("/"):
            raise InvalidValue(path, "absolute file paths such as /var/log/syslog")
        if any(part in ("", ".", "..") for part in path.split("/")[1:]):
            raise InvalidValue(path, "absolute file paths without ., .. or //")
    if len(set(value)) != len(value):
        raise InvalidValue(value, "each path once")
    return tuple(value)


def guardduty_detector_id(value: Any) -> str:
    """A GuardDuty detector id: 32 lower-case hexadecimal characters."""
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-f]{32}", value):
        raise InvalidValue(value, "a GuardDuty detector id: 32 lower-case hexadecimal characters")
    return value
