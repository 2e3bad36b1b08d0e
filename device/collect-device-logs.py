#!/usr/bin/env python3
"""AWS IoT Device Client job handler: upload this device's log files for diagnosis (AISB #10).

Install it in Device Client's handler directory, mode 0700: ``/etc/.aws-iot-device-client/jobs/``
for Device Client installed as a service (``setup.sh`` run as root), or
``~/.aws-iot-device-client/jobs/`` of the user Device Client runs as. The job document that
aisb's ``DeviceLogCollection`` creates runs it as (Device Client passes the step's
``runAsUser`` first, then the step's arguments)::

    collect-device-logs.py root FILE...

Pins. Where the files go is not the job's to choose: the credential endpoint, region, bucket
and role alias, the paths the device agrees to upload and the budgets are read from
``collect-device-logs.json`` beside this handler, written at provisioning from the stack's
``deviceLogs.deviceConfig`` output. The handler refuses to run when that file is missing, is
not a regular file owned by root, or is writable by its group or by others. A job that still
passes ``--bucket``, ``--region``, ``--role-alias`` or ``--credential-endpoint`` (documents of
older aisb versions did) must name exactly the pinned values. The endpoint must be an AWS IoT
credential provider endpoint of the pinned region (``<prefix>.credentials.iot.<region>.
amazonaws.com``, what ``aws iot describe-endpoint --endpoint-type iot:CredentialProvider``
returns); TLS is verified against the root CA of Device Client's configuration.

Identity. It reads the device's certificate, key, root CA and thing name from Device Client's
configuration: the pinned ``deviceClientConfig``, else
``/etc/.aws-iot-device-client/aws-iot-device-client.conf`` (the service install), else
``~/.aws-iot-device-client/aws-iot-device-client.conf``. A device provisioned by fleet
provisioning keeps its real certificate, key and thing name in the runtime configuration
(``aws-iot-device-client-runtime.conf``, under ``runtime-config``, used when ``completed-fp``
is true), while the main file still names the claim certificate: the runtime configuration
beside the main file, or in Device Client's home, wins.

Credentials. It exchanges the certificate for temporary AWS credentials at the AWS IoT
credential provider. They last as long as the role alias says (aisb: 900 s, the shortest AWS
allows) and are refreshed from the credential provider before they expire, mid-upload too.

Files. Each path is resolved with ``realpath`` and uploaded only when the result is in the
pinned ``allowedPaths`` (a path ending in ``/`` allows what is under it), not under ``/proc``,
``/sys`` or ``/dev``, and not the device's certificate or key. It is then opened without
following any symbolic link (``O_NOFOLLOW`` on every component), checked with ``fstat`` to be
a regular file with one link, and read as the job's ``runAsUser``: directly when that is the
user the handler runs as, otherwise through ``sudo -n -u <user>`` running this handler's
reader (which applies the same checks). Only the last ``maxFileBytes`` of a file are
uploaded, at most ``maxTotalBytes`` in all, and nothing after ``deadlineSeconds``; each file
goes to its own key, ``s3://B/<thing>/<UTC time>-<random>/<real path>``, written only if no
object has that key (``If-None-Match: *``). A file that cannot be read or uploaded is reported
on standard output (Device Client fails a job on any line of standard error) and the next one
is tried; the last line of standard output lists each file's outcome in fewer than 1,024
characters, which Device Client puts in the job execution's status details. Needs Python 3.8+
and boto3. Exits non-zero (the job fails) when no file could be uploaded or the handler
refuses to run.
"""

from __future__ import annotations

import argparse
import errno
import getpass
import json
import os
import re
import secrets
import signal
import ssl
import stat
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional, Tuple

CONFIG_FILE = "aws-iot-device-client.conf"
RUNTIME_CONFIG_FILE = "aws-iot-device-client-runtime.conf"
SERVICE_DIR = "/etc/.aws-iot-device-client"
USER_DIR = "~/.aws-iot-device-client"
IDENTITY_KEYS = ("cert", "key", "root-ca", "thing-name")
HANDLER = os.path.realpath(__file__)
PINS_FILE = os.path.join(os.path.dirname(HANDLER), "collect-device-logs.json")
PINS_OWNER_UID = 0  # root: whoever else could write the pins could send the files anywhere
READ_ONE = "--read-one"

