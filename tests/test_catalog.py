"""The catalog is the one source of truth: check it against AWS's facts and its consumers."""

import inspect

import pulumi_aws_native as aws_native

import aisb
from aisb.catalog import (
    AUDIT_CHECK_NAMES,
    AUDIT_CHECKS,
    CONTROLS,
    scheduled_audit_checks,
)


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
