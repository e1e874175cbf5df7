"""`GET /metrics` end to end: Prometheus text that the Python client's parser reads, counters
that match the invocations made (throttles included), gauges of environments and concurrency."""

import json
import re
import threading
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families

import funcs
from testutil import KumoServer, error_code, lambda_client, make_zip, signed_request, unique_name, wait_until


def scrape(url, signed=True):
    req = signed_request(f"{url}/metrics") if signed else f"{url}/metrics"
    resp = urllib.request.urlopen(req, timeout=10)
    assert resp.status == 200
    text = resp.read().decode()
    return {fam.name: fam for fam in text_string_to_metric_families(text)}, resp.headers["content-type"]


def value(families, family, sample, **labels):
    """Sum of the samples named `sample` with these labels (0 when there are none yet)."""
    fam = families.get(family)
    if fam is None:
        return 0
    assert fam.type in ("counter", "gauge", "histogram"), (family, fam.type)
    total = 0
    for s in fam.samples:
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
            total += s.value
    return total


def test_counters_match_the_invocations_made(server, lam, make_function):
    name = make_function(prefix="metrics", Timeout=1)
    for _ in range(3):
        assert "FunctionError" not in lam.invoke(FunctionName=name, Payload=b"{}")
    resp = lam.invoke(FunctionName=name, Payload=json.dumps({"action": "raise"}))
    assert resp["FunctionError"] == "Unhandled"
    resp = lam.invoke(FunctionName=name, Payload=json.dumps({"action": "sleep", "secs": 3}))
    assert json.loads(resp["Payload"].read())["errorType"] == "Sandbox.Timedout"
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    for _ in range(2):
        with pytest.raises(ClientError) as e:
            lam.invoke(FunctionName=name, Payload=b"{}")
        assert error_code(e.value) == "TooManyRequestsException"
    lam.delete_function_concurrency(FunctionName=name)
    assert "FunctionError" not in lam.invoke(FunctionName=name, Payload=b"{}")

    fams, content_type = scrape(server.url)
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    inv = lambda outcome: value(fams, "kumo_invocations", "kumo_invocations_total", function=name, outcome=outcome)
    assert inv("success") == 4
    assert inv("handled") == 1
    assert inv("timeout") == 1
    assert inv("unhandled") == 0
    assert fams["kumo_invocations"].type == "counter"
    assert value(fams, "kumo_errors", "kumo_errors_total", function=name, error_type="MyError") == 1
    assert value(fams, "kumo_errors", "kumo_errors_total", function=name, error_type="Sandbox.Timedout") == 1
    assert value(fams, "kumo_throttles", "kumo_throttles_total", function=name,
                 reason="ReservedFunctionConcurrentInvocationLimitExceeded") == 2
    # the timed-out environment was destroyed: the last invocation started a new one
    cold = value(fams, "kumo_cold_starts", "kumo_cold_starts_total", function=name)
    assert cold == 2
    assert value(fams, "kumo_invocation_duration_seconds", "kumo_invocation_duration_seconds_count",
                 function=name) == 6
    assert value(fams, "kumo_invocation_duration_seconds", "kumo_invocation_duration_seconds_bucket",
                 function=name, le="+Inf") == 6
    assert value(fams, "kumo_init_duration_seconds", "kumo_init_duration_seconds_count", function=name) == cold
    assert fams["kumo_invocation_duration_seconds"].type == "histogram"
    assert value(fams, "kumo_concurrent_executions", "kumo_concurrent_executions", function=name) == 0
    assert value(fams, "kumo_environments", "kumo_environments", function=name, state="idle") == 1
    assert value(fams, "kumo_environments", "kumo_environments", function=name, state="busy") == 0
    # scrapers that ask for OpenMetrics get it
    req = signed_request(f"{server.url}/metrics", headers={"Accept": "application/openmetrics-text"})
    resp = urllib.request.urlopen(req, timeout=10)
    assert resp.headers["content-type"].startswith("application/openmetrics-text")
    assert resp.read().decode().endswith("# EOF\n")


def test_gauges_show_a_running_invocation(server, lam, make_function):
    name = make_function(prefix="gauge", Timeout=30)
    done = threading.Event()
    result = {}

    def run():
        try:
            result["resp"] = lam.invoke(FunctionName=name, Payload=json.dumps({"action": "sleep", "secs": 2}))
        finally:
            done.set()

    t = threading.Thread(target=run)
    t.start()
    try:
        def busy():
            fams, _ = scrape(server.url)
            running = value(fams, "kumo_concurrent_executions", "kumo_concurrent_executions", function=name)
            envs = {s: value(fams, "kumo_environments", "kumo_environments", function=name, state=s)
                    for s in ("starting", "busy", "idle")}
            return running == 1 and envs["starting"] + envs["busy"] == 1 and envs
        envs = wait_until(busy, timeout=10, interval=0.05, what="a running invocation in the gauges")
        assert envs["idle"] == 0
        done.wait(30)
        assert "FunctionError" not in result["resp"]
        fams, _ = scrape(server.url)
        assert value(fams, "kumo_concurrent_executions", "kumo_concurrent_executions", function=name) == 0
        assert value(fams, "kumo_environments", "kumo_environments", function=name, state="idle") == 1
    finally:
        t.join(30)


def test_platform_log_lines_carry_function_and_request_id(server, lam, make_function):
    name = make_function(prefix="plog")
    resp = lam.invoke(FunctionName=name, Payload=b"{}")
    rid = resp["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]

    def logged():
        text = re.sub(r"\x1b\[[0-9;]*m", "", open(server.stderr_path, errors="replace").read())
        return [l for l in text.splitlines() if rid in l and "invocation finished" in l]
    lines = wait_until(logged, timeout=10, what="the invocation's platform log line")
    assert f"function={name}" in lines[0] and 'outcome="success"' in lines[0]


# Who may read /metrics (signed by default, anyone with [metrics] public = true):
# test_hostile_requests.py::test_metrics_need_a_signature_unless_made_public
