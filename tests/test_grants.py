"""Every grant to an AWS service uses only condition keys that service presents there.

The table in ``aisb.grants`` says, with AWS's documentation, which condition keys each service
principal sends in each kind of policy. A grant conditioned on a key the service does not send
never matches: the control deploys and is dead (GuardDuty findings to the encrypted topic were
such a case). This test holds every policy of every stack, with every optional control on, to
the table.
"""

from __future__ import annotations

from typing import Any

import pytest

from aisb import grants
from tests.harness import (
    PolicyDocument,
    Recording,
    policy_documents,
    run_main,
    stack_config,
    stack_files,
    stack_name,
)

PLACES = {
    "aws:sns/topicPolicy:TopicPolicy": "topic",
    "aws:s3/bucketPolicy:BucketPolicy": "bucket",
    "aws:sqs/queuePolicy:QueuePolicy": "queue",
}
ALL_OPTIONAL = {
    "aisb:cloudTrail": "true",
    "aisb:guardDuty": "true",
    "aisb:deviceLogs": "true",
    "aisb:certReportBucket": "true",
    "aisb:certRotationJobs": "true",
    "aisb:certRotationJobsAutomatic": "true",
}


def place_of(policy: PolicyDocument) -> str | None:
    """Where a document is read: trust, key, topic, bucket or queue (None: no grant to a
    service can be in it)."""
    if policy.kind in ("trust", "key"):
        return policy.kind
    return PLACES.get(policy.resource.type)


def service_grant_problems(recording: Recording) -> list[str]:
    problems = []
    for policy in policy_documents(recording):
        for statement in policy.document["Statement"]:
            principal: Any = statement.get("Principal")
            if statement["Effect"] != "Allow" or not isinstance(principal, dict):
                continue
            services = principal.get("Service")
            if services is None:
                continue
            place = place_of(policy)
            assert place is not None, f"{policy.resource.name}: a service grant in {policy.input}"
            services = [services] if isinstance(services, str) else services
            problems += [
                f"{policy.resource.name}.{policy.input}: {p}"
                for p in grants.check_statement(services, place, statement.get("Condition"))
            ]
    return problems


@pytest.fixture(scope="module")
def all_on_recordings() -> dict[str, Recording]:
    """Every stack with every optional control on, rendered once for the tests below (one
    xdist group: on one worker, not once on each)."""
    out = {}
    for path in stack_files():
        config = {**stack_config(path), **ALL_OPTIONAL}
        out[stack_name(path)] = run_main(config, region=config["aws:region"])
    return out


@pytest.mark.xdist_group("all-on-grants")
def test_every_grant_in_every_stack_uses_only_keys_the_service_sends(
    stack_recordings: dict[str, Recording], all_on_recordings: dict[str, Recording]
) -> None:
    checked = 0
    for recordings in (stack_recordings, all_on_recordings):
        for stack, recording in recordings.items():
            assert service_grant_problems(recording) == [], stack
            checked += 1
    assert checked == 2 * len(stack_files())


@pytest.mark.xdist_group("all-on-grants")
def test_the_check_fails_on_a_key_the_service_does_not_send(
    all_on_recordings: dict[str, Recording],
) -> None:
    import copy
    import json

    # The defect this table exists for: EventBridge bound by aws:SourceArn in the key policy.
    rec = copy.deepcopy(next(iter(all_on_recordings.values())))
    key = next(r for r in rec.resources if r.name == "aisb-alerts-key")
    policy = json.loads(key.inputs["policy"])
    events = next(s for s in policy["Statement"] if s["Sid"] == "KeyForEvents")
    events["Condition"]["ArnEquals"] = {"aws:SourceArn": "arn:aws:events:us-east-1:1:rule/r"}
    key.inputs["policy"] = json.dumps(policy)
    (problem,) = service_grant_problems(rec)
    assert "events.amazonaws.com in a key policy does not send aws:SourceArn" in problem
    assert grants.DOCS in problem


def test_an_unknown_grant_is_refused() -> None:
    assert grants.check_statement(["sns.amazonaws.com"], "key", None) == [
        "sns.amazonaws.com has no documented grant in a key policy"
    ]
    assert grants.check_statement(["logs.eu-west-1.amazonaws.com"], "key", None) == []
    assert grants.check_statement(["logs.cn-north-1.amazonaws.com.cn"], "trust", None)


def test_every_row_cites_aws_documentation() -> None:
    assert len({(g.principal, g.place) for g in grants.GRANTS}) == len(grants.GRANTS)
    for grant in grants.GRANTS:
        assert grant.doc.startswith("https://docs.aws.amazon.com/"), grant
        assert grant.place in {"trust", "key", "topic", "bucket", "queue"}
        assert grant.why
