"""Bad values a new user would try: each is refused before anything is created, naming the
key, and secrets are never shown."""

from __future__ import annotations

import json
from typing import Any

import pytest

from aisb import CertificateRotationMonitor, DeviceLogCollection, ProtectedAuditTrail
from aisb import validation as v
from aisb.functions.cert_rotation import handler as cr
from aisb.settings import ConfigError, parse
from tests.harness import ACCOUNT, MINIMAL_CONFIG, Recording, config_problems, run

COMMON: dict[str, Any] = {"account_id": ACCOUNT, "region": "us-east-1", "partition": "aws"}
ML = {"aisb:behaviorDetection": "ml-detect"}


# --- whole strings: "$" matches before a final newline --------------------------------------


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"aisb:alertEmails": json.dumps(["sec@example.com\n"])}, "aisb:alertEmails"),
        (
            {**ML, "aisb:detectTargetGroups": json.dumps(["fleet\n"])},
            "aisb:detectTargetGroups[0]",
        ),
        (
            {
                **ML,
                "aisb:detectRules": json.dumps(
                    [
                        {
                            "name": "burst\n",
                            "metric": "aws:message-byte-size",
                            "operator": "less-than",
                            "value": 1,
                        }
                    ]
                ),
            },
            "aisb:detectRules[0].name",
        ),
        (
            {
                **ML,
                "aisb:customMetrics": json.dumps(
                    [{"name": "battery\n", "type": "number", "monitor": "ml"}]
                ),
            },
            "aisb:customMetrics[0].name",
        ),
    ],
)
def test_a_trailing_newline_is_refused(override: dict[str, str], key: str) -> None:
    assert any(p.startswith(f"{key}: got ") for p in config_problems(override))


def test_regions_with_a_trailing_newline_are_refused() -> None:
    with pytest.raises(v.InvalidValue):
        v.region("eu-west-1\n")
    problems = config_problems({"aws:region": "eu-west-1\n", "aws-native:region": "eu-west-1\n"})
    assert any(p.startswith("aws:region: got 'eu-west-1\\n'") for p in problems)


@pytest.mark.parametrize(
    ("component", "args", "message"),
    [
        (ProtectedAuditTrail, {"trail_name": "trail\n"}, "argument 'trail_name' got 'trail\\\\n'"),
        (
            DeviceLogCollection,
            {"credential_endpoint": "e", "role_alias": "alias\n"},
            "argument 'role_alias' got 'alias\\\\n'",
        ),
    ],
)
def test_component_names_with_a_trailing_newline_are_refused(
    component: Any, args: dict[str, Any], message: str
) -> None:
    recording = Recording()
    with pytest.raises(ValueError, match=message):
        run(lambda: component("c", {**COMMON, **args}), recording=recording)
    assert recording.resources == []


# --- tags: what AWS accepts -----------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [{'team"': "iot"}, {"team": "a;b"}, {"team": "two\nlines"}, {"cost;centre": "1"}, {"t": "<x>"}],
)
def test_tag_characters_aws_refuses_are_refused(bad: dict[str, str]) -> None:
    with pytest.raises(v.InvalidValue, match="made of letters, digits, spaces and"):
        v.tags(bad)
    problems = config_problems({"aisb:tags": json.dumps(bad)})
    assert any(p.startswith("aisb:tags: got ") for p in problems)


def test_tags_in_any_language_and_aws_punctuation_pass() -> None:
    good = {"Équipe": "sécurité réseau", "部署": "設備", "path": "a/b=c+d-e@f_g.h:i", "n": "42"}
    assert v.tags(good) == good


def test_tag_limits_at_the_edge() -> None:
    assert v.tags({"k" * 128: "v" * 256})
    with pytest.raises(v.InvalidValue):
        v.tags({"k" * 129: "v"})
    with pytest.raises(v.InvalidValue):
        v.tags({"k": "v" * 257})
    assert len(v.tags({f"k{i}": "v" for i in range(40)})) == 40
    with pytest.raises(v.InvalidValue, match="at most 40 tags"):
        v.tags({f"k{i}": "v" for i in range(41)})


# --- rules: one value each ------------------------------------------------------------------


