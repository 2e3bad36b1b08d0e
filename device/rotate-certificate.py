#!/usr/bin/env python3
"""Rotate this device's AWS IoT certificate and key (aisb, AISB #6): a job handler for AWS IoT
Device Client, run by aisb's rotation job (``start --key-algorithm EC-P256|RSA-2048``).

The key is generated here and never leaves the device. The protocol (docs, "Certificate
rotation"), over this handler's own MQTT connection whose client id is the thing name:

1. ``start`` (run by Device Client): records the job's key algorithm in the state file and
   launches ``run`` outside Device Client's service (``systemd-run``), which stops Device
   Client -- one connection per client id -- and so ends ``start``; the job stays IN_PROGRESS.
2. ``run``: connects with the current certificate, finds its IN_PROGRESS rotation job
   (``$aws/things/<thing>/jobs/get``), generates the key beside the current one (mode 0600)
   and a CSR whose common name is the thing name, publishes ``{"jobId", "csr"}`` to
   ``aisb/rotation/<thing>/create`` and waits for ``.../create/accepted`` (the certificate,
   installed only when it carries this job's id and the new key's public key) or
   ``.../create/rejected``;
3. installs the new certificate and key in place of the current ones, keeping those as
   ``<file>.old`` (each step an atomic rename, the state file written first);
4. connects with the new files and publishes ``{"jobId"}`` to ``aisb/rotation/<thing>/commit``;
   on ``.../commit/accepted`` it removes the old files, reports the job SUCCEEDED and starts
   Device Client again (which then connects with the new certificate);
5. the old files go back (and the job is reported FAILED with the reason) only when the old
   certificate is shown to work: a test connection with it is accepted after the new one
   could not connect, or after a final refusal of the commit. A commit left unanswered or
   answered ``InternalError`` leaves the new files, and the ``.old`` copies, in place and the
   rotation pending; a new certificate that connects while the old one is refused is kept
   whatever the commit's answer (the cloud committed: only the commit deactivates the old).

Every step is recorded in a state file (``rotate-certificate.state.json`` beside Device
Client's configuration), so ``run`` resumes after a restart, a reboot or a power loss at any
step (a systemd unit or boot hook runs ``rotate-certificate.py run`` when the file exists).

What the job may choose. Device Client runs the handler as root with the job document's
arguments, and anyone allowed ``iot:CreateJob`` writes job documents: the job chooses only the
key algorithm (``--key-algorithm``) and, optionally, its own id (``--job-id``). A job that
passes anything else fails (exit 1, the reason on standard output, which Device Client puts
in the execution's status details). Paths, commands, the timeout and the PKCS #11 module come
from ``rotate-certificate.json`` beside this handler (written at provisioning, refused unless
it is a regular file owned by root and not writable by its group or others) or from fixed
defaults (``SETTINGS_DEFAULTS``).

Keys come from ``cryptography`` (EC P-256 or RSA 2048). With ``"pkcs11Token":
"MODULE:FACTORY"`` in the settings the key is made and used inside a PKCS #11 token through
the ``Pkcs11Token`` hook (``generate``/``csr``); the handler ships the interface, not a token
driver. Files are written through a fresh ``mkstemp`` file in the target directory (mode set
with ``fchmod``: 0600 for keys and state), fsynced and renamed into place, and only in a
directory owned by root or the running user that its group and others cannot write.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import ssl
import stat
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Dict, List, Optional

SERVICE_DIR = "/etc/.aws-iot-device-client"
USER_DIR = "~/.aws-iot-device-client"
# Device Client's own file name (aws-iot-device-client source/config/Config.h, DEFAULT_CONFIG_FILE
# "~/.aws-iot-device-client/aws-iot-device-client.conf"; its setup script writes the service's
# under /etc/.aws-iot-device-client/), JSON despite the suffix.
CONFIG_FILE = "aws-iot-device-client.conf"
STATE_FILE = "rotate-certificate.state.json"
TOPIC_PREFIX = "aisb/rotation"
JOB_PREFIX = "aisb-rotation-"
KEY_ALGORITHMS = ("EC-P256", "RSA-2048")
DEFAULT_TIMEOUT = 30.0
SERVICE = "aws-iot-device-client"
HANDLER = os.path.realpath(__file__)
SETTINGS_FILE = os.path.join(os.path.dirname(HANDLER), "rotate-certificate.json")
SETTINGS_OWNER_UID = 0  # root: whoever else could write the settings could run commands as root
SETTINGS_DEFAULTS: Dict[str, Any] = {
    "deviceClientConfig": None,  # None: the service install's, else the user install's
    "stateFile": None,  # None: beside Device Client's configuration
    "timeout": DEFAULT_TIMEOUT,
    "stopCommand": ["systemctl", "stop", SERVICE],
    "startCommand": ["systemctl", "start", SERVICE],
    "launcher": ["systemd-run", "--unit", "aisb-rotate-certificate", "--collect", "--quiet"],
    "pkcs11Token": None,
}
JOB_ID = re.compile(re.escape(JOB_PREFIX) + r"[A-Za-z0-9_-]{1,50}")  # CreateJob: [a-zA-Z0-9_-]+
USER = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?")
TOKEN_SPEC = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")
NOT_KNOWN = ("InternalError",)
"""Commit rejection codes that say "try again": whether the cloud committed is not known."""


class RotationFailed(Exception):
    """A step failed: the old files go back and the job is reported FAILED with this reason."""


class NoReply(RotationFailed):
    """No answer within the timeout: the request may or may not have been processed."""


class Pending(Exception):
    """Whether the cloud committed is not known: nothing is rolled back."""


class CannotConnect(RotationFailed):
    """The broker could not be reached, or refused the certificate (``refused``: the broker
    answered and turned the certificate down; otherwise it could not be told)."""

    def __init__(self, message: str, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


class Rejected(RotationFailed):
    """A reply on ``<topic>/rejected``, with its ``code``."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class OldWorks(RotationFailed):
    """A failure after which the old certificate was shown to connect: rolling back is safe."""


