#!/usr/bin/env python3
"""Rotate this device's AWS IoT certificate and key (aisb, AISB #6): a job handler for AWS IoT
Device Client, run by aisb's rotation job (``start --key-algorithm EC-P256|RSA-2048``).

The key is generated here and never leaves the device. The protocol (README, "Certificate
rotation"), over this handler's own MQTT connection whose client id is the thing name:

1. ``start`` (run by Device Client): records the job's key algorithm in the state file and
   launches ``run`` outside Device Client's service (``systemd-run``), which stops Device
   Client -- one connection per client id -- and so ends ``start``; the job stays IN_PROGRESS.
2. ``run``: connects with the current certificate, finds its IN_PROGRESS rotation job
   (``$aws/things/<thing>/jobs/get``), generates the key beside the current one (mode 0600)
   and a CSR whose common name is the thing name, publishes ``{"jobId", "csr"}`` to
   ``aisb/rotation/<thing>/create`` and waits for ``.../create/accepted`` (the certificate)
   or ``.../create/rejected``;
3. installs the new certificate and key in place of the current ones, keeping those as
   ``<file>.old`` (each step an atomic rename, the state file written first);
4. connects with the new files and publishes ``{"jobId"}`` to ``aisb/rotation/<thing>/commit``;
   on ``.../commit/accepted`` it removes the old files, reports the job SUCCEEDED and starts
   Device Client again (which then connects with the new certificate);
5. on any refusal, timeout or failed connection it puts the old files back, reports the job
   FAILED with the reason and starts Device Client.

Every step is recorded in a state file (``rotate-certificate.state.json`` beside Device
Client's configuration), so ``run`` resumes after a restart, a reboot or a power loss at any
step (a systemd unit or boot hook runs ``rotate-certificate.py run`` when the file exists).

Keys come from ``cryptography`` (EC P-256 or RSA 2048). With ``--pkcs11-token MODULE:FACTORY``
the key is made and used inside a PKCS #11 token through the ``Pkcs11Token`` hook
(``generate``/``csr``); the handler ships the interface, not a token driver.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import ssl
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional

SERVICE_DIR = "/etc/.aws-iot-device-client"
USER_DIR = "~/.aws-iot-device-client"
CONFIG_FILE = "aws-iot-device-client.json"
STATE_FILE = "rotate-certificate.state.json"
TOPIC_PREFIX = "aisb/rotation"
JOB_PREFIX = "aisb-rotation-"
KEY_ALGORITHMS = ("EC-P256", "RSA-2048")
DEFAULT_TIMEOUT = 30.0
SERVICE = "aws-iot-device-client"


class RotationFailed(Exception):
    """A step failed: the old files go back and the job is reported FAILED with this reason."""


class NoReply(RotationFailed):
    """No answer within the timeout: the request may or may not have been processed."""


class Pending(Exception):
    """Whether the cloud committed is not known: nothing is rolled back."""


class CannotConnect(RotationFailed):
    """The broker could not be reached, or refused the certificate."""


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


def write_atomic(path: str, data: bytes, mode: int = 0o600) -> None:
    """Write ``path`` so that after a power loss it holds the old or the new bytes, whole."""
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
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
    """The hook for a key in a PKCS #11 token (``--pkcs11-token MODULE:FACTORY``, a callable
    returning one): ``generate`` makes the key inside the token under ``label`` and returns
    its reference (an RFC 7512 ``pkcs11:`` URI), ``csr`` signs the request inside the token.
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
        except (OSError, ssl.SSLError) as e:
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
            raise CannotConnect(f"cannot connect with {cert}: the broker {why}")

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
        on ``<topic>/rejected`` raises ``RotationFailed`` with its reason."""
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
                raise RotationFailed(
                    f"{topic} rejected: {reply.get('code', '')} {reply.get('reason', '')}".strip()
                )
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

    def find_job(self, conn: Connection) -> Optional[str]:
        jobs = conn.request(f"$aws/things/{self.thing}/jobs/get", {})
        for job in jobs.get("inProgressJobs") or []:
            if str(job.get("jobId", "")).startswith(JOB_PREFIX):
                return str(job["jobId"])
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
            return "SUCCEEDED"
        except Pending as e:
            self.state.set(pending=str(e))
            return "PENDING"
        except RotationFailed as e:
            self._roll_back(str(e))
            return "FAILED"
        finally:
            self.service("start")

    def _request(self) -> None:
        data = self.state.data
        conn = self.connect()
        try:
            job = data.get("jobId") or self.find_job(conn)
            if not job:
                raise RotationFailed("no IN_PROGRESS rotation job for this thing")
            if data.get("phase") == "KEY_READY" and self._job_gone(conn, job):
                raise RotationFailed(f"job {job} is no longer in progress")
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
            pem = str(reply.get("certificatePem") or "")
            if "BEGIN CERTIFICATE" not in pem:
                raise RotationFailed("create/accepted carried no certificate")
            write_atomic(f"{self.cert}.new", pem.encode(), 0o644)
            self.state.set(phase="ISSUED", certificateId=reply.get("certificateId", ""))
        finally:
            conn.close()

    def _job_gone(self, conn: Connection, job: str) -> bool:
        return self.find_job(conn) != job

    def _install(self) -> None:
        """Keep the current files as ``.old``, then put the new ones in their place."""
        self.state.set(phase="INSTALLING")
        for path in (self.cert, self.key):
            if not os.path.exists(f"{path}.old"):
                with open(path, "rb") as f:
                    write_atomic(f"{path}.old", f.read(), os.stat(path).st_mode & 0o777)
        for path in (self.cert, self.key):
            if os.path.exists(f"{path}.new"):
                os.replace(f"{path}.new", path)
                _sync_dir(path)
        self.state.set(phase="INSTALLED")

    def _commit(self) -> None:
        """Commit over the new certificate. Once the cloud commits, the old certificate is
        INACTIVE, so the old files go back only when the cloud says no, or when the new
        certificate is refused while the old one still connects. A silent cloud, or no network
        for either certificate, leaves the new files in place and the rotation pending: the
        next ``run`` commits again (the cloud answers a repeated commit as the first)."""
        try:
            conn = self.connect("new")
        except CannotConnect as e:
            try:
                Connection(
                    self.identity, f"{self.cert}.old", f"{self.key}.old", self.timeout
                ).close()
            except CannotConnect:
                raise Pending(f"{e}; the old certificate cannot connect either") from None
            raise
        try:
            for attempt in range(COMMIT_ATTEMPTS):
                try:
                    conn.request(self._topic("commit"), {"jobId": self.state.data["jobId"]})
                    break
                except NoReply:
                    if attempt == COMMIT_ATTEMPTS - 1:
                        raise Pending("the commit was not answered") from None
            self.state.set(phase="COMMITTED")
        finally:
            conn.close()

    def _finish(self) -> None:
        for path in (self.cert, self.key):
            if os.path.exists(f"{path}.old"):
                os.unlink(f"{path}.old")
        conn = self.connect()
        try:
            self.report(
                conn, "SUCCEEDED", {"certificateId": self.state.data.get("certificateId", "")}
            )
        finally:
            conn.close()
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


def service_control(stop: Optional[str], start: Optional[str]) -> Callable[[str], None]:
    """Run the command that stops or starts Device Client (default: systemctl)."""
    commands = {
        "stop": shlex.split(stop) if stop is not None else ["systemctl", "stop", SERVICE],
        "start": shlex.split(start) if start is not None else ["systemctl", "start", SERVICE],
    }

    def control(action: str) -> None:
        if commands[action]:
            subprocess.run(commands[action], check=False)

    return control


def parse_args(argv: List[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("command", choices=("start", "run"))
    parser.add_argument("--key-algorithm", choices=KEY_ALGORITHMS, default="EC-P256")
    parser.add_argument("--config", help="Device Client's configuration file")
    parser.add_argument("--state", help="the state file (default: beside the configuration)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    parser.add_argument("--stop-command", help="stops Device Client (default: systemctl stop)")
    parser.add_argument("--start-command", help="starts Device Client (default: systemctl start)")
    parser.add_argument(
        "--launcher",
        default="systemd-run --unit aisb-rotate-certificate --collect --quiet",
        help="runs the worker outside Device Client's service",
    )
    parser.add_argument(
        "--pkcs11-token", help="MODULE:FACTORY returning a Pkcs11Token that holds the key"
    )
    return parser.parse_args(argv)


def main(
    argv: Optional[List[str]] = None,
    spawn: Callable[..., Any] = subprocess.Popen,
    wait: Callable[[float], None] = time.sleep,
) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    config = find_config(args.config)
    state = State(args.state or os.path.join(os.path.dirname(config), STATE_FILE))
    if args.command == "start":
        if not state.data:
            state.set(phase="START", keyAlgorithm=args.key_algorithm)
        worker = [
            sys.executable,
            os.path.abspath(__file__),
            "run",
            "--config",
            config,
            "--state",
            state.path,
        ]
        if args.pkcs11_token:
            worker += ["--pkcs11-token", args.pkcs11_token]
        spawn(shlex.split(args.launcher) + worker, start_new_session=True)
        print(f"rotation handed to {' '.join(worker)}; Device Client stops while it runs")
        # Device Client reports a handler's exit as the job's outcome: this one waits to be
        # ended with Device Client, so the job stays IN_PROGRESS for the worker to finish.
        wait(args.timeout * 4)
        print("Device Client was not stopped: the worker could not take over", file=sys.stderr)
        return 1
    rotation = Rotation(
        device_identity(config),
        state,
        args.timeout,
        service_control(args.stop_command, args.start_command),
        token=load_token(args.pkcs11_token) if args.pkcs11_token else None,
    )
    outcome = rotation.run()
    print(f"rotation {outcome}")
    return {"SUCCEEDED": 0, "PENDING": 3}.get(outcome, 1)


if __name__ == "__main__":
    sys.exit(main())
