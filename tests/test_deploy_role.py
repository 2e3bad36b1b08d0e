"""The deploy role: a CloudFormation template every account gets from one StackSet. What it must
allow is derived from the tools' own sources (tests/harness/provider_calls.py: the CloudFormation
schemas' handler permissions and Cloud Control for aws-native, the Terraform provider's calls
for aws), on the ARNs, tags and roles the program really generates, and evaluated against the
rendered template with its conditions (tests/harness/iam_eval.py). It must not be able to make
itself more than that."""

from __future__ import annotations

import contextlib
import copy
import json
import re
import warnings
from collections.abc import Iterator
from functools import cache
from typing import Any

import boto3
import pytest
import yaml
from botocore.exceptions import BotoCoreError, ClientError
from moto import mock_aws

from aisb.settings import parse
from aisb_tools import deploy_role
from aisb_tools.cli import preflight_checks as pf
from tests.harness import MINIMAL_CONFIG, ROOT, run_main, stack_config, stack_files
from tests.harness.iam_eval import Request, evaluate, resolve
from tests.harness.provider_calls import PROVIDER_CALLS, Need, action_info, needs, own_arns

ACCOUNT = "123456789012"
ROLE = "aisb-deployer"
PARAMS: dict[str, Any] = {
    "AWS::Partition": "aws",
    "AWS::AccountId": ACCOUNT,
    "AWS::NoValue": None,
    "RoleName": ROLE,
    "PulumiOrganization": "acme",
    "StackNames": ["prod-us-east-1", "prod-eu-west-1"],
    "GitHubRepository": "acme/iot-baseline",
    "DeployEnvironment": "aisb-deploy",
}
SELF = f"arn:aws:iam::{ACCOUNT}:role/{ROLE}"
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/{deploy_role.BOUNDARY_NAME}"

# Every optional control on, with a user-named custom metric and a fleet thing group where the
# stack has none of its own.
ALL_ON = {
    "aisb:cloudTrail": "true",
    "aisb:guardDuty": "true",
    "aisb:deviceLogs": "true",
    "aisb:behaviorDetection": "ml-detect",
    "aisb:certReportBucket": "true",
    "aisb:mitigationActions": "true",
    "aisb:securityHub": "true",
    "aisb:certRotationJobs": "true",
    "aisb:certRotationJobsAutomatic": "true",
}
EXTRA = {
    "aisb:customMetrics": json.dumps(
        [{"name": "battery-drain-rate", "type": "number", "monitor": "ml"}]
    ),
    "aisb:detectTargetGroups": json.dumps(["dev-fleet"]),
}


@cache
def _parsed_template() -> dict[str, Any]:
    parsed: dict[str, Any] = yaml.safe_load(deploy_role.TEMPLATE.read_text().split("\n", 2)[2])
    return parsed


def _template() -> dict[str, Any]:
    """The committed template, parsed once per session; each caller gets its own copy."""
    return copy.deepcopy(_parsed_template())


@cache
def _statements() -> tuple[dict[str, Any], ...]:
    """The deploy role's statements as IAM sees them: every managed policy the rendered template
    attaches to the role, intrinsics resolved."""
    template = _template()
    role = template["Resources"]["DeployRole"]["Properties"]
    assert "Policies" not in role
    out: list[dict[str, Any]] = []
    for ref in role["ManagedPolicyArns"]:
        document = template["Resources"][ref["Ref"]]["Properties"]["PolicyDocument"]
        out += resolve(document, PARAMS)["Statement"]
    return tuple(out)


def _boundary() -> list[dict[str, Any]]:
    document = _template()["Resources"]["RoleBoundary"]["Properties"]["PolicyDocument"]
    statements: list[dict[str, Any]] = resolve(document, PARAMS)["Statement"]
    return statements


def _program(path_name: str, boundary: bool = True) -> Any:
    """The stack with every optional control on, deployed as the fleet renders it: its roles
    under the deploy role's boundary (``boundary=False``: as a stack file that leaves it out).
    Rendered once per worker for each stack and boundary, however the caller names them."""
    return _render(path_name, boundary)