def test_a_rule_with_a_second_value_key_is_refused() -> None:
    rule = {
        "name": "listening",
        "metric": "aws:listening-tcp-ports",
        "operator": "in-port-set",
        "ports": [8883],
        "cidrs": ["10.0.0.0/8"],
    }
    problems = config_problems({**ML, "aisb:detectRules": json.dumps([rule])})
    assert problems == [
        "aisb:detectRules[0].cidrs: got ['10.0.0.0/8']; expected only ports as the value for "
        "aws:listening-tcp-ports"
    ]


def test_custom_metric_names_colliding_after_truncation_name_the_key_that_was_set() -> None:
    stem = "m" * 125
    metrics = [
        {"name": stem + "abc", "type": "number", "rule": {"operator": "less-than", "value": 1}},
        {"name": stem + "abd", "type": "number", "rule": {"operator": "less-than", "value": 1}},
    ]
    problems = config_problems({**ML, "aisb:customMetrics": json.dumps(metrics)})
    (problem,) = problems
    assert problem.startswith("aisb:customMetrics[1].name: got 'custom-")
    assert "a behaviour name used once per security profile" in problem


# --- secrets are never shown, cross-key checks included ------------------------------------


@pytest.mark.parametrize(
    ("override", "secret", "start"),
    [
        (
            {"aisb:guardDutyDetectorId": "12abc34d567e8fa901bc2d34e56789f0"},
            "aisb:guardDutyDetectorId",
            "aisb:guardDutyDetectorId: got [secret]; expected it unset unless aisb:guardDuty",
        ),
        (
            {"aisb:detectTargetGroups": '["hidden-fleet"]'},
            "aisb:detectTargetGroups",
            "aisb:detectTargetGroups: got [secret]; expected it unset",
        ),
        (
            {**ML, "aisb:detectTargetGroups": '["hidden/fleet"]'},
            "aisb:detectTargetGroups",
            "aisb:detectTargetGroups[0]: got [secret]; expected a thing group name",
        ),
        (
            {"aisb:certMaxAgeDays": "100", "aisb:certRotationWarningDays": "200"},
            "aisb:certRotationWarningDays",
            "aisb:certRotationWarningDays: got [secret]; expected fewer days than "
            "aisb:certMaxAgeDays (100)",
        ),
    ],
)
def test_cross_key_checks_never_show_a_secret(
    override: dict[str, str], secret: str, start: str
) -> None:
    with pytest.raises(ConfigError) as err:
        parse({**MINIMAL_CONFIG, **override}, secret_keys={secret})
    text = "\n".join(err.value.problems)
    assert any(p.startswith(start) for p in err.value.problems), text
    assert "hidden" not in text and "12abc34d" not in text and "200" not in text


# --- the documented range works on its own --------------------------------------------------


def test_the_shortest_rotation_period_works_without_touching_the_warning() -> None:
    settings = parse({**MINIMAL_CONFIG, "aisb:certMaxAgeDays": "30"})
    assert (settings.cert_max_age_days, settings.cert_rotation_warning_days) == (30, 29)
    # A warning the user chose is theirs: too long is still an error.
    problems = config_problems({"aisb:certMaxAgeDays": "30", "aisb:certRotationWarningDays": "45"})
    assert problems == [
        "aisb:certRotationWarningDays: got 45; expected fewer days than aisb:certMaxAgeDays (30)"
    ]
    rec = run(
        lambda: CertificateRotationMonitor(
            "certs",
            {
                "account_id": ACCOUNT,
                "region": "us-east-1",
                "partition": "aws",
                "alert_topic_arn": "arn:aws:sns:us-east-1:1:t",
                "rotation_days": 30,
            },
        )
    )
    env = rec.one("aws:lambda/function:Function").inputs["environment"]["variables"]
    assert (env["ROTATION_DAYS"], env["WARNING_DAYS"]) == ("30", "29")


# --- the certificate monitor's environment, read strictly ------------------------------------

