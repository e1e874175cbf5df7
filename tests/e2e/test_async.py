"""Asynchronous invokes (InvocationType Event): queueing, retries, destinations, dead letters,
concurrency limits and crash safety, driven with boto3 and the `kumo` CLI.

The functions here record every attempt by appending a line to a file in a directory the test
owns (passed in the event). Sandboxed environments cannot see the host's files, so these servers
run with `--insecure-no-sandbox`: the queue, retries and limits under test are the same either
way, and a file append is an exact, crash-proof count of how often a function ran.
"""

import json
import os
import stat
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

import funcs
import testutil
from testutil import (
    ROLE,
    KumoServer,
    aws_json,
    error_code,
    function_arn,
    http_status,
    kumo,
    lambda_client,
    make_zip,
    signed_request,
    unique_name,
    wait_until,
)

# Short retry delays so that three attempts take well under a second; Lambda's are 1 and 2 min.
ASYNC_CONFIG = testutil.DEFAULT_CONFIG + """
[events]
retry_delay_ms = 200
throttle_delay_ms = 50
throttle_max_delay_ms = 500
"""

# Every attempt appends {"rid", "n"} to <sink>/attempts; "mode" decides how it ends.
WORKER = r'''
import fcntl
import json
import os
import time


def _append(path, record):
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def _track(sink, delta):
    """Counts handlers running right now (under a file lock) and keeps the maximum seen."""
    with open(os.path.join(sink, "running"), "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        text = f.read().split()
        now, peak = (int(text[0]), int(text[1])) if text else (0, 0)
        now += delta
        peak = max(peak, now)
        f.seek(0)
        f.truncate()
        f.write(f"{now} {peak}")
        f.flush()
        fcntl.flock(f, fcntl.LOCK_UN)


def handler(event, context):
    sink = event["sink"]
    rid = context.aws_request_id
    _append(os.path.join(sink, "attempts"), {"rid": rid, "n": event.get("n")})
    mode = event.get("mode", "ok")
    if mode == "fail":
        raise RuntimeError("always fails")
    if mode == "fail_twice":
        with open(os.path.join(sink, "attempts")) as f:
            mine = sum(1 for line in f if json.loads(line)["rid"] == rid)
        if mine <= 2:
            raise RuntimeError(f"attempt {mine} fails")
    if mode == "track":
        _track(sink, 1)
        try:
            time.sleep(event.get("secs", 0))
        finally:
            _track(sink, -1)
    if mode == "sleep":
        time.sleep(event.get("secs", 0))
    return {"done": event.get("n"), "rid": rid}
'''

# A destination: appends every event it receives to <SINK>/received.
RECEIVER = r'''
import json
import os

SINK = os.environ["SINK"]


def handler(event, context):
    with open(os.path.join(SINK, "received"), "a") as f:
        f.write(json.dumps(event) + "\n")
    return {}
'''


def insecure_start(srv):
    """Starts `srv` with --insecure-no-sandbox (through a wrapper around the real binary)."""
    real = testutil.kumo_bin()
    os.makedirs(srv.log_dir, exist_ok=True)
    wrapper = os.path.join(srv.log_dir, "kumo-insecure")
    with open(wrapper, "w") as f:
        f.write(f'#!/bin/sh\nexec "{real}" "$@" --insecure-no-sandbox\n')
    os.chmod(wrapper, os.stat(wrapper).st_mode | stat.S_IEXEC)
    saved = os.environ.get("KUMO_BIN")
    os.environ["KUMO_BIN"] = wrapper
    try:
        return srv.start()
    finally:
        if saved is None:
            os.environ.pop("KUMO_BIN", None)
        else:
            os.environ["KUMO_BIN"] = saved


@pytest.fixture(scope="module")
def server(tmp_path_factory, kumo_binary):
    base = tmp_path_factory.mktemp("kumo-async")
    srv = insecure_start(KumoServer(base / "data", config_text=ASYNC_CONFIG, log_dir=base))
    yield srv
    srv.stop()


