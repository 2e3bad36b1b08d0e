"""AISB #6: rotate a device's certificate through an AWS IoT job, the key staying on the device.

Four AWS Lambda entry points (stdlib + boto3 only; ``csr.py`` reads the request):

- ``create``: an IoT rule on ``aisb/rotation/<thing>/create`` passes the device's request with
  the connection's principal and client id (AWS IoT SQL ``principal()``, ``clientid()`` and
  ``topic(3)``: https://docs.aws.amazon.com/iot/latest/developerguide/iot-sql-functions.html).
  Chain of custody first -- the client id is the thing name; the thing has an IN_PROGRESS
  execution of that rotation job; the connection's certificate is attached to the thing
  exclusively, ACTIVE, and the thing's only active certificate -- then the request: its
  signature, its key algorithm (the job's), its common name (the thing name). The certificate
  comes from AWS IoT's CA (``CreateCertificateFromCsr``) or, with ``PCA_CA_ARN``, from AWS
  Private CA and is registered with AWS IoT; it gets the current certificate's IoT policies
  and is attached to the thing exclusively. The reply goes to ``.../create/accepted`` (the
  certificate) or ``.../create/rejected`` (a code and the reason).
- ``commit``: on ``aisb/rotation/<thing>/commit``, accepted only over a connection made with
  the **new** certificate: the old one is set INACTIVE and kept ``GRACE_DAYS``.
- ``job_event``: AWS IoT Jobs events (``$aws/events/jobExecution/<jobId>/<status>``,
  https://docs.aws.amazon.com/iot/latest/developerguide/events-jobs.html). An execution that
  ends FAILED, TIMED_OUT, CANCELED, REJECTED or REMOVED before the commit rolls back (the new
  certificate is deactivated, detached and deleted; the old stays active); every failure is
  published to the alert topic.
- ``sweep`` (scheduled): detaches and deletes old certificates whose grace period has passed,
  and rolls back uncommitted rotations whose job execution is no longer in progress (an event
  that never arrived).

Each thing's rotation is one item of a DynamoDB table (``STATE_TABLE``), written with
conditions so that a duplicate or late message cannot undo a newer step.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError

if __package__:  # imported as aisb.functions.cert_rotator.handler
    from aisb.functions.cert_rotator import csr as csr_reader
    from aisb.functions.cert_rotator.protocol import (
        HANDLER,
        JOB_PREFIX,
        KEY_ALGORITHMS,
        TOPIC_PREFIX,
    )
else:  # in the Lambda archive, beside this module
    import csr as csr_reader  # type: ignore[import-not-found,no-redef,unused-ignore]
    from protocol import (  # type: ignore[import-not-found,no-redef,unused-ignore]
        HANDLER,
        JOB_PREFIX,
        KEY_ALGORITHMS,
        TOPIC_PREFIX,
    )

LOG = logging.getLogger()
LOG.setLevel(logging.INFO)

THING_NAME = re.compile(r"[a-zA-Z0-9:_-]{1,128}")
JOB_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
CERT_ID = re.compile(r"[0-9a-f]{64}")
FAILED_STATUSES = frozenset({"FAILED", "TIMED_OUT", "CANCELED", "REJECTED", "REMOVED"})
CREATED, COMMITTED = "CREATED", "COMMITTED"


class Refused(Exception):
    """A request the function answers on the rejected topic."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class Options:
    """The function's settings, from its environment."""

    state_table: str
    alert_topic_arn: str
    grace_days: int = 7
    pca_ca_arn: str | None = None
    pca_validity_days: int = 365
    pca_signing_algorithm: str = "SHA256WITHRSA"
    data_endpoint: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Options:
        def number(name: str, default: int) -> int:
            raw = env.get(name, str(default))
            if not raw.isdigit() or int(raw) < 0:
                raise ValueError(f"{name}={raw!r}: expected a whole number of 0 or more")
            return int(raw)

        for required in ("STATE_TABLE", "ALERT_TOPIC_ARN"):
            if not env.get(required):
                raise ValueError(f"{required}: required")
        return cls(
            state_table=env["STATE_TABLE"],
            alert_topic_arn=env["ALERT_TOPIC_ARN"],
            grace_days=number("GRACE_DAYS", 7),
            pca_ca_arn=env.get("PCA_CA_ARN") or None,
            pca_validity_days=number("PCA_VALIDITY_DAYS", 365),
            pca_signing_algorithm=env.get("PCA_SIGNING_ALGORITHM") or "SHA256WITHRSA",
            data_endpoint=env.get("IOT_DATA_ENDPOINT") or None,
        )