@cache
def _render(path_name: str, boundary: bool) -> Any:
    path = next(p for p in stack_files() if p.name == path_name)
    config = {**stack_config(path), **ALL_ON}
    for key, value in EXTRA.items():
        config.setdefault(key, value)
    if boundary:
        config["aisb:rolePermissionsBoundary"] = deploy_role.BOUNDARY_NAME
    else:
        config.pop("aisb:rolePermissionsBoundary", None)
    return run_main(config, region=config["aws:region"])


STACKS = [p.name for p in stack_files()]
# The tests that render the stacks run on one xdist worker (``xdist_group``): each render and
# the request model's sources are loaded once for the run, not once on each worker.


def _needs(path_name: str, boundary: bool = True) -> tuple[Need, ...]:
    return _requests(path_name, boundary)


@cache
def _requests(path_name: str, boundary: bool) -> tuple[Need, ...]:
    return tuple(
        needs(
            path_name.removeprefix("Pulumi.").removesuffix(".yaml"),
            _program(path_name, boundary),
        )
    )


@pytest.mark.xdist_group("deploy-role")
def test_each_stack_and_boundary_is_rendered_once_however_it_is_asked_for() -> None:
    # functools.cache keys on how the arguments are written: _program(s), _program(s, True)
    # and _program(s, boundary=True) were three renders of one program.
    stack = STACKS[0]
    assert _program(stack) is _program(stack, True) is _program(stack, boundary=True)
    assert _needs(stack) is _needs(stack, True) is _needs(stack, boundary=True)
    assert _program(stack, False) is _program(stack, boundary=False)
    assert _program(stack, False) is not _program(stack)


def test_the_evaluator_s_wildcards_are_iam_s() -> None:
    from tests.harness.iam_eval import _glob

    for pattern, value, case, expected in [
        ("iot:CreateThing", "iot:CreateThing", True, True),
        ("iot:creatething", "iot:CreateThing", False, True),
        ("iot:creatething", "iot:CreateThing", True, False),
        ("iot:Create*", "iot:CreateThingGroup", True, True),
        ("iot:*Thing", "iot:CreateThingGroup", True, False),
        ("iot:?reateThing", "iot:CreateThing", True, True),
        ("arn:aws:s3:::aisb-*/*", "arn:aws:s3:::aisb-logs/a/b", True, True),
        ("arn:aws:s3:::aisb-*", "arn:aws:s3:::other", True, False),
        # [ and ] are characters, not a class: IAM knows * and ? only.
        ("log-group:[ab]", "log-group:a", True, False),
        ("log-group:[ab]*", "log-group:[ab]x", True, True),
        ("a*", "a\nb", True, True),
    ]:
        assert _glob(pattern, value, case) is expected, (pattern, value, case)


# --- the template ---------------------------------------------------------------------------


def test_the_template_is_current() -> None:
    assert deploy_role.main(["--check"]) == 0, "run `uv run python -m aisb_tools.deploy_role`"
    assert deploy_role.TEMPLATE == ROOT / "deploy-role" / "aisb-deployer.yaml"


@pytest.mark.xdist_group("cfn-lint")
def test_cloudformation_accepts_the_template() -> None:
    from tests.harness.linters import cfn_lint

    matches = cfn_lint(deploy_role.render(), regions=["us-east-1", "eu-west-1"])
    assert [f"{m.rule.id} {m.message}" for m in matches] == []


def test_each_managed_policy_fits_iam_s_limits() -> None:
    # A managed policy holds at most 6,144 characters without whitespace; a role takes at most
    # ten managed policies (IAM quotas).
    template = _template()
    refs = template["Resources"]["DeployRole"]["Properties"]["ManagedPolicyArns"]
    assert 1 <= len(refs) <= deploy_role.MANAGED_POLICIES_PER_ROLE
    for resource in [r["Ref"] for r in refs] + ["RoleBoundary"]:
        document = resolve(template["Resources"][resource]["Properties"]["PolicyDocument"], PARAMS)
        # The account id and role name are longer once filled in than the placeholders.
        assert len(json.dumps(document, separators=(",", ":"))) <= deploy_role.MANAGED_POLICY_LIMIT


