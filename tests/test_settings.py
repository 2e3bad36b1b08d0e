"""Stack configuration: parsing, every error, and agreement with Pulumi.yaml and the docs."""

from __future__ import annotations

import json

import pytest

from aisb import settings
from aisb.settings import KEYS, ConfigError, parse
from tests.harness import ROOT, Recording, project_file, run_main

BASE = {
    "aws:region": "eu-west-1",
    "aws-native:region": "eu-west-1",
    "aisb:alertEmails": json.dumps(["sec@example.com"]),
}


def test_defaults() -> None:
    s = parse(BASE)
    assert s.region == "eu-west-1"
    assert s.alert_emails == ("sec@example.com",)
    assert (s.iot_log_level, s.audit_frequency) == ("ERROR", "DAILY")
    assert (s.cert_max_age_days, s.cert_expiry_warning_days, s.log_retention_days) == (365, 30, 365)
    assert s.access_analyzer is True
    assert set(s.audit_checks_disabled) == set()
    assert dict(s.tags) == {}


def test_every_value_parsed() -> None:
    s = parse(
        {
            **BASE,
            "aisb:iotLogLevel": "WARN",
            "aisb:auditFrequency": "MONTHLY",
            "aisb:auditDayOfMonth": "LAST",
            "aisb:auditChecksDisabled": json.dumps(["LOGGING_DISABLED_CHECK"]),
            "aisb:certMaxAgeDays": "1095",
            "aisb:certExpiryWarningDays": "60",
            "aisb:logRetentionDays": "731",
            "aisb:accessAnalyzer": "false",
            "aisb:tags": json.dumps({"team": "iot"}),
        }
    )
    args = s.baseline_args()
    assert args["iot_log_level"] == "WARN"
    assert (args["audit_frequency"], args["audit_day_of_month"]) == ("MONTHLY", "LAST")
    assert args["audit_checks_disabled"] == ["LOGGING_DISABLED_CHECK"]
    assert (args["cert_max_age_days"], args["cert_expiry_warning_days"]) == (1095, 60)
    assert args["log_retention_days"] == 731
    assert args["access_analyzer"] is False
    assert args["tags"] == {"team": "iot"}


def test_empty_optional_strings_mean_unset() -> None:
    s = parse({**BASE, "aisb:auditDayOfWeek": "", "aisb:auditDayOfMonth": ""})
    assert (s.audit_day_of_week, s.audit_day_of_month) == (None, None)


def test_weekly_needs_a_day_and_gets_it() -> None:
    s = parse({**BASE, "aisb:auditFrequency": "BIWEEKLY", "aisb:auditDayOfWeek": "FRI"})
    assert (s.audit_frequency, s.audit_day_of_week, s.audit_day_of_month) == (
        "BIWEEKLY",
        "FRI",
        None,
    )


