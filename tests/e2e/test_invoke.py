"""Invoke with boto3: Python and Node functions, errors, timeouts, crashes, logs, limits, scaling."""

import base64
import json
import re
import threading
import time

import pytest
from botocore.exceptions import ClientError

import funcs
from testutil import (
    ACCOUNT,
    environment_pids,
    wait_until,
    ROLE,
    SIX_MB,
    KumoServer,
    decode_log,
    error_code,
    function_arn,
    http_status,
    lambda_client,
    make_zip,
    unique_name,
)

RUNTIMES = ["python", "node"]
REPORT_RE = re.compile(
    r"REPORT RequestId: (?P<id>[0-9a-fA-F-]+)\s+Duration: (?P<dur>\d+(\.\d+)?) ms\s+"
    r"Billed Duration: (?P<billed>\d+) ms\s+Memory Size: (?P<mem>\d+) MB\s+Max Memory Used: (?P<used>\d+) MB"
)
START_RE = re.compile(r"START RequestId: (?P<id>[0-9a-fA-F-]+)")


def invoke(lam, name, event=None, tail=True, **kw):
    """Invoke synchronously; returns (response, payload bytes, decoded log or None)."""
    args = dict(FunctionName=name, Payload=json.dumps(event if event is not None else {}).encode())
    if tail:
        args["LogType"] = "Tail"
    args.update(kw)
    resp = lam.invoke(**args)
    payload = resp["Payload"].read()
    log = decode_log(resp) if tail else None
    return resp, payload, log


def invoke_ok(lam, name, event=None, **kw):
    resp, payload, log = invoke(lam, name, event, **kw)
    assert resp["StatusCode"] == 200
    assert "FunctionError" not in resp, f"unexpected function error: {payload[:2000]!r}\nlog:\n{log}"
    return resp, json.loads(payload), log


def invoke_fail(lam, name, event=None, **kw):
    resp, payload, log = invoke(lam, name, event, **kw)
    assert resp["StatusCode"] == 200
    assert resp.get("FunctionError") == "Unhandled", f"expected a function error, got {payload[:2000]!r}"
    return resp, json.loads(payload), log


def spec(rt, version="v1"):
    runtime, handler, files = funcs.files_for(rt, version)
    return dict(runtime=runtime, handler=handler, files=files)


@pytest.fixture(scope="module")
def echo_fns(make_function):
    """One long-lived function per runtime for the non-destructive tests."""
    return {
        rt: make_function(prefix=f"echo-{rt}", MemorySize=256, Timeout=5,
                          Environment={"Variables": {"GREETING": f"hello-{rt}"}}, **spec(rt))
        for rt in RUNTIMES
    }


def check_log_frame(log, request_id, memory):
    """START ... END ... REPORT for request_id, in that order, with the REPORT fields."""
    start = log.find(f"START RequestId: {request_id}")
    end = log.find(f"END RequestId: {request_id}")
    m = REPORT_RE.search(log)
    assert start >= 0, f"no START line for {request_id}:\n{log}"
    assert end > start, f"no END line after START for {request_id}:\n{log}"
    assert m, f"no well-formed REPORT line:\n{log}"
    assert m.group("id") == request_id
    assert m.start() > end
    assert int(m.group("mem")) == memory
    assert int(m.group("billed")) >= int(float(m.group("dur")))
    assert int(m.group("used")) > 0
    return m


# --------------------------------------------------------------------------- results and identifiers


@pytest.mark.parametrize("rt", RUNTIMES)
def test_invoke_by_name_partial_arn_and_full_arn(lam, echo_fns, rt):
    name = echo_fns[rt]
    for ident in (name, f"{ACCOUNT}:function:{name}", function_arn(name)):
        event = {"hello": "world", "n": [1, 2, 3], "ident": ident}
        resp, out, _ = invoke_ok(lam, ident, event)
        assert resp["ExecutedVersion"] == "$LATEST"
        assert out["ok"] is True and out["runtime"] == rt
        assert out["event"] == event
        assert out["ctx"]["function_name"] == name
        assert out["ctx"]["invoked_function_arn"] == function_arn(name)
    resp, out, _ = invoke_ok(lam, name, {"q": 1}, Qualifier="$LATEST")
    assert resp["ExecutedVersion"] == "$LATEST"
    assert out["event"] == {"q": 1}


