"""Function URLs: the URL config API (boto3, aws CLI), payload format 2.0 events, Lambda's
response mapping, binary bodies, CORS, errors, throttling, limits and AWS_IAM auth, driven with
http.client, urllib and curl over both the host-name form and the /urls/<id>/ path form."""

import base64
import http.client as httpclient
import json
import os
import re
import subprocess
import time
import urllib.parse

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from testutil import (
    REGION,
    REPO_ROOT,
    SIX_MB,
    aws_json,
    error_code,
    function_arn,
    http_status,
    kumo,
    unique_name,
)

URL_RE = re.compile(r"^http://([a-z0-9]{32})\.lambda-url\.us-east-1\.localhost:(\d+)/$")
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")
EVENT_TIME_RE = re.compile(r"^\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000$")

APP = r'''
import base64
import json


def handler(event, context):
    path = event.get("rawPath", "")
    if path == "/raw-string":
        return "Hello, world!"
    if path == "/raw-object":
        return {"message": "hi"}
    if path == "/raw-list":
        return [1, 2, 3]
    if path == "/custom":
        return {"statusCode": 201,
                "headers": {"Content-Type": "text/plain", "X-Custom": "yes"},
                "cookies": ["a=1; Max-Age=60", "b=2"],
                "body": "created"}
    if path == "/no-headers":
        return {"statusCode": 202, "body": "{\"accepted\": true}"}
    if path == "/binary":
        return {"statusCode": 200, "headers": {"content-type": "application/octet-stream"},
                "body": base64.b64encode(bytes(range(256))).decode(), "isBase64Encoded": True}
    if path == "/reverse":
        raw = event.get("body", "")
        data = base64.b64decode(raw) if event["isBase64Encoded"] else raw.encode()
        return {"statusCode": 200, "headers": {"content-type": "application/octet-stream"},
                "body": base64.b64encode(data[::-1]).decode(), "isBase64Encoded": True}
    if path == "/raise":
        raise RuntimeError("boom")
    if path == "/bad-status":
        return {"statusCode": "teapot"}
    if path == "/cors-override":
        return {"statusCode": 200, "headers": {"Access-Control-Allow-Origin": "https://evil.example"}, "body": "x"}
    if path == "/big":
        return "x" * (7 * 1024 * 1024)
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": json.dumps({"event": event, "requestId": context.aws_request_id})}
'''


