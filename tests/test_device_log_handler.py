"""The device-side job handler (device/collect-device-logs.py) against moto's S3 and real files
in temporary directories, with the AWS IoT credential provider faked.

Each attack of issue 20 (items 1-4) is performed here: a job naming an attacker's endpoint or
bucket, paths into /proc or to the device's key, a log swapped for a symbolic link after it was
checked, oversized files, an S3 error on one of several files, two files with one basename.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from tests.harness import ROOT

HANDLER = ROOT / "device" / "collect-device-logs.py"
BUCKET = "aisb-device-logs-test"
REGION = "eu-west-1"
ENDPOINT = f"c1a2b3d4e5f6g7.credentials.iot.{REGION}.amazonaws.com"


def _load(path: Path = HANDLER) -> ModuleType:
    spec = importlib.util.spec_from_file_location("collect_device_logs", path)
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
        return io.BytesIO(body)


def _pins(tmp_path: Path, **override: Any) -> dict[str, Any]:
    return {
        "credentialEndpoint": ENDPOINT,
        "region": REGION,
        "bucket": BUCKET,
        "roleAlias": "aisb-device-logs",
        "allowedPaths": [str(tmp_path / "logs") + "/"],
        "deviceClientConfig": str(tmp_path / "dc.conf"),
        **override,
    }


@pytest.fixture
def device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A device: the handler installed in its jobs directory with root-owned pins beside it,
    Device Client's configuration, a certificate and key, and a log directory."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    shutil.copy(HANDLER, jobs / HANDLER.name)
    handler = _load(jobs / HANDLER.name)
    monkeypatch.setattr(handler, "tls_context", lambda identity: None)  # no real certificate
    logs = tmp_path / "logs"
    (logs / "old").mkdir(parents=True)
    (logs / "syslog").write_text("Nov 26 kernel: something odd\n")
    (logs / "old" / "syslog").write_text("Nov 25 kernel: all quiet\n")
    (logs / "controller.log").write_text("controller restarted 3 times\n")
    (tmp_path / "k.pem").write_text("-----BEGIN PRIVATE KEY-----\nsecret\n")
    (tmp_path / "c.pem").write_text("-----BEGIN CERTIFICATE-----\n")
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
    pins = jobs / "collect-device-logs.json"
    pins.write_text(json.dumps(_pins(tmp_path)))
    pins.chmod(0o644)
    assert os.path.realpath(pins) == handler.PINS_FILE
    return {"handler": handler, "logs": logs, "tmp": tmp_path, "pins": pins}


def _bucket() -> Any:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return s3


def _objects(s3: Any) -> dict[str, bytes]:
    listed = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed}


def _last_line(out: str) -> str:
    return out.rstrip("\n").rsplit("\n", 1)[-1]


# --- what a job may choose (item 1) --------------------------------------------------------------


def test_uploads_each_file_under_its_own_key(
    device: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    handler, logs = device["handler"], device["logs"]
    provider = FakeCredentialProvider()
    with mock_aws():
        s3 = _bucket()
        code = handler.main(
            [
                "root",
                str(logs / "syslog"),
                str(logs / "old" / "syslog"),
                str(logs / "controller.log"),
                str(logs / "missing.log"),
            ],
            urlopen=provider,
        )
        assert code == 0
        # Device Client fails a job on any standard-error line: a skipped file must not.
        out, err = capsys.readouterr()
        assert err == "" and "skipped" in out
        objects = _objects(s3)
    # Same basename, different directories: each has its own key (its real path).
    assert len(objects) == 3 and all(k.startswith("pump-17/") for k in objects)
    by_path = {"/" + k.split("/", 2)[2]: body for k, body in objects.items()}
    assert by_path == {
        str(logs / "syslog"): b"Nov 26 kernel: something odd\n",
        str(logs / "old" / "syslog"): b"Nov 25 kernel: all quiet\n",
        str(logs / "controller.log"): b"controller restarted 3 times\n",
    }
    ((request, _),) = provider.requests
    assert request.full_url == f"https://{ENDPOINT}/role-aliases/aisb-device-logs/credentials"
    assert request.get_header("X-amzn-iot-thingname") == "pump-17"
    summary = _last_line(out)
    assert summary.endswith(
        "1 uploaded; 2 uploaded; 3 uploaded; 4 refused (No such file or directory)"
    )


def test_a_second_run_writes_new_keys_and_never_overwrites(device: dict[str, Any]) -> None:
    handler, logs = device["handler"], device["logs"]
    with mock_aws():
        s3 = _bucket()
        for _ in range(2):
            assert handler.main(["root", str(logs / "syslog")], FakeCredentialProvider()) == 0
        assert len(_objects(s3)) == 2


@pytest.mark.parametrize(
    "job_args",
    [
        ["--credential-endpoint", "creds.attacker.example"],
        ["--bucket", "attacker-bucket"],
        ["--region", "us-east-1"],
        ["--role-alias", "admin"],
    ],
)
def test_a_job_cannot_choose_where_the_files_go(
    device: dict[str, Any], job_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    handler, logs = device["handler"], device["logs"]
    provider = FakeCredentialProvider()
    with mock_aws():
        s3 = _bucket()
        code = handler.main(["root", *job_args, str(logs / "syslog")], urlopen=provider)
        assert code == 2 and _objects(s3) == {}
    assert provider.requests == []  # the attacker's endpoint is never even asked
    assert "a job cannot choose where the files go" in capsys.readouterr().err


def test_a_job_repeating_the_pins_is_accepted(device: dict[str, Any]) -> None:
    handler, logs = device["handler"], device["logs"]
    with mock_aws():
        s3 = _bucket()
        args = ["--bucket", BUCKET, "--region", REGION, "--credential-endpoint", ENDPOINT]
        code = handler.main(["root", *args, str(logs / "syslog")], FakeCredentialProvider())
        assert code == 0 and len(_objects(s3)) == 1


def test_no_credentials_fails_the_job_in_one_line(
    device: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    import urllib.error

    def refusing(request: Any, context: Any = None, timeout: float | None = None) -> Any:
        raise urllib.error.HTTPError(request.full_url, 403, "Forbidden", {}, None)  # type: ignore[arg-type]

    assert device["handler"].main(["root", str(device["logs"] / "syslog")], refusing) == 1
    err = capsys.readouterr().err
    assert (
        err.startswith(f"no credentials from {ENDPOINT}: HTTP Error 403") and err.count("\n") == 1
    )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"credentialEndpoint": "creds.attacker.example"}, "is not <prefix>.credentials.iot"),
        # An endpoint of another region (the pinned region signs the S3 requests).
        (
            {"credentialEndpoint": "c1.credentials.iot.us-east-1.amazonaws.com"},
            "credentials.iot.eu-west-1.amazonaws.com",
        ),
        ({"credentialEndpoint": "x.credentials.iot.eu-west-1.amazonaws.com.evil.io"}, "is not"),
        ({"allowedPaths": ["/var/log/../../etc/"]}, "without . or .."),
        ({"allowedPaths": []}, "allowedPaths"),
        ({"maxFileBytes": 0}, "maxFileBytes must be a positive"),
        ({"bucketName": "typo"}, "unknown keys bucketName"),
    ],
)
def test_pins_are_validated(device: dict[str, Any], override: dict[str, Any], message: str) -> None:
    device["pins"].write_text(json.dumps(_pins(device["tmp"], **override)))
    with pytest.raises(device["handler"].Refused, match=message):
        device["handler"].read_pins()


def test_refuses_to_run_without_root_owned_unwritable_pins(
    device: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    handler, pins, logs = device["handler"], device["pins"], device["logs"]

    def attempt() -> str:
        provider = FakeCredentialProvider()
        assert handler.main(["root", str(logs / "syslog")], urlopen=provider) == 2
        assert provider.requests == []
        return capsys.readouterr().err

    pins.chmod(0o666)
    assert "writable by its group or others" in attempt()
    pins.chmod(0o620)
    assert "writable by its group or others" in attempt()
    pins.chmod(0o644)
    os.chown(pins, 1000, -1)
    assert "owned by uid 1000, not 0" in attempt()
    os.chown(pins, 0, -1)
    # A symbolic link in its place (say, to a file a local user wrote) is not followed.
    forged = device["tmp"] / "forged.json"
    forged.write_text(json.dumps(_pins(device["tmp"], bucket="attacker-bucket")))
    pins.rename(device["tmp"] / "pins.bak")
    pins.symlink_to(forged)
    assert "without following links" in attempt()
    pins.unlink()
    assert "no pinned configuration at" in attempt()


# --- which files (items 1 and 3) -----------------------------------------------------------------


def test_paths_outside_the_allow_list_and_secrets_are_refused(
    device: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    handler, logs, tmp = device["handler"], device["logs"], device["tmp"]
    # The allow-list is wide open here, so only the fixed refusals stand in the way.
    device["pins"].write_text(json.dumps(_pins(tmp, allowedPaths=["/"])))
    (logs / "key-link").symlink_to(tmp / "k.pem")
    (logs / "proc-link").symlink_to("/proc/self/environ")
    with mock_aws():
        s3 = _bucket()
        code = handler.main(
            [
                "root",
                "/proc/self/environ",
                "/sys/kernel/notes",
                "/dev/zero",
                str(tmp / "k.pem"),
                str(tmp / "c.pem"),
                str(logs / "key-link"),
                str(logs / "proc-link"),
                str(logs / ".." / "k.pem"),
                "relative.log",
            ],
            urlopen=FakeCredentialProvider(),
        )
        assert code == 1 and _objects(s3) == {}
    out = capsys.readouterr().out
    assert _last_line(out).endswith(
        "1 refused (under /proc); 2 refused (under /sys); 3 refused (under /dev); "
        "4 refused (the device's own certificate or key); "
        "5 refused (the device's own certificate or key); "
        "6 refused (the device's own certificate or key); 7 refused (under /proc); "
        "8 refused (the device's own certificate or key); 9 refused (not an absolute path)"
    )


def test_only_allowed_paths_are_uploaded(device: dict[str, Any]) -> None:
    handler, logs, tmp = device["handler"], device["logs"], device["tmp"]
    (tmp / "shadow").write_text("root:$6$...\n")
    (logs / "shadow-link").symlink_to(tmp / "shadow")
    device["pins"].write_text(
        json.dumps(_pins(tmp, allowedPaths=[str(logs / "syslog"), str(logs / "old") + "/"]))
    )
    outcome: list[str] = []
    with mock_aws():
        _bucket()
        s3 = boto3.client("s3", region_name=REGION)
        keys = handler.upload(
            [
                str(tmp / "shadow"),
                str(logs / "shadow-link"),  # realpath leaves the allowed tree
                str(logs / "controller.log"),  # beside an allowed file, not allowed itself
                str(logs / "old"),  # the allowed directory itself is no file to upload
                str(logs / "syslog"),
                str(logs / "old" / "syslog"),
            ],
            handler.read_pins(),
            "pump-17",
            s3,
        )
        outcome = sorted(_objects(s3))
    assert [k.split("/", 2)[2] for k in keys] == [
        str(logs / "syslog").lstrip("/"),
        str(logs / "old" / "syslog").lstrip("/"),
    ]
    assert len(outcome) == 2


def test_a_log_swapped_for_a_link_after_the_check_is_not_followed(
    device: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A local user who can write the log directory replaces the log with a link to the
    device's key between the handler's check and its open."""
    handler, logs, tmp = device["handler"], device["logs"], device["tmp"]
    checked = handler.resolve

    def resolve_then_swap(path: str, allowed: list[str], secrets_: list[str]) -> str:
        real = checked(path, allowed, secrets_)
        os.unlink(real)
        os.symlink(tmp / "k.pem", real)
        return real

    monkeypatch.setattr(handler, "resolve", resolve_then_swap)
    with mock_aws():
        s3 = _bucket()
        keys = handler.upload([str(logs / "syslog")], handler.read_pins(), "pump-17", s3)
        assert keys == [] and _objects(s3) == {}


