"""Server lifecycle: persistence across restarts, graceful SIGTERM, idle environments."""

import json
import re
import signal
import threading
import urllib.request

import pytest
from botocore.exceptions import ClientError

import funcs
from testutil import (
    READY_RE,
    ROLE,
    KumoServer,
    decode_log,
    environment_pids,
    error_code,
    lambda_client,
    make_zip,
    unique_name,
    wait_until,
)

STABLE_FIELDS = ("FunctionArn", "Runtime", "Role", "Handler", "CodeSha256", "CodeSize", "MemorySize",
                 "Timeout", "Environment", "RevisionId", "LastModified", "Description", "Version")


def create(lam, name, runtime, handler, files, **kw):
    lam.create_function(FunctionName=name, Runtime=runtime, Role=ROLE, Handler=handler,
                        Code={"ZipFile": make_zip(files)}, **kw)
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})


def invoke_json(lam, name, event=None):
    resp = lam.invoke(FunctionName=name, Payload=json.dumps(event or {}).encode(), LogType="Tail")
    payload = resp["Payload"].read()
    assert "FunctionError" not in resp, payload
    return json.loads(payload), decode_log(resp)


def test_functions_survive_restart(tmp_path, kumo_binary):
    srv = KumoServer(tmp_path / "data", log_dir=tmp_path).start()
    assert READY_RE.match(srv.first_stdout_line), f"first stdout line: {srv.first_stdout_line!r}"
    py, node, gone = unique_name("keep-py"), unique_name("keep-node"), unique_name("gone")
    zips = {}
    try:
        lam = lambda_client(srv.url)
        create(lam, py, funcs.PY, "app.handler", funcs.py_files("persisted"), MemorySize=320, Timeout=8,
               Environment={"Variables": {"GREETING": "before"}})
        create(lam, node, funcs.NODE, "index.handler", funcs.node_files("mjs", "persisted-node"))
        create(lam, gone, funcs.PY, "app.handler", funcs.py_files())
        lam.update_function_configuration(FunctionName=py, Environment={"Variables": {"GREETING": "kept"}})
        lam.put_function_concurrency(FunctionName=node, ReservedConcurrentExecutions=7)
        before = {n: lam.get_function(FunctionName=n) for n in (py, node, gone)}
        for n in (py, node, gone):
            with urllib.request.urlopen(before[n]["Code"]["Location"], timeout=30) as r:
                zips[n] = r.read()
        out, _ = invoke_json(lam, py)
        assert out["greeting"] == "kept"
    finally:
        code = srv.stop()
    assert code == 0, f"kumo exited with {code} on SIGTERM"

    # second life: everything is still there
    srv2 = KumoServer(tmp_path / "data", log_dir=tmp_path).start()
    try:
        lam = lambda_client(srv2.url)
        names = [f["FunctionName"] for f in lam.list_functions()["Functions"]]
        assert sorted(names) == sorted([py, node, gone])
        for n in (py, node, gone):
            got = lam.get_function(FunctionName=n)
            for field in STABLE_FIELDS:
                assert got["Configuration"].get(field) == before[n]["Configuration"].get(field), (n, field)
            assert got["Configuration"]["State"] == "Active"
            assert got["Configuration"]["LastUpdateStatus"] == "Successful"
            loc = got["Code"]["Location"]
            assert str(srv2.port) in loc, f"Code.Location does not point at the running server: {loc}"
            with urllib.request.urlopen(loc, timeout=30) as r:
                assert r.read() == zips[n]
        assert lam.get_function_concurrency(FunctionName=node)["ReservedConcurrentExecutions"] == 7

        out, log = invoke_json(lam, py, {"after": "restart"})
        assert out["version"] == "persisted" and out["greeting"] == "kept"
        assert out["event"] == {"after": "restart"}
        assert out["ctx"]["memory_limit_in_mb"] == "320"
        assert "Init Duration" in log
        out, _ = invoke_json(lam, node)
        assert out["version"] == "persisted-node"

        lam.delete_function(FunctionName=gone)
    finally:
        assert srv2.stop() == 0

    # third life: the deletion was kept too
    srv3 = KumoServer(tmp_path / "data", log_dir=tmp_path).start()
    try:
        lam = lambda_client(srv3.url)
        names = [f["FunctionName"] for f in lam.list_functions()["Functions"]]
        assert sorted(names) == sorted([py, node])
        with pytest.raises(ClientError) as ei:
            lam.get_function(FunctionName=gone)
        assert error_code(ei.value) == "ResourceNotFoundException"
        out, _ = invoke_json(lam, py)
        assert out["greeting"] == "kept"
    finally:
        assert srv3.stop() == 0


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_sigterm_lets_inflight_invoke_finish(tmp_path, kumo_binary):
    srv = KumoServer(tmp_path / "data", log_dir=tmp_path).start()
    result = {}
    env_pids = []
    try:
        lam = lambda_client(srv.url)
        name = unique_name("inflight")
        create(lam, name, funcs.PY, "app.handler", funcs.py_files(), Timeout=20)
        assert not environment_pids(srv.pid), "an environment exists before the first invoke"

        def call():
            try:
                resp = lam.invoke(FunctionName=name, Payload=json.dumps({"action": "sleep", "secs": 2}).encode())
                result["resp"] = resp
                result["payload"] = resp["Payload"].read()
            except Exception as e:  # noqa: BLE001
                result["error"] = e

        t = threading.Thread(target=call)
        t.start()
        # once the environment for this (cold) invoke exists, the server has accepted the invoke
        env_pids = wait_until(lambda: environment_pids(srv.pid), timeout=30,
                              what="the environment of the in-flight invoke")
        srv.proc.send_signal(signal.SIGTERM)
        t.join(timeout=60)
        assert not t.is_alive()
        assert "error" not in result, f"in-flight invoke failed during shutdown: {result.get('error')!r}"
        assert "FunctionError" not in result["resp"], result["payload"]
        assert json.loads(result["payload"])["ok"] is True
    finally:
        code = srv.stop()
    assert code == 0
    # the environments were stopped with the server
    leftovers = [p for p in env_pids if pid_alive(p)]
    assert not leftovers, f"environment processes survived the server: {leftovers}"