@dataclass
class Clients:
    """The AWS clients the functions use (tests and the benchmark pass their own)."""

    iot: Any
    iot_data: Any
    dynamodb: Any
    sns: Any
    pca: Any = None


_CLIENTS: Clients | None = None


def clients(options: Options) -> Clients:
    """One set of clients per Lambda environment."""
    global _CLIENTS
    if _CLIENTS is None:
        endpoint = f"https://{options.data_endpoint}" if options.data_endpoint else None
        _CLIENTS = Clients(
            iot=boto3.client("iot"),
            iot_data=boto3.client("iot-data", endpoint_url=endpoint),
            dynamodb=boto3.client("dynamodb"),
            sns=boto3.client("sns"),
            pca=boto3.client("acm-pca") if options.pca_ca_arn else None,
        )
    return _CLIENTS


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def log(step: str, **fields: Any) -> None:
    """One JSON line per step: what was done, to which thing, job and certificates."""
    LOG.info(json.dumps({"step": step, **fields}, sort_keys=True, default=str))


# --- the job and the thing -----------------------------------------------------------------


def job_key_algorithm(document: Mapping[str, Any]) -> str:
    """The key algorithm a rotation job document asks for; ``Refused`` for any other job."""
    for step in document.get("steps") or []:
        action = (step or {}).get("action") or {}
        given = action.get("input") or {}
        if given.get("handler") != HANDLER:
            continue
        args = list(given.get("args") or [])
        if "--key-algorithm" in args[:-1]:
            algorithm = args[args.index("--key-algorithm") + 1]
            if algorithm in KEY_ALGORITHMS:
                return str(algorithm)
    raise Refused("NotARotationJob", "the job is not a certificate rotation job")


def in_progress_job(c: Clients, job_id: str, thing: str) -> str:
    """The key algorithm of ``job_id`` when ``thing`` has an IN_PROGRESS execution of it."""
    if not job_id.startswith(JOB_PREFIX):
        raise Refused("NotARotationJob", f"job ids of rotations start with {JOB_PREFIX}")
    try:
        execution = c.iot.describe_job_execution(jobId=job_id, thingName=thing)["execution"]
    except ClientError as e:
        if _code(e) == "ResourceNotFoundException":
            raise Refused("NoJobExecution", f"{thing} has no execution of job {job_id}") from None
        raise
    if execution.get("status") != "IN_PROGRESS":
        raise Refused(
            "JobNotInProgress",
            f"the execution of {job_id} on {thing} is {execution.get('status')}, not IN_PROGRESS",
        )
    document = json.loads(c.iot.get_job_document(jobId=job_id)["document"])
    return job_key_algorithm(document)


def exclusive_certificates(c: Clients, thing: str) -> dict[str, str]:
    """Certificate id -> ARN of the certificates attached to ``thing`` exclusively."""
    found: dict[str, str] = {}
    kwargs: dict[str, Any] = {"thingName": thing, "thingPrincipalType": "EXCLUSIVE_THING"}
    while True:
        page = c.iot.list_thing_principals_v2(**kwargs)
        for obj in page.get("thingPrincipalObjects", []):
            arn = obj.get("principal", "")
            # Filtered by the request; checked again, a non-exclusive attachment never counts.
            if ":cert/" in arn and obj.get("thingPrincipalType", "EXCLUSIVE_THING") == (
                "EXCLUSIVE_THING"
            ):
                found[arn.rsplit("/", 1)[1]] = arn
        if not page.get("nextToken"):
            return found
        kwargs["nextToken"] = page["nextToken"]


def certificate_status(c: Clients, cert_id: str) -> str:
    return str(
        c.iot.describe_certificate(certificateId=cert_id)["certificateDescription"]["status"]
    )


def attached_policies(c: Clients, arn: str) -> list[str]:
    names: list[str] = []
    kwargs: dict[str, Any] = {"target": arn, "recursive": False, "pageSize": 250}
    while True:
        page = c.iot.list_attached_policies(**kwargs)
        names += [p["policyName"] for p in page.get("policies", [])]
        if not page.get("nextMarker"):
            return names
        kwargs["marker"] = page["nextMarker"]