def lines(path):
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def create(lam, code, name=None, env=None, **kw):
    name = name or unique_name("async")
    lam.create_function(
        FunctionName=name, Runtime=funcs.PY, Role=ROLE, Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": code})},
        Environment={"Variables": env or {}}, **kw,
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    return name


@pytest.fixture
def sink(tmp_path):
    d = tmp_path / "sink"
    d.mkdir()
    os.chmod(d, 0o777)
    return str(d)


@pytest.fixture
def receiver(lam, tmp_path):
    """A destination function and the file where it records what it receives."""
    d = tmp_path / "received"
    d.mkdir()
    name = create(lam, RECEIVER, env={"SINK": str(d)})
    return name, str(d / "received")


def send(lam, name, event):
    resp = lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps(event).encode())
    assert resp["StatusCode"] == 202
    assert resp["Payload"].read() == b""
    rid = resp["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    assert rid
    return rid


def test_event_invoke_answers_202_and_runs_once(lam, sink, receiver):
    dest, received = receiver
    name = create(lam, WORKER)
    lam.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": function_arn(dest)}})
    event = {"sink": sink, "n": 1}
    rid = send(lam, name, event)
    # The success record is written only once the event has ended; nothing runs it after that.
    rec = wait_until(lambda: lines(received), 60, what="the on-success record")[0]
    assert rec["version"] == "1.0"
    assert rec["requestContext"] == {
        "requestId": rid, "functionArn": function_arn(name) + ":$LATEST",
        "condition": "Success", "approximateInvokeCount": 1,
    }
    assert rec["requestPayload"] == event
    assert rec["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert rec["responsePayload"] == {"done": 1, "rid": rid}
    assert rec["timestamp"].endswith("Z")
    assert [a["rid"] for a in lines(os.path.join(sink, "attempts"))] == [rid]


def test_failing_twice_then_succeeding_runs_three_times(lam, sink, receiver):
    dest, received = receiver
    name = create(lam, WORKER)
    lam.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": function_arn(dest)}})
    rid = send(lam, name, {"sink": sink, "mode": "fail_twice"})
    rec = wait_until(lambda: lines(received), 60, what="the on-success record")[0]
    assert rec["requestContext"]["condition"] == "Success"
    assert rec["requestContext"]["approximateInvokeCount"] == 3
    # The same request id on every attempt, as Lambda does.
    assert [a["rid"] for a in lines(os.path.join(sink, "attempts"))] == [rid] * 3


def test_always_failing_event_reaches_the_failure_destination_and_dead_letters(lam, sink, receiver):
    dest, received = receiver
    name = create(lam, WORKER)
    cfg = lam.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnFailure": {"Destination": function_arn(dest)}})
    assert cfg["DestinationConfig"]["OnFailure"]["Destination"] == function_arn(dest)
    event = {"sink": sink, "mode": "fail", "n": 7}
    rid = send(lam, name, event)
    rec = wait_until(lambda: lines(received), 60, what="the on-failure record")[0]
    assert rec["version"] == "1.0"
    assert rec["requestContext"] == {
        "requestId": rid, "functionArn": function_arn(name) + ":$LATEST",
        "condition": "RetriesExhausted", "approximateInvokeCount": 3,
    }
    assert rec["requestPayload"] == event
    assert rec["responseContext"] == {
        "statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert rec["responsePayload"]["errorMessage"] == "always fails"
    assert rec["responsePayload"]["errorType"] == "RuntimeError"
    assert [a["rid"] for a in lines(os.path.join(sink, "attempts"))] == [rid] * 3

    # The built-in dead-letter store has it too; replay queues it again as a new event.
    env_url = ["--endpoint", lam.meta.endpoint_url]
    listed = kumo("dlq", "list", name, "--json", *env_url)
    assert listed.returncode == 0, listed.stderr
    letters = json.loads(listed.stdout)["DeadLetters"]
    assert [d["RequestId"] for d in letters] == [rid]
    assert json.loads(letters[0]["Payload"]) == event
    assert letters[0]["Record"]["requestContext"]["condition"] == "RetriesExhausted"
    human = kumo("dlq", "list", name, *env_url)
    assert rid in human.stdout and "RetriesExhausted after 3 attempt(s)" in human.stdout
    replayed = kumo("dlq", "replay", name, *env_url)
    assert replayed.returncode == 0, replayed.stderr
    assert "re-queued 1 event(s)" in replayed.stdout
    second = wait_until(lambda: lines(received)[1:], 60, what="the replayed event's failure record")[0]
    assert second["requestPayload"] == event
    assert second["requestContext"]["requestId"] != rid
    assert len(lines(os.path.join(sink, "attempts"))) == 6
    again = json.loads(kumo("dlq", "list", name, "--json", *env_url).stdout)["DeadLetters"]
    assert [d["RequestId"] for d in again] == [second["requestContext"]["requestId"]]


def test_maximum_retry_attempts_zero_attempts_once(lam, sink, receiver):
    dest, received = receiver
    name = create(lam, WORKER)
    lam.put_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": function_arn(dest)}})
    rid = send(lam, name, {"sink": sink, "mode": "fail"})
    rec = wait_until(lambda: lines(received), 60, what="the on-failure record")[0]
    assert rec["requestContext"]["approximateInvokeCount"] == 1
    assert rec["requestContext"]["condition"] == "RetriesExhausted"
    assert [a["rid"] for a in lines(os.path.join(sink, "attempts"))] == [rid]


def test_dead_letter_config_target_function_receives_the_original_event(lam, sink, receiver):
    dest, received = receiver
    name = create(lam, WORKER, DeadLetterConfig={"TargetArn": function_arn(dest)})
    conf = lam.get_function_configuration(FunctionName=name)
    assert conf["DeadLetterConfig"] == {"TargetArn": function_arn(dest)}
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    event = {"sink": sink, "mode": "fail", "n": 3}
    send(lam, name, event)
    assert wait_until(lambda: lines(received), 60, what="the dead-lettered event")[0] == event
    # UpdateFunctionConfiguration with an empty TargetArn removes it.
    lam.update_function_configuration(FunctionName=name, DeadLetterConfig={"TargetArn": ""})
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    assert "DeadLetterConfig" not in lam.get_function(FunctionName=name)["Configuration"]


def test_bad_dead_letter_targets_are_refused_and_change_nothing(lam, lam_raw):
    name = create(lam, WORKER)
    with pytest.raises(ClientError) as ei:
        lam.update_function_configuration(
            FunctionName=name, DeadLetterConfig={"TargetArn": "arn:aws:sqs:us-east-1:123456789012:q"})
    assert error_code(ei.value) == "InvalidParameterValueException"
    conf = lam.get_function_configuration(FunctionName=name)
    assert "DeadLetterConfig" not in conf
    with pytest.raises(ClientError) as ei:
        create(lam, WORKER, DeadLetterConfig={"TargetArn": "arn:aws:sns:us-east-1:123456789012:t"})
    assert error_code(ei.value) == "InvalidParameterValueException"


def test_event_invoke_config_operations(lam, lam_raw, receiver):
    dest, _ = receiver
    name = create(lam, WORKER)
    arn = function_arn(name)
    with pytest.raises(ClientError) as ei:
        lam.get_function_event_invoke_config(FunctionName=name)
    assert error_code(ei.value) == "ResourceNotFoundException"
    assert lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"] == []
    with pytest.raises(ClientError) as ei:
        lam.update_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1)
    assert error_code(ei.value) == "ResourceNotFoundException"

    put = lam.put_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=1, MaximumEventAgeInSeconds=600,
        DestinationConfig={"OnSuccess": {"Destination": function_arn(dest)}})
    assert put["FunctionArn"] == arn + ":$LATEST"
    assert put["MaximumRetryAttempts"] == 1 and put["MaximumEventAgeInSeconds"] == 600
    assert put["DestinationConfig"] == {"OnSuccess": {"Destination": function_arn(dest)}, "OnFailure": {}}
    assert abs(put["LastModified"].timestamp() - time.time()) < 300

    # Update merges; Put replaces.
    upd = lam.update_function_event_invoke_config(
        FunctionName=arn, DestinationConfig={"OnFailure": {"Destination": function_arn(dest)}})
    assert upd["MaximumRetryAttempts"] == 1 and upd["MaximumEventAgeInSeconds"] == 600
    assert upd["DestinationConfig"]["OnSuccess"] == {"Destination": function_arn(dest)}
    assert upd["DestinationConfig"]["OnFailure"] == {"Destination": function_arn(dest)}
    got = lam.get_function_event_invoke_config(FunctionName=name, Qualifier="$LATEST")
    assert got["DestinationConfig"] == upd["DestinationConfig"]
    listed = lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]
    assert [c["FunctionArn"] for c in listed] == [arn + ":$LATEST"]
    replaced = lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    assert "MaximumEventAgeInSeconds" not in replaced
    assert replaced["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {}}

    # Bad input: a clear error and nothing changes.
    bad = [
        (dict(MaximumRetryAttempts=3), "ValidationException"),
        (dict(MaximumRetryAttempts=-1), "ValidationException"),
        (dict(MaximumEventAgeInSeconds=59), "ValidationException"),
        (dict(MaximumEventAgeInSeconds=21601), "ValidationException"),
        (dict(DestinationConfig={"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:123456789012:q"}}),
         "InvalidParameterValueException"),
        (dict(DestinationConfig={"OnSuccess": {"Destination": "arn:aws:lambda:eu-west-1:123456789012:function:x"}}),
         "InvalidParameterValueException"),
    ]
    for kw, code in bad:
        for op in (lam_raw.put_function_event_invoke_config, lam_raw.update_function_event_invoke_config):
            with pytest.raises(ClientError) as ei:
                op(FunctionName=name, **kw)
            assert error_code(ei.value) == code, kw
            assert http_status(ei.value) == 400
    def without_meta(d):
        return {k: v for k, v in d.items() if k != "ResponseMetadata"}

    assert without_meta(lam.get_function_event_invoke_config(FunctionName=name)) == without_meta(replaced)

    ghost = unique_name("ghost")
    for op in (lam.get_function_event_invoke_config, lam.delete_function_event_invoke_config,
               lam.list_function_event_invoke_configs):
        with pytest.raises(ClientError) as ei:
            op(FunctionName=ghost)
        assert error_code(ei.value) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as ei:
        lam.put_function_event_invoke_config(FunctionName=ghost, MaximumRetryAttempts=0)
    assert error_code(ei.value) == "ResourceNotFoundException"

    lam.delete_function_event_invoke_config(FunctionName=name)
    with pytest.raises(ClientError) as ei:
        lam.delete_function_event_invoke_config(FunctionName=name)
    assert error_code(ei.value) == "ResourceNotFoundException"

    # The configuration follows its function.
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    lam.delete_function(FunctionName=name)
    name2 = create(lam, WORKER, name=name)
    with pytest.raises(ClientError) as ei:
        lam.get_function_event_invoke_config(FunctionName=name2)
    assert error_code(ei.value) == "ResourceNotFoundException"