# parliament's findings a deploy role cannot avoid, each with where it may appear.
INHERENT = {
    # It creates roles and their policies, bucket, key, topic and queue policies: scoped to
    # aisb- names, inside the boundary.
    "PERMISSIONS_MANAGEMENT_ACTIONS": None,
    "RESOURCE_POLICY_PRIVILEGE_ESCALATION": None,
    "PRIVILEGE_ESCALATION": None,
    # iam:PermissionsBoundary compared with StringEquals, as IAM's own examples do
    # (https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html).
    "MISMATCHED_TYPE_BUT_USABLE": None,
    # Tagging a KMS key on create (and its key policy, CreateKey's dependent action) needs a
    # statement not restricted to particular keys (KMS developer guide).
    "RESOURCE_STAR": {"kms:PutKeyPolicy", "kms:TagResource"},
    # Security-profile actions are also authorised on the custom metrics and thing groups they
    # name, in statements of their own.
    # The default domain configuration's name, iot:Data-ATS, holds a ':', and parliament splits
    # an ARN at every ':' before it matches the resource type (domainconfiguration/<name>/<id>).
    "RESOURCE_MISMATCH": {
        "iot:AttachSecurityProfile",
        "iot:CreateSecurityProfile",
        "iot:DetachSecurityProfile",
        "iot:UpdateSecurityProfile",
        "iot:DescribeDomainConfiguration",
        "iot:UpdateDomainConfiguration",
    },
}


def test_parliament_finds_only_what_a_deploy_role_must_do() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from parliament import analyze_policy_string

    for document in deploy_role.policies():
        text = json.dumps(resolve(deploy_role._sub(document), PARAMS))
        for finding in analyze_policy_string(text, include_community_auditors=True).findings:
            assert finding.issue in INHERENT, (finding.issue, finding.detail)
            allowed = INHERENT[finding.issue]
            if allowed is not None:
                named = {d["action"] if isinstance(d, dict) else d for d in finding.detail}
                assert named <= allowed, (finding.issue, named - allowed)


# --- what a deploy needs, from the sources ---------------------------------------------------


@pytest.mark.xdist_group("deploy-role")
@pytest.mark.parametrize("stack", STACKS)
def test_every_request_a_deploy_makes_is_allowed(stack: str) -> None:
    found = _needs(stack)
    problems = [str(n) for n in found if n.problem]
    assert problems == []
    # Not vacuous: every kind of source contributed, and every declared type was asked about.
    sources = {n.source.split(" (")[0] for n in found}
    assert {"Cloud Control", "invoke"} <= sources
    assert any(s.startswith("CloudFormation schema") for s in sources)
    assert any(s.startswith("hashicorp/terraform-provider-aws") for s in sources)
    declared = {r.type for r in _program(stack).custom() if not r.type.startswith("time:")}
    assert declared == {
        n.type for n in found if not n.type.endswith("getEndpoint") and n.name != "invoke"
    }

    statements = _statements()
    denied = [
        f"{n} -> {evaluate(statements, n.request).outcome}; context {dict(n.request.context)}"
        for n in found
        if n.boundary_missing or not evaluate(statements, n.request).allowed
    ]
    assert denied == [], "\n".join(denied)


@pytest.mark.xdist_group("deploy-role")
@pytest.mark.parametrize("stack", STACKS)
def test_role_writes_are_allowed_inside_the_boundary_and_refused_outside_it(stack: str) -> None:
    """The program's roles must carry the template's boundary (``aisb:rolePermissionsBoundary``,
    which ``aisb fleet render`` sets): with it every role write is allowed, without it (a stack
    file that leaves it out) each is refused, and with another boundary too."""
    statements = _statements()
    writes = [n for n in _needs(stack, boundary=False) if n.boundary_missing]
    assert writes, "the request model lost the boundary key"
    assert {n.type for n in writes} <= {
        "aws:iam/role:Role",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    }
    assert {n.request.action for n in writes} >= {"iam:CreateRole", "iam:PutRolePolicy"}
    for need in writes:
        assert not evaluate(statements, need.request).allowed, str(need)
        inside = Request(
            need.request.action,
            need.request.resource,
            {**need.request.context, "iam:PermissionsBoundary": BOUNDARY},
        )
        assert evaluate(statements, inside).allowed, str(need)
        elsewhere = Request(
            need.request.action,
            need.request.resource,
            {
                **need.request.context,
                "iam:PermissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/other",
            },
        )
        assert not evaluate(statements, elsewhere).allowed, str(need)


