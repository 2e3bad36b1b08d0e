"""The device-side job handler (device/collect-device-logs.py) against moto's S3, with the
AWS IoT credential provider faked."""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.harness import ROOT

HANDLER = ROOT / "device" / "collect-device-logs.py"
BUCKET = "aisb-device-logs-test"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("collect_device_logs", HANDLER)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FakeCredentialProvider:
    """Stands in for https://<endpoint>/role-aliases/<alias>/credentials."""

    def __init__(self) -> None:
        self.requests: list[Any] = []

    def __call__(self, request: Any, context: Any = None, timeout: float | None = None) -> Any:
        self.requests.append((request, context))
        body = json.dumps(
            {
                "credentials": {
                    "accessKeyId": "ASIAFAKE",
                    "secretAccessKey": "secret",
                    "sessionToken": "token",
                    "expiration": "2030-01-01T00:00:00Z",
                }
            }
        ).encode()
        response = io.BytesIO(body)
        return response


@pytest.fixture
def device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "syslog").write_text("Nov 26 kernel: something odd\n")
    (logs / "controller.log").write_text("controller restarted 3 times\n")
    config = tmp_path / "dc.conf"
    config.write_text(
        json.dumps(
            {
                "cert": str(tmp_path / "c.pem"),
                "key": str(tmp_path / "k.pem"),
                "root-ca": str(tmp_path / "ca.pem"),
                "thing-name": "pump-17",
            }
        )
    )
    return {"logs": logs, "config": config}