def test_async_payload_limit_is_one_megabyte(lam, sink):
    name = create(lam, WORKER)
    limit = 1024 * 1024
    over = ('"' + "x" * (limit - 1) + '"').encode()
    with pytest.raises(ClientError) as ei:
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=over)
    assert error_code(ei.value) == "RequestEntityTooLargeException"
    assert http_status(ei.value) == 413
    assert f"{limit + 1} byte payload is too large for the Event invocation type" in str(ei.value)
    with pytest.raises(ClientError) as ei:
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{not json")
    assert error_code(ei.value) == "InvalidRequestContentException"
    with pytest.raises(ClientError) as ei:
        lam.invoke(FunctionName=unique_name("ghost"), InvocationType="Event", Payload=b"{}")
    assert error_code(ei.value) == "ResourceNotFoundException"
    # Just under the limit is accepted and runs.
    pad = limit - len(json.dumps({"sink": sink, "pad": ""}))
    rid = send(lam, name, {"sink": sink, "pad": "y" * pad})
    wait_until(lambda: [a for a in lines(os.path.join(sink, "attempts")) if a["rid"] == rid], 60,
               what="the largest accepted event to run")


def test_burst_of_2000_events_respects_reserved_concurrency_and_loses_nothing(lam, sink):
    name = create(lam, WORKER, Timeout=30)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=2)
    total = 2000
    sent = []
    lock = threading.Lock()

    def one(n):
        rid = send(lam, name, {"sink": sink, "n": n, "mode": "track", "secs": 0.001})
        with lock:
            sent.append(rid)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, range(total)))
    assert len(set(sent)) == total

    def done():
        seen = lines(os.path.join(sink, "attempts"))
        return len(seen) >= total and seen

    seen = wait_until(done, 600, interval=0.5, what=f"{total} events to run")
    assert sorted(a["n"] for a in seen) == list(range(total)), "lost or repeated events"
    assert sorted(a["rid"] for a in seen) == sorted(sent)
    with open(os.path.join(sink, "running")) as f:
        running, peak = map(int, f.read().split())
    assert running == 0
    assert 1 <= peak <= 2, f"{peak} handlers ran at once with reserved concurrency 2"


