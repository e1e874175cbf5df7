"""CloudWatch Logs API end to end: boto3 and the aws CLI read function logs from Kumo.

awscli v1 (PyPI) has no `aws logs tail`, so `LogTail` below follows awscli v2's
`tail --follow` polling contract with boto3's FilterLogEvents: start 10 minutes back, follow
nextToken at once, and when caught up move startTime to the newest timestamp seen (inclusive)
and skip events whose eventId was already seen at that timestamp.
"""

import json
import subprocess
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

import funcs
from testutil import (
    REGION,
    TEST_KEY,
    TEST_SECRET,
    KumoServer,
    aws,
    aws_json,
    error_code,
    http_status,
    kumo,
    kumo_bin,
    lambda_client,
    make_zip,
    unique_name,
    wait_until,
)


def logs_client(url, validate=True):
    return boto3.client(
        "logs",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=TEST_KEY,
        aws_secret_access_key=TEST_SECRET,
        config=Config(retries={"total_max_attempts": 1}, parameter_validation=validate),
    )


@pytest.fixture(scope="module")
def logs(server):
    return logs_client(server.url)


@pytest.fixture(scope="module")
def logs_raw(server):
    return logs_client(server.url, validate=False)


def invoke_log(lam, name, token):
    """Invokes the function's `log` action; returns the request id."""
    resp = lam.invoke(FunctionName=name, Payload=json.dumps({"action": "log", "token": token}))
    assert "FunctionError" not in resp, resp["Payload"].read()
    return resp["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]


class LogTail:
    """`aws logs tail GROUP --follow` as awscli v2 polls (one poll() = one pass until caught up)."""

    def __init__(self, client, group):
        self.client = client
        self.kwargs = {
            "logGroupName": group,
            "interleaved": True,
            "startTime": int((time.time() - 600) * 1000),
        }
        self.ids_at = {}  # timestamp -> event ids already yielded

    def poll(self):
        out = []
        while True:
            resp = self.client.filter_log_events(**self.kwargs)
            for e in resp["events"]:
                # the CLI indexes these directly
                for key in ("logStreamName", "timestamp", "ingestionTime", "message", "eventId"):
                    assert key in e, (key, e)
                seen = self.ids_at.setdefault(e["timestamp"], set())
                if e["eventId"] not in seen:
                    seen.add(e["eventId"])
                    out.append(e)
            if self.ids_at:
                newest = max(self.ids_at)
                self.ids_at = {newest: self.ids_at[newest]}
            if "nextToken" in resp:
                self.kwargs["nextToken"] = resp["nextToken"]
                continue
            self.kwargs.pop("nextToken", None)
            if self.ids_at:
                self.kwargs["startTime"] = max(self.ids_at)
            return out


def test_tail_follow_shows_each_new_invocation_once(server, lam, logs, make_function):
    name = make_function(prefix="tail")
    group = f"/aws/lambda/{name}"
    invoke_log(lam, name, "warmup")
    tail = LogTail(logs, group)
    before = tail.poll()
    assert any("PRINT-warmup" in e["message"] for e in before)
    all_ids = [e["eventId"] for e in before]
    for i in range(3):
        token = f"tail{i}-{unique_name('t')}"
        rid = invoke_log(lam, name, token)
        wanted = [f"START RequestId: {rid}", f"PRINT-{token}", f"END RequestId: {rid}",
                  f"REPORT RequestId: {rid}"]
        got = []

        def caught_up():
            got.extend(tail.poll())
            return all(any(w in e["message"] for e in got) for w in wanted)

        wait_until(caught_up, timeout=15, interval=0.2, what=f"tail to show invocation {i}")
        messages = [e["message"] for e in got]
        order = [next(j for j, m in enumerate(messages) if w in m) for w in wanted]
        assert order == sorted(order), messages
        assert not any("PRINT-warmup" in m for m in messages), "an old event came back"
        assert messages[0].endswith("\n")
        all_ids += [e["eventId"] for e in got]
    assert len(all_ids) == len(set(all_ids)), "tail yielded an event twice"
    # Caught up: nothing new, and no token to spin on.
    assert tail.poll() == []


LONG_RUNNING = """\
import time

def handler(event, context):
    print("EARLY-" + event["token"], flush=True)
    time.sleep(event["seconds"])
    print("LATE-" + event["token"], flush=True)
    return "done"
"""


def test_tail_follow_shows_a_running_invocations_output_before_it_ends(server, lam, logs, make_function):
    """What a long invocation prints is readable while it still runs, as on AWS."""
    import threading

    name = make_function(files={"app.py": LONG_RUNNING}, prefix="live", Timeout=30)
    tail = LogTail(logs, f"/aws/lambda/{name}")
    token = unique_name("live")
    result = {}
    runner = threading.Thread(target=lambda: result.update(
        lam.invoke(FunctionName=name, Payload=json.dumps({"token": token, "seconds": 8}))))
    runner.start()
    seen = []

    def early_line_visible():
        try:
            seen.extend(tail.poll())
        except ClientError as e:  # the group appears with the function's first stored line
            assert error_code(e) == "ResourceNotFoundException", e
            return False
        return any(f"EARLY-{token}" in e["message"] for e in seen)

    wait_until(early_line_visible, timeout=6, interval=0.2, what="the running invocation's first line")
    still_running = runner.is_alive()
    runner.join(timeout=30)
    assert still_running, "the line only appeared once the invocation had ended"
    assert not any(f"LATE-{token}" in e["message"] for e in seen)
    assert result["Payload"].read() == b'"done"'

    def late_line_visible():
        seen.extend(tail.poll())
        return any(e["message"].startswith("REPORT RequestId: ") for e in seen)

    wait_until(late_line_visible, timeout=10, interval=0.2, what="the end of the invocation")
    messages = [e["message"] for e in seen]
    assert any(f"LATE-{token}" in m for m in messages)
    ids = [e["eventId"] for e in seen]
    assert len(ids) == len(set(ids)), "an event was stored twice"
    assert messages[0].startswith("INIT_START") and messages[1].startswith("START RequestId: "), messages


def test_aws_cli_get_and_filter_log_events_find_a_marker(server, lam, make_function):
    name = make_function(prefix="cli")
    group = f"/aws/lambda/{name}"
    marker = unique_name("MARK")
    invoke_log(lam, name, marker)
    invoke_log(lam, name, "other")

    streams = aws_json(server.url, "logs", "describe-log-streams", "--log-group-name", group,
                       "--order-by", "LastEventTime", "--descending")["logStreams"]
    assert len(streams) == 1
    stream = streams[0]["logStreamName"]
    assert stream.startswith(time.strftime("%Y/%m/%d/", time.gmtime(streams[0]["creationTime"] / 1000)))
    assert "[$LATEST]" in stream
    assert streams[0]["storedBytes"] > 0
    assert streams[0]["firstEventTimestamp"] <= streams[0]["lastEventTimestamp"]

    got = aws_json(server.url, "logs", "get-log-events", "--log-group-name", group,
                   "--log-stream-name", stream, "--start-from-head")
    messages = [e["message"] for e in got["events"]]
    assert any(m.rstrip() == f"PRINT-{marker}" for m in messages), messages
    assert messages[0].startswith("INIT_START") or messages[0].startswith("START")
    assert got["nextForwardToken"] and got["nextBackwardToken"]

    found = aws_json(server.url, "logs", "filter-log-events", "--log-group-name", group,
                     "--filter-pattern", f'"PRINT-{marker}"')
    assert [e["message"].rstrip() for e in found["events"]] == [f"PRINT-{marker}"]
    assert found["events"][0]["logStreamName"] == stream
    # plain terms must all occur; exclusions and alternatives
    found = aws_json(server.url, "logs", "filter-log-events", "--log-group-name", group,
                     "--filter-pattern", f"{marker} -PRINT")
    lines = [e["message"].rstrip() for e in found["events"]]
    assert f"STDERR-{marker}" in lines, lines
    assert all(marker in l and "PRINT" not in l for l in lines), lines
    found = aws_json(server.url, "logs", "filter-log-events", "--log-group-name", group,
                     "--filter-pattern", "?REPORT ?INIT_START")
    assert all(e["message"].startswith(("REPORT", "INIT_START")) for e in found["events"])
    assert sum(e["message"].startswith("REPORT") for e in found["events"]) == 2

    groups = aws_json(server.url, "logs", "describe-log-groups", "--log-group-name-prefix", group)
    assert [g["logGroupName"] for g in groups["logGroups"]] == [group]
    assert groups["logGroups"][0]["arn"].endswith(f":log-group:{group}:*")


def test_pagination_walks_every_event_once(server, lam, logs, make_function):
    name = make_function(prefix="pages", Timeout=30)
    group = f"/aws/lambda/{name}"
    lam.invoke(FunctionName=name, Payload=json.dumps({"action": "flood", "lines": 60}))
    invoke_log(lam, name, "p2")
    everything = logs.filter_log_events(logGroupName=group)
    assert "nextToken" not in everything
    total = len(everything["events"])
    assert total >= 60 + 8

    ids, kwargs, pages = [], {"logGroupName": group, "limit": 7}, 0
    while True:
        page = logs.filter_log_events(**kwargs)
        pages += 1
        assert len(page["events"]) <= 7
        ids += [e["eventId"] for e in page["events"]]
        if "nextToken" not in page:
            break
        kwargs["nextToken"] = page["nextToken"]
        assert pages < 100
    assert len(ids) == len(set(ids)) == total
    assert ids == [e["eventId"] for e in everything["events"]]
    stamps = [e["timestamp"] for e in everything["events"]]
    assert stamps == sorted(stamps)

    # boto3's own paginator agrees
    paged = [e["eventId"] for p in logs.get_paginator("filter_log_events").paginate(
        logGroupName=group, PaginationConfig={"PageSize": 9}) for e in p["events"]]
    assert paged == ids

    stream = logs.describe_log_streams(logGroupName=group)["logStreams"][0]["logStreamName"]
    # GetLogEvents forward from the head, 5 at a time, until the token comes back unchanged
    forward, token = [], None
    for _ in range(100):
        kw = {"logGroupName": group, "logStreamName": stream, "limit": 5, "startFromHead": True}
        if token:
            kw["nextToken"] = token
        page = logs.get_log_events(**kw)
        forward += [(e["timestamp"], e["message"]) for e in page["events"]]
        if page["nextForwardToken"] == token:
            assert page["events"] == []
            break
        token = page["nextForwardToken"]
    assert len(forward) == total
    # ... and backward from the tail
    backward, token = [], None
    for _ in range(100):
        kw = {"logGroupName": group, "logStreamName": stream, "limit": 5}
        if token:
            kw["nextToken"] = token
        page = logs.get_log_events(**kw)
        backward = [(e["timestamp"], e["message"]) for e in page["events"]] + backward
        if page["nextBackwardToken"] == token:
            break
        token = page["nextBackwardToken"]
    assert backward == forward
    # newest first by default: the last page holds the newest events
    newest = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=2)["events"]
    assert [e["message"] for e in newest] == [m for _, m in forward[-2:]]
    # time range: startTime inclusive, endTime exclusive
    t = forward[len(forward) // 2][0]
    ranged = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True,
                                 startTime=t, endTime=t + 1)["events"]
    assert ranged and all(e["timestamp"] == t for e in ranged)
    filtered = logs.filter_log_events(logGroupName=group, startTime=t, endTime=t)["events"]
    assert filtered and all(e["timestamp"] == t for e in filtered)


