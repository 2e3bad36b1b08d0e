"""The aisb rollout in Pulumi Cloud, from the inventory (config ``inventory``, a path relative
to this folder): per account and region, the Pulumi Cloud stack of the aisb project, its
Deployments settings (the repository's default branch, AWS credentials by OIDC for the
account's deploy role, ``aisb preflight`` before every run) and a daily drift check; and one
policy group applying aisb-guard to every stack. Adding an account to the inventory and
merging brings it under the baseline."""

from pathlib import Path

import pulumi
import pulumi_pulumiservice as ps

from aisb.fleet import load
from aisb.stackfile import project_file

HERE = Path(__file__).resolve().parent
PROJECT = str(project_file(HERE.parent)["name"])  # the aisb program's project
POLICY_PACK = "aisb-guard"

config = pulumi.Config()
inventory = load(HERE / config.get("inventory", "../fleet.yaml"))
drift_cron = config.get("driftSchedule") or "0 6 * * *"
auto_remediate = config.get_bool("autoRemediateDrift") or False
mode = config.get("policyGroupMode") or "preventative"
if mode not in ("preventative", "audit"):
    raise pulumi.RunError(
        f"aisb-fleet:policyGroupMode: got {mode!r}; expected preventative or audit"
    )

stacks = []
for target in inventory.targets:
    stack = ps.Stack(
        target.stack,
        organization_name=inventory.organization,
        project_name=PROJECT,
        stack_name=target.stack,
    )
    after_stack = pulumi.ResourceOptions(depends_on=[stack])
    ps.DeploymentSettings(
        f"{target.stack}-deployments",
        organization=inventory.organization,
        project=PROJECT,
        stack=target.stack,
        source_context=ps.DeploymentSettingsSourceContextArgs(
            git=ps.DeploymentSettingsGitSourceArgs(
                repo_url=inventory.repository, branch=inventory.branch
            )
        ),
        operation_context=ps.DeploymentSettingsOperationContextArgs(
            oidc=ps.OperationContextOIDCArgs(
                aws=ps.AWSOIDCConfigurationArgs(
                    role_arn=target.role_arn,
                    session_name=f"aisb-{target.stack}"[:64],
                    duration="1h0m0s",
                )
            ),
            environment_variables={"AWS_REGION": target.region},
            pre_run_commands=[f"uv run aisb preflight --stack {target.stack}"],
        ),
        opts=after_stack,
    )
    ps.DriftSchedule(
        f"{target.stack}-drift",
        organization=inventory.organization,
        project=PROJECT,
        stack=target.stack,
        schedule_cron=drift_cron,
        auto_remediate=auto_remediate,
        opts=after_stack,
    )
    stacks.append(stack)

ps.PolicyGroup(
    POLICY_PACK,
    name=POLICY_PACK,
    organization_name=inventory.organization,
    entity_type="stacks",
    mode=mode,
    stacks=[
        ps.PolicyGroupStackReferenceArgs(name=t.stack, routing_project=PROJECT)
        for t in inventory.targets
    ],
    policy_packs=[ps.PolicyGroupPolicyPackReferenceInputArgs(name=POLICY_PACK)],
    opts=pulumi.ResourceOptions(depends_on=stacks),
)

pulumi.export("stacks", [t.stack for t in inventory.targets])