def test_kill_9_with_events_queued_and_running_loses_none(tmp_path, kumo_binary):
    base = tmp_path / "kill"
    srv = insecure_start(KumoServer(base / "data", config_text=ASYNC_CONFIG, log_dir=base))
    sink = tmp_path / "sink"
    sink.mkdir()
    sink = str(sink)
    total, reserved = 300, 4
    try:
        lam = lambda_client(srv.url, pool=16)
        name = create(lam, WORKER, Timeout=30)
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=reserved)
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda n: send(lam, name, {"sink": sink, "n": n, "mode": "sleep", "secs": 0.05}),
                          range(total)))
        # Some have run, most are still queued, up to `reserved` are running.
        wait_until(lambda: len(lines(os.path.join(sink, "attempts"))) >= 20, 120, what="some events to run")
        srv.kill()
        before = lines(os.path.join(sink, "attempts"))
        assert len(before) < total, "every event ran before the kill; the test proves nothing"
        insecure_start(srv)

        def all_ran():
            seen = lines(os.path.join(sink, "attempts"))
            return len({a["n"] for a in seen}) == total and seen

        seen = wait_until(all_ran, 300, interval=0.5, what="every accepted event to run after the restart")
        counts = {}
        for a in seen:
            counts[a["n"]] = counts.get(a["n"], 0) + 1
        assert set(counts) == set(range(total))
        repeated = [n for n, c in counts.items() if c > 1]
        # Only events that were running at the kill may run twice.
        assert len(repeated) <= reserved, f"{len(repeated)} events ran twice: {repeated}"
        assert all(counts[n] == 2 for n in repeated)
    finally:
        srv.stop()


