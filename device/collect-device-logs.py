#!/usr/bin/env python3
"""AWS IoT Device Client job handler: upload this device's log files for diagnosis (AISB #10).

Install it in Device Client's handler directory (``~/.aws-iot-device-client/jobs/``, mode
0700) on devices that should answer the "collect device logs" job. The job document that
aisb's ``DeviceLogCollection`` creates runs it as (Device Client passes the step's
``runAsUser`` first, then the step's arguments)::

    collect-device-logs.py root --bucket B --region R --role-alias A --credential-endpoint E FILE...

It reads the device's certificate, key, root CA and thing name from Device Client's
configuration file, exchanges the certificate for temporary AWS credentials at the AWS IoT
credential provider (role alias ``A``), and uploads each file to
``s3://B/<thing name>/<UTC timestamp>/<file name>``: the only prefix those credentials may
write. Needs Python 3.8+ and boto3 on the device. Exits non-zero (the job fails) when no file
could be uploaded or credentials could not be obtained.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
import urllib.request
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional

DEFAULT_CONFIG = "~/.aws-iot-device-client/aws-iot-device-client.conf"


def parse_args(argv: List[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "run_as_user", help="the job step's runAsUser, which Device Client passes first"
    )
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--role-alias", required=True)
    parser.add_argument("--credential-endpoint", required=True)
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="Device Client configuration")
    parser.add_argument("files", nargs="+", help="log files to upload")
    return parser.parse_args(argv)


def device_identity(config_path: str) -> Dict[str, str]:
    """Certificate, key, root CA and thing name from Device Client's configuration file."""
    with open(os.path.expanduser(config_path), encoding="utf-8") as f:
        config = json.load(f)
    missing = [k for k in ("cert", "key", "root-ca", "thing-name") if not config.get(k)]
    if missing:
        raise ValueError(f"{config_path} lacks {', '.join(missing)}")
    return {k: os.path.expanduser(str(config[k])) for k in ("cert", "key", "root-ca", "thing-name")}


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
    """Temporary credentials for the role alias from the AWS IoT credential provider."""
    request = urllib.request.Request(
        f"https://{endpoint}/role-aliases/{role_alias}/credentials",
        headers={"x-amzn-iot-thingname": thing_name},
    )
    with urlopen(request, context=context, timeout=30) as response:
        body = json.loads(response.read().decode())
    credentials = body["credentials"]
    return {
        "aws_access_key_id": credentials["accessKeyId"],
        "aws_secret_access_key": credentials["secretAccessKey"],
        "aws_session_token": credentials["sessionToken"],
    }


def upload(
    files: List[str],
    bucket: str,
    thing_name: str,
    s3: Any,
    now: Optional[datetime] = None,
) -> List[str]:
    """Upload each readable file under ``<thing>/<timestamp>/``; the keys written."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    written = []
    for path in files:
        if not os.path.isfile(path):
            # Device Client fails a job on any line of standard error: a missing file is news,
            # not a failure.
            print(f"skipped {path}: not a file")
            continue
        key = f"{thing_name}/{stamp}/{os.path.basename(path)}"
        s3.upload_file(path, bucket, key)
        print(f"uploaded {path} to s3://{bucket}/{key}")
        written.append(key)
    return written


def main(
    argv: Optional[List[str]] = None, urlopen: Callable[..., Any] = urllib.request.urlopen
) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    identity = device_identity(args.config)
    thing = identity["thing-name"]
    credentials = get_credentials(
        args.credential_endpoint, args.role_alias, thing, tls_context(identity), urlopen
    )
    import boto3  # imported late so --help works on a device without it

    s3 = boto3.client("s3", region_name=args.region, **credentials)
    written = upload(args.files, args.bucket, thing, s3)
    if not written:
        print("no log file could be uploaded", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