@pytest.mark.parametrize("rt", RUNTIMES)
def test_context_fields(lam, echo_fns, rt):
    name = echo_fns[rt]
    resp, out, log = invoke_ok(lam, name, {"action": "echo"})
    ctx = out["ctx"]
    assert ctx["function_name"] == name
    assert ctx["function_version"] == "$LATEST"
    assert ctx["memory_limit_in_mb"] == "256"
    assert ctx["invoked_function_arn"] == function_arn(name)
    assert ctx["log_group_name"] == f"/aws/lambda/{name}"
    assert ctx["log_stream_name"]
    assert 0 < ctx["remaining_ms"] <= 5000
    assert out["greeting"] == f"hello-{rt}"
    # the request id the function saw is the one in the platform's log lines
    assert START_RE.search(log).group("id") == ctx["aws_request_id"]
    check_log_frame(log, ctx["aws_request_id"], 256)


@pytest.mark.parametrize("rt", RUNTIMES)
def test_response_request_id_header_is_the_invocation_id(lam, echo_fns, rt):
    """Like AWS, the Invoke response's x-amzn-RequestId is the invocation's request id."""
    resp, out, _ = invoke_ok(lam, echo_fns[rt])
    assert resp["ResponseMetadata"]["RequestId"] == out["ctx"]["aws_request_id"]


@pytest.mark.parametrize("rt", RUNTIMES)
def test_non_object_payloads(lam, echo_fns, rt):
    for value in ("a string", 42, [1, "two"], None):
        _, out, _ = invoke_ok(lam, echo_fns[rt], {"wrapped": value})
        assert out["event"] == {"wrapped": value}
    resp = lam.invoke(FunctionName=echo_fns[rt], Payload=b'"just a string"')
    assert "FunctionError" not in resp
    assert json.loads(resp["Payload"].read())["event"] == {"value": "just a string"}


@pytest.mark.parametrize("rt", RUNTIMES)
def test_empty_invalid_and_unicode_payloads(lam, echo_fns, rt):
    # no payload at all: the handler gets {}
    resp = lam.invoke(FunctionName=echo_fns[rt])
    assert "FunctionError" not in resp
    assert json.loads(resp["Payload"].read())["event"] == {}
    # unicode survives the round trip
    event = {"text": "h\u00e9llo \u2713 \U0001F600 \u65e5\u672c"}
    _, out, _ = invoke_ok(lam, echo_fns[rt], event)
    assert out["event"] == event
    # a body that is not JSON is rejected before reaching the function, as in AWS
    with pytest.raises(ClientError) as ei:
        lam.invoke(FunctionName=echo_fns[rt], Payload=b"this is not json")
    assert error_code(ei.value) == "InvalidRequestContentException"
    assert http_status(ei.value) == 400


@pytest.mark.parametrize("rt", RUNTIMES)
def test_lambda_environment_variables(lam, echo_fns, rt):
    name = echo_fns[rt]
    runtime, handler, _ = funcs.files_for(rt)
    _, out, _ = invoke_ok(lam, name, {"action": "env"})
    env = out["env"]
    expected = {
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime}",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "_HANDLER": handler,
        "LAMBDA_TASK_ROOT": "/var/task",
        "GREETING": f"hello-{rt}",
    }
    for k, v in expected.items():
        assert env.get(k) == v, (k, env.get(k))
    assert env.get("AWS_LAMBDA_RUNTIME_API"), "AWS_LAMBDA_RUNTIME_API is not set"
    assert not env["AWS_LAMBDA_RUNTIME_API"].startswith("http"), "AWS_LAMBDA_RUNTIME_API must be host:port"
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", env.get("AWS_LAMBDA_LOG_STREAM_NAME", "")), env.get(
        "AWS_LAMBDA_LOG_STREAM_NAME")
    assert out["cwd"] == "/var/task"


@pytest.mark.parametrize("rt", RUNTIMES)
def test_client_context_reaches_the_function(lam, echo_fns, rt):
    cc = base64.b64encode(json.dumps({"custom": {"tenant": "t-1", "n": 2}, "env": {"k": "v"}}).encode()).decode()
    _, out, _ = invoke_ok(lam, echo_fns[rt], {}, ClientContext=cc)
    assert out["ctx"]["client_custom"] == {"tenant": "t-1", "n": 2}
    _, out, _ = invoke_ok(lam, echo_fns[rt], {})
    assert out["ctx"]["client_custom"] is None


