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
  the **new** certificate: the commit is claimed first (the item goes to COMMITTING), then
  the old certificate is set INACTIVE and kept ``GRACE_DAYS`` (COMMITTED). A claimed commit
  is always completed -- by a retry, a repeated commit, the job's event or the sweep -- and is
  never answered ``rejected``.
- ``job_event``: AWS IoT Jobs events (``$aws/events/jobExecution/<jobId>/<status>``,
  https://docs.aws.amazon.com/iot/latest/developerguide/events-jobs.html). An execution that
  ends FAILED, TIMED_OUT, CANCELED, REJECTED or REMOVED before the commit rolls back: the
  rollback is claimed first (ROLLING_BACK), then the new certificate is deactivated, detached,
  deleted (and, from a Private CA, revoked) and the old stays active; a claimed commit is
  completed instead. Every failure is published to the alert topic.
- ``sweep`` (scheduled): detaches and deletes old certificates whose grace period has passed,
  rolls back uncommitted rotations whose job execution is no longer in progress (an event
  that never arrived), and finishes claimed commits and rollbacks that an error interrupted.

Each thing's rotation is one item of a DynamoDB table (``STATE_TABLE``). Every change is a
conditional write over the version read (``updated``, ``jobId``, ``phase``), and a step with
side effects first claims the item (COMMITTING or ROLLING_BACK): of a commit and a rollback
racing for one rotation only one acts, a duplicate or late message cannot undo a newer step,
and every step after a claim is idempotent so that whoever comes next resumes it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import time
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

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
COMMITTING, ROLLING_BACK = "COMMITTING", "ROLLING_BACK"
"""Claims: a commit or a rollback that has begun; whoever reads one finishes it."""
CLIENT_AUTH_TEMPLATE = "EndEntityClientAuthCertificate/V1"
"""The Private CA template for device certificates: client authentication only (without a
template Private CA applies EndEntityCertificate/V1, server and client authentication:
https://docs.aws.amazon.com/privateca/latest/userguide/UsingTemplates.html and
https://docs.aws.amazon.com/privateca/latest/userguide/template-order-of-operations.html)."""
REVOCATION_REASON = "CESSATION_OF_OPERATION"
"""Why a discarded certificate is revoked: never used, no longer needed (RFC 5280, 5.3.1)."""
DEVICE_TEXT_LIMIT = 300
"""The most characters of device-supplied text an alert carries."""


class Lost(Exception):
    """The item changed since it was read: another invocation moved the rotation on."""


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
    try:
        c.iot.delete_certificate(certificateId=cert_id)
    except ClientError as e:
        if _code(e) != "ResourceNotFoundException":  # deleted meanwhile: done
            raise


def _arn_of(arn_like: str, cert_id: str) -> str:
    return arn_like.rsplit("/", 1)[0] + "/" + cert_id


def _der_length(der: bytes, at: int) -> tuple[int, int]:
    """(length, offset of the contents) of the DER element whose length byte is at ``at``."""
    first = der[at]
    if first < 0x80:
        return first, at + 1
    count = first & 0x7F
    if not 1 <= count <= 4 or at + 1 + count > len(der):
        raise ValueError("unsupported DER length")
    return int.from_bytes(der[at + 1 : at + 1 + count], "big"), at + 1 + count


def certificate_serial(pem: str) -> str:
    """A certificate's serial number as ``openssl x509 -text`` prints it (hex bytes joined by
    colons), the form RevokeCertificate's ``CertificateSerial`` takes (Private CA API
    reference, RevokeCertificate). Stdlib only: Certificate ::= SEQUENCE { tbsCertificate
    SEQUENCE { [0] version OPTIONAL, serialNumber INTEGER, ... } } (RFC 5280, 4.1)."""
    body = "".join(
        line.strip() for line in pem.strip().splitlines() if line and not line.startswith("-----")
    )
    der = base64.b64decode(body)
    at = 0
    for _ in range(2):  # into the certificate, then into tbsCertificate
        if der[at] != 0x30:
            raise ValueError("not a certificate")
        _, at = _der_length(der, at + 1)
    if der[at] == 0xA0:  # the explicit version
        length, contents = _der_length(der, at + 1)
        at = contents + length
    if der[at] != 0x02:
        raise ValueError("no serial number")
    length, contents = _der_length(der, at + 1)
    serial = der[contents : contents + length].lstrip(b"\x00") or b"\x00"
    return ":".join(f"{b:02x}" for b in serial)


def revoke(c: Clients, ca_arn: str, serial: str, thing: str) -> bool:
    """Revoke a Private CA certificate the rotation discards; False when it could not be
    (logged: the caller says so). The certificate is already gone from AWS IoT, so it can no
    longer connect; revocation tells every other relying party too."""
    if c.pca is None:
        log("revoke.skipped", thing=thing, serial=serial, why="no Private CA client")
        return False
    try:
        c.pca.revoke_certificate(
            CertificateAuthorityArn=ca_arn,
            CertificateSerial=serial,
            RevocationReason=REVOCATION_REASON,
        )
    except ClientError as e:
        if _code(e) == "RequestAlreadyProcessedException":  # revoked before: done
            return True
        LOG.exception("revoking %s failed", serial)
        log("revoke.failed", thing=thing, serial=serial, code=_code(e))
        return False
    except BotoCoreError:  # no answer (a connection or credentials error)
        LOG.exception("revoking %s failed", serial)
        log("revoke.failed", thing=thing, serial=serial, code="NoAnswer")
        return False
    log("revoke.done", thing=thing, serial=serial)
    return True


def discard(c: Clients, state: Mapping[str, Any], thing: str, cert_id: str, arn: str) -> bool:
    """Remove a certificate issued for a rotation that will not use it, and revoke it when a
    Private CA issued it (``state`` names its CA and serial); False when revocation failed."""
    remove_certificate(c, thing, cert_id, arn)
    ca, serial = state.get("newCertificateCa"), state.get("newCertificateSerial")
    if ca and serial:
        return revoke(c, str(ca), str(serial), thing)
    return True


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
            "ConditionExpression": "updated = :u AND jobId = :j AND phase = :p",
            "ExpressionAttributeValues": {
                ":u": {"N": str(previous["updated"])},
                ":j": {"S": str(previous["jobId"])},
                ":p": {"S": str(previous["phase"])},
            },
        }
    c.dynamodb.put_item(TableName=options.state_table, Item=_attrs(state), **condition)


