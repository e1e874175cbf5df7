"""Idle environments are frozen between invocations, as in Lambda.

A function leaves a thread and processes running after it returns: one counts time in a file, one
tries to take the next event from the Runtime API. While the environment is idle nothing in it may
run (the counters stand still, the Runtime API sees no attempt), the next invocation is answered by
the runtime as usual, and a frozen environment still goes away completely when it is reaped, its
function deleted, or the server stopped or killed and restarted.
"""

import json
import os
import signal
import time

import pytest

from testutil import (
    DEFAULT_CONFIG,
    ROLE,
    KumoServer,
    environment_pids,
    lambda_client,
    make_zip,
    unique_name,
    wait_until,
)

# The background writers append one wall-clock timestamp every 50 ms; the /next prober starts
# trying once the handler has returned, and gives up as soon as it notices it was stopped (a gap
# of more than a second between two of its own steps): its attempts all fall in time it ran.
APP = r'''
import json, os, subprocess, sys, threading, time

TICKER = """
import sys, time
while True:
    with open(sys.argv[1], "a") as f:
        f.write("%f\\n" % time.time())
    time.sleep(0.05)
"""

PROBER = """
import os, sys, time, urllib.request
api = os.environ["AWS_LAMBDA_RUNTIME_API"]
begin = float(sys.argv[1])
def note(line):
    with open("/tmp/next-attempts", "a") as f:
        f.write(line + "\\n")
note("up")
last = time.time()
while True:
    now = time.time()
    if now - last > 1.0:
        note("stopped %f %f" % (last, now))
        break
    last = now
    if now >= begin:
        note("try %f" % now)
        try:
            with urllib.request.urlopen(f"http://{api}/2018-06-01/runtime/invocation/next", timeout=0.2) as r:
                note("took " + r.headers.get("lambda-runtime-aws-request-id", "?"))
                break
        except Exception:
            pass
    time.sleep(0.02)
"""

def thread_ticker():
    while True:
        with open("/tmp/thread-ticks", "a") as f:
            f.write("%f\n" % time.time())
        time.sleep(0.05)

def read(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""

def handler(event, context):
    if event["action"] == "start":
        threading.Thread(target=thread_ticker, daemon=True).start()
        subprocess.Popen([sys.executable, "-S", "-c", TICKER, "/tmp/proc-ticks"])
        subprocess.Popen([sys.executable, "-S", "-c", PROBER, str(time.time() + 0.5)])
        # Both processes are running before the invocation ends.
        deadline = time.time() + 10
        while not (read("/tmp/proc-ticks") and read("/tmp/next-attempts")):
            if time.time() > deadline:
                raise RuntimeError("background processes did not start")
            time.sleep(0.01)
        return {"at": time.time()}
    # Thawed with this invocation, the prober notices the gap and notes it: give it the time.
    deadline = time.time() + 10
    while not any(l.split()[0] in ("stopped", "took") for l in read("/tmp/next-attempts").splitlines()):
        if time.time() > deadline:
            break
        time.sleep(0.01)
    return {
        "request_id": context.aws_request_id,
        "thread": read("/tmp/thread-ticks"),
        "proc": read("/tmp/proc-ticks"),
        "next": read("/tmp/next-attempts"),
    }
'''


def create(lam, **kw):
    name = unique_name("frz")
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": APP})},
        Timeout=30,
        **kw,
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    return name


def invoke(lam, name, action):
    resp = lam.invoke(FunctionName=name, Payload=json.dumps({"action": action}).encode())
    body = json.loads(resp["Payload"].read())
    assert "FunctionError" not in resp, body
    return body


def freezer_state(pid):
    """'frozen', 'thawed' or None (not in a freezable cgroup) for a process, from its cgroups."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "freezer" in controllers.split(","):
            try:
                with open(f"/sys/fs/cgroup/freezer{path}/freezer.state") as f:
                    return "frozen" if f.read().strip() == "FROZEN" else "thawed"
            except OSError:
                return None
        if controllers == "":
            for root in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
                try:
                    with open(f"{root}{path}/cgroup.events") as f:
                        events = dict(l.split() for l in f.read().splitlines())
                    if "frozen" in events:
                        return "frozen" if events["frozen"] == "1" else "thawed"
                except OSError:
                    continue
    return None


def env_cgroup_dirs(pid):
    """The cgroup directories (every hierarchy) a process of an environment is in."""
    dirs = []
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f.read().splitlines():
            _, controllers, path = line.split(":", 2)
            if "/kumo/" not in path:
                continue
            if controllers == "":
                for root in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
                    if os.path.isdir(root + path):
                        dirs.append(root + path)
                        break
            else:
                first = controllers.split(",")[0].removeprefix("name=")
                dirs.append(f"/sys/fs/cgroup/{first}{path}")
    return dirs


def alive(pids):
    """The pids that are still running (zombies count as gone)."""
    out = []
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if stat[stat.rindex(")") + 2] != "Z":
            out.append(p)
    return out


def started_env(srv, lam, name):
    """Starts the background work in a new environment; returns (its pids, when it answered)."""
    before = set(environment_pids(srv.pid))
    invoke(lam, name, "start")
    answered = time.time()
    # The two background processes are there too (runtime, in-between process, 2 children).
    pids = wait_until(
        lambda: (lambda ps: ps if len(ps) >= 4 else None)(
            [p for p in environment_pids(srv.pid) if p not in before]
        ),
        10,
        what="the background processes",
    )
    return pids, answered


def inside_file(pids, path):
    """Reads a file of the environment's own /tmp from the host (through /proc/<pid>/root)."""
    for p in pids:
        try:
            with open(f"/proc/{p}/root{path}") as f:
                return f.read()
        except FileNotFoundError:
            return ""
        except OSError:
            continue
    return None


