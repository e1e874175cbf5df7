"""The data directory under attack or fault: a second server on it, other local users reading it,
a full disk, and a package of absurdly many entries.

Every test here starts its own sandboxed `kumo serve` (root) on a data directory it owns.
"""

import errno
import io
import json
import os
import pathlib
import re
import shutil
import stat
import subprocess
import threading
import tempfile
import time
import urllib.request
import zipfile

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

import funcs
import testutil
from testutil import (
    DEFAULT_CONFIG,
    REGION,
    ROLE,
    TEST_KEY,
    TEST_SECRET,
    KumoServer,
    error_code,
    http_status,
    kumo_bin,
    lambda_client,
    make_zip,
    signed_request,
    unique_name,
    wait_until,
)

NOBODY = 65534


def create(lam, name, files=None, **kw):
    lam.create_function(FunctionName=name, Runtime=funcs.PY, Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip(files or funcs.py_files())}, **kw)
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})


def invoke_ok(lam, name, event=None):
    resp = lam.invoke(FunctionName=name, Payload=json.dumps(event or {}).encode())
    payload = resp["Payload"].read()
    assert "FunctionError" not in resp, payload
    return json.loads(payload)


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def logs_client(url):
    return boto3.client("logs", endpoint_url=url, region_name=REGION, aws_access_key_id=TEST_KEY,
                        aws_secret_access_key=TEST_SECRET, config=Config(retries={"total_max_attempts": 1}))


def log_messages(url, name):
    logs = logs_client(url)
    out, kw = [], {"logGroupName": f"/aws/lambda/{name}"}
    while True:
        try:
            page = logs.filter_log_events(**kw)
        except ClientError as e:
            if error_code(e) == "ResourceNotFoundException":
                return []
            raise
        out += [e["message"] for e in page["events"]]
        if not page.get("nextToken"):
            return out
        kw["nextToken"] = page["nextToken"]


def queue_depth(url, name):
    """The function's `kumo_async_queue_depth` (queued or running events); 0 when not reported."""
    with urllib.request.urlopen(signed_request(f"{url}/metrics"), timeout=10) as r:
        text = r.read().decode()
    for line in text.splitlines():
        if line.startswith("kumo_async_queue_depth{") and f'function="{name}"' in line:
            return int(float(line.rsplit(" ", 1)[1]))
    return 0


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def sandbox_uids(pid):
    """Uid -> pids of the server's descendants that run as sandbox uids (one uid per environment)."""
    out = {}
    for p in testutil.descendant_pids(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                uid = int(next(l for l in f if l.startswith("Uid:")).split()[1])
        except (OSError, StopIteration):
            continue
        if uid >= 200000:
            out.setdefault(uid, []).append(p)
    return out


# --------------------------------------------------------------------------- one server per dir


TOKEN_FN = r'''
import time

def handler(event, context):
    if "token" in event:
        print("token-%s" % event["token"])
    time.sleep(event.get("secs", 0))
    return {"done": event.get("token")}
'''


def test_a_second_server_on_the_same_data_dir_exits_and_touches_nothing(tmp_path, kumo_binary):
    srv = KumoServer(tmp_path / "data", log_dir=tmp_path).start()
    try:
        lam = lambda_client(srv.url)
        slow, worker = unique_name("slow"), unique_name("worker")
        create(lam, slow, {"app.py": TOKEN_FN}, Timeout=60)
        create(lam, worker, {"app.py": TOKEN_FN}, Timeout=60)
        lam.put_function_concurrency(FunctionName=worker, ReservedConcurrentExecutions=1)

        result = {}

        def long_invoke():
            try:
                result["out"] = invoke_ok(lam, slow, {"secs": 8})
            except Exception as e:  # reported by the assert below
                result["error"] = repr(e)

        caller = threading.Thread(target=long_invoke)
        caller.start()
        # One at a time: while the second server starts, one event runs and the others wait.
        tokens = [f"{i}-{os.urandom(4).hex()}" for i in range(4)]
        for t in tokens:
            assert lam.invoke(FunctionName=worker, InvocationType="Event",
                              Payload=json.dumps({"token": t, "secs": 1.5}).encode())["StatusCode"] == 202
        envs = wait_until(lambda: len(sandbox_uids(srv.pid)) >= 2 and sandbox_uids(srv.pid), 60,
                          what="both environments to run")

        second_log = tmp_path / "second"
        second_log.mkdir()
        env = dict(os.environ, KUMO_AUTH_ACCESS_KEY_ID=TEST_KEY, KUMO_AUTH_SECRET_ACCESS_KEY=TEST_SECRET)
        env.setdefault("KUMO_RUNTIMES_BUILD_DIR", os.path.join(testutil.REPO_ROOT, "target", "kumo-runtimes"))
        started = time.monotonic()
        second = subprocess.run(
            [kumo_bin(), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "data")],
            capture_output=True, text=True, timeout=60, env=env, cwd=second_log, stdin=subprocess.DEVNULL,
        )
        took = time.monotonic() - started
        assert second.returncode != 0, f"second server exited 0: {second.stderr}"
        assert not second.stdout.strip(), f"second server printed a ready line: {second.stdout!r}"
        assert f"is in use by another kumo serve (pid {srv.pid})" in second.stderr, second.stderr
        assert str(tmp_path / "data") in second.stderr
        assert took < 20, f"the second server took {took:.1f}s to give up"

        # The first server's environments were left alone ...
        for pids in envs.values():
            assert any(pid_alive(p) for p in pids), f"an environment of the first server died: {pids}"
        caller.join(timeout=120)
        assert not caller.is_alive()
        # ... its long invocation completed ...
        assert result.get("out") == {"done": None}, result
        # ... and its events ran, each exactly once.
        wait_until(lambda: queue_depth(srv.url, worker) == 0, 120, interval=0.5, what="the event queue to drain")
        def every_token_logged():
            lines = [m.strip() for m in log_messages(srv.url, worker)]
            return all(f"token-{t}" in lines for t in tokens) and lines

        lines = wait_until(every_token_logged, 60, interval=0.5, what="every event's log")
        for t in tokens:
            assert lines.count(f"token-{t}") == 1, (t, lines)
        starts = [m for m in lines if m.startswith("START RequestId:")]
        assert len(starts) == len(tokens), starts
        assert invoke_ok(lam, worker, {"token": "after"}) == {"done": "after"}
    finally:
        assert srv.stop() == 0


