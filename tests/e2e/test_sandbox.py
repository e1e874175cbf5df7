"""Hostile functions against the real, sandboxed server.

Each function tries something an untrusted tenant might: use more memory, processes, disk or CPU
than it was given, read or write what is not its own, reach other environments or Kumo's API, or
use privileged system calls. Each attempt must fail inside the function (or end it with Lambda's
error), and the platform must keep serving other functions during and after.
"""

import concurrent.futures
import json
import re
import subprocess
import urllib.parse

import pytest

from testutil import decode_log, make_zip, read_payload, wait_until

HOSTILE_PY = r'''
import ctypes, errno, os, socket, subprocess, time

libc = ctypes.CDLL(None, use_errno=True)

def try_call(fn):
    try:
        fn()
        return "allowed"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))

def syscall_errno(rc):
    return "allowed" if rc == 0 else errno.errorcode.get(ctypes.get_errno(), "?")

def handler(event, context):
    action = event["action"]
    if action == "ping":
        return "pong"
    if action == "allocate":
        blocks = []
        for _ in range(event["mb"]):
            blocks.append(bytearray(b"x" * (1024 * 1024)))
        return len(blocks)
    if action == "fork":
        n = 0
        for _ in range(event["count"]):
            try:
                pid = os.fork()
            except OSError:
                break
            if pid == 0:
                time.sleep(60)
                os._exit(0)
            n += 1
        return n
    if action == "fill_tmp":
        written = 0
        chunk = b"x" * (1024 * 1024)
        try:
            with open("/tmp/fill", "wb") as f:
                while written < event["mb"]:
                    f.write(chunk)
                    f.flush()
                    written += 1
        except OSError as e:
            return {"written_mb": written, "error": errno.errorcode.get(e.errno)}
        finally:
            try:
                os.remove("/tmp/fill")
            except OSError:
                pass
        return {"written_mb": written, "error": None}
    if action == "write_outside":
        out = {}
        for path in ["/var/task/evil.py", "/etc/evil", "/evil", "/usr/evil", "/opt/evil"]:
            def w(path=path):
                with open(path, "w") as f:
                    f.write("x")
            out[path] = try_call(w)
        return out
    if action == "read":
        out = {}
        for path in event["paths"]:
            def r(path=path):
                if os.path.isdir(path):
                    os.listdir(path)
                else:
                    with open(path, "rb") as f:
                        f.read(1)
            out[path] = try_call(r)
        return out
    if action == "connect":
        out = {}
        for host, port in event["targets"]:
            s = socket.socket()
            s.settimeout(2)
            out[f"{host}:{port}"] = try_call(lambda: s.connect((host, port)))
            s.close()
        return out
    if action == "privileged":
        MS_BIND = 4096
        return {
            "mount": syscall_errno(libc.mount(b"/tmp", b"/tmp", None, MS_BIND, None)),
            "unshare": syscall_errno(libc.unshare(0x20000000)),  # CLONE_NEWNET
            "ptrace": syscall_errno(libc.ptrace(16, 1, None, None)),  # PTRACE_ATTACH to pid 1
            "setuid0": syscall_errno(libc.setuid(0)),
            "uid": os.getuid(),
            "pid": os.getpid(),
        }
    if action == "spin":
        while True:
            pass
    if action == "background":
        p = subprocess.Popen(["sleep", event["seconds"]], start_new_session=True)
        return p.pid
    raise ValueError(action)
'''

HOSTILE_NODE = r'''
const fs = require("fs");
exports.handler = async (event) => {
  if (event.action === "allocate") {
    const blocks = [];
    for (let i = 0; i < event.mb; i++) blocks.push(Buffer.alloc(1024 * 1024, 1));
    return blocks.length;
  }
  if (event.action === "read") {
    const out = {};
    for (const p of event.paths) {
      try { fs.statSync(p).isDirectory() ? fs.readdirSync(p) : fs.readFileSync(p); out[p] = "allowed"; }
      catch (e) { out[p] = e.code; }
    }
    return out;
  }
  return "pong";
};
'''


@pytest.fixture(scope="module")
def hostile(make_function):
    return make_function({"app.py": HOSTILE_PY}, prefix="hostile", MemorySize=128, Timeout=10)


@pytest.fixture(scope="module")
def bystander(make_function):
    return make_function({"app.py": "def handler(e, c):\n    return 'still here'\n"}, prefix="bystander")


def call(lam, name, event, tail=False):
    kw = {"LogType": "Tail"} if tail else {}
    resp = lam.invoke(FunctionName=name, Payload=json.dumps(event), **kw)
    return resp, json.loads(read_payload(resp))


def assert_bystander_ok(lam, bystander):
    resp, body = call(lam, bystander, {})
    assert resp.get("FunctionError") is None and body == "still here"


def max_memory_used(log):
    m = re.search(r"Max Memory Used: (\d+) MB", log)
    assert m, log
    return int(m.group(1))


def test_memory_limit_kills_with_out_of_memory_and_next_invoke_works(lam, hostile, bystander):
    resp, body = call(lam, hostile, {"action": "allocate", "mb": 400}, tail=True)
    assert resp.get("FunctionError") == "Unhandled"
    assert body["errorType"] == "Runtime.OutOfMemory", body
    assert "Error Type: Runtime.OutOfMemory" in decode_log(resp)
    assert_bystander_ok(lam, bystander)
    resp, body = call(lam, hostile, {"action": "ping"})
    assert body == "pong"