def http(method, url, body=None, headers=(), connect_host=None):
    """One HTTP request with http.client; headers is a list of (name, value), repeats allowed.

    connect_host: connect there instead of the URL's host (for the *.localhost host form, which
    the system resolver does not know), still sending the URL's host in `Host`.
    Returns (status, [(name, value)...] with lower-cased names, body bytes).
    """
    u = urllib.parse.urlsplit(url)
    conn = httpclient.HTTPConnection(connect_host or u.hostname, u.port, timeout=60)
    try:
        target = u.path or "/"
        if u.query:
            target += "?" + u.query
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        names = {k.lower() for k, _ in headers}
        if "host" not in names:
            conn.putheader("Host", u.netloc)
        for k, v in headers:
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        try:
            conn.endheaders(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused from its head (Content-Length over the limit): the answer is waiting
        resp = conn.getresponse()
        return resp.status, [(k.lower(), v) for k, v in resp.getheaders()], resp.read()
    finally:
        conn.close()


def header(headers, name):
    values = [v for k, v in headers if k == name]
    return values[0] if len(values) == 1 else values or None


def path_form(server, url_id, path="/"):
    return f"{server.url}/urls/{url_id}{path}"


@pytest.fixture(scope="module")
def app_url(lam, make_function, server):
    """A function with a NONE-auth URL: (name, FunctionUrl, url_id)."""
    name = make_function(files={"app.py": APP}, prefix="url", Timeout=10)
    cfg = lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    m = URL_RE.match(cfg["FunctionUrl"])
    assert m, cfg["FunctionUrl"]
    assert int(m.group(2)) == server.port
    return name, cfg["FunctionUrl"], m.group(1)


def get_event(status, headers, body):
    assert status == 200, body
    doc = json.loads(body)
    return doc["event"], doc["requestId"]


# --------------------------------------------------------------------------- config API


def test_url_config_lifecycle_with_boto3(lam, make_function, server):
    name = make_function(files={"app.py": APP}, prefix="urlcfg")
    cors = {"AllowOrigins": ["https://app.example"], "AllowMethods": ["GET", "POST"], "MaxAge": 300}
    created = lam.create_function_url_config(FunctionName=name, AuthType="NONE", Cors=cors)
    assert http_status(created) == 201
    assert URL_RE.match(created["FunctionUrl"]), created["FunctionUrl"]
    assert created["FunctionArn"] == function_arn(name)
    assert created["AuthType"] == "NONE"
    assert created["Cors"] == cors
    # AWS's CreateFunctionUrlConfig answer has no InvokeMode (Get and List have it)
    assert "InvokeMode" not in created and "LastModifiedTime" not in created
    assert TIME_RE.match(created["CreationTime"]), created["CreationTime"]

    got = lam.get_function_url_config(FunctionName=name)
    assert got["FunctionUrl"] == created["FunctionUrl"]
    assert got["CreationTime"] == created["CreationTime"]
    assert TIME_RE.match(got["LastModifiedTime"])

    with pytest.raises(ClientError) as ei:
        lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")
    assert error_code(ei.value) == "ResourceConflictException" and http_status(ei.value) == 409
    assert lam.get_function_url_config(FunctionName=name)["AuthType"] == "NONE"

    updated = lam.update_function_url_config(
        FunctionName=name, AuthType="AWS_IAM", Cors={"AllowOrigins": ["*"], "AllowCredentials": True})
    assert updated["AuthType"] == "AWS_IAM"
    assert updated["Cors"] == {"AllowOrigins": ["*"], "AllowCredentials": True}
    assert updated["FunctionUrl"] == created["FunctionUrl"], "a URL never changes"
    assert updated["LastModifiedTime"] >= got["LastModifiedTime"]

    # by ARN, and through the list operation
    listed = lam.list_function_url_configs(FunctionName=function_arn(name))["FunctionUrlConfigs"]
    assert [c["FunctionUrl"] for c in listed] == [created["FunctionUrl"]]
    assert listed[0]["AuthType"] == "AWS_IAM"

    deleted = lam.delete_function_url_config(FunctionName=name)
    assert http_status(deleted) == 204
    for call in (lambda: lam.get_function_url_config(FunctionName=name),
                 lambda: lam.delete_function_url_config(FunctionName=name),
                 lambda: lam.update_function_url_config(FunctionName=name, AuthType="NONE")):
        with pytest.raises(ClientError) as ei:
            call()
        assert error_code(ei.value) == "ResourceNotFoundException" and http_status(ei.value) == 404
    assert lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"] == []

    # the old URL is gone from the data plane too
    url_id = URL_RE.match(created["FunctionUrl"]).group(1)
    status, _, _ = http("GET", path_form(server, url_id))
    assert status == 404


def test_url_config_validation_leaves_state_unchanged(lam, lam_raw, make_function):
    name = make_function(files={"app.py": APP}, prefix="urlbad")
    cases = [
        (dict(AuthType="OPEN"), "ValidationException"),
        (dict(AuthType="NONE", Cors={"MaxAge": 86401}), "ValidationException"),
        (dict(AuthType="NONE", Cors={"AllowMethods": ["OPTIONS"]}), "ValidationException"),
        (dict(AuthType="NONE", Cors={"AllowMethods": ["get"]}), "InvalidParameterValueException"),
        (dict(AuthType="NONE", InvokeMode="RESPONSE_STREAM"), "InvalidParameterValueException"),
        (dict(AuthType="NONE", Qualifier="live"), "ResourceNotFoundException"),
        (dict(AuthType="NONE", Qualifier="7"), "ValidationException"),
    ]
    for kwargs, code in cases:
        with pytest.raises(ClientError) as ei:
            lam_raw.create_function_url_config(FunctionName=name, **kwargs)
        assert error_code(ei.value) == code, (kwargs, ei.value.response)
        with pytest.raises(ClientError) as ei:
            lam.get_function_url_config(FunctionName=name)
        assert error_code(ei.value) == "ResourceNotFoundException", kwargs
    with pytest.raises(ClientError) as ei:
        lam_raw.create_function_url_config(FunctionName=name)
    assert error_code(ei.value) == "ValidationException"
    with pytest.raises(ClientError) as ei:
        lam.create_function_url_config(FunctionName=unique_name("missing"), AuthType="NONE")
    assert error_code(ei.value) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as ei:
        lam_raw.list_function_url_configs(FunctionName=name, MaxItems=51)
    assert error_code(ei.value) == "ValidationException"

    lam.create_function_url_config(FunctionName=name, AuthType="NONE", Cors={"MaxAge": 10})
    with pytest.raises(ClientError) as ei:
        lam_raw.update_function_url_config(FunctionName=name, AuthType="NONE", Cors={"MaxAge": -1})
    assert error_code(ei.value) == "ValidationException"
    assert lam.get_function_url_config(FunctionName=name)["Cors"] == {"MaxAge": 10}


def test_aws_cli_creates_and_reads_a_url_config(server, make_function):
    name = make_function(files={"app.py": APP}, prefix="urlcli")
    created = aws_json(server.url, "lambda", "create-function-url-config",
                       "--function-name", name, "--auth-type", "NONE",
                       "--cors", "AllowOrigins=https://a.example,AllowMethods=GET")
    assert URL_RE.match(created["FunctionUrl"])
    assert created["Cors"] == {"AllowOrigins": ["https://a.example"], "AllowMethods": ["GET"]}
    got = aws_json(server.url, "lambda", "get-function-url-config", "--function-name", name)
    assert got["FunctionUrl"] == created["FunctionUrl"]
    # and the URL it printed answers (curl resolves *.localhost to the loopback address itself)
    out = subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", created["FunctionUrl"] + "raw-string"],
                         capture_output=True, text=True, timeout=60)
    body, _, code = out.stdout.rpartition("\n")
    assert (code, body) == ("200", '"Hello, world!"'), out.stderr