def test_streams_names_prefix_and_retention(server, lam, logs, make_function):
    name = make_function(prefix="streams")
    group = f"/aws/lambda/{name}"
    invoke_log(lam, name, "s1")
    stream = logs.describe_log_streams(logGroupName=group)["logStreams"][0]["logStreamName"]
    only = logs.filter_log_events(logGroupName=group, logStreamNames=[stream])["events"]
    assert only and all(e["logStreamName"] == stream for e in only)
    assert logs.filter_log_events(logGroupName=group, logStreamNames=["2000/01/01/[$LATEST]none"])["events"] == []
    by_prefix = logs.filter_log_events(logGroupName=group, logStreamNamePrefix=stream[:11])["events"]
    assert len(by_prefix) == len(only)
    assert logs.describe_log_streams(logGroupName=group, logStreamNamePrefix="1999/")["logStreams"] == []

    logs.put_retention_policy(logGroupName=group, retentionInDays=7)
    g = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]
    assert g["retentionInDays"] == 7
    logs.delete_retention_policy(logGroupName=group)
    g = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]
    assert "retentionInDays" not in g
    # the group can also be named by ARN
    arn = g["logGroupArn"]
    assert logs.filter_log_events(logGroupIdentifier=arn)["events"]


def test_bad_inputs_get_logs_shaped_errors(server, logs, logs_raw, lam, make_function):
    name = make_function(prefix="bad")
    group = f"/aws/lambda/{name}"
    # never invoked: no log group yet
    with pytest.raises(ClientError) as e:
        logs.filter_log_events(logGroupName=group)
    assert error_code(e.value) == "ResourceNotFoundException"
    assert e.value.response["Error"]["Message"] == "The specified log group does not exist."
    assert http_status(e.value) == 400
    with pytest.raises(ClientError) as e:
        logs.put_retention_policy(logGroupName=group, retentionInDays=7)
    assert error_code(e.value) == "ResourceNotFoundException"
    invoke_log(lam, name, "b")

    def code(fn, **kw):
        with pytest.raises(ClientError) as e:
            fn(**kw)
        assert http_status(e.value) == 400
        return error_code(e.value), e.value.response["Error"]["Message"]

    assert code(logs.get_log_events, logGroupName=group, logStreamName="nope")[0] == "ResourceNotFoundException"
    assert code(logs_raw.filter_log_events, logGroupName=group, limit=0)[0] == "InvalidParameterException"
    assert code(logs_raw.filter_log_events, logGroupName=group, limit=10001)[0] == "InvalidParameterException"
    assert code(logs_raw.describe_log_streams, logGroupName=group, limit=51)[0] == "InvalidParameterException"
    assert code(logs_raw.filter_log_events, logGroupName="bad name!")[0] == "InvalidParameterException"
    assert code(logs.filter_log_events, logGroupName=group, nextToken="garbage")[0] == "InvalidParameterException"
    assert code(logs.get_log_events, logGroupName=group, logStreamName="x", nextToken="zz")[0] == "InvalidParameterException"
    assert code(logs.filter_log_events, logGroupName=group, logStreamNames=["a"],
                logStreamNamePrefix="a")[0] == "InvalidParameterException"
    c, m = code(logs.filter_log_events, logGroupName=group, filterPattern='{ $.level = "ERROR" }')
    assert c == "InvalidParameterException" and "not supported" in m
    assert code(logs.filter_log_events, logGroupName=group, filterPattern='"unterminated')[0] == "InvalidParameterException"
    assert code(logs.filter_log_events, logGroupName=group, startTime=10, endTime=5)[0] == "InvalidParameterException"
    assert code(logs_raw.describe_log_streams, logGroupName=group, orderBy="Size")[0] == "InvalidParameterException"
    assert code(logs.describe_log_streams, logGroupName=group, orderBy="LastEventTime",
                logStreamNamePrefix="20")[0] == "InvalidParameterException"
    assert code(logs_raw.put_retention_policy, logGroupName=group, retentionInDays=2)[0] == "InvalidParameterException"
    assert code(logs.describe_log_groups, logGroupNamePrefix="/a", logGroupNamePattern="b")[0] == "InvalidParameterException"
    assert code(logs_raw.filter_log_events)[0] == "InvalidParameterException"
    with pytest.raises(ClientError) as e:
        logs.create_export_task(logGroupName=group, fromTime=0, to=1, destination="bucket")
    assert error_code(e.value) == "UnknownOperationException"
    # nothing changed: no retention was set
    assert "retentionInDays" not in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]
    # the aws CLI reports the error and fails
    res = aws(server.url, "logs", "filter-log-events", "--log-group-name", "/aws/lambda/none-such")
    assert res.returncode != 0 and "ResourceNotFoundException" in res.stderr