def test_max_memory_used_grows_with_allocation(lam, make_function):
    name = make_function({"app.py": HOSTILE_PY}, prefix="mem", MemorySize=512, Timeout=10)
    resp, _ = call(lam, name, {"action": "ping"}, tail=True)
    base = max_memory_used(decode_log(resp))
    resp, body = call(lam, name, {"action": "allocate", "mb": 100}, tail=True)
    assert body == 100
    grown = max_memory_used(decode_log(resp))
    assert grown >= base + 95, (base, grown)


def test_fork_bomb_is_contained(lam, hostile, bystander):
    resp, body = call(lam, hostile, {"action": "fork", "count": 5000})
    # Either the pids limit stopped the loop inside the function, or the function died of it.
    if resp.get("FunctionError") is None:
        assert 0 < body < 1024, body
    assert_bystander_ok(lam, bystander)


def test_tmp_is_capped_at_ephemeral_storage(lam, make_function):
    name = make_function({"app.py": HOSTILE_PY}, prefix="tmpfill", MemorySize=1024, Timeout=30,
                         EphemeralStorage={"Size": 512})
    _, body = call(lam, name, {"action": "fill_tmp", "mb": 700})
    assert resp_ok(body), body
    assert body["error"] == "ENOSPC", body
    assert 400 <= body["written_mb"] <= 512, body


def test_code_and_system_are_read_only(lam, hostile):
    _, body = call(lam, hostile, {"action": "write_outside"})
    assert all(v in ("EROFS", "EACCES", "EPERM", "ENOENT") for v in body.values()), body


def test_host_files_and_other_functions_code_are_invisible(lam, server, hostile, make_function):
    other = make_function({"app.py": "SECRET = 'other tenant'\ndef handler(e, c):\n    return 1\n"}, prefix="victim")
    location = lam.get_function(FunctionName=other)["Code"]["Location"]
    sha_hex = urllib.parse.urlsplit(location).path.rsplit("/", 1)[1][:-4]
    data_dir = server.data_dir
    paths = [
        "/root", "/home", "/etc/shadow", "/etc/kumo", data_dir, f"{data_dir}/kumo.db",
        f"{data_dir}/tasks/{sha_hex}/app.py", f"{data_dir}/code/{sha_hex}.zip",
        "/proc/1/root/etc/hostname", "/sys/fs/cgroup",
    ]
    _, body = call(lam, hostile, {"action": "read", "paths": paths})
    leaked = {p: v for p, v in body.items() if v == "allowed"}
    assert not leaked, leaked


def test_node_function_cannot_read_host_files(lam, server, make_function):
    name = make_function({"index.js": HOSTILE_NODE}, runtime="nodejs20.x", handler="index.handler", prefix="hostile-node")
    _, body = call(lam, name, {"action": "read", "paths": ["/root", "/etc/shadow", server.data_dir]})
    assert "allowed" not in body.values(), body


def test_node_memory_hog_is_killed(lam, make_function, bystander):
    name = make_function({"index.js": HOSTILE_NODE}, runtime="nodejs20.x", handler="index.handler",
                         prefix="node-oom", MemorySize=128)
    resp, body = call(lam, name, {"action": "allocate", "mb": 400})
    assert resp.get("FunctionError") == "Unhandled"
    assert body["errorType"] in ("Runtime.OutOfMemory", "Runtime.ExitError"), body
    assert_bystander_ok(lam, bystander)


def test_control_plane_and_host_loopback_are_unreachable(lam, server, hostile):
    port = urllib.parse.urlparse(server.url).port
    targets = [["127.0.0.1", port], ["10.0.2.2", port], ["127.0.0.1", 22]]
    _, body = call(lam, hostile, {"action": "connect", "targets": targets})
    assert "allowed" not in body.values(), body


def test_privileged_system_calls_are_refused(lam, hostile):
    _, body = call(lam, hostile, {"action": "privileged"})
    assert body["mount"] == "EPERM" and body["unshare"] == "EPERM", body
    assert body["ptrace"] in ("EPERM", "ESRCH"), body
    assert body["setuid0"] == "EPERM", body
    assert body["uid"] != 0 and body["pid"] == 1, body


def test_cpu_spin_times_out_while_others_keep_serving(lam, make_function, bystander):
    name = make_function({"app.py": HOSTILE_PY}, prefix="spin", Timeout=2)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        spinning = pool.submit(call, lam, name, {"action": "spin"})
        for _ in range(3):
            assert_bystander_ok(lam, bystander)
        resp, body = spinning.result(timeout=30)
    assert resp.get("FunctionError") == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout", body


def host_processes(pattern):
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return [line for line in out.stdout.split() if line]


def test_background_processes_end_with_the_environment(lam, make_function):
    name = make_function({"app.py": HOSTILE_PY}, prefix="bg")
    marker = "4321.5"  # an unusual duration to find the process on the host
    _, body = call(lam, name, {"action": "background", "seconds": marker})
    assert isinstance(body, int)
    assert host_processes(f"sleep {marker}"), "the background process should run while the environment lives"
    lam.delete_function(FunctionName=name)
    wait_until(lambda: not host_processes(f"sleep {marker}"), timeout=10, what="background process to be killed")


def resp_ok(body):
    return not (isinstance(body, dict) and "errorType" in body)
