"""Hostile connections against the real, sandboxed server.

A function's code floods its Runtime API with connections, or leaves a process behind that
tries to take the next invocation; a client holds hundreds of idle or slow-header connections
to the HTTP API. The server must keep its file descriptors bounded, cut only idle connections,
and keep serving every function.
"""

import io
import json
import os
import resource
import socket
import time
import zipfile

import pytest

import funcs
from testutil import ROLE, KumoServer, lambda_client, make_zip, read_payload, unique_name, wait_until

HEADER_READ_TIMEOUT = 2
KEEP_ALIVE_TIMEOUT = 5

CONFIG = f"""\
[server]
region = "us-east-1"
account_id = "123456789012"
header_read_timeout_secs = {HEADER_READ_TIMEOUT}
keep_alive_timeout_secs = {KEEP_ALIVE_TIMEOUT}

[limits]
idle_timeout_secs = 300
"""

HOSTILE_PY = r'''
import errno, json, os, socket, subprocess, sys, threading, time

HELD = []
BG = r"""
import http.client, json, os, time
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
codes = {}
while True:
    try:
        c = http.client.HTTPConnection(host, int(port), timeout=5)
        c.request("GET", "/2018-06-01/runtime/invocation/next")
        r = c.getresponse()
        body = r.read()
        codes[str(r.status)] = codes.get(str(r.status), 0) + 1
        if r.status == 200:
            rid = r.getheader("Lambda-Runtime-Aws-Request-Id")
            c.request("POST", "/2018-06-01/runtime/invocation/%s/response" % rid,
                      body=json.dumps({"stolen": body.decode()}))
            c.getresponse().read()
        c.close()
    except Exception as e:
        codes[type(e).__name__] = codes.get(type(e).__name__, 0) + 1
    with open("/tmp/bg-codes.tmp", "w") as f:
        json.dump(codes, f)
    os.replace("/tmp/bg-codes.tmp", "/tmp/bg-codes")
    time.sleep(0.01)
"""


def open_many(n):
    host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
    opened = []
    for _ in range(n):
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        except OSError:
            break  # out of file descriptors
        s.setblocking(False)
        s.connect_ex((host, int(port)))
        opened.append(s)
    return opened


def churn():
    # Keeps replacing the connections the server closes, for as long as the environment lives.
    while True:
        for i, s in enumerate(HELD):
            try:
                if s.recv(1) == b"":
                    s.close()
                    HELD[i] = open_many(1)[0]
            except (BlockingIOError, IndexError):
                pass
            except OSError:
                s.close()
                more = open_many(1)
                if more:
                    HELD[i] = more[0]
        time.sleep(0.05)


def handler(event, context):
    action = event["action"]
    if action == "flood":
        HELD.extend(open_many(event["count"]))
        threading.Thread(target=churn, daemon=True).start()
        return {"held": len(HELD)}
    if action == "leave":
        with open("/tmp/bg.py", "w") as f:
            f.write(BG)
        subprocess.Popen([sys.executable, "/tmp/bg.py"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Return once the process has tried /next at least once (during this invocation).
        deadline = time.time() + 10
        while not os.path.exists("/tmp/bg-codes") and time.time() < deadline:
            time.sleep(0.01)
        return {"left": os.path.exists("/tmp/bg-codes")}
    if action == "report":
        try:
            with open("/tmp/bg-codes") as f:
                codes = json.load(f)
        except (OSError, ValueError):
            codes = {}
        return {"handler": "real", "marker": event.get("marker"), "bg": codes}
    return {"handler": "real"}
'''


@pytest.fixture(scope="module")
def server(tmp_path_factory, kumo_binary):
    base = tmp_path_factory.mktemp("kumo")
    srv = KumoServer(base / "data", config_text=CONFIG, log_dir=base).start()
    yield srv
    srv.stop()


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def invoke(lam, name, event):
    resp = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode())
    return resp, json.loads(read_payload(resp))


def hostile(make_function, **kw):
    return make_function({"app.py": HOSTILE_PY}, runtime=funcs.PY, prefix="hostile", Timeout=30, **kw)


