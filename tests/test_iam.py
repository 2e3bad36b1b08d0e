"""The pure policy builders, without Pulumi."""

import json
from typing import Any

import pytest

from aisb import iam


def _actions(doc: dict) -> list[str]:
    out: list[str] = []
    for s in doc["Statement"]:
        a = s.get("Action", [])
        out.extend([a] if isinstance(a, str) else a)
    return out


def test_trust_policy_is_for_one_service_and_this_account() -> None:
    doc = iam.service_trust_policy("iot.amazonaws.com", "111122223333")
    (statement,) = doc["Statement"]
    assert statement["Principal"] == {"Service": "iot.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": "111122223333"}
    with_arn = iam.service_trust_policy("iot.amazonaws.com", "1", source_arn="arn:x")
    assert with_arn["Statement"][0]["Condition"]["ArnLike"] == {"aws:SourceArn": "arn:x"}


def test_no_action_or_service_wildcards_anywhere() -> None:
    docs = [
        iam.kms_key_policy(
            "aws",
            "1",
            iam.kms_topic_publisher_statements("arn:aws:sns:*:1:*", "1", ["events.amazonaws.com"]),
        ),
        iam.sns_topic_policy("arn:aws:sns:us-east-1:1:t", "aws", "1", ["cloudwatch.amazonaws.com"]),
        iam.sns_publish_policy("arn:aws:sns:us-east-1:1:t", "arn:aws:kms:us-east-1:1:key/k"),
        iam.iot_logging_policy("aws", "us-east-1", "1", "AWSIotLogsV2"),
    ]
    for doc in docs:
        for action in _actions(doc):
            assert "*" not in action, action


def test_key_policy_keeps_the_account_able_to_manage_the_key() -> None:
    doc = iam.kms_key_policy("aws-cn", "111122223333")
    (admin,) = doc["Statement"]
    assert admin["Principal"] == {"AWS": "arn:aws-cn:iam::111122223333:root"}
    assert "kms:PutKeyPolicy" in admin["Action"]
    assert "kms:ScheduleKeyDeletion" in admin["Action"]


def test_topic_key_grants_use_only_what_each_service_presents_to_kms() -> None:
    context = "arn:aws:sns:eu-west-1:42:*"
    by_sid = {
        s["Sid"]: s
        for s in iam.kms_topic_publisher_statements(
            context,
            "42",
            ["cloudwatch.amazonaws.com"],
            {"events.amazonaws.com": ["arn:aws:events:eu-west-1:42:rule/r"]},
        )
    }
    assert set(by_sid) == {"KeyForCloudwatch", "KeyForEvents"}
    topic_context = {"kms:EncryptionContext:aws:sns:topicArn": context}
    assert by_sid["KeyForCloudwatch"]["Condition"] == {
        "StringLike": topic_context,
        "StringEquals": {"aws:SourceAccount": "42"},
    }
    # EventBridge sends no aws:Source* to KMS on this path: the rule ARN is not required here.
    assert by_sid["KeyForEvents"]["Condition"] == {"StringLike": topic_context}
    for statement in by_sid.values():
        assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
        assert statement["Resource"] == "*"
    assert iam.sns_key_context("aws-cn", "cn-north-1", "42") == "arn:aws-cn:sns:cn-north-1:42:*"


def test_a_publisher_named_by_arn_is_bound_to_those_arns_where_kms_sees_them() -> None:
    context = "arn:aws:sns:eu-west-1:42:*"
    alarms = ["arn:aws:cloudwatch:eu-west-1:42:alarm:b", "arn:aws:cloudwatch:eu-west-1:42:alarm:a"]
    (statement,) = iam.kms_topic_publisher_statements(
        context, "42", (), {"cloudwatch.amazonaws.com": alarms}
    )
    assert statement["Sid"] == "KeyForCloudwatch"
    assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert statement["Condition"] == {
        "StringLike": {"kms:EncryptionContext:aws:sns:topicArn": context},
        "ArnEquals": {"aws:SourceArn": sorted(alarms)},
    }
    # A service named with no ARNs gets the topic context alone, never an empty ARN list.
    (bare,) = iam.kms_topic_publisher_statements(
        context, "42", (), {"cloudwatch.amazonaws.com": []}
    )
    assert bare["Condition"] == {"StringLike": {"kms:EncryptionContext:aws:sns:topicArn": context}}


