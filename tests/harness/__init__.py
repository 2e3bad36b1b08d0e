"""The test harness: the recording mock engine, the Pulumi CLI's handling of stack files, and
the linters. Fixtures live in ``tests/conftest.py``; everything else tests import from here."""

from tests.harness.linters import (
    IOT_POLICY_ACTIONS,
    PolicyDocument,
    cfn_lint_errors,
    cfn_template,
    iot_policy_findings,
    parliament_findings,
    policy_documents,
)
from tests.harness.mocks import (
    ACCOUNT,
    ROOT,
    STACKS_DIR,
    FakeAws,
    Recording,
    RecordingMonitor,
    Registration,
    run,
    run_program,
)
from tests.harness.stacks import (
    MINIMAL_CONFIG,
    CliConfigError,
    config_problems,
    copy_project,
    project_file,
    run_main,
    stack_config,
    stack_files,
    stack_name,
)

__all__ = [
    "ACCOUNT",
    "IOT_POLICY_ACTIONS",
    "MINIMAL_CONFIG",
    "ROOT",
    "STACKS_DIR",
    "CliConfigError",
    "FakeAws",
    "PolicyDocument",
    "Recording",
    "RecordingMonitor",
    "Registration",
    "cfn_lint_errors",
    "cfn_template",
    "config_problems",
    "copy_project",
    "iot_policy_findings",
    "parliament_findings",
    "policy_documents",
    "project_file",
    "run",
    "run_main",
    "run_program",
    "stack_config",
    "stack_files",
    "stack_name",
]
