"""Metering end to end: usage records, `kumo usage` and `GET /kumo/usage` against the REPORT lines."""

import json
import re
import urllib.error
import urllib.request
from decimal import Decimal

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

import funcs
from testutil import (
    REGION,
    ROLE,
    TEST_KEY,
    TEST_SECRET,
    KumoServer,
    error_code,
    kumo,
    lambda_client,
    make_zip,
    signed_request,
    unique_name,
)

REPORT_RE = re.compile(r"Billed Duration: (\d+) ms\tMemory Size: (\d+) MB")
MB_MS_PER_GB_S = 1024 * 1000


def logs_client(url):
    return boto3.client("logs", endpoint_url=url, region_name=REGION, aws_access_key_id=TEST_KEY,
                        aws_secret_access_key=TEST_SECRET,
                        config=Config(retries={"total_max_attempts": 1}))


def reports(url, name):
    """(billed ms, memory MB) of every REPORT line in the function's log."""
    events = logs_client(url).filter_log_events(
        logGroupName=f"/aws/lambda/{name}", filterPattern='"REPORT RequestId"')["events"]
    out = []
    for e in events:
        m = REPORT_RE.search(e["message"])
        assert m, e["message"]
        out.append((int(m.group(1)), int(m.group(2))))
    return out


def usage_json(server, **params):
    args = ["usage", "--json", "--endpoint", server.url]
    for k, v in params.items():
        args += [f"--{k}", str(v)]
    res = kumo(*args)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def expected_cost(requests, mb_ms, request_usd=Decimal("0.0000002"), gb_s_usd=Decimal("0.0000166667")):
    cost = requests * request_usd + Decimal(mb_ms) / MB_MS_PER_GB_S * gb_s_usd
    return cost.quantize(Decimal("0.0000000001"))


def test_usage_matches_the_report_lines(server, lam, make_function):
    name = make_function(prefix="meter", MemorySize=256)
    n_ok = 4
    for i in range(n_ok):
        resp = lam.invoke(FunctionName=name, Payload=json.dumps({"action": "sleep", "secs": 0.01 * i}))
        assert "FunctionError" not in resp
    resp = lam.invoke(FunctionName=name, Payload=json.dumps({"action": "raise", "message": "x"}))
    assert resp["FunctionError"] == "Unhandled"
    n = n_ok + 1
    # throttled invocations get a record too, but are not billed
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    for _ in range(2):
        with pytest.raises(ClientError) as e:
            lam.invoke(FunctionName=name, Payload=b"{}")
        assert error_code(e.value) == "TooManyRequestsException"
    lam.delete_function_concurrency(FunctionName=name)

    rep = reports(server.url, name)
    assert len(rep) == n
    assert all(mem == 256 for _, mem in rep)
    mb_ms = sum(billed * mem for billed, mem in rep)
    billed_ms = sum(billed for billed, _ in rep)

    report = usage_json(server, function=name)
    total = report["total"]
    assert total["requests"] == n
    assert total["throttles"] == 2
    assert total["errors"] == 1
    assert total["cold_starts"] == 1
    assert total["billed_ms"] == billed_ms
    assert total["mb_ms"] == mb_ms
    assert total["gb_seconds"] == pytest.approx(mb_ms / MB_MS_PER_GB_S)
    assert Decimal(total["cost_usd"]) == expected_cost(n, mb_ms)
    assert report["prices"] == {"request_usd": "0.0000002", "gb_second_usd": "0.0000166667",
                                "free_requests_per_month": 0, "free_gb_seconds_per_month": 0}

    # groupings add up exactly to the total
    for by in ("hour", "day", "month", "function"):
        rows = usage_json(server, function=name, by=by)["rows"]
        assert rows, by
        assert sum(r["mb_ms"] for r in rows) == mb_ms
        assert sum(r["requests"] for r in rows) == n
        assert sum(r["throttles"] for r in rows) == 2
    by_fn = usage_json(server, function=name, by="function")["rows"]
    assert [r["key"] for r in by_fn] == [name]

    # the table, and time bounds
    res = kumo("usage", "--function", name, "--by", "function", "--endpoint", server.url)
    assert res.returncode == 0, res.stderr
    row = next(l for l in res.stdout.splitlines() if l.startswith(name)).split()
    assert row[1:5] == [str(n), "2", "1", "1"]
    gb_s = (Decimal(mb_ms) / MB_MS_PER_GB_S).quantize(Decimal("0.0000000001"))
    assert row[6] == str(gb_s) and row[7] == str(expected_cost(n, mb_ms))
    assert "prices: $0.0000002 per request, $0.0000166667 per GB-second" in res.stdout
    assert usage_json(server, function=name, since="2099-01-01T00:00:00Z")["total"]["requests"] == 0
    assert usage_json(server, function=name, until="1h")["total"]["requests"] == 0
    assert usage_json(server, function=name, since="1h")["total"]["requests"] == n


def test_usage_endpoint_is_signed_and_validates(server):
    url = f"{server.url}/kumo/usage"
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url, timeout=10)
    assert e.value.code == 403
    body = json.loads(urllib.request.urlopen(signed_request(url + "?by=function"), timeout=10).read())
    assert body["by"] == "function" and "total" in body

    for query in ("?by=week", "?since=yesterday", "?function=bad%20name", "?colour=red",
                  "?since=2000&until=1000"):
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(signed_request(url + query), timeout=10)
        assert e.value.code == 400, query
        assert e.value.headers["x-amzn-ErrorType"] == "InvalidParameterValueException", query
        assert json.loads(e.value.read())["message"]
    res = kumo("usage", "--by", "week", "--endpoint", server.url)
    assert res.returncode != 0


PRICED_CONFIG = """\
[server]
region = "us-east-1"
account_id = "123456789012"

[pricing]
request_usd = 0.5
gb_second_usd = 2.0
free_requests = 2
free_gb_seconds = 0
"""


def test_prices_and_free_tier_come_from_config(tmp_path):
    srv = KumoServer(tmp_path / "data", config_text=PRICED_CONFIG, log_dir=tmp_path).start()
    try:
        lam = lambda_client(srv.url)
        name = unique_name("priced")
        lam.create_function(FunctionName=name, Runtime=funcs.PY, Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": make_zip(funcs.py_files())}, MemorySize=128)
        for _ in range(3):
            lam.invoke(FunctionName=name, Payload=b"{}")
        mb_ms = sum(b * m for b, m in reports(srv.url, name))
        total = usage_json(srv, function=name)["total"]
        gross = expected_cost(3, mb_ms, Decimal("0.5"), Decimal("2.0"))
        assert Decimal(total["cost_usd"]) == gross
        assert Decimal(total["free_tier_credit_usd"]) == Decimal("1.0")
        assert Decimal(total["due_usd"]) == gross - 1
        res = kumo("usage", "--function", name, "--endpoint", srv.url)
        assert "free tier: 2 requests" in res.stdout, res.stdout
    finally:
        srv.stop()
