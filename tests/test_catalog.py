"""The catalog is the one source of truth: check it against AWS's facts and its consumers."""

import inspect

import pulumi_aws_native as aws_native

import aisb
from aisb.catalog import (
    AUDIT_CHECK_NAMES,
    AUDIT_CHECKS,
    CONTROLS,
    control_table_markdown,
    scheduled_audit_checks,
)
from aisb_tools.docs import render
from tests.harness import ROOT


def test_seventeen_distinct_checks() -> None:
    assert len(AUDIT_CHECKS) == 17
    assert len(AUDIT_CHECK_NAMES) == 17
    assert len({c.cfn_key for c in AUDIT_CHECKS}) == 17


def test_cfn_keys_are_exactly_the_account_audit_configuration_arguments() -> None:
    params = set(
        inspect.signature(
            aws_native.iot.AccountAuditConfigurationAuditCheckConfigurationsArgs.__init__
        ).parameters
    ) - {"__self__", "self"}
    assert {c.snake_key for c in AUDIT_CHECKS} == params


def test_capital_t_key_of_the_policy_misconfiguration_check() -> None:
    check = next(
        c for c in AUDIT_CHECKS if c.name == "IOT_POLICY_POTENTIAL_MIS_CONFIGURATION_CHECK"
    )
    assert check.cfn_key == "IoTPolicyPotentialMisConfigurationCheck"


def test_scheduled_audit_leaves_out_the_two_names_cloudformation_rejects() -> None:
    scheduled = scheduled_audit_checks(AUDIT_CHECK_NAMES)
    assert len(scheduled) == 15
    assert "INTERMEDIATE_CA_REVOKED_FOR_ACTIVE_DEVICE_CERTIFICATES_CHECK" not in scheduled
    assert "IOT_POLICY_POTENTIAL_MIS_CONFIGURATION_CHECK" not in scheduled
    assert scheduled_audit_checks({"LOGGING_DISABLED_CHECK", "FOO"}) == ["LOGGING_DISABLED_CHECK"]


def test_identity_and_least_privilege_checks_belong_to_controls_1_and_2() -> None:
    by_id = {c.id: c for c in CONTROLS}
    assert {"DEVICE_CERTIFICATE_SHARED_CHECK", "CONFLICTING_CLIENT_IDS_CHECK"} <= set(
        by_id[1].audit_checks
    )
    assert {"IOT_POLICY_OVERLY_PERMISSIVE_CHECK", "IOT_ROLE_ALIAS_OVERLY_PERMISSIVE_CHECK"} <= set(
        by_id[2].audit_checks
    )


def test_eleven_controls_and_their_components_exist() -> None:
    assert [c.id for c in CONTROLS] == list(range(1, 12))
    for control in CONTROLS:
        assert control.components
        for name in control.components:
            assert name in aisb.__all__, f"AISB #{control.id} names unknown {name}"
    assert [c.id for c in CONTROLS if c.optional] == [8, 9, 10, 11]


def test_readme_generated_sections_are_current() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "<!-- controls:start -->" in readme and "<!-- config:start -->" in readme
    assert render(readme) == readme, "README is stale: run `uv run python -m aisb_tools.docs`"
    assert control_table_markdown() in readme


def test_additions_beyond_aisb_are_in_the_table_as_what_they_are() -> None:
    from aisb.baseline import OPTIONS
    from aisb.catalog import BEYOND_AISB
    from aisb.options import camel

    table = control_table_markdown()
    assert [e.config_switch for e in BEYOND_AISB] == ["securityHub", "iotTlsPolicy"]
    for extra in BEYOND_AISB:
        assert f"| beyond AISB | [{extra.title}]" in table
        for name in extra.components:
            assert name in aisb.__all__
        # The default the table states is the baseline's.
        field = next(f for f in OPTIONS if camel(f) == extra.config_switch)
        default = OPTIONS[field].default
        assert extra.default == ("off" if default is False else str(default))
    # Not counted as AISB controls.
    assert all(c.id in range(1, 12) for c in CONTROLS)
