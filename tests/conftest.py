"""The recording mock harness: runs real program and component code under Pulumi's mock
engine and keeps every registration, so tests assert on what ``pulumi up`` would create.

Fake outputs are well-formed ARNs of each resource's own shape, in the account, region and
partition the test chose, so policies built from them look like the real thing to parliament
and cfn-lint.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc

ROOT = Path(__file__).resolve().parent.parent
STACKS_DIR = ROOT / "stacks"
ACCOUNT = "123456789012"


@dataclass
class Registration:
    """One resource registration as the engine received it."""

    type: str
    name: str
    urn: str
    parent: str
    custom: bool
    inputs: dict[str, Any]
    provider: str
    providers: dict[str, str]
    retain_on_delete: bool
    dependencies: list[str]
    delete_before_replace: bool = False
    aliases: list[str] = field(default_factory=list)
    """The former names the resource is known by (alias specs, or the name part of URNs)."""
    id: str = ""
    state: dict[str, Any] = field(default_factory=dict)


@dataclass
class Recording:
    """Everything a program registered and invoked."""

    resources: list[Registration] = field(default_factory=list)
    reads: list[Registration] = field(default_factory=list)
    """Existing resources the program reads (``Resource.get``): looked up, never created."""
    calls: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)
    account: str = ACCOUNT
    region: str = "us-east-1"
    partition: str = "aws"

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str) -> Registration:
        found = self.of_type(type_)
        assert len(found) == 1, f"expected one {type_}, found {[r.name for r in found]}"
        return found[0]

    def by_name(self, name: str) -> Registration:
        found = [r for r in self.resources if r.name == name]
        assert len(found) == 1, f"expected one resource named {name}, found {len(found)}"
        return found[0]

    def by_urn(self, urn: str) -> Registration:
        return next(r for r in self.resources if r.urn == urn)

    def waits_for(self, resource: Registration, urn: str) -> bool:
        """Whether ``resource`` is created after ``urn``: directly or through its dependencies."""
        seen: set[str] = set()
        todo = list(resource.dependencies)
        while todo:
            dep = todo.pop()
            if dep == urn:
                return True
            if dep not in seen:
                seen.add(dep)
                todo += next((r.dependencies for r in self.resources if r.urn == dep), [])
        return False

    def custom(self) -> list[Registration]:
        return [
            r for r in self.resources if r.custom and not r.type.startswith("pulumi:providers:")
        ]


def _suffix(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:8]


class FakeAws(pulumi.runtime.Mocks):
    """Mock provider behaviour: outputs shaped like AWS's, invokes answered for one account."""

    def __init__(self, account: str, region: str, partition: str) -> None:
        self.account, self.region, self.partition = account, region, partition
        # Explicit providers by id, with the region each was configured for: resources and
        # invokes through a provider answer for its region.
        self.provider_regions: dict[str, str] = {}
        self.missing_thing_groups: set[str] = set()

    def _region_of(self, provider_ref: str | None) -> str:
        provider_id = (provider_ref or "").rsplit("::", 1)[-1]
        return self.provider_regions.get(provider_id, self.region)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        state = dict(args.inputs)
        name = args.name
        if args.typ.startswith("pulumi:providers:"):
            provider_id = f"{name}-provider-id"
            if "region" in args.inputs:
                self.provider_regions[provider_id] = args.inputs["region"]
            return provider_id, state
        region = self._region_of(args.provider)

        def arn(service: str, resource: str, regional: bool = True) -> str:
            where = region if regional else ""
            return f"arn:{self.partition}:{service}:{where}:{self.account}:{resource}"

        physical = f"{name}-{_suffix(name)}"
        t = args.typ
        if t == "aws:kms/key:Key":
            key_id = f"{_suffix(name)}-0000-4000-8000-{_suffix(name + 'k')}0000"
            state.update(arn=arn("kms", f"key/{key_id}"), keyId=key_id)
            return key_id, state
        if t == "aws:sns/topic:Topic":
            state.update(arn=arn("sns", physical), name=physical)
        elif t == "aws:sns/topicSubscription:TopicSubscription":
            state.update(arn=f"{args.inputs['topic']}:{_suffix(name)}")
        elif t == "aws:iam/role:Role":
            state.update(arn=arn("iam", f"role/{physical}", regional=False), name=physical)
            return physical, state
        elif t == "aws:iam/rolePolicy:RolePolicy":
            return f"{args.inputs.get('role')}:{physical}", state
        elif t == "aws:cloudwatch/logGroup:LogGroup":
            group = args.inputs.get("name") or args.inputs.get("namePrefix", "") + _suffix(name)
            state.update(arn=arn("logs", f"log-group:{group}"), name=group)
            return group, state
        elif t == "aws:accessanalyzer/analyzer:Analyzer":
            analyzer = args.inputs["analyzerName"]
            state.update(arn=arn("access-analyzer", f"analyzer/{analyzer}"))
            return analyzer, state
        elif t == "aws:lambda/function:Function":
            state.update(
                arn=arn("lambda", f"function:{physical}"),
                name=physical,
                invokeArn=f"arn:{self.partition}:apigateway:{region}:lambda:path/functions",
            )
            return physical, state
        elif t == "aws:sqs/queue:Queue":
            state.update(
                arn=arn("sqs", physical),
                name=physical,
                url=f"https://sqs.{region}.amazonaws.com/{self.account}/{physical}",
            )
            return state["url"], state
        elif t == "aws:dynamodb/table:Table":
            state.update(arn=arn("dynamodb", f"table/{physical}"), name=physical)
            return physical, state
        elif t == "aws:cloudwatch/eventRule:EventRule":
            rule = args.inputs.get("name", physical)
            state.update(arn=arn("events", f"rule/{rule}"), name=rule)
            return rule, state
        elif t == "aws:s3/bucket:Bucket":
            bucket = physical.lower()
            state.update(arn=f"arn:{self.partition}:s3:::{bucket}", bucket=bucket, region=region)
            return bucket, state
        elif t == "aws:iot/thingGroup:ThingGroup":
            if args.resource_id in self.missing_thing_groups:
                # What AWS IoT answers for a group that does not exist.
                raise Exception(
                    f"reading IoT Thing Group ({args.resource_id}): ResourceNotFoundException"
                )
            group = args.inputs.get("name") or args.resource_id or physical
            state.update(arn=arn("iot", f"thinggroup/{group}"), name=group)
            return group, state
        elif t == "aws:iot/policy:Policy":
            policy = args.inputs.get("name", physical)
            state.update(arn=arn("iot", f"policy/{policy}"), name=policy)
            return policy, state
        elif t in ("aws-native:iot:MitigationAction", "aws-native:iot:SecurityProfile"):
            kind = "mitigationaction" if t.endswith("MitigationAction") else "securityprofile"
            key = "actionName" if kind == "mitigationaction" else "securityProfileName"
            named = args.inputs.get(key, physical)
            state.update({key: named, f"{key[:-4]}Arn": arn("iot", f"{kind}/{named}")})
            return named, state
        elif t == "aws:cloudtrail/trail:Trail":
            trail = args.inputs.get("name", physical)
            state.update(arn=arn("cloudtrail", f"trail/{trail}"), name=trail)
            return trail, state
        elif t == "aws:guardduty/detector:Detector":
            return hashlib.md5(name.encode()).hexdigest(), state
        elif t == "aws:iot/roleAlias:RoleAlias":
            state.update(arn=arn("iot", f"rolealias/{args.inputs['alias']}"))
            return args.inputs["alias"], state
        elif t == "aws-native:iot:JobTemplate":
            state.update(arn=arn("iot", f"jobtemplate/{args.inputs['jobTemplateId']}"))
            return args.inputs["jobTemplateId"], state
        elif t == "aws:cloudwatch/metricAlarm:MetricAlarm":
            state.update(arn=arn("cloudwatch", f"alarm:{physical}"))
        elif t == "aws-native:iot:ScheduledAudit":
            audit = args.inputs.get("scheduledAuditName", physical)
            state.update(
                scheduledAuditName=audit,
                scheduledAuditArn=arn("iot", f"scheduledaudit/{audit}"),
            )
            return audit, state
        return f"{name}-id", state

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return self._answer(args.token, self._region_of(args.provider)), []

    def _answer(self, token: str, region: str) -> dict[str, Any]:
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": self.account,
                "arn": f"arn:{self.partition}:iam::{self.account}:user/deployer",
                "userId": "AIDAEXAMPLE",
                "id": self.account,
            }
        if token == "aws:index/getRegion:getRegion":
            return {
                "region": region,
                "name": region,
                "id": region,
                "endpoint": f"ec2.{region}.amazonaws.com",
                "description": region,
            }
        if token == "aws:iot/getEndpoint:getEndpoint":
            return {
                "endpointAddress": f"c1a2b3c4d5e6f7.credentials.iot.{region}.amazonaws.com",
                "id": region,
                "endpointType": "iot:CredentialProvider",
            }
        if token == "aws:index/getPartition:getPartition":
            suffix = "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com"
            return {
                "partition": self.partition,
                "dnsSuffix": suffix,
                "id": self.partition,
                "reverseDnsPrefix": "com.amazonaws",
            }
        raise AssertionError(f"unexpected invoke {token}")


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock engine, keeping each registration with its parent, providers and options."""

    def __init__(self, mocks: FakeAws, recording: Recording) -> None:
        super().__init__(mocks)
        self.recording = recording
        self._lock = threading.Lock()

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        registration = Registration(
            type=request.type,
            name=request.name,
            urn=response.urn,
            parent=request.parent,
            custom=bool(request.custom),
            inputs=rpc.deserialize_properties(request.object),
            provider=request.provider,
            providers=dict(request.providers),
            retain_on_delete=bool(request.retainOnDelete),
            dependencies=list(request.dependencies),
            delete_before_replace=bool(request.deleteBeforeReplace),
            aliases=[a.spec.name or a.urn.rsplit("::", 1)[-1] for a in request.aliases]
            + [urn.rsplit("::", 1)[-1] for urn in request.aliasURNs],
            id=response.id,
            state=self.resources[response.urn].state,
        )
        with self._lock:
            self.recording.resources.append(registration)
        return response

    def ReadResource(self, request: Any) -> Any:
        response = super().ReadResource(request)
        with self._lock:
            self.recording.reads.append(
                Registration(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    parent=request.parent,
                    custom=True,
                    inputs={},
                    provider=request.provider,
                    providers={},
                    retain_on_delete=False,
                    dependencies=list(request.dependencies),
                    id=request.id,
                    state=self.resources[response.urn].state,
                )
            )
        return response

    def Invoke(self, request: Any) -> Any:
        args = rpc.deserialize_properties(request.args)
        with self._lock:
            self.recording.calls.append((request.tok, dict(args), request.provider))
        return super().Invoke(request)


def run(
    program: Callable[[], Any],
    config: dict[str, str] | None = None,
    *,
    region: str = "us-east-1",
    partition: str = "aws",
    account: str = ACCOUNT,
    project: str = "aisb",
    stack: str = "test",
    recording: Recording | None = None,
    secret_keys: list[str] | None = None,
    missing_thing_groups: set[str] | None = None,
) -> Recording:
    """Run ``program`` under mocks with ``config`` (``secret_keys`` marked secret) and return
    what it registered (into ``recording`` when given, so a caller sees what was registered
    even if it raises)."""
    if recording is None:
        recording = Recording()
    recording.account, recording.region, recording.partition = account, region, partition
    fake = FakeAws(account, region, partition)
    fake.missing_thing_groups = set(missing_thing_groups or ())
    pulumi.runtime.set_mocks(
        fake, project=project, stack=stack, preview=False, monitor=RecordingMonitor(fake, recording)
    )
    pulumi.runtime.set_all_config(dict(config or {}), list(secret_keys or []))

    @pulumi.runtime.test
    def body() -> None:
        program()

    body()
    return recording


# --- configuration ---------------------------------------------------------------------------

MINIMAL_CONFIG = {
    "aws:region": "us-east-1",
    "aws-native:region": "us-east-1",
    "aisb:alertEmails": '["security@example.com"]',
}


def config_problems(override: dict[str, str]) -> list[str]:
    """The problems settings reports for the minimal configuration with ``override``."""
    from aisb.settings import ConfigError, parse

    with pytest.raises(ConfigError) as err:
        parse({**MINIMAL_CONFIG, **override})
    return err.value.problems


# --- stack files, as `pulumi up` receives them ---------------------------------------------


def project_file(root: Path = ROOT) -> dict[str, Any]:
    return yaml.safe_load((root / "Pulumi.yaml").read_text())


def _raw(value: Any) -> str:
    """A YAML config value as the Pulumi CLI hands it to the program."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value)