# One bad value per key: (key, raw value, how the error shows the value, what it accepts).
BAD_VALUES = [
    ("alertEmails", "[]", "got []", "at least one e-mail address"),
    ("alertEmails", '["not-an-address"]', "got 'not-an-address'", "an e-mail address"),
    ("alertEmails", "sec@example.com", "got 'sec@example.com'", "a YAML list"),
    ("iotLogLevel", "VERBOSE", "got 'VERBOSE'", "one of DEBUG, INFO, WARN, ERROR, DISABLED"),
    ("auditFrequency", "HOURLY", "got 'HOURLY'", "one of DAILY, WEEKLY, BIWEEKLY, MONTHLY"),
    ("auditDayOfWeek", "MONDAY", "got 'MONDAY'", "one of SUN, MON, TUE, WED, THU, FRI, SAT"),
    ("auditDayOfMonth", "15", "got '15'", "no day of month"),
    (
        "auditChecksDisabled",
        '["DEVICE_CERT_SHARED_CHECK"]',
        "got 'DEVICE_CERT_SHARED_CHECK'",
        "audit check names from",
    ),
    ("certMaxAgeDays", "29", "got 29", "a whole number from 30 to 3652"),
    ("certMaxAgeDays", "a year", "got 'a year'", "a whole number"),
    ("certExpiryWarningDays", "4000", "got 4000", "a whole number from 30 to 3652"),
    ("logRetentionDays", "100", "got 100", "one of 1, 3, 5"),
    ("accessAnalyzer", "yes", "got 'yes'", "true or false"),
    ("certRotation", "on", "got 'on'", "true or false"),
    ("certScanIntervalDays", "0", "got 0", "a whole number from 1 to 365"),
    ("certRotationWarningDays", "-1", "got -1", "a whole number from 0 to 3651"),
    ("certReportBucket", "1", "got '1'", "true or false"),
    ("certReportFormat", "xml", "got 'xml'", "one of csv, jsonl"),
    ("certReportThingNames", "sure", "got 'sure'", "true or false"),
    ("certReportAlways", "always", "got 'always'", "true or false"),
    ("certRotationJobs", "on", "got 'on'", "true or false"),
    ("certRotationJobsAutomatic", "yes", "got 'yes'", "true or false"),
    ("certRotationKeyAlgorithm", "ED25519", "got 'ED25519'", "one of EC-P256, RSA-2048"),
    ("certRotationGraceDays", "366", "got 366", "a whole number from 0 to 365"),
    ("certRotationTimeoutMinutes", "0", "got 0", "a whole number from 1 to 10080"),
    ("certRotationMaxPerMinute", "1001", "got 1001", "a whole number from 1 to 1000"),
    ("behaviorDetection", "guardduty", "got 'guardduty'", "one of cloudwatch, ml-detect, off"),
    ("mlDeviceMetrics", "maybe", "got 'maybe'", "true or false"),
    ("mlConfidence", "VERY_HIGH", "got 'VERY_HIGH'", "one of LOW, MEDIUM, HIGH"),
    ("mlDatapointsToAlarm", "11", "got 11", "a whole number from 1 to 10"),
    ("mlDatapointsToClear", "0", "got 0", "a whole number from 1 to 10"),
    ("detectTargetGroups", "[3]", "got [3]", "a YAML list of strings"),
    ("detectRules", '{"name": "x"}', 'got \'{"name": "x"}\'', "a YAML list"),
    ("customMetrics", "battery", "got 'battery'", "a YAML list"),
    ("mitigationActions", "no", "got 'no'", "true or false"),
    ("anomalyBandWidth", "20", "got 20", "a whole number from 1 to 10"),
    ("cloudTrail", "enabled", "got 'enabled'", "true or false"),
    ("cloudTrailArchiveDays", "0", "got 0", "a whole number from 1 to 3650"),
    ("cloudTrailObjectLockDays", "5000", "got 5000", "a whole number from 0 to 3650"),
    ("cloudTrailObjectLockMode", "STRICT", "got 'STRICT'", "one of GOVERNANCE, COMPLIANCE"),
    ("guardDuty", "on", "got 'on'", "true or false"),
    ("guardDutyDetectorId", "d-123", "got 'd-123'", "32 lower-case hexadecimal characters"),
    (
        "rolePermissionsBoundary",
        "arn:aws:iam::123456789012:policy/x",
        "got 'arn:aws:iam::123456789012:policy/x'",
        "an IAM managed policy name such as aisb-role-boundary",
    ),
    ("guardDutyMinSeverity", "11", "got 11", "a whole number from 1 to 10"),
    ("deviceLogs", "yes", "got 'yes'", "true or false"),
    ("deviceLogsRetentionDays", "0", "got 0", "a whole number from 1 to 3650"),
    ("deviceLogsPaths", '["var/log/syslog"]', "got 'var/log/syslog'", "absolute file paths"),
    ("securityHub", "yes", "got 'yes'", "true or false"),
    (
        "iotTlsPolicy",
        "IoTSecurityPolicy_TLS12_1_0_2016_01",
        "got 'IoTSecurityPolicy_TLS12_1_0_2016_01'",
        "one of IoTSecurityPolicy_TLS13_1_2_2022_10, IoTSecurityPolicy_TLS13_1_3_2022_10",
    ),
    ("tags", '{"aws:owner": "x"}', "got 'aws:owner'", "not starting with 'aws:'"),
    ("tags", '{"cost": 12}', "got {'cost': 12}", "tag values that are strings"),
]


