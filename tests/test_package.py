"""aisb as a Pulumi package other languages use: the schema Pulumi infers from the components'
Args, the provider host started as Pulumi starts it, and a component built through the
provider's Construct from camelCase inputs, as a TypeScript, Go, C# or YAML program sends
them."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from typing import Any

import pytest
from pulumi.provider.experimental.analyzer import PropertyDefinition

from aisb import choices
from aisb.plugin import AisbProvider, version
from tests.harness import ROOT, Recording, run

REQUIRED = {
    "SecurityAlerts": {"accountId", "partition"},
    "IotLogging": {"accountId", "region", "partition"},
    "DeviceDefenderAudit": {"accountId", "partition", "alertTopicArn"},
    "CertificateRotationMonitor": {"accountId", "region", "partition", "alertTopicArn"},
    "CertificateRotation": {
        "accountId",
        "region",
        "partition",
        "dataEndpoint",
        "alertTopicArn",
    },
    "BehaviorMonitoring": {"accountId", "region", "partition", "alertTopicArn"},
    "FleetAnomalyAlarms": {"alertTopicArn"},
    "DetectMitigations": {"accountId", "region", "partition", "alertTopicArn"},
    "AccessAnalyzer": set(),
    "ProtectedAuditTrail": {"accountId", "region", "partition"},
    "ThreatDetection": {"partition", "alertTopicArn", "ruleName"},
    "DeviceLogCollection": {"accountId", "region", "partition", "credentialEndpoint"},
    "SecurityHubFindings": {"region", "partition"},
    "EndpointTlsPolicy": set(),
    "IotSecurityBaseline": set(),
}
CHOICES = [
    choices.LogLevel,
    choices.AuditFrequency,
    choices.DayOfWeek,
    choices.BehaviorDetection,
    choices.Confidence,
    choices.ReportFormat,
    choices.ObjectLockMode,
    choices.CustomMetricType,
    choices.MetricMonitor,
    choices.RuleOperator,
    choices.IotTlsPolicy,
]


@pytest.fixture(scope="module")
def provider() -> AisbProvider:
    return AisbProvider()


@pytest.fixture(scope="module")
def schema(provider: AisbProvider) -> dict[str, Any]:
    assert provider.schema is not None
    return json.loads(provider.schema)


def _refs(value: Any) -> list[str]:
    if isinstance(value, dict):
        own = [value["$ref"]] if "$ref" in value else []
        return own + [r for v in value.values() for r in _refs(v)]
    if isinstance(value, list):
        return [r for v in value for r in _refs(v)]
    return []


def test_every_component_is_in_the_schema_with_its_required_inputs(
    schema: dict[str, Any],
) -> None:
    assert {r.split(":")[-1] for r in schema["resources"]} == set(REQUIRED)
    for component, required in REQUIRED.items():
        resource = schema["resources"][f"aisb:index:{component}"]
        assert resource["isComponent"] is True
        assert set(resource.get("requiredInputs", [])) == required, component
        # Every input is described, from its docstring.
        for name, prop in resource["inputProperties"].items():
            assert prop.get("description"), f"{component}.{name}"


def _descriptions(value: Any, path: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        own = [(path, value["description"])] if isinstance(value.get("description"), str) else []
        return own + [d for k, v in value.items() for d in _descriptions(v, f"{path}/{k}")]
    if isinstance(value, list):
        return [d for i, v in enumerate(value) for d in _descriptions(v, f"{path}/{i}")]
    return []


def test_every_description_reads_as_markdown_prose(schema: dict[str, Any]) -> None:
    found = _descriptions(schema)
    assert len(found) > 100
    for path, text in found:
        assert text == text.strip(), path
        # Source indentation of four spaces would make each SDK's Markdown a code block
        # (list items continue with two).
        assert "\n    " not in text, path


def test_no_input_is_any_and_every_choice_is_an_enum(schema: dict[str, Any]) -> None:
    assert "pulumi.json#/Any" not in _refs(schema)
    for choice in CHOICES:
        declared = schema["types"][f"aisb:index:{choice.__name__}"]
        assert declared["type"] == "string"
        assert [e["value"] for e in declared["enum"]] == [str(m) for m in choice]
    baseline = schema["resources"]["aisb:index:IotSecurityBaseline"]["inputProperties"]
    assert baseline["iotLogLevel"]["$ref"] == "#/types/aisb:index:LogLevel"
    assert baseline["behaviorDetection"]["$ref"] == "#/types/aisb:index:BehaviorDetection"


def test_rules_and_custom_metrics_are_typed_objects(schema: dict[str, Any]) -> None:
    baseline = schema["resources"]["aisb:index:IotSecurityBaseline"]["inputProperties"]
    assert baseline["detectRules"]["items"]["$ref"] == "#/types/aisb:index:DetectRuleArgs"
    assert baseline["customMetrics"]["items"]["$ref"] == "#/types/aisb:index:CustomMetricArgs"
    rule = schema["types"]["aisb:index:DetectRuleArgs"]
    assert set(rule["required"]) == {"name", "metric", "operator"}
    assert rule["properties"]["ports"]["type"] == "array"
    assert rule["properties"]["ports"]["items"]["type"] == "integer"
    assert rule["properties"]["value"]["type"] == "number"
    assert rule["properties"]["operator"]["$ref"] == "#/types/aisb:index:RuleOperator"
    metric = schema["types"]["aisb:index:CustomMetricArgs"]
    assert set(metric["required"]) == {"name", "type"}
    assert metric["properties"]["rule"]["$ref"] == "#/types/aisb:index:CustomMetricRuleArgs"


def test_the_package_version_is_the_projects(schema: dict[str, Any]) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert schema["name"] == "aisb"
    # A stable namespace: the generated SDKs are @aisb/aisb, aisb_aisb, github.com/aisb/pulumi-aisb.
    assert schema["namespace"] == "aisb"
    assert schema["version"] == version() == pyproject["project"]["version"]


def test_the_plugin_folder_is_what_pulumi_package_add_loads() -> None:
    plugin = ROOT / "provider"
    manifest = (plugin / "PulumiPlugin.yaml").read_text()
    assert "name: python" in manifest and "toolchain: uv" in manifest
    assert "main(AisbProvider()" in (plugin / "__main__.py").read_text()
    # The plugin's own project installs aisb from this repository.
    project = tomllib.loads((plugin / "pyproject.toml").read_text())
    assert project["project"]["dependencies"] == ["aisb"]
    assert project["tool"]["uv"]["sources"]["aisb"] == {"path": "..", "editable": True}


@pytest.mark.slow
def test_the_provider_host_serves_the_schema_over_grpc(schema: dict[str, Any]) -> None:
    import grpc
    from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

    # As Pulumi starts a plugin: the engine's address as argument; the port on stdout.
    host = subprocess.Popen(
        [sys.executable, str(ROOT / "provider" / "__main__.py"), "127.0.0.1:1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert host.stdout is not None
        port = int(host.stdout.readline().decode().strip())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = provider_pb2_grpc.ResourceProviderStub(channel)
            response = stub.GetSchema(provider_pb2.GetSchemaRequest(version=0), timeout=60)
    finally:
        host.terminate()
        host.wait(timeout=30)
    assert json.loads(response.schema) == schema


def test_construct_builds_the_baseline_from_camel_case_inputs(provider: AisbProvider) -> None:
    inputs = {
        "alertEmails": ["secops@example.com"],
        "iotLogLevel": "WARN",
        "certMaxAgeDays": 730.0,  # numbers arrive from other languages as floats
        "behaviorDetection": "ml-detect",
        "detectRules": [
            {
                "name": "burst",
                "metric": "aws:num-messages-sent",
                "operator": "less-than-equals",
                "value": 600.0,
                "durationSeconds": 300.0,
            }
        ],
        "tags": {"team": "iot"},
    }
    rec = run(lambda: provider.construct("b", "aisb:index:IotSecurityBaseline", inputs))
    options = rec.one("aws:iot/loggingOptions:LoggingOptions").inputs
    assert options["defaultLogLevel"] == "WARN"
    audit = rec.one("aws-native:iot:AccountAuditConfiguration").inputs
    age = audit["auditCheckConfigurations"]["deviceCertificateAgeCheck"]["configuration"]
    assert age["certAgeThresholdInDays"] == "730"
    rules = next(
        r.inputs
        for r in rec.of_type("aws-native:iot:SecurityProfile")
        if r.name == "b-behavior-rules-profile"
    )
    (behavior,) = rules["behaviors"]
    assert behavior["criteria"]["value"] == {"count": "600"}
    assert behavior["criteria"]["durationSeconds"] == 300
    assert rec.one("aws:sns/topic:Topic").inputs["tags"]["team"] == "iot"


def test_construct_refuses_a_bad_input_naming_the_argument(provider: AisbProvider) -> None:
    recording = Recording()
    with pytest.raises(Exception, match=r"argument 'cert_max_age_days' got 10\.0"):
        run(
            lambda: provider.construct(
                "b",
                "aisb:index:IotSecurityBaseline",
                {"alertEmails": ["secops@example.com"], "certMaxAgeDays": 10.0},
            ),
            recording=recording,
        )
    assert [r for r in recording.resources if r.custom] == []


def test_the_property_definitions_hold_no_any(provider: AisbProvider) -> None:
    def walk(prop: PropertyDefinition) -> None:
        assert prop.ref != "pulumi.json#/Any"
        for inner in (prop.items, prop.additional_properties):
            if inner is not None:
                walk(inner)

    for definition in provider._component_defs.values():
        for prop in definition.inputs.values():
            walk(prop)


def test_the_yaml_example_uses_only_what_the_schema_declares(schema: dict[str, Any]) -> None:
    import re

    import yaml

    program = yaml.safe_load((ROOT / "examples" / "yaml" / "Pulumi.yaml").read_text())
    assert program["packages"] == {"aisb": "../../provider"}
    baseline = program["resources"]["baseline"]
    resource = schema["resources"][baseline["type"]]
    assert set(baseline["properties"]) <= set(resource["inputProperties"])
    assert baseline["properties"]["iotLogLevel"] in [
        e["value"] for e in schema["types"]["aisb:index:LogLevel"]["enum"]
    ]
    for expression in program["outputs"].values():
        (output,) = re.findall(r"\$\{baseline\.(\w+)\}", expression)
        assert output in resource["properties"], output
