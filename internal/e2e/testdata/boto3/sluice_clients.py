"""Helpers the real-client scripts share: boto3 clients for the server the Go runner started
(from the standard AWS_* variables), SigV4-signed calls to Sluice's native API, and moving
artifacts into the artifact store through its objects API (/api/v1/objects), as `sluice cp` does.

The name does not start with test_, so the runner (internal/e2e/boto3_test.go) does not run it;
the scripts import it because unittest runs them with this folder as the working directory.
"""

import hashlib
import io
import os
import tarfile
import urllib.error
import urllib.request

import boto3
import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

ENDPOINT = os.environ["AWS_ENDPOINT_URL"].rstrip("/")
REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")


def sm():
    return boto3.client("sagemaker", endpoint_url=ENDPOINT, region_name=REGION)


def runtime():
    return boto3.client("sagemaker-runtime", endpoint_url=ENDPOINT, region_name=REGION)


def cloudwatch():
    return boto3.client("cloudwatch", endpoint_url=ENDPOINT, region_name=REGION)


def native(method, path, body=None):
    """Sends a SigV4-signed request to the native API and returns (status, bytes)."""
    creds = botocore.session.get_session().get_credentials()
    data = body if body is not None else b""
    headers = {"X-Amz-Content-Sha256": hashlib.sha256(data).hexdigest()}
    req = AWSRequest(method=method, url=ENDPOINT + path, data=data, headers=headers)
    SigV4Auth(creds, "sagemaker", REGION).add_auth(req)
    prepared = req.prepare()
    r = urllib.request.Request(prepared.url, data=body, method=method, headers=dict(prepared.headers))
    try:
        with urllib.request.urlopen(r) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def put(uri, data):
    """Stores data at an s3:// URI in the artifact store; fails unless the server says 200."""
    bucket, key = uri[len("s3://"):].split("/", 1)
    status, body = native("PUT", f"/api/v1/objects/{bucket}/{key}", data)
    assert status == 200, (status, body)
    return uri


def tar_gz(files):
    """A model.tar.gz (or any gzipped tar) in memory from {name: bytes}."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
