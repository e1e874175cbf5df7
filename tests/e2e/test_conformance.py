"""Runtime conformance: the same checks, through the real Invoke API, against every runtime.

Each runtime is one row of RUNTIMES: a Lambda runtime name, a handler, the directory under
tests/e2e/conformance/ whose `build.sh OUT.zip` builds the conformance function (every function
implements the operations of tests/e2e/conformance/README.md), and what differs per runtime
(error types, where stack traces live, loader errors). Each check is a test parametrized over the
rows, so `test_echo[java]` is one check against one runtime.

Zips are built once per session and cached in target/conformance/zips/ under a hash of their
sources. A missing toolchain fails the row's tests with the Debian package to install.
"""

import dataclasses
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import zipfile

import boto3
import pytest
from botocore.config import Config

from testutil import (
    REGION,
    REPO_ROOT,
    ROLE,
    TEST_KEY,
    TEST_SECRET,
    decode_log,
    function_arn,
    kumo,
    make_zip,
    unique_name,
    wait_until,
)

CONF_DIR = os.path.join(REPO_ROOT, "tests", "e2e", "conformance")
ZIP_CACHE = os.path.join(REPO_ROOT, "target", "conformance", "zips")
MEMORY = 256
TIMEOUT = 15
CONF_VAR = "conformance value ✓ with spaces"
INIT_REASON = "conformance init failure"
HANDLED = "ConformanceError"


@dataclasses.dataclass(frozen=True)
class LoadError:
    """A handler that cannot be loaded, and the init error the runtime reports for it."""

    label: str
    handler: str
    error_type: str | None  # None: the document has no errorType (as Lambda sends it)
    message: str  # substring of errorMessage
    files: dict | None = None  # deploy these files instead of the conformance zip


@dataclasses.dataclass(frozen=True)
class Row:
    id: str
    runtime: str
    handler: str
    build: str  # directory under tests/e2e/conformance holding build.sh
    sources: tuple = ()  # other paths (repo-relative) whose content the zip depends on
    handled_type: str = HANDLED
    trace_key: str | None = "stackTrace"  # where the error document keeps a stack trace
    frame: str = ""  # what the stack trace shows of the function's own code
    handled_has_trace: bool = True  # a returned (not thrown) error has no trace
    crash_type: str = ""
    crash_exits: bool = False  # the runtime process exits after an unhandled crash
    crash_log: str | None = None  # what the log shows of a crash (default: crash_type)
    logs_errors: bool = True  # the runtime client writes returned errors to the function log
    init_type: str = ""
    init_message: str = INIT_REASON  # substring of the init error's errorMessage
    load_errors: tuple = ()
    provided: bool = False  # custom runtime: no AWS_EXECUTION_ENV


NO_BOOTSTRAP = {"README.txt": "no bootstrap here\n"}