def _conditional(error: ClientError) -> bool:
    return _code(error) == "ConditionalCheckFailedException"


def _next_ms(state: Mapping[str, Any], now: Callable[[], float]) -> int:
    """A version newer than the one read, even within one millisecond."""
    return max(_now_ms(now), int(state["updated"]) + 1)


def advance(
    c: Clients,
    options: Options,
    state: Mapping[str, Any],
    now: Callable[[], float],
    **changes: Any,
) -> dict[str, Any]:
    """``state`` moved on by ``changes``, written over the version read; ``Lost`` when another
    invocation changed the item first (nothing is written then)."""
    moved = {**state, "updated": _next_ms(state, now), **changes}
    try:
        put_state(c, options, moved, state)
    except ClientError as e:
        if _conditional(e):
            raise Lost(f"the rotation of {state['thing']} changed meanwhile") from None
        raise
    return moved


def delete_state(c: Clients, options: Options, state: Mapping[str, Any]) -> bool:
    """Delete a finished rotation's item if it is still the version read; False when another
    invocation changed it first."""
    try:
        c.dynamodb.delete_item(
            TableName=options.state_table,
            Key={"thing": {"S": state["thing"]}},
            ConditionExpression="updated = :u AND phase = :p",
            ExpressionAttributeValues={
                ":u": {"N": str(state["updated"])},
                ":p": {"S": str(state["phase"])},
            },
        )
    except ClientError as e:
        if _conditional(e):
            return False
        raise
    return True


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