class CliConfigError(Exception):
    """What the Pulumi CLI itself refuses before it runs the program."""


_YAML_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "boolean": (bool,),
    "array": (list,),
}


def _matches(value: Any, decl: dict[str, Any]) -> bool:
    kind = decl["type"]
    if kind == "integer" and isinstance(value, bool):
        return False
    if not isinstance(value, _YAML_TYPES[kind]):
        return False
    if isinstance(value, list):
        return all(_matches(v, decl["items"]) for v in value)
    return True


def stack_config(path: Path, root: Path = ROOT, stack: str | None = None) -> dict[str, str]:
    """A stack's config as the Pulumi CLI hands it to the program: the project's declared
    defaults applied and every value a raw string. Like the CLI, refuses a stack that lacks
    a declared key without a default, or gives a declared key a value of another type."""
    project = project_file(root)
    namespace = project["name"]
    stack_name_ = stack or path.name
    values = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    values = {(k if ":" in k else f"{namespace}:{k}"): v for k, v in values.items()}
    config: dict[str, str] = {}
    for key, decl in (project.get("config") or {}).items():
        full = key if ":" in key else f"{namespace}:{key}"
        if not isinstance(decl, dict) or "type" not in decl:
            continue
        if full in values:
            if not _matches(values[full], decl):
                raise CliConfigError(
                    f"Stack '{stack_name_}' with configuration key '{key}' must be of type "
                    f"'{decl['type']}'"
                )
        elif "default" in decl:
            config[full] = _raw(decl["default"])
        else:
            raise CliConfigError(f"Stack '{stack_name_}' is missing configuration value '{key}'")
    for full, value in values.items():
        config[full] = _raw(value)
    return config


