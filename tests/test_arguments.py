"""Arguments a component's ``Args`` do not declare stop it before anything is registered, as a
misspelled stack config key stops the program: a typo must never deploy the default."""

from __future__ import annotations

import inspect
import math
from typing import Any

import pulumi
import pytest

import aisb
from aisb.detect import METRICS_BY_NAME, Metric, RuleError, rule_behavior
from aisb.options import declared
from tests.harness import Recording, run

COMPONENTS = [
    obj
    for obj in (getattr(aisb, name) for name in aisb.__all__)
    if inspect.isclass(obj) and issubclass(obj, pulumi.ComponentResource)
]


def _args_type(component: type) -> type:
    hint = inspect.signature(component).parameters["args"].annotation
    assert isinstance(hint, type), component
    return hint


def _misspelled(names: frozenset[str]) -> tuple[str, str]:
    """A declared name with its last letter dropped, and that name."""
    name = sorted(names)[0]
    return name[:-1], name


def test_every_public_component_is_checked() -> None:
    assert len(COMPONENTS) == 15  # with the Security Hub, TLS and rotation components


@pytest.mark.parametrize("component", COMPONENTS, ids=lambda c: c.__name__)
def test_a_misspelled_argument_stops_the_component_naming_the_closest(component: type) -> None:
    names = declared(_args_type(component))
    typo, meant = _misspelled(names)
    recording = Recording()
    with pytest.raises(Exception, match=rf"unknown argument '{typo}'; did you mean '{meant}'\?"):
        run(lambda: component("x", {typo: 1}), recording=recording)
    # Nothing half-created: the component itself is not registered either.
    assert recording.resources == []


def test_the_issue_case_cert_max_age_day_on_the_baseline() -> None:
    recording = Recording()
    with pytest.raises(Exception) as caught:
        run(
            lambda: aisb.IotSecurityBaseline(
                "aisb",
                {"alert_emails": ["a@example.com"], "cert_max_age_day": 365},  # type: ignore[typeddict-unknown-key]
            ),
            recording=recording,
        )
    message = str(caught.value)
    assert "IotSecurityBaseline: unknown argument 'cert_max_age_day'" in message
    assert "did you mean 'cert_max_age_days'?" in message
    assert recording.resources == []


def test_an_argument_with_nothing_close_names_what_is_declared() -> None:
    with pytest.raises(Exception) as caught:
        run(lambda: aisb.AccessAnalyzer("x", {"zzzz": 1}))  # type: ignore[typeddict-unknown-key]
    message = str(caught.value)
    assert "unknown argument 'zzzz' (AccessAnalyzerArgs declares analyzer_name, tags)" in message
    assert "did you mean" not in message


def test_arguments_that_are_not_a_mapping_are_refused() -> None:
    with pytest.raises(Exception, match="arguments must be a mapping of names to values, got"):
        run(lambda: aisb.AccessAnalyzer("x", ["tags"]))  # type: ignore[arg-type]


def _behavior(metric: Metric, **rule: Any) -> dict[str, Any]:
    base = {"name": "r", "metric": metric.name, "operator": "greater-than"}
    return rule_behavior("rules[0]", {**base, **rule}, {metric.name: metric})


UNSIGNED_LONG_MAX = 2**63 - 1
"""botocore's iot model: ``MetricValue.count`` is shape ``UnsignedLong``, type ``long``
(64-bit signed) with ``min 0``."""


def test_the_count_bound_is_the_service_model_s() -> None:
    import botocore.session

    model = botocore.session.get_session().get_service_model("iot")
    count = model.shape_for("MetricValue").members["count"]
    assert (count.type_name, count.metadata.get("min")) == ("long", 0)


def test_a_count_beyond_a_64_bit_integer_is_refused_and_the_largest_accepted() -> None:
    sent = METRICS_BY_NAME["aws:num-messages-sent"]
    with pytest.raises(RuleError, match="a whole number from 0 to 9223372036854775807"):
        _behavior(sent, value=UNSIGNED_LONG_MAX + 1, durationSeconds=300)
    accepted = _behavior(sent, value=UNSIGNED_LONG_MAX, durationSeconds=300)
    assert accepted["criteria"]["value"] == {"count": str(UNSIGNED_LONG_MAX)}


@pytest.mark.parametrize("number", [math.inf, -math.inf, math.nan])
def test_a_number_that_is_not_finite_is_refused(number: float) -> None:
    battery = Metric("battery", "custom", "number", ml=False)
    with pytest.raises(RuleError, match="a finite number for battery"):
        _behavior(battery, value=number)
    numbers = Metric("levels", "custom", "numbers", ml=False)
    with pytest.raises(RuleError, match="a list of finite numbers"):
        _behavior(numbers, operator="in-set", numbers=[1.0, number])