def test_url_is_deleted_with_its_function(lam, make_function, server):
    name = make_function(files={"app.py": APP}, prefix="urldel")
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    url_id = URL_RE.match(url).group(1)
    status, _, _ = http("GET", path_form(server, url_id, "/raw-string"))
    assert status == 200
    lam.delete_function(FunctionName=name)
    status, _, _ = http("GET", path_form(server, url_id, "/raw-string"))
    assert status == 404
    make_function(files={"app.py": APP}, name=name)
    with pytest.raises(ClientError) as ei:
        lam.get_function_url_config(FunctionName=name)
    assert error_code(ei.value) == "ResourceNotFoundException"


# --------------------------------------------------------------------------- events


def test_event_fields_over_the_host_name_form(app_url):
    _, url, url_id = app_url
    body = json.dumps({"k": "v", "n": 1}).encode()
    status, headers, raw = http(
        "POST", url + "items/a%20b?a=1&a=2&b=x%2By+z&flag",
        body=body,
        headers=[("Content-Type", "application/json"), ("X-Multi", "one"), ("X-Multi", "two"),
                 ("Cookie", "c1=v1; c2=v2"), ("User-Agent", "e2e-agent/1.0")],
        connect_host="127.0.0.1",
    )
    event, request_id = get_event(status, headers, raw)
    assert event["version"] == "2.0"
    assert event["routeKey"] == "$default"
    assert event["rawPath"] == "/items/a%20b"
    assert event["rawQueryString"] == "a=1&a=2&b=x%2By+z&flag"
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x+y z", "flag": ""}
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    h = event["headers"]
    assert all(k == k.lower() for k in h)
    assert h["x-multi"] == "one,two"
    assert h["content-type"] == "application/json"
    assert h["host"] == urllib.parse.urlsplit(url).netloc
    assert h["user-agent"] == "e2e-agent/1.0"
    assert h["x-forwarded-for"] == "127.0.0.1"
    assert "cookie" not in h
    assert event["body"] == body.decode()
    assert event["isBase64Encoded"] is False
    rc = event["requestContext"]
    assert rc["accountId"] == "123456789012"
    assert rc["apiId"] == url_id and rc["domainPrefix"] == url_id
    assert rc["domainName"] == f"{url_id}.lambda-url.{REGION}.localhost"
    assert rc["http"] == {"method": "POST", "path": "/items/a b", "protocol": "HTTP/1.1",
                          "sourceIp": "127.0.0.1", "userAgent": "e2e-agent/1.0"}
    assert rc["routeKey"] == "$default" and rc["stage"] == "$default"
    assert rc["authorizer"] is None
    assert EVENT_TIME_RE.match(rc["time"]), rc["time"]
    assert isinstance(rc["timeEpoch"], int) and abs(rc["timeEpoch"] / 1000 - time.time()) < 300
    # one id for the whole request: event, context and response header
    assert rc["requestId"] == request_id == header(headers, "x-amzn-requestid")