def test_a_directory_swapped_for_a_link_is_not_followed(device: dict[str, Any]) -> None:
    handler, logs, tmp = device["handler"], device["logs"], device["tmp"]
    secret_dir = tmp / "secret"
    secret_dir.mkdir()
    (secret_dir / "syslog").write_text("private\n")
    shutil.rmtree(logs / "old")
    (logs / "old").symlink_to(secret_dir)
    with pytest.raises(handler.Refused, match="symbolic link"):
        handler.open_no_links(str(logs / "old" / "syslog"))


def test_hard_links_fifos_and_directories_are_refused(device: dict[str, Any]) -> None:
    handler, logs, tmp = device["handler"], device["logs"], device["tmp"]
    os.link(tmp / "k.pem", logs / "innocent.log")
    os.mkfifo(logs / "fifo.log")  # opening a FIFO for reading would block
    with pytest.raises(handler.Refused, match="other hard links"):
        handler.open_no_links(str(logs / "innocent.log"))
    with pytest.raises(handler.Refused, match="not a regular file"):
        handler.open_no_links(str(logs / "fifo.log"))
    with pytest.raises(handler.Refused, match="not a regular file"):
        handler.open_no_links(str(logs / "old"))


# --- budgets and errors (item 2) -----------------------------------------------------------------