def test_trust_policies_use_only_the_keys_each_service_presents() -> None:
    lam = iam.service_trust_policy("lambda.amazonaws.com", "42")["Statement"][0]
    assert lam["Condition"] == {"StringEquals": {"aws:SourceAccount": "42"}}
    creds = iam.service_trust_policy("credentials.iot.amazonaws.com", "42")["Statement"][0]
    assert "Condition" not in creds
    with pytest.raises(ValueError, match="presents no aws:SourceArn"):
        iam.service_trust_policy("credentials.iot.amazonaws.com", "42", source_arn="arn:x")


def test_logs_key_statement_is_bound_to_one_log_group_and_partition_suffix() -> None:
    s = iam.kms_logs_statement("cn-north-1", "aws-cn", "42", "AWSIotLogsV2")
    assert s["Principal"] == {"Service": "logs.cn-north-1.amazonaws.com.cn"}
    assert s["Condition"]["StringEquals"] == {
        "kms:EncryptionContext:aws:logs:arn": "arn:aws-cn:logs:cn-north-1:42:log-group:AWSIotLogsV2"
    }


def test_topic_policy_denies_publishing_without_tls() -> None:
    doc = iam.sns_topic_policy("arn:aws:sns:us-east-1:42:t", "aws", "42")
    deny = [s for s in doc["Statement"] if s["Effect"] == "Deny"]
    assert deny and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    allows = [s for s in doc["Statement"] if s["Effect"] == "Allow"]
    assert [s["Principal"] for s in allows] == [{"AWS": "arn:aws:iam::42:root"}]


def test_publish_policy_grants_the_key_only_when_there_is_one() -> None:
    without = iam.sns_publish_policy("arn:aws:sns:us-east-1:42:t", None)
    assert _actions(without) == ["sns:Publish"]
    with_key = iam.sns_publish_policy(
        "arn:aws:sns:us-east-1:42:t", "arn:aws:kms:us-east-1:42:key/k"
    )
    assert with_key["Statement"][1]["Resource"] == "arn:aws:kms:us-east-1:42:key/k"


def test_iot_logging_policy_writes_only_to_its_log_group() -> None:
    doc = iam.iot_logging_policy("aws-us-gov", "us-gov-west-1", "42", "AWSIotLogsV2")
    (statement,) = doc["Statement"]
    group = "arn:aws-us-gov:logs:us-gov-west-1:42:log-group:AWSIotLogsV2"
    assert statement["Resource"] == [group, f"{group}:log-stream:*"]
    # Exactly the actions of AWS's documented logging role policy, on one group instead of "*".
    assert sorted(statement["Action"]) == [
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "logs:PutMetricFilter",
        "logs:PutRetentionPolicy",
    ]
    assert json.dumps(doc).count("arn:aws:") == 0


# --- the device-log role, evaluated the way IAM would ---------------------------------------------

DEVICE_BUCKET = "arn:aws:s3:::aisb-device-logs-1"
DEVICE_KEY = "arn:aws:kms:eu-west-1:123456789012:key/k-1"


def _matches(pattern: str, value: str) -> bool:
    import fnmatch

    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def _condition_holds(condition: dict[str, dict[str, Any]], context: dict[str, str]) -> bool:
    """IAM's operators the device policy uses; a key missing from the request fails every
    operator but ``Null``."""
    for operator, keys in condition.items():
        for key, expected in keys.items():
            wanted = expected if isinstance(expected, list) else [expected]
            value = context.get(key)
            if operator == "Null":
                if (value is None) != (wanted == ["true"]):
                    return False
            elif value is None:
                return False
            elif operator == "StringEquals":
                if value not in wanted:
                    return False
            elif operator == "StringLike":
                if not any(_matches(w, value) for w in wanted):
                    return False
            elif operator == "Bool":
                if value != wanted[0]:
                    return False
            else:
                raise AssertionError(f"no evaluator for {operator}")
    return True