def test_uploads_each_file_under_its_own_thing_name(
    device: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = _load()
    monkeypatch.setattr(handler, "tls_context", lambda identity: None)  # no real certificate here
    provider = FakeCredentialProvider()
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        code = handler.main(
            [
                "root",
                "--bucket",
                BUCKET,
                "--region",
                "eu-west-1",
                "--role-alias",
                "aisb-device-logs",
                "--credential-endpoint",
                "c1.credentials.iot.eu-west-1.amazonaws.com",
                "--config",
                str(device["config"]),
                str(device["logs"] / "syslog"),
                str(device["logs"] / "controller.log"),
                str(device["logs"] / "missing.log"),
            ],
            urlopen=provider,
        )
        assert code == 0
        # Device Client fails a job on any standard-error line: a skipped file must not.
        out, err = capsys.readouterr()
        assert err == "" and "skipped" in out
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"])
        assert len(keys) == 2 and all(k.startswith("pump-17/") for k in keys)
        assert {k.rsplit("/", 1)[1] for k in keys} == {"syslog", "controller.log"}
        syslog = next(k for k in keys if k.endswith("/syslog"))
        assert (
            s3.get_object(Bucket=BUCKET, Key=syslog)["Body"].read()
            == b"Nov 26 kernel: something odd\n"
        )
    ((request, _),) = provider.requests
    assert (
        request.full_url
        == "https://c1.credentials.iot.eu-west-1.amazonaws.com/role-aliases/aisb-device-logs/credentials"
    )
    assert request.get_header("X-amzn-iot-thingname") == "pump-17"


def test_fails_when_nothing_could_be_uploaded(
    device: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = _load()
    monkeypatch.setattr(handler, "tls_context", lambda identity: None)
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        code = handler.main(
            [
                "root",
                "--bucket",
                BUCKET,
                "--region",
                "us-east-1",
                "--role-alias",
                "a",
                "--credential-endpoint",
                "e",
                "--config",
                str(device["config"]),
                "/nonexistent/file.log",
            ],
            urlopen=FakeCredentialProvider(),
        )
    assert code == 1


def test_device_client_configuration_must_name_the_identity(tmp_path: Path) -> None:
    handler = _load()
    config = tmp_path / "dc.conf"
    config.write_text(json.dumps({"cert": "/c.pem", "thing-name": "t"}))
    with pytest.raises(ValueError, match="lacks key, root-ca"):
        handler.device_identity(str(config))


def _write(path: Path, value: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))
    return path


CLAIM = {"cert": "/claim.pem", "key": "/claim.key", "root-ca": "/ca.pem", "thing-name": "claim"}


def test_service_install_configuration_is_found_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = _load()
    service, home = tmp_path / "etc" / ".aws-iot-device-client", tmp_path / "home"
    monkeypatch.setattr(handler, "SERVICE_DIR", str(service))
    monkeypatch.setenv("HOME", str(home))
    user_conf = _write(home / ".aws-iot-device-client" / "aws-iot-device-client.conf", CLAIM)
    assert handler.find_config(None) == str(user_conf)
    service_conf = _write(service / "aws-iot-device-client.conf", CLAIM)
    assert handler.find_config(None) == str(service_conf)
    assert handler.find_config("~/x.conf") == str(home / "x.conf")
    monkeypatch.setattr(handler, "SERVICE_DIR", str(tmp_path / "none"))
    user_conf.unlink()
    with pytest.raises(ValueError, match="no Device Client configuration in"):
        handler.find_config(None)


def test_fleet_provisioned_identity_comes_from_the_runtime_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = _load()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    config = _write(tmp_path / "etc" / "aws-iot-device-client.conf", CLAIM)
    assert handler.find_runtime_config(None, str(config)) is None
    runtime = {
        "runtime-config": {
            "completed-fp": True,
            "cert": "/certs/pump-17.pem",
            "key": "/certs/pump-17.key",
            "thing-name": "pump-17",
        }
    }
    # Device Client writes it to its home (root's for the service install).
    home_runtime = _write(
        tmp_path / "home" / ".aws-iot-device-client" / "aws-iot-device-client-runtime.conf",
        runtime,
    )
    assert handler.find_runtime_config(None, str(config)) == str(home_runtime)
    beside = _write(tmp_path / "etc" / "aws-iot-device-client-runtime.conf", runtime)
    assert handler.find_runtime_config(None, str(config)) == str(beside)
    identity = handler.device_identity(str(config), str(beside))
    assert identity == {
        "cert": "/certs/pump-17.pem",
        "key": "/certs/pump-17.key",
        "root-ca": "/ca.pem",
        "thing-name": "pump-17",
    }
    # Until provisioning has completed, the main configuration is the identity.
    runtime["runtime-config"]["completed-fp"] = False
    _write(beside, runtime)
    assert handler.device_identity(str(config), str(beside))["thing-name"] == "claim"


def test_credentials_are_refreshed_before_they_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime

    handler = _load()
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    fetched: list[str] = []
    now = datetime.datetime.now(datetime.UTC)

    def fetch() -> dict[str, str]:
        # The first credentials are about to expire (30 s left); the next last 15 minutes.
        life = 30 if not fetched else 900
        fetched.append(f"ASIA{len(fetched)}")
        return {
            "access_key": fetched[-1],
            "secret_key": "s",
            "token": "t",
            "expiry_time": (now + datetime.timedelta(seconds=life)).isoformat(),
        }

    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        s3 = handler.s3_client("us-east-1", fetch)
        s3.put_object(Bucket=BUCKET, Key="pump-17/a", Body=b"1")
        s3.put_object(Bucket=BUCKET, Key="pump-17/b", Body=b"2")
        frozen = s3._request_signer._credentials.get_frozen_credentials()
    # Refreshed once, before the first request; the fresh ones then serve every request.
    assert fetched == ["ASIA0", "ASIA1"]
    assert frozen.access_key == "ASIA1"


def test_files_are_read_as_the_jobs_run_as_user(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = _load()
    log = tmp_path / "syslog"
    log.write_bytes(b"root-only lines\n")
    commands: list[list[str]] = []

    class Result:
        def __init__(self, code: int, err: bytes = b"") -> None:
            self.returncode, self.stderr = code, err

    def run(cmd: list[str], **_: Any) -> Result:
        commands.append(cmd)
        if cmd[-1].endswith("secret.log"):
            return Result(1, b"sudo: a password is required")
        return Result(0)

    class Cat:
        def __init__(self, cmd: list[str], **_: Any) -> None:
            commands.append(cmd)
            self.stdout = open(cmd[-1], "rb")  # noqa: SIM115 - closed on exit
            self.returncode = 0

        def __enter__(self) -> Cat:
            return self

        def __exit__(self, *exc: Any) -> None:
            self.stdout.close()

    uploaded: dict[str, bytes] = {}

    class S3:
        def upload_fileobj(self, f: Any, bucket: str, key: str) -> None:
            uploaded[key] = f.read()

    written = handler.upload(
        [str(log), str(tmp_path / "secret.log")],
        BUCKET,
        "pump-17",
        S3(),
        run_as_user="iot-reader",
        run=run,
        popen=Cat,
    )
    assert [k.rsplit("/", 1)[1] for k in written] == ["syslog"]
    assert list(uploaded.values()) == [b"root-only lines\n"]
    # Read through sudo as that user, never silently as the handler's own.
    assert commands[0][:6] == ["sudo", "-n", "-u", "iot-reader", "--", "test"]
    assert commands[1] == ["sudo", "-n", "-u", "iot-reader", "--", "cat", "--", str(log)]
    out = capsys.readouterr().out
    assert "skipped " + str(tmp_path / "secret.log") in out and "a password is required" in out


def test_job_document_arguments_are_what_the_handler_parses() -> None:
    from aisb.components.device_logs import job_document

    handler = _load()
    doc = job_document("b", "eu-west-1", "alias", "endpoint", ["/var/log/syslog"])
    action = doc["steps"][0]["action"]
    # Device Client runs the handler with the step's runAsUser first, then its args.
    args = handler.parse_args([action["runAsUser"], *action["input"]["args"]])
    assert args.run_as_user == "root"
    assert (args.bucket, args.region, args.role_alias, args.credential_endpoint, args.files) == (
        "b",
        "eu-west-1",
        "alias",
        "endpoint",
        ["/var/log/syslog"],
    )


def test_tls_context_presents_the_device_certificate(tmp_path: Path) -> None:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pump-17")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (tmp_path / "c.pem").write_bytes(pem)
    (tmp_path / "ca.pem").write_bytes(pem)
    (tmp_path / "k.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    handler = _load()
    context = handler.tls_context(
        {
            "cert": str(tmp_path / "c.pem"),
            "key": str(tmp_path / "k.pem"),
            "root-ca": str(tmp_path / "ca.pem"),
        }
    )
    assert context.verify_mode.name == "CERT_REQUIRED"
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "pump-17"),),)]