def _printable(text: str) -> str:
    """``text`` without control, format (bidirectional overrides), unassigned or private-use
    characters (Unicode categories C*), and with runs of white space made one space."""
    kept = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in text)
    return " ".join(kept.split())


def device_text(details: Any, limit: int = DEVICE_TEXT_LIMIT) -> str:
    """A device's ``statusDetails`` for an alert: labelled as the device's own words, printable
    characters only, at most ``limit`` characters of them (a device may write anything)."""
    if isinstance(details, Mapping):
        text = "; ".join(
            f"{_printable(str(k))}={_printable(str(v))}" for k, v in sorted(details.items())
        )
    else:
        text = _printable(str(details or ""))
    if not text:
        return "the device gave no details"
    if len(text) > limit:
        text = text[: limit - 1] + "\u2026"
    return f'the device reported (device-supplied, unverified): "{text}"'


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


def client_auth_template_arn(ca_arn: str) -> str:
    """The template's ARN in the CA's partition (template ARNs name no region or account)."""
    return f"arn:{ca_arn.split(':')[1]}:acm-pca:::template/{CLIENT_AUTH_TEMPLATE}"


def issue(c: Clients, options: Options, pem: str) -> tuple[str, str, str]:
    """(certificate id, ARN, PEM) of a new ACTIVE certificate for the request."""
    if options.pca_ca_arn is None:
        made = c.iot.create_certificate_from_csr(certificateSigningRequest=pem, setAsActive=True)
        return made["certificateId"], made["certificateArn"], made["certificatePem"]
    issued = c.pca.issue_certificate(
        CertificateAuthorityArn=options.pca_ca_arn,
        Csr=pem.encode(),
        SigningAlgorithm=options.pca_signing_algorithm,
        TemplateArn=client_auth_template_arn(options.pca_ca_arn),
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
    try:
        registered = c.iot.register_certificate_without_ca(certificatePem=pem_out, status="ACTIVE")
    except Exception:
        revoke(c, options.pca_ca_arn, certificate_serial(pem_out), "")
        raise
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
    if state and state["phase"] in (COMMITTED, COMMITTING) and state["jobId"] == job_id:
        raise Refused("AlreadyCommitted", f"job {job_id} already committed a new certificate")
    if (
        state
        and state["phase"] != COMMITTED
        and (state["jobId"] != job_id or state["phase"] == ROLLING_BACK)
    ):
        # Another job's rotation, or a commit or rollback still under way, finishes first.
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
        # for the earlier one is never used, and goes before another is issued, by a rollback
        # that claims the rotation first. Discarding it unclaimed could race a commit of it (a
        # redelivered request while the device commits) and leave the thing with no active
        # certificate; claimed, that commit finds nothing to commit and the device keeps its
        # old certificate.
        try:
            unrevoked = roll_back(
                c, options, state, "a repeated request replaces its certificate", now
            )
        except Lost:
            raise Refused(
                "RotationInProgress", f"job {job_id}'s rotation changed meanwhile: ask again"
            ) from None
        # create has no alert grant: what the rollback could not revoke is logged.
        log(
            "create.replaced",
            thing=thing,
            job=job_id,
            certificate=state["newCertificateId"],
            **({"unrevoked": unrevoked.strip()} if unrevoked else {}),
        )
        state = None
    if state and state["phase"] == COMMITTED:
        # A new rotation of a certificate rotated before: the one it replaced, already
        # inactive, is retired now rather than at the end of its grace period.
        old = state["oldCertificateId"]
        remove_certificate(c, thing, old, _arn_of(old_arn, old))
        log("retire.early", thing=thing, job=state["jobId"], certificate=old)

    cert_id, cert_arn, cert_pem = issue(c, options, str(event["csr"]))
    issued: dict[str, Any] = {}
    try:
        if options.pca_ca_arn:
            issued = {
                "newCertificateCa": options.pca_ca_arn,
                "newCertificateSerial": certificate_serial(cert_pem),
            }
        for policy in attached_policies(c, old_arn):
            c.iot.attach_policy(policyName=policy, target=cert_arn)
        c.iot.attach_thing_principal(
            thingName=thing, principal=cert_arn, thingPrincipalType="EXCLUSIVE_THING"
        )
        updated = _now_ms(now) if state is None else _next_ms(state, now)
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
                **issued,
            },
            state,
        )
    except Exception:
        try:
            discard(c, issued, thing, cert_id, cert_arn)
        except Exception:
            # No state names it: the certificate stays, ACTIVE and attached, until someone
            # removes it (the invocation's failure fires the function's errors alarm).
            LOG.exception("create: the certificate %s could not be discarded", cert_id)
            log("create.discard-failed", thing=thing, job=job_id, certificate=cert_id)
        raise
    log("create.issued", thing=thing, job=job_id, old=principal, new=cert_id)
    return {"jobId": job_id, "certificateId": cert_id, "certificatePem": cert_pem}