def test_event_over_the_path_form_with_urllib(app_url, server):
    import urllib.request
    _, _, url_id = app_url
    with urllib.request.urlopen(path_form(server, url_id, "/deep/path/"), timeout=60) as resp:
        assert resp.status == 200
        doc = json.loads(resp.read())
    event = doc["event"]
    assert event["rawPath"] == "/deep/path/"
    assert event["rawQueryString"] == ""
    assert "queryStringParameters" not in event
    assert "cookies" not in event
    assert "body" not in event and event["isBase64Encoded"] is False
    assert event["requestContext"]["http"]["method"] == "GET"
    # /urls/<id> without a trailing path is the root
    status, headers, raw = http("GET", f"{server.url}/urls/{url_id}")
    event, _ = get_event(status, headers, raw)
    assert event["rawPath"] == "/"


def test_binary_request_bodies_arrive_base64_encoded_and_round_trip(app_url, server):
    _, _, url_id = app_url
    data = bytes(range(256)) * 4
    status, headers, raw = http("POST", path_form(server, url_id, "/reverse"), body=data,
                                headers=[("Content-Type", "application/octet-stream")])
    assert status == 200
    assert header(headers, "content-type") == "application/octet-stream"
    assert raw == data[::-1]
    status, headers, raw = http("POST", path_form(server, url_id, "/echo"), body=data,
                                headers=[("Content-Type", "image/png")])
    event, _ = get_event(status, headers, raw)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == data
    # text bodies stay text
    status, headers, raw = http("POST", path_form(server, url_id, "/echo"), body="héllo".encode(),
                                headers=[("Content-Type", "text/plain; charset=utf-8")])
    event, _ = get_event(status, headers, raw)
    assert (event["body"], event["isBase64Encoded"]) == ("héllo", False)


# --------------------------------------------------------------------------- responses


def test_result_without_status_code_is_a_200_json_body(app_url, server):
    _, _, url_id = app_url
    for path, expected in (("/raw-string", b'"Hello, world!"'),
                           ("/raw-object", b'{"message": "hi"}'),
                           ("/raw-list", b"[1, 2, 3]")):
        status, headers, raw = http("GET", path_form(server, url_id, path))
        assert status == 200, path
        assert header(headers, "content-type") == "application/json", path
        assert raw == expected, path
        assert header(headers, "content-length") == str(len(expected))


def test_structured_result_sets_status_headers_and_cookies(app_url, server):
    _, _, url_id = app_url
    status, headers, raw = http("GET", path_form(server, url_id, "/custom"))
    assert status == 201
    assert raw == b"created"
    assert header(headers, "content-type") == "text/plain"
    assert header(headers, "x-custom") == "yes"
    assert [v for k, v in headers if k == "set-cookie"] == ["a=1; Max-Age=60", "b=2"]
    status, headers, raw = http("GET", path_form(server, url_id, "/no-headers"))
    assert status == 202
    assert header(headers, "content-type") == "application/json"
    assert json.loads(raw) == {"accepted": True}


