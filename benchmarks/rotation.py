"""Benchmark of certificate rotation through the cloud functions (moto).

    uv run python benchmarks/rotation.py [--rotations 10000] [--api-rps 10] [--concurrent-jobs 1]

Each simulated rotation is one device: a rotation job IN_PROGRESS for its thing, ``create``
with a fresh EC P-256 CSR, ``commit`` over the new certificate, the SUCCEEDED job event, and
the sweep that retires the old certificate after the grace period. Devices are simulated in
batches of 250, each batch in a fresh moto account (moto lists a thing's principals by
scanning every attachment in the account, which real AWS IoT does not, so one account of
10,000 things would measure moto, not the functions).

It prints:
- AWS calls per rotation, by service and operation (every call the functions make, counted
  with botocore's ``before-call`` event);
- function time per rotation, and its ratio to a baseline measured in the same run: the bare
  issuance any rotation needs (CreateCertificateFromCsr, AttachPolicy, AttachThingPrincipal,
  UpdateCertificate, DetachThingPrincipal, DetachPolicy and DeleteCertificate through the same
  moto, without the checks), so the ratio is the cost of the chain-of-custody checks, the
  state table and the replies;
- how long a fleet of 1,000,000 devices takes at the documented limits: a job notifies at most
  1,000 things a minute (``maximumPerMinute`` 1-1000, and "AWS IoT Jobs can roll out and cancel
  job executions swiftly at a rate of 1000 devices per minute",
  https://docs.aws.amazon.com/iot/latest/developerguide/job-limits.html), a job takes 100
  targets (https://docs.aws.amazon.com/iot/latest/apireference/API_AssociateTargetsWithJob.html),
  and the functions' IoT control-plane calls run at ``--api-rps`` per second. AWS IoT Core's
  per-API request rates are listed in the account's Service Quotas console
  (https://docs.aws.amazon.com/general/latest/gr/iot-core.html); 10 per second is the
  conservative default used here, change it to your account's quota.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections import Counter
from typing import Any

import boto3
from cryptography.hazmat.primitives.asymmetric import ec
from machine import print_header

from aisb.functions.cert_rotator import handler as rotator
from tests.harness.rotation import CREDENTIALS, REGION, cloud, csr_for

BATCH = 250
FLEET = 1_000_000
JOB_ROLLOUT_PER_MINUTE = 1000
JOB_TARGETS = 100


def _count(clients: rotator.Clients, calls: Counter[str]) -> None:
    for client in (clients.iot, clients.iot_data, clients.dynamodb, clients.sns):
        service = client.meta.service_model.service_name
        client.meta.events.register(
            "before-call",
            lambda model, _s=service, **_: calls.update([f"{_s}:{model.name}"]),
        )


def simulate(rotations: int) -> tuple[Counter[str], float, float, int]:
    """(calls, seconds in the functions, seconds in the bare baseline, rotations done)."""
    calls: Counter[str] = Counter()
    spent = baseline = 0.0
    done = 0
    while done < rotations:
        size = min(BATCH, rotations - done)
        with cloud() as aws:
            devices = [aws.add_device(f"d{done + i}") for i in range(size)]
            job = aws.start_job([d.thing for d in devices])
            counting = rotator.Clients(
                iot=boto3.client("iot", region_name=REGION, **CREDENTIALS),
                iot_data=aws.clients.iot_data,
                dynamodb=aws.clients.dynamodb,
                sns=aws.clients.sns,
            )
            _count(counting, calls)
            kw: dict[str, Any] = {"options": aws.options, "clients": counting, "now": aws.now}
            csrs = [csr_for(ec.generate_private_key(ec.SECP256R1()), d.thing) for d in devices]
            for device, pem in zip(devices, csrs, strict=True):
                started = time.perf_counter()
                made = rotator.create(
                    {
                        "jobId": job,
                        "csr": pem,
                        "thingName": device.thing,
                        "principal": device.cert_id,
                        "clientId": device.thing,
                    },
                    **kw,
                )
                assert made["outcome"] == "accepted", made
                committed = rotator.commit(
                    {
                        "jobId": job,
                        "thingName": device.thing,
                        "principal": made["certificateId"],
                        "clientId": device.thing,
                    },
                    **kw,
                )
                assert committed["outcome"] == "accepted", committed
                rotator.job_event(
                    {
                        "jobId": job,
                        "status": "SUCCEEDED",
                        "thingArn": f"arn:aws:iot:{REGION}:123456789012:thing/{device.thing}",
                    },
                    **kw,
                )
                spent += time.perf_counter() - started
            aws.clock[0] += (aws.options.grace_days + 1) * 86400
            started = time.perf_counter()
            swept = rotator.sweep(**kw)
            spent += time.perf_counter() - started
            assert swept["retired"] == size, swept
            # The baseline: issuing and retiring one certificate with nothing checked.
            iot = aws.clients.iot
            for device in devices:
                pem = csr_for(ec.generate_private_key(ec.SECP256R1()), device.thing)
                started = time.perf_counter()
                cert = iot.create_certificate_from_csr(
                    certificateSigningRequest=pem, setAsActive=True
                )
                iot.attach_policy(policyName=aws.policy, target=cert["certificateArn"])
                iot.attach_thing_principal(thingName=device.thing, principal=cert["certificateArn"])
                iot.update_certificate(certificateId=cert["certificateId"], newStatus="INACTIVE")
                iot.detach_thing_principal(thingName=device.thing, principal=cert["certificateArn"])
                iot.detach_policy(policyName=aws.policy, target=cert["certificateArn"])
                iot.delete_certificate(certificateId=cert["certificateId"])
                baseline += time.perf_counter() - started
        done += size
    return calls, spent, baseline, done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rotations", type=int, default=10_000)
    parser.add_argument("--api-rps", type=float, default=10.0)
    parser.add_argument("--concurrent-jobs", type=int, default=1)
    args = parser.parse_args(argv)
    print_header()

    calls, spent, baseline, done = simulate(args.rotations)
    total = sum(calls.values())
    per_rotation = total / done
    iot_calls = sum(n for op, n in calls.items() if op.startswith("iot:")) / done
    rollout_minutes = FLEET / (JOB_ROLLOUT_PER_MINUTE * args.concurrent_jobs)
    api_minutes = FLEET * iot_calls / args.api_rps / 60
    fleet_minutes = max(rollout_minutes, api_minutes)
    print(f"rotations simulated: {done}")
    print(f"AWS calls per rotation: {per_rotation:.2f} (IoT control plane {iot_calls:.2f})")
    for op, n in sorted(calls.items(), key=lambda kv: -kv[1]):
        print(f"  {op:40} {n / done:6.2f}")
    print(
        f"function time per rotation: {spent / done * 1000:.2f} ms "
        f"({spent / baseline:.2f}x the bare issuance baseline, "
        f"{baseline / done * 1000:.2f} ms, same run)"
    )
    print(
        f"fleet of {FLEET:,}: {math.ceil(FLEET / JOB_TARGETS):,} jobs of {JOB_TARGETS}; "
        f"rollout {rollout_minutes / 60:.1f} h at {JOB_ROLLOUT_PER_MINUTE}/min x "
        f"{args.concurrent_jobs} job(s); functions' IoT calls {api_minutes / 60:.1f} h at "
        f"{args.api_rps:g}/s; so about {fleet_minutes / 60:.1f} h "
        f"({fleet_minutes / 1440:.1f} days)"
    )
    print(
        json.dumps(
            {
                "rotations": done,
                "calls_per_rotation": round(per_rotation, 2),
                "ratio_to_baseline": round(spent / baseline, 2),
                "fleet_hours": round(fleet_minutes / 60, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