def test_every_aws_type_has_one_row_citing_its_provider_file() -> None:
    types = [c.type for c in PROVIDER_CALLS]
    assert len(types) == len(set(types))
    for calls in PROVIDER_CALLS:
        assert re.fullmatch(
            r"hashicorp/terraform-provider-aws: internal/service/[a-z0-9]+/[a-z0-9_]+\.go",
            calls.source,
        ), calls.type
        assert calls.create and calls.read, calls.type
        for operation in ("create", "read", "update", "delete"):
            for entry in calls.operation(operation):
                action_info(entry.split("@")[0])  # raises for an action IAM does not have


# Reads the rewritten preflight adds (issue 17, item 8), granted ahead of it: once it is merged,
# test_the_role_allows_every_read_preflight_makes records them and this set can go.
NEXT_PREFLIGHT = {"iot:ListThingGroups", "tag:GetResources"}


@pytest.mark.xdist_group("deploy-role")
def test_what_is_never_called_is_not_granted() -> None:
    """Every action the role allows is one a deploy (any stack, every control on) or preflight
    makes: nothing left over from guesses."""
    needed = {n.request.action.lower() for stack in STACKS for n in _needs(stack)}
    needed |= {a.lower() for a in _preflight_actions()}
    needed |= {a.lower() for a in NEXT_PREFLIGHT}
    granted = {
        a.lower()
        for s in _statements()
        if s["Effect"] == "Allow"
        for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    }
    assert granted - needed == set()
    for never in (
        "cloudtrail:StopLogging",  # would blind the trail
        "cloudtrail:PutEventSelectors",
        "s3:DeleteBucket",  # every bucket is kept on destroy
        "s3:DeleteBucketPolicy",
        "iot:SetLoggingOptions",  # v1 logging: the provider sets v2
        "ec2:DescribeRegions",
    ):
        assert never.lower() not in granted, never


def test_star_only_where_aws_authorises_nothing_narrower() -> None:
    """An Allow on ``*`` holds only actions the Service Authorization Reference gives no
    required resource type, unless a condition narrows it (the KMS tag-on-create statement)."""
    for statement in _statements():
        if statement["Effect"] != "Allow" or statement["Resource"] != "*":
            continue
        for action in _list(statement["Action"]):
            scoped = [
                name for name, required, _, _ in action_info(action).resource_types if required
            ]
            assert not scoped or "Condition" in statement, (statement["Sid"], action, scoped)


