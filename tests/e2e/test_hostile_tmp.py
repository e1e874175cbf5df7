"""`/tmp` is the environment's own disk, not memory, as in Lambda.

A tmpfs `/tmp` was charged to the function's memory, so a 128 MB function died writing 200 MB to
it. `/tmp` is now an ext4 of exactly `EphemeralStorage` on a loop device: writing past it fails
with ENOSPC, writing far more than `MemorySize` works, no other environment (nor a name on the
host's disk) sees it, and its data is gone once the environment is.
"""

import concurrent.futures
import json
import os

from testutil import ROLE, KumoServer, environment_pids, lambda_client, make_zip, unique_name, wait_until

APP = r"""
import errno, os, time

def handler(event, context):
    action = event["action"]
    if action == "fill":
        chunk = b"k" * (1024 * 1024)
        written = 0
        error = None
        try:
            with open("/tmp/fill", "wb") as f:
                while written < event["mb"]:
                    f.write(chunk)
                    written += 1
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            error = errno.errorcode.get(e.errno, str(e.errno))
        if event.get("remove"):
            os.remove("/tmp/fill")
        return {"written_mb": written, "error": error}
    if action == "look":
        time.sleep(event.get("hold", 0))
        st = os.statvfs("/tmp")
        fstype = None
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, right = line.split(" - ")
                if left.split()[4] == "/tmp":
                    fstype = right.split()[0]
        return {
            "fstype": fstype,
            "size_mb": st.f_blocks * st.f_frsize // (1024 * 1024),
            "entries": sorted(os.listdir("/tmp")),
            "mode": oct(os.stat("/tmp").st_mode & 0o7777),
            "owner": os.stat("/tmp").st_uid == os.getuid(),
        }
    if action == "mark":
        with open("/tmp/mark", "w") as f:
            f.write(context.aws_request_id)
        return "marked"
"""


def create(lam, memory=128, storage=512):
    name = unique_name("tmp")
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": APP})},
        MemorySize=memory,
        EphemeralStorage={"Size": storage},
        Timeout=120,
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    return name


def call(lam, name, event):
    resp = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode())
    body = json.loads(resp["Payload"].read())
    return resp, body


def tmp_backing_files(pid):
    """The loop device backing files of the /tmp mounted in the environment of `pid`."""
    with open(f"/proc/{pid}/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ")
            if left.split()[4] == "/tmp":
                source = right.split()[1]
                dev = os.path.basename(source)
                with open(f"/sys/block/{dev}/loop/backing_file") as b:
                    return b.read().strip()
    return None


def attached_backing_files():
    out = set()
    for dev in os.listdir("/sys/block"):
        try:
            with open(f"/sys/block/{dev}/loop/backing_file") as b:
                out.add(b.read().strip())
        except OSError:
            continue
    return out


def test_tmp_is_disk_not_memory_and_capped(server):
    lam = lambda_client(server.url)
    name = create(lam, memory=128, storage=512)
    resp, body = call(lam, name, {"action": "look"})
    assert "FunctionError" not in resp, body
    assert body["fstype"] == "ext4", body
    assert 480 <= body["size_mb"] <= 512, body
    assert body["entries"] == [] and body["mode"] == "0o1777" and body["owner"], body

    # Three times the memory size, written and synced: no OOM.
    resp, body = call(lam, name, {"action": "fill", "mb": 400, "remove": True})
    assert "FunctionError" not in resp, body
    assert body == {"written_mb": 400, "error": None}, body

    # One MB past EphemeralStorage: ENOSPC inside, the function lives on.
    resp, body = call(lam, name, {"action": "fill", "mb": 513})
    assert "FunctionError" not in resp, body
    assert body["error"] == "ENOSPC" and 400 <= body["written_mb"] < 513, body
    resp, body = call(lam, name, {"action": "look"})
    assert "FunctionError" not in resp and body["entries"] == ["fill"], body


def test_tmp_size_follows_ephemeral_storage(server):
    lam = lambda_client(server.url)
    name = create(lam, memory=128, storage=1024)
    resp, body = call(lam, name, {"action": "look"})
    assert "FunctionError" not in resp, body
    assert body["fstype"] == "ext4" and 980 <= body["size_mb"] <= 1024, body


def test_tmp_is_private_and_gone_with_its_environment(server):
    lam = lambda_client(server.url)
    a = create(lam)
    b = create(lam)
    before = set(environment_pids(server.pid))
    assert call(lam, a, {"action": "mark"})[1] == "marked"
    pids = [p for p in environment_pids(server.pid) if p not in before]
    backing = None
    for p in pids:
        try:
            backing = tmp_backing_files(p)
        except OSError:
            continue
        if backing:
            break
    assert backing, pids
    # The image has no name on the host's disk: only the loop device holds it.
    assert backing.endswith("(deleted)"), backing
    assert not [f for f in os.listdir(os.path.join(server.data_dir, "envs")) if f.endswith(".img")]
    # Another function's environment has its own, empty /tmp.
    resp, body = call(lam, b, {"action": "look"})
    assert "FunctionError" not in resp and body["entries"] == [], body

    lam.delete_function(FunctionName=a)
    wait_until(lambda: backing not in attached_backing_files(), 20,
               what="the deleted function's /tmp disk to be released")


def test_many_environments_start_at_once_each_with_its_own_disk(server):
    lam = lambda_client(server.url, pool=24)
    name = create(lam)

    def one(_):
        resp, body = call(lam, name, {"action": "look", "hold": 1.0})
        assert "FunctionError" not in resp, body
        return body

    with concurrent.futures.ThreadPoolExecutor(24) as pool:
        bodies = list(pool.map(one, range(24)))
    assert all(b["fstype"] == "ext4" and b["entries"] == [] for b in bodies), bodies


def test_memory_tmp_is_still_available(tmp_path):
    config = "[limits]\nidle_timeout_secs = 300\n\n[sandbox]\ntmp = \"memory\"\n"
    srv = KumoServer(tmp_path / "data", config_text=config, log_dir=tmp_path).start()
    try:
        lam = lambda_client(srv.url)
        name = create(lam)
        resp, body = call(lam, name, {"action": "look"})
        assert "FunctionError" not in resp and body["fstype"] == "tmpfs", body
    finally:
        srv.stop()