def _allowed(policy: dict[str, Any], action: str, resource: str, **context: str) -> bool:
    """An explicit deny wins, then any allow; variables resolved for thing pump-17."""
    text = json.dumps(policy).replace("${credentials-iot:ThingName}", "pump-17")
    verdicts = set()
    for s in json.loads(text)["Statement"]:
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
        if (
            any(_matches(a, action) for a in actions)
            and any(_matches(r, resource) for r in resources)
            and _condition_holds(s.get("Condition", {}), context)
        ):
            verdicts.add(s["Effect"])
    return "Allow" in verdicts and "Deny" not in verdicts


def test_device_credentials_use_the_key_only_through_s3_for_their_bucket() -> None:
    policy = iam.device_log_upload_policy(DEVICE_BUCKET, DEVICE_KEY, "eu-west-1", "aws")
    via_s3 = {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}
    bucket_key = {"kms:EncryptionContext:aws:s3:arn": DEVICE_BUCKET}
    own_object = {"kms:EncryptionContext:aws:s3:arn": f"{DEVICE_BUCKET}/pump-17/t/var/log/a"}
    for action in ("kms:GenerateDataKey", "kms:Decrypt"):
        # S3 on the device's behalf, with the bucket key's context or (bucket key off) its own
        # object's.
        assert _allowed(policy, action, DEVICE_KEY, **via_s3, **bucket_key)
        assert _allowed(policy, action, DEVICE_KEY, **via_s3, **own_object)
        # The attack: the device calls KMS itself (to decrypt what it captured, or to use the
        # key for anything else), or through S3 for another bucket or another device's prefix.
        assert not _allowed(policy, action, DEVICE_KEY)
        assert not _allowed(policy, action, DEVICE_KEY, **bucket_key)
        assert not _allowed(policy, action, DEVICE_KEY, **via_s3)
        assert not _allowed(
            policy, action, DEVICE_KEY, **via_s3, **{"kms:EncryptionContext:aws:s3:arn": "x"}
        )
        assert not _allowed(
            policy,
            action,
            DEVICE_KEY,
            **via_s3,
            **{"kms:EncryptionContext:aws:s3:arn": f"{DEVICE_BUCKET}/pump-18/t/var/log/a"},
        )
        assert not _allowed(
            policy, action, DEVICE_KEY, **bucket_key, **{"kms:ViaService": "sns.eu-west-1.x"}
        )
    cn = iam.device_log_upload_policy("arn:aws-cn:s3:::b", "k", "cn-north-1", "aws-cn")
    (kms,) = [st for st in cn["Statement"] if st["Sid"] == "EncryptUploads"]
    assert kms["Condition"]["StringEquals"] == {"kms:ViaService": "s3.cn-north-1.amazonaws.com.cn"}


def test_a_device_can_never_overwrite_an_object() -> None:
    policy = iam.device_log_upload_policy(DEVICE_BUCKET, DEVICE_KEY, "eu-west-1", "aws")
    own = f"{DEVICE_BUCKET}/pump-17/20261201T000000Z-0a1b2c3d/var/log/syslog"
    create = {"s3:ObjectCreationOperation": "true"}
    # A PutObject or CompleteMultipartUpload with If-None-Match: * (S3 refuses it if the key
    # exists), and the multipart steps that take no conditional header.
    assert _allowed(policy, "s3:PutObject", own, **create, **{"s3:if-none-match": "*"})
    assert _allowed(policy, "s3:PutObject", own, **{"s3:ObjectCreationOperation": "false"})
    assert _allowed(policy, "s3:AbortMultipartUpload", own)
    # The attack: replace its own evidence with an unconditional write, or write elsewhere.
    assert not _allowed(policy, "s3:PutObject", own, **create)
    # A request S3 sent without either key is refused, not let through.
    assert not _allowed(policy, "s3:PutObject", own)
    other = f"{DEVICE_BUCKET}/pump-18/x"
    assert not _allowed(policy, "s3:PutObject", other, **create, **{"s3:if-none-match": "*"})
    for action in ("s3:GetObject", "s3:DeleteObject", "s3:PutObjectAcl", "kms:Encrypt"):
        assert not _allowed(policy, action, own, **create, **{"s3:if-none-match": "*"})