GOOD_ENV = {"TOPIC_ARN": "arn:aws:sns:us-east-1:1:t", "ROTATION_DAYS": "365"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TOPIC_ARN": ""}, "TOPIC_ARN: required"),
        ({"TOPIC_ARN": "  "}, "TOPIC_ARN: required"),
        ({"ROTATION_DAYS": "a year"}, "ROTATION_DAYS='a year': expected a whole number"),
        ({"ROTATION_DAYS": "0"}, "ROTATION_DAYS=0: expected a whole number of 1 or more"),
        ({"WARNING_DAYS": "-1"}, "WARNING_DAYS=-1: expected a whole number of 0 or more"),
        ({"THING_NAMES": "yes"}, "THING_NAMES='yes': expected true or false"),
        ({"ALWAYS_REPORT": "1"}, "ALWAYS_REPORT='1': expected true or false"),
        ({"THING_NAME_CALL_BUDGET": "-5"}, "THING_NAME_CALL_BUDGET=-5"),
        ({"MAX_LISTED": "0"}, "MAX_LISTED=0"),
        ({"RESERVE_SECONDS": "0"}, "RESERVE_SECONDS=0"),
        ({"LEASE_MARGIN_SECONDS": "ten"}, "LEASE_MARGIN_SECONDS='ten'"),
        ({"HANDOVER_SECONDS": "59"}, "HANDOVER_SECONDS=59: expected a whole number of 60"),
        ({"RETRY_ATTEMPTS": "-1"}, "RETRY_ATTEMPTS=-1"),
        ({"SCAN_INTERVAL_DAYS": "0"}, "SCAN_INTERVAL_DAYS=0"),
    ],
)
def test_a_bad_environment_variable_is_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        cr.Options.from_env({**GOOD_ENV, **env})


def test_missing_required_variables_are_named() -> None:
    with pytest.raises(ValueError, match="ROTATION_DAYS: required"):
        cr.Options.from_env({"TOPIC_ARN": "t"})
    with pytest.raises(ValueError, match="TOPIC_ARN: required"):
        cr.Options.from_env({"ROTATION_DAYS": "365"})


def test_every_variable_is_read_by_its_name() -> None:
    options = cr.Options.from_env(
        {
            **GOOD_ENV,
            "WARNING_DAYS": "10",
            "REPORT_BUCKET": "b",
            "REPORT_PREFIX": "p/",
            "REPORT_FORMAT": "jsonl",
            "THING_NAMES": "TRUE",
            "THING_NAME_CALL_BUDGET": "7",
            "ALWAYS_REPORT": "true",
            "MAX_LISTED": "3",
            "RESERVE_SECONDS": "90",
            "LOCK_TABLE": "lock",
            "LEASE_MARGIN_SECONDS": "20",
            "HANDOVER_SECONDS": "600",
            "RETRY_ATTEMPTS": "1",
            "SCAN_INTERVAL_DAYS": "14",
        }
    )
    assert options == cr.Options(
        topic_arn="arn:aws:sns:us-east-1:1:t",
        rotation_days=365,
        warning_days=10,
        report_bucket="b",
        report_prefix="p/",
        report_format="jsonl",
        thing_names=True,
        thing_name_budget=7,
        always_report=True,
        max_listed=3,
        reserve_seconds=90,
        lock_table="lock",
        lease_margin_seconds=20,
        handover_seconds=600,
        retry_attempts=1,
        scan_interval_days=14,
    )
    defaults = cr.Options.from_env(GOOD_ENV)
    assert (defaults.thing_names, defaults.always_report, defaults.lock_table) == (
        False,
        False,
        None,
    )


# --- each refusal names the value it refuses and what would be accepted ----------------------

_CHECKS = ", ".join(sorted(v.AUDIT_CHECK_NAMES))


