"""The aisb rollout in Pulumi Cloud, from the inventory (config ``inventory``, a path relative
to this folder): per account and region, the Pulumi Cloud stack of the aisb project, its
Deployments settings (the repository's default branch through the GitHub integration or a
plain git clone, AWS credentials by OIDC for the account's deploy role, ``aisb preflight``
before every run) and a daily drift check; and one policy group applying aisb-guard to every
stack. Adding an account to the inventory and merging brings it under the baseline; removing
one stops its deployments and keeps its stack (and what the stack holds).

Every input name below is the pinned pulumi-pulumiservice SDK's (1.5.0, installed package
``pulumi_pulumiservice``): ``deployment_settings.py:22`` DeploymentSettingsArgs (``vcs`` at
:33; ``github`` deprecated for it at :57-59), ``_inputs.py:1179`` DeploymentSettingsVcsArgs
(provider, repository, deploy_commits, preview_pull_requests, pull_request_template, paths),
:1117 SourceContextArgs, :751 GitSourceArgs (branch, repo_url, git_auth), :853 GitAuthArgs,
:686 SSHAuthArgs, :634 BasicAuthArgs, :1035 OperationContextArgs, :1595 OIDCArgs, :94
AWSOIDCConfigurationArgs. tests/test_fleet.py checks each registration against those
classes' own wire names and required inputs.
"""

from pathlib import Path

import pulumi
import pulumi_pulumiservice as ps

from aisb_tools.fleet import Inventory, Target, load
from aisb_tools.stackfile import project_file

HERE = Path(__file__).resolve().parent
PROJECT = str(project_file(HERE.parent)["name"])  # the aisb program's project
POLICY_PACK = "aisb-guard"

config = pulumi.Config()
inventory = load(HERE / config.get("inventory", "../fleet.yaml"))
drift_cron = config.get("driftSchedule") or "0 6 * * *"
auto_remediate = config.get_bool("autoRemediateDrift") or False
preview_pull_requests = config.get_bool("previewPullRequests") or False
mode = config.get("policyGroupMode") or "preventative"
if mode not in ("preventative", "audit"):
    raise pulumi.RunError(
        f"aisb-fleet:policyGroupMode: got {mode!r}; expected preventative or audit"
    )


def _git_auth(inventory: Inventory) -> ps.DeploymentSettingsGitSourceGitAuthArgs | None:
    """Credentials of a plain git clone (``source: git``), from this stack's secret config."""
    if inventory.git_auth == "ssh":
        return ps.DeploymentSettingsGitSourceGitAuthArgs(
            ssh_auth=ps.DeploymentSettingsGitAuthSSHAuthArgs(
                ssh_private_key=config.require_secret("gitSshPrivateKey"),
                password=config.get_secret("gitSshPassphrase"),
            )
        )
    if inventory.git_auth == "basic":
        return ps.DeploymentSettingsGitSourceGitAuthArgs(
            basic_auth=ps.DeploymentSettingsGitAuthBasicAuthArgs(
                username=config.require("gitUsername"),
                password=config.require_secret("gitPassword"),
            )
        )
    return None


def _source(inventory: Inventory, target: Target) -> dict[str, object]:
    """The DeploymentSettings inputs that say where the code comes from and what triggers a
    deployment. Pulumi's docs: the Git source "only clones and deploys"; push-to-deploy, path
    filters and pull-request previews need a version-control integration
    (https://www.pulumi.com/docs/deployments/concepts/settings/source/)."""
    if inventory.source == "github":
        return {
            # The SDK's `github` input is deprecated for `vcs` (deployment_settings.py:57-59);
            # `provider` is the discriminator, "github" in the provider's own source
            # (provider/pkg/resources/deployment_settings.go, toVCSConfig).
            "vcs": ps.DeploymentSettingsVcsArgs(
                provider="github",
                repository=inventory.github_repository,
                deploy_commits=True,
                preview_pull_requests=preview_pull_requests,
                pull_request_template=False,
                paths=list(target.paths),
            ),
            # With an integration the repository is the integration's; only the branch, as a
            # ref (the provider's examples/yaml-deployment-settings-vcs/Pulumi.yaml).
            "source_context": ps.DeploymentSettingsSourceContextArgs(
                git=ps.DeploymentSettingsGitSourceArgs(branch=f"refs/heads/{inventory.branch}")
            ),
        }
    return {
        "source_context": ps.DeploymentSettingsSourceContextArgs(
            git=ps.DeploymentSettingsGitSourceArgs(
                repo_url=inventory.repository,
                branch=f"refs/heads/{inventory.branch}",
                git_auth=_git_auth(inventory),
            )
        )
    }


stacks = []
for target in inventory.targets:
    # Kept when the target leaves the inventory: the stack still holds the account's baseline
    # (Pulumi Cloud refuses to delete a stack with resources, and evidence is never dropped
    # by a rollout edit). Its settings and schedule go, so nothing deploys it any more.
    stack = ps.Stack(
        target.stack,
        organization_name=inventory.organization,
        project_name=PROJECT,
        stack_name=target.stack,
        opts=pulumi.ResourceOptions(retain_on_delete=True),
    )
    settings = ps.DeploymentSettings(
        f"{target.stack}-deployments",
        organization=inventory.organization,
        project=PROJECT,
        stack=target.stack,
        **_source(inventory, target),  # type: ignore[call-overload]
        operation_context=ps.DeploymentSettingsOperationContextArgs(
            oidc=ps.OperationContextOIDCArgs(
                aws=ps.AWSOIDCConfigurationArgs(
                    role_arn=target.role_arn,
                    session_name=f"aisb-{target.stack}"[:64],
                    duration="1h0m0s",
                )
            ),
            environment_variables={"AWS_REGION": target.region},
            # The strict gate: exit 1 (something to fix), 2 (could not run) and 3 (some
            # checks could not tell) all stop the deployment; no --allow-unknown.
            pre_run_commands=[f"uv run --extra cli aisb preflight --stack {target.stack}"],
        ),
        opts=pulumi.ResourceOptions(depends_on=[stack]),
    )
    # A schedule needs the stack's deployment settings to exist first (Pulumi: drift
    # detection runs as a deployment with the stack's settings).
    ps.DriftSchedule(
        f"{target.stack}-drift",
        organization=inventory.organization,
        project=PROJECT,
        stack=target.stack,
        schedule_cron=drift_cron,
        auto_remediate=auto_remediate,
        opts=pulumi.ResourceOptions(depends_on=[stack, settings]),
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