@pytest.mark.parametrize(("key", "raw", "shown", "expected"), BAD_VALUES)
def test_bad_value_names_key_value_and_what_is_accepted(
    key: str, raw: str, shown: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as err:
        parse({**BASE, f"aisb:{key}": raw})
    (problem,) = err.value.problems
    assert problem.startswith(f"aisb:{key}: {shown}; expected "), problem
    assert expected in problem


def test_secret_values_are_never_shown() -> None:
    with pytest.raises(ConfigError) as err:
        parse({**BASE, "aisb:alertEmails": '["hidden-name"]'}, secret_keys={"aisb:alertEmails"})
    (problem,) = err.value.problems
    assert "hidden-name" not in problem
    assert problem.startswith("aisb:alertEmails: got [secret]; expected an e-mail address")


def test_secret_addresses_stay_secret_in_the_state() -> None:
    from pulumi.runtime.rpc import _special_secret_sig, _special_sig_key

    rec = run_main(BASE, region="eu-west-1", secret_keys=["aisb:alertEmails"])
    (sub,) = rec.of_type("aws:sns/topicSubscription:TopicSubscription")
    assert sub.inputs["endpoint"] == {
        _special_sig_key: _special_secret_sig,
        "value": "sec@example.com",
    }
    plain = run_main(BASE, region="eu-west-1")
    (sub,) = plain.of_type("aws:sns/topicSubscription:TopicSubscription")
    assert sub.inputs["endpoint"] == "sec@example.com"


def test_secret_addresses_are_not_revealed_by_subscription_names() -> None:
    """Names and aliases are plain text in previews and the state: an unsalted digest of a
    secret address, whole or cut short, would confirm a guessed one. Secret addresses name
    their subscriptions by position, with no alias to the digest names."""
    import hashlib

    emails = ["a@example.com", "B@Example.com"]
    config = {**BASE, "aisb:alertEmails": json.dumps(emails)}
    digests = [
        hashlib.new(algorithm, form.encode()).hexdigest()
        for e in emails
        for form in (e, e.lower())
        for algorithm in ("sha256", "sha1", "md5")
    ]
    secret = run_main(config, secret_keys=["aisb:alertEmails"])
    # Registrations arrive in no fixed order: by name.
    subs = sorted(
        secret.of_type("aws:sns/topicSubscription:TopicSubscription"), key=lambda s: s.name
    )
    assert [s.name for s in subs] == ["aisb-alerts-email-0", "aisb-alerts-email-1"]
    assert [s.aliases for s in subs] == [[], []]
    registered = json.dumps(
        [(r.type, r.name, r.urn, r.aliases, r.inputs) for r in secret.resources], default=str
    ).lower()
    assert not [d[:8] for d in digests if d[:8] in registered]
    plain = run_main(config).of_type("aws:sns/topicSubscription:TopicSubscription")
    assert sorted(s.name for s in plain) == sorted(
        f"aisb-alerts-email-{hashlib.sha256(e.lower().encode()).hexdigest()[:10]}" for e in emails
    )


def test_every_key_has_a_bad_value_case() -> None:
    assert {case[0] for case in BAD_VALUES} == {k.name for k in KEYS}


@pytest.mark.parametrize(
    ("config", "key", "expected"),
    [
        ({"aisb:auditFrequency": "WEEKLY"}, "auditDayOfWeek", "WEEKLY audits need a day of week"),
        ({"aisb:auditFrequency": "MONTHLY"}, "auditDayOfMonth", "from 1 to 31, or LAST"),
        (
            {"aisb:auditFrequency": "MONTHLY", "aisb:auditDayOfMonth": "32"},
            "auditDayOfMonth",
            "from 1 to 31, or LAST",
        ),
        (
            {"aisb:auditFrequency": "WEEKLY", "aisb:auditDayOfWeek": "Funday"},
            "auditDayOfWeek",
            "one of SUN, MON",
        ),
    ],
)
def test_schedule_combinations(config: dict[str, str], key: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse({**BASE, **config})
    (problem,) = err.value.problems
    assert problem.startswith(f"aisb:{key}:") and expected in problem


def test_warning_window_must_be_shorter_than_the_rotation_period() -> None:
    with pytest.raises(ConfigError) as err:
        parse({**BASE, "aisb:certMaxAgeDays": "90", "aisb:certRotationWarningDays": "90"})
    assert err.value.problems == [
        "aisb:certRotationWarningDays: got 90; expected fewer days than aisb:certMaxAgeDays (90)"
    ]


def test_thing_names_need_the_report_bucket() -> None:
    with pytest.raises(
        ConfigError, match="aisb:certReportThingNames: got True; expected false unless"
    ):
        parse({**BASE, "aisb:certReportThingNames": "true"})
    s = parse({**BASE, "aisb:certReportThingNames": "true", "aisb:certReportBucket": "true"})
    assert s.cert_report_thing_names and s.cert_report_bucket


def test_all_checks_disabled_is_refused() -> None:
    from aisb.catalog import AUDIT_CHECK_NAMES

    with pytest.raises(ConfigError, match="at least one check left on"):
        parse({**BASE, "aisb:auditChecksDisabled": json.dumps(sorted(AUDIT_CHECK_NAMES))})


def test_duplicate_addresses_and_checks_are_refused() -> None:
    with pytest.raises(ConfigError, match="each address once"):
        parse({**BASE, "aisb:alertEmails": json.dumps(["a@example.com", "A@example.com"])})
    with pytest.raises(ConfigError, match="each check name once"):
        parse({**BASE, "aisb:auditChecksDisabled": json.dumps(["LOGGING_DISABLED_CHECK"] * 2)})


def test_missing_emails() -> None:
    config = dict(BASE)
    del config["aisb:alertEmails"]
    with pytest.raises(ConfigError, match=r"aisb:alertEmails: missing"):
        parse(config)


def test_misspelled_key_suggests_the_closest() -> None:
    with pytest.raises(ConfigError) as err:
        parse({**BASE, "aisb:iotLoglevel": "INFO"})
    (problem,) = err.value.problems
    assert problem.startswith("aisb:iotLoglevel: unknown key; did you mean aisb:iotLogLevel?")


def test_region_mismatch_and_missing() -> None:
    with pytest.raises(ConfigError) as err:
        parse({**BASE, "aws-native:region": "eu-central-1"})
    assert "eu-central-1" in str(err.value) and "same region as aws:region ('eu-west-1')" in str(
        err.value
    )
    config = dict(BASE)
    del config["aws-native:region"]
    with pytest.raises(ConfigError, match="aws-native:region: missing"):
        parse(config)
    with pytest.raises(ConfigError, match="an AWS region name"):
        parse({**BASE, "aws:region": "Ireland", "aws-native:region": "Ireland"})


def test_all_problems_are_reported_together() -> None:
    with pytest.raises(ConfigError) as err:
        parse({**BASE, "aisb:iotLogLevel": "LOUD", "aisb:certMaxAgeDays": "5", "aisb:nope": "1"})
    assert len(err.value.problems) == 3


# --- the program: a bad stack stops before anything is registered ---------------------------

PROGRAM_ERRORS = [
    ({"aisb:iotLogLevel": "VERBOSE"}, "aisb:iotLogLevel: got 'VERBOSE'"),
    ({"aisb:alertEmails": "[]"}, "aisb:alertEmails: got []"),
    ({"aisb:auditFrequency": "YEARLY"}, "aisb:auditFrequency: got 'YEARLY'"),
    ({"aisb:auditFrequency": "WEEKLY"}, "aisb:auditDayOfWeek: got None"),
    (
        {"aisb:auditFrequency": "MONTHLY", "aisb:auditDayOfMonth": "0"},
        "aisb:auditDayOfMonth: got '0'",
    ),
    ({"aisb:auditChecksDisabled": '["NOPE"]'}, "aisb:auditChecksDisabled: got 'NOPE'"),
    ({"aisb:certMaxAgeDays": "3653"}, "aisb:certMaxAgeDays: got 3653"),
    ({"aisb:certExpiryWarningDays": "7"}, "aisb:certExpiryWarningDays: got 7"),
    ({"aisb:logRetentionDays": "400000"}, "aisb:logRetentionDays: got 400000"),
    ({"aisb:accessAnalyzer": "maybe"}, "aisb:accessAnalyzer: got 'maybe'"),
    ({"aisb:tags": '"team=iot"'}, "aisb:tags: got"),
    ({"aisb:certRotation": "no"}, "aisb:certRotation: got 'no'"),
    ({"aisb:certScanIntervalDays": "400"}, "aisb:certScanIntervalDays: got 400"),
    ({"aisb:certRotationWarningDays": "400", "aisb:certMaxAgeDays": "365"}, "fewer days than"),
    ({"aisb:certReportBucket": "x"}, "aisb:certReportBucket: got 'x'"),
    ({"aisb:certReportFormat": "parquet"}, "aisb:certReportFormat: got 'parquet'"),
    ({"aisb:certReportThingNames": "true"}, "aisb:certReportThingNames: got True"),
    ({"aisb:certReportAlways": "x"}, "aisb:certReportAlways: got 'x'"),
    ({"aisb:alertEmail": '["a@example.com"]'}, "did you mean aisb:alertEmails?"),
    ({"aws-native:region": "us-west-2"}, "aws-native:region: got 'us-west-2'"),
]


@pytest.mark.parametrize(("override", "message"), PROGRAM_ERRORS)
def test_program_stops_before_registering_anything(override: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        run_main({**BASE, **override}, region="eu-west-1")
    assert message in str(err.value)


def test_program_registers_nothing_on_error() -> None:
    for override, _ in PROGRAM_ERRORS:
        recording = Recording()
        with pytest.raises(ConfigError):
            run_main({**BASE, **override}, region="eu-west-1", recording=recording)
        assert recording.resources == [] and recording.calls == [], override


# --- declarations agree -----------------------------------------------------------------------


def test_pulumi_yaml_declares_every_key_with_the_same_type_default_and_description() -> None:
    declared = project_file()["config"]
    for key in KEYS:
        decl = declared[key.name]
        assert {k: v for k, v in decl.items() if k in ("type", "items")} == key.declaration
        assert decl["type"] == ("array" if key.type == "object-list" else key.type), key.name
        assert decl["description"] == key.description, key.name
        if key.required:
            assert "default" not in decl, key.name
        else:
            # The CLI refuses a stack that lacks a declared key with no default.
            assert decl["default"] == key.default, key.name
        if key.type == "array":
            assert decl["items"] == {"type": "string"}
        if key.type == "object-list":
            assert decl["items"] == {"type": "object"}
    assert set(declared) == {k.name for k in KEYS}
    assert {"tags", "detectRules", "customMetrics"} <= set(declared)


def test_the_configuration_page_documents_every_key() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text()
    for key in KEYS:
        assert f"`aisb:{key.name}`" in page, key.name


def test_settings_is_the_only_module_reading_config() -> None:
    for path in (ROOT / "aisb").rglob("*.py"):
        if path.name == "settings.py":
            continue
        text = path.read_text()
        assert "pulumi.Config" not in text and "runtime.config" not in text, path
    assert project_file()["name"] == settings.NAMESPACE


def test_the_error_lists_every_problem_on_its_own_line() -> None:
    error = ConfigError(["aisb:a: bad", "aisb:b: worse"])
    assert str(error) == "invalid aisb stack configuration:\n  - aisb:a: bad\n  - aisb:b: worse"
    assert error.problems == ["aisb:a: bad", "aisb:b: worse"]


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("cert_max_age_days", "certMaxAgeDays"),
        ("detect_rules[2].ports", "detectRules[2].ports"),
        ("detect_rules[0].some_field[1]", "detectRules[0].some_field[1]"),
        ("tags.cost_centre", "tags.cost_centre"),  # a tag key is the user's, kept as written
        ("tags.cost_centre[0]", "tags.cost_centre[0]"),  # only the argument is renamed
    ],
)
def test_an_argument_path_maps_back_to_the_key_path_it_came_from(path: str, key: str) -> None:
    from aisb.settings import _where

    assert _where(path) == key
