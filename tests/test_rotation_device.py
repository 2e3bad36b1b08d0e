"""``device/rotate-certificate.py`` end to end against a real mosquitto on 127.0.0.1 (TLS,
client certificates from a test CA, ``require_certificate``, ``use_identity_as_username``),
with a bridge playing AWS IoT's rules and Jobs: it routes create/commit to the functions (under
moto) with the connection's principal, read from the broker's log, and their replies back."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from aisb.functions.cert_rotator import handler as rotator
from aisb.handlers import ROTATE_CERTIFICATE, device_handler
from tests.harness.rotation import Cloud, Device, TestCa, cloud

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
spec = importlib.util.spec_from_file_location(
    "rotate_certificate", device_handler(ROTATE_CERTIFICATE)
)
assert spec and spec.loader
agent: Any = importlib.util.module_from_spec(spec)
spec.loader.exec_module(agent)


def _key_file(path: Path, key: Any) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


class Broker:
    """mosquitto on a free port, trusting only the test CA. ``set_tcp_nodelay``: without it
    each small packet the broker sends (CONNACK, PUBACK, a reply) waited on the client's
    delayed acknowledgement (Nagle's algorithm), about 40 ms a round trip on loopback, half
    of these tests' time."""

    def __init__(self, ca: TestCa, folder: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        (folder / "ca.pem").write_text(ca.pem)
        key = ec.generate_private_key(ec.SECP256R1())
        _key_file(folder / "server.key", key)
        (folder / "server.pem").write_text(ca.sign(key.public_key(), "localhost", server=True))
        self.log = folder / "mosquitto.log"
        (folder / "mosquitto.conf").write_text(
            f"listener {self.port} 127.0.0.1\n"
            f"cafile {folder / 'ca.pem'}\ncertfile {folder / 'server.pem'}\n"
            f"keyfile {folder / 'server.key'}\nrequire_certificate true\n"
            "use_identity_as_username true\nallow_anonymous false\nuser root\n"
            "set_tcp_nodelay true\n"
            f"log_dest file {self.log}\nlog_type all\npersistence false\n"
        )
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(folder / "mosquitto.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        ready = threading.Event()
        for _ in range(500):
            if self.log.exists() and "running" in self.log.read_text():
                break
            ready.wait(0.01)
        else:
            errors = self.process.stderr.read().decode() if self.process.stderr else ""
            raise RuntimeError("mosquitto did not start: " + errors)

    def publisher(self, topic: str) -> tuple[str, str]:
        """(client id, username) of the connection that last published to ``topic``."""
        lines = self.log.read_text().splitlines()
        mark = f"'{topic}',"
        for i in range(len(lines) - 1, -1, -1):
            if "Received PUBLISH from" in lines[i] and mark in lines[i]:
                client = lines[i].split("Received PUBLISH from ", 1)[1].split(" (", 1)[0]
                for j in range(i, -1, -1):
                    m = re.search(
                        rf"connected from \S+ as {re.escape(client)} \(.*u'([^']*)'\)", lines[j]
                    )
                    if m:
                        return client, m.group(1)
        raise AssertionError(f"no publish to {topic} in the broker's log")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


class Deadlines:
    """The device's clock, moved by the bridge: when the bridge loses a request or its reply
    (``drop_in``, ``drop_out``) no answer can come, so the device's wait for that answer ends
    at once, its ``time.monotonic`` moved past the deadline, instead of seconds later. The
    device still decides by its own deadline (``Connection.request``) that the answer is
    late; where nothing is lost, it waits in real time as on a device."""

    def __init__(self) -> None:
        self.skipped = 0.0
        self.lost = 0
        """Answers lost that no wait of the device has waited out yet."""
        self.lock = threading.Lock()
        self.waits: list[threading.Condition] = []

    def monotonic(self) -> float:
        return time.monotonic() + self.skipped

    def condition(self) -> threading.Condition:
        deadlines = self

        class Wait(threading.Condition):
            def wait(self, timeout: float | None = None) -> bool:
                if not deadlines.take():
                    woken = super().wait(timeout)
                    if not deadlines.take():
                        return woken
                with deadlines.lock:
                    deadlines.skipped += timeout or 0.0
                return False

        wait = Wait()
        self.waits.append(wait)
        return wait

    def take(self) -> bool:
        with self.lock:
            if self.lost:
                self.lost -= 1
                return True
            return False

    def lose(self) -> None:
        """An answer the device waits for is lost: wake its wait."""
        with self.lock:
            self.lost += 1
        for wait in list(self.waits):
            with wait:
                wait.notify_all()


class _Delegate:
    """A module of the device's, with some of its functions replaced for the device only."""

    def __init__(self, module: Any, **replaced: Any) -> None:
        self.module, self.replaced = module, replaced

    def __getattr__(self, name: str) -> Any:
        return self.replaced[name] if name in self.replaced else getattr(self.module, name)


class Bridge:
    """Plays the IoT rules (create, commit, job events) and the Jobs MQTT API."""

    def __init__(self, broker: Broker, aws: Cloud, folder: Path, deadlines: Deadlines) -> None:
        self.broker, self.aws, self.deadlines = broker, aws, deadlines
        self.seen: list[tuple[str, bytes]] = []
        self.drop_in: Counter[str] = Counter()
        """Requests on these topics are lost (this many times) before the rule sees them."""
        self.drop_out: Counter[str] = Counter()
        """Replies on these topics are lost (this many times) after the function sent them."""
        self.rewrite: dict[str, list[Any]] = {}
        """Replies on these topics are replaced, once per function in the list, by what the
        function returns: ``(topic, body)`` from the body the function sent."""
        self.refuse: dict[str, list[dict[str, Any]]] = {}
        """Requests on these topics are answered on ``<topic>/rejected`` with these bodies,
        one per request, without reaching the function."""
        key = ec.generate_private_key(ec.SECP256R1())
        _key_file(folder / "bridge.key", key)
        (folder / "bridge.pem").write_text(aws.ca.sign(key.public_key(), "bridge"))
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bridge")
        self.client.tls_set(
            ca_certs=str(folder / "ca.pem"),
            certfile=str(folder / "bridge.pem"),
            keyfile=str(folder / "bridge.key"),
        )
        self.client.on_message = self.on_message
        subscribed = threading.Semaphore(0)
        self.client.on_subscribe = lambda *a: subscribed.release()
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        # "#" does not match topics that start with "$" (MQTT 3.1.1, section 4.7.2).
        for topic in ("#", "$aws/#"):
            self.client.subscribe(topic, qos=1)
            assert subscribed.acquire(timeout=10)
        aws.clients.iot_data = self  # the functions' replies go to the broker

    def publish(self, topic: str, qos: int, payload: str) -> None:
        if self.drop_out[topic] > 0:
            self.drop_out[topic] -= 1
            self.deadlines.lose()
            return
        if self.rewrite.get(topic):
            topic, body = self.rewrite[topic].pop(0)(json.loads(payload))
            payload = json.dumps(body)
        self.client.publish(topic, payload, qos=1)

    def on_message(self, client: Any, userdata: Any, message: Any) -> None:
        self.seen.append((message.topic, bytes(message.payload)))
        if self.drop_in[message.topic] > 0:
            self.drop_in[message.topic] -= 1
            self.deadlines.lose()
            return
        parts = message.topic.split("/")
        try:
            body = json.loads(message.payload or b"{}")
        except ValueError:
            return
        if self.refuse.get(message.topic):
            body = self.refuse[message.topic].pop(0)
            self.client.publish(message.topic + "/rejected", json.dumps(body), qos=1)
            return
        if parts[:2] == ["aisb", "rotation"] and len(parts) == 4:
            client_id, username = self.broker.publisher(message.topic)
            event = {
                **{k: body.get(k) for k in ("jobId", "csr")},
                "thingName": parts[2],
                "clientId": client_id,
                "principal": self.aws.ca.principals.get(username, username),
            }
            run = rotator.create if parts[3] == "create" else rotator.commit
            run(event, **self.aws.kw())
        elif parts[:1] == ["$aws"] and parts[3:] == ["jobs", "get"]:
            thing = parts[2]
            jobs = [
                {"jobId": j}
                for (j, t), e in self.aws.backend.job_executions.items()
                if t == thing and e.status == "IN_PROGRESS"
            ]
            self.publish(message.topic + "/accepted", 1, json.dumps({"inProgressJobs": jobs}))
        elif parts[:1] == ["$aws"] and len(parts) == 6 and parts[5] == "update":
            thing, job = parts[2], parts[4]
            if self.aws.execution(job, thing) != "IN_PROGRESS":
                self.publish(
                    message.topic + "/rejected", 1, json.dumps({"code": "InvalidStateTransition"})
                )
                return
            self.aws.set_execution(job, thing, body["status"])
            self.publish(message.topic + "/accepted", 1, "{}")
            # The job execution event the events rule passes on.
            rotator.job_event(
                {
                    "jobId": job,
                    "status": body["status"],
                    "statusDetails": body.get("statusDetails"),
                    "thingArn": f"arn:aws:iot:us-east-1:123456789012:thing/{thing}",
                },
                **self.aws.kw(),
            )

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class PowerLoss(BaseException):
    """The device loses power at a step: nothing after it runs."""


class Rig:
    def __init__(self, aws: Cloud, broker: Broker, bridge: Bridge, folder: Path) -> None:
        self.aws, self.broker, self.bridge, self.folder = aws, broker, bridge, folder
        self.deadlines = bridge.deadlines
        self.services: list[str] = []
        self.offline: set[str] = set()
        """Certificate paths the device's connections find no network for."""

    def device(self, thing: str = "pump-1") -> tuple[Device, Path]:
        device = self.aws.add_device(thing)
        home = self.folder / thing
        home.mkdir()
        (home / "cert.pem").write_text(device.cert_pem)
        (home / "key.pem").write_text(device.key_pem)
        (home / "key.pem").chmod(0o600)
        config = {
            "endpoint": "127.0.0.1",
            "port": self.broker.port,
            "thing-name": thing,
            "cert": str(home / "cert.pem"),
            "key": str(home / "key.pem"),
            "root-ca": str(self.folder / "ca.pem"),
        }
        (home / agent.CONFIG_FILE).write_text(json.dumps(config))
        return device, home

    def run(
        self,
        home: Path,
        algorithm: str = "EC-P256",
        crash_at: str | None = None,
        timeout: float = 10,
    ) -> str:
        state = agent.State(str(home / agent.STATE_FILE))
        if not state.data:
            state.set(phase="START", keyAlgorithm=algorithm)

        def checkpoint(phase: str) -> None:
            if phase == crash_at:
                raise PowerLoss(phase)

        rotation = agent.Rotation(
            agent.device_identity(str(home / agent.CONFIG_FILE)),
            state,
            timeout=timeout,
            service=self.services.append,
            checkpoint=checkpoint,
        )
        return str(rotation.run())

    def check(self, device: Device, home: Path) -> None:
        """One active certificate; the device's keys never crossed the broker or its folder."""
        assert len(self.aws.active(device.thing)) == 1
        keys = [p.read_bytes() for p in home.iterdir() if b"PRIVATE KEY" in p.read_bytes()]
        assert keys
        for topic, payload in self.bridge.seen:
            assert b"PRIVATE KEY" not in payload, topic
            for key in [*keys, device.key_pem.encode()]:
                body = b"".join(key.splitlines()[1:-1])
                assert body not in payload.replace(b"\\n", b"").replace(b"\n", b"")
        strays = [
            p
            for p in self.folder.rglob("*")
            if p.is_file()
            and p.parent != home
            and p.parent != self.folder
            and b"PRIVATE KEY" in p.read_bytes()
        ]
        assert strays == []


def _iot_core(aws: Cloud, offline: set[str]) -> Any:
    """The device's ``Connection`` to a broker that, like AWS IoT Core, turns down a
    certificate that is not ``ACTIVE`` (deactivated by a commit, deleted by a rollback):
    "Devices cannot use a certificate that is not in the ACTIVE state to reconnect"
    (https://docs.aws.amazon.com/iot/latest/apireference/API_UpdateCertificate.html).
    mosquitto knows only the CA; certificates the cloud never issued go on to mosquitto.
    ``offline`` holds certificate paths whose connection finds no network."""

    class IotCore(agent.Connection):
        def __init__(self, identity: dict[str, Any], cert: str, key: str, timeout: float):
            from tests.harness.rotation import _label

            if cert in offline:
                raise agent.CannotConnect(f"cannot connect with {cert}: network unreachable")
            cid = aws.ca.principals.get(_label(Path(cert).read_text()))
            if cid is not None:
                known = aws.backend.certificates.get(cid)
                if known is None or known.status != "ACTIVE":
                    raise agent.CannotConnect(
                        f"cannot connect with {cert}: the broker closed the connection",
                        refused=True,
                    )
            super().__init__(identity, cert, key, timeout)

    return IotCore


@pytest.fixture
def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    os.chmod(tmp_path, 0o755)
    deadlines = Deadlines()
    monkeypatch.setattr(agent, "time", _Delegate(time, monotonic=deadlines.monotonic))
    monkeypatch.setattr(agent, "threading", _Delegate(threading, Condition=deadlines.condition))
    with cloud() as aws:
        offline: set[str] = set()
        monkeypatch.setattr(agent, "Connection", _iot_core(aws, offline))
        broker = Broker(aws.ca, tmp_path)
        bridge = Bridge(broker, aws, tmp_path, deadlines)
        try:
            made = Rig(aws, broker, bridge, tmp_path)
            made.offline = offline
            yield made
        finally:
            bridge.stop()
            broker.stop()


def _cert_id(rig: Rig, home: Path) -> str:
    from tests.harness.rotation import _label

    return rig.aws.ca.principals[_label((home / "cert.pem").read_text())]


def test_a_device_rotates_and_its_old_certificate_is_retired_after_the_grace(rig: Rig) -> None:
    device, home = rig.device()
    job = rig.aws.start_job(["pump-1"])
    assert rig.run(home) == "SUCCEEDED"
    new = _cert_id(rig, home)
    assert new != device.cert_id
    assert rig.aws.execution(job, "pump-1") == "SUCCEEDED"
    assert rig.aws.certificates("pump-1") == {device.cert_id: "INACTIVE", new: "ACTIVE"}
    assert sorted(p.name for p in home.iterdir()) == [agent.CONFIG_FILE, "cert.pem", "key.pem"]
    assert rig.services == ["stop", "start"]
    rig.check(device, home)
    rig.aws.clock[0] += 8 * 86400
    rotator.sweep(**rig.aws.kw())
    assert rig.aws.certificates("pump-1") == {new: "ACTIVE"}
    # Day 2: the rotated device rotates again.
    rig.aws.start_job(["pump-1"])
    assert rig.run(home) == "SUCCEEDED"
    assert _cert_id(rig, home) not in (new, device.cert_id)
    rig.check(device, home)


def test_a_key_algorithm_the_job_did_not_ask_for_fails_the_job(rig: Rig) -> None:
    device, home = rig.device()
    job = rig.aws.start_job(["pump-1"], algorithm="RSA-2048")
    before = (home / "key.pem").read_bytes()
    assert rig.run(home, algorithm="EC-P256") == "FAILED"
    assert rig.aws.execution(job, "pump-1") == "FAILED"
    assert (home / "key.pem").read_bytes() == before
    assert "KeyAlgorithmRefused" in rig.aws.alerts()[-1]
    assert rig.aws.active("pump-1") == [device.cert_id]
    rig.check(device, home)


def test_a_thing_without_an_in_progress_job_gets_nothing(rig: Rig) -> None:
    device, home = rig.device()
    assert rig.run(home) == "FAILED"
    assert rig.aws.certificates("pump-1") == {device.cert_id: "ACTIVE"}
    assert not (home / "key.pem.new").exists()
    rig.check(device, home)


def test_a_commit_over_the_old_certificate_is_refused(rig: Rig) -> None:
    device, home = rig.device()
    job = rig.aws.start_job(["pump-1"])
    with pytest.raises(PowerLoss):
        rig.run(home, crash_at="ISSUED")
    identity = agent.device_identity(str(home / agent.CONFIG_FILE))
    old = agent.Connection(identity, identity["cert"], identity["key"], timeout=10)
    with pytest.raises(agent.RotationFailed, match="NotTheNewCertificate"):
        old.request("aisb/rotation/pump-1/commit", {"jobId": job})
    old.close()
    assert rig.run(home) == "SUCCEEDED"  # resumes from the issued certificate
    rig.check(device, home)


def test_power_loss_after_install_before_commit_resumes(rig: Rig) -> None:
    device, home = rig.device()
    job = rig.aws.start_job(["pump-1"])
    with pytest.raises(PowerLoss):
        rig.run(home, crash_at="INSTALLED")
    assert (home / "cert.pem.old").exists() and (home / "key.pem.old").exists()
    assert rig.run(home) == "SUCCEEDED"
    assert rig.aws.execution(job, "pump-1") == "SUCCEEDED"
    assert not (home / "cert.pem.old").exists()
    rig.check(device, home)


def test_a_new_certificate_that_cannot_connect_rolls_back(rig: Rig) -> None:
    device, home = rig.device()
    job = rig.aws.start_job(["pump-1"])
    trusted, rig.aws.ca.key = rig.aws.ca.key, ec.generate_private_key(ec.SECP256R1())
    try:  # the CA signs with a key the broker does not trust
        assert rig.run(home) == "FAILED"
    finally:
        rig.aws.ca.key = trusted
    assert (home / "cert.pem").read_text() == device.cert_pem
    assert rig.aws.execution(job, "pump-1") == "FAILED"
    assert rig.aws.certificates("pump-1") == {device.cert_id: "ACTIVE"}
    rig.check(device, home)


def test_a_certificate_the_broker_refuses_is_refused_at_connect(rig: Rig) -> None:
    """With TLS 1.3 the client's side of the handshake ends before the broker has checked its
    certificate (https://docs.python.org/3/library/ssl.html#tls-1-3): the refusal arrives as
    the connection closing. The device waits for the broker's CONNACK, so the refusal is a
    ``CannotConnect`` at once, never a request that goes unanswered (which left the commit of
    a certificate that cannot connect waiting out its timeouts)."""
    _, home = rig.device()
    key = ec.generate_private_key(ec.SECP256R1())
    _key_file(home / "stranger.key", key)
    (home / "stranger.pem").write_text(TestCa().sign(key.public_key(), "pump-1"))
    identity = agent.device_identity(str(home / agent.CONFIG_FILE))
    with pytest.raises(agent.CannotConnect, match="the broker closed the connection"):
        agent.Connection(identity, str(home / "stranger.pem"), str(home / "stranger.key"), 10)
    trusted = agent.Connection(identity, identity["cert"], identity["key"], timeout=10)
    assert trusted.accepted is True
    trusted.close()


def test_a_job_that_times_out_is_rolled_back_by_the_cloud(rig: Rig) -> None:
    device, home = rig.device()
    job = rig.aws.start_job(["pump-1"])
    with pytest.raises(PowerLoss):
        rig.run(home, crash_at="ISSUED")
    rig.aws.set_execution(job, "pump-1", "TIMED_OUT")
    event = {
        "jobId": job,
        "status": "TIMED_OUT",
        "thingArn": "arn:aws:iot:us-east-1:123456789012:thing/pump-1",
    }
    assert rotator.job_event(event, **rig.aws.kw())["outcome"] == "rolled-back"
    assert rig.aws.certificates("pump-1") == {device.cert_id: "ACTIVE"}
    # The device comes back: its commit is refused and it returns to its old files.
    assert rig.run(home) == "FAILED"
    assert (home / "cert.pem").read_text() == device.cert_pem
    rig.check(device, home)


class FakeToken(agent.Pkcs11Token):
    """A token that keeps its keys to itself: only references ever leave it."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}

    def generate(self, algorithm: str, label: str) -> str:
        assert algorithm == "EC-P256"
        self.keys[f"pkcs11:object={label}"] = ec.generate_private_key(ec.SECP256R1())
        return f"pkcs11:object={label}"

    def csr(self, reference: str, common_name: str) -> str:
        from tests.harness.rotation import csr_for

        return csr_for(self.keys[reference], common_name)


def test_a_key_in_a_pkcs11_token_is_requested_by_reference(rig: Rig) -> None:
    from cryptography import x509

    _, home = rig.device()
    rig.aws.start_job(["pump-1"])
    token = FakeToken()
    state = agent.State(str(home / agent.STATE_FILE))
    state.set(phase="START", keyAlgorithm="EC-P256")

    def stop(phase: str) -> None:
        if phase == "ISSUED":
            raise PowerLoss(phase)

    rotation = agent.Rotation(
        agent.device_identity(str(home / agent.CONFIG_FILE)),
        state,
        timeout=10,
        checkpoint=stop,
        token=token,
    )
    with pytest.raises(PowerLoss):
        rotation.run()
    (reference,) = token.keys
    assert (home / "key.pem.new").read_text() == reference  # no key material on disk
    issued = x509.load_pem_x509_certificate((home / "cert.pem.new").read_bytes())
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    assert issued.public_key().public_bytes(serialization.Encoding.DER, spki) == (
        token.keys[reference].public_key().public_bytes(serialization.Encoding.DER, spki)
    )


def _settings(folder: Path, **values: Any) -> Path:
    """The device's ``rotate-certificate.json``, mode 0644 (the owner check is the test's
    uid: see ``settings_owner``)."""
    path = folder / "rotate-certificate.json"
    path.write_text(json.dumps(values))
    path.chmod(0o644)
    return path


def _start(
    argv: list[str], settings: Path, owner: int | None = None
) -> tuple[int, list[list[str]], list[float]]:
    spawned: list[list[str]] = []
    waited: list[float] = []
    code = agent.main(
        argv,
        spawn=lambda argv, **kw: spawned.append(argv),
        wait=waited.append,
        settings_file=str(settings),
        settings_owner=os.getuid() if owner is None else owner,
    )
    return code, spawned, waited


def test_start_hands_the_work_to_a_worker_outside_device_client(tmp_path: Path) -> None:
    config = tmp_path / agent.CONFIG_FILE
    config.write_text("{}")
    settings = _settings(tmp_path, deviceClientConfig=str(config), timeout=5)
    # Device Client runs ``<handler> <runAsUser> <args...>`` (JobEngine.cpp, exec_cmd).
    code, spawned, waited = _start(["root", "start", "--key-algorithm", "RSA-2048"], settings)
    # Device Client reports the handler's exit: it only returns if Device Client was not
    # stopped by the worker, and then as a failure.
    assert code == 1 and waited == [20.0]
    (argv,) = spawned
    assert argv[:4] == ["systemd-run", "--unit", "aisb-rotate-certificate", "--collect"]
    assert argv[-2:] == [agent.HANDLER, "run"]  # the worker takes nothing from the job
    state = json.loads((tmp_path / agent.STATE_FILE).read_text())
    assert state == {"phase": "START", "keyAlgorithm": "RSA-2048"}


def test_start_takes_the_job_id_and_the_commands_from_the_device(tmp_path: Path) -> None:
    config = tmp_path / agent.CONFIG_FILE
    config.write_text("{}")
    settings = _settings(
        tmp_path,
        deviceClientConfig=str(config),
        stateFile=str(tmp_path / "state.json"),
        launcher=["/usr/bin/env", "--"],
    )
    code, spawned, _ = _start(
        ["root", "start", "--key-algorithm", "EC-P256", "--job-id", "aisb-rotation-7"], settings
    )
    assert code == 1
    assert spawned == [["/usr/bin/env", "--", agent.sys.executable, agent.HANDLER, "run"]]
    state = json.loads((tmp_path / "state.json").read_text())
    assert state == {"phase": "START", "keyAlgorithm": "EC-P256", "jobId": "aisb-rotation-7"}


@pytest.mark.parametrize(
    "extra",
    [
        ["--launcher", "/bin/sh -c id"],
        ["--start-command", "/bin/sh -c id"],
        ["--stop-command=/bin/sh -c id"],
        ["--pkcs11-token", "os:getcwd"],
        ["--state", "/etc/cron.d/x"],
        ["--config", "/tmp/evil.json"],
        ["--timeout", "1"],
        ["--job-id", "not-a-rotation"],
        ["--key-algorithm", "DSA-1024"],
        ["--key-alg", "EC-P256"],  # no abbreviations
        ["also-this"],
    ],
)
def test_a_job_chooses_nothing_but_the_key_algorithm_and_its_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str]
) -> None:
    """Device Client runs the handler as root with the document's arguments: a job passing a
    command, a module, a path or a timeout fails, with the reason on standard output (the
    execution's status details), and nothing runs."""
    config = tmp_path / agent.CONFIG_FILE
    config.write_text("{}")
    settings = _settings(tmp_path, deviceClientConfig=str(config))
    code, spawned, waited = _start(
        ["root", "start", "--key-algorithm", "EC-P256", *extra], settings
    )
    assert (code, spawned, waited) == (1, [], [])
    assert capsys.readouterr().out.startswith("rotation refused: ")
    assert not (tmp_path / agent.STATE_FILE).exists()


def test_settings_someone_else_could_write_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / agent.CONFIG_FILE
    config.write_text("{}")
    settings = _settings(tmp_path, deviceClientConfig=str(config), launcher=["/bin/true"])
    argv = ["root", "start", "--key-algorithm", "EC-P256"]
    assert _start(argv, settings, owner=os.getuid() + 1)[:2] == (1, [])
    assert f"is owned by uid {os.getuid()}" in capsys.readouterr().out
    settings.chmod(0o664)
    assert _start(argv, settings)[:2] == (1, [])
    assert "writable by its group or others" in capsys.readouterr().out
    settings.chmod(0o644)
    (tmp_path / "link.json").symlink_to(settings)
    assert _start(argv, tmp_path / "link.json")[:2] == (1, [])
    assert "without following links" in capsys.readouterr().out
    settings.write_text(json.dumps({"launcher": "/bin/sh -c id"}))
    assert _start(argv, settings)[:2] == (1, [])
    assert "launcher must be a list" in capsys.readouterr().out
    settings.write_text(json.dumps({"stopComand": []}))
    assert _start(argv, settings)[:2] == (1, [])
    assert "unknown keys stopComand" in capsys.readouterr().out
    assert not (tmp_path / agent.STATE_FILE).exists()


def test_without_a_settings_file_the_defaults_apply(tmp_path: Path) -> None:
    defaults = agent.read_settings(str(tmp_path / "absent.json"))
    assert defaults == agent.SETTINGS_DEFAULTS
    assert defaults["stopCommand"] == ["systemctl", "stop", "aws-iot-device-client"]
    assert defaults["pkcs11Token"] is None and defaults["timeout"] == 30.0


def test_keys_are_written_through_a_fresh_file_never_a_planted_one(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"")
    # A link where today's fixed temporary name would be, and a readable file at the target.
    (home / "key.pem.tmp").symlink_to(elsewhere)
    (home / "key.pem").write_bytes(b"old")
    (home / "key.pem").chmod(0o644)
    old_umask = os.umask(0)
    try:
        agent.write_atomic(str(home / "key.pem"), b"-----BEGIN PRIVATE KEY-----")
    finally:
        os.umask(old_umask)
    assert elsewhere.read_bytes() == b""  # the link was not followed
    assert (home / "key.pem").read_bytes() == b"-----BEGIN PRIVATE KEY-----"
    assert (home / "key.pem").stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in home.iterdir()) == ["key.pem", "key.pem.tmp"]


def test_keys_are_not_written_where_others_can_change_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    for mode in (0o775, 0o757, 0o1777):
        shared.chmod(mode)
        with pytest.raises(agent.RotationFailed, match="writable by its group or others"):
            agent.write_atomic(str(shared / "key.pem"), b"key")
    shared.chmod(0o755)
    if os.getuid() == 0:
        os.chown(shared, 65534, -1)
    else:
        monkeypatch.setattr(agent.os, "getuid", lambda: os.stat(shared).st_uid + 1)
    with pytest.raises(agent.RotationFailed, match="not root or this user"):
        agent.write_atomic(str(shared / "key.pem"), b"key")
    assert list(shared.iterdir()) == []


def test_a_commit_nobody_answers_stays_pending_and_resumes(rig: Rig) -> None:
    device, home = rig.device()
    job = rig.aws.start_job(["pump-1"])
    rig.bridge.drop_in["aisb/rotation/pump-1/commit"] = agent.COMMIT_ATTEMPTS
    start = agent.time.monotonic()
    assert rig.run(home, timeout=10) == "PENDING"
    # Each commit was sent and waited out its whole timeout by the device's clock.
    assert agent.time.monotonic() - start >= agent.COMMIT_ATTEMPTS * 10
    assert rig.deadlines.lost == 0
    commits = [topic for topic, _ in rig.bridge.seen if topic == "aisb/rotation/pump-1/commit"]
    assert len(commits) == agent.COMMIT_ATTEMPTS
    assert (home / "cert.pem.old").exists()  # nothing rolled back: the cloud may have committed
    assert json.loads((home / agent.STATE_FILE).read_text())["phase"] == "INSTALLED"
    assert rig.run(home) == "SUCCEEDED"
    assert rig.aws.execution(job, "pump-1") == "SUCCEEDED"
    rig.check(device, home)


def test_a_commit_whose_answer_is_lost_never_strands_the_device(rig: Rig) -> None:
    """The cloud committed (the old certificate is INACTIVE) but its answer never arrived:
    rolling back now would leave the device with a certificate that cannot connect."""
    device, home = rig.device()
    rig.aws.start_job(["pump-1"])
    rig.bridge.drop_out["aisb/rotation/pump-1/commit/accepted"] = agent.COMMIT_ATTEMPTS
    start = agent.time.monotonic()
    assert rig.run(home, timeout=10) == "PENDING"
    assert agent.time.monotonic() - start >= agent.COMMIT_ATTEMPTS * 10
    assert rig.deadlines.lost == 0
    assert rig.aws.certificates("pump-1")[device.cert_id] == "INACTIVE"
    assert (home / "cert.pem").read_text() != device.cert_pem  # the new files stay
    assert rig.run(home) == "SUCCEEDED"  # the repeated commit is accepted
    rig.check(device, home)


def _connects(home: Path, suffix: str = "") -> bool:
    """Whether the broker (refusing certificates that are not ACTIVE) takes these files."""
    identity = agent.device_identity(str(home / agent.CONFIG_FILE))
    try:
        agent.Connection(
            identity, identity["cert"] + suffix, identity["key"] + suffix, timeout=10
        ).close()
    except agent.CannotConnect:
        return False
    return True


def _internal_error(topic: str, job: str, times: int) -> list[Any]:
    body = {"jobId": job, "code": "InternalError", "reason": "try again"}
    return [lambda sent: (topic, body)] * times


def test_a_commit_answered_internal_error_after_it_committed_keeps_the_new_files(
    rig: Rig,
) -> None:
    """The cloud committed (the old certificate is INACTIVE) but answered ``InternalError``
    (try again): putting the old files back would leave the device with a certificate AWS
    IoT refuses. The new files and the ``.old`` copies stay, the rotation stays pending, and
    the next run's commit is accepted."""
    device, home = rig.device()
    job = rig.aws.start_job(["pump-1"])
    accepted = "aisb/rotation/pump-1/commit/accepted"
    rig.bridge.rewrite[accepted] = _internal_error(
        "aisb/rotation/pump-1/commit/rejected", job, agent.COMMIT_ATTEMPTS
    )
    assert rig.run(home) == "PENDING"
    assert rig.bridge.rewrite[accepted] == []  # each attempt was answered InternalError
    assert rig.aws.certificates("pump-1")[device.cert_id] == "INACTIVE"
    assert (home / "cert.pem").read_text() != device.cert_pem
    assert (home / "cert.pem.old").read_text() == device.cert_pem
    assert (home / "key.pem.old").read_text() == device.key_pem
    state = json.loads((home / agent.STATE_FILE).read_text())
    assert state["phase"] == "INSTALLED" and "InternalError" in state["pending"]
    assert _connects(home)
    # Day 2: the next run commits again and finishes.
    assert rig.run(home) == "SUCCEEDED"
    assert rig.aws.execution(job, "pump-1") == "SUCCEEDED"
    assert sorted(p.name for p in home.iterdir()) == [agent.CONFIG_FILE, "cert.pem", "key.pem"]
    assert _connects(home)
    rig.check(device, home)


def test_an_internal_error_then_an_answer_commits_in_the_same_run(rig: Rig) -> None:
    device, home = rig.device()
    job = rig.aws.start_job(["pump-1"])
    rig.bridge.rewrite["aisb/rotation/pump-1/commit/accepted"] = _internal_error(
        "aisb/rotation/pump-1/commit/rejected", job, 1
    )
    assert rig.run(home) == "SUCCEEDED"
    assert rig.aws.execution(job, "pump-1") == "SUCCEEDED"
    assert _connects(home)
    rig.check(device, home)


def test_a_refused_commit_after_a_lost_answer_keeps_the_certificate_that_works(
    rig: Rig,
) -> None:
    """The commit's answers are lost, the device stays offline until its job times out, and
    its next commit is refused (``JobNotInProgress``) although the cloud committed: the new
    certificate connects and the old one is refused, so the device keeps the new one."""
    device, home = rig.device()
    job = rig.aws.start_job(["pump-1"])
    rig.bridge.drop_out["aisb/rotation/pump-1/commit/accepted"] = agent.COMMIT_ATTEMPTS
    assert rig.run(home) == "PENDING"
    rig.aws.set_execution(job, "pump-1", "TIMED_OUT")
    event = {
        "jobId": job,
        "status": "TIMED_OUT",
        "thingArn": "arn:aws:iot:us-east-1:123456789012:thing/pump-1",
    }
    rotator.job_event(event, **rig.aws.kw())
    new = _cert_id(rig, home)
    assert rig.aws.certificates("pump-1") == {device.cert_id: "INACTIVE", new: "ACTIVE"}
    rig.bridge.refuse["aisb/rotation/pump-1/commit"] = [
        {"jobId": job, "code": "JobNotInProgress", "reason": "the job ended"}
    ]
    assert rig.run(home) == "SUCCEEDED"
    assert rig.bridge.refuse["aisb/rotation/pump-1/commit"] == []
    assert _cert_id(rig, home) == new
    assert sorted(p.name for p in home.iterdir()) == [agent.CONFIG_FILE, "cert.pem", "key.pem"]
    assert _connects(home)
    rig.check(device, home)


def test_a_final_refusal_rolls_back_only_to_an_old_certificate_that_connects(rig: Rig) -> None:
    device, home = rig.device()
    job = rig.aws.start_job(["pump-1"])
    commit = "aisb/rotation/pump-1/commit"
    refusal = {"jobId": job, "code": "NotTheNewCertificate", "reason": "no"}
    # The old certificate cannot be reached (no network for it): nothing is put back.
    rig.bridge.refuse[commit] = [refusal]
    rig.offline.add(str(home / "cert.pem.old"))
    assert rig.run(home) == "PENDING"
    assert (home / "cert.pem.old").read_text() == device.cert_pem
    assert (home / "cert.pem").read_text() != device.cert_pem
    assert rig.aws.execution(job, "pump-1") == "IN_PROGRESS"
    # The next run: refused again, and the old certificate connects: back to it.
    rig.offline.clear()
    rig.bridge.refuse[commit] = [refusal]
    assert rig.run(home) == "FAILED"
    assert (home / "cert.pem").read_text() == device.cert_pem
    assert (home / "key.pem").read_text() == device.key_pem
    assert rig.aws.execution(job, "pump-1") == "FAILED"
    assert rig.aws.active("pump-1") == [device.cert_id]
    assert _connects(home)
    rig.check(device, home)


def test_neither_certificate_connecting_puts_nothing_back(rig: Rig) -> None:
    device, home = rig.device()
    job = rig.aws.start_job(["pump-1"])
    with pytest.raises(PowerLoss):
        rig.run(home, crash_at="INSTALLED")
    rig.offline.update({str(home / "cert.pem"), str(home / "cert.pem.old")})
    assert rig.run(home) == "PENDING"
    assert "cannot connect either" in json.loads((home / agent.STATE_FILE).read_text())["pending"]
    assert (home / "cert.pem.old").read_text() == device.cert_pem
    rig.offline.clear()
    assert rig.run(home) == "SUCCEEDED"
    assert rig.aws.execution(job, "pump-1") == "SUCCEEDED"
    rig.check(device, home)


def test_a_certificate_for_another_key_is_not_installed(rig: Rig) -> None:
    device, home = rig.device()
    job = rig.aws.start_job(["pump-1"])
    stranger = ec.generate_private_key(ec.SECP256R1())
    other = rig.aws.ca.sign(stranger.public_key(), rig.aws.ca.label("pump-1"))
    rig.bridge.rewrite["aisb/rotation/pump-1/create/accepted"] = [
        lambda sent: ("aisb/rotation/pump-1/create/accepted", {**sent, "certificatePem": other})
    ]
    assert rig.run(home) == "FAILED"
    assert (home / "cert.pem").read_text() == device.cert_pem
    assert not (home / "cert.pem.new").exists() and not (home / "key.pem.new").exists()
    assert rig.aws.execution(job, "pump-1") == "FAILED"
    assert rig.aws.active("pump-1") == [device.cert_id]
    rig.check(device, home)
    # Day 2: the next rotation job, answered as it should be, rotates.
    rig.aws.start_job(["pump-1"])
    assert rig.run(home) == "SUCCEEDED"
    assert _connects(home)


def test_a_certificate_for_another_job_is_not_installed(rig: Rig) -> None:
    device, home = rig.device()
    job = rig.aws.start_job(["pump-1"])
    rig.bridge.rewrite["aisb/rotation/pump-1/create/accepted"] = [
        lambda sent: ("aisb/rotation/pump-1/create/accepted", {**sent, "jobId": "aisb-rotation-x"})
    ]
    assert rig.run(home) == "FAILED"
    assert (home / "cert.pem").read_text() == device.cert_pem
    assert rig.aws.execution(job, "pump-1") == "FAILED"
    assert rig.aws.active("pump-1") == [device.cert_id]
    rig.check(device, home)


def test_the_worker_runs_from_the_device_settings_alone(rig: Rig) -> None:
    """``run`` (what ``start`` launches and the boot hook runs) takes no argument: Device
    Client's configuration, the state file, the timeout and the commands that stop and start
    Device Client are the device's settings."""
    device, home = rig.device()
    job = rig.aws.start_job(["pump-1"])
    settings = _settings(
        rig.folder,
        deviceClientConfig=str(home / agent.CONFIG_FILE),
        stateFile=str(home / "rotation.json"),
        timeout=10,
        stopCommand=["/usr/bin/touch", str(rig.folder / "stopped")],
        startCommand=["/usr/bin/touch", str(rig.folder / "started")],
    )
    agent.State(str(home / "rotation.json")).set(phase="START", keyAlgorithm="EC-P256")
    assert agent.main(["run"], settings_file=str(settings), settings_owner=os.getuid()) == 0
    assert (rig.folder / "stopped").exists() and (rig.folder / "started").exists()
    assert rig.aws.execution(job, "pump-1") == "SUCCEEDED"
    assert not (home / "rotation.json").exists()
    assert _connects(home)
    rig.check(device, home)


def test_a_rollback_the_job_was_not_told_of_is_reported_on_the_next_run(rig: Rig) -> None:
    """A rollback whose FAILED report could not be sent (no network) stays in the state file;
    the next run reports it instead of calling the rotation a success."""
    device, home = rig.device()
    job = rig.aws.start_job(["pump-1"])
    agent.State(str(home / agent.STATE_FILE)).set(
        phase="ROLLED_BACK", reason="create rejected: BadCsr", jobId=job, keyAlgorithm="EC-P256"
    )
    assert rig.run(home) == "FAILED"
    assert rig.aws.execution(job, "pump-1") == "FAILED"
    assert not (home / agent.STATE_FILE).exists()
    assert (home / "cert.pem").read_text() == device.cert_pem
    rig.check(device, home)


def test_both_handlers_read_device_client_s_configuration_by_its_own_name() -> None:
    """Device Client keeps its configuration in aws-iot-device-client.conf (its Config.h,
    DEFAULT_CONFIG_FILE), under /etc/.aws-iot-device-client/ for the service: the rotation
    handler looks where the device-log handler does."""
    from tests.test_device_log_handler import _load

    logs: Any = _load()
    assert agent.CONFIG_FILE == logs.CONFIG_FILE == "aws-iot-device-client.conf"
    assert agent.SERVICE_DIR == "/etc/.aws-iot-device-client"


@pytest.mark.parametrize("algorithm", agent.KEY_ALGORITHMS)
def test_the_job_template_s_arguments_are_what_the_handler_accepts(algorithm: str) -> None:
    """The cloud's job document and the device's argument check agree: Device Client runs the
    step as ``<handler> <runAsUser> <args...>`` and the handler takes exactly that."""
    from aisb.components.rotation import job_document

    (step,) = job_document(algorithm)["steps"]
    action = step["action"]
    assert action["input"]["handler"] == ROTATE_CERTIFICATE
    parsed = agent.parse_job_args([action["runAsUser"], *action["input"]["args"]])
    assert (parsed.command, parsed.key_algorithm, parsed.job_id) == ("start", algorithm, None)
