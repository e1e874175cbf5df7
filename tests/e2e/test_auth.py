"""SigV4 authentication of Kumo's APIs: boto3, the aws CLI, the kumo CLI, raw signed and presigned
requests, wrong keys, tampering, clock skew, generated credentials and `[auth] mode = "none"`."""

import datetime
import json
import os
import re
import stat
import subprocess
import urllib.error
import urllib.request

import boto3
import botocore.auth
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

import funcs
from testutil import (
    READY_RE,
    REGION,
    ROLE,
    KumoServer,
    aws,
    cli_env,
    error_code,
    function_arn,
    http_status,
    kumo_bin,
    lambda_client,
    make_zip,
    unique_name,
)

BASE_CONFIG = """\
[server]
region = "us-east-1"
account_id = "123456789012"

[limits]
idle_timeout_secs = 300
"""
AUTH_CONFIG = BASE_CONFIG + '\n[auth]\naccess_key_id = "test"\nsecret_access_key = "test"\n'


@pytest.fixture(scope="module")
def server(tmp_path_factory, kumo_binary):
    base = tmp_path_factory.mktemp("kumo-auth")
    # The key comes from the config file here, not from the suite's KUMO_AUTH_* variables.
    srv = KumoServer(base / "data", config_text=AUTH_CONFIG, log_dir=base, test_credentials=False).start()
    yield srv
    srv.stop()


def client(url, key="test", secret="test", service="lambda", region=REGION):
    return boto3.client(service, endpoint_url=url, region_name=region, aws_access_key_id=key,
                        aws_secret_access_key=secret, config=Config(retries={"max_attempts": 1}))


def send(method, url, body=b"", headers=None):
    """urllib request; returns (status, headers, parsed JSON body or raw bytes)."""
    req = urllib.request.Request(url, data=body if method != "GET" else None, method=method,
                                 headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            status, hdrs, raw = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        status, hdrs, raw = e.code, e.headers, e.read()
    try:
        return status, hdrs, json.loads(raw)
    except ValueError:
        return status, hdrs, raw


def signed_headers(method, url, body=b"", headers=None, key="test", secret="test", service="lambda",
                   region=REGION):
    req = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    SigV4Auth(Credentials(key, secret), service, region).add_auth(req)
    return dict(req.headers.items())


@pytest.fixture
def clock(monkeypatch):
    """Sets the clock botocore signs with: clock(minutes) shifts it from now."""

    def shift(minutes):
        then = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) + datetime.timedelta(minutes=minutes)
        monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: then)

    return shift


def assert_refused(status, hdrs, body, code):
    assert status == 403, body
    assert hdrs["x-amzn-errortype"] == code
    assert body["__type"] == code, body
    assert body["message"]
    assert hdrs["x-amzn-requestid"]


# --------------------------------------------------------------------------- boto3 and raw requests


def test_boto3_with_the_right_key_works_and_a_wrong_secret_or_key_is_refused(server):
    assert isinstance(client(server.url).list_functions()["Functions"], list)
    # any region works: the region is part of what is signed, not a setting of Kumo's
    assert isinstance(client(server.url, region="ap-southeast-2").list_functions()["Functions"], list)
    with pytest.raises(ClientError) as ei:
        client(server.url, secret="not-the-secret").list_functions()
    assert error_code(ei.value) == "InvalidSignatureException"
    assert http_status(ei.value) == 403
    assert "signature we calculated does not match" in ei.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as ei:
        client(server.url, key="AKIANOBODY").list_functions()
    assert error_code(ei.value) == "UnrecognizedClientException"
    assert http_status(ei.value) == 403


def test_refused_requests_change_nothing(server):
    name = unique_name("refused")
    with pytest.raises(ClientError) as ei:
        client(server.url, secret="wrong").create_function(
            FunctionName=name, Runtime=funcs.PY, Role=ROLE, Handler="app.handler",
            Code={"ZipFile": make_zip(funcs.py_files())})
    assert error_code(ei.value) == "InvalidSignatureException"
    with pytest.raises(ClientError) as ei:
        lambda_client(server.url).get_function(FunctionName=name)
    assert error_code(ei.value) == "ResourceNotFoundException"


def test_unsigned_requests_are_refused(server):
    status, hdrs, body = send("GET", f"{server.url}/2015-03-31/functions")
    assert_refused(status, hdrs, body, "MissingAuthenticationTokenException")
    status, hdrs, body = send("GET", f"{server.url}/2015-03-31/functions",
                              headers={"Authorization": "Basic dGVzdDp0ZXN0"})
    assert_refused(status, hdrs, body, "IncompleteSignatureException")


def test_tampered_body_is_refused(server, make_function):
    name = make_function()
    url = f"{server.url}/2015-03-31/functions/{name}/invocations"
    body = json.dumps({"n": 1}).encode()
    headers = signed_headers("POST", url, body)
    status, _, doc = send("POST", url, body, headers)
    assert status == 200 and doc["event"] == {"n": 1}
    status, hdrs, doc = send("POST", url, json.dumps({"n": 2}).encode(), headers)
    assert_refused(status, hdrs, doc, "InvalidSignatureException")