def test_dry_run(lam, echo_fns):
    resp = lam.invoke(FunctionName=echo_fns["python"], InvocationType="DryRun", Payload=b"{}")
    assert resp["StatusCode"] == 204
    assert resp["Payload"].read() == b""
    with pytest.raises(ClientError) as ei:
        lam.invoke(FunctionName=unique_name("ghost"), InvocationType="DryRun", Payload=b"{}")
    assert error_code(ei.value) == "ResourceNotFoundException"
    assert http_status(ei.value) == 404


def test_event_invocation_type_is_accepted_with_202(lam, echo_fns):
    # What happens to the event afterwards is tested in test_async.py.
    resp = lam.invoke(FunctionName=echo_fns["python"], InvocationType="Event", Payload=b"{}")
    assert resp["StatusCode"] == 202
    assert resp["Payload"].read() == b""
    assert resp["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-requestid")


def test_invoke_missing_function(lam):
    name = unique_name("ghost")
    for ident in (name, function_arn(name)):
        with pytest.raises(ClientError) as ei:
            lam.invoke(FunctionName=ident, Payload=b"{}")
        assert error_code(ei.value) == "ResourceNotFoundException"
        assert http_status(ei.value) == 404


# --------------------------------------------------------------------------- logs


@pytest.mark.parametrize("rt", RUNTIMES)
def test_output_is_in_the_tail_log(lam, echo_fns, rt):
    token = unique_name("tok")
    resp, out, log = invoke_ok(lam, echo_fns[rt], {"action": "log", "token": token})
    rid = out["ctx"]["aws_request_id"]
    check_log_frame(log, rid, 256)
    start = log.find(f"START RequestId: {rid}")
    end = log.find(f"END RequestId: {rid}")
    for line in ("PRINT-", "LOGGING-INFO-", "LOGGING-WARN-", "STDERR-"):
        pos = log.find(line + token)
        assert start < pos < end, f"{line}{token} not between START and END:\n{log}"


@pytest.mark.parametrize("rt", RUNTIMES)
def test_tail_log_is_last_4kb(lam, echo_fns, rt):
    resp, out, _ = invoke_ok(lam, echo_fns[rt], {"action": "flood", "lines": 20})
    raw = base64.b64decode(resp["LogResult"])
    assert 3000 < len(raw) <= 4096, len(raw)
    text = raw.decode("utf-8", "replace")
    assert f"REPORT RequestId: {out['ctx']['aws_request_id']}" in text
    assert "START RequestId:" not in text, "the head of the log should have been cut"


@pytest.mark.parametrize("rt", RUNTIMES)
def test_module_code_runs_once_per_environment(lam, make_function, rt):
    name = make_function(prefix=f"init-{rt}", **spec(rt))
    _, first, log1 = invoke_ok(lam, name)
    _, second, log2 = invoke_ok(lam, name)
    assert first["invocations"] == 1
    assert second["invocations"] == 2, "module-level state was not kept between invokes"
    assert first["ctx"]["log_stream_name"] == second["ctx"]["log_stream_name"]
    assert first["ctx"]["aws_request_id"] != second["ctx"]["aws_request_id"]
    check_log_frame(log1, first["ctx"]["aws_request_id"], 128)
    check_log_frame(log2, second["ctx"]["aws_request_id"], 128)
    assert re.search(r"Init Duration: \d+(\.\d+)? ms", log1), f"cold start without Init Duration:\n{log1}"
    assert "Init Duration" not in log2, f"warm invoke reports Init Duration:\n{log2}"


# --------------------------------------------------------------------------- function errors


@pytest.mark.parametrize("rt", RUNTIMES)
def test_raised_error(lam, echo_fns, rt):
    resp, err, log = invoke_fail(lam, echo_fns[rt], {"action": "raise", "message": "custom failure 42"})
    assert resp["ExecutedVersion"] == "$LATEST"
    assert err["errorType"] == "MyError"
    assert err["errorMessage"] == "custom failure 42"
    trace = err.get("stackTrace") if rt == "python" else err.get("trace")
    assert isinstance(trace, list) and trace, err
    assert "END RequestId:" in log and "REPORT RequestId:" in log
    assert "custom failure 42" in log, f"the error is not in the function's log:\n{log}"
    # the environment survives a handled exception
    _, out, _ = invoke_ok(lam, echo_fns[rt])
    assert out["ok"] is True


