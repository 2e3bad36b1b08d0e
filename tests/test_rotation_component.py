"""``CertificateRotation`` under the mock engine: what it registers, its policies (parliament,
IoT policy rules), its CloudFormation-shaped resources (cfn-lint), and the baseline switches
``aisb:certRotationJobs`` and ``aisb:certRotationJobsAutomatic``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from aisb.components import rotation
from aisb.functions.cert_rotator.protocol import JOB_PREFIX, TOPIC_PREFIX
from aisb.settings import ConfigError, parse
from tests.harness import (
    MINIMAL_CONFIG,
    Recording,
    cfn_lint_errors,
    iot_policy_findings,
    parliament_findings,
    policy_documents,
    run_main,
)

ON = {**MINIMAL_CONFIG, "aisb:certRotationJobs": "true"}


@pytest.fixture(scope="module")
def rec() -> Recording:
    return run_main({**ON, "aisb:certRotationJobsAutomatic": "true"})


def _policy(rec: Recording, name: str) -> dict[str, Any]:
    return json.loads(rec.by_name(name).inputs["policy"])


def test_off_by_default() -> None:
    rec = run_main(MINIMAL_CONFIG)
    assert rec.of_type("aws-native:iot:JobTemplate") == []
    assert rec.of_type("aws:iot/topicRule:TopicRule") == []
    env = rec.by_name("aisb-cert-rotation-function").inputs["environment"]["variables"]
    assert env["ROTATION_JOB_TEMPLATE_ARN"] == ""


def test_the_job_template_carries_the_configured_rollout_abort_and_timeout() -> None:
    rec = run_main(
        {
            **ON,
            "aisb:certRotationKeyAlgorithm": "RSA-2048",
            "aisb:certRotationTimeoutMinutes": "30",
            "aisb:certRotationMaxPerMinute": "50",
        }
    )
    template = rec.one("aws-native:iot:JobTemplate")
    assert template.delete_before_replace  # every property is create-only, the id fixed
    assert template.inputs["jobTemplateId"] == "aisb-rotation-rotate"
    assert json.loads(template.inputs["document"]) == rotation.job_document("RSA-2048")
    assert template.inputs["timeoutConfig"] == {"inProgressTimeoutInMinutes": 30}
    rollout = template.inputs["jobExecutionsRolloutConfig"]
    assert rollout["maximumPerMinute"] == 50
    assert rollout["exponentialRolloutRate"]["baseRatePerMinute"] == 10
    (criteria,) = template.inputs["abortConfig"]["criteriaList"]
    assert (criteria["action"], criteria["failureType"], criteria["thresholdPercentage"]) == (
        "CANCEL",
        "ALL",
        10,
    )


def test_rules_route_the_prefix_and_the_rotation_jobs_events_to_their_functions(
    rec: Recording,
) -> None:
    rules = {r.name: r.inputs for r in rec.of_type("aws:iot/topicRule:TopicRule")}
    # CreateTopicRule's ruleName pattern (botocore's iot model): ^[a-zA-Z0-9_]+$
    assert sorted(r["name"] for r in rules.values()) == [
        "aisb_rotation_commit",
        "aisb_rotation_create",
        "aisb_rotation_events",
    ]
    assert rules["aisb-rotation-create-rule"]["sql"] == (
        "SELECT jobId, csr, topic(3) AS thingName, principal() AS principal, "
        f"clientid() AS clientId FROM '{TOPIC_PREFIX}/+/create'"
    )
    assert "FROM 'aisb/rotation/+/commit'" in rules["aisb-rotation-commit-rule"]["sql"]
    assert f"startswith(jobId, '{JOB_PREFIX}')" in rules["aisb-rotation-events-rule"]["sql"]
    handlers = {
        f.name: f.inputs["handler"]
        for f in rec.of_type("aws:lambda/function:Function")
        if f.name.startswith("aisb-rotation-")
    }
    assert handlers == {
        "aisb-rotation-create-function": "handler.create",
        "aisb-rotation-commit-function": "handler.commit",
        "aisb-rotation-events-function": "handler.job_event",
        "aisb-rotation-sweep-function": "handler.sweep",
    }
    for f in rec.of_type("aws:lambda/function:Function"):
        assert (f.inputs["runtime"], f.inputs["architectures"]) == ("python3.13", ["arm64"])
    permissions = [
        p.inputs for p in rec.of_type("aws:lambda/permission:Permission") if "rotation-" in p.name
    ]
    iot = [p for p in permissions if p["principal"] == "iot.amazonaws.com"]
    assert len(iot) == 3 and all(p["sourceArn"] and p["sourceAccount"] for p in iot)
    events = rec.one("aws:iot/eventConfigurations:EventConfigurations")
    assert events.inputs["eventConfigurations"] == {"JOB_EXECUTION": True}
    # The provider reads back every event type: without this, each later preview shows an
    # update of the map it read to the one key the program gives.
    assert events.ignore_changes == ["eventConfigurations"]


def test_a_message_a_rule_fails_to_deliver_goes_to_the_dead_letter_queue(rec: Recording) -> None:
    """The rules engine does not retry a failed action; each rule's error action puts the
    message in the rotation's dead-letter queue (whose alarm tells the topic), as a role only
    AWS IoT of this account may assume, allowed to send to that queue and nothing else."""
    dlq = rec.by_name("aisb-rotation-dlq")
    role = rec.by_name("aisb-rotation-rule-errors-role")
    for rule in rec.of_type("aws:iot/topicRule:TopicRule"):
        sqs = rule.inputs["errorAction"]["sqs"]
        assert sqs["queueUrl"] == dlq.state["url"], rule.name
        assert sqs["roleArn"] == role.state["arn"], rule.name
        assert sqs["useBase64"] is False
        assert role.urn in rule.property_dependencies["errorAction"]
        assert rec.by_name("aisb-rotation-rule-errors-role-policy").urn in rule.dependencies
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "iot.amazonaws.com"}]
    assert trust[0]["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "123456789012"},
        # Only the component's own rules (aisb_rotation_create, _commit, _events).
        "ArnLike": {"aws:SourceArn": "arn:aws:iot:us-east-1:123456789012:rule/aisb_rotation_*"},
    }
    # Bounded as the functions' roles are (the deploy-role test renders with a boundary).
    create_role = rec.by_name("aisb-rotation-create-role")
    assert role.inputs.get("permissionsBoundary") == create_role.inputs.get("permissionsBoundary")
    grants = _policy(rec, "aisb-rotation-rule-errors-role-policy")["Statement"]
    assert [(g["Action"], g["Resource"]) for g in grants] == [("sqs:SendMessage", dlq.state["arn"])]
    alarm = rec.by_name("aisb-rotation-dlq-alarm").inputs
    assert alarm["dimensions"] == {"QueueName": dlq.state["name"]}


def test_each_function_gets_exactly_its_own_grants(rec: Recording) -> None:
    create = _policy(rec, "aisb-rotation-create-role-policy")
    commit = _policy(rec, "aisb-rotation-commit-role-policy")
    actions = {
        name: {
            a
            for s in doc["Statement"]
            for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        }
        for name, doc in (("create", create), ("commit", commit))
    }
    assert "iot:CreateCertificateFromCsr" in actions["create"]
    assert "iot:CreateCertificateFromCsr" not in actions["commit"]
    assert "iot:DeleteCertificate" not in actions["commit"]
    assert "sns:Publish" not in actions["create"]
    text = json.dumps([create, commit])
    assert "arn:aws:" in text and "iot:*" not in text
    replies = next(s for s in commit["Statement"] if s["Sid"] == "ReplyToDevices")
    assert all(r.endswith(("/commit/accepted", "/commit/rejected")) for r in replies["Resource"])


def test_every_policy_passes_parliament_and_the_iot_policy_rules(rec: Recording) -> None:
    documents = policy_documents(rec)
    assert any(d.resource.name == "aisb-rotation-device-policy" for d in documents)
    findings = [f for d in documents for f in parliament_findings(d)]
    assert findings == []
    device = next(d for d in documents if d.resource.name == "aisb-rotation-device-policy")
    assert iot_policy_findings(device) == []
    text = json.dumps(device.document)
    assert "aisb/rotation/${iot:Connection.Thing.ThingName}/create" in text
    assert "client/${iot:Connection.Thing.ThingName}" in text


def test_the_aws_native_resources_pass_cfn_lint(rec: Recording) -> None:
    assert cfn_lint_errors(rec) == []


def test_automatic_rotation_hands_the_monitor_the_template(rec: Recording) -> None:
    env = rec.by_name("aisb-cert-rotation-function").inputs["environment"]["variables"]
    assert env["ROTATION_JOB_TEMPLATE_ARN"].endswith(":jobtemplate/aisb-rotation-rotate")
    monitor = _policy(rec, "aisb-cert-rotation-role-policy")
    start = next(s for s in monitor["Statement"] if s["Sid"] == "StartRotationJobs")
    assert start["Action"] == "iot:CreateJob"
    assert f"arn:aws:iot:us-east-1:123456789012:job/{JOB_PREFIX}*" in start["Resource"]


def test_automatic_rotation_needs_the_jobs_and_the_monitor() -> None:
    with pytest.raises(ConfigError, match="certRotationJobsAutomatic"):
        parse({**MINIMAL_CONFIG, "aisb:certRotationJobsAutomatic": "true"})
    with pytest.raises(ConfigError, match="certRotationJobsAutomatic"):
        parse({**ON, "aisb:certRotationJobsAutomatic": "true", "aisb:certRotation": "false"})


def test_a_second_run_registers_the_same_resources(rec: Recording) -> None:
    again = run_main({**ON, "aisb:certRotationJobsAutomatic": "true"})
    assert sorted(r.urn for r in again.resources) == sorted(r.urn for r in rec.resources)
    assert [r.id for r in again.of_type("aws-native:iot:JobTemplate")] == ["aisb-rotation-rotate"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"key_algorithm": "ED25519"}, "key_algorithm"),
        ({"grace_days": 400}, "grace_days"),
        ({"rollout_increment_factor": 9}, "rollout_increment_factor"),
        ({"in_progress_timeout_minutes": 0}, "in_progress_timeout_minutes"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_created(
    args: dict[str, Any], message: str
) -> None:
    from aisb.options import resolve

    with pytest.raises(ValueError, match=message):
        resolve(
            "CertificateRotation",
            rotation.OPTIONS,
            (),
            args,
            declared_by=rotation.CertificateRotationArgs,
        )
