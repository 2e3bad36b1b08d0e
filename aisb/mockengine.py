"""Pulumi's mock engine, recording: runs real program and component code with no credentials,
backend or network and keeps every registration, read and invoke. The tests assert on what
``pulumi up`` would do with it, and ``aisb plan`` renders a stack's plan from it.

Fake outputs are well-formed ARNs of each resource's own shape, in the account, region and
partition chosen, so policies built from them look like the real thing to parliament and
cfn-lint. Names are derived from the resource name by a hash, so two runs of one program give
the same values.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc

ACCOUNT = "123456789012"


def partition(region: str) -> str:
    """The AWS partition a region belongs to."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


# Resources whose id is their ``name`` input (or the auto-name), with their ARN's service and
# resource prefix.
_NAMED_BY_INPUT = {
    "aws:cloudwatch/eventRule:EventRule": ("events", "rule/"),
    "aws:iot/policy:Policy": ("iot", "policy/"),
    "aws:cloudtrail/trail:Trail": ("cloudtrail", "trail/"),
    "aws:iot/topicRule:TopicRule": ("iot", "rule/"),
}


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
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    """For each input, the URNs of the resources its value comes from."""
    import_id: str = ""
    """The id of an existing resource the program adopts (the ``import`` option)."""
    ignore_changes: list[str] = field(default_factory=list)
    """The inputs an update leaves as they are (the ``ignore_changes`` option)."""


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
        if t in _NAMED_BY_INPUT:
            service, prefix = _NAMED_BY_INPUT[t]
            named = args.inputs.get("name", physical)
            state.update(arn=arn(service, f"{prefix}{named}"), name=named)
            return named, state
        elif t == "aws:sns/topic:Topic":
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
        elif t in ("aws-native:iot:MitigationAction", "aws-native:iot:SecurityProfile"):
            kind = "mitigationaction" if t.endswith("MitigationAction") else "securityprofile"
            key = "actionName" if kind == "mitigationaction" else "securityProfileName"
            named = args.inputs.get(key, physical)
            state.update({key: named, f"{key[:-4]}Arn": arn("iot", f"{kind}/{named}")})
            return named, state
        elif t == "aws:guardduty/detector:Detector":
            return hashlib.md5(name.encode()).hexdigest(), state
        elif t == "aws:iot/roleAlias:RoleAlias":
            state.update(arn=arn("iot", f"rolealias/{args.inputs['alias']}"))
            return args.inputs["alias"], state
        elif t == "aws-native:iot:JobTemplate":
            state.update(arn=arn("iot", f"jobtemplate/{args.inputs['jobTemplateId']}"))
            return args.inputs["jobTemplateId"], state
        elif t == "aws:securityhub/productSubscription:ProductSubscription":
            # EnableImportFindingsForProduct's answer: a subscription ARN in this account.
            product = str(args.inputs["productArn"]).split(":product/", 1)[1]
            state.update(arn=arn("securityhub", f"product-subscription/{product}"))
            return f"{args.inputs['productArn']},{state['arn']}", state
        elif t == "aws:iot/domainConfiguration:DomainConfiguration":
            named = args.inputs["name"]
            # IAM's form: domainconfiguration/<name>/<id> (Service Authorization Reference).
            state.update(
                arn=arn("iot", f"domainconfiguration/{named}/{_suffix(named)[:5]}"),
                domainType="AWS_MANAGED",
            )
            return named, state
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
        return self._answer(args.token, self._region_of(args.provider), args.args), []

    def _answer(
        self, token: str, region: str, args: dict[str, Any] | None = None
    ) -> dict[str, Any]:
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
            kind = (args or {}).get("endpointType") or "iot:CredentialProvider"
            host = {"iot:Data-ATS": "-ats.iot", "iot:CredentialProvider": ".credentials.iot"}
            return {
                "endpointAddress": f"c1a2b3c4d5e6f7{host[kind]}.{region}.amazonaws.com",
                "id": region,
                "endpointType": kind,
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
            import_id=str(request.importId),
            ignore_changes=list(request.ignoreChanges),
            dependencies=list(request.dependencies),
            delete_before_replace=bool(request.deleteBeforeReplace),
            aliases=[a.spec.name or a.urn.rsplit("::", 1)[-1] for a in request.aliases]
            + [urn.rsplit("::", 1)[-1] for urn in request.aliasURNs],
            id=response.id,
            state=self.resources[response.urn].state,
            property_dependencies={
                name: sorted(deps.urns) for name, deps in request.propertyDependencies.items()
            },
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


def run_program(program: Path, config: dict[str, str] | None = None, **kwargs: Any) -> Recording:
    """Run a Pulumi program file (a ``__main__.py``) under mocks, as the language host runs
    it: as ``__main__``, with its own ``__file__``. Takes ``run``'s keyword arguments."""
    code = compile(program.read_text(), str(program), "exec")
    scope = {"__name__": "__main__", "__file__": str(program)}
    return run(lambda: exec(code, scope), config, **kwargs)