def test_base64_result_bodies_are_decoded(app_url, server):
    _, _, url_id = app_url
    status, headers, raw = http("GET", path_form(server, url_id, "/binary"))
    assert status == 200
    assert raw == bytes(range(256))
    assert header(headers, "content-type") == "application/octet-stream"


def test_function_errors_and_unusable_results_are_502(app_url, server):
    _, _, url_id = app_url
    for path in ("/raise", "/bad-status", "/big"):
        status, _, raw = http("GET", path_form(server, url_id, path))
        assert status == 502, (path, raw[:200])
        assert raw == b"Internal Server Error"


def test_request_bodies_over_6mb_are_refused(app_url, server):
    _, _, url_id = app_url
    status, headers, _ = http("POST", path_form(server, url_id, "/echo"), body=b"x" * (SIX_MB + 1),
                              headers=[("Content-Type", "text/plain")])
    assert status == 413
    assert header(headers, "x-amzn-errortype") == "RequestEntityTooLargeException"
    status, _, raw = http("POST", path_form(server, url_id, "/echo"), body=b"x" * (SIX_MB - 1024),
                          headers=[("Content-Type", "text/plain")])
    event, _ = get_event(status, [], raw)
    assert len(event["body"]) == SIX_MB - 1024


def test_throttled_url_requests_get_429(lam, make_function, server):
    name = make_function(files={"app.py": APP}, prefix="urlthr")
    url_id = URL_RE.match(lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]).group(1)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    status, headers, raw = http("GET", path_form(server, url_id, "/raw-string"))
    assert status == 429
    assert header(headers, "x-amzn-errortype") == "TooManyRequestsException"
    assert json.loads(raw)["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    lam.delete_function_concurrency(FunctionName=name)
    status, _, raw = http("GET", path_form(server, url_id, "/raw-string"))
    assert (status, raw) == (200, b'"Hello, world!"')


def test_unknown_url_ids_are_404(server):
    for url in (f"{server.url}/urls/{'0' * 32}/", f"{server.url}/urls/not-an-id/x"):
        status, headers, _ = http("GET", url)
        assert status == 404, url
        assert header(headers, "x-amzn-errortype") == "ResourceNotFoundException"
    status, _, _ = http("GET", f"http://{'1' * 32}.lambda-url.us-east-1.localhost:{server.port}/",
                        connect_host="127.0.0.1")
    assert status == 404


# --------------------------------------------------------------------------- CORS


CORS = {"AllowOrigins": ["https://app.example"], "AllowMethods": ["GET", "POST"],
        "AllowHeaders": ["X-Token"], "ExposeHeaders": ["X-Trace"], "MaxAge": 300,
        "AllowCredentials": True}


def test_cors_preflight_is_answered_without_invoking(lam, make_function, server):
    name = make_function(files={"app.py": APP}, prefix="cors")
    url_id = URL_RE.match(lam.create_function_url_config(
        FunctionName=name, AuthType="NONE", Cors=CORS)["FunctionUrl"]).group(1)
    status, headers, raw = http("OPTIONS", path_form(server, url_id, "/echo"), headers=[
        ("Origin", "https://app.example"), ("Access-Control-Request-Method", "POST"),
        ("Access-Control-Request-Headers", "x-token")])
    assert status == 200
    assert raw == b"", "a preflight never reaches the function"
    assert header(headers, "access-control-allow-origin") == "https://app.example"
    assert header(headers, "access-control-allow-methods") == "GET,POST"
    assert header(headers, "access-control-allow-headers") == "x-token"
    assert header(headers, "access-control-max-age") == "300"
    assert header(headers, "access-control-allow-credentials") == "true"

    # actual requests carry the configured headers, overriding the function's own
    status, headers, raw = http("GET", path_form(server, url_id, "/cors-override"),
                                headers=[("Origin", "https://app.example")])
    assert (status, raw) == (200, b"x")
    assert header(headers, "access-control-allow-origin") == "https://app.example"
    assert header(headers, "access-control-expose-headers") == "x-trace"
    assert header(headers, "access-control-max-age") is None

    # an origin not in the list gets no CORS headers at all
    status, headers, _ = http("GET", path_form(server, url_id, "/cors-override"),
                              headers=[("Origin", "https://evil.example")])
    assert status == 200
    assert not [k for k, _ in headers if k.startswith("access-control-")], headers


def test_without_cors_options_requests_reach_the_function(app_url, server):
    _, _, url_id = app_url
    status, headers, raw = http("OPTIONS", path_form(server, url_id, "/echo"), headers=[
        ("Origin", "https://app.example"), ("Access-Control-Request-Method", "POST")])
    event, _ = get_event(status, headers, raw)
    assert event["requestContext"]["http"]["method"] == "OPTIONS"


# --------------------------------------------------------------------------- AWS_IAM


def sign(method, url, body=b"", headers=None, key="test", secret="test", service="lambda"):
    req = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    SigV4Auth(Credentials(key, secret), service, REGION).add_auth(req)
    return list(req.headers.items())


@pytest.fixture(scope="module")
def iam_url(lam, make_function):
    name = make_function(files={"app.py": APP}, prefix="iam")
    url = lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")["FunctionUrl"]
    return URL_RE.match(url).group(1), url


def test_aws_iam_url_refuses_unsigned_and_badly_signed_requests(iam_url, server):
    url_id, _ = iam_url
    url = path_form(server, url_id, "/echo")
    status, headers, raw = http("GET", url)
    assert status == 403
    assert header(headers, "x-amzn-errortype") == "MissingAuthenticationTokenException"
    assert json.loads(raw)["__type"] == "MissingAuthenticationTokenException"
    status, headers, _ = http("GET", url, headers=sign("GET", url, secret="wrong"))
    assert (status, header(headers, "x-amzn-errortype")) == (403, "InvalidSignatureException")
    status, headers, _ = http("GET", url, headers=sign("GET", url, key="nobody"))
    assert (status, header(headers, "x-amzn-errortype")) == (403, "UnrecognizedClientException")
    status, headers, raw = http("GET", url, headers=sign("GET", url, service="execute-api"))
    assert (status, header(headers, "x-amzn-errortype")) == (403, "InvalidSignatureException")
    assert "lambda" in json.loads(raw)["message"]
    signed = sign("POST", url, body=b'{"amount": 1}', headers={"Content-Type": "application/json"})
    status, _, _ = http("POST", url, body=b'{"amount": 9}', headers=signed)
    assert status == 403, "a tampered body must not pass"


def test_aws_iam_url_accepts_botocore_signed_requests(iam_url, server):
    url_id, function_url = iam_url
    # path form, header signature, with a body
    url = path_form(server, url_id, "/echo?x=1")
    body = b'{"amount": 1}'
    status, headers, raw = http("POST", url, body=body,
                                headers=sign("POST", url, body, {"Content-Type": "application/json"}))
    event, _ = get_event(status, headers, raw)
    assert event["body"] == body.decode()
    iam = event["requestContext"]["authorizer"]["iam"]
    assert iam["accessKey"] == "test"
    assert iam["accountId"] == "123456789012"
    # host-name form
    url = function_url + "echo"
    status, headers, raw = http("GET", url, headers=sign("GET", url), connect_host="127.0.0.1")
    event, _ = get_event(status, headers, raw)
    assert event["rawPath"] == "/echo"
    # presigned query form
    req = AWSRequest(method="GET", url=path_form(server, url_id, "/echo"))
    SigV4QueryAuth(Credentials("test", "test"), "lambda", REGION, expires=60).add_auth(req)
    status, headers, raw = http("GET", req.url)
    event, _ = get_event(status, headers, raw)
    assert "X-Amz-Signature" in event["queryStringParameters"]


# --------------------------------------------------------------------------- example + CLI


def test_rest_api_example_deploys_with_one_command_and_serves_the_readme_flow(server, tmp_path):
    """The flow of examples/rest-api/README.md: deploy.sh, then CRUD with curl."""
    name = unique_name("todo")
    env = dict(os.environ, KUMO_ENDPOINT=server.url, AWS_ACCESS_KEY_ID="test",
               AWS_SECRET_ACCESS_KEY="test", NAME=name,
               KUMO=os.environ.get("KUMO_BIN") or os.path.join(REPO_ROOT, "target", "debug", "kumo"))
    out = subprocess.run([os.path.join(REPO_ROOT, "examples", "rest-api", "deploy.sh")],
                         capture_output=True, text=True, env=env, timeout=120, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    m = re.search(r"^url (http://\S+) \(NONE\)$", out.stdout, re.M)
    assert m, out.stdout
    base = m.group(1).rstrip("/")
    m = re.search(r"^\s+(http://127\.0\.0\.1:\d+/urls/[a-z0-9]{32}/)$", out.stdout, re.M)
    assert m, out.stdout
    path_base = m.group(1).rstrip("/")

    def curl(*args):
        res = subprocess.run(["curl", "-sS", "-w", "\n%{http_code}", *args],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        body, _, code = res.stdout.rpartition("\n")
        return int(code), body

    code, body = curl(f"{base}/todos")
    assert (code, json.loads(body)) == (200, [])
    code, body = curl("-X", "POST", f"{base}/todos", "-H", "content-type: application/json",
                      "-d", '{"title": "buy milk"}')
    assert code == 201, body
    milk = json.loads(body)
    assert milk["title"] == "buy milk" and milk["done"] is False
    code, body = curl("-X", "POST", f"{path_base}/todos", "-d", '{"title": "walk the dog"}')
    assert code == 201, body
    dog = json.loads(body)
    code, body = curl(f"{path_base}/todos/{milk['id']}")
    assert (code, json.loads(body)) == (200, milk)
    code, body = curl("-X", "PUT", f"{base}/todos/{milk['id']}", "-H", "content-type: application/json",
                      "-d", '{"done": true}')
    assert code == 200 and json.loads(body)["done"] is True
    code, body = curl("-X", "DELETE", f"{base}/todos/{dog['id']}")
    assert code == 204 and body == ""
    code, body = curl(f"{base}/todos")
    assert code == 200
    assert [(t["title"], t["done"]) for t in json.loads(body)] == [("buy milk", True)]
    code, body = curl(f"{base}/todos/{dog['id']}")
    assert code == 404 and "not found" in json.loads(body)["message"]
    code, body = curl("-X", "POST", f"{base}/todos", "-H", "content-type: application/json", "-d", "{oops")
    assert code == 400
    code, _ = curl("-X", "PATCH", f"{base}/todos")
    assert code == 405

    # deploying again keeps the same URL
    again = subprocess.run([os.path.join(REPO_ROOT, "examples", "rest-api", "deploy.sh")],
                           capture_output=True, text=True, env=env, timeout=120, stdin=subprocess.DEVNULL)
    assert again.returncode == 0, again.stderr
    assert f"url {base}/ (NONE)" in again.stdout


def test_kumo_deploy_url_flag_switches_auth_type(server, tmp_path):
    name = unique_name("clurl")
    src = tmp_path / "src"
    src.mkdir()
    (src / "app.py").write_text(APP)
    common = ["--endpoint", server.url, "--access-key", "test", "--secret-key", "test"]
    res = kumo("deploy", str(src), "--name", name, "--runtime", "python3.11", "--handler", "app.handler",
               "--url", "AWS_IAM", *common)
    assert res.returncode == 0, res.stderr
    assert re.search(r"^url http://[a-z0-9]{32}\.lambda-url\.us-east-1\.localhost:\d+/ \(AWS_IAM\)$",
                     res.stdout, re.M), res.stdout
    res = kumo("deploy", str(src), "--name", name, "--runtime", "python3.11", "--handler", "app.handler",
               "--url", *common)
    assert res.returncode == 0, res.stderr
    assert "(NONE)" in res.stdout
    url_id = re.search(r"/urls/([a-z0-9]{32})/", res.stdout).group(1)
    status, _, raw = http("GET", path_form(server, url_id, "/raw-string"))
    assert (status, raw) == (200, b'"Hello, world!"')