def test_event_invoke_of_a_sandboxed_server_runs(tmp_path, kumo_binary):
    """The default (sandboxed) server runs queued events too; seen through a success destination
    that fails on purpose, so that its own failure lands in the dead-letter store we can read."""
    srv = KumoServer(tmp_path / "data", config_text=ASYNC_CONFIG, log_dir=tmp_path).start()
    try:
        lam = lambda_client(srv.url)
        echo = create(lam, "def handler(event, context):\n    return {'echo': event, 'rid': context.aws_request_id}\n")
        probe = create(lam, "def handler(event, context):\n    raise ValueError('recorded')\n")
        lam.put_function_event_invoke_config(
            FunctionName=echo, DestinationConfig={"OnSuccess": {"Destination": function_arn(probe)}})
        lam.put_function_event_invoke_config(FunctionName=probe, MaximumRetryAttempts=0)
        resp = lam.invoke(FunctionName=echo, InvocationType="Event", Payload=b'{"hello": "sandbox"}')
        assert resp["StatusCode"] == 202
        rid = resp["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]

        def letters():
            out = kumo("dlq", "list", probe, "--json", "--endpoint", srv.url)
            return out.returncode == 0 and json.loads(out.stdout)["DeadLetters"]

        letter = wait_until(letters, 60, interval=0.3, what="the probe's dead letter")[0]
        record = json.loads(letter["Payload"])
        assert record["requestContext"]["requestId"] == rid
        assert record["responsePayload"] == {"echo": {"hello": "sandbox"}, "rid": rid}
    finally:
        srv.stop()


def test_queue_depth_and_oldest_event_age_are_in_metrics(server, lam, sink):
    name = create(lam, WORKER)
    # Reserved concurrency 0: every attempt is throttled, so the events stay queued.
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    for n in range(5):
        send(lam, name, {"sink": sink, "n": n})

    def scrape():
        with urllib.request.urlopen(signed_request(server.url + "/metrics"), timeout=10) as r:
            text = r.read().decode()
        found = {}
        for line in text.splitlines():
            for family in ("kumo_async_queue_depth", "kumo_async_oldest_event_age_seconds"):
                if line.startswith(f'{family}{{function="{name}"}}'):
                    found[family] = float(line.split()[-1])
        return found

    found = wait_until(lambda: scrape().get("kumo_async_queue_depth") == 5 and scrape(), 30, interval=0.3,
                       what="the queue gauges of the function")
    assert found["kumo_async_oldest_event_age_seconds"] >= 0
    assert lines(os.path.join(sink, "attempts")) == []
    # Deleting the function drops its queue, and its gauges go with it.
    lam.delete_function(FunctionName=name)
    wait_until(lambda: scrape() == {}, 30, interval=0.3, what="the gauges of the deleted function to go")


def test_throttled_event_fails_with_event_age_exceeded(lam, sink, receiver):
    """Throttles are retried until MaximumEventAgeInSeconds (60 s at least), then the event fails."""
    dest, received = receiver
    name = create(lam, WORKER)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    lam.put_function_event_invoke_config(
        FunctionName=name, MaximumEventAgeInSeconds=60,
        DestinationConfig={"OnFailure": {"Destination": function_arn(dest)}})
    event = {"sink": sink, "n": 1}
    rid = send(lam, name, event)
    rec = wait_until(lambda: lines(received), 120, interval=0.5, what="the EventAgeExceeded record")[0]
    assert rec["requestContext"]["requestId"] == rid
    assert rec["requestContext"]["condition"] == "EventAgeExceeded"
    assert rec["requestContext"]["approximateInvokeCount"] == 0
    assert rec["requestPayload"] == event
    assert rec["responseContext"]["statusCode"] == 429
    assert lines(os.path.join(sink, "attempts")) == []


def test_deprecated_invoke_async_queues_the_event(lam, sink):
    name = create(lam, WORKER)
    resp = lam.invoke_async(FunctionName=name, InvokeArgs=json.dumps({"sink": sink, "n": 42}).encode())
    assert resp["Status"] == 202
    rid = resp["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    got = wait_until(lambda: lines(os.path.join(sink, "attempts")), 60, what="the InvokeAsync event to run")
    assert got == [{"rid": rid, "n": 42}]
    limit = 256 * 1024
    with pytest.raises(ClientError) as ei:
        lam.invoke_async(FunctionName=name, InvokeArgs=('"' + "x" * (limit - 1) + '"').encode())
    assert error_code(ei.value) == "RequestEntityTooLargeException"
    assert http_status(ei.value) == 413
    with pytest.raises(ClientError) as ei:
        lam.invoke_async(FunctionName=unique_name("ghost"), InvokeArgs=b"{}")
    assert error_code(ei.value) == "ResourceNotFoundException"


def test_events_max_concurrency_caps_async_invocations_over_all_functions(tmp_path, kumo_binary):
    base = tmp_path / "capped"
    config = ASYNC_CONFIG + "max_concurrency = 3\n"
    srv = insecure_start(KumoServer(base / "data", config_text=config, log_dir=base))
    sink = tmp_path / "sink"
    sink.mkdir()
    sink = str(sink)
    try:
        lam = lambda_client(srv.url, pool=16)
        names = [create(lam, WORKER), create(lam, WORKER)]
        jobs = [(names[n % 2], n) for n in range(60)]
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda j: send(lam, j[0], {"sink": sink, "n": j[1], "mode": "track", "secs": 0.05}),
                          jobs))
        seen = wait_until(lambda: len(lines(os.path.join(sink, "attempts"))) >= 60 and
                          lines(os.path.join(sink, "attempts")), 120, interval=0.3, what="60 events to run")
        assert sorted(a["n"] for a in seen) == list(range(60))
        def counters():
            with open(os.path.join(sink, "running")) as f:
                return tuple(map(int, f.read().split()))

        # The last handlers may still be in their sleep when their attempt line is written.
        running, peak = wait_until(lambda: counters()[0] == 0 and counters(), 30,
                                   what="every handler to finish")
        assert running == 0
        assert 2 <= peak <= 3, f"{peak} async invocations ran at once with events.max_concurrency = 3"
    finally:
        srv.stop()


def test_aws_cli_event_invoke_and_event_invoke_config(server, lam, sink, receiver, tmp_path):
    dest, received = receiver
    name = create(lam, WORKER)
    cfg = aws_json(server.url, "lambda", "put-function-event-invoke-config", "--function-name", name,
                   "--maximum-retry-attempts", "0",
                   "--destination-config", json.dumps({"OnFailure": {"Destination": function_arn(dest)}}))
    assert cfg["MaximumRetryAttempts"] == 0
    listed = aws_json(server.url, "lambda", "list-function-event-invoke-configs", "--function-name", name)
    assert [c["FunctionArn"] for c in listed["FunctionEventInvokeConfigs"]] == [function_arn(name) + ":$LATEST"]
    out = aws_json(server.url, "lambda", "invoke", "--function-name", name, "--invocation-type", "Event",
                   "--payload", json.dumps({"sink": sink, "mode": "fail"}), str(tmp_path / "out.json"))
    assert out["StatusCode"] == 202
    rec = wait_until(lambda: lines(received), 60, what="the on-failure record")[0]
    assert rec["requestContext"]["condition"] == "RetriesExhausted"
    assert rec["requestContext"]["approximateInvokeCount"] == 1