def test_double_encoded_paths_verify(server, make_function):
    """An ARN in the path travels percent-encoded; botocore signs it encoded twice."""
    name = make_function()
    lam = lambda_client(server.url)
    resp = lam.invoke(FunctionName=function_arn(name), Qualifier="$LATEST", Payload=b'{"via": "arn"}')
    assert json.loads(resp["Payload"].read())["event"] == {"via": "arn"}
    assert lam.get_function_configuration(FunctionName=function_arn(name))["FunctionName"] == name


def test_expired_and_future_signatures_are_refused(server, clock):
    clock(-20)
    with pytest.raises(ClientError) as ei:
        client(server.url).list_functions()
    assert error_code(ei.value) == "InvalidSignatureException"
    assert "Signature expired" in ei.value.response["Error"]["Message"]
    clock(+20)
    with pytest.raises(ClientError) as ei:
        client(server.url).list_functions()
    assert error_code(ei.value) == "InvalidSignatureException"
    assert "not yet current" in ei.value.response["Error"]["Message"]
    # inside the 15-minute window a skewed clock is fine
    clock(-13)
    assert isinstance(client(server.url).list_functions()["Functions"], list)


def test_presigned_urls_work_until_they_expire(server, make_function, clock):
    name = make_function()
    lam = lambda_client(server.url)
    url = lam.generate_presigned_url("get_function_configuration", Params={"FunctionName": name}, ExpiresIn=300)
    assert "X-Amz-Signature=" in url
    status, _, doc = send("GET", url)
    assert status == 200 and doc["FunctionName"] == name
    status, hdrs, doc = send("GET", url.replace(name, name[:-1] + "x"))
    assert_refused(status, hdrs, doc, "InvalidSignatureException")
    clock(-10)
    old = lam.generate_presigned_url("list_functions", ExpiresIn=60)
    status, hdrs, doc = send("GET", old)
    assert_refused(status, hdrs, doc, "InvalidSignatureException")
    assert "expired" in doc["message"]
    # the same signer by hand, for a service other than lambda
    req = AWSRequest(method="GET", url=f"{server.url}/2015-03-31/functions")
    SigV4QueryAuth(Credentials("test", "wrong"), "lambda", REGION, expires=60).add_auth(req)
    status, hdrs, doc = send("GET", req.url)
    assert_refused(status, hdrs, doc, "InvalidSignatureException")