def test_runtime_api_connection_flood_keeps_server_fds_bounded(server, lam, make_function):
    bystander = make_function(prefix="bystander")
    name = hostile(make_function)
    resp, out = invoke(lam, name, {"action": "ping"})
    assert "FunctionError" not in resp and out == {"handler": "real"}
    baseline = open_fds(server.pid)

    resp, out = invoke(lam, name, {"action": "flood", "count": 2000})
    assert "FunctionError" not in resp, out
    # The sandbox's own limit (1024 open files) stops the function well before 2000.
    assert out["held"] > 500, out

    # While the function's thread keeps reopening what the server closes, the server holds at
    # most 16 Runtime API connections for the environment.
    peak = 0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        peak = max(peak, open_fds(server.pid) - baseline)
        time.sleep(0.1)
    assert peak <= 16 + 24, f"server fds grew by {peak} over {baseline}"

    # The same function (same environment), another function, and a cold start all still work.
    for _ in range(3):
        resp, out = invoke(lam, name, {"action": "ping"})
        assert "FunctionError" not in resp and out == {"handler": "real"}, out
    resp, out = invoke(lam, bystander, {"action": "echo"})
    assert "FunctionError" not in resp and out["ok"] is True
    fresh = make_function(prefix="cold")
    started = time.monotonic()
    resp, out = invoke(lam, fresh, {"action": "echo"})
    assert "FunctionError" not in resp and out["ok"] is True
    assert time.monotonic() - started < 10
    assert open_fds(server.pid) - baseline <= 16 + 40


def test_leftover_process_cannot_take_the_next_invocation(server, lam, make_function):
    name = hostile(make_function)
    resp, out = invoke(lam, name, {"action": "leave"})
    assert "FunctionError" not in resp and out == {"left": True}, out

    # Invoke until the leftover has been refused a few more times (it keeps polling /next
    # between and during the invocations); every payload must reach the real handler.
    seen, i = {}, 0
    deadline = time.monotonic() + 60
    while seen.get("403", 0) < 5 or i < 8:
        assert time.monotonic() < deadline, f"the leftover stopped polling: {seen}"
        resp, out = invoke(lam, name, {"action": "report", "marker": i})
        # The payload reached the real handler, not the process left behind.
        assert "FunctionError" not in resp, out
        assert out.get("handler") == "real" and out.get("marker") == i, out
        seen = out["bg"]
        assert "200" not in seen, seen
        i += 1


# A minimal custom runtime: one kept-alive connection, or a new connection for every request.
CUSTOM_RUNTIME = r'''
import http.client, json, os, sys
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
fresh = sys.argv[1] == "fresh"
conn = None
def call(method, path, body=None):
    global conn
    if conn is None or fresh:
        conn = http.client.HTTPConnection(host, int(port))
    conn.request(method, "/2018-06-01/runtime/" + path, body=body)
    r = conn.getresponse()
    data = r.read()
    if fresh:
        conn.close()
    return r, data
while True:
    r, event = call("GET", "invocation/next")
    if r.status != 200:
        sys.exit("next: %d %s" % (r.status, event))
    rid = r.getheader("Lambda-Runtime-Aws-Request-Id")
    out = {"pid": os.getpid(), "event": json.loads(event)}
    call("POST", "invocation/%s/response" % rid, json.dumps(out))
'''


@pytest.mark.parametrize(
    "bootstrap,mode",
    [
        ("exec /usr/bin/python3 /var/task/rt.py {mode}", "keep"),
        ("exec /usr/bin/python3 /var/task/rt.py {mode}", "fresh"),
        # The shell stays (it has more to do afterwards); python is its child.
        ("/usr/bin/python3 /var/task/rt.py {mode}\nexit $?", "keep"),
        ("/usr/bin/python3 /var/task/rt.py {mode}\nexit $?", "fresh"),
    ],
)
def test_shell_bootstraps_and_new_connections_still_get_invocations(lam, make_function, bootstrap, mode):
    files = {"bootstrap": "#!/bin/sh\n" + bootstrap.format(mode=mode) + "\n", "rt.py": CUSTOM_RUNTIME}
    # make_zip writes 0644; the bootstrap must be executable.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path, content in files.items():
            info = zipfile.ZipInfo(path, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if path == "bootstrap" else 0o644) << 16
            zf.writestr(info, content)
    name = unique_name("custom")
    lam.create_function(FunctionName=name, Runtime="provided.al2023", Role=ROLE, Handler="x",
                        Code={"ZipFile": buf.getvalue()}, Timeout=10)
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    pids = set()
    for i in range(4):
        resp, out = invoke(lam, name, {"n": i})
        assert "FunctionError" not in resp, out
        assert out["event"] == {"n": i}, out
        pids.add(out["pid"])
    assert len(pids) == 1  # one warm environment served them all
    # The runtime is PID 1 of the environment when the shell execs it, its child when not.
    assert (pids == {1}) == bootstrap.startswith("exec"), pids


