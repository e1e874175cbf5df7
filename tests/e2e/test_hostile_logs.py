"""Hostile function output: floods of empty lines and of endless lines must not take the server
down. While functions print as fast as they can, the API keeps answering, the server's memory
stays flat, the database stays near its size bound, the log says what was dropped, /metrics
counts it, and SIGTERM still stops the server in time. Also: usage records past their retention
are deleted.
"""

import json
import os
import signal
import sqlite3
import threading
import time
import urllib.request

import boto3
import pytest
from botocore.config import Config

import funcs
from testutil import (
    REGION,
    ROLE,
    TEST_KEY,
    TEST_SECRET,
    KumoServer,
    decode_log,
    kumo,
    lambda_client,
    make_zip,
    signed_request,
    unique_name,
    wait_until,
)

MIB = 1024 * 1024
MAX_DB_BYTES = 8 * MIB
RATE = 1 * MIB
PER_INVOCATION = 4 * MIB
GRACE_SECS = 3

FLOOD_CONFIG = f"""\
[server]
region = "us-east-1"
account_id = "123456789012"

[limits]
shutdown_grace_secs = {GRACE_SECS}

[logs]
max_bytes = {MAX_DB_BYTES}
max_bytes_per_sec = {RATE}
max_invocation_bytes = {PER_INVOCATION}
"""

# Writes as fast as the pipe takes it for `seconds`: 64 KiB of newlines per write ("empty"), or
# 64 KiB of "x" with no newline ever ("long"). Returns how many bytes it wrote. "background"
# returns at once and leaves a thread writing newlines for as long as the environment lives.
FLOOD_PY = r'''
import os, time

def flood_forever(chunk):
    while True:
        os.write(1, chunk)

def handler(event, context):
    chunk = (b"\n" if event["mode"] == "empty" else b"x") * 65536
    if event["mode"] == "background":
        import threading
        threading.Thread(target=flood_forever, args=(b"\n" * 65536,), daemon=True).start()
        return {"written": 0}
    end = time.time() + event["seconds"]
    written = 0
    print("flood starting", event["mode"], flush=True)
    while time.time() < end:
        written += os.write(1, chunk)
    return {"written": written}
'''


def logs_client(url):
    return boto3.client("logs", endpoint_url=url, region_name=REGION, aws_access_key_id=TEST_KEY,
                        aws_secret_access_key=TEST_SECRET,
                        config=Config(retries={"total_max_attempts": 1}, read_timeout=60))


def filtered(logs, group, pattern):
    """Every event of the group matching `pattern`, through all pages."""
    pages = logs.get_paginator("filter_log_events").paginate(logGroupName=group, filterPattern=pattern)
    return [e for page in pages for e in page["events"]]