RUNTIMES = [
    Row(
        "python", "python3.11", "app.handler", "python",
        frame="/var/task/app.py",
        crash_type="IndexError",
        init_type="ConformanceInitError",
        load_errors=(
            LoadError("module", "nomodule.handler", "Runtime.ImportModuleError",
                      "Unable to import module 'nomodule'"),
            LoadError("handler", "app.nothere", "Runtime.HandlerNotFound",
                      "Handler 'nothere' missing on module 'app'"),
        ),
    ),
    Row(
        "node", "nodejs20.x", "index.handler", "node",
        frame="/var/task/index.mjs",
        trace_key="trace",
        crash_type="TypeError",
        init_type="ConformanceInitError",
        load_errors=(
            LoadError("module", "nomodule.handler", "Runtime.ImportModuleError", "nomodule"),
            LoadError("handler", "index.nothere", "Runtime.HandlerNotFound",
                      "index.nothere is undefined or not exported"),
        ),
    ),
    Row(
        "java", "java17", "conformance.Handler::handleRequest", "java",
        frame="conformance.Handler.handleRequest(Handler.java:",
        sources=("runtimes/java/api", "runtimes/java/build.sh"),
        handled_type="conformance.ConformanceError",
        crash_type="java.lang.NullPointerException",
        init_type="java.lang.ExceptionInInitializerError",
        init_message="Error loading class conformance.Handler",
        load_errors=(
            LoadError("class", "conformance.Missing::handleRequest", "java.lang.ClassNotFoundException",
                      "Class not found: conformance.Missing"),
            LoadError("method", "conformance.Handler::nothere", None,
                      "No public method named nothere with appropriate method signature found on "
                      "class conformance.Handler"),
        ),
    ),
    Row(
        "dotnet", "dotnet8", "Conformance::Conformance.Function::Handler", "dotnet",
        frame="Conformance.Function.Handler",
        sources=("runtimes/dotnet/Amazon.Lambda.Core", "runtimes/dotnet/build.sh"),
        crash_type="NullReferenceException",
        # the static constructor's exception arrives wrapped, as in .NET (its own type is the cause)
        init_type="TypeInitializationException",
        init_message="The type initializer for 'Conformance.Function' threw an exception",
        load_errors=(
            LoadError("assembly", "Missing::Conformance.Function::Handler", "LambdaValidationException",
                      "Could not find the specified handler assembly with the file name "
                      "'Missing, Culture=neutral, PublicKeyToken=null'"),
            LoadError("type", "Conformance::Conformance.Missing::Handler", "LambdaValidationException",
                      "Unable to load type 'Conformance.Missing' from assembly 'Conformance'"),
            LoadError("method", "Conformance::Conformance.Function::Nothere", "LambdaValidationException",
                      "Unable to find method 'Nothere' in type 'Conformance.Function' from assembly "
                      "'Conformance'"),
        ),
    ),
    Row(
        "go", "go1.x", "conformance", "go",
        frame="main.go",
        sources=("runtimes/go",),
        handled_has_trace=False,
        crash_type="boundsError",
        crash_exits=True,
        init_type="Runtime.ExitError",
        init_message="Runtime exited with error: exit status 2",
        load_errors=(
            LoadError("executable", "missing", "Runtime.InvalidEntrypoint", "missing"),
        ),
    ),
    Row(
        "go-al2023", "provided.al2023", "bootstrap", "go",
        frame="main.go",
        sources=("runtimes/go",),
        handled_has_trace=False,
        crash_type="boundsError",
        crash_exits=True,
        init_type="Runtime.ExitError",
        init_message="Runtime exited with error: exit status 2",
        provided=True,
    ),
    Row(
        "rust", "provided.al2023", "bootstrap", "rust",
        trace_key=None,
        # lambda_runtime catches the panic and names the type of the panic payload
        crash_type="&alloc::boxed::Box<dyn core::any::Any + core::marker::Send>",
        crash_log="panicked",
        logs_errors=False,  # lambda_runtime reports errors through `tracing` only
        init_type="Runtime.ExitError",
        init_message="Runtime exited with error: exit status 1",
        provided=True,
        load_errors=(
            LoadError("bootstrap", "bootstrap", "Runtime.InvalidEntrypoint", "bootstrap",
                      files=NO_BOOTSTRAP),
        ),
    ),
    Row(
        "awslambdaric", "provided.al2023", "app.handler", "awslambdaric",
        frame="/var/task/app.py",
        sources=("tests/e2e/conformance/python",),
        crash_type="IndexError",
        init_type="ConformanceInitError",
        provided=True,
        load_errors=(
            LoadError("module", "nomodule.handler", "Runtime.ImportModuleError",
                      "Unable to import module 'nomodule'"),
            LoadError("handler", "app.nothere", "Runtime.HandlerNotFound",
                      "Handler 'nothere' missing on module 'app'"),
        ),
    ),
]

ROW_IDS = [r.id for r in RUNTIMES]
rows = pytest.mark.parametrize("row", RUNTIMES, ids=ROW_IDS)
LOAD_CASES = [pytest.param(r, e, id=f"{r.id}-{e.label}") for r in RUNTIMES for e in r.load_errors]


# --------------------------------------------------------------------------- building


