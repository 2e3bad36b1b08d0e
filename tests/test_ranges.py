"""Every numeric argument of every component, and every stack config key, probed at the edges
of its range: the bound itself passes, one past it fails."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import pytest

import aisb.components
from aisb import baseline
from aisb import validation as v
from aisb.options import Option


def _all_options() -> dict[str, Option]:
    found: dict[str, Option] = {}
    for module in pkgutil.iter_modules(aisb.components.__path__):
        mod = importlib.import_module(f"aisb.components.{module.name}")
        for attr in ("OPTIONS", "FLEET_OPTIONS"):
            for name, option in getattr(mod, attr, {}).items():
                found[f"{module.name}.{name}"] = option
    for name, option in baseline.OPTIONS.items():
        found[f"baseline.{name}"] = option
    return found


RANGES = {name: o.check for name, o in _all_options().items() if isinstance(o.check, v.Range)}


def test_the_ranges_are_found() -> None:
    # Every component declares its numbers as ranges; a new one must not escape this test.
    assert len(RANGES) >= 25
    assert RANGES["cert_rotation.scan_interval_days"] == v.Range(1, 365)
    assert RANGES["baseline.cert_max_age_days"] == v.Range(30, 3652)


@pytest.mark.parametrize("name", sorted(RANGES))
def test_each_range_at_its_edges(name: str) -> None:
    check: Any = RANGES[name]
    low, high = check.low, check.high
    assert check(low) == low and check(high) == high
    assert check(float(high)) == high  # other Pulumi languages send numbers as floats
    for bad in (low - 1, high + 1, True, low + 0.5, str(low)):
        with pytest.raises(v.InvalidValue, match=f"a whole number from {low} to {high}"):
            check(bad)


@pytest.mark.parametrize("name", sorted(RANGES))
def test_each_default_is_inside_its_range(name: str) -> None:
    default = _all_options()[name].default
    if default is not None:
        assert RANGES[name](default) == default


def test_log_retention_takes_exactly_what_cloudwatch_accepts() -> None:
    assert v.log_retention(1) == 1 and v.log_retention(3653) == 3653
    for bad in (0, 2, 3654, True):
        with pytest.raises(v.InvalidValue):
            v.log_retention(bad)