@pytest.mark.parametrize("rt", RUNTIMES)
def test_timeout(lam, make_function, rt):
    name = make_function(prefix=f"timeout-{rt}", Timeout=1, **spec(rt))
    invoke_ok(lam, name)  # warm
    t0 = time.monotonic()
    resp, err, log = invoke_fail(lam, name, {"action": "sleep", "secs": 3})
    elapsed = time.monotonic() - t0
    assert err["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in err["errorMessage"]
    assert elapsed < 2.9, f"the timed-out invoke took {elapsed:.2f}s; the environment was not stopped at 1 s"
    assert "REPORT RequestId:" in log
    assert "Task timed out after 1.00 seconds" in log, f"no timeout line in the log:\n{log}"
    # the next invoke works, in a fresh environment
    _, out, _ = invoke_ok(lam, name)
    assert out["ok"] is True
    assert out["invocations"] == 1, "the timed-out environment was reused"


@pytest.mark.parametrize("rt", RUNTIMES)
def test_crash_exit_error(lam, make_function, rt):
    name = make_function(prefix=f"crash-{rt}", **spec(rt))
    resp, err, _ = invoke_fail(lam, name, {"action": "exit"})
    assert err["errorType"] == "Runtime.ExitError"
    assert err["errorMessage"]
    _, out, _ = invoke_ok(lam, name)
    assert out["ok"] is True and out["invocations"] == 1
    resp, err, _ = invoke_fail(lam, name, {"action": "exit"})
    assert err["errorType"] == "Runtime.ExitError"
    _, out, _ = invoke_ok(lam, name)
    assert out["ok"] is True


@pytest.mark.parametrize("rt", RUNTIMES)
def test_import_error_then_fixed_by_configuration(lam, make_function, rt):
    s = spec(rt)
    good_handler = s.pop("handler")
    name = make_function(prefix=f"import-{rt}", handler="missingmod.handler", **s)
    for _ in range(2):  # init is retried on every invoke and fails the same way
        _, err, _ = invoke_fail(lam, name)
        assert err["errorType"] == "Runtime.ImportModuleError", err
        assert "missingmod" in err["errorMessage"]
    lam.update_function_configuration(FunctionName=name, Handler=good_handler)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    _, out, _ = invoke_ok(lam, name)
    assert out["ok"] is True


@pytest.mark.parametrize("rt", RUNTIMES)
def test_handler_not_found(lam, make_function, rt):
    s = spec(rt)
    module = s.pop("handler").split(".")[0]
    name = make_function(prefix=f"nohandler-{rt}", handler=f"{module}.nothere", **s)
    _, err, _ = invoke_fail(lam, name)
    assert err["errorType"] == "Runtime.HandlerNotFound", err
    assert "nothere" in err["errorMessage"]


def test_python_handler_in_package(lam, make_function):
    files = {"pkg/__init__.py": "", "pkg/sub/__init__.py": "", "pkg/sub/mod.py": funcs.py_source("pkgv")}
    for handler in ("pkg/sub/mod.handler", "pkg.sub.mod.handler"):
        name = make_function(prefix="pkg", files=files, handler=handler)
        _, out, _ = invoke_ok(lam, name)
        assert out["version"] == "pkgv"


@pytest.mark.parametrize("style", ["cjs", "callback", "mjs", "module"])
def test_node_module_styles(lam, make_function, style):
    name = make_function(prefix=f"node-{style}", runtime=funcs.NODE, handler="index.handler",
                         files=funcs.node_files(style))
    _, out, log = invoke_ok(lam, name, {"style": style})
    assert out["runtime"] == "node" and out["event"] == {"style": style}
    assert out["ctx"]["function_name"] == name
    check_log_frame(log, out["ctx"]["aws_request_id"], 128)
    _, err, _ = invoke_fail(lam, name, {"action": "raise", "message": f"{style} failed"})
    assert err["errorType"] == "MyError" and err["errorMessage"] == f"{style} failed"
    _, out2, _ = invoke_ok(lam, name)
    assert out2["invocations"] == 3


def test_node_nested_dir_handler(lam, make_function):
    files = {"src/app.js": funcs.node_files("cjs", "nested")["index.js"]}
    name = make_function(prefix="node-nested", runtime=funcs.NODE, handler="src/app.handler", files=files)
    _, out, _ = invoke_ok(lam, name)
    assert out["version"] == "nested"


# --------------------------------------------------------------------------- size limits


def test_request_payload_over_6mb_is_413(lam, echo_fns):
    big = json.dumps({"action": "len", "data": "y" * (SIX_MB + 100_000)}).encode()
    with pytest.raises(ClientError) as ei:
        lam.invoke(FunctionName=echo_fns["python"], Payload=big)
    assert http_status(ei.value) == 413
    assert error_code(ei.value) == "RequestEntityTooLargeException"
    # just under the limit is fine
    data = "z" * (SIX_MB - 200_000)
    _, out, _ = invoke_ok(lam, echo_fns["python"], {"action": "len", "data": data}, tail=False)
    assert out == {"len": len(data)}


@pytest.mark.parametrize("rt", RUNTIMES)
def test_response_over_6mb_is_function_error(lam, make_function, rt):
    name = make_function(prefix=f"bigresp-{rt}", **spec(rt))
    for _ in range(3):  # the failure mode after an oversized response is timing-dependent: repeat
        resp, err, _ = invoke_fail(lam, name, {"action": "big", "n": 7_000_000})
        assert err["errorType"] == "Function.ResponseSizeTooLarge"
        assert resp["ExecutedVersion"] == "$LATEST"
        # a 5 MB response is fine, and the function still works
        resp, payload, _ = invoke(lam, name, {"action": "big", "n": 5_000_000}, tail=False)
        assert "FunctionError" not in resp, payload[:500]
        assert json.loads(payload) == "x" * 5_000_000
        _, out, _ = invoke_ok(lam, name)
        assert out["ok"] is True


# --------------------------------------------------------------------------- updates


@pytest.mark.parametrize("rt", RUNTIMES)
def test_updates_change_behaviour_on_next_invoke(lam, make_function, rt):
    name = make_function(prefix=f"upd-{rt}", **spec(rt, "v1"))
    _, out, _ = invoke_ok(lam, name)
    assert out["version"] == "v1" and out["greeting"] is None
    invoke_ok(lam, name)

    _, _, files2 = funcs.files_for(rt, "v2")
    lam.update_function_code(FunctionName=name, ZipFile=make_zip(files2))
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    _, out, _ = invoke_ok(lam, name)
    assert out["version"] == "v2"
    assert out["invocations"] == 1, "an environment with the old code was reused"

    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"GREETING": "bonjour"}},
                                      MemorySize=192)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    _, out, log = invoke_ok(lam, name)
    assert out["greeting"] == "bonjour"
    assert out["version"] == "v2"
    assert out["ctx"]["memory_limit_in_mb"] == "192"
    assert out["invocations"] == 1, "an environment with the old configuration was reused"
    check_log_frame(log, out["ctx"]["aws_request_id"], 192)