def proc_status(pid):
    """VmRSS and VmHWM of a process, in bytes."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) * 1024
    return out


def cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def db_bytes(data_dir):
    total = 0
    for name in ("kumo.db", "kumo.db-wal"):
        try:
            total += os.path.getsize(os.path.join(data_dir, name))
        except FileNotFoundError:
            pass
    return total


def metric(url, name, **labels):
    """Sum of the samples of `name` whose labels include `labels`."""
    text = urllib.request.urlopen(signed_request(f"{url}/metrics"), timeout=30).read().decode()
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total


def create_flood_function(lam, timeout):
    name = unique_name("flood")
    lam.create_function(FunctionName=name, Runtime=funcs.PY, Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": FLOOD_PY})}, Timeout=timeout,
                        MemorySize=256)
    lam.get_waiter("function_active_v2").wait(FunctionName=name,
                                              WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    return name


@pytest.fixture(scope="module")
def flood_server(tmp_path_factory, kumo_binary):
    base = tmp_path_factory.mktemp("flood")
    srv = KumoServer(base / "data", config_text=FLOOD_CONFIG, log_dir=base).start()
    yield srv
    srv.kill()


def test_output_flood_keeps_the_server_answering_and_bounded(flood_server):
    srv = flood_server
    lam = lambda_client(srv.url, pool=16)
    name = create_flood_function(lam, timeout=30)
    # Warm up (one cold start, the Python runtime imported) before measuring the baseline.
    out = lam.invoke(FunctionName=name, Payload=json.dumps({"mode": "empty", "seconds": 0}))
    assert "FunctionError" not in out, out["Payload"].read()
    baseline = proc_status(srv.pid)["VmRSS"]

    seconds = 8
    floods = [("empty", 0), ("empty", 1), ("empty", 2), ("long", 3)]
    results = {}

    def run(mode, i):
        client = lambda_client(srv.url)
        resp = client.invoke(FunctionName=name, Payload=json.dumps({"mode": mode, "seconds": seconds}))
        results[i] = (resp.get("FunctionError"), json.loads(resp["Payload"].read()))

    threads = [threading.Thread(target=run, args=f) for f in floods]
    cpu_before = cpu_seconds(srv.pid)
    started = time.monotonic()
    for t in threads:
        t.start()
    worst_api = 0.0
    peak_rss = 0
    peak_db = 0
    calls = 0
    while any(t.is_alive() for t in threads):
        t0 = time.monotonic()
        lam.list_functions()
        lam.get_function(FunctionName=name)
        worst_api = max(worst_api, time.monotonic() - t0)
        calls += 1
        peak_rss = max(peak_rss, proc_status(srv.pid)["VmRSS"])
        peak_db = max(peak_db, db_bytes(srv.data_dir))
        assert time.monotonic() - started < 120, "floods did not end"
        time.sleep(0.2)
    for t in threads:
        t.join()

    written = sum(r[1]["written"] for r in results.values() if "written" in r[1])
    hwm = proc_status(srv.pid)["VmHWM"]
    cpu = cpu_seconds(srv.pid) - cpu_before
    print(f"flood: {written / MIB:.0f} MiB written by functions; server CPU {cpu:.1f}s in "
          f"{time.monotonic() - started:.1f}s; API worst {worst_api:.2f}s over "
          f"{calls} rounds; RSS baseline {baseline / MIB:.0f} MiB, peak {peak_rss / MIB:.0f} MiB, "
          f"HWM {hwm / MIB:.0f} MiB; database peak {peak_db / MIB:.1f} MiB")
    assert all(r[0] is None for r in results.values()), results
    # The floods were real: far more than every bound together.
    assert written > 20 * PER_INVOCATION, written
    # The API answered all along, within a generous bound for a loaded machine.
    assert calls >= 5 and worst_api < 5.0, (calls, worst_api)
    # Memory: flat, whatever the functions wrote.
    assert hwm - baseline < 100 * MIB, (baseline, hwm)
    # Disk: near the bound, not growing with the flood.
    assert peak_db < MAX_DB_BYTES + 12 * MIB, peak_db

    logs = logs_client(srv.url)
    group = f"/aws/lambda/{name}"
    markers = filtered(logs, group, '"KUMO LOG TRUNCATED"')
    assert markers, "no truncation marker in the log"
    text = " ".join(e["message"] for e in markers)
    assert "per invocation" in text and "per second" in text, text[:2000]
    # Each flood's frame ends as usual after what was dropped (the newest events: the size bound
    # drops the oldest).
    reports = filtered(logs, group, '"REPORT RequestId"')
    assert len(reports) >= len(floods), reports
    # /metrics counts what was dropped, by reason.
    assert metric(srv.url, "kumo_log_dropped_bytes_total", function=name, reason="rate_limit") > 0
    assert metric(srv.url, "kumo_log_dropped_bytes_total", function=name,
                  reason="invocation_limit") > 0
    # Once the sweep has run after the flood, the database is under its bound.
    wait_until(lambda: db_bytes(srv.data_dir) < MAX_DB_BYTES + 8 * MIB, 60, interval=1,
               what="database back near its bound")


def test_an_idle_environment_flooding_in_the_background_stays_bounded(flood_server):
    srv = flood_server
    lam = lambda_client(srv.url)
    name = create_flood_function(lam, timeout=30)
    lam.invoke(FunctionName=name, Payload=json.dumps({"mode": "empty", "seconds": 0}))
    baseline = proc_status(srv.pid)["VmRSS"]
    out = lam.invoke(FunctionName=name, Payload=json.dumps({"mode": "background"}))
    assert "FunctionError" not in out, out["Payload"].read()
    # Nothing drains an idle environment's output: it must not pile up in the server.
    end = time.monotonic() + 6
    worst_api = 0.0
    while time.monotonic() < end:
        t0 = time.monotonic()
        lam.get_function(FunctionName=name)
        worst_api = max(worst_api, time.monotonic() - t0)
        time.sleep(0.2)
    rss = proc_status(srv.pid)["VmRSS"]
    print(f"idle background flood: API worst {worst_api:.2f}s; RSS {baseline / MIB:.0f} -> {rss / MIB:.0f} MiB")
    assert worst_api < 5.0, worst_api
    assert rss - baseline < 100 * MIB, (baseline, rss)
    # The next invocation on that environment gets at most two seconds' worth of it, and says
    # how much was dropped.
    out = lam.invoke(FunctionName=name, Payload=json.dumps({"mode": "empty", "seconds": 0}),
                     LogType="Tail")
    tail = decode_log(out)
    assert "KUMO LOG TRUNCATED" in tail and "per second" in tail, tail[-1000:]
    assert "REPORT RequestId" in tail
    assert metric(srv.url, "kumo_log_dropped_bytes_total", function=name, reason="rate_limit") > 0


def test_sigterm_during_a_flood_stops_the_server_in_time(flood_server):
    srv = flood_server
    lam = lambda_client(srv.url)
    name = create_flood_function(lam, timeout=120)
    errors = []

    def run():
        try:
            lam.invoke(FunctionName=name, Payload=json.dumps({"mode": "empty", "seconds": 110}))
        except Exception as e:  # the connection is cut at shutdown
            errors.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    # The flood is on once its output is being dropped.
    wait_until(lambda: metric(srv.url, "kumo_log_dropped_bytes_total", function=name) > 0, 60,
               interval=0.2, what="the flood to start")
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    code = srv.proc.wait(timeout=GRACE_SECS + 30)
    took = time.monotonic() - t0
    print(f"SIGTERM during a flood: exited {code} after {took:.1f}s")
    assert took < GRACE_SECS + 15, took
    assert code == 0, srv.stderr_tail()


USAGE_CONFIG = """\
[server]
region = "us-east-1"
account_id = "123456789012"