def loop_backing_files():
    """The image files behind every attached loop device."""
    out = set()
    for dev in os.listdir("/sys/block"):
        try:
            with open(f"/sys/block/{dev}/loop/backing_file") as f:
                out.add(f.read().strip())
        except OSError:
            continue
    return out


def stamps(text):
    return [float(line) for line in text.split()]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    base = tmp_path_factory.mktemp("kumo")
    s = KumoServer(base / "data", log_dir=base).start()
    yield s
    s.stop()


def test_idle_environment_makes_no_progress_and_background_cannot_take_next(srv):
    lam = lambda_client(srv.url)
    name = create(lam)
    pids, answered = started_env(srv, lam, name)
    # Everything of the environment is frozen shortly after the invocation ended.
    wait_until(
        lambda: all(freezer_state(p) == "frozen" for p in alive(pids)),
        10,
        what="the idle environment to be frozen",
    )
    idle_from = time.time()
    counted = [inside_file(pids, "/tmp/thread-ticks"), inside_file(pids, "/tmp/proc-ticks")]
    assert all(c is not None for c in counted), counted
    # An idle stretch of a few seconds: a running ticker would add ~40 lines per file.
    time.sleep(2.5)
    assert inside_file(pids, "/tmp/thread-ticks") == counted[0]
    assert inside_file(pids, "/tmp/proc-ticks") == counted[1]
    idle_to = time.time()

    body = invoke(lam, name, "read")
    # The runtime took the event (not the prober) and answered it.
    assert body["request_id"]
    for kind in ("thread", "proc"):
        ticks = stamps(body[kind])
        assert ticks, kind
        in_idle = [t for t in ticks if idle_from < t < idle_to]
        assert not in_idle, f"{kind} ticker ran {len(in_idle)} times while idle"
    attempts = body["next"].splitlines()
    tries = [float(l.split()[1]) for l in attempts if l.startswith("try ")]
    assert not [t for t in tries if idle_from < t < idle_to], attempts
    assert not [l for l in attempts if l.startswith("took ")], attempts
    # The prober was stopped across the whole idle stretch.
    stops = [l.split() for l in attempts if l.startswith("stopped ")]
    assert stops and float(stops[0][1]) <= idle_from and float(stops[0][2]) >= idle_to, attempts
    # Thawed while it ran, frozen again after.
    wait_until(
        lambda: all(freezer_state(p) == "frozen" for p in alive(pids)),
        10,
        what="the environment to be frozen again",
    )
    assert answered < idle_from


def test_frozen_environment_is_removed_when_its_function_is_deleted(srv):
    lam = lambda_client(srv.url)
    name = create(lam)
    pids, _ = started_env(srv, lam, name)
    wait_until(lambda: all(freezer_state(p) == "frozen" for p in alive(pids)), 10, what="frozen")
    dirs = env_cgroup_dirs(alive(pids)[0])
    assert dirs
    lam.delete_function(FunctionName=name)
    wait_until(lambda: not alive(pids), 15, what="the frozen environment's processes to end")
    wait_until(lambda: not [d for d in dirs if os.path.isdir(d)], 15, what="its cgroups to go")
    assert lam.list_functions()["Functions"] is not None


def test_frozen_environment_is_reaped_when_idle_too_long(tmp_path):
    config = DEFAULT_CONFIG.replace("idle_timeout_secs = 300", "idle_timeout_secs = 2")
    s = KumoServer(tmp_path / "data", config_text=config, log_dir=tmp_path).start()
    try:
        lam = lambda_client(s.url)
        name = create(lam)
        pids, _ = started_env(s, lam, name)
        dirs = env_cgroup_dirs(alive(pids)[0])
        wait_until(lambda: not alive(pids), 20, what="the reaper to end the frozen environment")
        wait_until(lambda: not [d for d in dirs if os.path.isdir(d)], 15, what="its cgroups")
        # A new environment serves the function afterwards.
        assert invoke(lam, name, "read")["request_id"]
    finally:
        s.stop()


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_server_stop_or_crash_leaves_no_frozen_environment(tmp_path, how):
    s = KumoServer(tmp_path / "data", log_dir=tmp_path).start()
    try:
        lam = lambda_client(s.url)
        name = create(lam)
        pids, _ = started_env(s, lam, name)
        wait_until(lambda: all(freezer_state(p) == "frozen" for p in alive(pids)), 10, what="frozen")
        dirs = env_cgroup_dirs(alive(pids)[0])
        # The /tmp disks of this server (its environment's and those prepared ahead).
        disks = {f for f in loop_backing_files() if s.data_dir in f}
        assert disks
        if how == "stop":
            assert s.stop() == 0
        else:
            s.proc.send_signal(signal.SIGKILL)
            s.proc.wait()
            # A crash leaves the frozen environment behind; the restart cleans it up.
            assert alive(pids)
            s.kill()
            s.stop()
            s.start()
        wait_until(lambda: not alive(pids), 15, what="the frozen environment's processes to end")
        wait_until(lambda: not [d for d in dirs if os.path.isdir(d)], 15, what="its cgroups")
        wait_until(lambda: not disks & loop_backing_files(), 15, what="its /tmp disks to go")
    finally:
        if s.proc is not None:
            s.stop()