def remove_certificate(c: Clients, thing: str, cert_id: str, arn: str) -> None:
    """Deactivate, detach (policies, thing) and delete a certificate; idempotent."""
    try:
        if certificate_status(c, cert_id) == "ACTIVE":
            c.iot.update_certificate(certificateId=cert_id, newStatus="INACTIVE")
    except ClientError as e:
        if _code(e) == "ResourceNotFoundException":
            return
        raise
    for policy in attached_policies(c, arn):
        c.iot.detach_policy(policyName=policy, target=arn)
    try:
        c.iot.detach_thing_principal(thingName=thing, principal=arn)
    except ClientError as e:
        if _code(e) != "ResourceNotFoundException":
            raise
    c.iot.delete_certificate(certificateId=cert_id)


def _arn_of(arn_like: str, cert_id: str) -> str:
    return arn_like.rsplit("/", 1)[0] + "/" + cert_id


# --- state ---------------------------------------------------------------------------------


def get_state(c: Clients, options: Options, thing: str) -> dict[str, Any] | None:
    item = c.dynamodb.get_item(
        TableName=options.state_table, Key={"thing": {"S": thing}}, ConsistentRead=True
    ).get("Item")
    if not item:
        return None
    return {k: (v["S"] if "S" in v else int(v["N"])) for k, v in item.items()}


def _attrs(state: Mapping[str, Any]) -> dict[str, Any]:
    return {k: ({"N": str(v)} if isinstance(v, int) else {"S": str(v)}) for k, v in state.items()}


def put_state(
    c: Clients, options: Options, state: Mapping[str, Any], previous: Mapping[str, Any] | None
) -> None:
    """Write a thing's rotation, only over the item the caller read (no lost update)."""
    if previous is None:
        condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(thing)"}
    else:
        condition = {
            "ConditionExpression": "updated = :u AND jobId = :j",
            "ExpressionAttributeValues": {
                ":u": {"N": str(previous["updated"])},
                ":j": {"S": str(previous["jobId"])},
            },
        }
    c.dynamodb.put_item(TableName=options.state_table, Item=_attrs(state), **condition)


def delete_state(c: Clients, options: Options, state: Mapping[str, Any]) -> None:
    c.dynamodb.delete_item(
        TableName=options.state_table,
        Key={"thing": {"S": state["thing"]}},
        ConditionExpression="updated = :u",
        ExpressionAttributeValues={":u": {"N": str(state["updated"])}},
    )


def _now_ms(now: Callable[[], float]) -> int:
    return int(now() * 1000)


# --- replies and alerts --------------------------------------------------------------------


def reply(c: Clients, thing: str, verb: str, outcome: str, body: Mapping[str, Any]) -> None:
    c.iot_data.publish(
        topic=f"{TOPIC_PREFIX}/{thing}/{verb}/{outcome}", qos=1, payload=json.dumps(body)
    )


def alert(c: Clients, options: Options, subject: str, message: str) -> None:
    log("alert", subject=subject, message=message)
    c.sns.publish(TopicArn=options.alert_topic_arn, Subject=subject[:100], Message=message)