[usage]
retention_days = 1
"""


def test_usage_records_past_retention_are_deleted(tmp_path):
    srv = KumoServer(tmp_path / "data", config_text=USAGE_CONFIG, log_dir=tmp_path).start()
    try:
        lam = lambda_client(srv.url)
        name = unique_name("usage-ret")
        lam.create_function(FunctionName=name, Runtime=funcs.PY, Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": make_zip(funcs.py_files())})
        lam.get_waiter("function_active_v2").wait(FunctionName=name,
                                                  WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        lam.invoke(FunctionName=name, Payload=b"{}")
        assert srv.stop() == 0
        # Records from three days ago, more than one sweep transaction's worth.
        old_ms = int(time.time() * 1000) - 3 * 86_400_000
        db = sqlite3.connect(os.path.join(srv.data_dir, "kumo.db"))
        with db:
            db.executemany(
                "INSERT INTO usage_records (function, version, request_id, start_ms, duration_us,"
                " billed_ms, memory_mb, max_memory_mb, init_us, cold, outcome, error_type)"
                " VALUES (?, '$LATEST', ?, ?, 1000, 1, 128, 40, NULL, 0, 'success', NULL)",
                [(name, f"old-{i}", old_ms + i) for i in range(12_000)],
            )
        count = db.execute("SELECT count(*) FROM usage_records WHERE function = ?", (name,)).fetchone()[0]
        db.close()
        assert count == 12_001
        srv.start()

        def requests():
            res = kumo("usage", "--json", "--endpoint", srv.url, "--function", name, "--since", "30d")
            assert res.returncode == 0, res.stderr
            return json.loads(res.stdout)["total"]["requests"]

        # The janitor sweeps at start: only the recent invocation is left.
        wait_until(lambda: requests() == 1, 60, interval=0.5, what="old usage records deleted")
    finally:
        srv.stop()