@pytest.mark.parametrize("rt", RUNTIMES)
def test_inflight_invoke_finishes_across_update_and_delete(lam, server, make_function, rt):
    """An update retires environments but lets the running invoke finish on the old code; so does delete."""
    name = make_function(prefix=f"inflight-{rt}", Timeout=10, **spec(rt, "v1"))
    result = {}

    def call():
        try:
            resp, payload, _ = invoke(lam, name, {"action": "sleep", "secs": 2}, tail=False)
            result["fe"], result["out"] = resp.get("FunctionError"), json.loads(payload)
        except Exception as e:  # noqa: BLE001
            result["error"] = e

    def start_cold_invoke():
        before = set(environment_pids(server.pid))
        t = threading.Thread(target=call)
        t.start()
        # the (cold) invoke is admitted once its environment exists
        wait_until(lambda: set(environment_pids(server.pid)) - before, timeout=30, what="a new environment")
        return t

    t = start_cold_invoke()
    _, _, files2 = funcs.files_for(rt, "v2")
    lam.update_function_code(FunctionName=name, ZipFile=make_zip(files2))
    _, out, _ = invoke_ok(lam, name)
    assert out["version"] == "v2"
    t.join(timeout=60)
    assert "error" not in result, result
    assert result["fe"] is None, result["out"]
    assert result["out"]["version"] == "v1"

    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"GREETING": "x"}})
    result.clear()
    t = start_cold_invoke()
    lam.delete_function(FunctionName=name)
    t.join(timeout=60)
    assert "error" not in result, result
    assert result["fe"] is None, result["out"]
    assert result["out"]["greeting"] == "x"
    with pytest.raises(ClientError) as ei:
        lam.invoke(FunctionName=name, Payload=b"{}")
    assert error_code(ei.value) == "ResourceNotFoundException"