@pytest.mark.parametrize(
    ("validator", "value", "refused", "expected"),
    [
        (v.tags, {"aws:team": "x"}, "aws:team", "tag names of 1 to 128 characters not starting"),
        (v.tags, {"a|b": "x"}, "a|b", f"tag names made of {v.TAG_CHARACTERS}"),
        (v.tags, {"k": "x" * 257}, {"k": "x" * 257}, "tag values that are strings of at most 256"),
        (v.tags, {"k": "a|b"}, {"k": "a|b"}, f"tag values made of {v.TAG_CHARACTERS}"),
        (v.tags, {f"k{i}": "x" for i in range(41)}, "41 tags", "at most 40 tags"),
        (v.log_paths, [f"/l/{i}" for i in range(21)], None, "a list of 1 to 20 absolute file"),
        (v.log_paths, [], [], "a list of 1 to 20 absolute file paths"),
        (v.log_paths, "/var/log/syslog", None, "a list of 1 to 20 absolute file paths"),
        (v.log_paths, ["/var/log/"], "/var/log/", "absolute file paths such as /var/log/syslog"),
        (v.log_paths, ["var/log/x"], "var/log/x", "absolute file paths such as /var/log/syslog"),
        (v.log_paths, ["/a", "/a"], ["/a", "/a"], "each path once"),
        (v.audit_check_names, "CA_CERTIFICATE_EXPIRING_CHECK", None, "a list of audit check"),
        (v.audit_check_names, ["NOPE"], "NOPE", f"audit check names from {_CHECKS}"),
        (
            v.audit_check_names,
            ["LOGGING_DISABLED_CHECK", "LOGGING_DISABLED_CHECK"],
            None,
            "each check name once",
        ),
        (v.guardduty_detector_id, "A" * 32, "A" * 32, "a GuardDuty detector id: 32 lower-case"),
        (v.guardduty_detector_id, 12, 12, "a GuardDuty detector id: 32 lower-case"),
    ],
)
def test_a_refusal_names_the_value_and_what_is_accepted(
    validator: Any, value: Any, refused: Any, expected: str
) -> None:
    with pytest.raises(v.InvalidValue) as refusal:
        validator(value)
    assert refusal.value.value == (value if refused is None else refused)
    assert refusal.value.expected.startswith(expected)


def test_the_largest_accepted_lists_and_maps_pass() -> None:
    paths = [f"/var/log/{i}" for i in range(20)]
    assert v.log_paths(paths) == tuple(paths)
    many = {f"k{i}": "v" for i in range(40)}
    assert v.tags(many) == many
    assert v.tags({"k" * 128: "v" * 256}) == {"k" * 128: "v" * 256}
    assert v.guardduty_detector_id("0" * 32) == "0" * 32


def test_the_validator_factories_accept_what_they_name_and_refuse_the_rest() -> None:
    name = v.matching(r"[a-z]{1,4}", "1 to 4 letters")
    assert name("abcd") == "abcd"
    for bad in ("abcde", "ab1", 7, None):
        with pytest.raises(v.InvalidValue) as refusal:
            name(bad)
        assert (refusal.value.value, refusal.value.expected) == (bad, "1 to 4 letters")
    level = v.choice(["ERROR", "WARN"])
    assert level("WARN") == "WARN"
    with pytest.raises(v.InvalidValue, match="one of ERROR, WARN"):
        level("warn")
    days = v.in_range(2, 5)
    assert (days.low, days.high) == (2, 5)
    assert [days(2), days(5)] == [2, 5]
    for out in (1, 6):
        with pytest.raises(v.InvalidValue):
            days(out)


@pytest.mark.parametrize(
    ("value", "at_least_one", "refused", "expected"),
    [
        ("sec@example.com", False, None, "a list of e-mail addresses"),
        (["sec@example.com", 7], False, None, "a list of e-mail addresses"),
        ([], True, None, "at least one e-mail address"),
        (["nope"], False, "nope", "an e-mail address such as security@example.com"),
        (["A@example.com", "a@example.com"], False, "a@example.com", "each address once"),
    ],
)
def test_an_address_list_refusal_names_the_address(
    value: Any, at_least_one: bool, refused: Any, expected: str
) -> None:
    with pytest.raises(v.InvalidValue) as refusal:
        v.emails(value, at_least_one=at_least_one)
    assert refusal.value.value == (value if refused is None else refused)
    assert refusal.value.expected == expected


def test_an_empty_address_list_is_accepted_where_none_is_required() -> None:
    assert v.emails([], at_least_one=False) == ()
    assert v.emails(("a@example.com",), at_least_one=True) == ("a@example.com",)