class Refused(Exception):
    """The handler will not run: a job argument or the settings file is not acceptable."""


COMMIT_ATTEMPTS = 3
"""Commits sent before a silent cloud leaves the rotation pending (see ``_commit``)."""


# --- configuration and state -----------------------------------------------------------------


def find_config(explicit: Optional[str]) -> str:
    """Device Client's configuration: the one given, else the service's, else the user's."""
    if explicit:
        return os.path.expanduser(explicit)
    for path in (
        os.path.join(SERVICE_DIR, CONFIG_FILE),
        os.path.join(os.path.expanduser(USER_DIR), CONFIG_FILE),
    ):
        if os.path.isfile(path):
            return path
    raise ValueError("no Device Client configuration found")


def device_identity(config_path: str) -> Dict[str, Any]:
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    missing = [k for k in ("endpoint", "cert", "key", "root-ca", "thing-name") if not config.get(k)]
    if missing:
        raise ValueError(f"{config_path} lacks {', '.join(missing)}")
    identity: Dict[str, Any] = {
        k: os.path.expanduser(str(config[k])) for k in ("cert", "key", "root-ca")
    }
    identity.update(endpoint=str(config["endpoint"]), thing=str(config["thing-name"]))
    identity["port"] = int(config.get("port", 8883))
    return identity


def check_directory(path: str) -> None:
    """Refuse to write into a directory someone else could change: it must be owned by root or
    the running user and not writable by its group or others (a writer there could swap the
    file a root process reads as its key, or plant a link where it writes)."""
    folder = os.path.dirname(os.path.abspath(path))
    st = os.stat(folder)
    if st.st_uid not in (0, os.getuid()):
        raise RotationFailed(f"{folder} is owned by uid {st.st_uid}: not root or this user")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise RotationFailed(f"{folder} is writable by its group or others ({st.st_mode:o})")


