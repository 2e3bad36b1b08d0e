"""``aisb rotate`` against moto: jobs from the stack's rotation template for named things, a
thing group or the due certificates, 100 targets to a job; ``--dry-run`` creates nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner
from moto.core import DEFAULT_ACCOUNT_ID
from moto.iot.models import iot_backends

from aisb_tools.cli import app
from tests.harness import copy_project
from tests.harness.aws import moto_in_process

REGION = "us-east-1"
TEMPLATE = f"arn:aws:iot:{REGION}:{DEFAULT_ACCOUNT_ID}:jobtemplate/aisb-rotation-rotate"


def _project(tmp_path: Path, jobs: bool = True) -> Path:
    root = copy_project(tmp_path, stacks=False)
    (root / "stacks" / "Pulumi.rot.yaml").write_text(
        "config:\n  aws:region: us-east-1\n  aws-native:region: us-east-1\n"
        "  aisb:alertEmails: [sec@example.com]\n  aisb:certMaxAgeDays: 90\n"
        f"  aisb:certRotationJobs: {str(jobs).lower()}\n"
    )
    return root


@pytest.fixture
def iot(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with moto_in_process(monkeypatch, REGION):
        yield boto3.client("iot", region_name=REGION)


def _aisb(root: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["rotate", "--stack", "rot", "--project", str(root), *args])


def _jobs() -> dict[str, list[str]]:
    backend = iot_backends[DEFAULT_ACCOUNT_ID][REGION]
    return {j.job_id: list(j.targets) for j in backend.jobs.values()}


def test_named_things_get_one_job_from_the_template(iot: Any, tmp_path: Path) -> None:
    for name in ("pump-1", "pump-2"):
        iot.create_thing(thingName=name)
    done = _aisb(_project(tmp_path), "--things", "pump-2,pump-1")
    assert done.exit_code == 0, done.output
    (job,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert job["jobTemplateArn"] == TEMPLATE and job["jobId"].startswith("aisb-rotation-manual-")
    assert [t.rsplit("/", 1)[1] for t in job["targets"]] == ["pump-1", "pump-2"]
    assert list(_jobs()) == [job["jobId"]]


def test_a_dry_run_creates_nothing(iot: Any, tmp_path: Path) -> None:
    iot.create_thing_group(thingGroupName="fleet")
    done = _aisb(_project(tmp_path), "--group", "fleet", "--dry-run")
    assert done.exit_code == 0, done.output
    job = json.loads(done.stdout)
    assert job["dryRun"] is True and job["targets"][0].endswith(":thinggroup/fleet")
    assert _jobs() == {}


def test_due_certificates_are_rotated_100_things_to_a_job(iot: Any, tmp_path: Path) -> None:
    backend = iot_backends[DEFAULT_ACCOUNT_ID][REGION]
    now = datetime.now(UTC).replace(tzinfo=None)
    for n in range(130):
        cert = iot.create_keys_and_certificate(setAsActive=True)
        backend.certificates[cert["certificateId"]].creation_date = now - timedelta(
            days=100 if n < 120 else 10
        )
        iot.create_thing(thingName=f"t-{n:03d}")
        iot.attach_thing_principal(thingName=f"t-{n:03d}", principal=cert["certificateArn"])
    done = _aisb(_project(tmp_path), "--due")
    assert done.exit_code == 0, done.output
    assert sorted(len(t) for t in _jobs().values()) == [20, 100]


@pytest.mark.parametrize(
    ("args", "jobs", "code", "says"),
    [
        (("--things", "a", "--due"), True, 2, "exactly one of"),
        ((), True, 2, "exactly one of"),
        (("--due",), False, 2, "certRotationJobs is off"),
        (("--due",), True, 1, "nothing to rotate"),
        (("--things", "missing"), True, 2, "ResourceNotFoundException"),
    ],
)
def test_what_cannot_run_says_why(
    iot: Any, tmp_path: Path, args: tuple[str, ...], jobs: bool, code: int, says: str
) -> None:
    done = _aisb(_project(tmp_path, jobs), *args)
    assert done.exit_code == code
    assert says in done.output


def test_the_command_module_imports_nothing_heavy_at_import_time() -> None:
    """aisb_tools/cli/rotation.py's module-level imports are the standard library and click;
    boto3, botocore and the settings load when the command runs, after its argument checks."""
    import ast

    import aisb_tools.cli.rotation as module

    assert module.__file__ is not None
    tree = ast.parse(Path(module.__file__).read_text())
    top = {
        ((node.module or "") if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert top <= {"__future__", "json", "sys", "time", "datetime", "pathlib", "typing", "click"}
