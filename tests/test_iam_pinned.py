"""Every policy builder's whole output, pinned for sample inputs in both partitions' shapes.
A changed action, resource, Sid or condition value fails here (fast, without Pulumi), until
``tests/golden/iam-builders.json`` is regenerated with

    AISB_UPDATE_GOLDEN=1 uv run pytest tests/test_iam_pinned.py
"""

from __future__ import annotations

import json
import os
from typing import Any

from aisb import iam
from tests.harness import ROOT

GOLDEN = ROOT / "tests" / "golden" / "iam-builders.json"
ACCT = "111122223333"
TOPIC = f"arn:aws-cn:sns:cn-north-1:{ACCT}:alerts"
KEY = f"arn:aws-cn:kms:cn-north-1:{ACCT}:key/k-1"
RULE = f"arn:aws-cn:events:cn-north-1:{ACCT}:rule/findings"
BUCKET = "arn:aws-cn:s3:::evidence"
TRAIL = f"arn:aws-cn:cloudtrail:cn-north-1:{ACCT}:trail/t"


def built() -> dict[str, Any]:
    """Each builder's output for sample inputs."""
    return {
        "dns_suffix": [iam.dns_suffix(p) for p in ("aws", "aws-cn", "aws-us-gov")],
        "service_trust_policy.iot": iam.service_trust_policy(
            "iot.amazonaws.com", ACCT, f"arn:aws-cn:iot:cn-north-1:{ACCT}:*"
        ),
        "service_trust_policy.lambda": iam.service_trust_policy("lambda.amazonaws.com", ACCT),
        "service_trust_policy.credentials": iam.service_trust_policy(
            "credentials.iot.amazonaws.com", ACCT
        ),
        "kms_key_policy": iam.kms_key_policy(
            "aws-cn",
            ACCT,
            iam.kms_topic_publisher_statements(
                iam.sns_key_context("aws-cn", "cn-north-1", ACCT),
                ACCT,
                ["cloudwatch.amazonaws.com"],
                {"events.amazonaws.com": [RULE], "cloudwatch.amazonaws.com": [RULE]},
            ),
        ),
        "kms_logs_statement": iam.kms_logs_statement("cn-north-1", "aws-cn", ACCT, "AWSIotLogsV2"),
        "kms_logs_prefix_statement": iam.kms_logs_prefix_statement(
            "cn-north-1", "aws-cn", ACCT, "/aisb/m-"
        ),
        "sns_topic_policy": iam.sns_topic_policy(
            TOPIC, "aws-cn", ACCT, ["cloudwatch.amazonaws.com"], {"events.amazonaws.com": [RULE]}
        ),
        "sns_publish_policy": iam.sns_publish_policy(TOPIC, KEY),
        "sns_publish_policy.unencrypted": iam.sns_publish_policy(TOPIC, None),
        "iot_logging_policy": iam.iot_logging_policy("aws-cn", "cn-north-1", ACCT, "AWSIotLogsV2"),
        "bucket_policy": iam.bucket_policy(
            BUCKET, *iam.cloudtrail_bucket_statements(BUCKET, ACCT, TRAIL)
        ),
        "rule_error_queue_policy": iam.rule_error_queue_policy(
            f"arn:aws-cn:sqs:cn-north-1:{ACCT}:rotation-dlq"
        ),
        "events_to_queue_policy": iam.events_to_queue_policy(
            f"arn:aws-cn:sqs:cn-north-1:{ACCT}:dlq", [RULE]
        ),
        "cert_rotation_policy": iam.cert_rotation_policy(
            function_arn=f"arn:aws-cn:lambda:cn-north-1:{ACCT}:function:f",
            log_group_arn=f"arn:aws-cn:logs:cn-north-1:{ACCT}:log-group:/aisb/m",
            lock_table_arn=f"arn:aws-cn:dynamodb:cn-north-1:{ACCT}:table/lock",
            topic_arn=TOPIC,
            topic_key_arn=KEY,
            dead_letter_queue_arn=f"arn:aws-cn:sqs:cn-north-1:{ACCT}:dlq",
            report_bucket_arn=BUCKET,
            report_prefix="certificate-rotation/",
            report_key_arn=KEY,
            thing_names=True,
        ),
        "cert_rotation_policy.minimal": iam.cert_rotation_policy(
            function_arn="f",
            log_group_arn="l",
            lock_table_arn="t",
            topic_arn=TOPIC,
            topic_key_arn=None,
            dead_letter_queue_arn="q",
            report_bucket_arn=None,
            report_prefix="p/",
            report_key_arn=None,
            thing_names=False,
        ),
        "cert_rotation_policy.rotating": iam.cert_rotation_policy(
            function_arn="f",
            log_group_arn="l",
            lock_table_arn="t",
            topic_arn=TOPIC,
            topic_key_arn=None,
            dead_letter_queue_arn="q",
            report_bucket_arn=None,
            report_prefix="p/",
            report_key_arn=None,
            thing_names=False,
            rotation_job_template_arn=f"arn:aws-cn:iot:cn-north-1:{ACCT}:jobtemplate/r-rotate",
        ),
        "rotation_function_policy.create": iam.rotation_function_policy(
            "create",
            partition="aws-cn",
            region="cn-north-1",
            account_id=ACCT,
            log_group_arn=f"arn:aws-cn:logs:cn-north-1:{ACCT}:log-group:/aisb/r-create-x",
            table_arn=f"arn:aws-cn:dynamodb:cn-north-1:{ACCT}:table/state",
            dead_letter_queue_arn=f"arn:aws-cn:sqs:cn-north-1:{ACCT}:dlq",
            topic_arn=TOPIC,
            topic_key_arn=KEY,
            private_ca_arn=None,
        ),
        "rotation_function_policy.create-pca": iam.rotation_function_policy(
            "create",
            partition="aws-cn",
            region="cn-north-1",
            account_id=ACCT,
            log_group_arn="l",
            table_arn="t",
            dead_letter_queue_arn="q",
            topic_arn=TOPIC,
            topic_key_arn=None,
            private_ca_arn=f"arn:aws-cn:acm-pca:cn-north-1:{ACCT}:certificate-authority/ca",
        ),
        **{
            f"rotation_function_policy.{role}": iam.rotation_function_policy(
                role,
                partition="aws-cn",
                region="cn-north-1",
                account_id=ACCT,
                log_group_arn="l",
                table_arn="t",
                dead_letter_queue_arn="q",
                topic_arn=TOPIC,
                topic_key_arn=KEY,
                private_ca_arn=None,
            )
            for role in ("commit", "events", "sweep")
        },
        **{
            f"rotation_function_policy.{role}-pca": iam.rotation_function_policy(
                role,
                partition="aws-cn",
                region="cn-north-1",
                account_id=ACCT,
                log_group_arn="l",
                table_arn="t",
                dead_letter_queue_arn="q",
                topic_arn=TOPIC,
                topic_key_arn=KEY,
                private_ca_arn=f"arn:aws-cn:acm-pca:cn-north-1:{ACCT}:certificate-authority/ca",
            )
            for role in ("events", "sweep")
        },
        "rotation_device_policy": iam.rotation_device_policy("aws-cn", "cn-north-1", ACCT),
        "quarantine_iot_policy": iam.quarantine_iot_policy(),
        "add_to_thing_group_policy": iam.add_to_thing_group_policy(
            "aws-cn", "cn-north-1", ACCT, f"arn:aws-cn:iot:cn-north-1:{ACCT}:thinggroup/q"
        ),
        "deactivate_certificate_policy": iam.deactivate_certificate_policy(
            "aws-cn", "cn-north-1", ACCT
        ),
        "cloudtrail_key_statements": iam.cloudtrail_key_statements("aws-cn", ACCT, TRAIL),
        "device_log_upload_policy": iam.device_log_upload_policy(
            BUCKET, KEY, "cn-north-1", "aws-cn"
        ),
        "device_assume_role_alias_policy": iam.device_assume_role_alias_policy(
            f"arn:aws-cn:iot:cn-north-1:{ACCT}:rolealias/a"
        ),
    }


def test_every_builder_is_pinned() -> None:
    text = json.dumps(built(), indent=2, sort_keys=True) + "\n"
    if os.environ.get("AISB_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text)
    assert GOLDEN.read_text() == text, "a policy builder changed: review, then regenerate"


def test_every_public_builder_is_in_the_golden_file() -> None:
    import inspect

    public = {
        name
        for name, fn in inspect.getmembers(iam, inspect.isfunction)
        # (x_* are mutation testing's copies of the functions, when it runs)
        if not name.startswith(("_", "x_")) and fn.__module__ == "aisb.iam"
    }
    covered = {key.split(".")[0] for key in built()}
    # Helpers whose output every builder above already includes.
    helpers = {"document", "account_root_arn", "log_group_arn", "deny_insecure_transport"}
    helpers |= {"sns_key_context", "kms_topic_publisher_statements"}
    helpers |= {"cloudtrail_bucket_statements", "source_arn_publisher_statements"}
    assert public - covered - helpers == set()