def test_named_resources_are_the_baseline_s() -> None:
    """Every other resource is an aisb- name, the baseline's log groups, a tag-conditioned
    statement, this role itself, or one of the documented exceptions."""
    exceptions = {
        "DetectTargetGroups": "the fleet's thing groups: reads and aisb's profiles only",
        "PreflightReadsTheDetector": "an adopted detector carries no aisb tag",
        "DefaultEndpointTlsPolicy": "the account's default endpoint, named by AWS",
        "ServiceLinkedRoles": "conditioned on iam:AWSServiceName",
        "NeverChangeThisRole": "Deny",
        "NeverChangeTheseOrTheBoundaryPolicies": "Deny",
        "NeverRemoveABoundary": "Deny",
    }
    for statement in _statements():
        if statement["Sid"] in exceptions or statement["Resource"] == "*":
            continue
        for resource in _list(statement["Resource"]):
            name = resource.split(":", 5)[5]
            assert (
                "aisb-" in name
                or name.startswith(("log-group:/aisb/", "log-group:AWSIotLogsV2"))
                # IoT rule names take no hyphens: the baseline's name and an underscore.
                or name.startswith("rule/aisb_")
                or "Condition" in statement
                or resource == SELF
            ), (statement["Sid"], resource)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_user_named_metrics_and_groups_are_reachable_but_only_aisb_s() -> None:
    statements = _statements()
    metric = f"arn:aws:iot:us-east-1:{ACCOUNT}:custommetric/battery-drain-rate"
    group = f"arn:aws:iot:us-east-1:{ACCOUNT}:thinggroup/dev-fleet"
    tagged = {"aws:ResourceTag/aisb:control": "AISB-5"}
    assert evaluate(statements, Request("iot:DescribeCustomMetric", metric, tagged)).allowed
    assert evaluate(statements, Request("iot:UpdateCustomMetric", metric, tagged)).allowed
    # Someone else's metric (no aisb tag) cannot be changed or deleted.
    assert not evaluate(statements, Request("iot:DeleteCustomMetric", metric)).allowed
    assert not evaluate(statements, Request("iot:CreateCustomMetric", metric)).allowed
    # The fleet's groups: read at preview, aisb's profiles attached; nothing else.
    for action in (
        "iot:DescribeThingGroup",
        "iot:ListTagsForResource",
        "iot:AttachSecurityProfile",
    ):
        assert evaluate(statements, Request(action, group)).allowed, action
    for action in ("iot:DeleteThingGroup", "iot:UpdateThingGroup", "iot:TagResource"):
        assert not evaluate(statements, Request(action, group)).allowed, action
    # ... and only aisb's profiles: another profile is refused on its own ARN.
    other = f"arn:aws:iot:us-east-1:{ACCOUNT}:securityprofile/team-profile"
    assert not evaluate(statements, Request("iot:AttachSecurityProfile", other)).allowed


def test_kms_keys_are_created_and_tagged_on_create_only_with_the_baseline_s_tag() -> None:
    statements = _statements()
    tag: dict[str, str | list[str]] = {
        "aws:RequestTag/aisb:control": "AISB-7",
        "aws:TagKeys": ["aisb:control"],
    }
    for action in ("kms:CreateKey", "kms:TagResource", "kms:PutKeyPolicy"):
        assert evaluate(statements, Request(action, "*", tag)).allowed, action
        assert not evaluate(statements, Request(action, "*")).allowed, action
    key = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-0000-4000-8000-000000000000"
    # Another team's key (no aisb tag): no policy change, no deletion.
    for action in ("kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:UntagResource"):
        assert not evaluate(statements, Request(action, key)).allowed, action
    assert evaluate(
        statements, Request("kms:PutKeyPolicy", key, {"aws:ResourceTag/aisb:control": "AISB-7"})
    ).allowed
    # GuardDuty's CreateDetector authorises its own tags (aws:RequestTag on CreateDetector).
    assert evaluate(statements, Request("guardduty:CreateDetector", "*", tag)).allowed
    assert not evaluate(statements, Request("guardduty:CreateDetector", "*")).allowed


# --- it cannot make itself more ----------------------------------------------------------------

_EVERYTHING = {
    "iam:PermissionsBoundary": BOUNDARY,
    "iam:PassedToService": "lambda.amazonaws.com",
    "iam:PolicyARN": "arn:aws:iam::aws:policy/service-role/AWSIoTDeviceDefenderAudit",
    "aws:RequestTag/aisb:control": "AISB-7",
    "aws:ResourceTag/aisb:control": "AISB-7",
}


@pytest.mark.parametrize("action", deploy_role.IAM_WRITES)
def test_iam_writes_on_the_role_itself_are_denied(action: str) -> None:
    # Whatever context a caller could arrange, an explicit Deny decides.
    decision = evaluate(_statements(), Request(action, SELF, _EVERYTHING))
    assert decision.outcome == "explicit deny", decision


@pytest.mark.parametrize("action", (*deploy_role.POLICY_WRITES, "iam:CreatePolicy"))
@pytest.mark.parametrize("policy", [f"{ROLE}-1", f"{ROLE}-2", deploy_role.BOUNDARY_NAME])
def test_its_own_policies_and_the_boundary_cannot_be_changed(action: str, policy: str) -> None:
    arn = f"arn:aws:iam::{ACCOUNT}:policy/{policy}"
    assert not evaluate(_statements(), Request(action, arn, _EVERYTHING)).allowed