def stack_files() -> list[Path]:
    return sorted(STACKS_DIR.glob("Pulumi.*.yaml"))


def stack_name(path: Path) -> str:
    return re.sub(r"^Pulumi\.(.+)\.yaml$", r"\1", path.name)


def run_main(config: dict[str, str], **kwargs: Any) -> Recording:
    """Run the real ``__main__.py`` with ``config``."""
    source = (ROOT / "__main__.py").read_text()
    code = compile(source, str(ROOT / "__main__.py"), "exec")
    return run(lambda: exec(code, {"__name__": "__main__"}), config, **kwargs)


@pytest.fixture(scope="session")
def stack_recordings() -> dict[str, Recording]:
    """Every stack file in stacks/, run once through the real program."""
    recordings = {}
    for path in stack_files():
        config = stack_config(path)
        recordings[stack_name(path)] = run_main(
            config, region=config["aws:region"], stack=stack_name(path)
        )
    return recordings


# --- validators ------------------------------------------------------------------------------


def _pascal(value: Any) -> Any:
    if isinstance(value, dict):
        return {k[:1].upper() + k[1:]: _pascal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_pascal(v) for v in value]
    return value


_CFN_SERVICE = {"iot": "IoT"}


def cfn_template(recording: Recording) -> dict[str, Any]:
    """Every aws-native resource rendered as a CloudFormation template."""
    resources = {}
    for r in recording.custom():
        if not r.type.startswith("aws-native:"):
            continue
        _, module, kind = r.type.split(":")
        logical = re.sub(r"[^A-Za-z0-9]", "", r.name.title())
        resources[logical] = {
            "Type": f"AWS::{_CFN_SERVICE[module]}::{kind}",
            "Properties": _pascal(r.inputs),
        }
    return {"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources}


def cfn_lint_errors(recording: Recording) -> list[str]:
    from cfnlint.api import lint

    template = cfn_template(recording)
    if not template["Resources"]:
        return []
    matches = lint(json.dumps(template), regions=[recording.region])
    return [f"{m.rule.id} {m.message} ({'/'.join(map(str, m.path))})" for m in matches]


@dataclass
class PolicyDocument:
    """A policy document found in a resource's inputs."""

    resource: Registration
    input: str
    document: dict[str, Any]

    @property
    def kind(self) -> str:
        """identity, trust, key, resource or iot: how it must be read."""
        if self.resource.type == "aws:iot/policy:Policy":
            return "iot"
        if self.resource.type == "aws:iam/role:Role" and self.input == "assumeRolePolicy":
            return "trust"
        if self.resource.type == "aws:kms/key:Key":
            return "key"
        if any(s.get("Principal") for s in self.document["Statement"]):
            return "resource"
        return "identity"


def policy_documents(recording: Recording) -> list[PolicyDocument]:
    """Every policy document in any input of any resource."""

    def walk(value: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
        if isinstance(value, str) and '"Statement"' in value:
            yield where, json.loads(value)
        elif isinstance(value, dict):
            if "Statement" in value and "Version" in value:
                yield where, value
            else:
                for k, v in value.items():
                    yield from walk(v, f"{where}.{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                yield from walk(v, f"{where}[{i}]")

    return [
        PolicyDocument(r, where.lstrip("."), doc)
        for r in recording.resources
        for where, doc in walk(r.inputs, "")
    ]


def parliament_findings(policy: PolicyDocument) -> list[str]:
    """parliament's findings on one document, read the way AWS reads its kind.

    Identity policies get every auditor, community ones included. parliament only models
    identity policies, so the others are given the resource AWS implies: a trust policy
    applies to its role, and ``"Resource": "*"`` in a key policy means that key.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pkg_resources deprecation
        from parliament import analyze_policy_string

    if policy.kind == "iot":
        return iot_policy_findings(policy)
    # Policy variables are filled in when a request is evaluated; give them a sample value.
    text = re.sub(r"\$\{[^}]+\}", "sample-value", json.dumps(policy.document))
    doc = json.loads(text)
    own_arn = policy.resource.state.get("arn")
    if policy.kind == "trust":
        for statement in doc["Statement"]:
            statement.setdefault("Resource", own_arn)
    elif policy.kind == "key":
        for statement in doc["Statement"]:
            if statement.get("Resource") == "*":
                statement["Resource"] = own_arn
    analysed = analyze_policy_string(
        json.dumps(doc), include_community_auditors=policy.kind == "identity"
    )
    return [
        f"{policy.resource.name}.{policy.input}: {f.issue}: {f.detail} {f.location}"
        for f in analysed.findings
    ]


# The actions an AWS IoT (not IAM) policy can grant, from AWS IoT Core's policy reference.
IOT_POLICY_ACTIONS = frozenset(
    {
        "iot:Connect",
        "iot:Publish",
        "iot:RetainPublish",
        "iot:Subscribe",
        "iot:Receive",
        "iot:GetRetainedMessage",
        "iot:ListRetainedMessages",
        "iot:DeleteThingShadow",
        "iot:GetThingShadow",
        "iot:UpdateThingShadow",
        "iot:AssumeRoleWithCertificate",
        "iot:DescribeJobExecution",
        "iot:GetPendingJobExecutions",
        "iot:StartNextPendingJobExecution",
        "iot:UpdateJobExecution",
    }
)


def iot_policy_findings(policy: PolicyDocument) -> list[str]:
    """AWS IoT policies are not IAM policies (parliament does not know their actions): each
    allow names known IoT policy actions on specific resources; only a deny may be broad."""
    findings = []
    for statement in policy.document["Statement"]:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        resources = (
            statement["Resource"]
            if isinstance(statement["Resource"], list)
            else [statement["Resource"]]
        )
        if statement["Effect"] == "Deny":
            continue
        findings += [
            f"{policy.resource.name}: unknown IoT policy action {a}"
            for a in actions
            if a not in IOT_POLICY_ACTIONS
        ]
        findings += [
            f"{policy.resource.name}: allow on every resource" for r in resources if r == "*"
        ]
    return findings