@pytest.mark.parametrize(
    ("schedule", "field", "expected"),
    [
        ((7, None, None), "frequency", "one of DAILY, WEEKLY, BIWEEKLY, MONTHLY"),
        (("HOURLY", None, None), "frequency", "one of DAILY, WEEKLY, BIWEEKLY, MONTHLY"),
        (("WEEKLY", None, None), "day_of_week", f"one of {', '.join(v.DAYS_OF_WEEK)} (WEEKLY"),
        (("WEEKLY", "MONDAY", None), "day_of_week", f"one of {', '.join(v.DAYS_OF_WEEK)} (WEEKLY"),
        (("DAILY", "MON", None), "day_of_week", "no day of week: it is only used by WEEKLY"),
        (("MONTHLY", None, "32"), "day_of_month", "a day of month from 1 to 31, or LAST"),
        (("MONTHLY", None, True), "day_of_month", "a day of month from 1 to 31, or LAST"),
        (("WEEKLY", "MON", "1"), "day_of_month", "no day of month: it is only used by MONTHLY"),
    ],
)
def test_an_audit_schedule_refusal_names_its_part(
    schedule: tuple[Any, Any, Any], field: str, expected: str
) -> None:
    with pytest.raises(v.InvalidValue) as refusal:
        v.audit_schedule(*schedule)
    assert refusal.value.field == field
    assert (
        refusal.value.value == schedule[("frequency", "day_of_week", "day_of_month").index(field)]
    )
    assert refusal.value.expected.startswith(expected)


def test_audit_schedules_come_out_as_plain_strings_aws_accepts() -> None:
    from aisb.choices import AuditFrequency, DayOfWeek

    for day in ("1", "9", "10", "29", "30", "31", "LAST", 5):
        assert v.audit_schedule("MONTHLY", None, day) == ("MONTHLY", None, str(day))
    weekly = v.audit_schedule(AuditFrequency.BIWEEKLY, DayOfWeek.SUN, None)
    assert weekly == ("BIWEEKLY", "SUN", None)
    assert [type(part) for part in weekly[:2]] == [str, str]
    assert v.audit_schedule("DAILY", None, None) == ("DAILY", None, None)


def test_a_bad_region_is_named_with_an_example() -> None:
    with pytest.raises(v.InvalidValue) as refusal:
        v.region("eu_west_1")
    assert (refusal.value.value, refusal.value.expected) == (
        "eu_west_1",
        "an AWS region name such as us-east-1",
    )


def test_every_default_and_every_lowest_value_is_taken() -> None:
    assert cr.Options.from_env(GOOD_ENV) == cr.Options(
        topic_arn="arn:aws:sns:us-east-1:1:t", rotation_days=365
    )
    assert cr.Options(topic_arn="t", rotation_days=1) == cr.Options(
        topic_arn="t",
        rotation_days=1,
        warning_days=30,
        report_bucket=None,
        report_prefix="certificate-rotation/",
        report_format="csv",
        thing_names=False,
        thing_name_budget=1000,
        always_report=False,
        max_listed=25,
        reserve_seconds=60,
        lock_table=None,
        lease_margin_seconds=30,
        handover_seconds=21600,
        retry_attempts=2,
        scan_interval_days=30,
    )
    lowest = cr.Options.from_env(
        {
            "TOPIC_ARN": " arn:aws:sns:us-east-1:1:t ",
            "ROTATION_DAYS": "1",
            "WARNING_DAYS": "0",
            "THING_NAME_CALL_BUDGET": "1",
            "MAX_LISTED": "1",
            "RESERVE_SECONDS": "1",
            "LEASE_MARGIN_SECONDS": "1",
            "HANDOVER_SECONDS": "60",
            "RETRY_ATTEMPTS": "0",
            "SCAN_INTERVAL_DAYS": "1",
        }
    )
    assert lowest.topic_arn == "arn:aws:sns:us-east-1:1:t"
    assert (lowest.rotation_days, lowest.warning_days, lowest.thing_name_budget) == (1, 0, 1)
    assert (lowest.max_listed, lowest.reserve_seconds, lowest.lease_margin_seconds) == (1, 1, 1)
    assert (lowest.handover_seconds, lowest.retry_attempts, lowest.scan_interval_days) == (
        60,
        0,
        1,
    )