def write_atomic(path: str, data: bytes, mode: int = 0o600) -> None:
    """Write ``path`` so that after a power loss it holds the old or the new bytes, whole: a
    new file of a random name (``mkstemp``: ``O_CREAT | O_EXCL``, never an existing file or
    link) in the same directory, given ``mode`` whatever the umask, fsynced, then renamed."""
    check_directory(path)
    folder, name = os.path.split(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
    _sync_dir(path)


def _sync_dir(path: str) -> None:
    fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class State:
    """The rotation's progress, on disk."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.data: Dict[str, Any] = {}
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                self.data = json.load(f)

    def set(self, **changes: Any) -> None:
        self.data.update(changes)
        write_atomic(self.path, json.dumps(self.data, sort_keys=True).encode())

    def clear(self) -> None:
        if os.path.exists(self.path):
            os.unlink(self.path)
            _sync_dir(self.path)
        self.data = {}


# --- keys ----------------------------------------------------------------------------------


class Pkcs11Token:
    """The hook for a key in a PKCS #11 token (the setting ``pkcs11Token``: ``MODULE:FACTORY``,
    a callable returning one): ``generate`` makes the key inside the token under ``label`` and
    returns its reference (an RFC 7512 ``pkcs11:`` URI), ``csr`` signs the request inside the
    token.
    The handler writes the reference where the key file goes (``<key>.new``, then ``<key>``),
    so the TLS stack that reads Device Client's ``key`` setting must take such a URI (an
    OpenSSL engine or provider); no key material is ever written."""

    def generate(self, algorithm: str, label: str) -> str:
        raise NotImplementedError

    def csr(self, reference: str, common_name: str) -> str:
        raise NotImplementedError


def load_token(spec: str) -> Pkcs11Token:
    """The token a ``MODULE:FACTORY`` import path makes."""
    import importlib

    module, _, factory = spec.partition(":")
    token = getattr(importlib.import_module(module), factory)()
    if not isinstance(token, Pkcs11Token):
        raise ValueError(f"{spec} did not return a Pkcs11Token")
    return token


def generate_key(algorithm: str) -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if algorithm == "EC-P256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "RSA-2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise RotationFailed(f"key algorithm {algorithm!r} is not one of {', '.join(KEY_ALGORITHMS)}")


def key_pem(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_csr(key_file: str, common_name: str) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    with open(key_file, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .sign(key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return request.public_bytes(serialization.Encoding.PEM).decode()


# --- MQTT ------------------------------------------------------------------------------------


class Connection:
    """One MQTT connection with a certificate: publish a request, wait for its reply."""

    def __init__(self, identity: Dict[str, Any], cert: str, key: str, timeout: float) -> None:
        import paho.mqtt.client as mqtt

        self.timeout = timeout
        self.replies: Dict[str, Any] = {}
        self.arrived = threading.Condition()
        self.accepted: Optional[bool] = None
        """Whether the broker accepted the connection (its CONNACK); None until it answers."""
        kwargs: Dict[str, Any] = {"client_id": identity["thing"], "protocol": mqtt.MQTTv311}
        if hasattr(mqtt, "CallbackAPIVersion"):
            kwargs["callback_api_version"] = mqtt.CallbackAPIVersion.VERSION2
        try:
            # A lost connection is not taken up again in the background: each request is
            # answered on the connection that sent it, and a connection that keeps coming back
            # with the thing's client id would take it from Device Client.
            self.client = mqtt.Client(reconnect_on_failure=False, **kwargs)
        except TypeError:  # paho-mqtt before 1.6
            self.client = mqtt.Client(**kwargs)
        context = ssl.create_default_context(cafile=identity["root-ca"])
        context.load_cert_chain(cert, key)
        self.client.tls_set_context(context)
        self.client.on_message = self._on_message
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        try:
            self.client.connect(identity["endpoint"], identity["port"], keepalive=30)
        except ssl.SSLError as e:  # the handshake failed: the broker turned the certificate down
            raise CannotConnect(f"cannot connect with {cert}: {e}", refused=True) from None
        except OSError as e:  # no route, no broker: nothing is known of the certificate
            raise CannotConnect(f"cannot connect with {cert}: {e}") from None
        self.client.loop_start()
        # With TLS 1.3 "client-side certificates are also no longer verified during the initial
        # handshake" (https://docs.python.org/3/library/ssl.html#tls-1-3): a refused certificate
        # shows as the connection closing, not as an error of connect(). Only the broker's
        # CONNACK says the connection was accepted.
        deadline = time.monotonic() + self.timeout
        with self.arrived:
            while self.accepted is None and time.monotonic() < deadline:
                self.arrived.wait(deadline - time.monotonic())
            accepted = self.accepted
        if not accepted:
            self.close()
            why = "closed the connection" if accepted is False else f"sent no CONNACK in {timeout}s"
            raise CannotConnect(
                f"cannot connect with {cert}: the broker {why}", refused=accepted is False
            )

    def _on_connect(self, client: Any, userdata: Any, flags: Any, code: Any, *rest: Any) -> None:
        with self.arrived:
            self.accepted = code == 0  # an int before paho-mqtt 2, a ReasonCode since
            self.arrived.notify_all()

    def _on_disconnect(self, client: Any, userdata: Any, *rest: Any) -> None:
        with self.arrived:
            if self.accepted is None:
                self.accepted = False
            self.arrived.notify_all()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        with self.arrived:
            try:
                self.replies[message.topic] = json.loads(message.payload)
            except ValueError:
                self.replies[message.topic] = {}
            self.arrived.notify_all()

    def request(self, topic: str, body: Dict[str, Any]) -> Dict[str, Any]:
        """Publish ``body`` to ``topic``; the reply on ``<topic>/accepted`` is returned, one
        on ``<topic>/rejected`` raises ``Rejected`` with its code and reason."""
        outcomes = [f"{topic}/accepted", f"{topic}/rejected"]
        for t in outcomes:
            result, _ = self.client.subscribe(t, qos=1)
            if result != 0:
                raise RotationFailed(f"cannot subscribe to {t}")
        with self.arrived:
            for t in outcomes:
                self.replies.pop(t, None)
        # Subscriptions are acknowledged in order, before the publish below is routed.
        self.client.publish(topic, json.dumps(body), qos=1).wait_for_publish(self.timeout)
        deadline = time.monotonic() + self.timeout
        with self.arrived:
            while not any(t in self.replies for t in outcomes):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise NoReply(f"no reply on {topic}/accepted within {self.timeout}s")
                self.arrived.wait(left)
            if outcomes[1] in self.replies:
                reply = self.replies[outcomes[1]]
                code = str(reply.get("code") or "")
                raise Rejected(f"{topic} rejected: {code} {reply.get('reason', '')}".strip(), code)
            return dict(self.replies[outcomes[0]])

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# --- the rotation ------------------------------------------------------------------------------


class Rotation:
    """The worker (``run``): one pass through the steps, from wherever the state file says."""

    def __init__(
        self,
        identity: Dict[str, Any],
        state: State,
        timeout: float = DEFAULT_TIMEOUT,
        service: Callable[[str], None] = lambda action: None,
        checkpoint: Callable[[str], None] = lambda phase: None,
        token: Optional[Pkcs11Token] = None,
    ) -> None:
        self.token = token
        self.identity = identity
        self.state = state
        self.timeout = timeout
        self.service = service
        self.checkpoint = checkpoint
        self.cert, self.key = identity["cert"], identity["key"]
        self.thing = identity["thing"]

    def connect(self, which: str = "current") -> Connection:
        return Connection(self.identity, self.cert, self.key, self.timeout)

    def _topic(self, verb: str) -> str:
        return f"{TOPIC_PREFIX}/{self.thing}/{verb}"

    def find_job(self, conn: Connection, wanted: Optional[str] = None) -> Optional[str]:
        """The thing's IN_PROGRESS rotation job (``wanted``, when the job named itself)."""
        jobs = conn.request(f"$aws/things/{self.thing}/jobs/get", {})
        for job in jobs.get("inProgressJobs") or []:
            job_id = str(job.get("jobId", ""))
            if job_id.startswith(JOB_PREFIX) and wanted in (None, job_id):
                return job_id
        return None

    def report(self, conn: Connection, status: str, details: Dict[str, str]) -> None:
        job = self.state.data.get("jobId")
        if job:
            conn.request(
                f"$aws/things/{self.thing}/jobs/{job}/update",
                {"status": status, "statusDetails": {k: v[:1000] for k, v in details.items()}},
            )

    def run(self) -> str:
        """Carry the rotation to its end: ``SUCCEEDED``, ``FAILED`` (rolled back), or
        ``PENDING`` when it cannot tell whether the commit happened (kept for a later run)."""
        data = self.state.data
        if not data:
            raise ValueError("no rotation to run: the state file is missing")
        self.service("stop")
        try:
            phase = data.get("phase", "START")
            if phase in ("START", "KEY_READY"):
                self._request()
                phase = "ISSUED"
            if phase == "ISSUED":
                self.checkpoint("ISSUED")
                self._install()
                phase = "INSTALLED"
            if phase == "INSTALLING":
                self._install()
                phase = "INSTALLED"
            if phase == "INSTALLED":
                self.checkpoint("INSTALLED")
                self._commit()
                phase = "COMMITTED"
            if phase == "COMMITTED":
                self.checkpoint("COMMITTED")
                self._finish()
            elif phase == "ROLLED_BACK":  # rolled back, but the job was not told yet
                self._roll_back(str(data.get("reason") or "rolled back"))
                return "FAILED"
            return "SUCCEEDED"
        except Pending as e:
            self.state.set(pending=str(e))
            return "PENDING"
        except RotationFailed as e:
            # Never put back files that are not shown to work: the new ones may be the only
            # ones the cloud still accepts.
            if (
                self._installed()
                and not isinstance(e, OldWorks)
                and self._old_connects() is not True
            ):
                self.state.set(pending=f"{e}; the old certificate was not shown to connect")
                return "PENDING"
            self._roll_back(str(e))
            return "FAILED"
        finally:
            self.service("start")

    def _request(self) -> None:
        data = self.state.data
        conn = self.connect()
        try:
            job = self.find_job(conn, data.get("jobId"))
            if not job:
                raise RotationFailed(
                    f"job {data['jobId']} is not in progress"
                    if data.get("jobId")
                    else "no IN_PROGRESS rotation job for this thing"
                )
            new_key = f"{self.key}.new"
            if data.get("phase") != "KEY_READY" or not os.path.exists(new_key):
                if self.token is not None:
                    reference = self.token.generate(data["keyAlgorithm"], f"{self.thing}-{job}")
                    write_atomic(new_key, reference.encode())
                else:
                    write_atomic(new_key, key_pem(generate_key(data["keyAlgorithm"])))
                self.state.set(phase="KEY_READY", jobId=job)
            if self.token is not None:
                with open(new_key, encoding="utf-8") as f:
                    csr = self.token.csr(f.read().strip(), self.thing)
            else:
                csr = make_csr(new_key, self.thing)
            reply = conn.request(self._topic("create"), {"jobId": job, "csr": csr})
            if reply.get("jobId") != job:
                raise RotationFailed(
                    f"create/accepted answered job {reply.get('jobId')!r}, not {job}"
                )
            pem = str(reply.get("certificatePem") or "")
            if "BEGIN CERTIFICATE" not in pem:
                raise RotationFailed("create/accepted carried no certificate")
            if public_key_der(pem) != self._new_public_key(new_key, csr):
                raise RotationFailed("create/accepted carried a certificate for another key")
            write_atomic(f"{self.cert}.new", pem.encode(), 0o644)
            self.state.set(phase="ISSUED", certificateId=reply.get("certificateId", ""))
        finally:
            conn.close()

    def _new_public_key(self, new_key: str, csr: str) -> bytes:
        """The new key's public key (DER SubjectPublicKeyInfo): from the key file, or, for a
        key in a token, from the request the token signed with it."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        if self.token is not None:
            request = x509.load_pem_x509_csr(csr.encode())
            if not request.is_signature_valid:
                raise RotationFailed("the token's CSR is not signed by its key")
            return request.public_key().public_bytes(serialization.Encoding.DER, spki)
        with open(new_key, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
        return key.public_key().public_bytes(serialization.Encoding.DER, spki)

    def _install(self) -> None:
        """Keep the current files as ``.old``, then put the new ones in their place."""
        self.state.set(phase="INSTALLING")
        # The modes Device Client requires of a certificate and a key (aws-iot-device-client
        # source/config/Config.h, struct Permissions: PUBLIC_CERT 644, PRIVATE_KEY 600).
        for path, mode in ((self.cert, 0o644), (self.key, 0o600)):
            if not os.path.exists(f"{path}.old"):
                with open(path, "rb") as f:
                    write_atomic(f"{path}.old", f.read(), mode)
        for path in (self.cert, self.key):
            if os.path.exists(f"{path}.new"):
                os.replace(f"{path}.new", path)
                _sync_dir(path)
        self.state.set(phase="INSTALLED")

    def _installed(self) -> bool:
        return any(os.path.exists(f"{p}.old") for p in (self.cert, self.key))

    def _old_connects(self) -> Optional[bool]:
        """Whether the broker accepts the old certificate and key: True (CONNACK accepted),
        False (it turned them down), None (could not tell: no network, no files)."""
        cert, key = f"{self.cert}.old", f"{self.key}.old"
        if not (os.path.exists(cert) and os.path.exists(key)):
            return None
        try:
            Connection(self.identity, cert, key, self.timeout).close()
            return True
        except CannotConnect as e:
            return False if e.refused else None
        except (OSError, ValueError):  # an unreadable file is not proof either way
            return None

    def _commit(self) -> None:
        """Commit over the new certificate. Once the cloud commits, the old certificate is
        INACTIVE, so the old files go back only when the old certificate is shown to connect:
        after the new one could not, or after a final refusal. No answer, or ``InternalError``,
        is sent again (``COMMIT_ATTEMPTS`` in all) and then left pending: the next ``run``
        commits again (the cloud accepts a repeated commit). A new certificate that connects
        while the old one is turned down is kept, whatever the answer: only the commit
        deactivates the old certificate, so the cloud committed."""
        try:
            conn = self.connect("new")
        except CannotConnect as e:
            works = self._old_connects()
            if works is True:
                raise OldWorks(f"{e}; the old certificate still connects") from None
            raise Pending(f"{e}; the old certificate cannot connect either") from None
        refusal: Optional[Rejected] = None
        try:
            unknown = "the commit was not answered"
            for _ in range(COMMIT_ATTEMPTS):
                try:
                    reply = conn.request(self._topic("commit"), {"jobId": self.state.data["jobId"]})
                except NoReply:
                    unknown = "the commit was not answered"
                    continue
                except Rejected as r:
                    if not r.code or r.code in NOT_KNOWN:
                        unknown = str(r)
                        continue
                    refusal = r
                    break
                if reply.get("jobId") not in (None, self.state.data["jobId"]):
                    unknown = f"commit/accepted answered job {reply.get('jobId')!r}"
                    continue
                self.state.set(phase="COMMITTED")
                return
            if refusal is None:
                raise Pending(unknown)
        finally:
            conn.close()
        works = self._old_connects()
        if works is True:
            raise OldWorks(f"{refusal}; the old certificate still connects")
        if works is False:
            self.state.set(phase="COMMITTED", kept=f"{refusal}; the old certificate is refused")
            return
        raise Pending(f"{refusal}; whether the old certificate connects is not known")

    def _finish(self) -> None:
        """The commit stands: report it, then remove the old files. A report the cloud
        refuses (the job ended after the commit) changes nothing on the device."""
        try:
            conn = self.connect()
        except CannotConnect as e:
            raise Pending(f"committed, but {e}") from None
        try:
            self.report(
                conn, "SUCCEEDED", {"certificateId": self.state.data.get("certificateId", "")}
            )
        except RotationFailed:
            pass
        finally:
            conn.close()
        for path in (self.cert, self.key):
            if os.path.exists(f"{path}.old"):
                os.unlink(f"{path}.old")
        self.state.clear()

    def _roll_back(self, reason: str) -> None:
        for path in (self.cert, self.key):
            if os.path.exists(f"{path}.old"):
                os.replace(f"{path}.old", path)
                _sync_dir(path)
            if os.path.exists(f"{path}.new"):
                os.unlink(f"{path}.new")
        self.state.set(phase="ROLLED_BACK", reason=reason)
        try:
            conn = self.connect()
        except RotationFailed:
            return  # the job times out; the cloud rolls back on TIMED_OUT
        try:
            self.report(conn, "FAILED", {"reason": reason})
        except RotationFailed:
            pass
        finally:
            conn.close()
        self.state.clear()


def public_key_der(pem: str) -> bytes:
    """A certificate's public key (DER SubjectPublicKeyInfo)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        certificate = x509.load_pem_x509_certificate(pem.encode())
    except ValueError as e:
        raise RotationFailed(f"create/accepted carried no readable certificate: {e}") from None
    return certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def service_control(stop: List[str], start: List[str]) -> Callable[[str], None]:
    """Run the command that stops or starts Device Client (an empty command does nothing)."""
    commands = {"stop": list(stop), "start": list(start)}

    def control(action: str) -> None:
        if commands[action]:
            subprocess.run(commands[action], check=False)

    return control