def test_idle_environments_are_stopped(tmp_path, kumo_binary):
    cfg = "[limits]\naccount_concurrency = 1000\nidle_timeout_secs = 2\n"
    srv = KumoServer(tmp_path / "data", config_text=cfg, log_dir=tmp_path).start()
    try:
        lam = lambda_client(srv.url)
        name = unique_name("idle")
        create(lam, name, funcs.PY, "app.handler", funcs.py_files())
        out, log = invoke_json(lam, name)
        assert "Init Duration" in log
        assert environment_pids(srv.pid), "no environment process after an invoke"
        wait_until(lambda: not environment_pids(srv.pid), timeout=30,
                   what="idle environment processes to be stopped")
        out2, log2 = invoke_json(lam, name)
        assert out2["invocations"] == 1
        assert re.search(r"Init Duration: \d", log2), f"invoke after scale-to-zero was not a cold start:\n{log2}"
    finally:
        assert srv.stop() == 0


def test_second_server_does_not_disturb_the_first(tmp_path, kumo_binary):
    """Two `kumo serve` on one host (other data dirs) must not touch each other's environments."""
    a = KumoServer(tmp_path / "a" / "data", log_dir=tmp_path / "a").start()
    b = None
    result = {}
    try:
        lam = lambda_client(a.url)
        name = unique_name("neighbour")
        create(lam, name, funcs.PY, "app.handler", funcs.py_files(), Timeout=20)
        first, _ = invoke_json(lam, name)
        assert first["invocations"] == 1

        def call():
            try:
                resp = lam.invoke(FunctionName=name, Payload=json.dumps({"action": "sleep", "secs": 2}).encode())
                result["fe"] = resp.get("FunctionError")
                result["payload"] = resp["Payload"].read()
            except Exception as e:  # noqa: BLE001
                result["error"] = e

        t = threading.Thread(target=call)
        t.start()
        # B starts while A's environment is running an invoke
        b = KumoServer(tmp_path / "b" / "data", log_dir=tmp_path / "b").start()
        t.join(timeout=60)
        assert "error" not in result, result
        assert result["fe"] is None, f"A's in-flight invoke failed when B started: {result['payload']!r}"
        out = json.loads(result["payload"])
        assert out["invocations"] == 2 and out["ctx"]["log_stream_name"] == first["ctx"]["log_stream_name"]
        # and A's warm environment is still the same one afterwards
        again, _ = invoke_json(lam, name)
        assert again["invocations"] == 3, "A's warm environment was killed when B started"
    finally:
        codes = [b.stop() if b is not None else 0, a.stop()]
    assert codes == [0, 0], f"exit codes on SIGTERM (B, A): {codes}"
