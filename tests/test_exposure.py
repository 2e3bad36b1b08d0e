"""The baseline declares once which child argument it exposes under which name; its options,
rules, docs and types for them are the child's, so they cannot drift apart."""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

import pytest

from aisb import baseline
from aisb.options import Exposure, Option, declared, field_docs

ROOT = Path(__file__).resolve().parent.parent


def _hints(typed_dict: type) -> dict[str, object]:
    # The component modules keep real annotations (no postponed evaluation): compare them as
    # they are; typing.get_type_hints cannot resolve pulumi.Input's forward references.
    return dict(typed_dict.__annotations__)


def test_each_exposed_argument_has_the_child_s_type() -> None:
    parent = _hints(baseline.IotSecurityBaselineArgs)
    for exposure in baseline.EXPOSURES:
        child = _hints(exposure.args)
        for name, exposed in exposure.names.items():
            assert parent[exposed] == child[name], (
                f"{exposed} is not {exposure.args.__name__}.{name}"
            )


def test_each_exposed_option_is_the_child_s_own() -> None:
    for exposure in baseline.EXPOSURES:
        for name, exposed in exposure.names.items():
            if name in exposure.checked_here:
                continue
            assert baseline.OPTIONS[exposed] is exposure.options[name], exposed


def test_an_argument_given_to_two_children_is_checked_by_the_first() -> None:
    assert baseline.OPTIONS["cert_max_age_days"] is baseline.AUDIT.options["cert_max_age_days"]
    assert baseline.OPTIONS["log_retention_days"] is baseline.LOGGING.options["retention_days"]


def test_no_exposed_argument_repeats_its_child_s_description() -> None:
    own = field_docs(baseline.IotSecurityBaselineArgs)
    for exposure in baseline.EXPOSURES:
        for exposed, doc in exposure.docs().items():
            assert own.get(exposed) != doc, f"{exposed}: say it once, in the child"


def test_every_argument_is_described() -> None:
    docs = baseline.arg_docs()
    assert set(docs) == declared(baseline.IotSecurityBaselineArgs)
    assert docs["audit_frequency"] == field_docs(baseline.AUDIT.args)["frequency"]
    # The baseline's own words win where it has them.
    assert docs["log_retention_days"].startswith("Retention of the log groups aisb creates")


def test_passed_arguments_are_under_the_child_s_names() -> None:
    values = {exposed: f"v-{exposed}" for exposed in baseline.AUDIT.names.values()}
    passed = baseline.AUDIT.passed(values)
    assert dict(passed) == {name: f"v-{exposed}" for name, exposed in baseline.AUDIT.names.items()}


class _ChildArgs(TypedDict, total=False):
    size: int
    """Its size."""


def test_an_exposure_of_an_argument_the_child_lacks_is_refused() -> None:
    with pytest.raises(TypeError, match="_ChildArgs declares no sise"):
        Exposure(_ChildArgs, {"size": Option(1)}, (), {"sise": "child_size"})


def test_the_baseline_needs_no_type_ignore() -> None:
    assert "type: ignore" not in (ROOT / "aisb" / "baseline.py").read_text()