def test_it_cannot_create_or_free_a_role_more_powerful_than_itself() -> None:
    statements = _statements()
    role = f"arn:aws:iam::{ACCOUNT}:role/aisb-anything"
    # Outside the boundary, or with no boundary: refused.
    for boundary in (None, f"arn:aws:iam::{ACCOUNT}:policy/AdministratorAccess"):
        context = {"iam:PermissionsBoundary": boundary} if boundary else {}
        for action in ("iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy"):
            assert not evaluate(statements, Request(action, role, context)).allowed, action
    # Inside it, still no administrator policy attached, and the boundary never removed.
    admin = {**_EVERYTHING, "iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess"}
    assert not evaluate(statements, Request("iam:AttachRolePolicy", role, admin)).allowed
    decision = evaluate(statements, Request("iam:DeleteRolePermissionsBoundary", role, _EVERYTHING))
    assert decision.outcome == "explicit deny"
    # No policy of its own making, no role passed to a service it does not deploy.
    assert not evaluate(statements, Request("iam:CreatePolicy", "*", _EVERYTHING)).allowed
    ec2 = {**_EVERYTHING, "iam:PassedToService": "ec2.amazonaws.com"}
    assert not evaluate(statements, Request("iam:PassRole", role, ec2)).allowed


def _expand(action: str) -> list[str]:
    """An action pattern as the actions of its service it covers."""
    prefix, name = action.split(":")
    from tests.harness.provider_calls import _sar

    names = [p["privilege"] for p in _sar()[prefix]["privileges"]]
    return [f"{prefix}:{n}" for n in names if re.fullmatch(name.replace("*", ".*"), n)]


@pytest.mark.xdist_group("deploy-role")
def test_the_boundary_holds_what_the_baseline_s_roles_do_and_no_permission_management() -> None:
    boundary = _boundary()
    checked = 0
    for stack in STACKS:
        for reg in _program(stack).of_type("aws:iam/rolePolicy:RolePolicy"):
            for statement in json.loads(reg.inputs["policy"])["Statement"]:
                actions = statement["Action"]
                resources = statement.get("Resource", "*")
                for action in actions if isinstance(actions, list) else [actions]:
                    for resource in resources if isinstance(resources, list) else [resources]:
                        checked += 1
                        request = Request(action, resource)
                        assert evaluate(boundary, request).allowed, (reg.name, action, resource)
    assert checked > 20
    from tests.harness.provider_calls import _sar

    for statement in boundary:
        assert statement["Effect"] == "Allow"
        if statement["Sid"] == "CarryDevicePoliciesToNewCertificates":
            # AWS IoT policies onto certificates only: no thing group, nothing of IAM.
            assert statement["Action"] == ["iot:AttachPolicy", "iot:DetachPolicy"]
            assert statement["Resource"].endswith(":cert/*"), statement["Resource"]
            continue
        for pattern in statement["Action"]:
            for action in _expand(pattern):
                prefix, name = action.split(":")
                level = next(
                    p["access_level"]
                    for p in _sar()[prefix]["privileges"]
                    if p["privilege"] == name
                )
                assert level != "Permissions management", action
                assert not action.startswith(("sts:", "organizations:")), action


# --- aisb preflight runs as this role ---------------------------------------------------------

# botocore signing names that are not the IAM service prefix (Service Authorization Reference).
_PREFIX = {"monitoring": "cloudwatch", "accessanalyzer": "access-analyzer"}


def _iam_prefix(client: Any) -> str:
    model = client.meta.service_model
    name = model.signing_name or model.endpoint_prefix
    if model.service_name == "resourcegroupstaggingapi":
        return "tag"
    return _PREFIX.get(name, name)


class _Clients(dict[str, Any]):
    """boto3 clients made on first use (preflight may ask for more services than it lists),
    each recording every operation it is asked to make."""

    def __init__(self, calls: list[tuple[str, dict[str, Any]]], session: boto3.Session) -> None:
        super().__init__()
        self.calls, self.session = calls, session

    def __missing__(self, service: str) -> Any:
        client = self.session.client(service, region_name="us-east-1")
        prefix = _iam_prefix(client)

        def record(model: Any, params: dict[str, Any], **_: Any) -> None:
            self.calls.append((f"{prefix}:{model.name}", params))

        # before-parameter-build sees the operation and the caller's own parameters.
        client.meta.events.register("before-parameter-build.*.*", record)
        self[service] = client
        return client


