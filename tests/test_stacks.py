"""Every stack file in stacks/, run through the real program as `pulumi up` would run it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aisb.catalog import AUDIT_CHECKS, CONTROLS, scheduled_audit_checks
from aisb.settings import parse
from tests.harness import (
    CliConfigError,
    Recording,
    cfn_lint_errors,
    parliament_findings,
    policy_documents,
    run_main,
    stack_config,
    stack_files,
    stack_name,
)

STACKS = [stack_name(p) for p in stack_files()]
CONFIGS = {stack_name(p): stack_config(p) for p in stack_files()}

IDENTITY = {n for c in CONTROLS if c.id == 1 for n in c.audit_checks}
LEAST_PRIVILEGE = {n for c in CONTROLS if c.id == 2 for n in c.audit_checks}
CFN_KEYS = {c.name: c.cfn_key[0].lower() + c.cfn_key[1:] for c in AUDIT_CHECKS}


def test_the_cli_checks_are_emulated(tmp_path: Path) -> None:
    minimal = tmp_path / "Pulumi.minimal.yaml"
    minimal.write_text(
        "config:\n  aws:region: eu-west-1\n  aws-native:region: eu-west-1\n"
        "  aisb:alertEmails: [a@example.com]\n"
    )
    config = stack_config(minimal)  # every optional key has a default
    assert config["aisb:auditDayOfWeek"] == ""
    assert parse(config).audit_day_of_week is None
    minimal.write_text("config:\n  aws:region: eu-west-1\n")
    with pytest.raises(CliConfigError, match="missing configuration value 'alertEmails'"):
        stack_config(minimal)
    minimal.write_text("config:\n  aisb:alertEmails: [a@example.com]\n  aisb:certMaxAgeDays: ten\n")
    with pytest.raises(CliConfigError, match="'certMaxAgeDays' must be of type 'integer'"):
        stack_config(minimal)


def test_a_project_file_is_parsed_once_per_content_and_each_caller_gets_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    from aisb_tools import stackfile

    parsed: list[str] = []
    real = yaml.safe_load

    def counted(text: str) -> Any:
        parsed.append(text)
        return real(text)

    monkeypatch.setattr(yaml, "safe_load", counted)
    project = tmp_path / "Pulumi.yaml"
    project.write_text(f"name: aisb\nruntime: python\ndescription: {tmp_path.name}\n")
    first = stackfile.project_file(tmp_path)
    first["name"] = "changed by a caller"
    assert stackfile.project_file(tmp_path)["name"] == "aisb"
    assert len(parsed) == 1
    # A changed file is read anew, and one that does not parse fails every time.
    project.write_text(f"name: other\nruntime: python\ndescription: {tmp_path.name}\n")
    assert stackfile.project_file(tmp_path)["name"] == "other"
    assert len(parsed) == 2
    project.write_text(f"name: [{tmp_path.name}\n")
    for _ in range(2):
        with pytest.raises(yaml.YAMLError):
            stackfile.project_file(tmp_path)


@pytest.mark.parametrize(
    ("line", "key", "kind"),
    [
        ("aisb:tags: owner=iot", "tags", "object"),
        ("aisb:tags: [owner, iot]", "tags", "object"),
        ("aisb:detectRules: {name: r}", "detectRules", "array"),
        ("aisb:detectRules: [known-networks-only]", "detectRules", "array"),
        ("aisb:customMetrics: [[battery]]", "customMetrics", "array"),
    ],
)
def test_maps_and_lists_of_maps_of_another_shape_are_refused_like_the_cli(
    tmp_path: Path, line: str, key: str, kind: str
) -> None:
    # Pulumi.yaml declares them with the `object` config type (CLI 3.187.0 on).
    stack = tmp_path / "Pulumi.shape.yaml"
    stack.write_text(f"config:\n  aisb:alertEmails: [a@example.com]\n  {line}\n")
    with pytest.raises(CliConfigError, match=f"'{key}' must be of type '{kind}'"):
        stack_config(stack)
    stack.write_text(
        "config:\n  aisb:alertEmails: [a@example.com]\n  aisb:tags: {owner: iot}\n"
        "  aisb:detectRules: [{name: r}]\n"
    )
    config = stack_config(stack)
    assert json.loads(config["aisb:tags"]) == {"owner": "iot"}
    assert json.loads(config["aisb:detectRules"]) == [{"name": "r"}]


def test_at_least_three_stacks_in_three_regions() -> None:
    regions = {CONFIGS[s]["aws:region"] for s in STACKS}
    assert len(STACKS) >= 3 and len(regions) >= 3
    # Stacks differ in what they switch, not only in region.
    assert len(
        {
            json.dumps(sorted((k, v) for k, v in c.items() if k.startswith("aisb:")))
            for c in CONFIGS.values()
        }
    ) == len(STACKS)


@pytest.mark.parametrize("stack", STACKS)
def test_stack_registers_the_core_controls(
    stack: str, stack_recordings: dict[str, Recording]
) -> None:
    rec = stack_recordings[stack]
    settings = parse(CONFIGS[stack])

    options = rec.one("aws:iot/loggingOptions:LoggingOptions")
    assert options.inputs["defaultLogLevel"] == settings.iot_log_level
    assert (
        rec.by_name("aisb-logging-log-group").inputs["retentionInDays"]
        == settings.log_retention_days
    )

    config = rec.one("aws-native:iot:AccountAuditConfiguration")
    checks = config.inputs["auditCheckConfigurations"]
    for name in (IDENTITY | LEAST_PRIVILEGE) - settings.audit_checks_disabled:
        assert checks[CFN_KEYS[name]]["enabled"] is True, name
    for name in settings.audit_checks_disabled:
        assert checks[CFN_KEYS[name]]["enabled"] is False, name
    assert {
        "DEVICE_CERTIFICATE_SHARED_CHECK",
        "CONFLICTING_CLIENT_IDS_CHECK",
        "IOT_POLICY_OVERLY_PERMISSIVE_CHECK",
    } <= {n for n in CFN_KEYS if checks[CFN_KEYS[n]]["enabled"]}
    assert checks["deviceCertificateAgeCheck"]["configuration"]["certAgeThresholdInDays"] == str(
        settings.cert_max_age_days
    )
    sns = config.inputs["auditNotificationTargetConfigurations"]["sns"]
    topic = rec.one("aws:sns/topic:Topic")
    assert sns["enabled"] is True and sns["targetArn"] == topic.state["arn"]

    schedule = rec.one("aws-native:iot:ScheduledAudit")
    enabled = {c.name for c in AUDIT_CHECKS} - settings.audit_checks_disabled
    assert sorted(schedule.inputs["targetCheckNames"]) == scheduled_audit_checks(enabled)
    assert schedule.inputs["frequency"] == settings.audit_frequency
    assert config.urn in schedule.dependencies

    key = rec.by_urn(
        next(
            r.urn
            for r in rec.of_type("aws:kms/key:Key")
            if r.state["arn"] == topic.inputs["kmsMasterKeyId"]
        )
    )
    assert key.inputs["enableKeyRotation"] is True
    subs = rec.of_type("aws:sns/topicSubscription:TopicSubscription")
    assert sorted(s.inputs["endpoint"] for s in subs) == sorted(settings.alert_emails)
    assert all(s.inputs["protocol"] == "email" for s in subs)

    analyzers = rec.of_type("aws:accessanalyzer/analyzer:Analyzer")
    assert len(analyzers) == (1 if settings.access_analyzer else 0)


@pytest.mark.xdist_group("cfn-lint")
@pytest.mark.parametrize("stack", STACKS)
def test_stack_cfn_lint_clean(stack: str, stack_recordings: dict[str, Recording]) -> None:
    assert cfn_lint_errors(stack_recordings[stack]) == []


@pytest.mark.parametrize("stack", STACKS)
def test_stack_policies_parliament_clean(
    stack: str, stack_recordings: dict[str, Recording]
) -> None:
    docs = policy_documents(stack_recordings[stack])
    assert len(docs) >= 8  # 2 keys, topic policy, 3 trust policies, 2 role policies
    assert [f for d in docs for f in parliament_findings(d)] == []


@pytest.mark.parametrize("stack", STACKS)
def test_stack_resources_are_children_of_the_baseline_and_tagged(
    stack: str, stack_recordings: dict[str, Recording]
) -> None:
    rec = stack_recordings[stack]
    settings = parse(CONFIGS[stack])
    urns = {r.urn for r in rec.resources}
    baseline = rec.one("aisb:index:IotSecurityBaseline")
    by_urn = {r.urn: r for r in rec.resources}
    for r in rec.resources:
        if r is baseline:
            continue
        assert r.parent in urns, f"{r.name} is not inside the baseline"
        assert r.name.startswith("aisb-"), r.name
        # Parented to the component that named it (parent=self), not to a grandparent.
        parent = by_urn[r.parent]
        assert r.name.startswith(parent.name + "-"), f"{r.name} under {parent.name}"
        if parent is not baseline:
            assert parent.type.startswith("aisb:index:"), parent.type
        if "tags" in r.inputs and isinstance(r.inputs["tags"], dict):
            assert settings.tags.items() <= r.inputs["tags"].items(), r.name
            assert r.inputs["tags"]["aisb:control"].startswith("AISB-")
    # One lookup each of account, region and partition (and the credential endpoint for
    # device logs, the data endpoint for its TLS policy).
    assert sorted(t for t, _, _ in rec.calls) == sorted(
        [
            "aws:index/getCallerIdentity:getCallerIdentity",
            "aws:index/getPartition:getPartition",
            "aws:index/getRegion:getRegion",
        ]
        + (["aws:iot/getEndpoint:getEndpoint"] if settings.device_logs else [])
        + (["aws:iot/getEndpoint:getEndpoint"] if settings.iot_tls_policy != "unmanaged" else [])
    )
    endpoints = sorted(a["endpointType"] for t, a, _ in rec.calls if t.endswith("getEndpoint"))
    assert endpoints == sorted(
        (["iot:CredentialProvider"] if settings.device_logs else [])
        + (["iot:Data-ATS"] if settings.iot_tls_policy != "unmanaged" else [])
    )


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize(
    ("partition", "region"), [("aws-us-gov", "us-gov-west-1"), ("aws-cn", "cn-north-1")]
)
def test_no_input_holds_a_literal_aws_partition(stack: str, partition: str, region: str) -> None:
    # Every stack, with every optional control switched on as well.
    config = {
        **CONFIGS[stack],
        "aws:region": region,
        "aws-native:region": region,
        "aisb:cloudTrail": "true",
        "aisb:guardDuty": "true",
        "aisb:deviceLogs": "true",
        "aisb:certReportBucket": "true",
    }
    rec = run_main(config, region=region, partition=partition)
    assert rec.custom()
    for r in rec.resources:
        text = json.dumps(r.inputs, default=repr)
        assert "arn:aws:" not in text, f"{r.name} has a literal arn:aws: {text}"
    assert any(f"arn:{partition}:" in json.dumps(r.inputs, default=repr) for r in rec.resources)


@pytest.mark.xdist_group("cfn-lint")
def test_the_validators_catch_what_they_are_for(stack_recordings: dict[str, Recording]) -> None:
    import copy

    rec = copy.deepcopy(stack_recordings[STACKS[0]])
    schedule = next(r for r in rec.resources if r.type == "aws-native:iot:ScheduledAudit")
    schedule.inputs["frequency"] = "HOURLY"
    assert any("HOURLY" in e for e in cfn_lint_errors(rec))

    from tests.harness import PolicyDocument

    role = next(r for r in rec.resources if r.type == "aws:iam/rolePolicy:RolePolicy")
    wide = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
    }
    assert parliament_findings(PolicyDocument(role, "policy", wide))


@pytest.mark.parametrize("stack", STACKS)
def test_every_role_is_bound_to_its_service_and_account(
    stack: str, stack_recordings: dict[str, Recording]
) -> None:
    rec = stack_recordings[stack]
    region = CONFIGS[stack]["aws:region"]
    roles = rec.of_type("aws:iam/role:Role")
    assert roles
    for role in roles:
        (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
        service = statement["Principal"]["Service"]
        if service == "credentials.iot.amazonaws.com":
            # The documented trust policy of the credentials provider has no condition.
            assert "Condition" not in statement, role.name
            continue
        assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": rec.account}
        # Device Defender names itself as aws:SourceArn for audits, alerts and mitigations.
        if service == "iot.amazonaws.com" and "-logging-" not in role.name:
            assert statement["Condition"]["ArnLike"] == {
                "aws:SourceArn": f"arn:aws:iot:{region}:{rec.account}:*"
            }, role.name


def test_the_import_commands_of_the_docs_name_what_the_program_declares(
    stack_recordings: dict[str, Recording],
) -> None:
    import re

    from tests.harness import ROOT

    readme = (ROOT / "docs" / "real-account.md").read_text()
    commands = re.findall(
        r"pulumi import (\S+) (\S+) (\S+) \\\n"
        r"\s+--parent '\w+=urn:pulumi:<stack>::aisb::(\S+)::(\S+)'",
        readme,
    )
    assert len(commands) == 2
    rec = stack_recordings["prod-us-east-1"]
    for type_token, name, _id, parent_types, parent_name in commands:
        resource = rec.by_name(name)
        assert resource.type == type_token
        # The parent named is the component the program creates the resource under.
        parent = rec.by_urn(resource.parent)
        assert parent.name == parent_name
        assert parent.urn.endswith(f"::{parent_types}::{parent_name}")