def test_idle_and_slow_header_http_connections_are_closed(server, lam, make_function):
    name = make_function(prefix="slow", Timeout=30)
    baseline = open_fds(server.pid)
    idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(300)]
    slow = []
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", server.port))
        s.sendall(b"GET /2015-03-31/functions/ HTTP/1.1\r\nHost: x\r\n")
        slow.append(s)
    opened = time.monotonic()
    wait_until(lambda: open_fds(server.pid) - baseline >= 300, 10, what="the server to accept")

    # A request on another connection answers while they are held, and a request that runs
    # longer than both timeouts is never cut.
    assert lam.get_function(FunctionName=name)["Configuration"]["FunctionName"] == name
    resp, out = invoke(lam, name, {"action": "sleep", "secs": KEEP_ALIVE_TIMEOUT + 2})
    assert "FunctionError" not in resp and out["ok"] is True

    def closed(s):
        s.setblocking(False)
        try:
            return s.recv(1024) == b""
        except BlockingIOError:
            return False
        except ConnectionResetError:
            return True

    for s in slow:
        s.sendall(b"X-Trickle: 1\r\n")  # bytes keep coming, the head never completes
    wait_until(lambda: all(closed(s) for s in idle + slow), 30, what="idle connections closed")
    # Not before the timeout.
    assert time.monotonic() - opened >= HEADER_READ_TIMEOUT * 0.9
    wait_until(lambda: open_fds(server.pid) - baseline < 20, 10, what="server fds back to baseline")
    for s in idle + slow:
        s.close()


def test_kept_alive_http_connection_is_closed_after_the_keep_alive_timeout(server):
    conn = socket.create_connection(("127.0.0.1", server.port))
    conn.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    conn.settimeout(10)
    assert conn.recv(65536).startswith(b"HTTP/1.1 ")
    answered = time.monotonic()
    conn.settimeout(KEEP_ALIVE_TIMEOUT + 20)
    data = b""
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    waited = time.monotonic() - answered
    # Idle longer than the header read timeout: only the keep-alive timeout closes it.
    assert KEEP_ALIVE_TIMEOUT * 0.9 <= waited <= KEEP_ALIVE_TIMEOUT + 15, waited
    conn.close()


def test_server_raises_its_open_files_limit(tmp_path, kumo_binary):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert hard > 1024, "the test needs a hard limit above 1024"
    # The server inherits a soft limit of 1024 and must lift it to the hard limit itself.
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    try:
        srv = KumoServer(tmp_path / "data", config_text=CONFIG, log_dir=tmp_path).start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        with open(f"/proc/{srv.pid}/limits") as f:
            line = next(l for l in f if l.startswith("Max open files"))
        server_soft, server_hard = line.split()[3:5]
        assert int(server_soft) == int(server_hard) == hard, line
    finally:
        srv.stop()


def test_runtimes_without_the_sandbox_keep_the_open_files_limit_the_server_started_with(
    tmp_path, kumo_binary
):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert hard > 1024, "the test needs a hard limit above 1024"
    wrapper = tmp_path / "kumo-insecure"
    wrapper.write_text(f'#!/bin/sh\nexec "{kumo_binary}" "$@" --insecure-no-sandbox\n')
    wrapper.chmod(0o755)
    srv = KumoServer(tmp_path / "data", config_text=CONFIG, log_dir=tmp_path)
    real = os.environ.get("KUMO_BIN")
    os.environ["KUMO_BIN"] = str(wrapper)
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    try:
        srv.start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        if real is None:
            del os.environ["KUMO_BIN"]
        else:
            os.environ["KUMO_BIN"] = real
    try:
        lam = lambda_client(srv.url)
        name = unique_name("limits")
        code = "import resource\ndef handler(e, c):\n    return resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        lam.create_function(FunctionName=name, Runtime=funcs.PY, Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": make_zip({"app.py": code})})
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        resp, out = invoke(lam, name, {})
        assert "FunctionError" not in resp, out
        # The server itself runs with the hard limit; its bare runtimes with what it started with.
        assert out == [1024, hard], out
    finally:
        srv.stop()