@cache
def _preflight_calls() -> tuple[tuple[str, dict[str, Any]], ...]:
    """Every operation the current preflight makes, every check switched on, against moto with
    the caller being the deploy role (run once per worker)."""
    settings = parse(
        {
            **MINIMAL_CONFIG,
            "aisb:guardDuty": "true",
            "aisb:guardDutyDetectorId": "12abc34d567e8fa901bc2d34e56789f0",
            "aisb:cloudTrail": "true",
            "aisb:deviceLogs": "true",
            "aisb:behaviorDetection": "ml-detect",
            "aisb:detectTargetGroups": '["dev-fleet"]',
        }
    )
    calls: list[tuple[str, dict[str, Any]]] = []
    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}
            ],
        }
        iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))
        creds = boto3.client("sts", region_name="us-east-1").assume_role(
            RoleArn=SELF, RoleSessionName="deploy"
        )["Credentials"]
        session = boto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )
        target = pf.Target("prod-us-east-1", ACCOUNT, "us-east-1", "aws")
        clients = _Clients(calls, session)
        for check in pf.CHECKS:
            # What was asked is recorded before the answer, whatever moto answers.
            with contextlib.suppress(ClientError, BotoCoreError, NotImplementedError):
                check(clients, settings, target, pf.NO_STATE)
    return tuple(calls)


@cache
def _preflight_actions() -> tuple[str, ...]:
    return tuple(dict.fromkeys(action for action, _ in _preflight_calls()))


def _preflight_resource(action: str, params: dict[str, Any]) -> Iterator[str]:
    """The resources IAM authorises a preflight call on, built from the call's parameters for
    the action's resource types (required or optional); ``*`` when it names none."""
    iot = f"arn:aws:iot:us-east-1:{ACCOUNT}"
    guardduty = f"arn:aws:guardduty:us-east-1:{ACCOUNT}"
    named = {
        "role": params.get("PolicySourceArn")
        or (params.get("RoleName") and f"arn:aws:iam::{ACCOUNT}:role/{params['RoleName']}"),
        "thinggroup": params.get("thingGroupName")
        and f"{iot}:thinggroup/{params['thingGroupName']}",
        "rolealias": params.get("roleAlias") and f"{iot}:rolealias/{params['roleAlias']}",
        "jobtemplate": params.get("jobTemplateId")
        and f"{iot}:jobtemplate/{params['jobTemplateId']}",
        "detector": params.get("DetectorId") and f"{guardduty}:detector/{params['DetectorId']}",
        # The request names the configuration; IAM's ARN adds its id.
        "domainconfiguration": params.get("domainConfigurationName")
        and f"{iot}:domainconfiguration/{params['domainConfigurationName']}/c7a16",
    }
    found = False
    for name, required, pattern, _ in action_info(action).resource_types:
        arn = named.get(name)
        if arn:
            assert pattern.match(arn), (action, name, arn)
            found = True
            yield arn
        else:
            assert not required, f"{action} needs a {name} the test cannot name from {params}"
    if not found:
        yield "*"


def test_the_role_allows_every_read_preflight_makes() -> None:
    calls = _preflight_calls()
    actions = {a for a, _ in calls}
    # Not vacuous: the checks reached every service they read, and simulated this very role.
    assert {
        "sts:GetCallerIdentity",
        "iam:SimulatePrincipalPolicy",
        "iot:ListScheduledAudits",
    } <= actions
    simulated = [p for a, p in calls if a == "iam:SimulatePrincipalPolicy"]
    assert all(p["PolicySourceArn"] == SELF for p in simulated)
    statements = _statements()
    for action, params in calls:
        for resource in _preflight_resource(action, params):
            decision = evaluate(statements, Request(action, resource))
            assert decision.allowed, (action, resource, decision)


# --- the trust ----------------------------------------------------------------------------------