MIB = 1024 * 1024
PIN_DEFAULTS = {"maxFileBytes": 16 * MIB, "maxTotalBytes": 64 * MIB, "deadlineSeconds": 1200}
PIN_KEYS = {
    "credentialEndpoint",
    "region",
    "bucket",
    "roleAlias",
    "allowedPaths",
    "deviceClientConfig",
    "deviceClientRuntimeConfig",
    *PIN_DEFAULTS,
}
REFUSED_TREES = ("/proc", "/sys", "/dev")
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")
# https://docs.aws.amazon.com/iot/latest/developerguide/authorizing-direct-aws.html: requests go
# to https://<account-specific prefix>.credentials.iot.<region>.amazonaws.com/role-aliases/...;
# the prefix is what `describe-endpoint --endpoint-type iot:CredentialProvider` returns.
ENDPOINT = r"[a-z0-9]{{1,64}}\.credentials\.iot\.{region}\.amazonaws\.com(\.cn)?"
BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
ROLE_ALIAS = re.compile(r"[\w=,@-]{1,128}")
USER = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?")
# Device Client puts the last 1,024 characters of standard output in the job execution's status
# details (aws-iot-device-client source/jobs/JobsFeature.cpp, MAX_STATUS_DETAIL_LENGTH), the
# most a status details value holds (AWS IoT API reference, JobExecutionState.statusDetails).
STATUS_DETAILS_LIMIT = 1024
S3_KEY_LIMIT = 1024  # bytes of UTF-8 (Amazon S3 user guide, "Naming Amazon S3 objects")


class Refused(Exception):
    """The handler will not run, or will not read one file; the message says why."""


class DeadlineExceeded(Exception):
    """The handler's deadline passed."""