def _tree_digest(h, path):
    if os.path.isfile(path):
        paths = [path]
    else:
        paths = []
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames[:] = sorted(d for d in dirnames if d not in ("__pycache__", "target", "build"))
            paths += [os.path.join(dirpath, f) for f in sorted(filenames)]
    for p in paths:
        h.update(os.path.relpath(p, REPO_ROOT).encode() + b"\0")
        h.update(oct(os.stat(p).st_mode & 0o111).encode())
        with open(p, "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())


def source_hash(row):
    h = hashlib.sha256()
    for rel in (f"tests/e2e/conformance/{row.build}", "tests/e2e/conformance/lib.sh", *row.sources):
        _tree_digest(h, os.path.join(REPO_ROOT, rel))
    return h.hexdigest()[:16]


class Builds:
    """Builds each row's zip at most once per session (cached on disk by source hash)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._done = {}  # build dir -> bytes | failure message

    def zip_for(self, row):
        with self._lock:
            if row.build not in self._done:
                self._done[row.build] = self._build(row)
        result = self._done[row.build]
        if isinstance(result, str):
            pytest.fail(result, pytrace=False)
        return result

    def _build(self, row):
        path = os.path.join(ZIP_CACHE, f"{row.build}-{source_hash(row)}.zip")
        if not os.path.isfile(path):
            os.makedirs(ZIP_CACHE, exist_ok=True)
            script = os.path.join(CONF_DIR, row.build, "build.sh")
            # pip (for awslambdaric) from the interpreter running the tests, which has it
            env = dict(os.environ, CONFORMANCE_PIP_PYTHON=sys.executable)
            res = subprocess.run([script, path], capture_output=True, text=True, timeout=900,
                                 stdin=subprocess.DEVNULL, env=env)
            if res.returncode != 0:
                return (f"building the {row.build} conformance function failed "
                        f"({script} exited {res.returncode}):\n{res.stdout}\n{res.stderr}")
        with open(path, "rb") as f:
            return f.read()


@pytest.fixture(scope="session")
def builds():
    return Builds()


class Functions:
    """Conformance functions, created on first use and shared by the checks of one server."""

    def __init__(self, lam, builds):
        self.lam = lam
        self.builds = builds
        self._made = {}

    def get(self, row, kind="main", **overrides):
        key = (row.id, kind)
        if key not in self._made:
            self._made[key] = self.create(row, prefix=f"conf-{row.id}-{kind}", **overrides)
        return self._made[key]

    def create(self, row, prefix, files=None, handler=None, env=None, timeout=TIMEOUT, patch=None):
        """files: deploy only these; patch: the row's zip with these entries replaced."""
        code = make_zip(files) if files is not None else self.builds.zip_for(row)
        if patch:
            code = patched_zip(code, patch)
        name = unique_name(prefix)
        self.lam.create_function(
            FunctionName=name,
            Runtime=row.runtime,
            Role=ROLE,
            Handler=handler or row.handler,
            Code={"ZipFile": code},
            MemorySize=MEMORY,
            Timeout=timeout,
            Environment={"Variables": {"CONF_VAR": CONF_VAR, **(env or {})}},
        )
        self.lam.get_waiter("function_active_v2").wait(
            FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
        )
        return name


def patched_zip(code, replace):
    """`code` (a zip) with the entries of `replace` ({path: text}) substituted; modes are kept."""
    src = zipfile.ZipFile(io.BytesIO(code))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            if info.filename not in replace:
                out.writestr(info, src.read(info.filename))
        for path, text in replace.items():
            info = zipfile.ZipInfo(path, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            out.writestr(info, text, zipfile.ZIP_DEFLATED)
    return buf.getvalue()


@pytest.fixture(scope="module")
def fns(lam, builds):
    return Functions(lam, builds)


# --------------------------------------------------------------------------- invoking


def invoke(lam, name, event, tail=True):
    """Invoke synchronously; returns (response, payload bytes, decoded tail log or None)."""
    args = dict(FunctionName=name, Payload=json.dumps(event).encode())
    if tail:
        args["LogType"] = "Tail"
    resp = lam.invoke(**args)
    payload = resp["Payload"].read()
    return resp, payload, decode_log(resp) if tail else None


def invoke_ok(lam, name, event, tail=True):
    resp, payload, log = invoke(lam, name, event, tail)
    assert resp["StatusCode"] == 200
    assert "FunctionError" not in resp, f"unexpected function error: {payload[:2000]!r}\nlog:\n{log}"
    return resp, json.loads(payload), log


def invoke_ok_with(lam, event, **kw):
    resp = lam.invoke(Payload=json.dumps(event).encode(), **kw)
    payload = resp["Payload"].read()
    assert "FunctionError" not in resp, f"unexpected function error: {payload[:2000]!r}"
    return resp, json.loads(payload), None


def invoke_fail(lam, name, event, tail=True):
    resp, payload, log = invoke(lam, name, event, tail)
    assert resp["StatusCode"] == 200
    assert resp.get("FunctionError") == "Unhandled", (
        f"expected FunctionError Unhandled, got {resp.get('FunctionError')!r}: {payload[:2000]!r}\nlog:\n{log}"
    )
    return resp, json.loads(payload), log


def request_id(resp):
    return resp["ResponseMetadata"]["RequestId"]


def assert_log_frame(log, rid):
    """START, END and REPORT for `rid`, in that order."""
    start = log.find(f"START RequestId: {rid}")
    end = log.find(f"END RequestId: {rid}")
    report = log.find(f"REPORT RequestId: {rid}")
    assert -1 < start < end < report, f"no START/END/REPORT frame for {rid}:\n{log}"
    return start, end


def assert_platform_message(err, rid):
    """Errors the platform itself reports (Runtime.*, Sandbox.*) name the request, as on Lambda."""
    if err.get("errorType", "").startswith(("Runtime.ExitError", "Runtime.InvalidEntrypoint", "Sandbox.")):
        assert err.get("errorMessage", "").startswith(f"RequestId: {rid} Error: "), err


def assert_same_environment(lam, name, token):
    """The tmp file written before still holds `token`: the environment was kept."""
    _, out, _ = invoke_ok(lam, name, {"op": "tmp"}, tail=False)
    assert out["content"] == token, "the environment was replaced"


def assert_fresh_environment(lam, name):
    _, out, _ = invoke_ok(lam, name, {"op": "count"}, tail=False)
    assert out == {"init": 1, "invocations": 1}, f"expected a fresh environment, got {out}"


# --------------------------------------------------------------------------- checks


@rows
def test_echo(lam, fns, row):
    event = {
        "op": "echo",
        "text": "héllo ☃ 🚀 \"quoted\" \\ back\nslash\ttab",
        "int": 42,
        "negative": -7,
        "float": 1.5,
        "bool": True,
        "list": [1, "two", False, {"three": [3]}],
        "nested": {"a": {"b": {"c": "deep"}}, "empty": {}, "none": []},
    }
    resp, out, _ = invoke_ok(lam, fns.get(row), event, tail=False)
    assert out == event
    assert resp["ExecutedVersion"] == "$LATEST"


@rows
def test_large_payload_near_6mb(lam, fns, row):
    data = "x" * 6_000_000
    resp, payload, _ = invoke(lam, fns.get(row), {"op": "echo", "data": data}, tail=False)
    assert "FunctionError" not in resp, payload[:2000]
    out = json.loads(payload)
    assert out["op"] == "echo" and len(out["data"]) == len(data) and out["data"] == data


@rows
def test_handled_error(lam, fns, row):
    name = fns.get(row)
    token = unique_name("keep")
    invoke_ok(lam, name, {"op": "tmp", "write": token}, tail=False)
    message = f"handled failure {token} ✗"
    _, err, log = invoke_fail(lam, name, {"op": "error", "message": message})
    assert err.get("errorType") == row.handled_type, err
    assert err.get("errorMessage") == message, err
    if row.trace_key and row.handled_has_trace:
        assert isinstance(err.get(row.trace_key), list) and err[row.trace_key], err
        assert row.frame in json.dumps(err[row.trace_key]), err
    assert "END RequestId:" in log and "REPORT RequestId:" in log, log
    if row.logs_errors:
        assert token in log, f"the error is not in the function's log:\n{log}"
    assert_same_environment(lam, name, token)


@rows
def test_unhandled_crash(lam, fns, row):
    name = fns.get(row)
    token = unique_name("keep")
    invoke_ok(lam, name, {"op": "tmp", "write": token}, tail=False)
    resp, err, log = invoke_fail(lam, name, {"op": "crash"})
    assert err.get("errorType") == row.crash_type, err
    assert err.get("errorMessage"), err
    if row.trace_key:
        assert isinstance(err.get(row.trace_key), list) and err[row.trace_key], err
        assert row.frame in json.dumps(err[row.trace_key]), err
    assert_log_frame(log, request_id(resp))
    assert (row.crash_log or row.crash_type) in log, f"the crash is not in the function's log:\n{log}"
    if row.crash_exits:
        assert_fresh_environment(lam, name)
    else:
        assert_same_environment(lam, name, token)


@rows
def test_timeout(lam, fns, row):
    name = fns.get(row, "timeout", timeout=1)
    invoke_ok(lam, name, {"op": "count"}, tail=False)  # warm: the timeout is the handler's
    resp, err, log = invoke_fail(lam, name, {"op": "sleep", "ms": 4000})
    rid = request_id(resp)
    assert err.get("errorType") == "Sandbox.Timedout", err
    assert err.get("errorMessage") == f"RequestId: {rid} Error: Task timed out after 1.00 seconds", err
    assert f"{rid} Task timed out after 1.00 seconds" in log, log
    assert re.search(rf"REPORT RequestId: {rid}.*Status: timeout", log), log
    assert_fresh_environment(lam, name)


@rows
def test_process_exit(lam, fns, row):
    name = fns.get(row, "exit")
    resp, err, log = invoke_fail(lam, name, {"op": "exit", "code": 3})
    rid = request_id(resp)
    assert err.get("errorType") == "Runtime.ExitError", err
    assert err.get("errorMessage") == f"RequestId: {rid} Error: Runtime exited with error: exit status 3", err
    assert f"REPORT RequestId: {rid}" in log, log
    assert_fresh_environment(lam, name)


@rows
def test_init_failure(lam, fns, row):
    name = fns.get(row, "initfail", env={"CONF_INIT_FAIL": "1"})
    for _ in range(2):  # init is tried again on the next invoke, and fails the same way
        resp, err, log = invoke_fail(lam, name, {"op": "count"})
        assert err.get("errorType") == row.init_type, err
        assert row.init_message in err.get("errorMessage", ""), err
        assert INIT_REASON in json.dumps(err) + log, f"the init failure's reason is neither in {err} nor in:\n{log}"
        assert re.search(r"INIT_REPORT Init Duration: \d+(\.\d+)? ms\s+Phase: init\s+Status: error", log), log
    fns.lam.update_function_configuration(
        FunctionName=name, Environment={"Variables": {"CONF_VAR": CONF_VAR}}
    )
    fns.lam.get_waiter("function_updated_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )
    assert_fresh_environment(lam, name)


EXIT_AT_INIT = [pytest.param(r, id=r.id) for r in RUNTIMES if r.init_type == "Runtime.ExitError"]


@pytest.mark.parametrize("row", EXIT_AT_INIT)
def test_exit_during_init_names_the_request(lam, fns, row):
    """Like every error the platform makes, a runtime exit during init names the request."""
    name = fns.get(row, "initexit", env={"CONF_INIT_FAIL": "1"})
    resp, err, _ = invoke_fail(lam, name, {"op": "count"}, tail=False)
    assert err.get("errorType") == "Runtime.ExitError", err
    assert err.get("errorMessage") == f"RequestId: {request_id(resp)} Error: {row.init_message}", err


ENV_NAMES = [
    "CONF_VAR", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_EXECUTION_ENV", "AWS_LAMBDA_RUNTIME_API", "_HANDLER",
    "LAMBDA_TASK_ROOT", "TZ", "AWS_LAMBDA_INITIALIZATION_TYPE", "CONF_NOT_SET",
]


@rows
def test_environment_variables(lam, fns, row):
    name = fns.get(row)
    _, out, _ = invoke_ok(lam, name, {"op": "env", "names": ENV_NAMES}, tail=False)
    env = out["env"]
    assert env.get("CONF_VAR") == CONF_VAR
    assert env.get("AWS_LAMBDA_FUNCTION_NAME") == name
    assert env.get("AWS_LAMBDA_FUNCTION_VERSION") == "$LATEST"
    assert env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") == str(MEMORY)
    assert env.get("AWS_LAMBDA_LOG_GROUP_NAME") == f"/aws/lambda/{name}"
    assert env.get("AWS_LAMBDA_LOG_STREAM_NAME")
    assert env.get("AWS_REGION") == "us-east-1" and env.get("AWS_DEFAULT_REGION") == "us-east-1"
    assert env.get("AWS_EXECUTION_ENV") == (None if row.provided else f"AWS_Lambda_{row.runtime}")
    assert re.fullmatch(r"[0-9a-z.\[\]:-]+:\d+", env.get("AWS_LAMBDA_RUNTIME_API") or ""), env
    assert env.get("_HANDLER") == row.handler
    assert env.get("LAMBDA_TASK_ROOT") == "/var/task"
    assert env.get("TZ") == ":UTC"
    assert env.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "on-demand"
    assert env.get("CONF_NOT_SET") is None


@rows
def test_context_fields(lam, fns, row):
    name = fns.get(row)
    resp, ctx, _ = invoke_ok(lam, name, {"op": "context"}, tail=False)
    assert ctx["request_id"] == request_id(resp)
    assert ctx["function_name"] == name
    assert ctx["function_version"] == "$LATEST"
    assert ctx["memory_limit_in_mb"] == MEMORY
    assert ctx["invoked_function_arn"] == function_arn(name)
    assert ctx["log_group_name"] == f"/aws/lambda/{name}"
    _, env, _ = invoke_ok(lam, name, {"op": "env", "names": ["AWS_LAMBDA_LOG_STREAM_NAME"]}, tail=False)
    assert ctx["log_stream_name"] and ctx["log_stream_name"] == env["env"]["AWS_LAMBDA_LOG_STREAM_NAME"]
    first, second = ctx["remaining_ms"]
    assert 0 < second < first <= TIMEOUT * 1000, ctx["remaining_ms"]
    # invoked by ARN: the context carries the ARN the caller used
    resp, ctx2, _ = invoke_ok(lam, function_arn(name), {"op": "context"}, tail=False)
    assert ctx2["invoked_function_arn"] == function_arn(name)
    assert ctx2["request_id"] == request_id(resp) != ctx["request_id"]


@rows
def test_context_carries_the_qualified_arn_the_caller_used(lam, fns, row):
    name = fns.get(row)
    for kw in ({"FunctionName": name, "Qualifier": "$LATEST"}, {"FunctionName": f"{name}:$LATEST"}):
        _, ctx, _ = invoke_ok_with(lam, {"op": "context"}, **kw)
        assert ctx["invoked_function_arn"] == function_arn(name) + ":$LATEST", kw


@rows
def test_logs_in_order_with_start_end_report(lam, fns, row):
    name = fns.get(row)
    token = unique_name("log")
    lines = [f"conformance line {i} {token} ✓ é 🚀" for i in range(1, 6)]
    resp, out, log = invoke_ok(lam, name, {"op": "log", "lines": lines, "stderr": f"conformance stderr {token}"})
    assert out == {"logged": len(lines)}
    start, end = assert_log_frame(log, request_id(resp))
    positions = [log.find(text) for text in lines + [f"conformance stderr {token}"]]
    assert all(start < p < end for p in positions), f"lines missing or outside START..END:\n{log}"
    assert positions == sorted(positions), f"lines out of order:\n{log}"


@pytest.fixture(scope="module")
def logs(server):
    return boto3.client(
        "logs", endpoint_url=server.url, region_name=REGION, aws_access_key_id=TEST_KEY,
        aws_secret_access_key=TEST_SECRET, config=Config(retries={"total_max_attempts": 1}),
    )


@rows
def test_stored_logs_in_order_with_start_end_report(lam, logs, fns, row):
    """The same lines, read back from the log store with FilterLogEvents."""
    name = fns.get(row)
    token = unique_name("stored")
    lines = [f"stored line {i} {token} ✓" for i in range(1, 4)]
    resp, _, _ = invoke_ok(lam, name, {"op": "log", "lines": lines, "stderr": f"stored stderr {token}"},
                           tail=False)
    rid = request_id(resp)

    def messages():
        events, kw = [], {"logGroupName": f"/aws/lambda/{name}"}
        while True:
            page = logs.filter_log_events(**kw)
            events += page["events"]
            if not page.get("nextToken"):
                break
            kw["nextToken"] = page["nextToken"]
        text = [e["message"].rstrip("\n") for e in events]
        return text if any(m.startswith(f"REPORT RequestId: {rid}") for m in text) else None

    text = "\n".join(wait_until(messages, timeout=15, interval=0.1, what=f"REPORT {rid} in the log store"))
    start, end = assert_log_frame(text, rid)
    positions = [text.find(t) for t in lines + [f"stored stderr {token}"]]
    assert all(start < p < end for p in positions), f"lines missing or outside START..END:\n{text}"
    assert positions == sorted(positions), f"lines out of order:\n{text}"


@rows
def test_tmp_is_writable_and_kept_between_warm_invokes(lam, fns, row):
    name = fns.get(row)
    token = unique_name("tmp")
    _, out, _ = invoke_ok(lam, name, {"op": "tmp", "write": token}, tail=False)
    assert out == {"content": token}
    _, out, _ = invoke_ok(lam, name, {"op": "tmp"}, tail=False)
    assert out == {"content": token}


@rows
def test_static_init_runs_once_per_environment(lam, fns, row):
    name = fns.get(row, "count")
    resp1, first, log1 = invoke_ok(lam, name, {"op": "count"})
    resp2, second, log2 = invoke_ok(lam, name, {"op": "count"})
    assert first == {"init": 1, "invocations": 1}
    assert second == {"init": 1, "invocations": 2}, "static state was not kept between warm invokes"
    assert re.search(rf"REPORT RequestId: {request_id(resp1)}.*Init Duration: \d+(\.\d+)? ms", log1), log1
    assert "Init Duration" not in log2, log2


@pytest.mark.parametrize("row,case", LOAD_CASES)
def test_handler_cannot_be_loaded(lam, fns, row, case):
    name = fns.create(row, f"conf-{row.id}-load", files=case.files, handler=case.handler)
    for _ in range(2):
        resp, err, _ = invoke_fail(lam, name, {"op": "count"})
        assert_platform_message(err, request_id(resp))
        if case.error_type is None:
            assert "errorType" not in err, err
        else:
            assert err.get("errorType") == case.error_type, err
        assert case.message in err.get("errorMessage", ""), err


# The real awslambdaric is the reference for Kumo's own Python bootstrap: the same function, the
# same failure, the same error document (request ids aside).
RIC_CASES = {
    "handled-error": ({}, {"op": "error", "message": "same ✓"}),
    "crash": ({}, {"op": "crash"}),
    "init-failure": ({"env": {"CONF_INIT_FAIL": "1"}}, {"op": "count"}),
    "missing-module": ({"handler": "nomodule.handler"}, {"op": "count"}),
    "missing-handler": ({"handler": "app.nothere"}, {"op": "count"}),
    "malformed-handler": ({"handler": "nodot"}, {"op": "count"}),
    "syntax-error": ({"patch": {"app.py": "def handler(event, context:\n    return 1\n"}}, {"op": "count"}),
    "import-error-inside": ({"patch": {"app.py": "import not_a_module_anywhere\n"}}, {"op": "count"}),
}


@pytest.mark.parametrize("case", list(RIC_CASES))
def test_python_bootstrap_reports_what_awslambdaric_reports(lam, fns, case):
    spec, event = RIC_CASES[case]
    docs = {}
    for row in (r for r in RUNTIMES if r.id in ("python", "awslambdaric")):
        name = fns.create(row, f"ric-{row.id}-{case}", **spec)
        _, err, _ = invoke_fail(lam, name, event, tail=False)
        err.pop("requestId", None)
        docs[row.id] = err
    assert docs["python"] == docs["awslambdaric"]


def test_python_bootstrap_logs_what_awslambdaric_logs(lam, fns):
    """print, stderr and the root logger's lines between START and END, ids and times masked."""
    event = {"op": "log", "lines": ["plain ✓", "two\nlines"], "stderr": "to stderr", "logging": "warned ✓"}
    logs = {}
    for row in (r for r in RUNTIMES if r.id in ("python", "awslambdaric")):
        resp, _, log = invoke_ok(lam, fns.get(row), event)
        rid = request_id(resp)
        start, end = assert_log_frame(log, rid)
        body = log[log.index("\n", start) + 1:end].replace(rid, "<request-id>")
        logs[row.id] = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", "<time>", body)
    assert "warned ✓" in logs["awslambdaric"], logs
    assert logs["python"] == logs["awslambdaric"]


# --------------------------------------------------------------------------- examples


@dataclasses.dataclass(frozen=True)
class Example:
    id: str
    dir: str  # under examples/
    runtime: str
    handler: str
    expect: dict  # subset of the answer to {"name": "Ada"}
    build: bool = False  # has a build.sh writing build/, which is what gets deployed


EXAMPLES = [
    Example("python", "python/hello", "python3.11", "app.handler", {"message": "hello Ada"}),
    Example("node", "node/hello", "nodejs20.x", "index.handler", {"message": "hello Ada"}),
    Example("java", "java/hello", "java17", "example.Hello::handleRequest",
            {"message": "Hello, Ada!"}, build=True),
    Example("dotnet", "dotnet/hello", "dotnet8", "Hello::Hello.Function::FunctionHandler",
            {"Message": "Hello, Ada!"}, build=True),
    Example("go", "go/hello", "provided.al2023", "bootstrap", {"message": "Hello, Ada!"}, build=True),
    Example("go1.x", "go/hello", "go1.x", "bootstrap", {"message": "Hello, Ada!"}, build=True),
    Example("provided", "provided/hello", "provided.al2023", "function.handler",
            {"message": "Hello from bash!", "event": {"name": "Ada"}}),
    Example("rust", "rust/hello", "provided.al2023", "bootstrap", {"message": "Hello, Ada!"}, build=True),
]

_example_builds = {}


@pytest.mark.parametrize("ex", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_example_hello_deploys_and_answers(server, ex):
    """The flow of examples/<runtime>/hello/README.md: build, `kumo deploy`, `kumo invoke`."""
    src = os.path.join(REPO_ROOT, "examples", ex.dir)
    target = src
    if ex.build:
        target = os.path.join(src, "build")
        if ex.dir not in _example_builds:
            env = dict(os.environ, CARGO_TARGET_DIR=os.path.join(REPO_ROOT, "target", "conformance"))
            res = subprocess.run([os.path.join(src, "build.sh")], capture_output=True, text=True,
                                 timeout=900, env=env, stdin=subprocess.DEVNULL)
            _example_builds[ex.dir] = res
        res = _example_builds[ex.dir]
        assert res.returncode == 0, f"examples/{ex.dir}/build.sh failed:\n{res.stdout}\n{res.stderr}"
    name = unique_name(f"hello-{ex.id.replace('.', '')}")
    res = kumo("deploy", target, "--name", name, "--runtime", ex.runtime, "--handler", ex.handler,
               "--endpoint", server.url)
    assert res.returncode == 0, f"kumo deploy failed:\n{res.stdout}\n{res.stderr}"
    res = kumo("invoke", name, "--payload", '{"name":"Ada"}', "--endpoint", server.url)
    assert res.returncode == 0, f"kumo invoke failed:\n{res.stdout}\n{res.stderr}"
    out = json.loads(res.stdout)
    assert {k: out.get(k) for k in ex.expect} == ex.expect, out


def test_go_runtime_package_tests():
    """runtimes/go's own tests (handler signatures against an in-process Runtime API, event shapes)."""
    go = shutil.which("go")
    assert go, "missing 'go': install the Debian package golang-go"
    env = dict(os.environ, GOPROXY="off", GOFLAGS="-mod=mod", CGO_ENABLED="0")
    res = subprocess.run([go, "test", "./..."], cwd=os.path.join(REPO_ROOT, "runtimes", "go"),
                         capture_output=True, text=True, timeout=600, env=env, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, f"go test failed:\n{res.stdout}\n{res.stderr}"


def test_missing_toolchain_fails_naming_the_debian_package(tmp_path):
    """A build without its toolchain fails loudly with the package to install, never skips."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "basename", "mkdir"):
        os.symlink(shutil.which(tool), bin_dir / tool)
    res = subprocess.run(["/bin/bash", os.path.join(CONF_DIR, "go", "build.sh"), str(tmp_path / "go.zip")],
                         capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                         env={"PATH": str(bin_dir), "CONFORMANCE_WORK": str(tmp_path / "work")})
    assert res.returncode == 3, (res.returncode, res.stdout, res.stderr)
    assert "missing 'go': install the Debian package golang-go" in res.stderr
    assert not (tmp_path / "go.zip").exists()