def test_json_1_1_apis_are_covered_by_the_same_check(server):
    """Logs and EventBridge speak JSON 1.1 (`POST /`, X-Amz-Target); their callers sign for
    service `logs` / `events` and read the error code from `__type`."""
    for service, target in (("logs", "Logs_20140328.DescribeLogGroups"), ("events", "AWSEvents.ListRules")):
        headers = {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"}
        status, hdrs, body = send("POST", server.url + "/", b"{}", headers)
        assert_refused(status, hdrs, body, "MissingAuthenticationTokenException")
        signed = signed_headers("POST", server.url + "/", b"{}", headers, secret="wrong", service=service)
        status, hdrs, body = send("POST", server.url + "/", b"{}", signed)
        assert_refused(status, hdrs, body, "InvalidSignatureException")
        signed = signed_headers("POST", server.url + "/", b"{}", headers, service=service)
        status, hdrs, body = send("POST", server.url + "/", b"{}", signed)
        assert status != 403, (service, body)
    with pytest.raises(ClientError) as ei:
        client(server.url, secret="wrong", service="logs").describe_log_groups()
    assert error_code(ei.value) == "InvalidSignatureException"


def test_public_paths_need_no_signature(server, make_function):
    name = make_function()
    location = lambda_client(server.url).get_function(FunctionName=name)["Code"]["Location"]
    with urllib.request.urlopen(location, timeout=60) as resp:
        assert resp.status == 200
        assert resp.read()[:2] == b"PK"


# --------------------------------------------------------------------------- CLIs


def test_aws_cli_with_the_configured_credentials(server):
    res = aws(server.url, "lambda", "list-functions", "--output", "json")
    assert res.returncode == 0, res.stderr
    assert "Functions" in json.loads(res.stdout)
    env = cli_env()
    env["AWS_SECRET_ACCESS_KEY"] = "wrong"
    res = subprocess.run(["aws", "--endpoint-url", server.url, "--region", REGION, "lambda", "list-functions"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode != 0
    assert "InvalidSignatureException" in res.stderr


def kumo_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KUMO_"))}
    env.update(extra)
    return env


def run_kumo(args, env, cwd):
    return subprocess.run([kumo_bin(), *args], capture_output=True, text=True, timeout=120, env=env,
                          cwd=cwd, stdin=subprocess.DEVNULL)


def test_kumo_cli_signs_with_flags_or_environment(server, tmp_path):
    ok = run_kumo(["list", "--endpoint", server.url, "--access-key", "test", "--secret-key", "test"],
                  kumo_env(), tmp_path)
    assert ok.returncode == 0, ok.stderr
    ok = run_kumo(["list", "--endpoint", server.url],
                  kumo_env(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test"), tmp_path)
    assert ok.returncode == 0, ok.stderr
    bad = run_kumo(["list", "--endpoint", server.url, "--access-key", "test", "--secret-key", "nope"],
                   kumo_env(), tmp_path)
    assert bad.returncode != 0
    assert "InvalidSignatureException" in bad.stderr
    unsigned = run_kumo(["list", "--endpoint", server.url], kumo_env(), tmp_path)
    assert unsigned.returncode != 0
    assert "MissingAuthenticationTokenException" in unsigned.stderr
    assert "--access-key" in unsigned.stderr, "the error says how to sign"


# --------------------------------------------------------------------------- server settings


def test_first_start_generates_credentials_and_prints_them_on_stderr(tmp_path, kumo_binary):
    data = tmp_path / "data"
    srv = KumoServer(data, config_text=BASE_CONFIG, log_dir=tmp_path, test_credentials=False).start()
    try:
        assert READY_RE.match(srv.first_stdout_line), srv.first_stdout_line
        cred_file = data / "credentials"
        assert stat.S_IMODE(os.stat(cred_file).st_mode) == 0o600
        text = cred_file.read_text()
        key = re.search(r"^aws_access_key_id = (\S+)$", text, re.M).group(1)
        secret = re.search(r"^aws_secret_access_key = (\S+)$", text, re.M).group(1)
        assert re.fullmatch(r"AKIA[A-Z2-7]{16}", key) and len(secret) == 40
        stderr = open(srv.stderr_path).read()
        assert f"AWS_ACCESS_KEY_ID={key}" in stderr and f"AWS_SECRET_ACCESS_KEY={secret}" in stderr
        assert 'mode = "none"' in stderr
        assert secret not in "\n".join(srv.stdout_lines), "credentials never go to stdout"

        assert isinstance(client(srv.url, key, secret).list_functions()["Functions"], list)
        with pytest.raises(ClientError) as ei:
            client(srv.url).list_functions()
        assert error_code(ei.value) == "UnrecognizedClientException"
        # the AWS SDKs can read the file as a shared-credentials file
        os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(cred_file)
        try:
            session = boto3.session.Session(region_name=REGION)
            assert session.get_credentials().access_key == key
        finally:
            del os.environ["AWS_SHARED_CREDENTIALS_FILE"]
        # the kumo CLI reads the key from --data-dir
        res = run_kumo(["list", "--endpoint", srv.url, "--data-dir", str(data)], kumo_env(), tmp_path)
        assert res.returncode == 0, res.stderr
        assert srv.stop() == 0

        # a restart reuses the key and does not announce it again
        srv.start()
        assert cred_file.read_text() == text
        stderr = open(srv.stderr_path).read()
        assert secret not in stderr
        assert isinstance(client(srv.url, key, secret).list_functions()["Functions"], list)
    finally:
        srv.stop()


def test_auth_mode_none_serves_unsigned_requests(tmp_path, kumo_binary):
    data = tmp_path / "data"
    srv = KumoServer(data, config_text=BASE_CONFIG + '\n[auth]\nmode = "none"\n', log_dir=tmp_path).start()
    try:
        status, _, body = send("GET", f"{srv.url}/2015-03-31/functions")
        assert status == 200 and body["Functions"] == []
        assert isinstance(client(srv.url, "any", "thing").list_functions()["Functions"], list)
        assert not (data / "credentials").exists()
        assert "authentication is off" in open(srv.stderr_path).read()
    finally:
        assert srv.stop() == 0


def test_environment_overrides_the_configured_key(tmp_path, kumo_binary, monkeypatch):
    monkeypatch.setenv("KUMO_AUTH_ACCESS_KEY_ID", "envkey")
    monkeypatch.setenv("KUMO_AUTH_SECRET_ACCESS_KEY", "envsecret")
    srv = KumoServer(tmp_path / "data", config_text=AUTH_CONFIG, log_dir=tmp_path, test_credentials=False).start()
    try:
        assert isinstance(client(srv.url, "envkey", "envsecret").list_functions()["Functions"], list)
        with pytest.raises(ClientError) as ei:
            client(srv.url).list_functions()
        assert error_code(ei.value) == "UnrecognizedClientException"
    finally:
        assert srv.stop() == 0


def test_invalid_auth_settings_stop_the_server(tmp_path, kumo_binary):
    for cfg, needle in ((BASE_CONFIG + '\n[auth]\nmode = "basic"\n', "auth.mode"),
                        (BASE_CONFIG + '\n[auth]\naccess_key_id = "only"\n', "together"),
                        (BASE_CONFIG + '\n[auth]\nbogus = 1\n', "bogus")):
        srv = KumoServer(tmp_path / "data", config_text=cfg, log_dir=tmp_path, test_credentials=False)
        with pytest.raises(AssertionError) as ei:
            srv.start(timeout=20)
        assert "exited with" in str(ei.value) and needle in str(ei.value), str(ei.value)