def _request(event: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """(thing, job id, principal, client id) of a rule event, checked for shape."""
    thing = str(event.get("thingName") or "")
    job_id = str(event.get("jobId") or "")
    principal = str(event.get("principal") or "")
    client_id = str(event.get("clientId") or "")
    if not THING_NAME.fullmatch(thing):
        raise Refused("BadRequest", "the topic does not name a thing")
    if not JOB_ID.fullmatch(job_id):
        raise Refused("BadRequest", "jobId is missing or malformed")
    if not CERT_ID.fullmatch(principal):
        raise Refused("NotACertificate", "the connection was not made with a certificate")
    if client_id != thing:
        raise Refused("ClientIdMismatch", "the MQTT client id must be the thing name")
    return thing, job_id, principal, client_id


# --- create --------------------------------------------------------------------------------


def issue(c: Clients, options: Options, pem: str) -> tuple[str, str, str]:
    """(certificate id, ARN, PEM) of a new ACTIVE certificate for the request."""
    if options.pca_ca_arn is None:
        made = c.iot.create_certificate_from_csr(certificateSigningRequest=pem, setAsActive=True)
        return made["certificateId"], made["certificateArn"], made["certificatePem"]
    issued = c.pca.issue_certificate(
        CertificateAuthorityArn=options.pca_ca_arn,
        Csr=pem.encode(),
        SigningAlgorithm=options.pca_signing_algorithm,
        Validity={"Value": options.pca_validity_days, "Type": "DAYS"},
    )
    c.pca.get_waiter("certificate_issued").wait(
        CertificateAuthorityArn=options.pca_ca_arn,
        CertificateArn=issued["CertificateArn"],
        WaiterConfig={"Delay": 1, "MaxAttempts": 20},
    )
    got = c.pca.get_certificate(
        CertificateAuthorityArn=options.pca_ca_arn, CertificateArn=issued["CertificateArn"]
    )
    pem_out = got["Certificate"]
    registered = c.iot.register_certificate_without_ca(certificatePem=pem_out, status="ACTIVE")
    return registered["certificateId"], registered["certificateArn"], pem_out


def _create(
    c: Clients, options: Options, event: Mapping[str, Any], now: Callable[[], float]
) -> dict[str, Any]:
    thing, job_id, principal, _ = _request(event)
    algorithm = in_progress_job(c, job_id, thing)
    certs = exclusive_certificates(c, thing)
    if principal not in certs:
        raise Refused(
            "NotTheThingsCertificate",
            "the connection's certificate is not attached to the thing exclusively",
        )
    state = get_state(c, options, thing)
    if state and state["phase"] == COMMITTED and state["jobId"] == job_id:
        raise Refused("AlreadyCommitted", f"job {job_id} already committed a new certificate")
    if state and state["phase"] == CREATED and state["jobId"] != job_id:
        raise Refused("RotationInProgress", f"job {state['jobId']} is rotating this thing")
    if state and state["phase"] == CREATED and state["oldCertificateId"] != principal:
        raise Refused("NotTheCurrentCertificate", "request it with the current certificate")
    if state and state["phase"] == COMMITTED and state["newCertificateId"] != principal:
        raise Refused("NotTheCurrentCertificate", "request it with the current certificate")
    active = [cid for cid in certs if certificate_status(c, cid) == "ACTIVE"]
    pending = state["newCertificateId"] if state and state["phase"] == CREATED else None
    if principal not in active or [a for a in active if a not in (principal, pending)]:
        raise Refused(
            "NotTheOnlyActiveCertificate",
            "the connection's certificate must be the thing's only active certificate",
        )
    try:
        request = csr_reader.parse(str(event.get("csr") or ""))
    except csr_reader.CsrError as e:
        raise Refused("BadCsr", f"the certificate signing request is malformed: {e}") from None
    if request.key_algorithm != algorithm:
        raise Refused(
            "KeyAlgorithmRefused",
            f"the job asks for {algorithm}; the request carries {request.key_algorithm}",
        )
    if not request.signature_valid:
        raise Refused("BadCsrSignature", "the request is not signed by the key it carries")
    if request.common_name != thing:
        raise Refused("BadCsrSubject", "the request's common name must be the thing name")

    old_arn = certs[principal]
    if state and state["phase"] == CREATED:
        # A repeated request of this job (the device lost the reply): the certificate issued
        # for the earlier one is never used; it goes before another is issued.
        remove_certificate(c, thing, state["newCertificateId"], _arn_of(old_arn, pending or ""))
        log("create.replaced", thing=thing, job=job_id, certificate=state["newCertificateId"])
    if state and state["phase"] == COMMITTED:
        # A new rotation of a certificate rotated before: the one it replaced, already
        # inactive, is retired now rather than at the end of its grace period.
        old = state["oldCertificateId"]
        remove_certificate(c, thing, old, _arn_of(old_arn, old))
        log("retire.early", thing=thing, job=state["jobId"], certificate=old)

    cert_id, cert_arn, cert_pem = issue(c, options, str(event["csr"]))
    try:
        for policy in attached_policies(c, old_arn):
            c.iot.attach_policy(policyName=policy, target=cert_arn)
        c.iot.attach_thing_principal(
            thingName=thing, principal=cert_arn, thingPrincipalType="EXCLUSIVE_THING"
        )
        updated = _now_ms(now)
        put_state(
            c,
            options,
            {
                "thing": thing,
                "jobId": job_id,
                "phase": CREATED,
                "oldCertificateId": principal,
                "newCertificateId": cert_id,
                "updated": updated,
            },
            state,
        )
    except Exception:
        remove_certificate(c, thing, cert_id, cert_arn)
        raise
    log("create.issued", thing=thing, job=job_id, old=principal, new=cert_id)
    return {"jobId": job_id, "certificateId": cert_id, "certificatePem": cert_pem}


def _answer(
    c: Clients,
    verb: str,
    event: Mapping[str, Any],
    work: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    thing = str(event.get("thingName") or "")
    try:
        body = work()
        outcome = "accepted"
    except Refused as e:
        body = {"jobId": event.get("jobId"), "code": e.code, "reason": e.reason}
        outcome = "rejected"
        log(f"{verb}.rejected", thing=thing, job=event.get("jobId"), code=e.code)
    except Exception:
        # The device hears that it may try again; the invocation still fails, so the
        # function's errors alarm fires (a retried create replaces what this one issued).
        LOG.exception("%s failed", verb)
        if THING_NAME.fullmatch(thing):
            body = {"jobId": event.get("jobId"), "code": "InternalError", "reason": "try again"}
            reply(c, thing, verb, "rejected", body)
        raise
    if THING_NAME.fullmatch(thing):
        reply(c, thing, verb, outcome, body)
    return {"outcome": outcome, **{k: v for k, v in body.items() if k != "certificatePem"}}


def create(event: Mapping[str, Any], context: Any = None, **kw: Any) -> dict[str, Any]:
    """The IoT rule's action for ``aisb/rotation/<thing>/create``."""
    options, c, now = _setup(kw)
    return _answer(c, "create", event, lambda: _create(c, options, event, now))


# --- commit --------------------------------------------------------------------------------


def _commit(
    c: Clients, options: Options, event: Mapping[str, Any], now: Callable[[], float]
) -> dict[str, Any]:
    thing, job_id, principal, _ = _request(event)
    state = get_state(c, options, thing)
    if not state or state["jobId"] != job_id:
        raise Refused("NothingToCommit", f"job {job_id} issued no certificate to {thing}")
    if principal != state["newCertificateId"]:
        raise Refused(
            "NotTheNewCertificate", "commit over a connection made with the new certificate"
        )
    in_progress_job(c, job_id, thing)
    if principal not in exclusive_certificates(c, thing):
        raise Refused("NotTheThingsCertificate", "the new certificate is not the thing's")
    if state["phase"] == CREATED:
        c.iot.update_certificate(certificateId=state["oldCertificateId"], newStatus="INACTIVE")
        updated = _now_ms(now)
        put_state(
            c,
            options,
            {
                **state,
                "phase": COMMITTED,
                "retireAfter": updated + options.grace_days * 86_400_000,
                "updated": updated,
            },
            state,
        )
        log("commit.done", thing=thing, job=job_id, old=state["oldCertificateId"], new=principal)
    return {"jobId": job_id, "certificateId": principal}


def commit(event: Mapping[str, Any], context: Any = None, **kw: Any) -> dict[str, Any]:
    """The IoT rule's action for ``aisb/rotation/<thing>/commit``."""
    options, c, now = _setup(kw)
    return _answer(c, "commit", event, lambda: _commit(c, options, event, now))


# --- failures, and the sweeper -------------------------------------------------------------


def roll_back(c: Clients, options: Options, state: Mapping[str, Any], why: str) -> None:
    """Undo an uncommitted rotation: the new certificate goes, the old one stays active."""
    thing = state["thing"]
    new = state["newCertificateId"]
    arn = _arn_of(
        c.iot.describe_certificate(certificateId=state["oldCertificateId"])[
            "certificateDescription"
        ]["certificateArn"],
        new,
    )
    remove_certificate(c, thing, new, arn)
    if certificate_status(c, state["oldCertificateId"]) != "ACTIVE":
        c.iot.update_certificate(certificateId=state["oldCertificateId"], newStatus="ACTIVE")
    delete_state(c, options, state)
    log("rollback.done", thing=thing, job=state["jobId"], removed=new, why=why)


def job_event(event: Mapping[str, Any], context: Any = None, **kw: Any) -> dict[str, Any]:
    """The IoT rule's action for the rotation jobs' execution events."""
    options, c, _ = _setup(kw)
    job_id = str(event.get("jobId") or "")
    status = str(event.get("status") or "").upper()
    thing = str(event.get("thingArn") or "").rsplit("/", 1)[-1]
    if not job_id.startswith(JOB_PREFIX) or not THING_NAME.fullmatch(thing):
        log("event.ignored", job=job_id, thing=thing)
        return {"outcome": "ignored"}
    state = get_state(c, options, thing)
    mine = state if state and state["jobId"] == job_id else None
    log("event", job=job_id, thing=thing, status=status, phase=mine and mine["phase"])
    subject = f"aisb: certificate rotation of {thing} {status}"
    if status == "SUCCEEDED":
        if mine and mine["phase"] == COMMITTED:
            return {"outcome": "succeeded"}
        if mine:
            roll_back(c, options, mine, "succeeded without a commit")
            alert(
                c,
                options,
                subject,
                f"Job {job_id} on {thing} ended SUCCEEDED without a "
                "commit: the new certificate was removed; the old one is still active.",
            )
            return {"outcome": "rolled-back"}
        alert(
            c,
            options,
            subject,
            f"Job {job_id} on {thing} ended SUCCEEDED but no "
            "certificate was issued: the device still uses its old certificate.",
        )
        return {"outcome": "nothing-issued"}
    if status not in FAILED_STATUSES:
        return {"outcome": "ignored"}
    reason = json.dumps((event.get("statusDetails") or {}), sort_keys=True)[:500]
    if mine and mine["phase"] == CREATED:
        roll_back(c, options, mine, status)
        alert(
            c,
            options,
            subject,
            f"Job {job_id} on {thing} ended {status} ({reason}). "
            "The new certificate was deactivated and deleted; the old one is still active.",
        )
        return {"outcome": "rolled-back"}
    if mine:
        alert(
            c,
            options,
            subject,
            f"Job {job_id} on {thing} ended {status} after the commit: "
            "the device connected with the new certificate, which stays; the old one is "
            "inactive and is deleted after the grace period.",
        )
        return {"outcome": "kept-commit"}
    alert(
        c,
        options,
        subject,
        f"Job {job_id} on {thing} ended {status} ({reason}) before "
        "a certificate was issued: nothing to roll back; the old certificate is active.",
    )
    return {"outcome": "nothing-issued"}


def sweep(event: Mapping[str, Any] | None = None, context: Any = None, **kw: Any) -> dict[str, Any]:
    """Retire old certificates past their grace period; roll back abandoned rotations."""
    options, c, now = _setup(kw)
    retired = rolled_back = 0
    kwargs: dict[str, Any] = {"TableName": options.state_table, "ConsistentRead": True}
    while True:
        page = c.dynamodb.scan(**kwargs)
        for item in page.get("Items", []):
            state: dict[str, Any] = {
                k: (v["S"] if "S" in v else int(v["N"])) for k, v in item.items()
            }
            if state["phase"] == COMMITTED and state.get("retireAfter", 0) <= _now_ms(now):
                old = state["oldCertificateId"]
                arn = _arn_of(
                    c.iot.describe_certificate(certificateId=state["newCertificateId"])[
                        "certificateDescription"
                    ]["certificateArn"],
                    old,
                )
                remove_certificate(c, state["thing"], old, arn)
                delete_state(c, options, state)
                log("retire.done", thing=state["thing"], job=state["jobId"], certificate=old)
                retired += 1
            elif state["phase"] == CREATED:
                try:
                    in_progress_job(c, state["jobId"], state["thing"])
                except Refused as e:
                    roll_back(c, options, state, e.reason)
                    alert(
                        c,
                        options,
                        f"aisb: certificate rotation of {state['thing']} abandoned",
                        f"{e.reason}: the new certificate was removed; the old "
                        "one is still active.",
                    )
                    rolled_back += 1
        if not page.get("LastEvaluatedKey"):
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return {"retired": retired, "rolledBack": rolled_back}


def _setup(kw: Mapping[str, Any]) -> tuple[Options, Clients, Callable[[], float]]:
    options = kw.get("options") or Options.from_env(os.environ)
    c = kw.get("clients") or clients(options)
    return options, c, kw.get("now") or time.time