# --- what the job may choose, what the device decides -------------------------------------------


def _command(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v for v in value)


def _absolute(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("/") and "\x00" not in value


def read_settings(path: Optional[str] = None, owner_uid: Optional[int] = None) -> Dict[str, Any]:
    """The device's own settings (``rotate-certificate.json`` beside the handler) over
    ``SETTINGS_DEFAULTS``; a missing file means the defaults. The file is refused unless it is
    a regular file owned by root and not writable by its group or others: it names commands
    this handler runs as root (the pattern of ``collect-device-logs.json``)."""
    path = path or SETTINGS_FILE
    owner = SETTINGS_OWNER_UID if owner_uid is None else owner_uid
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return dict(SETTINGS_DEFAULTS)
    except OSError as e:
        raise Refused(f"cannot open {path} without following links: {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise Refused(f"{path} is not a regular file")
        if st.st_uid != owner:
            raise Refused(f"{path} is owned by uid {st.st_uid}, not {owner}")
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise Refused(f"{path} is writable by its group or others (mode {st.st_mode:o})")
        text = f.read(64 * 1024)
    try:
        given = json.loads(text.decode("utf-8"))
    except ValueError as e:
        raise Refused(f"{path} is not JSON: {e}") from None
    if not isinstance(given, dict):
        raise Refused(f"{path} is not a JSON object")
    unknown = sorted(set(given) - set(SETTINGS_DEFAULTS))
    if unknown:
        raise Refused(f"{path} has unknown keys {', '.join(unknown)}")
    settings = {**SETTINGS_DEFAULTS, **given}
    for name in ("deviceClientConfig", "stateFile"):
        if settings[name] is not None and not _absolute(settings[name]):
            raise Refused(f"{path}: {name} must be an absolute path")
    for name in ("stopCommand", "startCommand", "launcher"):
        if not _command(settings[name]):
            raise Refused(f"{path}: {name} must be a list of strings (the command's argv)")
    timeout = settings["timeout"]
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise Refused(f"{path}: timeout must be a positive number of seconds")
    token = settings["pkcs11Token"]
    if token is not None and not (isinstance(token, str) and TOKEN_SPEC.fullmatch(token)):
        raise Refused(f"{path}: pkcs11Token must be MODULE:FACTORY")
    return settings


class _JobArguments(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would exit 2 with usage on stderr
        raise Refused(f"the job's arguments are refused: {message}")


def parse_job_args(argv: List[str]) -> argparse.Namespace:
    """What the job document may say. Device Client runs a handler as ``<handler> <runAsUser>
    <args...>`` (aws-iot-device-client source/jobs/JobEngine.cpp, ``exec_cmd``: "argv[1] Linux
    user name, argv[2:] arguments"), so a leading user name is taken off first; then only
    ``start --key-algorithm A [--job-id J]``. Anything else is refused."""
    argv = list(argv)
    if argv and argv[0] not in ("start", "run") and USER.fullmatch(argv[0]):
        argv = argv[1:]
    parser = _JobArguments(prog="rotate-certificate.py", add_help=False, allow_abbrev=False)
    parser.add_argument("command", choices=("start",))
    parser.add_argument("--key-algorithm", choices=KEY_ALGORITHMS, default="EC-P256")
    parser.add_argument("--job-id")
    args = parser.parse_args(argv)
    if args.job_id is not None and not JOB_ID.fullmatch(args.job_id):
        raise Refused(f"the job's --job-id {args.job_id!r} is not a rotation job id")
    return args


def state_path(settings: Dict[str, Any], config: str) -> str:
    return str(settings["stateFile"] or os.path.join(os.path.dirname(config), STATE_FILE))


def main(
    argv: Optional[List[str]] = None,
    spawn: Callable[..., Any] = subprocess.Popen,
    wait: Callable[[float], None] = time.sleep,
    settings_file: Optional[str] = None,
    settings_owner: Optional[int] = None,
) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv == ["run"]:
            settings = read_settings(settings_file, settings_owner)
            return worker(settings)
        args = parse_job_args(argv)
        settings = read_settings(settings_file, settings_owner)
    except Refused as e:
        # Device Client reports a non-zero exit as FAILED, with the last 1,024 characters of
        # standard output in the status details when the document's includeStdOut is "true"
        # (aws-iot-device-client source/jobs/JobsFeature.cpp, publishUpdateJobExecutionStatus).
        print(f"rotation refused: {e}")
        return 1
    config = find_config(settings["deviceClientConfig"])
    state = State(state_path(settings, config))
    if not state.data:
        initial: Dict[str, Any] = {"phase": "START", "keyAlgorithm": args.key_algorithm}
        if args.job_id:
            initial["jobId"] = args.job_id
        state.set(**initial)
    command = [sys.executable, HANDLER, "run"]
    spawn(list(settings["launcher"]) + command, start_new_session=True)
    print(f"rotation handed to {' '.join(command)}; Device Client stops while it runs")
    # Device Client reports a handler's exit as the job's outcome: this one waits to be ended
    # with Device Client, so the job stays IN_PROGRESS for the worker to finish.
    wait(float(settings["timeout"]) * 4)
    print("Device Client was not stopped: the worker could not take over")
    return 1


def worker(settings: Dict[str, Any]) -> int:
    """``run``: everything from the device's settings, nothing from a job."""
    config = find_config(settings["deviceClientConfig"])
    token = settings["pkcs11Token"]
    rotation = Rotation(
        device_identity(config),
        State(state_path(settings, config)),
        float(settings["timeout"]),
        service_control(settings["stopCommand"], settings["startCommand"]),
        token=load_token(token) if token else None,
    )
    outcome = rotation.run()
    print(f"rotation {outcome}")
    return {"SUCCEEDED": 0, "PENDING": 3}.get(outcome, 1)


if __name__ == "__main__":
    sys.exit(main())