def _trust() -> list[dict[str, Any]]:
    document = _template()["Resources"]["DeployRole"]["Properties"]["AssumeRolePolicyDocument"]
    statements = []
    for statement in document["Statement"]:
        if "Fn::If" in statement:
            condition, statement, _ = statement["Fn::If"]
            assert condition == "TrustGitHub"
        statements.append(resolve({k: v for k, v in statement.items() if k != "Principal"}, PARAMS))
        statements[-1]["Resource"] = "*"
    return statements


def _assume(sub: str, aud: str = "acme") -> bool:
    context = {"api.pulumi.com/oidc:sub": sub, "api.pulumi.com/oidc:aud": aud}
    return evaluate(_trust(), Request("sts:AssumeRoleWithWebIdentity", "*", context)).allowed


@pytest.mark.parametrize("operation", ["preview", "update", "refresh", "destroy"])
def test_the_trust_admits_only_this_account_s_stacks(operation: str) -> None:
    # Pulumi's subject claim (https://www.pulumi.com/docs/pulumi-cloud/oidc/):
    # pulumi:deploy:org:<org>:project:<project>:stack:<stack>:operation:<op>:scope:write
    subject = "pulumi:deploy:org:acme:project:aisb:stack:{}:operation:" + operation + ":scope:write"
    for stack in PARAMS["StackNames"]:
        assert _assume(subject.format(stack))
    assert not _assume(subject.format("staging-us-east-1"))  # another account's stack
    assert not _assume(subject.format("prod-us-east-1").replace(":aisb:", ":other:"))
    assert not _assume(subject.format("prod-us-east-1"), aud="other-org")
    assert not _assume(subject.format("prod-us-east-1"), aud="Acme")


def test_the_organisation_must_be_written_in_lower_case() -> None:
    parameter = _template()["Parameters"]["PulumiOrganization"]
    pattern = re.compile(parameter["AllowedPattern"])  # CloudFormation matches the whole value
    assert pattern.fullmatch("acme") and pattern.fullmatch("acme-iot.prod_1")
    assert not pattern.fullmatch("Acme") and not pattern.fullmatch("ACME")
    assert "client ID" in _template()["Parameters"]["CreatePulumiProvider"]["Description"]
    # Stack names are names: a wildcard would trust every stack of the project.
    names = re.compile(_template()["Parameters"]["StackNames"]["AllowedPattern"])
    assert names.fullmatch("prod-us-east-1")
    assert not names.fullmatch("*") and not names.fullmatch("prod-*") and not names.fullmatch("a:b")


def test_the_github_trust_is_this_repository_s_deploy_environment() -> None:
    github = _trust()[1]
    assert github["Condition"]["StringEquals"] == {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": "repo:acme/iot-baseline:environment:aisb-deploy",
    }
    providers = {
        v["Properties"]["Url"]
        for v in _template()["Resources"].values()
        if v["Type"] == "AWS::IAM::OIDCProvider"
    }
    assert providers == {
        "https://api.pulumi.com/oidc",
        "https://token.actions.githubusercontent.com",
    }


@pytest.mark.xdist_group("deploy-role")
def test_own_arns_cover_every_type_a_request_names() -> None:
    # The request model gives every registration of a non-singleton type an ARN to authorise.
    singletons = {
        "aws:iot/loggingOptions:LoggingOptions",
        "aws-native:iot:AccountAuditConfiguration",
        # The account's event settings: UpdateEventConfigurations takes no resource.
        "aws:iot/eventConfigurations:EventConfigurations",
    }
    for stack in STACKS:
        rec = _program(stack)
        for reg in rec.custom():
            if reg.type.startswith("time:") or reg.type in singletons:
                continue
            assert own_arns(reg, rec), (stack, reg.type, reg.name)


def test_github_is_trusted_only_from_the_deploy_workflow_s_environment() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "deploy-shard.yml").read_text())
    environments = {job.get("environment") for job in workflow["jobs"].values()} - {None}
    assert environments == {deploy_role.DEPLOY_ENVIRONMENT}
    trust = deploy_role.template()["Resources"]["DeployRole"]["Properties"][
        "AssumeRolePolicyDocument"
    ]
    text = json.dumps(trust)
    assert "repo:${GitHubRepository}:environment:${DeployEnvironment}" in text
    assert "ref:refs/heads" not in text
