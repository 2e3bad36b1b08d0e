"""``aisb rotate``: start a certificate rotation job by hand, from the stack's rotation job
template (``CertificateRotation``, switched on by ``aisb:certRotationJobs``).

``--things A,B`` names things, ``--group G`` a thing group, ``--due`` the things of every
ACTIVE certificate at least ``aisb:certMaxAgeDays`` old. A job takes at most 100 targets
(https://docs.aws.amazon.com/iot/latest/apireference/API_AssociateTargetsWithJob.html: "The
total number of targets associated with a job must not exceed 100"), so more things make more
jobs. ``--dry-run`` prints the jobs without creating them. Exit codes: 0 started (or planned),
1 nothing to rotate, 2 could not run.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

MAX_TARGETS = 100
TEMPLATE_SUFFIX = "-rotation-rotate"
"""The job template id: the baseline's name and this (``CertificateRotation``)."""


def template_arn(partition: str, region: str, account: str) -> str:
    from aisb.settings import BASELINE_NAME

    return f"arn:{partition}:iot:{region}:{account}:jobtemplate/{BASELINE_NAME}{TEMPLATE_SUFFIX}"


def due_things(iot: Any, max_age_days: int, now: datetime) -> list[str]:
    """The ARNs of the things of ACTIVE certificates created at least ``max_age_days`` ago."""
    cutoff = now - timedelta(days=max_age_days)
    things: set[str] = set()
    for page in iot.get_paginator("list_certificates").paginate(pageSize=250):
        for cert in page.get("certificates", []):
            created = cert["creationDate"]
            if created.tzinfo is None:
                created = created.replace(tzinfo=UTC)
            if cert.get("status") != "ACTIVE" or created > cutoff:
                continue
            prefix = cert["certificateArn"].split(":cert/", 1)[0]
            for named in iot.get_paginator("list_principal_things").paginate(
                principal=cert["certificateArn"]
            ):
                things.update(f"{prefix}:thing/{t}" for t in named.get("things", []))
    return sorted(things)


def plan_jobs(targets: list[str], template: str, stamp: str) -> list[dict[str, Any]]:
    """CreateJob requests for ``targets``, at most ``MAX_TARGETS`` each."""
    from aisb.functions.cert_rotator.protocol import JOB_PREFIX

    return [
        {
            "jobId": f"{JOB_PREFIX}manual-{stamp}-{n + 1}",
            "targets": targets[i : i + MAX_TARGETS],
            "jobTemplateArn": template,
            "targetSelection": "SNAPSHOT",
            "description": "aisb rotate: certificate rotation started by hand",
        }
        for n, i in enumerate(range(0, len(targets), MAX_TARGETS))
    ]


def rotate(
    stack: str,
    things: str | None,
    group: str | None,
    due: bool,
    dry_run: bool,
    root: Path,
) -> None:
    """Start a certificate rotation job for things, a thing group or the due certificates."""
    from botocore.exceptions import BotoCoreError, ClientError

    from aisb_tools.cli.results import aws_error
    from aisb_tools.cli.run import connect, fail, leave, load

    chosen = [bool(things), bool(group), due]
    if sum(chosen) != 1:
        fail("aisb rotate: give exactly one of --things, --group or --due")
    settings, config, _ = load(stack, root, False)
    if not settings.cert_rotation_jobs:
        fail(
            f"aisb rotate: aisb:certRotationJobs is off in stacks/Pulumi.{stack}.yaml: the "
            "stack has no rotation job template"
        )
    clients, identity = connect(stack, settings, config, ("iot",), False)
    iot = clients["iot"]
    partition = identity["Arn"].split(":")[1]
    template = template_arn(partition, settings.region, identity["Account"])
    try:
        if things:
            names = sorted({t.strip() for t in things.split(",") if t.strip()})
            targets = [iot.describe_thing(thingName=n)["thingArn"] for n in names]
        elif group:
            targets = [iot.describe_thing_group(thingGroupName=group)["thingGroupArn"]]
        else:
            targets = due_things(iot, settings.cert_max_age_days, datetime.now(UTC))
        if not targets:
            click.echo("aisb rotate: nothing to rotate")
            leave(1)
        jobs = plan_jobs(targets, template, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
        for job in jobs:
            if not dry_run:
                made = iot.create_job(**job)
                job["jobArn"] = made["jobArn"]
            sys.stdout.write(json.dumps({**job, "dryRun": dry_run}) + "\n")
    except (BotoCoreError, ClientError) as error:
        fail(f"aisb rotate: {aws_error(error)}")