# --------------------------------------------------------------------------- file modes


def read_as_nobody(path):
    """Tries to read `path` as an unprivileged local user; returns the errno (0: it could)."""
    code = "import sys\ntry:\n    open(sys.argv[1], 'rb').read(1)\nexcept OSError as e:\n    sys.exit(e.errno)\n"
    return subprocess.run(["python3", "-c", code, str(path)], user=NOBODY, group=NOBODY, extra_groups=[],
                          timeout=30).returncode


def credentials(data_dir):
    text = (data_dir / "credentials").read_text()
    key = re.search(r"aws_access_key_id\s*=\s*(\S+)", text).group(1)
    secret = re.search(r"aws_secret_access_key\s*=\s*(\S+)", text).group(1)
    return key, secret


def client_with(url, key, secret):
    return boto3.client("lambda", endpoint_url=url, region_name=REGION, aws_access_key_id=key,
                        aws_secret_access_key=secret, config=Config(retries={"total_max_attempts": 1}))


def private_files(data):
    """Every file that holds secrets or code: the top of the data dir and the zips."""
    top = [data / n for n in os.listdir(data) if (data / n).is_file() and not (data / n).is_symlink()]
    zips = [data / "code" / n for n in os.listdir(data / "code")]
    return top, zips


def assert_private(data):
    assert mode(data) == 0o700, oct(mode(data))
    assert mode(data / "code") == 0o700
    top, zips = private_files(data)
    names = {p.name for p in top}
    assert {"kumo.db", "kumo.db-wal", "kumo.db-shm", "credentials", "lock"} <= names, names
    assert zips, "no code package stored"
    for p in top + zips:
        assert mode(p) == 0o600, f"{p} is {oct(mode(p))}"
    # Another local user gets nowhere: not into the directory, nor into the files if it were open.
    for p in (data / "kumo.db", data / "credentials", zips[0]):
        assert read_as_nobody(p) == errno.EACCES, p


@pytest.fixture
def open_parent():
    """A directory every local user may traverse (pytest's own temporary directories are 0700,
    which would hide what this test checks)."""
    path = tempfile.mkdtemp(prefix="kumo-modes-")
    os.chmod(path, 0o755)
    yield pathlib.Path(path)
    shutil.rmtree(path, ignore_errors=True)


def test_the_data_dir_is_private_and_an_old_open_one_is_closed(tmp_path, open_parent, kumo_binary):
    data = open_parent / "data"
    srv = KumoServer(data, log_dir=tmp_path, test_credentials=False)
    srv.start()
    name = unique_name("modes")
    try:
        lam = client_with(srv.url, *credentials(data))
        create(lam, name, Environment={"Variables": {"SECRET": "hunter2"}})
        assert invoke_ok(lam, name)["ok"] is True  # the sandbox still reads code and bootstraps
        assert_private(data)
    finally:
        assert srv.stop() == 0

    # What older versions left: everything readable by everyone.
    os.chmod(data, 0o755)
    os.chmod(data / "code", 0o755)
    top, zips = private_files(data)
    for p in top + zips:
        os.chmod(p, 0o644)
    assert read_as_nobody(data / "kumo.db") == 0, "the attack this test guards against does not work"
    srv.start()
    try:
        assert_private(data)
        lam = client_with(srv.url, *credentials(data))
        out = invoke_ok(lam, name, {"action": "env"})
        assert out["env"]["SECRET"] == "hunter2"
        assert out["env"]["LAMBDA_TASK_ROOT"] == "/var/task"
    finally:
        assert srv.stop() == 0