def parse_args(argv: List[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "run_as_user", help="the job step's runAsUser, which Device Client passes first"
    )
    # Accepted for job documents of older aisb versions: each must equal its pin.
    parser.add_argument("--bucket")
    parser.add_argument("--region")
    parser.add_argument("--role-alias")
    parser.add_argument("--credential-endpoint")
    parser.add_argument("files", nargs="+", help="log files to upload")
    return parser.parse_args(argv)


# --- the pins ----------------------------------------------------------------------------------


def _open_regular(path: str) -> Tuple[int, os.stat_result]:
    """``path`` opened read-only without following a final symbolic link, and its fstat."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise Refused(f"{path} is not a regular file")
    return fd, st


def _absolute_clean(path: Any) -> bool:
    if not isinstance(path, str) or not path.startswith("/") or "\x00" in path:
        return False
    parts = path.rstrip("/").split("/")[1:]
    return all(p not in ("", ".", "..") for p in parts) or path == "/"


def read_pins(path: Optional[str] = None, owner_uid: Optional[int] = None) -> Dict[str, Any]:
    """The root-owned configuration written at provisioning, validated; refuses to run
    without it."""
    path = path or PINS_FILE
    owner = PINS_OWNER_UID if owner_uid is None else owner_uid
    try:
        fd, st = _open_regular(path)
    except FileNotFoundError:
        raise Refused(
            f"no pinned configuration at {path}: write it at provisioning "
            "(pulumi stack output deviceLogs --json | jq -r .deviceConfig)"
        ) from None
    except OSError as e:
        raise Refused(f"cannot open {path} without following links: {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        if st.st_uid != owner:
            raise Refused(f"{path} is owned by uid {st.st_uid}, not {owner}")
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise Refused(f"{path} is writable by its group or others (mode {st.st_mode:o})")
        text = f.read(64 * 1024)
    try:
        pins = json.loads(text.decode("utf-8"))
    except ValueError as e:
        raise Refused(f"{path} is not JSON: {e}") from None
    if not isinstance(pins, dict):
        raise Refused(f"{path} is not a JSON object")
    unknown = sorted(set(pins) - PIN_KEYS)
    if unknown:
        raise Refused(f"{path} has unknown keys {', '.join(unknown)}")
    pins = {**PIN_DEFAULTS, **pins}
    region = pins.get("region")
    if not isinstance(region, str) or not REGION.fullmatch(region):
        raise Refused(f"{path}: region {region!r} is not an AWS region")
    endpoint = pins.get("credentialEndpoint")
    if not isinstance(endpoint, str) or not re.fullmatch(
        ENDPOINT.format(region=re.escape(region)), endpoint
    ):
        raise Refused(
            f"{path}: credentialEndpoint {endpoint!r} is not "
            f"<prefix>.credentials.iot.{region}.amazonaws.com"
        )
    if not isinstance(pins.get("bucket"), str) or not BUCKET.fullmatch(pins["bucket"]):
        raise Refused(f"{path}: bucket {pins.get('bucket')!r} is not a bucket name")
    if not isinstance(pins.get("roleAlias"), str) or not ROLE_ALIAS.fullmatch(pins["roleAlias"]):
        raise Refused(f"{path}: roleAlias {pins.get('roleAlias')!r} is not a role alias name")
    allowed = pins.get("allowedPaths")
    if not isinstance(allowed, list) or not allowed or not all(map(_absolute_clean, allowed)):
        raise Refused(f"{path}: allowedPaths must list absolute paths without . or ..")
    for name in PIN_DEFAULTS:
        value = pins[name]
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise Refused(f"{path}: {name} must be a positive whole number")
    for name in ("deviceClientConfig", "deviceClientRuntimeConfig"):
        if name in pins and not _absolute_clean(pins[name]):
            raise Refused(f"{path}: {name} must be an absolute path")
    return pins


def check_job_arguments(args: argparse.Namespace, pins: Dict[str, Any]) -> None:
    """A job may repeat the pins, never change them."""
    for option, pin in (
        ("bucket", "bucket"),
        ("region", "region"),
        ("role_alias", "roleAlias"),
        ("credential_endpoint", "credentialEndpoint"),
    ):
        given = getattr(args, option)
        if given is not None and given != pins[pin]:
            raise Refused(
                f"the job's --{option.replace('_', '-')} {given!r} is not the pinned {pin} "
                f"{pins[pin]!r}: a job cannot choose where the files go"
            )
    if not USER.fullmatch(args.run_as_user):
        raise Refused(f"runAsUser {args.run_as_user!r} is not a user name")


# --- identity and credentials ----------------------------------------------------------------


def find_config(explicit: Optional[str]) -> str:
    """Device Client's configuration file: the one given, else the service install's, else
    the user install's."""
    if explicit:
        return os.path.expanduser(explicit)
    candidates = [
        os.path.join(SERVICE_DIR, CONFIG_FILE),
        os.path.join(os.path.expanduser(USER_DIR), CONFIG_FILE),
    ]
    for path in candidates:
        if os.path.isfile(path):
            return path
    raise ValueError("no Device Client configuration in " + " or ".join(candidates))


def find_runtime_config(explicit: Optional[str], config_path: str) -> Optional[str]:
    """The fleet-provisioning runtime configuration: the one given, else beside the main
    configuration, else in the home of the user Device Client runs as (root for the service)."""
    if explicit:
        return os.path.expanduser(explicit)
    candidates = [
        os.path.join(os.path.dirname(config_path), RUNTIME_CONFIG_FILE),
        os.path.join(os.path.expanduser(USER_DIR), RUNTIME_CONFIG_FILE),
        os.path.join("/root/.aws-iot-device-client", RUNTIME_CONFIG_FILE),
    ]
    return next((path for path in candidates if os.path.isfile(path)), None)


def _read_json(path: str) -> Dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        value = json.load(f)
    if not isinstance(value, dict):
        raise ValueError(f"{path} is not a JSON object")
    return value


def device_identity(config_path: str, runtime_path: Optional[str] = None) -> Dict[str, str]:
    """Certificate, key, root CA and thing name: from the runtime configuration where fleet
    provisioning completed, else from the main configuration."""
    config = _read_json(config_path)
    if runtime_path and os.path.isfile(runtime_path):
        runtime = _read_json(runtime_path).get("runtime-config") or {}
        if runtime.get("completed-fp") is True:
            config = {**config, **{k: runtime[k] for k in IDENTITY_KEYS if runtime.get(k)}}
    missing = [k for k in IDENTITY_KEYS if not config.get(k)]
    if missing:
        raise ValueError(f"{config_path} lacks {', '.join(missing)}")
    return {k: os.path.expanduser(str(config[k])) for k in IDENTITY_KEYS}


def secret_files(config_path: str, identity: Dict[str, str]) -> List[str]:
    """The certificates and keys never uploaded: the identity's, and the claim certificate's
    of the main configuration when fleet provisioning replaced it."""
    names = [identity["cert"], identity["key"]]
    try:
        main = _read_json(config_path)
        names += [os.path.expanduser(str(main[k])) for k in ("cert", "key") if main.get(k)]
    except (OSError, ValueError):
        pass
    return sorted({os.path.realpath(n) for n in names})


def tls_context(identity: Dict[str, str]) -> ssl.SSLContext:
    """Mutual TLS with the device certificate, trusting only the configured root CA."""
    context = ssl.create_default_context(cafile=identity["root-ca"])
    context.load_cert_chain(identity["cert"], identity["key"])
    return context


def get_credentials(
    endpoint: str,
    role_alias: str,
    thing_name: str,
    context: Optional[ssl.SSLContext],
    urlopen: Callable[..., Any] = urllib.request.urlopen,
) -> Dict[str, str]:
    """Temporary credentials for the role alias from the AWS IoT credential provider, in the
    form botocore's refreshable credentials take."""
    request = urllib.request.Request(
        f"https://{endpoint}/role-aliases/{role_alias}/credentials",
        headers={"x-amzn-iot-thingname": thing_name},
    )
    with urlopen(request, context=context, timeout=30) as response:
        body = json.loads(response.read(64 * 1024).decode())
    credentials = body["credentials"]
    return {
        "access_key": credentials["accessKeyId"],
        "secret_key": credentials["secretAccessKey"],
        "token": credentials["sessionToken"],
        "expiry_time": credentials["expiration"],
    }


def _refuse_overwrite(params: Dict[str, Any], **_: Any) -> None:
    # S3 conditional writes: with If-None-Match: * a PutObject or CompleteMultipartUpload fails
    # (412) when the key exists (Amazon S3 user guide, "Preventing object overwrites with
    # conditional writes"). The device role may create objects only with it.
    params["IfNoneMatch"] = "*"


def s3_client(region: str, fetch: Callable[[], Dict[str, str]]) -> Any:
    """An S3 client whose credentials come from ``fetch`` and are fetched again shortly before
    they expire, that never overwrites an object and gives up on a silent network."""
    import boto3  # imported late so --help works on a device without it
    from botocore.config import Config
    from botocore.credentials import RefreshableCredentials
    from botocore.session import get_session

    class DeviceCredentials(RefreshableCredentials):
        # botocore refreshes 15 and 10 minutes before expiry by default: longer than the
        # credentials' whole 15-minute life, which would fetch them on every request.
        _advisory_refresh_timeout = 120
        _mandatory_refresh_timeout = 60

    credentials = DeviceCredentials.create_from_metadata(
        metadata=fetch(), refresh_using=fetch, method="iot-credential-provider"
    )
    core = get_session()
    core._credentials = credentials
    config = Config(connect_timeout=10, read_timeout=60, retries={"max_attempts": 3})
    client = boto3.Session(botocore_session=core, region_name=region).client("s3", config=config)
    for operation in ("PutObject", "CompleteMultipartUpload"):
        client.meta.events.register(f"before-parameter-build.s3.{operation}", _refuse_overwrite)
    return client


def transfer_config() -> Any:
    """A small transfer: one thread, 8 MiB parts (s3transfer's defaults hold ~120 MiB of
    buffers with 10 threads)."""
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(
        multipart_threshold=8 * MIB,
        multipart_chunksize=8 * MIB,
        max_concurrency=1,
        max_io_queue=2,
        io_chunksize=256 * 1024,
        use_threads=False,
    )


# --- which files, read how ---------------------------------------------------------------------


def _under(path: str, tree: str) -> bool:
    tree = tree.rstrip("/")
    return path == tree or path.startswith(tree + "/") or tree == ""


def allowed_by(real: str, allowed: List[str]) -> bool:
    """A path ending in / allows what is under it; any other path allows only itself."""
    return any(
        _under(real, entry) and real != entry.rstrip("/") if entry.endswith("/") else real == entry
        for entry in allowed
    )


def resolve(path: str, allowed: List[str], secrets_: List[str]) -> str:
    """The real path of ``path`` if the device agrees to upload it, else ``Refused``."""
    if not path.startswith("/") or "\x00" in path:
        raise Refused("not an absolute path")
    real = os.path.realpath(path)
    for tree in REFUSED_TREES:
        if _under(real, tree):
            raise Refused(f"under {tree}")
    if real in secrets_:
        raise Refused("the device's own certificate or key")
    if not allowed_by(real, allowed):
        raise Refused("not in the device's allowed paths")
    return real


def open_no_links(real: str) -> Tuple[int, os.stat_result]:
    """``real`` opened read-only without following a symbolic link in any component (a link
    swapped in after ``realpath`` is refused), as a regular file with one link."""
    parts = real.strip("/").split("/")
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    directory = os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            following = os.open(part, flags | os.O_DIRECTORY, dir_fd=directory)
            os.close(directory)
            directory = following
        # O_NONBLOCK: a FIFO put in the file's place must not hang the handler.
        fd = os.open(parts[-1], flags | os.O_NONBLOCK | os.O_NOCTTY, dir_fd=directory)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
            raise Refused("a symbolic link was put in its path") from None
        raise Refused(e.strerror or str(e)) from None
    finally:
        os.close(directory)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise Refused("not a regular file")
    if st.st_nlink != 1:
        # A hard link made in a writable log directory could name the device's key.
        os.close(fd)
        raise Refused("a file with other hard links")
    return fd, st


class Tail:
    """At most ``limit`` bytes of ``source``; raises ``DeadlineExceeded`` once the deadline
    has passed, so an upload cannot outlast it."""

    def __init__(
        self, source: Any, limit: int, deadline: float, clock: Callable[[], float]
    ) -> None:
        self.source, self.left, self.deadline, self.clock = source, limit, deadline, clock
        self.sent = 0

    def read(self, size: int = -1) -> bytes:
        if self.clock() > self.deadline:
            raise DeadlineExceeded()
        if self.left <= 0:
            return b""
        size = self.left if size is None or size < 0 else min(size, self.left)
        data = self.source.read(size)
        self.left -= len(data)
        self.sent += len(data)
        return data


def _secrets_of(pins: Dict[str, Any]) -> List[str]:
    """The certificate and key files of Device Client's configuration, where it can be found
    (the reader runs as another user, whose home may not hold it: the handler checked too)."""
    try:
        config = find_config(pins.get("deviceClientConfig"))
        runtime = find_runtime_config(pins.get("deviceClientRuntimeConfig"), config)
        return secret_files(config, device_identity(config, runtime))
    except (OSError, ValueError):
        return []


def current_user() -> str:
    return getpass.getuser()


def _seek_tail(fd: int, st: os.stat_result, limit: int) -> int:
    offset = max(0, st.st_size - limit)
    os.lseek(fd, offset, os.SEEK_SET)
    return offset


def read_one(argv: List[str], out: Any = None) -> int:
    """The reader run through ``sudo -u <runAsUser>``: the same checks, then a header line
    (size and offset) and the file's tail on standard output."""
    out = out or sys.stdout.buffer
    try:
        if len(argv) != 2 or not argv[1].isdigit():
            raise Refused("usage: --read-one PATH LIMIT")
        # A job could call this mode itself (its runAsUser is Device Client's first argument)
        # and have a file printed into its status details: run only as sudo's command (sudo
        # sets SUDO_COMMAND; a job cannot set the environment), and with the same checks.
        expected = " ".join([HANDLER, READ_ONE, *argv])
        if not os.environ.get("SUDO_COMMAND", "").endswith(" " + expected):
            raise Refused("the reader runs only through sudo, started by the handler")
        pins = read_pins()
        real = resolve(argv[0], pins["allowedPaths"], _secrets_of(pins))
        if real != argv[0]:
            raise Refused("not a real path")
        fd, st = open_no_links(real)
    except Refused as e:
        print(f"refused: {e}", file=sys.stderr)
        return 3
    with os.fdopen(fd, "rb") as f:
        limit = int(argv[1])
        offset = _seek_tail(fd, st, limit)
        out.write(json.dumps({"size": st.st_size, "offset": offset}).encode() + b"\n")
        left = limit
        while left > 0:
            chunk = f.read(min(left, 256 * 1024))
            if not chunk:
                break
            out.write(chunk)
            left -= len(chunk)
    out.flush()
    return 0


class Source:
    """An opened file's tail: ``stream``, its size, the offset read from, and how to finish."""

    def __init__(self, stream: Any, size: int, offset: int, close: Callable[[], str]) -> None:
        self.stream, self.size, self.offset, self.close = stream, size, offset, close


def open_tail(
    real: str,
    user: Optional[str],
    limit: int,
    popen: Callable[..., Any] = subprocess.Popen,
    timeout: float = 60,
) -> Source:
    """The last ``limit`` bytes of ``real`` read as ``user``: directly when the handler runs as
    that user, otherwise through ``sudo -n -u user`` running this handler's reader."""
    if not user or user == current_user():
        fd, st = open_no_links(real)
        offset = _seek_tail(fd, st, limit)
        f = os.fdopen(fd, "rb")

        def close_file() -> str:
            f.close()
            return ""

        return Source(f, st.st_size, offset, close_file)
    child = popen(
        ["sudo", "-n", "-u", user, "--", sys.executable, HANDLER, READ_ONE, real, str(limit)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )

    def close_child() -> str:
        child.stdout.close()
        try:
            child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            return "reading it took too long"
        if child.returncode:
            return (child.stderr.read(300).decode(errors="replace").strip() or "failed")[:200]
        return ""

    header = child.stdout.readline(200)
    try:
        meta = json.loads(header.decode())
        size, offset = int(meta["size"]), int(meta["offset"])
    except (ValueError, KeyError, TypeError):
        why = close_child() or "no header from the reader"
        raise Refused(f"not readable by {user} ({why})") from None
    return Source(child.stdout, size, offset, close_child)


# --- uploading ---------------------------------------------------------------------------------


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text)


def object_key(thing_name: str, run: str, real: str) -> str:
    """One key per real path: two files named syslog in different directories never share
    one."""
    key = f"{thing_name}/{run}/{real.lstrip('/')}"
    if len(key.encode("utf-8")) > S3_KEY_LIMIT:
        raise Refused("its path is too long for an S3 key")
    return key


def summary(prefix: str, outcomes: List[str]) -> str:
    """The last line of standard output: each file's outcome (numbered in the job's order),
    short enough for the 1,024 characters of a status details value."""
    line = f"s3 prefix {prefix}; " + "; ".join(f"{n} {o}" for n, o in enumerate(outcomes, start=1))
    if len(line) <= STATUS_DETAILS_LIMIT - 1:
        return line
    shortest = [o.split(" (")[0].split(":")[0] for o in outcomes]
    line = f"s3 prefix {prefix}; " + "; ".join(f"{n} {o}" for n, o in enumerate(shortest, 1))
    return line[: STATUS_DETAILS_LIMIT - 1]


def upload(
    files: List[str],
    pins: Dict[str, Any],
    thing_name: str,
    s3: Any,
    run_as_user: Optional[str] = None,
    secret_paths: Optional[List[str]] = None,
    now: Optional[datetime] = None,
    clock: Callable[[], float] = time.monotonic,
    deadline: Optional[float] = None,
    popen: Callable[..., Any] = subprocess.Popen,
) -> List[str]:
    """Upload the tail of each file the device agrees to, within the pins' budgets, under
    ``<thing>/<time>-<random>/``; the keys written. Prints one line per file and the
    summary last."""
    bucket, allowed = pins["bucket"], pins["allowedPaths"]
    per_file, budget = pins["maxFileBytes"], pins["maxTotalBytes"]
    deadline = clock() + pins["deadlineSeconds"] if deadline is None else deadline
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    run = f"{stamp}-{secrets.token_hex(4)}"
    config = transfer_config()
    written: List[str] = []
    outcomes: List[str] = []
    seen: Dict[str, int] = {}
    for number, path in enumerate(files, start=1):
        shown = _printable(path)
        if clock() > deadline:
            outcomes.append("skipped (deadline)")
            print(f"skipped {shown}: the handler's deadline passed")
            continue
        if budget <= 0:
            outcomes.append("skipped (total budget)")
            print(f"skipped {shown}: maxTotalBytes already uploaded")
            continue
        try:
            real = resolve(path, allowed, secret_paths or [])
            if real in seen:
                raise Refused(f"the same file as {seen[real]}")
            seen[real] = number
            key = object_key(thing_name, run, real)
            source = open_tail(real, run_as_user, min(per_file, budget), popen)
        except Refused as e:
            outcomes.append(f"refused ({e})")
            print(f"skipped {shown}: {e}")
            continue
        except OSError as e:  # sudo missing, say
            outcomes.append(f"failed ({_printable(e.strerror or str(e))[:80]})")
            print(f"failed {shown}: cannot read it as {run_as_user}: {e}")
            continue
        tail = Tail(source.stream, min(per_file, budget), deadline, clock)
        try:
            s3.upload_fileobj(tail, bucket, key, Config=config)
            error = ""
        except DeadlineExceeded:
            error = "deadline"
        except Exception as e:  # one file's failure must not stop the others
            code = getattr(e, "response", {}).get("Error", {}).get("Code")
            error = str(code or type(e).__name__)
        reading = source.close()
        budget -= tail.sent
        if reading and not error:
            error = f"read as {run_as_user} failed: {reading}"
        if error:
            outcomes.append(f"failed ({_printable(error)[:80]})")
            print(f"failed {shown}: {_printable(error)}")
            continue
        part = "" if source.offset == 0 else f" (last {tail.sent} of {source.size} bytes)"
        outcomes.append("uploaded" + part)
        print(f"uploaded {shown}{part} to s3://{bucket}/{key}")
        written.append(key)
    print(summary(f"s3://{bucket}/{thing_name}/{run}/", outcomes))
    return written


def main(
    argv: Optional[List[str]] = None, urlopen: Callable[..., Any] = urllib.request.urlopen
) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [READ_ONE]:
        return read_one(argv[1:])
    args = parse_args(argv)
    try:
        pins = read_pins()
        check_job_arguments(args, pins)
        config = find_config(pins.get("deviceClientConfig"))
        runtime = find_runtime_config(pins.get("deviceClientRuntimeConfig"), config)
        identity = device_identity(config, runtime)
    except (Refused, ValueError, OSError) as e:
        print(f"refused to run: {e}", file=sys.stderr)
        return 2
    thing = identity["thing-name"]
    # A backstop for what the deadline cannot interrupt (a name lookup, a hung read): the
    # process ends before the job's in-progress timeout whatever happens.
    previous = signal.alarm(pins["deadlineSeconds"] + 30)
    try:
        try:
            context = tls_context(identity)

            def fetch() -> Dict[str, str]:
                return get_credentials(
                    pins["credentialEndpoint"], pins["roleAlias"], thing, context, urlopen
                )

            s3 = s3_client(pins["region"], fetch)
        except Exception as e:  # no credentials, no upload: say why in one line
            print(f"no credentials from {pins['credentialEndpoint']}: {e}", file=sys.stderr)
            return 1
        written = upload(
            args.files,
            pins,
            thing,
            s3,
            args.run_as_user,
            secret_paths=secret_files(config, identity),
        )
    finally:
        signal.alarm(previous)
    if not written:
        print("no log file could be uploaded", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