def test_oversized_files_upload_their_tail_within_the_total_budget(
    device: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    handler, logs, tmp = device["handler"], device["logs"], device["tmp"]
    (logs / "big.log").write_bytes(b"x" * 90 + b"0123456789")
    (logs / "big2.log").write_bytes(b"y" * 50 + b"abcdefghij")
    device["pins"].write_text(json.dumps(_pins(tmp, maxFileBytes=10, maxTotalBytes=15)))
    with mock_aws():
        s3 = _bucket()
        keys = handler.upload(
            [str(logs / "big.log"), str(logs / "big2.log"), str(logs / "syslog")],
            handler.read_pins(),
            "pump-17",
            s3,
        )
        bodies = [s3.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in keys]
    # The tail: a log's newest lines are its last ones.
    assert bodies == [b"0123456789", b"fghij"]
    assert _last_line(capsys.readouterr().out).endswith(
        "1 uploaded (last 10 of 100 bytes); 2 uploaded (last 5 of 60 bytes); "
        "3 skipped (total budget)"
    )


def test_an_s3_error_on_one_file_is_reported_and_the_others_continue(
    device: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    handler, logs = device["handler"], device["logs"]
    with mock_aws():
        real = _bucket()

        class FlakyS3:
            def upload_fileobj(self, f: Any, bucket: str, key: str, **kwargs: Any) -> None:
                if key.endswith("/old/syslog"):
                    raise ClientError(
                        {"Error": {"Code": "SlowDown", "Message": "Please reduce"}}, "PutObject"
                    )
                real.upload_fileobj(f, bucket, key, **kwargs)

        keys = handler.upload(
            [str(logs / "syslog"), str(logs / "old" / "syslog"), str(logs / "controller.log")],
            handler.read_pins(),
            "pump-17",
            FlakyS3(),
        )
        assert len(keys) == 2 and sorted(_objects(real)) == sorted(keys)
    out = capsys.readouterr().out
    assert f"failed {logs / 'old' / 'syslog'}: SlowDown" in out
    assert _last_line(out).endswith("1 uploaded; 2 failed (SlowDown); 3 uploaded")


def test_an_existing_key_is_never_overwritten(
    device: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    handler, logs = device["handler"], device["logs"]
    monkeypatch.setattr(handler.secrets, "token_hex", lambda n: "0000")
    from datetime import UTC, datetime

    now = datetime(2026, 12, 1, tzinfo=UTC)
    with mock_aws():
        s3 = handler.s3_client(
            REGION,
            lambda: handler.get_credentials(
                ENDPOINT, "a", "pump-17", None, FakeCredentialProvider()
            ),
        )
        _bucket()
        taken = f"pump-17/20261201T000000Z-0000/{str(logs / 'syslog').lstrip('/')}"
        boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=taken, Body=b"1st")
        keys = handler.upload(
            [str(logs / "syslog"), str(logs / "controller.log")],
            handler.read_pins(),
            "pump-17",
            s3,
            now=now,
        )
        assert [k.rsplit("/", 1)[1] for k in keys] == ["controller.log"]
        assert _objects(boto3.client("s3", region_name=REGION))[taken] == b"1st"
    assert "1 failed (PreconditionFailed); 2 uploaded" in capsys.readouterr().out


def test_multipart_uploads_are_conditional_and_small(device: dict[str, Any]) -> None:
    handler, logs = device["handler"], device["logs"]
    config = handler.transfer_config()
    assert (config.max_request_concurrency, config.use_threads) == (1, False)
    assert config.multipart_chunksize == config.multipart_threshold == 8 * 1024 * 1024
    (logs / "large.log").write_bytes(os.urandom(9 * 1024 * 1024))
    sent: list[tuple[str, dict[str, Any]]] = []
    with mock_aws():
        _bucket()
        s3 = handler.s3_client(
            REGION,
            lambda: handler.get_credentials(
                ENDPOINT, "a", "pump-17", None, FakeCredentialProvider()
            ),
        )
        for op in ("PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"):
            s3.meta.events.register(
                f"before-parameter-build.s3.{op}",
                lambda params, model, **_: sent.append((model.name, dict(params))),
            )
        keys = handler.upload(
            [str(logs / "large.log")],
            handler.read_pins(),
            "pump-17",
            s3,
        )
        body = boto3.client("s3", region_name=REGION).get_object(Bucket=BUCKET, Key=keys[0])
        assert body["ContentLength"] == 9 * 1024 * 1024
    ops = [name for name, _ in sent]
    assert ops == ["CreateMultipartUpload", "UploadPart", "UploadPart", "CompleteMultipartUpload"]
    # The device role is denied the object-creating write without If-None-Match.
    assert sent[-1][1]["IfNoneMatch"] == "*"


def test_nothing_is_sent_after_the_deadline(
    device: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    handler, logs = device["handler"], device["logs"]
    now = [0.0]

    def clock() -> float:
        return now[0]

    with mock_aws():
        real = _bucket()

        class SlowS3:
            def upload_fileobj(self, f: Any, bucket: str, key: str, **kwargs: Any) -> None:
                if key.endswith("/old/syslog"):
                    now[0] = 1201.0  # the link stalls on the second file
                real.upload_fileobj(f, bucket, key, **kwargs)

        keys = handler.upload(
            [str(logs / "syslog"), str(logs / "old" / "syslog"), str(logs / "controller.log")],
            handler.read_pins(),
            "pump-17",
            SlowS3(),
            clock=clock,
        )
        assert len(keys) == 1 and list(_objects(real)) == keys
    assert _last_line(capsys.readouterr().out).endswith(
        "1 uploaded; 2 failed (deadline); 3 skipped (deadline)"
    )


def test_the_outcome_line_fits_a_status_details_value(
    device: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    handler = device["handler"]
    paths = [f"/var/tmp/n{i}.log" for i in range(20)]
    with mock_aws():
        handler.upload(paths, handler.read_pins(), "p" * 128, _bucket())
    line = _last_line(capsys.readouterr().out)
    # Device Client keeps the last 1,024 characters of standard output in the status details:
    # twenty reasons do not fit with a long thing name, so the outcomes alone are listed.
    assert len(line) < 1024 and line.count(" refused") == 20 and line.endswith("20 refused")


def test_the_handler_ends_before_the_job_times_out(
    device: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from aisb.components.device_logs import HANDLER_DEADLINE_SECONDS, IN_PROGRESS_TIMEOUT_MINUTES

    handler, logs = device["handler"], device["logs"]
    alarms: list[int] = []

    def alarm(seconds: int) -> int:
        alarms.append(seconds)
        return 0

    monkeypatch.setattr(handler.signal, "alarm", alarm)
    with mock_aws():
        _bucket()
        assert handler.main(["root", str(logs / "syslog")], FakeCredentialProvider()) == 0
    assert handler.PIN_DEFAULTS["deadlineSeconds"] == HANDLER_DEADLINE_SECONDS
    # The backstop alarm, then cleared.
    assert alarms == [HANDLER_DEADLINE_SECONDS + 30, 0]
    assert alarms[0] < IN_PROGRESS_TIMEOUT_MINUTES * 60


# --- reading as the job's runAsUser (item 3, the sudo path) --------------------------------------


class SudoAsRoot:
    """Runs what ``sudo -n -u <user> -- ...`` would, as this (root) process's user, in a real
    child process."""

    def __init__(self, calls: list[list[str]]) -> None:
        self.calls = calls

    def __call__(self, cmd: list[str], **kwargs: Any) -> Any:
        self.calls.append(cmd)
        assert cmd[:5] == ["sudo", "-n", "-u", "iot-reader", "--"]
        # sudo sets SUDO_COMMAND to the command it runs, with its arguments.
        env = {**os.environ, "SUDO_COMMAND": " ".join(cmd[5:])}
        return subprocess.Popen(cmd[5:], env=env, **kwargs)


def test_files_are_read_as_the_jobs_run_as_user_through_the_checked_reader(
    device: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    handler, logs, tmp = device["handler"], device["logs"], device["tmp"]
    monkeypatch.setattr(handler, "current_user", lambda: "device-client")
    (logs / "big.log").write_bytes(b"z" * 20 + b"0123456789")
    os.link(tmp / "k.pem", logs / "hardlink.log")
    calls: list[list[str]] = []
    device["pins"].write_text(json.dumps(_pins(tmp, maxFileBytes=10)))
    with mock_aws():
        s3 = _bucket()
        keys = handler.upload(
            [str(logs / "syslog"), str(logs / "big.log"), str(logs / "hardlink.log")],
            handler.read_pins(),
            "pump-17",
            s3,
            run_as_user="iot-reader",
            popen=SudoAsRoot(calls),
        )
        bodies = {k.rsplit("/", 1)[1]: v for k, v in _objects(s3).items()}
    assert [k.rsplit("/", 1)[1] for k in keys] == ["syslog", "big.log"]
    assert bodies == {"syslog": b"thing odd\n", "big.log": b"0123456789"}
    # Through sudo as that user, running this handler's own reader.
    assert calls[0] == [
        "sudo",
        "-n",
        "-u",
        "iot-reader",
        "--",
        sys.executable,
        handler.HANDLER,
        "--read-one",
        str(logs / "syslog"),
        "10",
    ]
    out = capsys.readouterr().out
    assert _last_line(out).endswith(
        "1 uploaded (last 10 of 29 bytes); 2 uploaded (last 10 of 30 bytes); "
        "3 refused (not readable by iot-reader (refused: a file with other hard links))"
    )


def test_a_device_without_sudo_reports_each_file(
    device: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    handler, logs = device["handler"], device["logs"]
    monkeypatch.setattr(handler, "current_user", lambda: "device-client")

    def no_sudo(cmd: list[str], **_: Any) -> Any:
        raise FileNotFoundError(2, "No such file or directory", "sudo")

    with mock_aws():
        keys = handler.upload(
            [str(logs / "syslog"), str(logs / "controller.log")],
            handler.read_pins(),
            "pump-17",
            _bucket(),
            run_as_user="root",
            popen=no_sudo,
        )
    assert keys == []
    assert _last_line(capsys.readouterr().out).endswith(
        "1 failed (No such file or directory); 2 failed (No such file or directory)"
    )


def test_the_reader_refuses_links_and_paths_outside_the_allow_list(
    device: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    handler, logs, tmp = device["handler"], device["logs"], device["tmp"]
    device["pins"].write_text(json.dumps(_pins(tmp, allowedPaths=[str(tmp) + "/"])))
    (logs / "key-link").symlink_to(tmp / "k.pem")

    def as_sudo_would(argv: list[str]) -> tuple[int, bytes]:
        command = " ".join([sys.executable, handler.HANDLER, "--read-one", *argv])
        monkeypatch.setenv("SUDO_COMMAND", command)
        out = io.BytesIO()
        return handler.read_one(argv, out), out.getvalue()

    for argv in (
        [str(logs / "key-link"), "100"],  # a link, whatever it points to
        ["/etc/shadow", "100"],
        [str(tmp / "k.pem"), "100"],  # in the allowed tree, but the device's key
        [str(logs / "syslog")],
    ):
        assert as_sudo_would(argv) == (3, b"")
        assert "refused" in capsys.readouterr().err
    assert as_sudo_would([str(logs / "syslog"), "6"]) == (0, b'{"size": 29, "offset": 23}\ng odd\n')


def test_a_job_cannot_call_the_reader_itself(
    device: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The job's runAsUser is the handler's first argument: a job with runAsUser
    ``--read-one`` would have a file printed into its own status details."""
    handler, logs = device["handler"], device["logs"]
    monkeypatch.delenv("SUDO_COMMAND", raising=False)
    assert handler.main(["--read-one", str(logs / "syslog"), "100"]) == 3
    out, err = capsys.readouterr()
    assert out == "" and "only through sudo" in err
    # Nor under a sudo that ran something else (Device Client itself, say).
    monkeypatch.setenv("SUDO_COMMAND", "/usr/sbin/aws-iot-device-client")
    assert handler.main(["--read-one", str(logs / "syslog"), "100"]) == 3
    assert capsys.readouterr().out == ""


# --- identity -----------------------------------------------------------------------------------


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
    # The claim certificate and key stay secret too, not only the provisioned ones.
    assert handler.secret_files(str(config), identity) == [
        "/certs/pump-17.key",
        "/certs/pump-17.pem",
        "/claim.key",
        "/claim.pem",
    ]
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


def test_job_document_arguments_are_what_the_handler_parses() -> None:
    from aisb.components.device_logs import job_document

    handler = _load()
    doc = job_document(["/var/log/syslog", "/var/log/messages"])
    action = doc["steps"][0]["action"]
    # Device Client runs the handler with the step's runAsUser first, then its args; the
    # document names only the files: where they go is pinned on the device.
    args = handler.parse_args([action["runAsUser"], *action["input"]["args"]])
    assert args.run_as_user == "root"
    assert args.files == ["/var/log/syslog", "/var/log/messages"]
    assert (args.bucket, args.region, args.role_alias, args.credential_endpoint) == (None,) * 4


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