# --------------------------------------------------------------------------- a full disk


def random_zip(mb):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("app.py", funcs.py_source())
        zf.writestr("blob.bin", os.urandom(mb * 1024 * 1024))
    return buf.getvalue()


def fill(path):
    """Writes `path` until the file system is full; returns how much it wrote."""
    chunk = b"\0" * (1 << 20)
    written = 0
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                written += f.write(chunk)
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
                break
        try:
            while True:
                written += f.write(b"\0" * 4096)
        except OSError:
            pass
    return written


def leftovers(data):
    return [n for d in ("code", "tasks") for n in os.listdir(data / d) if "tmp" in n]


@pytest.fixture
def small_disk(tmp_path, request):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,mode=0700", "tmpfs", str(mnt)], check=True)

    def unmount():
        if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], check=True)

    request.addfinalizer(unmount)
    return mnt


def test_a_full_disk_answers_service_exception_and_leaves_nothing(tmp_path, small_disk, kumo_binary):
    data = small_disk / "data"
    # The data directory is a 64 MB disk: environments' /tmp (512 MB disks by default, made in
    # the data directory) would not fit, so they get memory-backed ones here; this test is about
    # the store's writes.
    config = DEFAULT_CONFIG + '\n[sandbox]\ntmp = "memory"\n'
    srv = KumoServer(data, config_text=config, log_dir=tmp_path).start()
    try:
        lam = lambda_client(srv.url)
        small = unique_name("small")
        create(lam, small)
        sha_before = lam.get_function(FunctionName=small)["Configuration"]["CodeSha256"]
        big = random_zip(8)
        fill(small_disk / "filler")
        # Leave a little room, less than the package needs.
        with open(small_disk / "filler", "r+b") as f:
            f.truncate(os.path.getsize(small_disk / "filler") - 2 * 1024 * 1024)
        free_before = os.statvfs(small_disk).f_bavail

        name = unique_name("nospace")
        with pytest.raises(ClientError) as ei:
            lam.create_function(FunctionName=name, Runtime=funcs.PY, Role=ROLE, Handler="app.handler",
                                Code={"ZipFile": big})
        assert http_status(ei.value) == 500, ei.value.response
        assert error_code(ei.value) == "ServiceException", ei.value.response
        with pytest.raises(ClientError) as ei:
            lam.update_function_code(FunctionName=small, ZipFile=big)
        assert http_status(ei.value) == 500 and error_code(ei.value) == "ServiceException"

        # Nothing was created or changed, and nothing half-written takes the space.
        with pytest.raises(ClientError) as ei:
            lam.get_function(FunctionName=name)
        assert error_code(ei.value) == "ResourceNotFoundException"
        assert name not in [f["FunctionName"] for f in lam.list_functions()["Functions"]]
        assert lam.get_function(FunctionName=small)["Configuration"]["CodeSha256"] == sha_before
        assert leftovers(data) == []
        block = os.statvfs(small_disk).f_frsize
        assert (free_before - os.statvfs(small_disk).f_bavail) * block < 512 * 1024

        os.remove(small_disk / "filler")
        lam.create_function(FunctionName=name, Runtime=funcs.PY, Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": big})
        assert invoke_ok(lam, name)["ok"] is True
        assert invoke_ok(lam, small)["ok"] is True
    finally:
        assert srv.stop() == 0


# --------------------------------------------------------------------------- entry count


def many_entries_zip(n):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("app.py", funcs.py_source())
        for i in range(n - 1):
            zf.writestr(zipfile.ZipInfo(f"e/{i}"), b"")
    return buf.getvalue()


def test_a_package_of_100000_entries_is_refused_quickly(tmp_path, kumo_binary):
    srv = KumoServer(tmp_path / "data", log_dir=tmp_path).start()
    try:
        lam = lambda_client(srv.url)
        ok = unique_name("healthy")
        create(lam, ok)
        bomb = many_entries_zip(100_000)
        name = unique_name("entries")
        started = time.monotonic()
        with pytest.raises(ClientError) as ei:
            lam.create_function(FunctionName=name, Runtime=funcs.PY, Role=ROLE, Handler="app.handler",
                                Code={"ZipFile": bomb})
        took = time.monotonic() - started
        assert http_status(ei.value) == 400
        assert error_code(ei.value) == "InvalidParameterValueException"
        msg = ei.value.response["Error"]["Message"]
        assert "100000 entries" in msg and "65535" in msg, msg
        assert took < 30, f"refusing took {took:.1f}s"
        with pytest.raises(ClientError) as ei:
            lam.get_function(FunctionName=name)
        assert error_code(ei.value) == "ResourceNotFoundException"
        assert leftovers(tmp_path / "data") == []
        assert len(os.listdir(tmp_path / "data" / "tasks")) == 1  # only the healthy function's code
        assert invoke_ok(lam, ok)["ok"] is True
    finally:
        assert srv.stop() == 0