# --------------------------------------------------------------------------- concurrency


def run_concurrently(n, fn):
    """Run fn(i) in n threads released together; returns list of (result or exception)."""
    barrier = threading.Barrier(n)
    results = [None] * n

    def worker(i):
        barrier.wait()
        try:
            results[i] = fn(i)
        except Exception as e:  # noqa: BLE001 - collected for the assertions
            results[i] = e

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "an invoke did not return within 120 s"
    return results


def test_scale_out_ten_concurrent_invokes(lam, make_function):
    name = make_function(prefix="scale", Timeout=10)

    def call(i):
        resp, payload, _ = invoke(lam, name, {"action": "sleep", "secs": 1, "i": i}, tail=False)
        assert "FunctionError" not in resp, payload
        return json.loads(payload)

    t0 = time.monotonic()
    results = run_concurrently(10, call)
    elapsed = time.monotonic() - t0
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors
    assert sorted(r["event"]["i"] for r in results) == list(range(10))
    assert elapsed < 6, f"10 concurrent 1 s invokes took {elapsed:.1f}s: no scale-out"
    assert len({r["ctx"]["aws_request_id"] for r in results}) == 10
    assert len({r["ctx"]["log_stream_name"] for r in results}) == 10, "fewer than 10 environments served 10 overlapping invokes"


def _throttle_reason(exc):
    return exc.response.get("Reason")


def test_reserved_concurrency_one_throttles(lam, make_function):
    name = make_function(prefix="throttle", Timeout=10)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    invoke_ok(lam, name)  # warm one environment

    def call(i):
        resp, payload, _ = invoke(lam, name, {"action": "sleep", "secs": 2}, tail=False)
        assert "FunctionError" not in resp, payload
        return json.loads(payload)

    results = run_concurrently(3, call)
    ok = [r for r in results if isinstance(r, dict)]
    throttled = [r for r in results if isinstance(r, ClientError)]
    other = [r for r in results if not isinstance(r, (dict, ClientError))]
    assert not other, other
    assert len(ok) >= 1
    assert len(throttled) >= 1
    assert len(ok) == 1, f"{len(ok)} overlapping invokes ran with reserved concurrency 1"
    for e in throttled:
        assert error_code(e) == "TooManyRequestsException"
        assert http_status(e) == 429
        assert _throttle_reason(e) == "ReservedFunctionConcurrentInvocationLimitExceeded", e.response
    # once the running invoke finished, the function can be invoked again
    invoke_ok(lam, name)


def test_reserved_concurrency_zero_throttles_everything(lam, make_function):
    name = make_function(prefix="zero")
    invoke_ok(lam, name)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    for _ in range(3):
        with pytest.raises(ClientError) as ei:
            lam.invoke(FunctionName=name, Payload=b"{}")
        assert error_code(ei.value) == "TooManyRequestsException"
        assert http_status(ei.value) == 429
        assert _throttle_reason(ei.value) == "ReservedFunctionConcurrentInvocationLimitExceeded"
    lam.delete_function_concurrency(FunctionName=name)
    invoke_ok(lam, name)


def test_account_concurrency_limit_throttles(tmp_path, kumo_binary):
    cfg = "[limits]\naccount_concurrency = 2\nidle_timeout_secs = 300\n"
    srv = KumoServer(tmp_path / "data", config_text=cfg, log_dir=tmp_path).start()
    try:
        lam = lambda_client(srv.url)
        name = unique_name("acct-limit")
        lam.create_function(FunctionName=name, Runtime=funcs.PY, Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": make_zip(funcs.py_files())}, Timeout=10)
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        assert lam.get_account_settings()["AccountLimit"]["ConcurrentExecutions"] == 2

        def call(i):
            resp, payload, _ = invoke(lam, name, {"action": "sleep", "secs": 2}, tail=False)
            assert "FunctionError" not in resp, payload
            return json.loads(payload)

        results = run_concurrently(3, call)
        ok = [r for r in results if isinstance(r, dict)]
        throttled = [r for r in results if isinstance(r, ClientError)]
        assert len(ok) == 2, results
        assert len(throttled) == 1, results
        e = throttled[0]
        assert error_code(e) == "TooManyRequestsException" and http_status(e) == 429
        assert _throttle_reason(e) == "ConcurrentInvocationLimitExceeded", e.response
    finally:
        assert srv.stop() == 0