def test_kumo_logs_prints_filters_and_follows(server, lam, make_function):
    name = make_function(prefix="klogs")
    marker = unique_name("KL")
    invoke_log(lam, name, marker)
    res = kumo("logs", name, "--since", "5m", "--endpoint", server.url)
    assert res.returncode == 0, res.stderr
    assert f"PRINT-{marker}" in res.stdout and "REPORT RequestId:" in res.stdout
    res = kumo("logs", name, "--filter", f'"STDERR-{marker}"', "--endpoint", server.url)
    assert res.returncode == 0, res.stderr
    assert [l.split(" ", 2)[2] for l in res.stdout.splitlines()] == [f"STDERR-{marker}"]
    res = kumo("logs", "never-invoked-fn", "--endpoint", server.url)
    assert res.returncode != 0 and "no logs" in res.stderr

    env = dict(__import__("os").environ, AWS_ACCESS_KEY_ID=TEST_KEY, AWS_SECRET_ACCESS_KEY=TEST_SECRET)
    proc = subprocess.Popen([kumo_bin(), "logs", name, "-f", "--since", "1s", "--endpoint", server.url],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        follow_marker = unique_name("FOLLOW")
        rid = invoke_log(lam, name, follow_marker)
        lines = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, f"kumo logs -f ended: {proc.stderr.read()}"
            lines.append(line)
            if f"REPORT RequestId: {rid}" in line:
                break
        text = "".join(lines)
        assert f"PRINT-{follow_marker}" in text and f"START RequestId: {rid}" in text
        assert text.count(f"PRINT-{follow_marker}") == 1
    finally:
        proc.kill()
        proc.wait()


SMALL_LOG_CONFIG = """\
[server]
region = "us-east-1"
account_id = "123456789012"

[logs]
max_bytes = 1048576
sweep_interval_secs = 1
"""


def metric_value(url, name):
    import urllib.request
    from prometheus_client.parser import text_string_to_metric_families

    from testutil import signed_request

    text = urllib.request.urlopen(signed_request(f"{url}/metrics"), timeout=10).read().decode()
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name:
                return s.value
    return None


def test_size_bound_drops_oldest_events_and_says_so(tmp_path):
    srv = KumoServer(tmp_path / "data", config_text=SMALL_LOG_CONFIG, log_dir=tmp_path).start()
    try:
        lam = lambda_client(srv.url)
        logs = logs_client(srv.url)
        name = unique_name("bound")
        lam.create_function(FunctionName=name, Runtime=funcs.PY, Role="arn:aws:iam::123456789012:role/x",
                            Handler="app.handler", Code={"ZipFile": make_zip(funcs.py_files())}, Timeout=30)
        first = invoke_log(lam, name, "first")
        # 1.5 MB of lines: within the capture bounds, past the database's 1 MiB on disk.
        lam.invoke(FunctionName=name, Payload=json.dumps({"action": "flood", "lines": 1500}))
        last = invoke_log(lam, name, "last")
        wait_until(lambda: (metric_value(srv.url, "kumo_log_events_dropped_total") or 0) > 0,
                   timeout=20, interval=0.2, what="log events to be dropped")
        group = f"/aws/lambda/{name}"
        messages = [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]]
        assert not any(f"START RequestId: {first}" in m for m in messages), "oldest events kept"
        assert any(f"REPORT RequestId: {last}" in m for m in messages), "newest events dropped"
        stored = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["storedBytes"]
        assert stored <= 1048576
        wait_until(lambda: "size bound" in open(srv.stderr_path, errors="replace").read(),
                   timeout=10, what="a platform log line about dropped events")
    finally:
        srv.stop()