def _answer(
    c: Clients,
    verb: str,
    event: Mapping[str, Any],
    work: Callable[[], dict[str, Any]],
    claimed: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Run ``work`` and answer the device. ``claimed`` (commit) says whether the work claimed
    the rotation: after that the outcome is settled, whatever fails next."""
    thing = str(event.get("thingName") or "")
    try:
        body = work()
        outcome = "accepted"
    except Refused as e:
        body = {"jobId": event.get("jobId"), "code": e.code, "reason": e.reason}
        outcome = "rejected"
        log(f"{verb}.rejected", thing=thing, job=event.get("jobId"), code=e.code)
    except Exception:
        # The invocation fails, so the function's errors alarm fires and Lambda retries it.
        LOG.exception("%s failed", verb)
        if not THING_NAME.fullmatch(thing):
            raise
        if claimed is None:
            # create: the device may try again (a retried create replaces what this issued).
            body = {"jobId": event.get("jobId"), "code": "InternalError", "reason": "try again"}
            reply(c, thing, verb, "rejected", body)
        elif claimed():
            # The commit is claimed: the retry, a repeated commit, the job's event or the sweep
            # completes it, so the device may go on with the new certificate.
            body = {"jobId": event.get("jobId"), "certificateId": event.get("principal")}
            try:
                reply(c, thing, verb, "accepted", body)
            except Exception:
                LOG.exception("%s: the reply failed too", verb)
        else:
            # Not claimed, or not known whether the claim was written: any answer could be
            # wrong once Lambda's retry runs, so none is sent; the device commits again.
            log(f"{verb}.unanswered", thing=thing, job=event.get("jobId"))
        raise
    if THING_NAME.fullmatch(thing):
        reply(c, thing, verb, outcome, body)
    return {"outcome": outcome, **{k: v for k, v in body.items() if k != "certificatePem"}}


def create(event: Mapping[str, Any], context: Any = None, **kw: Any) -> dict[str, Any]:
    """The IoT rule's action for ``aisb/rotation/<thing>/create``."""
    options, c, now = _setup(kw)
    return _answer(c, "create", event, lambda: _create(c, options, event, now))


# --- commit --------------------------------------------------------------------------------

ATTEMPTS = 3
"""Reads of an item that keeps changing under a step before the step gives up (and fails)."""


def finish_commit(
    c: Clients, options: Options, state: Mapping[str, Any], now: Callable[[], float]
) -> dict[str, Any]:
    """Complete a claimed (COMMITTING) commit: the old certificate INACTIVE, then COMMITTED.
    Idempotent; ``Lost`` when another invocation completed it first."""
    old = state["oldCertificateId"]
    try:
        if certificate_status(c, old) == "ACTIVE":
            c.iot.update_certificate(certificateId=old, newStatus="INACTIVE")
    except ClientError as e:
        if _code(e) != "ResourceNotFoundException":  # already gone: nothing to deactivate
            raise
    done = advance(
        c,
        options,
        state,
        now,
        phase=COMMITTED,
        retireAfter=_now_ms(now) + options.grace_days * 86_400_000,
    )
    log(
        "commit.done",
        thing=state["thing"],
        job=state["jobId"],
        old=old,
        new=done["newCertificateId"],
    )
    return done


def _commit(
    c: Clients,
    options: Options,
    event: Mapping[str, Any],
    now: Callable[[], float],
    progress: dict[str, bool],
) -> dict[str, Any]:
    thing, job_id, principal, _ = _request(event)
    for _ in range(ATTEMPTS):
        state = get_state(c, options, thing)
        if not state or state["jobId"] != job_id:
            raise Refused("NothingToCommit", f"job {job_id} issued no certificate to {thing}")
        if principal != state["newCertificateId"]:
            raise Refused(
                "NotTheNewCertificate", "commit over a connection made with the new certificate"
            )
        if state["phase"] == ROLLING_BACK:
            # The rollback claimed the rotation first: the old certificate stays.
            raise Refused("NothingToCommit", f"job {job_id}'s rotation of {thing} is rolled back")
        if state["phase"] == CREATED:
            # Checked only before the claim: a repeated commit of a claimed or completed
            # rotation is accepted even after the job ended (its first answers were lost).
            try:
                in_progress_job(c, job_id, thing)
                if principal not in exclusive_certificates(c, thing):
                    raise Refused(
                        "NotTheThingsCertificate", "the new certificate is not the thing's"
                    )
            except Refused:
                # A final refusal sends the device back to its old certificate: the rollback
                # is claimed first, so that no other copy of this commit (a retry, a
                # redelivery) can claim the commit after the device was told no. The job's
                # event or the sweep completes the rollback.
                try:
                    advance(c, options, state, now, phase=ROLLING_BACK)
                except Lost:
                    continue  # moved meanwhile (perhaps committed): read again, decide again
                raise
            try:
                # An error other than Lost leaves it unknown whether the claim was written:
                # the commit then sends no answer (see _answer).
                state = advance(c, options, state, now, phase=COMMITTING)
            except Lost:
                continue  # not written: read again, and decide again
        progress["claimed"] = True
        if state["phase"] == COMMITTING:
            # Lost: completed meanwhile (nothing but finish_commit moves a COMMITTING item).
            with contextlib.suppress(Lost):
                finish_commit(c, options, state, now)
        return {"jobId": job_id, "certificateId": principal}
    raise RuntimeError(f"the rotation of {thing} kept changing; not committed by this call")


def commit(event: Mapping[str, Any], context: Any = None, **kw: Any) -> dict[str, Any]:
    """The IoT rule's action for ``aisb/rotation/<thing>/commit``."""
    options, c, now = _setup(kw)
    progress: dict[str, bool] = {}
    return _answer(
        c,
        "commit",
        event,
        lambda: _commit(c, options, event, now, progress),
        claimed=lambda: progress.get("claimed", False),
    )


# --- failures, and the sweeper -------------------------------------------------------------


def _arn_beside(c: Clients, cert_id: str, known: str) -> str:
    """The ARN of ``cert_id``, built from that of the certificate ``known`` (the same account
    and region) so that it is found even when ``cert_id`` is already deleted."""
    for cid in (cert_id, known):
        try:
            arn = c.iot.describe_certificate(certificateId=cid)["certificateDescription"][
                "certificateArn"
            ]
            return _arn_of(str(arn), cert_id)
        except ClientError as e:
            if _code(e) != "ResourceNotFoundException":
                raise
    raise RuntimeError(f"neither {cert_id} nor {known} is known to AWS IoT")


def roll_back(
    c: Clients,
    options: Options,
    state: Mapping[str, Any],
    why: str,
    now: Callable[[], float] = time.time,
) -> str:
    """Undo an uncommitted rotation: the new certificate goes, the old one stays active.
    Claims the item first (``Lost`` when a commit or another rollback moved it on: nothing is
    done then); every step after the claim is idempotent, so a retry or the sweep resumes an
    interrupted one. Returns what the alert should add (revocation failures), or ''."""
    if state["phase"] not in (CREATED, ROLLING_BACK):
        raise ValueError(f"a {state['phase']} rotation is not rolled back")
    claimed = advance(c, options, state, now, phase=ROLLING_BACK)
    thing, new, old = state["thing"], state["newCertificateId"], state["oldCertificateId"]
    revoked = discard(c, claimed, thing, new, _arn_beside(c, new, old))
    try:
        if certificate_status(c, old) != "ACTIVE":
            c.iot.update_certificate(certificateId=old, newStatus="ACTIVE")
    except ClientError as e:
        if _code(e) != "ResourceNotFoundException":
            raise
        log("rollback.no-old-certificate", thing=thing, job=state["jobId"], certificate=old)
    delete_state(c, options, claimed)  # False: a resumed rollback finished it meanwhile
    log("rollback.done", thing=thing, job=state["jobId"], removed=new, why=why)
    if revoked:
        return ""
    return (
        f" The Private CA certificate (serial {claimed.get('newCertificateSerial')}) could"
        " not be revoked: it is deleted from AWS IoT; revoke it in the Private CA."
    )


def job_event(event: Mapping[str, Any], context: Any = None, **kw: Any) -> dict[str, Any]:
    """The IoT rule's action for the rotation jobs' execution events, which may arrive late,
    twice or out of order (https://docs.aws.amazon.com/iot/latest/developerguide/iot-events.html):
    every outcome rests on the item as read, and every change on a claim of that version."""
    options, c, now = _setup(kw)
    job_id = str(event.get("jobId") or "")
    status = str(event.get("status") or "").upper()
    thing = str(event.get("thingArn") or "").rsplit("/", 1)[-1]
    if not job_id.startswith(JOB_PREFIX) or not THING_NAME.fullmatch(thing):
        log("event.ignored", job=job_id, thing=thing)
        return {"outcome": "ignored"}
    if status != "SUCCEEDED" and status not in FAILED_STATUSES:
        return {"outcome": "ignored"}
    for _ in range(ATTEMPTS):
        state = get_state(c, options, thing)
        mine = state if state and state["jobId"] == job_id else None
        log("event", job=job_id, thing=thing, status=status, phase=mine and mine["phase"])
        try:
            return _on_job_event(c, options, now, event, job_id, thing, status, mine)
        except Lost:
            continue  # a commit or another handler moved the rotation on: decide again
    raise RuntimeError(f"the rotation of {thing} kept changing; event {status} not handled")


def _on_job_event(
    c: Clients,
    options: Options,
    now: Callable[[], float],
    event: Mapping[str, Any],
    job_id: str,
    thing: str,
    status: str,
    mine: dict[str, Any] | None,
) -> dict[str, Any]:
    subject = f"aisb: certificate rotation of {thing} {status}"
    phase = mine["phase"] if mine else None
    if phase == COMMITTING:
        # A claimed commit is completed whatever the job says: the device may have heard
        # "accepted" and dropped its old key.
        finish_commit(c, options, mine or {}, now)
        phase = COMMITTED
    if status == "SUCCEEDED":
        if phase == COMMITTED:
            return {"outcome": "succeeded"}
        if mine:
            extra = roll_back(c, options, mine, "succeeded without a commit", now)
            alert(
                c,
                options,
                subject,
                f"Job {job_id} on {thing} ended SUCCEEDED without a "
                "commit: the new certificate was removed; the old one is still active." + extra,
            )
            return {"outcome": "rolled-back"}
        alert(
            c,
            options,
            subject,
            f"Job {job_id} on {thing} ended SUCCEEDED but no certificate of it is "
            "pending: the device still uses its old certificate.",
        )
        return {"outcome": "nothing-issued"}
    reason = device_text(event.get("statusDetails"))
    if mine and phase in (CREATED, ROLLING_BACK):
        extra = roll_back(c, options, mine, status, now)
        alert(
            c,
            options,
            subject,
            f"Job {job_id} on {thing} ended {status}; {reason}. "
            "The new certificate was deactivated and deleted; the old one is still active." + extra,
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
        f"Job {job_id} on {thing} ended {status}; {reason}. No certificate of this job is "
        "pending (none was issued, or it was already rolled back): the old certificate is "
        "active.",
    )
    return {"outcome": "nothing-issued"}


def _sweep_item(
    c: Clients, options: Options, state: dict[str, Any], now: Callable[[], float]
) -> str | None:
    """What the sweep did to one rotation: 'retired', 'completed', 'rolledBack' or None."""
    thing, phase = state["thing"], state["phase"]
    if phase == COMMITTED and state.get("retireAfter", 0) <= _now_ms(now):
        old = state["oldCertificateId"]
        remove_certificate(c, thing, old, _arn_beside(c, old, state["newCertificateId"]))
        if not delete_state(c, options, state):
            return None  # a new rotation took the item meanwhile; it retired the old one
        log("retire.done", thing=thing, job=state["jobId"], certificate=old)
        return "retired"
    if phase == COMMITTING:
        finish_commit(c, options, state, now)
        return "completed"
    if phase == ROLLING_BACK:
        why = "a rollback an error interrupted"
    elif phase == CREATED:
        try:
            in_progress_job(c, state["jobId"], thing)
            return None
        except Refused as e:
            why = e.reason
    else:
        return None
    extra = roll_back(c, options, state, why, now)
    alert(
        c,
        options,
        f"aisb: certificate rotation of {thing} abandoned",
        f"{why}: the new certificate was removed; the old one is still active." + extra,
    )
    return "rolledBack"


def sweep(event: Mapping[str, Any] | None = None, context: Any = None, **kw: Any) -> dict[str, Any]:
    """Retire old certificates past their grace period; roll back abandoned rotations; finish
    interrupted commits and rollbacks. One rotation's error never stops the others: each is
    logged, the run's failures are e-mailed together, and the next run tries them again."""
    options, c, now = _setup(kw)
    counts = {"retired": 0, "rolledBack": 0, "completed": 0}
    failed: list[str] = []
    kwargs: dict[str, Any] = {"TableName": options.state_table, "ConsistentRead": True}
    while True:
        page = c.dynamodb.scan(**kwargs)
        for item in page.get("Items", []):
            state: dict[str, Any] = {
                k: (v["S"] if "S" in v else int(v["N"])) for k, v in item.items()
            }
            try:
                done = _sweep_item(c, options, state, now)
            except Lost:
                done = None  # another invocation moved it on; the next sweep looks again
            except Exception as e:
                LOG.exception("sweep of %s failed", state.get("thing"))
                code = _code(e) if isinstance(e, ClientError) else type(e).__name__
                failed.append(f"{state.get('thing')} ({state.get('phase')}): {code}")
                log("sweep.failed", thing=state.get("thing"), phase=state.get("phase"), error=code)
                continue
            if done:
                counts[done] += 1
        if not page.get("LastEvaluatedKey"):
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    if failed:
        shown = failed[:50]
        alert(
            c,
            options,
            f"aisb: certificate rotation sweep: {len(failed)} rotations failed",
            f"The daily sweep could not handle {len(failed)} rotations (the others were "
            "handled; the next sweep tries these again; the function's log has each error):\n"
            + "\n".join(shown)
            + (f"\n... and {len(failed) - len(shown)} more" if len(failed) > len(shown) else ""),
        )
    return {**counts, "failed": len(failed)}


def _setup(kw: Mapping[str, Any]) -> tuple[Options, Clients, Callable[[], float]]:
    options = kw.get("options") or Options.from_env(os.environ)
    c = kw.get("clients") or clients(options)
    return options, c, kw.get("now") or time.time
