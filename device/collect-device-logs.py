#!/usr/bin/env python3
"""AWS IoT Device Client job handler: upload this device's log files for diagnosis (AISB #10).

Install it in Device Client's handler directory, mode 0700: ``/etc/.aws-iot-device-client/jobs/``
for Device Client installed as a service (``setup.sh`` run as root), or
``~/.aws-iot-device-client/jobs/`` of the user Device Client runs as. The job document that
aisb's ``DeviceLogCollection`` creates runs it as (Device Client passes the step's
``runAsUser`` first, then the step's arguments)::

    collect-device-logs.py root --bucket B --region R --role-alias A --credential-endpoint E FILE...

Identity. It reads the device's certificate, key, root CA and thing name from Device Client's
configuration: ``--config``, else ``/etc/.aws-iot-device-client/aws-iot-device-client.conf``
(the service install), else ``~/.aws-iot-device-client/aws-iot-device-client.conf``. A device
provisioned by fleet provisioning keeps its real certificate, key and thing name in the
runtime configuration (``aws-iot-device-client-runtime.conf``, under ``runtime-config``, used
when ``completed-fp`` is true), while the main file still names the claim certificate: the
runtime configuration beside the main file, or in Device Client's home, wins.

Credentials. It exchanges the certificate for temporary AWS credentials at the AWS IoT
credential provider (role alias ``A``). They last as long as the role alias says (aisb: 900 s,
the shortest AWS allows); a long upload over a slow link outlives them, so they are refreshed
from the credential provider before they expire, mid-upload too.

Files. Each file is uploaded to ``s3://B/<thing name>/<UTC timestamp>/<file name>``, the only
prefix those credentials may write, and read as the job's ``runAsUser``: directly when that is
the user the handler runs as, otherwise through ``sudo -n -u <user>`` as Device Client's own
sample handlers do. A file that cannot be read is reported on standard output (Device Client
fails a job on any line of standard error) and skipped. Needs Python 3.8+ and boto3. Exits
non-zero (the job fails) when no file could be uploaded or credentials could not be obtained.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import ssl
import subprocess
import sys
import urllib.request
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional

CONFIG_FILE = "aws-iot-device-client.conf"
RUNTIME_CONFIG_FILE = "aws-iot-device-client-runtime.conf"
SERVICE_DIR = "/etc/.aws-iot-device-client"
USER_DIR = "~/.aws-iot-device-client"
IDENTITY_KEYS = ("cert", "key", "root-ca", "thing-name")


def parse_args(argv: List[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "run_as_user", help="the job step's runAsUser, which Device Client passes first"
    )
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--role-alias", required=True)
    parser.add_argument("--credential-endpoint", required=True)
    parser.add_argument("--config", help="Device Client configuration (default: found)")
    parser.add_argument(
        "--runtime-config", help="Device Client's fleet-provisioning runtime configuration"
    )
    parser.add_argument("files", nargs="+", help="log files to upload")
    return parser.parse_args(argv)


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
        body = json.loads(response.read().decode())
    credentials = body["credentials"]
    return {
        "access_key": credentials["accessKeyId"],
        "secret_key": credentials["secretAccessKey"],
        "token": credentials["sessionToken"],
        "expiry_time": credentials["expiration"],
    }


def s3_client(region: str, fetch: Callable[[], Dict[str, str]]) -> Any:
    """An S3 client whose credentials come from ``fetch`` and are fetched again shortly before
    they expire, so an upload may outlast them."""
    import boto3  # imported late so --help works on a device without it
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
    return boto3.Session(botocore_session=core, region_name=region).client("s3")


def current_user() -> str:
    return getpass.getuser()


def readable_as(path: str, user: Optional[str], run: Callable[..., Any] = subprocess.run) -> str:
    """Why ``user`` cannot read ``path``, or "" when it can."""
    if not user or user == current_user():
        if not os.path.isfile(path):
            return "not a file"
        return "" if os.access(path, os.R_OK) else f"not readable by {current_user()}"
    result = run(
        ["sudo", "-n", "-u", user, "--", "test", "-f", path, "-a", "-r", path],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        check=False,
    )
    if result.returncode != 0:
        detail = result.stderr.decode(errors="replace").strip()
        return f"not a file readable by {user}" + (f" ({detail})" if detail else "")
    return ""


def open_as(path: str, user: Optional[str], popen: Callable[..., Any] = subprocess.Popen) -> Any:
    """``path`` opened for reading as ``user``: a file, or the output of ``sudo -u user cat``."""
    if not user or user == current_user():
        return open(path, "rb")
    return popen(
        ["sudo", "-n", "-u", user, "--", "cat", "--", path],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )


def upload(
    files: List[str],
    bucket: str,
    thing_name: str,
    s3: Any,
    run_as_user: Optional[str] = None,
    now: Optional[datetime] = None,
    run: Callable[..., Any] = subprocess.run,
    popen: Callable[..., Any] = subprocess.Popen,
) -> List[str]:
    """Upload each file ``run_as_user`` can read under ``<thing>/<timestamp>/``; the keys
    written."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    written = []
    for path in files:
        why = readable_as(path, run_as_user, run)
        if why:
            # Device Client fails a job on any line of standard error: a file that cannot be
            # read is news, not a failure.
            print(f"skipped {path}: {why}")
            continue
        key = f"{thing_name}/{stamp}/{os.path.basename(path)}"
        source = open_as(path, run_as_user, popen)
        if hasattr(source, "stdout"):
            with source:
                s3.upload_fileobj(source.stdout, bucket, key)
            if source.returncode:
                print(f"skipped {path}: reading it as {run_as_user} failed midway")
                continue
        else:
            with source:
                s3.upload_fileobj(source, bucket, key)
        print(f"uploaded {path} to s3://{bucket}/{key}")
        written.append(key)
    return written


def main(
    argv: Optional[List[str]] = None, urlopen: Callable[..., Any] = urllib.request.urlopen
) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    config = find_config(args.config)
    identity = device_identity(config, find_runtime_config(args.runtime_config, config))
    thing = identity["thing-name"]
    context = tls_context(identity)

    def fetch() -> Dict[str, str]:
        return get_credentials(args.credential_endpoint, args.role_alias, thing, context, urlopen)

    s3 = s3_client(args.region, fetch)
    written = upload(args.files, args.bucket, thing, s3, args.run_as_user)
    if not written:
        print("no log file could be uploaded", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
