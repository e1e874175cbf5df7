"""Hostile clients at the front door: large bodies with forged signatures, paths with dot or
empty segments, code links used after they expire or altered, `/metrics` without a signature.
Each test performs the attack against a real `kumo serve` and checks what it left behind."""

import hashlib
import http.client
import io
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile

import pytest
from botocore.exceptions import ClientError

import funcs
from testutil import (
    ROLE,
    SIX_MB,
    TEST_KEY,
    KumoServer,
    error_code,
    lambda_client,
    make_zip,
    signed_request,
    unique_name,
    wait_until,
)

MIB = 1024 * 1024


def vm_hwm_kb(pid):
    """Peak resident set size of a process, from /proc (kB)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc status")


def forged_headers(host, length, amz_date=None, key=TEST_KEY, signed="host;x-amz-date", extra=None):
    """Headers of a request that names a real access key but carries a made-up signature."""
    amz_date = amz_date or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    headers = {
        "Host": host,
        "Content-Type": "application/json",
        "Content-Length": str(length),
        "X-Amz-Date": amz_date,
        "Authorization": (
            f"AWS4-HMAC-SHA256 Credential={key}/{amz_date[:8]}/us-east-1/lambda/aws4_request, "
            f"SignedHeaders={signed}, Signature={'0' * 64}"
        ),
    }
    headers.update(extra or {})
    return headers


def send_streamed(url, path, headers, length, chunk=MIB):
    """POSTs `length` bytes from a generator (never holding the body) and returns
    (status, headers, body) of the answer."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
    try:
        conn.putrequest("POST", path, skip_host=True, skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.endheaders()
        block = b"{" + b"x" * (chunk - 1)
        sent = 0
        try:
            while sent < length:
                n = min(chunk, length - sent)
                conn.send(block[:n])
                sent += n
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered before taking the whole body
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def head_only(url, path, headers, timeout=20):
    """Sends only the head of a request whose Content-Length announces a body, and returns the
    status and error type of the answer: it must come without the body being sent."""
    u = urllib.parse.urlsplit(url)
    with socket.create_connection((u.hostname, u.port), timeout=timeout) as s:
        head = f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        s.sendall(head.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            got = s.recv(65536)
            if not got:
                break
            data += got
    status_line, _, rest = data.partition(b"\r\n")
    status = int(status_line.split()[1])
    fields = {}
    for line in rest.split(b"\r\n\r\n")[0].split(b"\r\n"):
        k, _, v = line.decode().partition(":")
        fields[k.strip().lower()] = v.strip()
    return status, fields.get("x-amzn-errortype")


# --------------------------------------------------------------------------- bodies before authentication


@pytest.fixture(scope="module")
def fresh(tmp_path_factory, kumo_binary):
    """A server of its own, so that its peak memory reflects only what these tests do."""
    base = tmp_path_factory.mktemp("hostile-bodies")
    srv = KumoServer(base / "data", log_dir=base).start()
    yield srv
    srv.stop()


def test_forged_large_bodies_are_refused_without_taking_memory(fresh):
    """8 concurrent ~99 MiB CreateFunction bodies with the real key id and a made-up signature:
    each is refused with InvalidSignatureException, the server's peak RSS grows by less than
    150 MB (it held ~800 MB before), and signed requests are served meanwhile."""
    lam = lambda_client(fresh.url)
    lam.list_functions()
    before_kb = vm_hwm_kb(fresh.pid)
    host = urllib.parse.urlsplit(fresh.url).netloc
    length = 99 * MIB
    results = [None] * 8
    errors = []

    def attack(i):
        try:
            results[i] = send_streamed(fresh.url, "/2015-03-31/functions", forged_headers(host, length), length)
        except Exception as e:  # reported below with the others
            errors.append(repr(e))

    threads = [threading.Thread(target=attack, args=(i,)) for i in range(8)]
    started = time.monotonic()
    for t in threads:
        t.start()
    # While the forged bodies stream in, a signed request is answered.
    answered = 0
    while any(t.is_alive() for t in threads) and answered < 3:
        assert "Functions" in lam.list_functions()
        answered += 1
        time.sleep(0.2)
    for t in threads:
        t.join(300)
    elapsed = time.monotonic() - started
    assert not errors, errors
    assert answered >= 1
    for status, headers, body in results:
        assert status == 403, (status, body[:300])
        assert headers.get("x-amzn-errortype") == "InvalidSignatureException", headers
        assert json.loads(body)["__type"] == "InvalidSignatureException"
    grew_mb = (vm_hwm_kb(fresh.pid) - before_kb) / 1024
    print(f"8 x {length // MIB} MiB forged bodies refused in {elapsed:.1f} s; peak RSS grew {grew_mb:.0f} MB")
    assert grew_mb < 150, f"peak RSS grew by {grew_mb:.0f} MB while refusing forged bodies"
    # Spooled bodies leave no files behind.
    spool = os.path.join(fresh.data_dir, "spool")
    assert not os.path.isdir(spool) or os.listdir(spool) == []
    assert lam.list_functions()["Functions"] == []


@pytest.mark.parametrize(
    "case, code",
    [
        ("unknown key", "UnrecognizedClientException"),
        ("stale date", "InvalidSignatureException"),
        ("signed payload hash", "InvalidSignatureException"),
        ("too large", "RequestEntityTooLargeException"),
        ("invoke too large", "RequestEntityTooLargeException"),
    ],
)
def test_cheap_refusals_come_before_the_body(fresh, case, code):
    """Refusals that need no body are answered to the head alone: the client never has to send
    (and the server never reads) the 99 MiB it announced."""
    host = urllib.parse.urlsplit(fresh.url).netloc
    length = 99 * MIB
    path = "/2015-03-31/functions"
    if case == "unknown key":
        headers = forged_headers(host, length, key="AKIANOTAKEY")
    elif case == "stale date":
        headers = forged_headers(host, length, amz_date="20200101T000000Z")
    elif case == "signed payload hash":
        headers = forged_headers(host, length, signed="host;x-amz-content-sha256;x-amz-date",
                                 extra={"x-amz-content-sha256": hashlib.sha256(b"x").hexdigest()})
    elif case == "too large":
        headers = forged_headers(host, 101 * MIB)
    else:
        path = "/2015-03-31/functions/any/invocations"
        headers = forged_headers(host, SIX_MB + 1)
    status, errtype = head_only(fresh.url, path, headers)
    assert errtype == code, (status, errtype)
    assert status == (413 if code.startswith("RequestEntity") else 403)


def test_a_trickling_unverified_body_is_cut_off(fresh):
    """A forged body that stalls after its first bytes cannot hold a spool place: after the
    10 s grace it must keep arriving at 64 KiB/s, else 408."""
    host = urllib.parse.urlsplit(fresh.url).netloc
    u = urllib.parse.urlsplit(fresh.url)
    started = time.monotonic()
    with socket.create_connection((u.hostname, u.port), timeout=60) as s:
        headers = forged_headers(host, 50 * MIB)
        head = "POST /2015-03-31/functions HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        s.sendall(head.encode() + b"\r\n" + b"{" * 1000)
        answer = b""
        while b"\r\n\r\n" not in answer:
            got = s.recv(65536)
            if not got:
                break
            answer += got
    elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"x-amzn-errortype: requesttimeoutexception" in answer.lower(), answer[:400]
    assert 9 <= elapsed < 40, elapsed
    assert "Functions" in lambda_client(fresh.url).list_functions()


def test_real_clients_still_send_large_zips_and_payloads(fresh):
    """A ~45 MB zip (base64: ~60 MB request) creates a function through the spool, and a
    ~5.9 MB payload invokes it."""
    lam = lambda_client(fresh.url)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("app.py", funcs.py_source())
        zf.writestr("blob.bin", os.urandom(45 * MIB))
    data = buf.getvalue()
    name = unique_name("bigzip")
    lam.create_function(FunctionName=name, Runtime=funcs.PY, Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": data}, Timeout=30)
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    got = lam.get_function(FunctionName=name)
    assert got["Configuration"]["CodeSize"] == len(data)
    payload = json.dumps({"action": "len", "data": "z" * (SIX_MB - 200_000)}).encode()
    resp = lam.invoke(FunctionName=name, Payload=payload)
    assert "FunctionError" not in resp, resp
    assert json.loads(resp["Payload"].read())["len"] == SIX_MB - 200_000


def test_function_urls_keep_their_bounds(fresh):
    """AWS_IAM URLs verify through the spool; NONE URLs need no signature and stop at 6 MB."""
    lam = lambda_client(fresh.url)
    name = unique_name("hurl")
    lam.create_function(FunctionName=name, Runtime=funcs.PY, Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip(funcs.py_files())})
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    url_id = urllib.parse.urlsplit(url).hostname.split(".")[0]
    path = f"/urls/{url_id}/echo"
    host = urllib.parse.urlsplit(fresh.url).netloc
    status, errtype = head_only(fresh.url, path, {"Host": host, "Content-Length": str(SIX_MB + 1)})
    assert (status, errtype) == (413, "RequestEntityTooLargeException")
    req = urllib.request.Request(fresh.url + path, data=b'{"x": 1}', method="POST")
    with urllib.request.urlopen(req, timeout=60) as r:
        assert r.status == 200

    lam.update_function_url_config(FunctionName=name, AuthType="AWS_IAM")
    forged = forged_headers(host, 1000)
    status, headers, _ = send_streamed(fresh.url, path, forged, 1000)
    assert (status, headers.get("x-amzn-errortype")) == (403, "InvalidSignatureException")
    body = json.dumps({"x": "y" * 2_000_000}).encode()  # above the in-memory size: spooled
    req = signed_request(fresh.url + path, method="POST", data=body, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        assert r.status == 200


# --------------------------------------------------------------------------- paths


@pytest.fixture(scope="module")
def shared(tmp_path_factory, kumo_binary):
    base = tmp_path_factory.mktemp("hostile-front")
    srv = KumoServer(base / "data", log_dir=base, config_text=LINKS_CONFIG).start()
    yield srv
    srv.stop()


LINKS_CONFIG = """\
[server]
region = "us-east-1"
account_id = "123456789012"

[storage]
code_link_expires_secs = 4
"""


def raw(url, method, path, headers=None, body=b""):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def signed_raw(url, method, path, body=b""):
    """A request to a raw path, signed as botocore signs (which normalises the path it signs)."""
    req = signed_request(url + path, method=method, data=body or None, headers={"content-type": "application/json"})
    return raw(url, method, path, headers=dict(req.header_items()), body=body)


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/2015-03-31/functions/../functions"),
        ("GET", "/2015-03-31/functions/./"),
        ("GET", "//2015-03-31/functions"),
        ("GET", "/2015-03-31//functions"),
        ("GET", "/2015-03-31/functions/%2e%2e/functions"),
        ("GET", "/2015-03-31/functions/%2E%2E%2f%2e%2e%2fkumo/usage"),
        ("GET", "/kumo/code/../usage"),
        ("GET", "/urls/0123456789abcdef0123456789abcdef/a/../b"),
    ],
)
def test_dot_and_empty_segments_are_refused_before_authentication(shared, method, path):
    for send in (raw, signed_raw):
        status, headers, body = send(shared.url, method, path)
        assert status == 400, (path, status, body[:300])
        assert headers.get("x-amzn-errortype") == "ValidationException", headers
        assert "segments" in json.loads(body)["message"]


def test_refused_paths_change_nothing(shared):
    lam = lambda_client(shared.url)
    victim = unique_name("victim")
    lam.create_function(FunctionName=victim, Runtime=funcs.PY, Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip(funcs.py_files())})
    created = unique_name("sneaky")
    body = json.dumps({"FunctionName": created, "Runtime": funcs.PY, "Role": ROLE, "Handler": "app.handler",
                       "Code": {"ZipFile": __import__("base64").b64encode(make_zip(funcs.py_files())).decode()}}).encode()
    attempts = [
        ("DELETE", f"/2015-03-31/functions/x/../{victim}", b""),
        ("DELETE", f"/2015-03-31/functions/x/%2e%2e/{victim}", b""),
        ("DELETE", f"/2015-03-31/functions//{victim}", b""),
        ("POST", "/2015-03-31/functions/x/..", body),
        ("POST", "/2015-03-31/x/%2E%2E/functions", body),
    ]
    for method, path, data in attempts:
        status, _, resp = signed_raw(shared.url, method, path, data)
        assert status == 400, (path, status, resp[:300])
    names = {f["FunctionName"] for f in lam.list_functions()["Functions"]}
    assert victim in names and created not in names


# --------------------------------------------------------------------------- code links


def test_code_location_is_a_presigned_link_that_expires(shared):
    lam = lambda_client(shared.url)
    name = unique_name("link")
    data = make_zip(funcs.py_files("link"))
    lam.create_function(FunctionName=name, Runtime=funcs.PY, Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": data})
    location = lam.get_function(FunctionName=name)["Code"]["Location"]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and query["X-Amz-Expires"] == ["4"], location
    with urllib.request.urlopen(location, timeout=30) as r:
        assert r.read() == data

    def expired():
        try:
            urllib.request.urlopen(location, timeout=30).read()
            return False
        except urllib.error.HTTPError as e:
            return e.code == 403 and b"Request has expired" in e.read()
    wait_until(expired, timeout=20, interval=0.25, what="the code link to expire")
    # A fresh GetFunction gives a fresh link.
    with urllib.request.urlopen(lam.get_function(FunctionName=name)["Code"]["Location"], timeout=30) as r:
        assert r.read() == data


def test_code_links_last_ten_minutes_and_refuse_alteration(fresh):
    lam = lambda_client(fresh.url)
    name = unique_name("link10")
    data = make_zip(funcs.py_files("link10"))
    lam.create_function(FunctionName=name, Runtime=funcs.PY, Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": data})
    location = lam.get_function(FunctionName=name)["Code"]["Location"]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
    assert query["X-Amz-Expires"] == ["600"]
    with urllib.request.urlopen(location, timeout=30) as r:
        assert r.read() == data

    def refused(link):
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(link, timeout=30)
        text = e.value.read().decode()
        assert e.value.code == 403, text
        assert e.value.headers["content-type"] == "application/xml"
        assert text.startswith("<?xml") and "<Error><Code>" in text, text
        return e.value.headers["x-amzn-errortype"]

    sig = query["X-Amz-Signature"][0]
    tampered = location.replace(sig, sig[:-1] + ("0" if sig[-1] != "0" else "1"))
    assert refused(tampered) == "SignatureDoesNotMatch"
    other = location.replace("/kumo/code/", "/kumo/code/0").replace(".zip?", "x.zip?")
    assert refused(other) == "SignatureDoesNotMatch"
    longer = location.replace("X-Amz-Expires=600", "X-Amz-Expires=6000")
    assert refused(longer) == "SignatureDoesNotMatch"
    assert refused(location.split("?")[0]) == "AccessDenied"
    # The link still works: refusals are about the request, not the package.
    with urllib.request.urlopen(location, timeout=30) as r:
        assert r.read() == data


# --------------------------------------------------------------------------- /metrics


PUBLIC_METRICS_CONFIG = """\
[server]
region = "us-east-1"
account_id = "123456789012"

[metrics]
public = true
"""


def test_metrics_need_a_signature_unless_made_public(shared, tmp_path):
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{shared.url}/metrics", timeout=10)
    assert e.value.code == 403
    assert e.value.headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"
    with urllib.request.urlopen(signed_request(f"{shared.url}/metrics"), timeout=10) as r:
        assert r.status == 200 and b"kumo_" in r.read()

    srv = KumoServer(tmp_path / "data", config_text=PUBLIC_METRICS_CONFIG, log_dir=tmp_path).start()
    try:
        with urllib.request.urlopen(f"{srv.url}/metrics", timeout=10) as r:
            assert r.status == 200 and b"kumo_" in r.read()
        with urllib.request.urlopen(signed_request(f"{srv.url}/metrics"), timeout=10) as r:
            assert r.status == 200
    finally:
        srv.stop()
